"""``truth.json`` of the shop scenario, computed from what was written."""

from __future__ import annotations

import polars as pl

from ...engine import truth as common
from ...engine.scenario import IncidentDay
from ...engine.truth import iso
from .faults import INCIDENT_KINDS
from .plan import Plan
from .vocab import ACTIONS, CODE, REGIONS

#: Timestamp precision of each writer's lines (ms): the access log has whole seconds.
PRECISION = {"edge": 1000}
STORY = ("a rare five-step cart sequence (a coupon re-applied after a currency switch and an item removal) "
         "makes checkout write a NaN tax rate into the GB tax-rules cache entry; every priced request of "
         "GB customers then fails in the cache client and the pricing service, checkouts fail and "
         "payments time out waiting for the amount check; the tax-sync job overwrites the entry at the "
         "next :15/:45 and the errors stop, until a second customer repeats the sequence in the "
         "afternoon; a mail-relay certificate expiry at noon is unrelated")
TIME_ZONES = {"storefront": "local time with +01:00 offset", "edge": "local time with +0100 offset",
              "pricing": "UTC (Z)", "cache": "epoch seconds", "payments": "UTC (Z)",
              "mail": "naive local time, Europe/Berlin: scan with --tz Europe/Berlin"}


def _burst(frames: dict[str, pl.DataFrame], cond: pl.Expr) -> tuple[str | None, str | None, list[dict]]:
    """Onset, end and cascade of the error lines matching ``cond``."""
    firsts, last = common.first_errors(frames, cond, PRECISION)
    onset = iso(min(firsts.values())) if firsts else None
    return onset, iso(last), common.cascade(firsts)


def document(day: IncidentDay, files: dict, config: dict) -> dict:
    """The ground-truth document (see ``truth.json`` of ``forensics simulate --scenario shop``)."""
    plan: Plan = day.plan
    reqs = day.reqs
    frames = {k: f.filter(~pl.col("mal")) for k, f in day.errors.items()}
    visible = reqs.sort("sess", "t", maintain_order=True)
    occ = common.occurrences(reqs.filter(pl.col("poison")).sort("t"), visible, rid="trace", user="customer",
                             request_tail=len(plan.story.trigger) + 1, action_tail=None)
    episodes = []
    for n, (start, end) in enumerate(plan.episodes, start=1):
        onset, last, steps = _burst(frames, (pl.col("cause") == "incident") & (pl.col("ep") == n))
        episodes.append({"kind": "incident", "episode": n, "trigger_completed_at": occ[n - 1]["completed_at"],
                         "onset": onset, "start": onset, "end": last, "fault_window": [iso(start), iso(end)],
                         "cascade": steps})
    onset, last, steps = _burst(frames, pl.col("cause") == "mail")
    mail = {"kind": "unrelated_mail_relay", "cause": "the mail relay's TLS certificate expired; renewed minutes later; "
            "no user-sequence cause", "onset": onset, "start": onset, "end": last,
            "fault_window": [iso(plan.mail[0]), iso(plan.mail[1])], "cascade": steps}
    doc = {
        "schema_version": common.SCHEMA_VERSION,
        "generator": {"name": "forensics simulate --scenario shop", **{k: config[k] for k in ("seed", "users", "formats")}},
        "scenario": {
            "name": "shop", "date": "2024-03-15", "platform": "online outdoor-gear shop (storefront, pricing, price "
            "cache, payment gateway, order mail)", "story": STORY, "time_zones": TIME_ZONES,
            "tax_sync_runs": "every hour at :15 and :45 (UTC)", "hotfix_at": iso(plan.day_start + 15 * 3_600_000 + 20 * 60_000),
        },
        "trigger": common.trigger_entry(plan.story.trigger, plan.story.resource, occ),
        "bursts": [*episodes, mail],
        "component_onset_order": [[c["component"] for c in e["cascade"]] for e in episodes],
        "affected": common.affected(plan.episodes, reqs, user="user", kinds=INCIDENT_KINDS,
                                    definition="customers with a failed or degraded priced request among customers "
                                               "with any request during the two fault windows"),
        "decoys": _decoys(plan, day, visible, frames, episodes[0]["onset"], mail),
        "repaired_requests": day.repaired,
        "files": {rel: c.as_dict() for rel, c in sorted(files.items())},
    }
    return common.add_story(doc, plan.story, visible, target=f"region {REGIONS[plan.story.target][0]}")


def _decoys(plan: Plan, day: IncidentDay, visible: pl.DataFrame, frames: dict[str, pl.DataFrame],
            first_onset: str | None, mail: dict) -> list[dict]:
    story = plan.story
    out = common.rare_decoys(visible, (("rare_harmless", story.rare_harmless), ("coincidence", story.coincidence)),
                             CODE, user="customer", first_onset=first_onset)
    out.append(common.common_path(visible, day.reqs, story.common_path, CODE, ("inc_quote", "inc_pay")))
    out.append(common.retry_after_error(
        visible, ACTIONS, (CODE["pay"], CODE["pay"]),
        "the request failed; the customer sends it again seconds later: a sequence that comes after errors, not before"))
    noise = {name: int(f.filter((pl.col("cause") == "background") & pl.col("err")).height) for name, f in frames.items()}
    out.append({"kind": "background_errors", "description": "a steady trickle of unrelated errors",
                "errors_per_component": dict(sorted(noise.items()))})
    out.append({"kind": "unrelated_burst", "description": "mail relay certificate expired: the order-mail worker "
                "fails for a few minutes; no user-sequence cause",
                **{k: mail[k] for k in ("onset", "start", "end", "fault_window")}})
    return out
