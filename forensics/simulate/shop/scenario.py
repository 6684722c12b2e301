"""The shop's incident day: scripted sessions (two triggers, the decoys), the
fault model, background noise, retries after errors, and the repair that
keeps the rare sequences rare.

Fault model, per request (``t`` = request start):

* the trigger's checkout writes a NaN tax rate into ``taxrules:GB`` at
  ``Plan.t_a`` (and again at ``Plan.t_b``); every priced request of a GB
  customer until the next tax-sync run (every 30 minutes, at :15 and :45)
  overwrites the entry fails: the cache client cannot decode the entry, the
  pricing service errors; listings degrade to "price unavailable"
  (``inc_listing``), cart and checkout requests fail (``inc_quote``), and a
  payment waits 30 s for the amount check before the gateway times out and the
  order confirmation fails (``inc_pay``);
* the mail relay's TLS certificate expires for a few minutes around noon:
  the order-mail worker fails with no user cause (``Plan.mail``);
* background faults happen at small rates all day.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from .model import DAY_MS, Customers
from .vocab import CODE, COINCIDENCE, LISTING, POISONED_REGION, PRICED, RARE_HARMLESS, REGIONS, TRIGGER

H = 3_600_000
M = 60_000
GB = [r[0] for r in REGIONS].index(POISONED_REGION)
#: Tax-sync job: minutes past each hour at which it rewrites every region's entry.
SYNC_MINUTES = (15, 45)
#: A payment waits this long for the pricing check before the gateway gives up.
PAY_TIMEOUT_MS = 30_000

#: Background fault rates: kind -> (probability, eligible activities or None for all).
TRICKLE: dict[str, tuple[float, tuple[str, ...] | None]] = {
    "web_500": (0.0015, None),
    "tax_db_timeout": (0.002, PRICED),
    "cache_timeout": (0.0015, PRICED),
    "declined": (0.05, ("pay",)),
    "psp_502": (0.008, ("pay",)),
    "bad_coupon": (0.2, ("apply_coupon",)),
}
#: Kinds after which the customer sees an error (and may try again).
USER_FAILURES = ("web_500", "tax_db_timeout", "declined", "psp_502", "inc_quote", "inc_pay")
INCIDENT_KINDS = ("inc_listing", "inc_quote", "inc_pay")


@dataclass(frozen=True)
class Plan:
    """Times (epoch ms, UTC) and actors of the incident day."""

    day_start: int
    t_a: int  # first poisoning write (end of the first trigger's checkout)
    t_b: int
    end_1: int  # tax-sync overwrites the entry
    end_2: int
    mail: tuple[int, int]  # mail relay certificate expired .. renewed
    trigger_customers: tuple[int, int]
    rare_customers: tuple[int, ...]
    rare_times: tuple[int, ...]
    coincidence_customer: int
    coincidence_time: int
    common_customers: tuple[int, int]
    common_times: tuple[int, int]

    @property
    def episodes(self) -> tuple[tuple[int, int], tuple[int, int]]:
        return ((self.t_a, self.end_1), (self.t_b, self.end_2))


def _next_sync(t: int, day_start: int) -> int:
    hour = (t - day_start) // H
    for h in (hour, hour + 1):
        for m in SYNC_MINUTES:
            s = day_start + h * H + m * M + 800
            if s > t:
                return s
    raise AssertionError("unreachable")


def make_plan(rng: np.random.Generator, cust: Customers, day_start: int) -> Plan:
    """Draw the incident day's times and actors."""
    t_a = day_start + 10 * H + 2 * M + int(rng.integers(5_000, 50_000))
    t_b = day_start + 14 * H + 31 * M + int(rng.integers(5_000, 50_000))
    m0 = day_start + 12 * H + 18 * M + int(rng.integers(0, 60_000))
    mail = (m0, m0 + int(rng.integers(11 * M, 14 * M)))
    gb = np.flatnonzero(cust.region == GB)
    trig = rng.choice(gb, size=2, replace=False)
    common = rng.choice(np.setdiff1d(gb, trig), size=2, replace=False)
    rest = rng.choice(np.setdiff1d(np.arange(cust.size), np.r_[trig, common]), size=4, replace=False)
    # Harmless rare sequence: far from the incident windows and the mail burst.
    cand = day_start + rng.integers(8 * H, 22 * H, size=400)
    far = (np.abs(cand - t_a) > 50 * M) & (np.abs(cand - t_b) > 50 * M) & (np.abs(cand - m0) > 40 * M)
    rare = np.sort(cand[far][:3])
    return Plan(
        day_start=day_start, t_a=t_a, t_b=t_b, end_1=_next_sync(t_a, day_start), end_2=_next_sync(t_b, day_start),
        mail=mail, trigger_customers=(int(trig[0]), int(trig[1])),
        rare_customers=tuple(int(u) for u in rest[:3]), rare_times=tuple(int(t) for t in rare),
        coincidence_customer=int(rest[3]), coincidence_time=t_a - int(rng.integers(100_000, 200_000)),
        common_customers=(int(common[0]), int(common[1])),
        common_times=(t_a + int(rng.integers(90_000, 200_000)), t_b + int(rng.integers(120_000, 300_000))),
    )


