"""``forensics scan``: the whole pipeline, report on stdout."""

from __future__ import annotations

import click

from ..errors import ExitCode
from ..sanitize import terminal_safe
from ..scan import run_scan
from .common import echo_json, run_with_progress, stderr_console
from .options import analysis_options, build_scan_settings


@click.command("scan")
@analysis_options
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

    Free-text logs: message templates are the actions, and --session-pattern
    finds the session id in the message.  With --failing, the labeled failing
    sessions replace the bursts as evidence: what they did more often than
    the others, and the steps they never reached.
    """
    settings = build_scan_settings(kw, full_events=bool(export_events))
    result = run_with_progress(quiet, run_scan, kw["paths"], settings=settings)
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
    acc = result.ingest.accounting
    if not quiet and as_json:  # the terminal report prints these itself
        notes = list(acc.errors) + [f"{f.path}: {f.warning()}" for f in acc.files if f.warning()]
        for msg in notes:
            stderr_console().print(f"warning: {terminal_safe(msg, max_len=300)}", markup=False, highlight=False,
                                   soft_wrap=True)
    if acc.partial:  # an unreadable file, or one with no line read as an event
        ctx.exit(ExitCode.PARTIAL)
