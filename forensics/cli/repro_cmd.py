"""``forensics repro``: a suspect's example sessions as a replayable request
list (HAR 1.2, or a pytest + httpx skeleton)."""

from __future__ import annotations

import click

from ..errors import ExitCode
from ..io import write_text
from ..report.har import DEFAULT_BASE_URL, check_base_url, har_text
from ..report.repro import repro_sessions
from ..report.repro_pytest import pytest_text
from ..sanitize import terminal_safe
from ..scan import run_scan
from .common import run_with_progress
from .options import analysis_options, build_scan_settings

#: Output kinds of ``--to``, and what each writes.
WRITERS = {"har": har_text, "pytest": pytest_text}


def output_kind(given: str | None, output: str) -> str:
    """``--to`` when given, else ``pytest`` for a ``.py`` output, else ``har``.

    Examples
    --------
    >>> output_kind(None, "test_outage.py"), output_kind(None, "-"), output_kind("pytest", "x.txt")
    ('pytest', 'har', 'pytest')
    """
    if given:
        return given
    return "pytest" if output.lower().endswith(".py") else "har"


@click.command("repro")
@analysis_options
@click.option("--suspect", "rank", type=int, required=True, metavar="N",
              help="The suspect whose sessions to write (as ranked by `forensics scan`).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, allow_dash=True), metavar="FILE",
              help="Write to this file (`-`: stdout).")
@click.option("--to", "kind", type=click.Choice(sorted(WRITERS)), default=None,
              help="What to write: a HAR 1.2 file, or a pytest file replaying the requests with httpx "
                   "[default: pytest when FILE ends with .py, else har].")
@click.option("--sessions", type=click.IntRange(1), default=None, metavar="N",
              help="How many sessions: the suspect's example sessions first, then the other sessions that "
                   "did the sequence, latest first [default: the example sessions].")
@click.option("--base-url", default=DEFAULT_BASE_URL, show_default=True,
              help="Put the logged paths under this URL (http(s)://host[:port][/path]).")
@click.pass_context
def command(ctx: click.Context, rank, output, kind, sessions, base_url, quiet, **kw) -> None:
    """Write a suspect's example sessions as requests to replay.

    Takes every option of `forensics scan` that shapes the result, so it
    reruns the same scan (from the warm cache when there is one) and finds
    the same suspect N.  Each step of the suspect in those sessions becomes
    the request the logs show for it: method, the real URL with its ids and
    query as logged, the status seen and the time, with the request id.

    --to har (default): HAR 1.2, which browsers, k6, Postman and most load
    tools import.  --to pytest: a small test file replaying each session
    with httpx against a base URL given when it runs.

    Logs do not record bodies, headers or cookies: the file says so and
    leaves them empty.  See docs/repro.md.
    """
    check_base_url(base_url)  # a bad URL fails before the scan
    kind = output_kind(kind, output)
    settings = build_scan_settings(kw)
    result = run_with_progress(quiet, run_scan, kw["paths"], settings=settings)
    repro = repro_sessions(result, rank, sessions=sessions)
    text = WRITERS[kind](repro, base_url=base_url)
    if output == "-":
        click.echo(text, nl=False)
    else:
        write_text(text, output)
    if not quiet:
        requests = sum(1 for s in repro.sessions for st in s.steps if st.method is not None)
        steps = sum(len(s.steps) for s in repro.sessions)
        where = "stdout" if output == "-" else output
        click.echo(terminal_safe(f"repro: suspect #{rank}, {len(repro.sessions)} session(s), {requests} of {steps} "
                                 f"steps with a logged request -> {where} ({kind})", max_len=300), err=True)
    if result.ingest.accounting.partial:  # an unreadable file, or one with no line read as an event
        ctx.exit(ExitCode.PARTIAL)