# ------------------------------------------------------------ scripted sessions

#: The checkout request of a trigger starts this long before the poisoning write.
CHECKOUT_MS = 160


def _script(rng: np.random.Generator, plan: Plan) -> list[tuple[str, int, list[tuple[str, int]]]]:
    """(role, customer, [(activity, offset ms from completion)]) per scripted session.

    The two trigger sessions share nothing but the trigger within the
    miner's default gap: one built a fresh cart (search, product, add), the
    other came back to a saved cart (track an order, open the cart), so no
    longer pattern is supported by exactly the same sessions."""
    c = -CHECKOUT_MS
    out = [
        ("trigger", plan.trigger_customers[0], [
            ("sign_in", -412_000), ("search", -395_000), ("view_product", -361_000), ("add_to_cart", -322_000),
            ("apply_coupon", -251_000), ("change_currency", -197_000), ("remove_item", -143_000),
            ("apply_coupon", -88_000), ("checkout", c), ("pay", 41_000)]),
        ("trigger", plan.trigger_customers[1], [
            ("sign_in", -530_000), ("track_order", -498_000), ("view_cart", -431_000), ("apply_coupon", -402_000),
            ("change_currency", -335_000), ("view_cart", -301_000), ("remove_item", -262_000),
            ("apply_coupon", -207_000), ("checkout", c), ("pay", 57_000)]),
    ]
    for cust in plan.rare_customers:
        gaps = np.cumsum(rng.integers(15_000, 80_000, size=5))[::-1]
        out.append(("rare_harmless", cust, [
            ("sign_in", -int(gaps[0]) - 20_000), ("track_order", -int(gaps[0])),
            ("change_shipping_address", -int(gaps[1])), ("change_currency", -int(gaps[2])),
            ("add_to_wishlist", -int(gaps[3])), ("write_review", 0), ("browse_catalog", 30_000)]))
    for cust in plan.common_customers:
        out.append(("common_path", cust, [
            ("sign_in", -150_000), ("browse_catalog", -130_000), ("view_product", -95_000),
            ("add_to_cart", -40_000), ("view_cart", 0), ("checkout", 22_000)]))
    out.append(("coincidence", plan.coincidence_customer, [
        ("view_product", -240_000), ("track_order", -190_000), ("change_shipping_address", -150_000),
        ("search", -70_000), ("add_to_wishlist", 0)]))
    return out


def scripted_sessions(rng: np.random.Generator, plan: Plan, sess_offset: int) -> pl.DataFrame:
    """The scripted sessions as request rows (ordinary columns plus ``role``)."""
    done = [plan.t_a, plan.t_b, *plan.rare_times, *plan.common_times, plan.coincidence_time]
    rows: dict[str, list] = {k: [] for k in ("sess", "cust", "guest", "step", "action", "product", "t", "role")}
    for i, ((role, cust, steps), t0) in enumerate(zip(_script(rng, plan), done)):
        product = int(rng.integers(0, 60))
        for j, (action, off) in enumerate(steps):
            rows["sess"].append(sess_offset + i)
            rows["cust"].append(cust)
            rows["guest"].append(False)
            rows["step"].append(j)
            rows["action"].append(CODE[action])
            rows["product"].append(product)
            rows["t"].append(t0 + off)
            rows["role"].append(role)
    return pl.DataFrame(rows).cast({"sess": pl.Int64, "cust": pl.Int32, "step": pl.Int16, "action": pl.Int8,
                                    "product": pl.Int16, "t": pl.Int64})


