r"""``forensics scan --postmortem FILE``: a Markdown draft of the postmortem (docs/postmortem.md).

The sections follow a classic postmortem (Issue Summary, Timeline, Root Cause, Ruled out, Appendix).
Every number is read from the :class:`~forensics.scan.ScanResult`; what logs cannot know is left as
``_TODO: ..._``. Every log-derived string goes through :func:`markdown_escape`: it can neither format
the page, nor open a link, nor pass raw HTML, nor break a table row.

>>> from forensics.scan import run_scan
>>> draft = postmortem_markdown(run_scan(["sample_logs/"]), command="forensics scan sample_logs/")
>>> draft.splitlines()[0]
'# Postmortem (draft)'
"""

from __future__ import annotations

import json
import os
from datetime import datetime

import polars as pl

from .. import __version__
from ..io import write_text
from .markdown import fence, fmt_duration, fmt_pct, fmt_time, markdown_escape
from .postmortem_timeline import TODO, burst_of, md_sequence, md_text, span_text, timeline_section
from .text import fmt_p, fmt_ratio, fmt_risk, short_explanation, time_span

__all__ = ["postmortem_markdown", "write_postmortem"]

MAX_RUNNERS_UP = 3  # runners-up shown under "Ruled out"
MAX_PATHS = 5  # affected paths shown
_CONTROL = {"FWER": ("family-wise error rate", "Holm-adjusted p"),
            "FDR": ("false discovery rate", "Benjamini-Hochberg q")}
_FAMILY = {"onset": "onset precedence", "link": "resource linkage", "enrichment": "session enrichment"}


def _of(n: int, total: int, noun: str = "") -> str:
    """``29 of 130 users (22.3 %)``."""
    return f"{n:,} of {total:,}{' ' + noun if noun else ''} ({fmt_pct(n / total if total else 0.0)})"


def _window_counts(events: pl.DataFrame, windows) -> dict[str, int]:
    """Users and sessions active in the ``(start, end)`` windows, and those
    with an error there: the rule of a burst's ``users_affected`` and
    ``sessions_affected``, over the windows' union."""
    mask = pl.lit(False)
    for a, b in windows:
        mask = mask | pl.col("ts").is_between(a, b, closed="both")
    w = events.filter(mask).select("user", "session_key", "is_error")
    hit = w.filter(pl.col("is_error"))
    return {"users": w["user"].drop_nulls().n_unique(), "users_hit": hit["user"].drop_nulls().n_unique(),
            "sessions": w["session_key"].drop_nulls().n_unique(),
            "sessions_hit": hit["session_key"].drop_nulls().n_unique()}


def _bar(mined) -> str:
    """``family-wise error rate 0.05 over 828 candidates tested``."""
    name = _CONTROL.get(mined.error_control, (mined.error_control, "q"))[0]
    return f"{name} {mined.options.alpha:g} over {mined.candidates_tested:,} candidates tested"


def _q(mined, q: float) -> str:
    return f"{_CONTROL.get(mined.error_control, ('', 'q'))[1]} = {fmt_p(q)}"


def _summary(result) -> str:
    """Issue Summary: duration, impact and root cause."""
    tl, bursts, lab = result.timeline, result.timeline.bursts, result.labeled
    lines = ["## Issue Summary", "", "- ### Duration"]
    if bursts:
        first, last = bursts[0], max(bursts, key=lambda b: b.end)
        lines += [f"  - Start Time: {fmt_time(first.start)} (first onset, burst {first.id})",
                  f"  - End Time: {fmt_time(last.end)} (end of the last burst, burst {last.id})",
                  f"  - Duration: {span_text(first.start, last.end)}, {len(bursts)} error burst"
                  f"{'s' if len(bursts) > 1 else ''}: " + "; ".join(f"burst {b.id} {span_text(b.start, b.end)}"
                                                                    for b in bursts)]
    else:
        span = time_span(tl.events)
        lines.append("  - No error burst was found in the logs"
                     + (f" ({fmt_time(span[0])} to {fmt_time(span[1])})." if span else "."))
    lines.append("- ### Impact")
    if bursts:
        c = _window_counts(tl.events, [(b.start, b.end) for b in bursts])
        lines.append(f"  - {_of(c['users_hit'], c['users'], 'users')} and "
                     f"{_of(c['sessions_hit'], c['sessions'], 'sessions')} active during the "
                     f"{'bursts had an error in one' if len(bursts) > 1 else 'burst had an error in it'}.")
    for b in bursts:
        a = _window_counts(tl.events, [(b.start, b.end)])
        lines.append(f"  - Burst {b.id}: {b.errors:,} errors (peak {b.peak_per_min:g} per minute); "
                     f"{b.users_affected:,} of {a['users']:,} users ({fmt_pct(b.users_affected_share)}) and "
                     f"{b.sessions_affected:,} of {a['sessions']:,} sessions ({fmt_pct(b.sessions_affected_share)})"
                     " active during it had an error.")
    if lab is not None:
        unmatched = f"; {lab.unmatched:,} failing ids of the labels are no session of the logs" if lab.unmatched else ""
        lines.append(f"  - {_of(lab.n_failing, lab.n_failing + lab.n_control, 'sessions')} are labeled failing "
                     f"(`--failing`){unmatched}.")
    lines += ["  - " + TODO.format("impact on customers (what they could not do, tickets, SLA)"),
              "- ### Root Cause", *(f"  - {x}" for x in _cause_lines(result)),
              "  - " + TODO.format("the defect behind it, once confirmed")]
    return "\n".join(lines)


