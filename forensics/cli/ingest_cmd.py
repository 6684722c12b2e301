"""``forensics ingest``."""

from __future__ import annotations

import click

from ..errors import ExitCode
from ..ingest import ingest
from ..io import write_parquet
from .common import echo_json, run_with_progress, stderr_console
from .options import build_ingest_options, input_options
from .render_ingest import render_accounting


@click.command("ingest")
@input_options
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Write the event table here as Parquet.")
@click.option("--rejects", "rejects_path", type=click.Path(dir_okay=False), default=None,
              help="Write the malformed lines (file, line, reason, text) here as Parquet.")
@click.option("--json", "as_json", is_flag=True, help="Print the accounting as JSON on stdout.")
@click.pass_context
def command(ctx: click.Context, output, rejects_path, as_json, quiet, **kw) -> None:
    """Read log files and folders into one normalized event table.

    Each file's format is sniffed from its content (see `forensics formats`);
    compressed and rotated files are read too.  Every line is accounted for:
    an event, a continuation line, a blank line, or a malformed line.
    """
    options = build_ingest_options(kw)
    result = run_with_progress(quiet, ingest, kw["paths"], options=options)
    if output:
        write_parquet(result.events, output, metadata={"forensics.inputs": list(kw["paths"])})
    if rejects_path:
        write_parquet(result.rejects, rejects_path)
    if as_json:
        echo_json(result.accounting.to_json())
    if not quiet:
        render_accounting(result.accounting, stderr_console(), rejects=result.rejects)
    if result.accounting.partial:  # an unreadable file, or one with no line read as an event
        ctx.exit(ExitCode.PARTIAL)
