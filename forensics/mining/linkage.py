"""Resources a suspect's occurrences touched, the errors they returned, and the explanation.

Linkage is supporting evidence (docs/statistics.md, "Credit, explaining
away and ranking"): it never filters a suspect out (logs without keys still
work) and only breaks ties between equal q-values.  Occurrences themselves
are located by :mod:`.occurrences`; steps frames are built by
:func:`.core.steps_frame`.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import polars as pl

from .candidates import Prepared
from .model import MiningOptions, OnsetLead, ResourceLink
from .occurrences import embeddings


def error_index(errors: pl.DataFrame) -> dict[str, np.ndarray]:
    """Sorted error times (us) per resource key."""
    if errors.height == 0:
        return {}
    g = errors.group_by("key").agg(pl.col("ts").dt.epoch("us").sort())
    return {k: np.asarray(v, dtype=np.int64) for k, v in zip(g["key"].to_list(), g["ts"].to_list())}

def _touched_erring(p: Prepared, rows: np.ndarray, until: int, err: dict[str, np.ndarray]) -> bool:
    """Whether one of ``rows`` (an occurrence, completed at its last row)
    touched a resource that erred after the completion and no later than
    ``until`` (us)."""
    done = p.ts[rows[-1]]
    res = p.rows["resources"]
    for r in rows:  # k steps
        keys = res[int(r)]
        for key in (keys.to_list() if keys is not None else ()):
            t = err.get(key)
            if t is not None and np.searchsorted(t, done, side="right") < np.searchsorted(t, until, side="right"):
                return True
    return False


def linked_evidence(p: Prepared, codes: list[tuple[int, ...]], credit: np.ndarray, row: np.ndarray,
                   ends: np.ndarray, errors: pl.DataFrame, *, options: MiningOptions) -> np.ndarray:
    """(K, m): the credited evidence occurrence of candidate i before onset j
    touched a resource that erred in that onset's burst (docs/statistics.md,
    "Credit, explaining away and ranking")."""
    linked = np.zeros(credit.shape, dtype=bool)
    err = error_index(errors)
    if "resources" not in p.rows.columns or not err:
        return linked
    for i in np.flatnonzero(credit.any(axis=1)):  # K candidates at most
        js = np.flatnonzero(credit[i])
        emb = embeddings(p, codes[i], row[i, js], max_gap=options.max_gap, max_span_s=options.max_span_s)
        for j, rows in zip(js, emb):  # m onsets at most
            linked[i, j] = rows[0] >= 0 and _touched_erring(p, rows, int(ends[j]), err)
    return linked


def resource_links(p: Prepared, steps: pl.DataFrame, errors: pl.DataFrame,
                   until: dict[int, int] | None = None) -> tuple[ResourceLink, ...]:
    """Resources touched by the steps and the errors they returned afterwards.

    ``errors`` has ``key`` and ``ts`` of error events.  With ``until``
    (completion row -> end of the credited burst, in us), only the
    occurrences that carry a suspect's evidence count errors, and only those
    after their completion and up to that burst's end: a key hit by
    background errors hours later is not "linked"; for each resource the
    touch kept is the evidence occurrence just before the first credited
    onset (its last step that touched the resource).  Without ``until`` every
    error after the completion counts and the touch with the most later
    errors is kept (ties: the latest).
    """
    if steps.height == 0 or "resources" not in p.rows.columns:
        return ()
    res = p.rows.select(pl.col("resources")).to_series()
    done = steps.with_columns(pl.col("ts").max().over("occurrence").alias("completed"),
                              pl.col("row").max().over("occurrence").alias("_end"))
    if until is None:
        done = done.with_columns(pl.lit(None, dtype=pl.Int64).alias("_until"))
    else:
        m = pl.DataFrame({"_end": list(until), "_until": list(until.values())},
                         schema={"_end": pl.Int64, "_until": pl.Int64})
        done = done.join(m, on="_end", how="left").with_columns(pl.col("_until").fill_null(-1))
    touched = done.with_columns(
        pl.Series("resource", [res[int(r)] for r in done["row"].to_list()], dtype=pl.List(pl.String))
    ).explode("resource").drop_nulls("resource")
    if touched.height == 0:
        return ()
    after = (pl.col("ts_err") > pl.col("completed")) & (
        pl.col("_until").is_null() | (pl.col("ts_err").dt.epoch("us") <= pl.col("_until")))
    joined = touched.join(errors, left_on="resource", right_on="key", how="left", suffix="_err").with_columns(
        after.fill_null(False).alias("after")
    )
    per = joined.group_by("resource", "occurrence", "step", "action", "ts").agg(
        pl.col("after").sum().alias("errors_after"), pl.col("completed").first(),
        pl.col("ts_err").filter(pl.col("after")).min().alias("first_error_after"))
    # (resource and occurrence last: ties, e.g. two keys touched by one request, come out the same every run)
    if until is None:
        per = per.sort(["errors_after", "ts", "resource", "occurrence"], descending=[True, True, False, False])
    else:  # the evidence occurrence just before the first credited onset, its last step touching the key
        per = per.sort([pl.col("errors_after") > 0, "completed", "ts", "resource", "occurrence"],
                       descending=[True, False, True, False, False])
    per = per.unique("resource", keep="first", maintain_order=True).sort("errors_after", descending=True,
                                                                         maintain_order=True)
    return tuple(
        ResourceLink(resource=r["resource"], touched_at=r["ts"], step=r["action"], step_index=int(r["step"]),
                     errors_after=int(r["errors_after"]), first_error_after=r["first_error_after"])
        for r in per.iter_rows(named=True)
    )


def _hms(t: datetime) -> str:
    return t.strftime("%H:%M:%S")


def explanation(sequence: tuple[str, ...], resources: tuple[ResourceLink, ...], leads: tuple[OnsetLead, ...],
                completions: int, rate_per_hour: float) -> str:
    """One plain sentence an engineer can check.

    >>> explanation(("a", "b"), (), (), 2, 0.25)
    'a -> b completed 2 times in the whole log (0.25/h) and preceded no onset.'
    """
    text = " -> ".join(sequence)
    if leads:
        seen: set[int] = set()
        items = []
        for lead in leads:
            again = lead.burst_id in seen
            seen.add(lead.burst_id)
            items.append(f"{lead.lead_s:.0f} s before burst {lead.burst_id}"
                         + (f"'s re-onset at {_hms(lead.onset)}" if again else ""))
        parts = ", ".join(items)
        when = f"completed {completions} times in the whole log ({rate_per_hour:.2g}/h), {parts}"
    else:
        when = f"completed {completions} times in the whole log ({rate_per_hour:.2g}/h) and preceded no onset"
    linked = [r for r in resources if r.errors_after > 0]
    if linked:
        r = linked[0]
        which = "last step" if r.step_index == len(sequence) else f"step {r.step_index}"
        return (f"{text} {when}; its {which} ({r.step}) touched {r.resource} at {_hms(r.touched_at)}; "
                f"{r.resource} returned {r.errors_after:,} errors from {_hms(r.first_error_after)}.")
    return f"{text} {when}."


def evidence_frame(result, timeline) -> pl.DataFrame:
    """Every event of every suspect occurrence (for the Parquet export).

    Columns: ``rank``, ``session``, ``user``, ``ts``, ``action``,
    ``component``, ``source``, ``line``, ``step``.  Events are reached through
    the steps' request ids (all lines of that request: web, app, cache, db);
    a step without a request id contributes its own action event.
    """
    cols = {"rank": pl.Int32, "session": pl.String, "user": pl.String, "ts": pl.Datetime("us", "UTC"),
            "action": pl.String, "component": pl.String, "source": pl.String, "line": pl.Int64, "step": pl.Int32}
    steps = result.steps
    if steps is None or steps.height == 0:
        return pl.DataFrame(schema=cols)
    ev = timeline.events.select("ts", "source", "line", "component", "request_id", "action", "session_key",
                                "is_action")
    evr = ev.rename({"ts": "ev_ts"}).select("ev_ts", "source", "line", "component", "request_id")
    with_rid = steps.filter(pl.col("request_id").is_not_null()).join(
        evr.filter(pl.col("request_id").is_not_null()), on="request_id", how="inner")
    no_rid = steps.filter(pl.col("request_id").is_null()).join(
        ev.filter(pl.col("is_action")).rename({"ts": "ev_ts"}).drop("request_id"),
        left_on=["session_key", "ts", "action"], right_on=["session_key", "ev_ts", "action"], how="inner",
    ).with_columns(pl.col("ts").alias("ev_ts"))
    out = pl.concat([
        with_rid.select("rank", "session_key", "user", "ev_ts", "action", "component", "source", "line", "step"),
        no_rid.select("rank", "session_key", "user", "ev_ts", "action", "component", "source", "line", "step"),
    ], how="vertical_relaxed")
    return (
        out.rename({"session_key": "session", "ev_ts": "ts"})
        .select(list(cols)).cast(cols)
        .unique().sort(["rank", "session", "ts", "step", "source", "line"])
    )
