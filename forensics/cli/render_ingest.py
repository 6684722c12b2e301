"""Render the ingest accounting for people (stderr)."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..ingest.accounting import Accounting
from ..sanitize import terminal_safe as _terminal_safe

MAX_REJECTS_SHOWN = 5


def terminal_safe(text, *, max_len=None) -> str:
    """Sanitized and escaped for rich markup (log content may contain "[...]")."""
    return escape(_terminal_safe(text, max_len=max_len))


def render_accounting(acc: Accounting, console: Console, *, rejects=None) -> None:
    """A per-file table, totals, the first malformed lines and any errors."""
    doc = acc.to_json()
    table = Table(title="ingest", title_justify="left", show_edge=False, pad_edge=False)
    for col, just in (("file", "left"), ("format", "left"), ("lines", "right"), ("events", "right"),
                      ("cont.", "right"), ("blank", "right"), ("malformed", "right")):
        table.add_column(col, justify=just, overflow="fold")
    for f in acc.files:
        fmt = f.format or "-"
        if f.compression:
            fmt += f"+{f.compression[:4]}"
        if f.skipped:
            fmt = "skipped"
        table.add_row(terminal_safe(f.path, max_len=48), fmt, f"{f.lines:,}", f"{f.events:,}",
                      f"{f.continuation_lines:,}", f"{f.blank_lines:,}", f"{f.malformed:,}")
    table.add_row("total", "", f"{doc['lines']:,}", f"{doc['events']:,}", f"{doc['continuation_lines']:,}",
                  f"{doc['blank_lines']:,}", f"{doc['malformed']:,}", style="bold")
    console.print(table)
    if doc["extra_events"]:
        console.print(f"{doc['extra_events']:,} of the events share a line with another (an OTLP request holds many "
                      "records): lines = events - those + continuation + blank + malformed")
    if acc.duplicates:
        console.print(f"dropped {acc.duplicates:,} events repeated verbatim across files")
    for f in acc.files:
        if f.skipped:
            console.print(f"[yellow]skipped[/]: {terminal_safe(f.path, max_len=200)}: {terminal_safe(f.skipped)}", soft_wrap=True)
        if f.damage:
            console.print(f"[yellow]warning[/]: {terminal_safe(f.path, max_len=200)}: {terminal_safe(f.damage, max_len=160)}",
                          soft_wrap=True)
        if f.warning():
            console.print(f"[yellow]warning[/]: {terminal_safe(f.path, max_len=200)}: {terminal_safe(f.warning())}",
                          soft_wrap=True)
        if f.invalid_utf8_lines:
            console.print(f"[yellow]warning[/]: {terminal_safe(f.path, max_len=200)}: {f.invalid_utf8_lines:,} lines were "
                          "not UTF-8 (decoded with U+FFFD)", soft_wrap=True)
    if rejects is not None and rejects.height:
        console.print(f"malformed lines (first {min(MAX_REJECTS_SHOWN, rejects.height)} of {rejects.height:,}):")
        for row in rejects.head(MAX_REJECTS_SHOWN).iter_rows(named=True):
            console.print(  # markup off: sanitized but not markup-escaped
                f"  {_terminal_safe(row['source'], max_len=200)}:{row['line']}: {_terminal_safe(row['reason'])}: "
                f"{_terminal_safe(row['text'], max_len=80)}",
                markup=False,
                soft_wrap=True,
            )
    for err in acc.errors:
        console.print(f"[red]error[/]: {terminal_safe(err, max_len=200)}", soft_wrap=True)
