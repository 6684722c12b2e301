"""The Timeline section of the postmortem draft (:mod:`forensics.report.postmortem`):
the suspect's completions, each burst's onsets, cascade and end, and the labeled failing
sessions, in time order, grouped by the second.  Log-derived strings are Markdown-escaped."""

from __future__ import annotations

from datetime import datetime, timezone

import polars as pl

from .markdown import fmt_duration, fmt_time, markdown_escape

__all__ = ["TODO", "ARROW", "burst_of", "md_sequence", "md_text", "span_text", "timeline_section"]

TODO = "_TODO: {}_"
ARROW = " → "
MAX_KINDS = 2  # error kinds shown per cascade step


def md_text(text: object, max_len: int = 80) -> str:
    """Log text, Markdown-escaped and cut at ``max_len``."""
    return markdown_escape(text, max_len=max_len)


def md_sequence(seq) -> str:
    """A sequence of actions, escaped, joined by arrows."""
    return ARROW.join(md_text(a) for a in seq)


def span_text(a: datetime, b: datetime) -> str:
    """The time from ``a`` to ``b``, as a duration."""
    return fmt_duration((b - a).total_seconds())


def burst_of(result, burst_id: int):
    """The burst of ``result`` with id ``burst_id``."""
    return next(b for b in result.timeline.bursts if b.id == burst_id)


def _who(last: pl.DataFrame, done: float) -> str:
    """`` in session S (user U)``: the occurrence of ``last`` (its last
    steps) that completed at ``done`` (epoch seconds, within 1 s), or ``""``."""
    if not last.height:
        return ""
    key, user, d = (last.with_columns((pl.col("ts").dt.epoch("us") / 1e6 - done).abs().alias("d"))
                    .sort("d").select("session_key", "user", "d").row(0))
    if d > 1.0:
        return ""
    return f" in session {md_text(key, 60)}" + (f" (user {md_text(user, 60)})" if user else "")


def _suspect_entries(result) -> list[tuple[datetime, int, str]]:
    """Timeline entries: each credited completion of a significant suspect,
    and the resources it touched that returned errors."""
    mined, out = result.mining, []
    for s in mined.suspects if result.labeled is None else ():
        last = pl.DataFrame()
        if mined.steps is not None and mined.steps.height:
            last = mined.steps.filter((pl.col("rank") == s.rank) & (pl.col("step") == len(s.sequence)))
        for lead in s.lead_time_s:
            done = lead.onset.timestamp() - lead.lead_s
            kind = ("onset" if lead.onset == burst_of(result, lead.burst_id).start
                    else f"re-onset at {fmt_time(lead.onset)}")
            out.append((datetime.fromtimestamp(done, tz=timezone.utc), 0,
                        f"Suspect #{s.rank} ({md_sequence(s.sequence)}) completed{_who(last, done)}, "
                        f"{fmt_duration(lead.lead_s)} before burst {lead.burst_id}'s {kind}."))
        for r in (r for r in s.resources if r.errors_after):
            first = f", the first at {fmt_time(r.first_error_after)}" if r.first_error_after else ""
            out.append((r.touched_at, 0, f"Suspect #{s.rank}'s step {md_text(r.step)} touched {md_text(r.resource)}; "
                                         f"it returned {r.errors_after:,} errors afterwards{first}."))
    return out


def _burst_entries(b) -> list[tuple[datetime, int, str]]:
    """Timeline entries of one burst: onsets, each component's first error, the end."""
    given = " (the window given with `--incident`)" if b.user_given else ""
    out = [(b.start, 1, f"Burst {b.id} onset{given}: {b.errors:,} errors in the burst, "
                        f"peak {b.peak_per_min:g} per minute.")]
    out += [(o, 1, f"Burst {b.id} re-onset: errors return after a fade.") for o in b.onsets[1:]]
    for i, step in enumerate(b.cascade):
        prev = b.cascade[i - 1] if i else None
        after = f", {fmt_duration(prev.lead_s or 0.0)} after {md_text(prev.component, 60)}" if prev else ""
        kinds = "; ".join(md_text(k, 100) for k in step.error_kinds[:MAX_KINDS])
        out.append((step.first_error, 2, f"{md_text(step.component, 60)}: first error of burst {b.id}{after} "
                                         f"({step.errors:,} errors{': ' + kinds if kinds else ''})."))
    out.append((b.end, 9, f"Burst {b.id} ends: its last error, {span_text(b.start, b.end)} after its onset; "
                          "the errors stop."))
    return out


def _labeled_entries(result) -> list[tuple[datetime, int, str]]:
    """Timeline entries of ``--failing``: when the labeled failing sessions start, first err and end."""
    lab = result.labeled
    if lab is None or lab.labels is None:
        return []
    fs = result.timeline.sessions.filter(pl.col("session_key").is_in(sorted(lab.labels.failing)))
    if not fs.height:
        return []
    out = [(fs["start"].min(), 3, f"The first of the {fs.height:,} labeled failing sessions starts."),
           (fs["end"].max(), 8, "The last labeled failing session ends.")]
    if fs["first_error"].drop_nulls().len():
        out.append((fs["first_error"].min(), 4, "First error in a labeled failing session."))
    return out


def timeline_section(result) -> str:
    """Timeline: every entry in time order, grouped by the second."""
    entries = _suspect_entries(result) + _labeled_entries(result)
    for b in result.timeline.bursts:
        entries += _burst_entries(b)
    none = " No error burst was found: no component's error rate departs from its baseline." * (
        not result.timeline.bursts)
    lines = ["## Timeline", "", f"Times from the logs, in UTC.{none}", ""]
    shown = None
    for when, _, text in sorted(entries, key=lambda e: (e[0].timestamp(), e[1])):
        if fmt_time(when) != shown:
            shown = fmt_time(when)
            lines.append(f"- **{shown}:**")
        lines.append(f"  - {text}")
    lines.append("- " + TODO.format("what the team saw and did (alerts, escalation, restarts, the fix), at their times"))
    return "\n".join(lines)
