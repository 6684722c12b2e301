"""``forensics scan``: the whole pipeline, report on stdout."""

from __future__ import annotations

from dataclasses import replace

import click

from ..errors import ExitCode
from ..mining.model import MiningOptions
from ..sanitize import terminal_safe
from ..scan import FailingSettings, ScanSettings, run_scan
from ..durations import parse_duration
from .common import (
    build_ingest_options,
    build_timeline_options,
    echo_json,
    ingest_options,
    run_with_progress,
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


def free_text_options(f):
    """Attach the free-text and labeled-failure options."""
    opts = [
        click.option("--session-pattern", default=None, metavar="REGEX",
                     help="Take the session id from the message of rows without one (first match, or its first "
                          r"capture group), e.g. 'blk_-?\d+' for HDFS blocks."),
        click.option("--no-templates", is_flag=True,
                     help="Do not use message templates as actions for logs without an action field."),
        click.option("--failing", "failing_path", type=click.Path(dir_okay=False), default=None, metavar="FILE",
                     help="CSV of session ids with a label column (e.g. HDFS anomaly_label.csv): mine what the "
                          "failing sessions did, and the steps they never reached, against all other sessions."),
        click.option("--failing-id-column", default=None, metavar="NAME",
                     help="Column of --failing with the session id (default: the first)."),
        click.option("--failing-label-column", default=None, metavar="NAME",
                     help="Column of --failing with the label (default: the first named like label/status/outcome)."),
        click.option("--failing-values", default=None, metavar="V1,V2",
                     help="Label values that mean failing, comma-separated, case-insensitive "
                          "(default: anomaly, failed, fail, failure, error, 1, true, ...)."),
        click.option("--failing-scope", type=click.Choice(["before-error", "whole"]), default="before-error",
                     show_default=True,
                     help="Count a failing session's actions before its first error, or all of them."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def build_failing_settings(kw) -> FailingSettings | None:
    """:class:`FailingSettings` from parsed CLI keywords (``None`` without ``--failing``)."""
    if not kw.get("failing_path"):
        return None
    values = kw.get("failing_values")
    return FailingSettings(
        path=kw["failing_path"],
        id_column=kw.get("failing_id_column"),
        label_column=kw.get("failing_label_column"),
        values=tuple(v.strip() for v in values.split(",") if v.strip()) if values else None,
        scope=(kw.get("failing_scope") or "before-error").replace("-", "_"),
    )


@click.command("scan")
@ingest_options
@timeline_options
@mining_options
@free_text_options
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
    timeline = replace(build_timeline_options(kw), session_pattern=kw.get("session_pattern") or None,
                       template_actions=not kw.get("no_templates"))
    settings = ScanSettings(
        ingest=build_ingest_options(kw),
        timeline=timeline,
        mining=build_mining_options(kw),
        incident_spec=kw.get("incident"),
        failing=build_failing_settings(kw),
        full_events=bool(export_events),
    )
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
    if result.ingest.accounting.errors:
        if not quiet and as_json:
            for msg in result.ingest.accounting.errors:
                stderr_console().print(f"warning: {terminal_safe(msg, max_len=300)}", markup=False, highlight=False)
        ctx.exit(ExitCode.PARTIAL)
