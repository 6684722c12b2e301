"""The terminal report of ``forensics scan`` (stdout, at most 100 columns).

Every piece of log content (paths, action names, user ids, cache keys,
messages) goes through :func:`safe`: :func:`forensics.sanitize.terminal_safe`
removes escape sequences and control characters, then
:func:`rich.markup.escape` keeps ``[bold]``-like text from being read as markup.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys

from rich.console import Console
from rich.markup import escape
from rich.padding import Padding
from rich.text import Text

from ..report.text import ARROW, fmt_p, fmt_ratio, fmt_risk, hms, malformed_where, short_explanation, time_span
from ..sanitize import terminal_safe
from ..scan import ScanResult
from .bursts_cmd import render_bursts
from .options import reproduce_args

WIDTH = 100
MAX_MALFORMED_FILES = 5
MAX_PATHS = 5
MAX_RUNNERS_UP = 3


def safe(text, max_len=None) -> str:
    """Log content, made safe for the terminal and for rich markup."""
    return escape(terminal_safe(text, max_len=max_len))


def _path(path, max_len=60) -> str:
    """A file path, safe; long paths keep their end (the file name)."""
    text = terminal_safe(path)
    if len(text) > max_len:
        text = "…" + text[-(max_len - 1):]
    return escape(text)


def print_line(console: Console, markup: str, indent: int = 2) -> None:
    """Print a markup line; wrapped lines keep the indent."""
    console.print(Padding(Text.from_markup(markup), (0, 0, 0, indent), expand=False))


def seq_text(seq, max_len=40) -> str:
    return ARROW.join(safe(a, max_len) for a in seq)


def terminal_width() -> int | None:
    """The width of the terminal: ``COLUMNS`` when set, else stdout's width
    when it is a terminal, else ``None``."""
    cols = os.environ.get("COLUMNS", "")
    if cols.isdigit() and int(cols) > 0:
        return int(cols)
    if sys.stdout.isatty():
        return shutil.get_terminal_size((WIDTH, 24)).columns
    return None


def report_console(*, no_color: bool = False, file=None, wide: bool = False) -> Console:
    """The stdout console of the report: at most 100 columns (narrower when
    the terminal is; with ``wide``, as wide as the terminal), colour off with
    ``--no-color`` or ``NO_COLOR``."""
    width = WIDTH
    if file is None and wide:
        width = terminal_width() or WIDTH
    elif file is None and sys.stdout.isatty():
        width = min(WIDTH, shutil.get_terminal_size((WIDTH, 24)).columns)
    return Console(width=width, no_color=no_color or bool(os.environ.get("NO_COLOR")), highlight=False,
                   soft_wrap=False, file=file, emoji=False)


def render_header(result: ScanResult, console: Console) -> None:
    """Inputs, time span and ingest accounting with the malformed lines."""
    acc = result.ingest.accounting.to_json()
    print_line(console, f"[bold]forensics scan[/] {' '.join(_path(x, 80) for x in result.inputs)}", 0)
    span = time_span(result.ingest.events)
    if span:
        a, b = span
        end = f"{b:%H:%M:%S}" if a.date() == b.date() else f"{b:%Y-%m-%d %H:%M:%S}"
        hours = (b - a).total_seconds() / 3600
        console.print(f"Span   {a:%Y-%m-%d %H:%M:%S} .. {end} UTC ({hours:.1f} h)")
    dup = f", {acc['duplicates_dropped']:,} duplicates dropped" if acc["duplicates_dropped"] else ""
    bad = f"[yellow]{acc['malformed']:,} malformed[/]" if acc["malformed"] else "0 malformed"
    print_line(console, f"Read   {acc['files']} files, {acc['lines']:,} lines -> {acc['events']:,} events; "
                f"{acc['continuation_lines']:,} continuation, {acc['blank_lines']:,} blank, {bad}{dup}", 0)
    where = malformed_where(result)
    for m in where[:MAX_MALFORMED_FILES]:
        more = ", ..." if m.count > len(m.lines) else ""
        print_line(console, f"malformed: {_path(m.path)}: {m.count} (line {', '.join(map(str, m.lines))}{more})")
    if len(where) > MAX_MALFORMED_FILES:
        print_line(console, f"malformed: ... and {len(where) - MAX_MALFORMED_FILES} more files "
                      "(`forensics ingest --rejects FILE` lists every line)")
    for sk in acc.get("skipped_files") or []:
        print_line(console, f"[yellow]skipped:[/] {safe(sk, 200)}")
    for msg in acc.get("errors") or []:
        print_line(console, f"[yellow]warning:[/] {safe(msg, 300)}")
    for w in acc.get("warnings") or []:
        print_line(console, f"[yellow]warning:[/] {_path(w['path'])}: {safe(w['warning'], 200)}")


def render_suspects(result: ScanResult, console: Console) -> None:
    """Each suspect: the sequence once, its statistics, the explanation."""
    mined = result.mining
    opts = mined.options
    labeled = result.labeled
    if labeled is not None:
        console.print(
            f"[bold]Suspects[/]: what labeled failing sessions did "
            f"({labeled.n_failing:,} failing vs {labeled.n_control:,} others; "
            f"{len(mined.suspects)} significant of {mined.candidates_tested:,} tested, {mined.error_control} {opts.alpha:g})"
        )
    else:
        console.print(
            f"[bold]Suspects[/]: rare sequences completed just before the onsets "
            f"({len(mined.suspects)} significant of {mined.candidates_tested:,} tested, {mined.error_control} {opts.alpha:g})"
        )
    if not mined.suspects:
        console.print("  No action sequence stands out" + (" in the failing sessions." if labeled else " before any burst."))
    for s in mined.suspects:
        print_line(console, f"[bold]#{s.rank}  {seq_text(s.sequence)}[/]", 1)
        if labeled is not None:
            stats = (f"[dim]failing with it[/] {s.failing_with}  [dim]others with it[/] {s.control_with}  "
                     f"[dim]p[/] {fmt_p(s.p_value)}  [dim]q[/] {fmt_p(s.q_value)}  "
                     f"[dim]risk ratio[/] {fmt_risk(s)}")
        else:
            bursts = ", ".join(str(b) for b in s.burst_ids) or "-"
            stats = (f"[dim]bursts[/] {bursts}  [dim]sessions[/] {s.sessions}  [dim]users[/] {s.users}  "
                     f"[dim]p[/] {fmt_p(s.p_value)}  [dim]q[/] {fmt_p(s.q_value)}  "
                     f"[dim]risk ratio[/] {fmt_risk(s)}  [dim]closeness[/] {fmt_ratio(s.rate_ratio)}")
        print_line(console, stats, 5)
        print_line(console, safe(short_explanation(s), 600), 5)
        if s.example_sessions:
            print_line(console, f"[dim]sessions[/] {', '.join(safe(x, 40) for x in s.example_sessions)}", 5)
        if s.collapsed:
            print_line(console, f"[dim]also covers[/] {'; '.join(seq_text(c, 30) for c in s.collapsed[:3])}"
               + (" ..." if len(s.collapsed) > 3 else ""), 5)
    if mined.runners_up:
        console.print("[dim]Runners-up (below the significance or effect-size bar, shown for transparency):[/]")
        for s in mined.runners_up[:MAX_RUNNERS_UP]:
            rate = "" if labeled is not None else f"  closeness {fmt_ratio(s.rate_ratio)}"
            print_line(console, f"[dim]{seq_text(s.sequence, 30)}  q {fmt_p(s.q_value)}  "
                          f"risk ratio {fmt_risk(s)}{rate}[/]")


def render_missing(result: ScanResult, console: Console) -> None:
    """With ``--failing``: steps the others almost always reach and failing sessions do not."""
    labeled = result.labeled
    if labeled is None:
        return
    steps = [m for m in labeled.missing if m.significant]
    console.print(f"[bold]Never reached[/] (steps the other sessions reach and failing sessions do not; "
                  f"{len(steps)} significant of {labeled.missing_tested:,} tested)")
    if not steps:
        print_line(console, "No step is missing from the failing sessions.")
    for m in steps[:MAX_PATHS * 2]:
        print_line(console, f"[bold]never reached: {safe(m.step, 60)}[/]  [dim]missing in[/] {m.failing_missing}/{m.failing_sessions} "
                      f"failing, {m.control_sessions - m.control_reached}/{m.control_sessions} others  "
                      f"[dim]q[/] {fmt_p(m.q_value)}  [dim]risk ratio[/] {fmt_ratio(m.risk_ratio)}")


def render_verdicts(result: ScanResult, console: Console) -> None:
    """One line per burst: which suspect precedes it, or honest silence."""
    if not result.mining.burst_verdicts:
        return
    starts = {b.id: b.start for b in result.timeline.bursts}
    day = result.timeline.bursts[0].start.date() if result.timeline.bursts else None
    console.print("[bold]Verdict per burst[/]")
    for v in result.mining.burst_verdicts:
        when = hms(starts.get(v.burst_id), day)
        if v.explained:
            ranks = ", ".join(f"#{r}" for r in v.suspect_ranks)
            print_line(console, f"Burst {v.burst_id} ({when}): [green]preceded by suspect {ranks}[/]")
        else:
            print_line(console, f"Burst {v.burst_id} ({when}): [yellow]{safe(v.note, 200)}[/]")


def render_affected(result: ScanResult, console: Console) -> None:
    """The frequent paths failing sessions took (impact, not cause)."""
    paths = result.mining.affected_paths
    if not paths:
        return
    console.print("[bold]Affected paths[/] (frequent paths failing sessions took before their error; "
                  "impact, not cause)")
    for p in paths[:MAX_PATHS]:
        print_line(console, f"{seq_text(p.sequence, 30)}  [dim]{p.failing_sessions} failing sessions ({p.share:.0%}), "
                      f"{p.sessions:,} sessions in all[/]")


def drilldown_command(result: ScanResult, rank: int) -> list[str]:
    """The ``forensics show`` command (as argv) that reruns ``result``'s scan
    with every non-default option and shows suspect ``rank``."""
    return ["forensics", "show", *result.inputs, *reproduce_args(result.settings), "--suspect", str(rank)]


def render_scan(result: ScanResult, *, console: Console | None = None, no_color: bool = False) -> None:
    """Header, error-rate timeline, bursts with cascades, suspects, verdicts,
    affected paths."""
    console = console or report_console(no_color=no_color)
    render_header(result, console)
    console.print()
    render_bursts(result.timeline, console)
    console.print()
    render_suspects(result, console)
    if result.labeled is not None:
        console.print()
        render_missing(result, console)
    console.print()
    render_verdicts(result, console)
    if result.mining.affected_paths:
        console.print()
        render_affected(result, console)
    if result.mining.suspects:
        console.print()
        # whole and shell-quoted so it runs as printed; printed as one line (the terminal wraps it)
        command = terminal_safe(shlex.join(drilldown_command(result, 1)))
        console.print(Text(f"Drill down: {command}", style="dim"), soft_wrap=True)


__all__ = ["drilldown_command", "render_scan", "report_console", "WIDTH"]