# ---------------------------------------------------------------- faults

def _codes(names) -> list[int]:
    return [CODE[n] for n in names]


def trickle(rng: np.random.Generator, reqs: pl.DataFrame, quiet: list[tuple[int, int]]) -> pl.Series:
    """Background fault kind per request ("ok" when none); none in scripted
    sessions and none inside ``quiet`` windows (so each true onset is the
    incident's own first error)."""
    n = reqs.height
    kind = np.full(n, "ok", dtype=object)
    action = reqs["action"].to_numpy()
    t = reqs["t"].to_numpy()
    calm = ~reqs["scripted"].to_numpy()
    for lo, hi in quiet:
        calm &= (t < lo) | (t > hi)
    for name, (p, names) in TRICKLE.items():
        ok = calm & (kind == "ok") & (rng.random(n) < p)
        if names is not None:
            ok &= np.isin(action, _codes(names))
        kind[ok] = name
    return pl.Series("kind", kind.astype(str))


def incident(reqs: pl.DataFrame, plan: Plan | None) -> pl.DataFrame:
    """Overwrite ``kind`` for the GB customers' priced requests while the
    tax-rules entry is poisoned."""
    if plan is None:
        return reqs
    t, act = pl.col("t"), pl.col("action")
    kind = pl.col("kind")
    for start, end in plan.episodes:
        hit = (pl.col("region") == GB) & act.is_in(_codes(PRICED)) & (t > start) & (t < end)
        kind = (
            pl.when(hit & act.is_in(_codes(LISTING))).then(pl.lit("inc_listing"))
            .when(hit & (act == CODE["pay"])).then(pl.lit("inc_pay"))
            .when(hit).then(pl.lit("inc_quote"))
            .otherwise(kind)
        )
    return reqs.with_columns(kind.alias("kind"))


def retries(rng: np.random.Generator, reqs: pl.DataFrame, plan: Plan | None) -> pl.DataFrame:
    """After a failure the customer repeats the request (1-2 times, seconds
    after the error page); after an incident failure half of the ordinary
    sessions are abandoned."""
    base = reqs.with_columns(pl.lit(False).alias("retry"), pl.lit(None, pl.Int8).alias("retry_of"))
    failed = reqs.filter(pl.col("kind").is_in(USER_FAILURES))
    if failed.height == 0:
        return base
    times = rng.integers(1, 3, size=failed.height)
    rep = failed.select(pl.all().repeat_by(pl.Series(times)).explode())
    wait = np.where(rep["kind"].to_numpy() == "inc_pay", PAY_TIMEOUT_MS, 400)
    gaps = rng.integers(3_000, 15_000, size=rep.height)
    first_of = np.repeat(np.cumsum(times) - times, times)
    offset = np.cumsum(gaps) - np.cumsum(gaps)[first_of] + gaps[first_of] + wait
    rep = rep.with_columns(
        (pl.col("t") + pl.Series(offset)).alias("t"), pl.lit("ok").alias("kind"), pl.lit(True).alias("retry"),
        pl.col("action").alias("retry_of"),
    )
    # A retry fails the same way as long as the cause lasts.
    keep = {"declined": 0.5, "psp_502": 0.3}
    again = pl.Series(rng.random(rep.height))
    prev = failed.select(pl.col("kind").repeat_by(pl.Series(times)).explode())["kind"]
    redo = pl.select(pl.when(prev.is_in(list(keep)) & (again < prev.replace_strict(keep, default=0.0)))
                     .then(prev).otherwise(pl.lit("ok"))).to_series()
    rep = incident(rep.with_columns(redo.alias("kind")), plan)
    out = pl.concat([base, rep.select(base.columns)], how="vertical")
    inc = failed.filter(pl.col("kind").is_in(INCIDENT_KINDS) & ~pl.col("scripted"))
    gone = inc.group_by("sess").agg(pl.col("t").min().alias("_fail")).sort("sess")
    gone = gone.filter(pl.Series(rng.random(gone.height) < 0.5))
    out = out.join(gone, on="sess", how="left").filter(
        pl.col("_fail").is_null() | pl.col("retry") | (pl.col("t") <= pl.col("_fail"))).drop("_fail")
    return out.sort("sess", "t", "retry", maintain_order=True)


