"""The sessions behind a suspect, step by step (``forensics show``).

Library part of the drill-down: frames and dataclasses, no rendering.

>>> from forensics.scan import run_scan
>>> from forensics.report.drilldown import suspect_drilldown
>>> d = suspect_drilldown(run_scan(["sample_logs/"]), 1)
>>> d.sessions[0].actions.filter("is_step").get_column("action").to_list()
['start_quiz', 'switch_language', 'download_material', 'submit_quiz']
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import polars as pl

from ..errors import UsageError
from ..timeline.sessions import action_rows, session_actions

TS = pl.Datetime("us", "UTC")

#: Columns of :attr:`SessionTimeline.actions`.
ACTION_COLUMNS = ("seq", "ts", "t_rel_onset_s", "action", "is_step", "step", "status", "failed", "errors",
                  "first_error_kind", "resources", "request_id", "component", "source", "line")


@dataclass(frozen=True)
class Onset:
    """A burst onset (the first, or a re-onset after a fade)."""

    burst_id: int
    ts: datetime


@dataclass(frozen=True)
class SessionTimeline:
    """One session's full timeline.

    Attributes
    ----------
    session_key, user, start, end, first_error
        From the timeline's ``sessions`` frame.
    onset
        The reference onset: the first onset at or after the session's last
        highlighted step (or, with no steps, after its start; failing that,
        the last onset before it).  ``None`` when there are no bursts.
    actions
        One row per user action (:data:`ACTION_COLUMNS`): ``t_rel_onset_s``
        is the time relative to ``onset`` (negative = before), ``is_step`` /
        ``step`` mark the suspect's steps (1-based), ``errors`` counts the
        error events linked to the action's request and ``first_error_kind``
        names the first one.
    resources
        Resources touched by the session's requests: ``resource``,
        ``first_touched``, ``touches``, ``by_step`` (touched by a highlighted
        step), ``errors_after`` (error events with that key after the first
        touch), ``first_error_after``.
    """

    session_key: str
    user: str | None
    start: datetime
    end: datetime
    first_error: datetime | None
    onset: Onset | None
    actions: pl.DataFrame
    resources: pl.DataFrame


@dataclass(frozen=True)
class SuspectDrilldown:
    """A suspect and the timelines of the sessions behind its occurrences."""

    suspect: object  # forensics.mining.model.Suspect
    onsets: tuple[Onset, ...]
    sessions: tuple[SessionTimeline, ...]


def all_onsets(timeline) -> tuple[Onset, ...]:
    """Every onset of every burst, in time order."""
    return tuple(sorted((Onset(b.id, o) for b in timeline.bursts for o in b.onsets), key=lambda o: o.ts))


def _reference(onsets: tuple[Onset, ...], anchor: datetime) -> Onset | None:
    after = [o for o in onsets if o.ts >= anchor]
    if after:
        return after[0]
    before = [o for o in onsets if o.ts < anchor]
    return before[-1] if before else None


def _request_errors(timeline, request_ids: list[str]) -> pl.DataFrame:
    ev = timeline.events
    return (
        ev.filter(pl.col("is_error") & pl.col("request_id").is_in(request_ids))
        .sort("ts")
        .group_by("request_id", maintain_order=True)
        .agg(pl.len().cast(pl.Int64).alias("errors"), pl.col("error_kind").first().alias("first_error_kind"))
    )


def session_timeline(result, session_key: str, *, steps: pl.DataFrame | None = None) -> SessionTimeline:
    """The full timeline of one session.

    Parameters
    ----------
    result
        A :class:`forensics.scan.ScanResult`.
    session_key
        The session (``session_key`` in the timeline; the session id when the
        logs carry one).
    steps
        Rows of ``result.mining.steps`` to highlight (``session_key``,
        ``ts``, ``action``, ``step``); ``None`` highlights nothing.

    Raises
    ------
    UsageError
        No such session.
    """
    tl = result.timeline
    sess = tl.sessions.filter(pl.col("session_key") == session_key)
    if sess.height == 0:
        raise UsageError(f"no session {session_key!r} in the input (see the suspects' example sessions)")
    info = sess.row(0, named=True)
    acts = action_rows(session_actions(tl.actions, tl.events, [session_key]).sort("seq"), tl.events,
                       ["session_key", "ts", "action", "request_id", "status", "component", "source", "line"])
    if steps is not None and steps.height:
        marks = (steps.filter(pl.col("session_key") == session_key)
                 .group_by("ts", "action").agg(pl.col("step").min().cast(pl.Int32)))
        acts = acts.join(marks, on=["ts", "action"], how="left", maintain_order="left")
    else:
        acts = acts.with_columns(pl.lit(None, dtype=pl.Int32).alias("step"))
    rids = acts.get_column("request_id").drop_nulls().to_list()
    errs = _request_errors(tl, rids)
    acts = acts.join(errs, on="request_id", how="left", maintain_order="left").with_columns(
        pl.col("errors").fill_null(0), pl.col("step").is_not_null().alias("is_step"))

    onsets = all_onsets(tl)
    step_ts = acts.filter("is_step").get_column("ts")
    anchor = step_ts.max() if len(step_ts) else info["start"]
    ref = _reference(onsets, anchor)
    rel = ((pl.col("ts") - pl.lit(ref.ts, dtype=TS)).dt.total_microseconds() / 1e6 if ref
           else pl.lit(None, dtype=pl.Float64))
    acts = acts.with_columns(rel.alias("t_rel_onset_s")).select(ACTION_COLUMNS)

    touched = (
        acts.select("ts", "resources", "is_step").explode("resources").drop_nulls("resources")
        .group_by("resources").agg(pl.col("ts").min().alias("first_touched"), pl.len().alias("touches"),
                                   pl.col("is_step").any().alias("by_step"))
        .rename({"resources": "resource"})
    )
    key_errors = tl.events.filter(pl.col("is_error") & pl.col("key").is_not_null()).select("key", "ts")
    after = (
        touched.join(key_errors, left_on="resource", right_on="key", how="left")
        .filter(pl.col("ts") > pl.col("first_touched"))
        .group_by("resource").agg(pl.len().alias("errors_after"), pl.col("ts").min().alias("first_error_after"))
    )
    resources = (
        touched.join(after, on="resource", how="left")
        .with_columns(pl.col("errors_after").fill_null(0).cast(pl.Int64), pl.col("touches").cast(pl.Int64))
        .sort(["by_step", "errors_after", "first_touched", "resource"], descending=[True, True, False, False])
    )
    return SessionTimeline(session_key=session_key, user=info["user"], start=info["start"], end=info["end"],
                           first_error=info["first_error"], onset=ref, actions=acts, resources=resources)


def suspect_drilldown(result, rank: int, *, max_sessions: int | None = None) -> SuspectDrilldown:
    """The sessions behind suspect ``rank``: every session with an occurrence
    counted as evidence, latest completion first.

    Raises
    ------
    UsageError
        No suspect of that rank.
    """
    mined = result.mining
    match = [s for s in mined.suspects if s.rank == rank]
    if not match:
        n = len(mined.suspects)
        have = f"suspects are numbered 1..{n}" if n else "this scan has no significant suspect"
        raise UsageError(f"no suspect #{rank}: {have}")
    steps = mined.steps.filter(pl.col("rank") == rank) if mined.steps is not None else None
    order = (steps.group_by("session_key").agg(pl.col("ts").max()).sort("ts", descending=True)
             .get_column("session_key").to_list()) if steps is not None else []
    for key in match[0].example_sessions:  # sessions with no eligible occurrence, if any
        if key not in order:
            order.append(key)
    if max_sessions is not None:
        order = order[:max_sessions]
    sessions = tuple(session_timeline(result, k, steps=steps) for k in order)
    return SuspectDrilldown(suspect=match[0], onsets=all_onsets(result.timeline), sessions=sessions)