def _cause_lines(result) -> list[str]:
    """The summary's root cause, each claim tied to its statistics."""
    mined, lab, out = result.mining, result.labeled, []
    if mined.suspects:
        s = mined.suspects[0]
        if lab is not None:
            why = (f"done by {_of(s.failing_with, lab.n_failing)} labeled failing sessions and "
                   f"{_of(s.control_with, lab.n_control)} others (risk ratio {fmt_risk(s)})")
        else:
            onsets = sum(len(b.onsets) for b in result.timeline.bursts)
            why = (f"completed {', '.join(fmt_duration(x.lead_s) for x in s.lead_time_s)} before "
                   f"{len(s.lead_time_s)} of the {onsets} onsets (burst {', '.join(map(str, s.burst_ids))})")
        out.append(f"Likely cause, by the statistics: suspect #{s.rank}, the user-action sequence "
                   f"**{md_sequence(s.sequence)}**, {why}; significant at {_bar(mined)} ({_q(mined, s.q_value)}). "
                   "See [Root Cause (evidence)](#root-cause-evidence).")
        out += [f"Its step {md_text(r.step)} touched {md_text(r.resource)} at {fmt_time(r.touched_at)}; that resource "
                f"returned {r.errors_after:,} errors afterwards." for r in s.resources if r.errors_after]
    elif lab is None and not result.timeline.bursts:
        out.append("No error burst, so no onset to test user-action sequences against: the logs point at no cause.")
    else:
        where = "in the labeled failing sessions" if lab is not None else "before any burst"
        out.append(f"No user-action sequence stands out {where}: 0 significant at {_bar(mined)}. "
                   "The logs do not point at a user-triggered cause.")
    missing = [m for m in lab.missing if m.significant] if lab is not None else []
    if missing:
        out.append(f"The failing sessions also miss {len(missing)} step{'s' if len(missing) > 1 else ''} the others "
                   "reach (see [Root Cause (evidence)](#root-cause-evidence)).")
    none = "no significant suspect precedes it" if lab is None else "no significant suspect's sessions erred in it"
    out += [f"Burst {v.burst_id}: {none} (see [Ruled out](#ruled-out))."
            for v in mined.burst_verdicts if not v.explained]
    return out


def _stats_lines(result, s) -> list[str]:
    """A suspect's statistics, one line each."""
    mined, lab = result.mining, result.labeled
    if lab is not None:
        return [f"  - Failing sessions with it: {_of(s.failing_with, lab.n_failing)}; "
                f"others with it: {_of(s.control_with, lab.n_control)}",
                f"  - Session enrichment (one-sided Fisher): p = {fmt_p(s.p_value)}, risk ratio {fmt_risk(s)}",
                f"  - {_q(mined, s.q_value)} (significant at {_bar(mined)})"]
    return [f"  - Onset precedence (evidence a): p = {fmt_p(s.p_onset)}, closeness {fmt_ratio(s.rate_ratio)} "
            "(onsets preceded over the number expected to have a completion that close)",
            f"  - Session enrichment (evidence b): p = {fmt_p(s.p_enrichment)}, risk ratio {fmt_risk(s)} "
            f"({s.failing_with:,} sessions did it before their error, {s.control_with:,} never-failing ones did it)",
            f"  - Resource linkage (evidence c): p = {fmt_p(s.p_link)}" + (" (untested)" if s.p_link >= 1 else ""),
            f"  - Combined: p = {fmt_p(s.p_value)}, {_q(mined, s.q_value)}, decided by "
            f"{_FAMILY.get(s.deciding, s.deciding or '-')} (significant at {_bar(mined)})",
            f"  - Baseline: {s.completions:,} completions in the whole log ({s.baseline_rate_per_hour:.3g} per hour)"]


