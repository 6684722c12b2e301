"""``forensics scan``: the whole pipeline, report on stdout."""

from __future__ import annotations

import shlex
import sys

import click

from ..errors import ExitCode, UsageError
from ..io import is_url
from ..sanitize import terminal_safe
from ..scan import run_scan
from .common import echo_json, run_with_progress, stderr_console
from .options import analysis_options, build_scan_settings


@click.command("scan")
@analysis_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document (the documented contract) on stdout.")
@click.option("--export", "export_dir", type=click.Path(file_okay=False), default=None,
              help="Write suspects, evidence, bursts and cascade as Parquet files into this folder "
                   "(with --engine spark, also a URL Spark writes: s3a://, hdfs://...).")
@click.option("--export-events", is_flag=True,
              help="With --export, also write the full normalized events.parquet "
                   "(with --engine spark: events/ partitioned by day, written by Spark).")
@click.option("--html", "html_path", type=click.Path(dir_okay=False), default=None,
              help="Write a self-contained HTML report to this file.")
@click.option("--postmortem", "postmortem_path", type=click.Path(dir_okay=False), default=None,
              help="Write a Markdown draft of the postmortem (summary, timeline, root-cause evidence, "
                   "what was ruled out, appendix with the command) to this file, to review and complete.")
@click.option("--no-color", is_flag=True, help="No colour in the terminal report (NO_COLOR is honoured too).")
@click.option("--engine", type=click.Choice(["local", "spark"]), default="local", show_default=True,
              help="Where ingest runs: this process, or Apache Spark (pip install 'forensics[spark]'; "
                   "PATHS may then be any URL Spark reads: s3a://, hdfs://, gs://, abfss://).")
@click.option("--spark-master", default=None, metavar="URL",
              help="With --engine spark: the master (local[4], spark://host:7077, yarn, k8s://...); "
                   "default: what spark-submit or Spark's defaults say.")
@click.option("--spark-conf", multiple=True, metavar="KEY=VALUE",
              help="With --engine spark: a Spark setting (repeatable), e.g. spark.executor.memory=8g.")
@click.pass_context
def command(ctx: click.Context, as_json, export_dir, export_events, html_path, postmortem_path, no_color, quiet, engine,
            spark_master, spark_conf, **kw) -> None:
    """Find the rare user-action sequences that set off each error burst.

    Reads every log under PATHS, finds the error bursts and the order in which
    components failed, and ranks the rare action sequences completed just
    before each onset, with their statistics and the resources they touched.

    Free-text logs: message templates are the actions, and --session-pattern
    finds the session id in the message.  With --failing, the labeled failing
    sessions replace the bursts as evidence: what they did more often than
    the others, and the steps they never reached.

    With --engine spark, Spark reads and parses the files on its executors
    and the same analysis runs on the driver (docs/spark.md).
    """
    settings = build_scan_settings(kw, full_events=bool(export_events))
    if export_dir and engine != "spark" and is_url(export_dir):
        raise UsageError(f"--export {export_dir}: a URL needs --engine spark (the local engine writes local folders)")
    if engine == "spark":
        from ..spark import run_scan as spark_scan, spark_session

        spark = spark_session(spark_master, parse_spark_conf(spark_conf))
        result = run_with_progress(quiet, spark_scan, spark, kw["paths"], settings)
    else:
        if spark_master or spark_conf:
            raise UsageError("--spark-master and --spark-conf need --engine spark")
        result = run_with_progress(quiet, run_scan, kw["paths"], settings=settings)
    if export_dir and engine == "spark":
        from ..spark.export import export_through_spark

        export_through_spark(spark, result, export_dir, events=export_events)
    elif export_dir:
        from ..report.export import export_scan

        export_scan(result, export_dir, events=export_events)
    if html_path:
        from ..report.html import write_html

        write_html(result, html_path)
    if postmortem_path:
        from ..report.postmortem import write_postmortem

        write_postmortem(result, postmortem_path, command=shlex.join(["forensics", *sys.argv[1:]]))
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


def parse_spark_conf(items) -> list[tuple[str, str]]:
    """``--spark-conf KEY=VALUE`` items as pairs; a :class:`UsageError` for one without ``=``.

    >>> parse_spark_conf(["spark.executor.memory=8g", "spark.x=a=b"])
    [('spark.executor.memory', '8g'), ('spark.x', 'a=b')]
    """
    pairs = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--spark-conf {item!r}: expected KEY=VALUE")
        pairs.append((key.strip(), value))
    return pairs
