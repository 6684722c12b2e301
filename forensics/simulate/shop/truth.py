"""``truth.json`` of the shop scenario, computed from what was written."""

from __future__ import annotations

from collections import Counter

import polars as pl

from ..truth import iso
from .scenario import INCIDENT_KINDS, Plan, first_completion
from .vocab import ACTIONS, CODE, COINCIDENCE, COMMON_PATH, POISONED_REGION, RARE_HARMLESS, TRIGGER

SCHEMA_VERSION = 1
#: Timestamp precision of each writer's lines (ms): the access log has whole seconds.
PRECISION = {"edge": 1000}


def _shown(name: str) -> pl.Expr:
    p = PRECISION.get(name, 1)
    return (pl.col("t") // p) * p


def _first_errors(frames: dict[str, pl.DataFrame], cond: pl.Expr) -> tuple[dict[str, int], int | None]:
    """Component -> first shown time of the error lines matching ``cond``, and the last one."""
    firsts: dict[str, int] = {}
    last = None
    for name, f in frames.items():
        hit = f.filter(cond & pl.col("err")).select(_shown(name).alias("s"))["s"]
        if hit.len():
            firsts[name] = int(hit.min())
            last = int(hit.max()) if last is None else max(last, int(hit.max()))
    return firsts, last


def _cascade(firsts: dict[str, int]) -> list[dict]:
    order = sorted(firsts, key=lambda c: (firsts[c], c))
    return [{"component": c, "first_error": iso(firsts[c]),
             "lead_s": round((firsts[order[i + 1]] - firsts[c]) / 1000, 3) if i + 1 < len(order) else None}
            for i, c in enumerate(order)]


def build_truth(*, plan: Plan, reqs: pl.DataFrame, frames: dict[str, pl.DataFrame], files: dict, repaired: int,
                config: dict) -> dict:
    """The ground-truth document (see ``truth.json`` of ``forensics simulate --scenario shop``)."""
    frames = {k: f.filter(~pl.col("mal")) for k, f in frames.items()}
    visible = reqs.sort("sess", "t", maintain_order=True)
    done = reqs.filter(pl.col("poison")).sort("t")
    occurrences = []
    for row in done.iter_rows(named=True):  # two rows
        steps = visible.filter((pl.col("sess") == row["sess"]) & ~pl.col("retry") & (pl.col("t") <= row["t"]))
        occurrences.append({
            "user": row["customer"], "session": row["sid"], "completed_at": iso(row["end"]),
            "request_ids": steps.tail(len(TRIGGER) + 1)["trace"].to_list(), "completing_request_id": row["trace"],
            "actions": steps["name"].to_list(),
        })
    episodes = []
    for n, (start, end) in enumerate(plan.episodes, start=1):
        firsts, last = _first_errors(frames, (pl.col("cause") == "incident") & (pl.col("ep") == n))
        onset = min(firsts.values()) if firsts else None
        episodes.append({
            "kind": "incident", "episode": n, "trigger_completed_at": occurrences[n - 1]["completed_at"],
            "onset": iso(onset), "start": iso(onset), "end": iso(last), "fault_window": [iso(start), iso(end)],
            "cascade": _cascade(firsts),
        })
    mfirst, mlast = _first_errors(frames, pl.col("cause") == "mail")
    mail = {"kind": "unrelated_mail_relay", "cause": "the mail relay's TLS certificate expired; renewed minutes later; "
            "no user-sequence cause", "onset": iso(min(mfirst.values())) if mfirst else None,
            "start": iso(min(mfirst.values())) if mfirst else None, "end": iso(mlast),
            "fault_window": [iso(plan.mail[0]), iso(plan.mail[1])], "cascade": _cascade(mfirst)}
    return {
        "schema_version": SCHEMA_VERSION,
        "generator": {"name": "forensics simulate --scenario shop", **config},
        "scenario": {
            "name": "shop", "date": "2024-03-15", "platform": "online outdoor-gear shop (storefront, pricing, price "
            "cache, payment gateway, order mail)",
            "story": "a rare five-step cart sequence (a coupon re-applied after a currency switch and an item removal) "
                     "makes checkout write a NaN tax rate into the GB tax-rules cache entry; every priced request of "
                     "GB customers then fails in the cache client and the pricing service, checkouts fail and "
                     "payments time out waiting for the amount check; the tax-sync job overwrites the entry at the "
                     "next :15/:45 and the errors stop, until a second customer repeats the sequence in the "
                     "afternoon; a mail-relay certificate expiry at noon is unrelated",
            "time_zones": {"storefront": "local time with +01:00 offset", "edge": "local time with +0100 offset",
                           "pricing": "UTC (Z)", "cache": "epoch seconds", "payments": "UTC (Z)",
                           "mail": "naive local time, Europe/Berlin: scan with --tz Europe/Berlin"},
            "tax_sync_runs": "every hour at :15 and :45 (UTC)", "hotfix_at": iso(plan.day_start + 15 * 3_600_000 + 20 * 60_000),
        },
        "trigger": {
            "sequence": list(TRIGGER), "cache_key": f"taxrules:{POISONED_REGION}",
            "completion_times": [o["completed_at"] for o in occurrences],
            "sessions": [o["session"] for o in occurrences], "users": [o["user"] for o in occurrences],
            "request_ids": [o["completing_request_id"] for o in occurrences], "occurrences": occurrences,
        },
        "bursts": [*episodes, mail],
        "component_onset_order": [[c["component"] for c in e["cascade"]] for e in episodes],
        "affected": _affected(plan, reqs),
        "decoys": _decoys(plan, reqs, visible, episodes, frames, mail),
        "repaired_requests": repaired,
        "files": {rel: c.as_dict() for rel, c in sorted(files.items())},
    }


def _affected(plan: Plan, reqs: pl.DataFrame) -> dict:
    inside = pl.lit(False)
    for start, end in plan.episodes:
        inside = inside | pl.col("t").is_between(start, end)
    active = reqs.filter(inside)["cust"].n_unique()
    hit = reqs.filter(pl.col("kind").is_in(list(INCIDENT_KINDS)))["cust"].n_unique()
    return {"active_users": active, "affected_users": hit, "share": round(hit / max(active, 1), 4),
            "definition": "customers with a failed or degraded priced request among customers with any request "
                          "during the two fault windows"}


def _decoys(plan: Plan, reqs: pl.DataFrame, visible: pl.DataFrame, episodes: list[dict],
            frames: dict[str, pl.DataFrame], mail: dict) -> list[dict]:
    out = []
    for role, seq in (("rare_harmless", RARE_HARMLESS), ("coincidence", COINCIDENCE)):
        rows = visible.filter((pl.col("role") == role) & ~pl.col("retry") & (pl.col("action") == CODE[seq[-1]]))
        rows = rows.sort("t").unique("sess", keep="last", maintain_order=True)
        entry = {"kind": role, "sequence": list(seq), "times": [iso(t) for t in rows["end"].to_list()],
                 "users": rows["customer"].to_list(), "sessions": rows["sid"].to_list()}
        if role == "coincidence" and episodes[0]["onset"] and rows.height:
            onset = pl.Series([episodes[0]["onset"]]).str.to_datetime(time_zone="UTC").dt.epoch("ms")[0]
            entry["before_onset_s"] = round((onset - rows["end"][0]) / 1000, 1)
            entry["onset"] = episodes[0]["onset"]
        out.append(entry)
    pos = visible.with_row_index("pos").with_columns(pl.col("pos").cast(pl.Int64))
    with_path = set(first_completion(pos, [CODE[a] for a in COMMON_PATH])["sess"].to_list())
    failing = set(reqs.filter(pl.col("kind").is_in(["inc_quote", "inc_pay"]))["sess"].to_list())
    sessions = visible["sess"].n_unique()
    out.append({"kind": "common_path", "sequence": list(COMMON_PATH), "sessions": len(with_path),
                "share_of_sessions": round(len(with_path) / max(sessions, 1), 4),
                "failing_sessions_with_path": len(with_path & failing), "failing_sessions": len(failing)})
    retry = visible.filter(pl.col("retry"))
    pairs = Counter(zip(retry["retry_of"].to_list(), retry["action"].to_list()))
    (before, again) = pairs.most_common(1)[0][0] if pairs else (CODE["pay"], CODE["pay"])
    times = retry.filter((pl.col("retry_of") == before) & (pl.col("action") == again)).sort("t")["end"].to_list()
    out.append({"kind": "retry_after_error", "sequence": [ACTIONS[before], ACTIONS[again]],
                "description": "the request failed; the customer sends it again seconds later: a sequence that "
                               "comes after errors, not before",
                "retry_requests": retry.height, "sessions": retry["sess"].n_unique(), "count": len(times),
                "times": [iso(t) for t in times[:20]], "times_listed": min(len(times), 20)})
    noise = {name: int(f.filter((pl.col("cause") == "background") & pl.col("err")).height) for name, f in frames.items()}
    out.append({"kind": "background_errors", "description": "a steady trickle of unrelated errors",
                "errors_per_component": dict(sorted(noise.items()))})
    out.append({"kind": "unrelated_burst", "description": "mail relay certificate expired: the order-mail worker "
                "fails for a few minutes; no user-sequence cause",
                **{k: mail[k] for k in ("onset", "start", "end", "fault_window")}})
    return out