# ------------------------------------------------------------------- repair

def first_completion(reqs: pl.DataFrame, codes: list[int]) -> pl.DataFrame:
    """Per session, the row position ``pos`` where ``codes`` first completes
    as a subsequence (any gaps).  ``reqs`` needs ``sess``, ``pos``, ``action``.

    Examples
    --------
    >>> df = pl.DataFrame({"sess": [1, 1, 1, 2], "pos": [0, 1, 2, 3], "action": [7, 3, 7, 7]})
    >>> first_completion(df, [7, 7]).rows()
    [(1, 2)]
    """
    found = reqs.filter(pl.col("action") == codes[0]).group_by("sess").agg(pl.col("pos").min())
    for c in codes[1:]:
        nxt = reqs.filter(pl.col("action") == c).join(found.rename({"pos": "_prev"}), on="sess")
        found = nxt.filter(pl.col("pos") > pl.col("_prev")).group_by("sess").agg(pl.col("pos").min())
    return found.sort("sess")


def repair(reqs: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """Delete, outside the scripted sessions, the request completing any of
    the planted rare sequences, until none is left.  Returns the rows and the
    number deleted."""
    deleted = 0
    reqs = reqs.sort("sess", "t", maintain_order=True).with_row_index("pos").with_columns(pl.col("pos").cast(pl.Int64))
    seqs = [_codes(s) for s in (TRIGGER, RARE_HARMLESS, COINCIDENCE)]
    while True:
        free = reqs.filter(~pl.col("scripted"))
        hits = pl.concat([first_completion(free, s) for s in seqs])
        if hits.height == 0:
            return reqs.drop("pos"), deleted
        deleted += hits["pos"].n_unique()
        reqs = reqs.join(hits.select("pos").unique(), on="pos", how="anti")


def day_requests(rng: np.random.Generator, ordinary: pl.DataFrame, cust: Customers, plan: Plan) -> tuple[pl.DataFrame, int]:
    """All requests of the day with ``region``, ``kind``, ``retry``,
    ``retry_of``, ``scripted`` and ``role``; the planted rare sequences
    repaired away outside the scripted sessions."""
    reqs = ordinary.with_columns(pl.lit(False).alias("scripted"), pl.lit(None, pl.String).alias("role"))
    n_ord = int(reqs["sess"].max() or 0) + 1
    script = scripted_sessions(rng, plan, n_ord + 16)
    # The scripted customers' own ordinary sessions near their scripted ones are dropped.
    span = script.group_by("cust").agg((pl.col("t").min() - 15 * M).alias("_lo"), (pl.col("t").max() + 15 * M).alias("_hi"))
    clash = reqs.join(span, on="cust").filter(pl.col("t").is_between(pl.col("_lo"), pl.col("_hi"))).select("sess").unique()
    reqs = reqs.join(clash, on="sess", how="anti")
    reqs = pl.concat([reqs, script.with_columns(pl.lit(True).alias("scripted")).select(reqs.columns)], how="vertical_relaxed")
    reqs = reqs.filter(pl.col("t") < plan.day_start + DAY_MS).sort("sess", "t", maintain_order=True)
    reqs = reqs.with_columns(pl.lit(pl.Series(cust.region)).gather(pl.col("cust")).alias("region"))
    quiet = [(s - 2 * M, s + 2 * M) for s, _ in plan.episodes]
    reqs = incident(reqs.with_columns(trickle(rng, reqs, quiet)), plan)
    reqs = retries(rng, reqs, plan)
    return repair(reqs)
