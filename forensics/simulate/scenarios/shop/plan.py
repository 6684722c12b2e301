"""The shop's incident-day plan: when the poisoning checkouts happen and the
tax-sync runs end them, the mail-relay burst, the actors, and the scripted
sessions (two triggers, the decoys).  What was planted (trigger, decoys, the
poisoned region) is the plan's :class:`~forensics.simulate.engine.scenario.Story`:
the fixed one (hand-set scripts) or one drawn per seed
(:mod:`forensics.simulate.engine.draw`; the poisoned region is one of the
``TARGET_REGIONS``, the trigger ends with a cart-context quote).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...engine.draw import Vocabulary, draw_sequences, framed, probe
from ...engine.requests import Scripted
from ...engine.scenario import IncidentPlan, Story
from .model import CHAIN, Customers, make_customers
from .vocab import CODE, COINCIDENCE, COMMON_PATH, POISONED_REGION, PRICED, RARE_HARMLESS, REGIONS, TRIGGER

#: Random streams of the shop are keyed ``[seed, *RNG_SALT, stage]``.
RNG_SALT = (101,)
H = 3_600_000
M = 60_000
#: Tax-sync job: minutes past each hour at which it rewrites every region's entry.
SYNC_MINUTES = (15, 45)


#: Regions a drawn story may poison (those with at least 15% of the customers).
TARGET_REGIONS = tuple(i for i, r in enumerate(REGIONS) if r[2] >= 0.15)
#: The default number of customers.
DEFAULT_SHOP_USERS = 1200
#: Size of the population a drawn story is checked against (the default; so a seed draws the same story at any size).
PROBE_USERS = DEFAULT_SHOP_USERS
_STEPS = ("browse_catalog", "search", "view_product", "add_to_cart", "remove_item", "view_cart", "apply_coupon",
          "change_currency", "change_shipping_address", "checkout", "pay", "track_order", "write_review",
          "add_to_wishlist")
#: What a drawn story is made of: storefront activities; the trigger ends
#: with a cart-context quote, which refreshes the region's tax rules.
VOCABULARY = Vocabulary(
    steps=_STEPS,
    last=("add_to_cart", "remove_item", "view_cart", "apply_coupon", "change_currency", "checkout"),
    fillers=("browse_catalog", "search", "view_product", "add_to_cart", "view_cart", "track_order", "add_to_wishlist"),
    opener="sign_in",
    common_session=("sign_in", *COMMON_PATH, "view_cart", "checkout"),
    readers=PRICED,
)


def story(rng: np.random.Generator, cust: Customers, drawn: bool) -> Story:
    """The fixed story, or (``drawn``) one drawn from ``rng``."""
    if not drawn:
        return Story(trigger=TRIGGER, rare_harmless=RARE_HARMLESS, coincidence=COINCIDENCE, common_path=COMMON_PATH,
                     resource=f"taxrules:{POISONED_REGION}", target=[r[0] for r in REGIONS].index(POISONED_REGION))
    d = draw_sequences(rng, VOCABULARY, probe(rng, CHAIN, make_customers(rng, PROBE_USERS)), CODE)
    target = int(rng.choice(TARGET_REGIONS))
    return Story(trigger=d.trigger, rare_harmless=d.rare_harmless, coincidence=d.coincidence, common_path=COMMON_PATH,
                 resource=f"taxrules:{REGIONS[target][0]}", target=target, drawn=True, frames=d.frames)


@dataclass(frozen=True)
class Plan(IncidentPlan):
    """Times (epoch ms, UTC) and actors of the incident day (``t_a``: the
    first poisoning write at the end of the trigger's checkout; ``end_1``:
    the tax-sync overwrites the entry), and the unrelated mail-relay burst
    (``mail`` = certificate expired, renewed)."""

    mail: tuple[int, int]


def _next_sync(t: int, day_start: int) -> int:
    hour = (t - day_start) // H
    for h in (hour, hour + 1):
        for m in SYNC_MINUTES:
            s = day_start + h * H + m * M + 800
            if s > t:
                return s
    raise AssertionError("unreachable")


def make_plan(rng: np.random.Generator, cust: Customers, day_start: int, story: Story) -> Plan:
    """Draw the incident day's times and actors."""
    t_a = day_start + 10 * H + 2 * M + int(rng.integers(5_000, 50_000))
    t_b = day_start + 14 * H + 31 * M + int(rng.integers(5_000, 50_000))
    m0 = day_start + 12 * H + 18 * M + int(rng.integers(0, 60_000))
    mail = (m0, m0 + int(rng.integers(11 * M, 14 * M)))
    gb = np.flatnonzero(cust.region == story.target)
    trig = rng.choice(gb, size=2, replace=False)
    common = rng.choice(np.setdiff1d(gb, trig), size=2, replace=False)
    rest = rng.choice(np.setdiff1d(np.arange(cust.size), np.r_[trig, common]), size=4, replace=False)
    # Harmless rare sequence: far from the incident windows and the mail burst.
    cand = day_start + rng.integers(8 * H, 22 * H, size=400)
    far = (np.abs(cand - t_a) > 50 * M) & (np.abs(cand - t_b) > 50 * M) & (np.abs(cand - m0) > 40 * M)
    rare = np.sort(cand[far][:3])
    return Plan(
        day_start=day_start, t_a=t_a, t_b=t_b, end_1=_next_sync(t_a, day_start), end_2=_next_sync(t_b, day_start),
        mail=mail, trigger_users=(int(trig[0]), int(trig[1])),
        rare_users=tuple(int(u) for u in rest[:3]), rare_times=tuple(int(t) for t in rare),
        coincidence_user=int(rest[3]), coincidence_time=t_a - int(rng.integers(100_000, 200_000)),
        common_users=(int(common[0]), int(common[1])),
        common_times=(t_a + int(rng.integers(90_000, 200_000)), t_b + int(rng.integers(120_000, 300_000))),
        story=story,
    )