def _suspect_section(result, s) -> list[str]:
    """The evidence of one suspect: sessions, lead times, resources, statistics."""
    examples = ", ".join(md_text(x, 60) for x in s.example_sessions)
    lines = [f"### Suspect #{s.rank}: {md_sequence(s.sequence)}", "",
             f"- **Sessions:** {s.sessions:,} sessions{f' of {s.users:,} users' if s.users else ''} did it in the whole log"
             + (f"; examples: {examples} (`forensics show PATH... --session ID`)." if examples else ".")]
    if s.lead_time_s:
        lines += ["- **Lead times:**", "", "  | burst | onset | completed before it by |", "  | --- | --- | --- |",
                  *(f"  | {x.burst_id} | {fmt_time(x.onset)} | {fmt_duration(x.lead_s)} |" for x in s.lead_time_s),
                  ""]
    if s.resources:
        lines += ["- **Resources its steps touched:**", "",
                  "  | resource | step | touched at | errors after | first error after |",
                  "  | --- | --- | --- | --- | --- |",
                  *(f"  | {md_text(r.resource)} | {r.step_index}. {md_text(r.step, 60)} | {fmt_time(r.touched_at)} | "
                    f"{r.errors_after:,} | {fmt_time(r.first_error_after) if r.first_error_after else '-'} |"
                    for r in s.resources), ""]
    lines += ["- **Statistics:**", *_stats_lines(result, s),
              f"- **The scan's explanation:** {md_text(short_explanation(s), 600)}"]
    if s.collapsed:
        lines.append(f"- **Also covers** (sequences with the same evidence): "
                     f"{'; '.join(md_sequence(c) for c in s.collapsed[:3])}{' …' if len(s.collapsed) > 3 else ''}")
    return lines


def _missing_lines(result) -> list[str]:
    """``--failing``: the steps labeled failing sessions never reached."""
    lab = result.labeled
    steps = [m for m in lab.missing if m.significant] if lab is not None else []
    if not steps:
        return []
    return ["", "### Steps the failing sessions never reached", "",
            "| step | missing in failing | missing in others | risk ratio | q |", "| --- | --- | --- | --- | --- |",
            *(f"| {md_text(m.step, 100)} | {_of(m.failing_missing, m.failing_sessions)} | "
              f"{_of(m.control_sessions - m.control_reached, m.control_sessions)} | {fmt_ratio(m.risk_ratio)} | "
              f"{fmt_p(m.q_value)} |" for m in steps)]


def _root_cause(result) -> str:
    """Root Cause (evidence): the top suspect in full, the other ones in a line."""
    mined, lab = result.mining, result.labeled
    what = (f"what the {lab.n_failing:,} labeled failing sessions did more often than the {lab.n_control:,} "
            f"others (window: {lab.window})" if lab is not None
            else "rare user-action sequences completed just before the onsets")
    lines = ["## Root Cause (evidence)", "",
             f"Suspects are {what}: {len(mined.suspects)} significant at {_bar(mined)}.", ""]
    if mined.suspects:
        lines += _suspect_section(result, mined.suspects[0])
    else:
        lines.append("No suspect: the draft names no cause. " + TODO.format("the cause, from other evidence"))
    if len(mined.suspects) > 1:
        lines += ["", "### Other significant suspects", "",
                  *(f"- #{s.rank}: {md_sequence(s.sequence)} ({_q(mined, s.q_value)}"
                    + (f"; bursts {', '.join(map(str, s.burst_ids))})" if s.burst_ids else ")")
                    for s in mined.suspects[1:])]
    return "\n".join(lines + _missing_lines(result))


