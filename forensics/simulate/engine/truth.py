"""Pieces of ``truth.json`` that every scenario computes the same way from
what was written: the trigger's occurrences, the error cascade of a burst,
the decoys (rare sequences, the common path, retries) and the affected
users.  A scenario's truth module assembles them with its own story text."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Mapping, Sequence

import polars as pl

from .requests import first_completion
from .scenario import Story

SCHEMA_VERSION = 1


def iso(t_ms: int | None) -> str | None:
    """Epoch ms as ``2023-11-02T16:14:41.123Z`` (None stays None)."""
    if t_ms is None:
        return None
    return dt.datetime.fromtimestamp(t_ms / 1000, tz=dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def shown(precision_ms: int) -> pl.Expr:
    """A line's time as its text shows it (truncated to ``precision_ms``)."""
    return (pl.col("t") // precision_ms) * precision_ms


def first_errors(frames: Mapping[str, pl.DataFrame], cond: pl.Expr, precision: Mapping[str, int],
                 component: Callable[[str], str] = str) -> tuple[dict[str, int], int | None]:
    """Component -> first shown time of the error lines matching ``cond``
    (per writer, grouped by ``component(writer)``), and the last such time."""
    firsts: dict[str, int] = {}
    last = None
    for name, f in frames.items():
        hit = f.filter(cond & pl.col("err")).select(shown(precision.get(name, 1)).alias("s"))["s"]
        if hit.len():
            comp = component(name)
            firsts[comp] = min(firsts.get(comp, int(hit.min())), int(hit.min()))
            last = int(hit.max()) if last is None else max(last, int(hit.max()))
    return firsts, last


def cascade(firsts: Mapping[str, int], extra: Callable[[str], dict] = lambda c: {}) -> list[dict]:
    """The components in onset order with their first error and the lead
    over the next one (``extra(component)`` adds members after the name)."""
    order = sorted(firsts, key=lambda c: (firsts[c], c))
    return [{"component": c, **extra(c), "first_error": iso(firsts[c]),
             "lead_s": round((firsts[order[i + 1]] - firsts[c]) / 1000, 3) if i + 1 < len(order) else None}
            for i, c in enumerate(order)]


def occurrences(done: pl.DataFrame, visible: pl.DataFrame, *, rid: str, user: str, request_tail: int,
                action_tail: int | None) -> list[dict]:
    """One entry per completed trigger (rows of ``done``): the session's last
    ``request_tail`` request ids up to the completion, and its actions (the
    last ``action_tail``, or all when None)."""
    out = []
    for row in done.iter_rows(named=True):
        steps = visible.filter((pl.col("sess") == row["sess"]) & ~pl.col("retry") & (pl.col("t") <= row["t"]))
        acts = steps if action_tail is None else steps.tail(action_tail)
        out.append({
            "user": row[user], "session": row["sid"], "completed_at": iso(row["end"]),
            "request_ids": steps.tail(request_tail)[rid].to_list(), "completing_request_id": row[rid],
            "actions": acts["name"].to_list(),
        })
    return out


def rare_decoys(visible: pl.DataFrame, roles: Sequence[tuple[str, Sequence[str]]], code: Mapping[str, int], *,
                user: str, first_onset: str | None) -> list[dict]:
    """The planted rare decoys: per role, when (and by whom) the sequence
    completed; the coincidence also says how long before ``first_onset``."""
    out = []
    for role, seq in roles:
        rows = visible.filter((pl.col("role") == role) & ~pl.col("retry") & (pl.col("action") == code[seq[-1]]))
        rows = rows.sort("t").unique("sess", keep="last", maintain_order=True)
        entry = {"kind": role, "sequence": list(seq), "times": [iso(t) for t in rows["end"].to_list()],
                 "users": rows[user].to_list(), "sessions": rows["sid"].to_list()}
        if role == "coincidence" and first_onset and rows.height:
            onset = dt.datetime.fromisoformat(first_onset.replace("Z", "+00:00")).timestamp() * 1000
            entry["before_onset_s"] = round((onset - rows["end"][0]) / 1000, 1)
            entry["onset"] = first_onset
        out.append(entry)
    return out


def common_path(visible: pl.DataFrame, reqs: pl.DataFrame, seq: Sequence[str], code: Mapping[str, int],
                failing_kinds: Sequence[str]) -> dict:
    """The path most sessions take, failing ones included."""
    pos = visible.with_row_index("pos").with_columns(pl.col("pos").cast(pl.Int64))
    with_path = set(first_completion(pos, [code[a] for a in seq])["sess"].to_list())
    failing = set(reqs.filter(pl.col("kind").is_in(list(failing_kinds)))["sess"].to_list())
    sessions = visible["sess"].n_unique()
    return {"kind": "common_path", "sequence": list(seq), "sessions": len(with_path),
            "share_of_sessions": round(len(with_path) / max(sessions, 1), 4),
            "failing_sessions_with_path": len(with_path & failing), "failing_sessions": len(failing)}


def retry_after_error(visible: pl.DataFrame, actions: Sequence[str], default: tuple[int, int], description: str) -> dict:
    """The most common (failed action, retried action) pair and its times."""
    retry = visible.filter(pl.col("retry"))
    pairs = Counter(zip(retry["retry_of"].to_list(), retry["action"].to_list()))
    (before, again) = pairs.most_common(1)[0][0] if pairs else default
    times = retry.filter((pl.col("retry_of") == before) & (pl.col("action") == again)).sort("t")["end"].to_list()
    return {"kind": "retry_after_error", "sequence": [actions[before], actions[again]], "description": description,
            "retry_requests": retry.height, "sessions": retry["sess"].n_unique(), "count": len(times),
            "times": [iso(t) for t in times[:20]], "times_listed": min(len(times), 20)}


def affected(episodes: Sequence[tuple[int, int]], reqs: pl.DataFrame, *, user: str, kinds: Sequence[str],
             definition: str) -> dict:
    """Users with a request of ``kinds`` among users active in the episodes."""
    inside = pl.lit(False)
    for start, end in episodes:
        inside = inside | pl.col("t").is_between(start, end)
    active = reqs.filter(inside)[user].n_unique()
    hit = reqs.filter(pl.col("kind").is_in(list(kinds)))[user].n_unique()
    return {"active_users": active, "affected_users": hit, "share": round(hit / max(active, 1), 4),
            "definition": definition}


def trigger_entry(story_trigger: Sequence[str], resource: str, occ: list[dict]) -> dict:
    """The ``trigger`` member of ``truth.json``."""
    return {
        "sequence": list(story_trigger), "cache_key": resource,
        "completion_times": [o["completed_at"] for o in occ], "sessions": [o["session"] for o in occ],
        "users": [o["user"] for o in occ], "request_ids": [o["completing_request_id"] for o in occ],
        "occurrences": occ,
    }


def add_story(doc: dict, story: Story, reqs: pl.DataFrame, *, target: str) -> dict:
    """``doc`` with what a drawn story planted (unchanged for the fixed
    story, so its ``truth.json`` stays as it was): ``trigger`` gains
    ``drawn``, ``length`` and ``resource``; a ``story`` member after it
    names the trigger, the decoys, the common path, the poisoned resource
    and its ``target`` (course id, region), the frames of the scripted
    sessions and, per trigger step, its requests that day (``step_requests``)
    and their share of all requests (``step_share``)."""
    if not story.drawn:
        return doc
    ordinary = reqs.filter(~pl.col("retry"))
    counts = dict(ordinary.group_by("name").len().iter_rows())
    steps = sorted(set(story.trigger), key=story.trigger.index)
    entry = {
        "drawn": True, "trigger": list(story.trigger), "length": len(story.trigger), "resource": story.resource,
        "target": target, "rare_harmless": list(story.rare_harmless), "coincidence": list(story.coincidence),
        "common_path": list(story.common_path),
        "frames": {role: {"prefix": list(f.prefix), "suffix": list(f.suffix)} for role, f in story.frames},
        "step_requests": {a: int(counts.get(a, 0)) for a in steps},
        "step_share": {a: round(counts.get(a, 0) / max(ordinary.height, 1), 5) for a in steps},
    }
    out = {}
    for key, value in doc.items():
        out[key] = value
        if key == "trigger":
            out[key] = {**value, "drawn": True, "length": len(story.trigger), "resource": story.resource}
            out["story"] = entry
    return out