# ------------------------------------------------------------ scripted sessions

#: The checkout request of a trigger starts this long before the poisoning write.
CHECKOUT_MS = 160


def _embed(seq: tuple[str, ...], offsets: tuple[int, ...], others: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """A planted sequence (its activities at ``offsets``) among other steps, in time order."""
    return sorted([*zip(seq, offsets), *others], key=lambda s: s[1])


def _script(rng: np.random.Generator, plan: Plan) -> list[tuple[str, int, list[tuple[str, int]]]]:
    """(role, customer, [(activity, offset ms from completion)]) per scripted
    session; the planted sequences come from ``plan.story``.

    The two trigger sessions share nothing but the trigger within the
    miner's default gap: one built a fresh cart (search, product, add), the
    other came back to a saved cart (track an order, open the cart), so no
    longer pattern is supported by exactly the same sessions."""
    story = plan.story
    c = -CHECKOUT_MS
    out = [
        ("trigger", plan.trigger_users[0], _embed(story.trigger, (-251_000, -197_000, -143_000, -88_000, c), [
            ("sign_in", -412_000), ("search", -395_000), ("view_product", -361_000), ("add_to_cart", -322_000),
            ("pay", 41_000)])),
        ("trigger", plan.trigger_users[1], _embed(story.trigger, (-402_000, -335_000, -262_000, -207_000, c), [
            ("sign_in", -530_000), ("track_order", -498_000), ("view_cart", -431_000), ("view_cart", -301_000),
            ("pay", 57_000)])),
    ]
    for cust in plan.rare_users:
        gaps = np.cumsum(rng.integers(15_000, 80_000, size=5))[::-1]
        out.append(("rare_harmless", cust, _embed(story.rare_harmless, (-int(gaps[1]), -int(gaps[2]), -int(gaps[3]), 0), [
            ("sign_in", -int(gaps[0]) - 20_000), ("track_order", -int(gaps[0])), ("browse_catalog", 30_000)])))
    for cust in plan.common_users:
        out.append(("common_path", cust, _embed(story.common_path, (-130_000, -95_000, -40_000), [
            ("sign_in", -150_000), ("view_cart", 0), ("checkout", 22_000)])))
    out.append(("coincidence", plan.coincidence_user, _embed(story.coincidence, (-190_000, -150_000, -70_000, 0), [
        ("view_product", -240_000)])))
    return out


def _drawn_script(rng: np.random.Generator, plan: Plan) -> list[tuple[str, int, list[tuple[str, int]]]]:
    """As :func:`_script` for a drawn story: each planted sequence inside its
    frame, timings drawn for its length (the trigger's last step starts
    ``CHECKOUT_MS`` before the poisoning write; the common-path sessions as
    in the fixed story)."""
    story = plan.story
    out = [("trigger", user, framed(rng, story.trigger, story.frame(f"trigger_{k}"), end=-CHECKOUT_MS))
           for k, user in enumerate(plan.trigger_users, start=1)]
    out += [("rare_harmless", cust, framed(rng, story.rare_harmless, story.frame("rare_harmless")))
            for cust in plan.rare_users]
    out += [("common_path", cust, _embed(story.common_path, (-130_000, -95_000, -40_000), [
        ("sign_in", -150_000), ("view_cart", 0), ("checkout", 22_000)])) for cust in plan.common_users]
    out.append(("coincidence", plan.coincidence_user, framed(rng, story.coincidence, story.frame("coincidence"))))
    return out


def script(rng: np.random.Generator, plan: Plan, cust: Customers) -> tuple[list[Scripted], list[dict[str, object]]]:
    """The scripted sessions and, per session, its product (signed in)."""
    steps_of = _drawn_script if plan.story.drawn else _script
    sessions = [Scripted(role, user, t0, tuple((CODE[a], off, {}) for a, off in steps))
                for (role, user, steps), t0 in zip(steps_of(rng, plan), plan.completions)]
    return sessions, [{"guest": False, "product": int(rng.integers(0, 60))} for _ in sessions]