def _ruled_out(result) -> str:
    """Ruled out: bursts without a cause, later components, affected paths, runners-up."""
    mined, lines = result.mining, ["## Ruled out", ""]
    unexplained = [v for v in mined.burst_verdicts if not v.explained]
    why = "; no significant suspect precedes its onsets" if result.labeled is None else ""
    if unexplained:
        lines += ["### Bursts with no user-action cause", "",
                  *(f"- Burst {v.burst_id} ({fmt_time(burst_of(result, v.burst_id).start)}): {md_text(v.note, 300)}{why}."
                    for v in unexplained), ""]
    later = [b for b in result.timeline.bursts if len(b.cascade) > 1]
    if later:
        lines += ["### Components that failed later in the cascade", "",
                  *(f"- Burst {b.id}: {', '.join(md_text(c.component, 60) for c in b.cascade[1:])} had their first "
                    f"error after {md_text(b.cascade[0].component, 60)}'s ("
                    f"{span_text(b.cascade[0].first_error, b.cascade[1].first_error)} to "
                    f"{span_text(b.cascade[0].first_error, b.cascade[-1].first_error)} later)." for b in later), ""]
    if mined.affected_paths:
        lines += ["### Frequent paths of the failing sessions (impact, not cause)", "",
                  f"Each is taken by at least {fmt_pct(mined.options.max_support)} of all sessions "
                  "(`--max-support`), too common to be a trigger.", "",
                  "| path | failing sessions | sessions in all |", "| --- | --- | --- |",
                  *(f"| {md_sequence(p.sequence)} | {p.failing_sessions:,} ({fmt_pct(p.share)} of failing) | {p.sessions:,} |"
                    for p in mined.affected_paths[:MAX_PATHS]), ""]
    if mined.runners_up:
        lines += ["### Candidates below the significance or effect-size bar", "",
                  *(f"- {md_sequence(s.sequence)}: {_q(mined, s.q_value)}, risk ratio {fmt_risk(s)}"
                    + ("" if result.labeled is not None else f", closeness {fmt_ratio(s.rate_ratio)}")
                    for s in mined.runners_up[:MAX_RUNNERS_UP])]
    if len(lines) == 2:
        lines.append("Nothing: no burst without a suspect, no frequent failing path, no candidate close to the bar.")
    return "\n".join(lines).rstrip()


def _todo_sections(result) -> str:
    """What logs cannot know: resolution, measures, communication."""
    bursts = result.timeline.bursts
    stop = f" The logs show the errors stopping at {fmt_time(max(b.end for b in bursts))}." if bursts else ""
    return "\n\n".join(["## Resolution", TODO.format("what stopped the errors, and who did it") + "." + stop,
                        "## Corrective and Preventative Measures", TODO.format("tests, monitoring, code changes, drills"),
                        "## Communication", TODO.format("what users were told, when, and through which channel")])


def _appendix(result, command: str | None) -> str:
    """The command, the inputs, the accounting and every parameter."""
    acc, mined = result.ingest.accounting.to_json(), result.mining
    span = time_span(result.ingest.events)
    lines = ["## Appendix: how this draft was made", "", "Command:", "",
             fence(command) if command else "_not recorded: the draft was written through the library_", "",
             f"- Tool: forensics {__version__}",
             f"- Inputs: {', '.join(md_text(x, 200) for x in result.inputs)}",
             f"- Read: {acc['files']:,} file{'s' if acc['files'] != 1 else ''}, {acc['lines']:,} lines, "
             f"{acc['events']:,} events; "
             f"{acc['malformed']:,} malformed lines, {acc['duplicates_dropped']:,} duplicates dropped",
             *([f"- Span of the logs: {fmt_time(span[0])} to {fmt_time(span[1])}"] if span else []),
             f"- Error-rate bin: {fmt_duration(result.timeline.bin_s)}; bursts: {len(result.timeline.bursts)}",
             f"- Candidates: {mined.candidates:,} generated; error control: {_bar(mined)}",
             "", "Parameters (the `parameters` key of `forensics scan --json`):", "",
             fence(json.dumps(result.settings.to_json(), indent=2, sort_keys=True, default=str), "json")]
    return "\n".join(lines)


def postmortem_markdown(result, *, command: str | None = None) -> str:
    """The postmortem draft of ``result`` as Markdown.

    Parameters
    ----------
    result
        A :class:`forensics.scan.ScanResult` (with or without ``--failing``).
    command
        The command line that produced ``result``, shell-quoted, for the
        appendix; ``None`` says it was not recorded.

    Returns
    -------
    str
        The draft, ending with a newline.
    """
    header = ("# Postmortem (draft)\n\n"
              f"> **Draft generated by forensics {__version__} from the logs; to be reviewed.** Every number and "
              "time below comes from the scan (the command is in the [appendix](#appendix-how-this-draft-was-made)). "
              "Log content is shown escaped. What logs cannot know is marked _TODO_.")
    parts = [header, _summary(result), timeline_section(result), _root_cause(result), _ruled_out(result),
             _todo_sections(result), _appendix(result, command)]
    return "\n\n".join(p.strip("\n") for p in parts) + "\n"


def write_postmortem(result, path: str | os.PathLike, *, command: str | None = None) -> None:
    """Write :func:`postmortem_markdown` atomically to ``path``.

    Parameters
    ----------
    result
        A :class:`forensics.scan.ScanResult`.
    path
        The Markdown file to write (its folder is created).
    command
        The shell-quoted command line, for the appendix.

    Raises
    ------
    OutputError
        The file could not be written.
    """
    write_text(postmortem_markdown(result, command=command), path)
