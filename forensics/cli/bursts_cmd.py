"""``forensics bursts``."""

from __future__ import annotations

import math
import os

import click
import polars as pl

from ..errors import ExitCode
from ..report.text import fmt_lead
from ..sanitize import terminal_safe
from ..scan import run_timeline
from ..timeline.cascade import cascade_text
from ..timeline.export import bursts_to_json
from ..timeline.model import Timeline
from .common import echo_json, run_with_progress, stderr_console
from .options import build_scan_settings, input_options, timeline_options


WIDTH = 100
SPARK = " ▁▂▃▄▅▆▇█"
SPARK_CELLS = 80


def _console():
    from rich.console import Console

    return Console(width=WIDTH, no_color=bool(os.environ.get("NO_COLOR")), highlight=False)


def _when(dt, day) -> str:
    return f"{dt:%H:%M:%S}" if dt.date() == day else f"{dt:%Y-%m-%d %H:%M:%S}"


def render_rate(timeline: Timeline, console) -> None:
    """The error rate as a sparkline (one cell per group of bins), burst cells
    in red, other hot cells in yellow, ``^id`` under each onset."""
    from rich.text import Text

    rate = timeline.error_rate
    if rate.height == 0:
        console.print("no timed events")
        return
    n = rate.height
    per = max(1, math.ceil(n / SPARK_CELLS))
    cells = (
        rate.with_columns((pl.int_range(pl.len()) // per).alias("_c"))
        .group_by("_c", maintain_order=True)
        .agg(pl.col("bin_start").first(), pl.col("errors").max(), pl.col("hot").any(),
             pl.col("burst_id").drop_nulls().first())
    )
    top = max(1, int(cells["errors"].max() or 0))
    day = rate["bin_start"][0].date()
    span_s = timeline.bin_s * per
    when = f"Error rate {rate['bin_start'][0]:%Y-%m-%d %H:%M} .. {rate['bin_start'][-1]:%Y-%m-%d %H:%M} UTC"
    total = int(rate["errors"].sum() or 0)
    if total == 0:
        events = int(rate["events"].sum() or 0)
        console.print(f"{when}: no errors in {events:,} events ({n:,} bins of {fmt_lead(timeline.bin_s)})",
                      markup=False)
        return
    console.print(f"{when}, max {top} errors per {fmt_lead(timeline.bin_s)} bin, one cell = {fmt_lead(span_s)}",
                  markup=False)
    line = Text("errors ")
    for e, hot, bid in cells.select("errors", "hot", "burst_id").iter_rows():
        level = 0 if not e else max(1, round(math.sqrt(e / top) * (len(SPARK) - 1)))
        style = "bold red" if bid is not None else "yellow" if hot else "dim"
        line.append(SPARK[level], style=style)
    console.print(line)
    # burst extents as "─", onsets as "^", the burst id just after its last cell
    marks = [" "] * cells.height
    starts = cells["bin_start"].to_list()

    def cell(t) -> int:
        return max(0, min(cells.height - 1, int((t - starts[0]).total_seconds() // span_s)))

    for b in timeline.bursts:
        for k in range(cell(b.start), cell(b.end) + 1):
            marks[k] = "─"
    for b in timeline.bursts:
        for o in b.onsets:
            marks[cell(o)] = "^"
    for b in timeline.bursts:
        j = cell(b.end) + 1
        label = str(b.id)
        if j + len(label) > len(marks) or any(m != " " for m in marks[j:j + len(label)]):
            j = max(0, cell(b.start) - len(label))
        for k, ch in enumerate(label):
            if j + k < len(marks) and marks[j + k] == " ":
                marks[j + k] = ch
    console.print("bursts " + "".join(marks).rstrip(), markup=False)
    axis = [" "] * cells.height
    for i in range(0, cells.height, 20):
        label = f"|{starts[i]:%H:%M}" if starts[i].date() == day or i == 0 else f"|{starts[i]:%m-%d}"
        for j, ch in enumerate(label):
            if i + j < len(axis):
                axis[i + j] = ch
    console.print("       " + "".join(axis).rstrip(), markup=False)


def render_bursts(timeline: Timeline, console=None) -> None:
    """The error-rate timeline, the bursts table and each burst's cascade."""
    from rich.table import Table

    console = console or _console()
    render_rate(timeline, console)
    console.print()
    if not timeline.bursts:
        console.print("No error bursts found.")
        return
    day = timeline.bursts[0].start.date()
    table = Table(title=f"Error bursts ({day:%Y-%m-%d}, UTC)", title_justify="left")
    for col, just in (("#", "right"), ("start", "left"), ("end", "left"), ("errors", "right"),
                      ("peak/min", "right"), ("users hit", "right"), ("sessions hit", "right"), ("onsets", "left")):
        table.add_column(col, justify=just)
    for b in timeline.bursts:
        table.add_row(
            f"{b.id}{'*' if b.user_given else ''}", _when(b.start, day), _when(b.end, day), str(b.errors),
            f"{b.peak_per_min:g}", f"{b.users_affected} ({b.users_affected_share:.0%})",
            f"{b.sessions_affected} ({b.sessions_affected_share:.0%})",
            ", ".join(_when(o, day) for o in b.onsets),
        )
    console.print(table)
    if any(b.user_given for b in timeline.bursts):
        console.print("* window given with --incident", markup=False)
    for b in timeline.bursts:
        console.print()
        console.print(f"Burst {b.id} cascade: {terminal_safe(cascade_text(b.cascade))}", markup=False)
        for s in b.cascade:
            kinds = "; ".join(terminal_safe(k, max_len=60) for k in s.error_kinds)
            console.print(
                f"  {terminal_safe(s.component, max_len=16):<16} {_when(s.first_error, day)}  {s.errors:>7} errors  {kinds}",
                markup=False, overflow="ellipsis", no_wrap=True,
            )


@click.command("bursts")
@input_options
@click.option("--json", "as_json", is_flag=True, help="Print the bursts and the error rate as JSON on stdout.")
@timeline_options
@click.pass_context
def command(ctx: click.Context, as_json, quiet, **kw) -> None:
    """Find the error bursts and, for each, the order in which components failed.

    Errors are error/fatal levels, HTTP 5xx, failed outcomes and exceptions.
    Bursts are where errors rise well above their usual rate; a burst that
    fades and returns within an hour reports each re-onset.
    """
    run = run_with_progress(quiet, run_timeline, kw["paths"], settings=build_scan_settings(kw))
    if as_json:
        echo_json(bursts_to_json(run.timeline))
    else:
        render_bursts(run.timeline)
    errors = run.ingest.accounting.errors
    if not quiet and errors:
        for msg in errors:
            stderr_console().print(f"warning: {terminal_safe(msg, max_len=300)}", markup=False, highlight=False)
    if errors:
        ctx.exit(ExitCode.PARTIAL)
