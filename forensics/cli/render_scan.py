"""The terminal report of ``forensics scan`` (stdout, at most 100 columns)."""

from __future__ import annotations

import os

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..sanitize import terminal_safe
from ..scan import ScanResult
from .bursts_cmd import render_bursts

WIDTH = 100


def _s(text, max_len=None) -> str:
    """Log content, made safe for the terminal and for rich markup."""
    return escape(terminal_safe(text, max_len=max_len))


def _fmt_p(p: float) -> str:
    return "<1e-16" if p < 1e-16 else f"{p:.1e}" if p < 1e-3 else f"{p:.3f}"


def render_scan(result: ScanResult, *, console: Console | None = None, no_color: bool = False) -> None:
    """Header, error-rate timeline, bursts with cascades, suspects, affected paths."""
    console = console or Console(width=WIDTH, no_color=no_color or bool(os.environ.get("NO_COLOR")),
                                 highlight=False, soft_wrap=False)
    acc = result.ingest.accounting.to_json()
    ev = result.ingest.events
    span = ""
    if ev.height:
        span = f"{ev['ts'].min():%Y-%m-%d %H:%M:%S} .. {ev['ts'].max():%Y-%m-%d %H:%M:%S} UTC"
    console.print(f"[bold]forensics scan[/] {_s(' '.join(result.inputs), 60)}")
    console.print(
        f"{acc['files']} files, {acc['lines']:,} lines: {acc['events']:,} events, "
        f"{acc['continuation_lines']:,} continuation, {acc['blank_lines']:,} blank, "
        f"{acc['malformed']:,} malformed; {span}"
    )
    if acc["malformed"]:
        where = [f"{_s(f['path'], 40)} ({f['malformed']})" for f in acc["by_file"] if f["malformed"]]
        console.print(f"  malformed lines in: {', '.join(where[:5])}{' ...' if len(where) > 5 else ''}")
    console.print()
    render_bursts(result.timeline, console)
    console.print()
    mined = result.mining
    for v in mined.burst_verdicts:
        if not v.explained:
            console.print(f"[yellow]Burst {v.burst_id}:[/] {_s(v.note)}")
    if not mined.suspects:
        console.print("No significant suspect sequence (see burst notes above).")
    else:
        table = Table(title="Suspects: rare action sequences completed just before the onsets", title_justify="left",
                      width=WIDTH, show_lines=True)
        table.add_column("#", justify="right", width=2)
        table.add_column("sequence", ratio=3)
        table.add_column("bursts", width=6)
        table.add_column("lead", justify="right", width=9)
        table.add_column("sess", justify="right", width=4)
        table.add_column("q", justify="right", width=7)
        table.add_column("RR", justify="right", width=5)
        for s in mined.suspects:
            lead = ", ".join(f"{o.lead_s:.0f}s" for o in s.lead_time_s) or "-"
            table.add_row(
                str(s.rank),
                " -> ".join(_s(a, 40) for a in s.sequence) + f"\n[dim]{_s(s.explanation, 300)}[/]",
                ",".join(str(b) for b in s.burst_ids) or "-",
                lead,
                str(s.sessions),
                _fmt_p(s.q_value),
                f"{s.risk_ratio:.1f}" if s.risk_ratio == s.risk_ratio else "-",
            )
        console.print(table)
    if mined.affected_paths:
        console.print()
        console.print("[bold]Affected paths[/] (frequent paths failing sessions took; impact, not cause):")
        for p in mined.affected_paths[:5]:
            console.print(f"  {' -> '.join(_s(a, 30) for a in p.sequence)}  "
                          f"{p.failing_sessions} failing sessions ({p.share:.0%})")
