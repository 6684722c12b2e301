"""``forensics scan``: the whole pipeline, report on stdout."""

from __future__ import annotations

import click

from ..errors import ExitCode
from ..mining.model import MiningOptions
from ..sanitize import terminal_safe
from ..scan import ScanSettings, run_scan
from ..timeline.incident import parse_duration
from .common import (
    build_ingest_options,
    build_timeline_options,
    echo_json,
    ingest_options,
    progress_callback,
    stderr_console,
    timeline_options,
)


def mining_options(f):
    """Attach the mining options."""
    d = MiningOptions()
    opts = [
        click.option("--lookback", default="10m", show_default=True,
                     help="How far before each burst onset to look for precursor sequences (90s, 10m)."),
        click.option("--max-len", type=click.IntRange(2, 12), default=d.max_len, show_default=True,
                     help="Longest action sequence considered."),
        click.option("--max-gap", type=click.IntRange(0, 10), default=d.max_gap, show_default=True,
                     help="Other actions allowed between two steps of a sequence."),
        click.option("--max-span", default="30m", show_default=True,
                     help="Longest time from the first to the last step of one occurrence."),
        click.option("--max-support", type=click.FloatRange(0, 1, min_open=True), default=d.max_support,
                     show_default=True, help="A suspect is done by fewer than this share of all sessions."),
        click.option("--alpha", type=click.FloatRange(0, 1, min_open=True), default=d.alpha, show_default=True,
                     help="False discovery rate for the Benjamini-Hochberg q-values."),
        click.option("--top", type=click.IntRange(1, 1000), default=d.top, show_default=True,
                     help="Most suspects and affected paths reported."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def build_mining_options(kw) -> MiningOptions:
    return MiningOptions(
        lookback_s=parse_duration(kw["lookback"], option="--lookback"),
        max_len=kw["max_len"],
        max_gap=kw["max_gap"],
        max_span_s=parse_duration(kw["max_span"], option="--max-span"),
        max_support=kw["max_support"],
        alpha=kw["alpha"],
        top=kw["top"],
    )


@click.command("scan")
@ingest_options
@timeline_options
@mining_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document (the documented contract) on stdout.")
@click.option("--export", "export_dir", type=click.Path(file_okay=False), default=None,
              help="Write suspects, evidence, bursts and cascade as Parquet files into this folder.")
@click.option("--export-events", is_flag=True, help="With --export, also write the full normalized events.parquet.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False), default=None,
              help="Write a self-contained HTML report to this file.")
@click.option("--no-color", is_flag=True, help="No colour in the terminal report (NO_COLOR is honoured too).")
@click.pass_context
def command(ctx: click.Context, as_json, export_dir, export_events, html_path, no_color, quiet, **kw) -> None:
    """Find the rare user-action sequences that set off each error burst.

    Reads every log under PATHS, finds the error bursts and the order in which
    components failed, and ranks the rare action sequences completed just
    before each onset, with their statistics and the resources they touched.
    """
    settings = ScanSettings(
        ingest=build_ingest_options(kw),
        timeline=build_timeline_options(kw),
        mining=build_mining_options(kw),
        incident_spec=kw.get("incident"),
    )
    prog, cb = progress_callback(quiet)
    if prog:
        with prog:
            result = run_scan(kw["paths"], settings=settings, progress=cb)
    else:
        result = run_scan(kw["paths"], settings=settings)
    if export_dir:
        from ..report.export import export_scan

        export_scan(result, export_dir, events=export_events)
    if html_path:
        from ..report.html import write_html

        write_html(result, html_path)
    if as_json:
        echo_json(result.to_json())
    else:
        from .render_scan import render_scan

        render_scan(result, no_color=no_color)
    if result.ingest.accounting.errors:
        if not quiet and as_json:
            for msg in result.ingest.accounting.errors:
                stderr_console().print(f"warning: {terminal_safe(msg, max_len=300)}", markup=False, highlight=False)
        ctx.exit(ExitCode.PARTIAL)
