"""Option groups and rendering helpers shared by commands."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable
from typing import Any

import click

from ..ingest import IngestOptions
from ..ingest.formats import names as format_names
from ..ingest.cache import default_cache_dir
from ..ingest.reader import DEFAULT_MAX_BYTES


def ingest_options(f: Callable) -> Callable:
    """Attach the input options every reading command shares."""
    opts = [
        click.argument("paths", nargs=-1, required=True, type=click.Path()),
        click.option("--format", "fmt", type=click.Choice(format_names()), default=None,
                     help="Read every file as this format instead of sniffing each one."),
        click.option("--tz", default="UTC", show_default=True,
                     help="Time zone (IANA name) for timestamps that carry none."),
        click.option("--time-field", default=None, help="Field holding the event time (named-field formats)."),
        click.option("--user-field", default=None, help="Field holding the user id."),
        click.option("--session-field", default=None, help="Field holding the session id."),
        click.option("--action-field", default=None, help="Field holding the action name."),
        click.option("--request-field", default=None, help="Field holding the request or trace id."),
        click.option("--max-bytes", type=click.IntRange(min=1), default=DEFAULT_MAX_BYTES, show_default=True,
                     help="Stop reading a file after this many (decompressed) bytes; "
                          "guards against gzip/bzip2/zstd bombs."),
        click.option("--strict", is_flag=True, help="Fail on the first unreadable or damaged file."),
        click.option("--keep-duplicates", is_flag=True,
                     help="Keep events repeated verbatim across files (overlapping rotations)."),
        click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
                     help="Warm cache of parsed files (default: $XDG_CACHE_HOME/forensics or ~/.cache/forensics)."),
        click.option("--no-cache", is_flag=True, help="Parse every file again; neither read nor write the cache."),
        click.option("-q", "--quiet", is_flag=True, help="No progress or summary on stderr."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def timeline_options(f: Callable) -> Callable:
    """Attach the timeline options (sessions, bins, incident window)."""
    opts = [
        click.option("--session-gap", default="30m", show_default=True,
                     help="Inactivity that splits a user's events into sessions when logs carry no session id (90s, 30m, 1h)."),
        click.option("--bin", "bin_", default=None,
                     help="Error-rate bin width (10s, 1m, ...); default: chosen from the data's time span."),
        click.option("--incident", default=None, metavar="START..END",
                     help="Use this window as the (single) burst: HH:MM..HH:MM (date from the data) or ISO date-times."),
        click.option("--client-errors", is_flag=True, help="Count HTTP 4xx responses as errors too."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def build_timeline_options(kw: dict[str, Any]):
    """:class:`TimelineOptions` from parsed CLI keywords (the incident window is
    resolved against the data later; see ``incident_spec``)."""
    from ..durations import parse_duration
    from ..timeline.model import TimelineOptions

    gap_s = parse_duration(kw.get("session_gap") or "30m", option="--session-gap")
    bin_ = kw.get("bin_")
    bin_s = parse_duration(bin_, option="--bin") if bin_ is not None else None
    return TimelineOptions(session_gap_s=gap_s, bin_s=bin_s, client_errors=bool(kw.get("client_errors")))


def build_ingest_options(kw: dict[str, Any]) -> IngestOptions:
    """The frozen :class:`IngestOptions` from parsed CLI keywords."""
    return IngestOptions(
        format=kw.get("fmt"),
        tz=kw.get("tz") or "UTC",
        time_field=kw.get("time_field"),
        user_field=kw.get("user_field"),
        session_field=kw.get("session_field"),
        action_field=kw.get("action_field"),
        request_field=kw.get("request_field"),
        max_bytes=kw.get("max_bytes") or DEFAULT_MAX_BYTES,
        strict=bool(kw.get("strict")),
        dedupe=not kw.get("keep_duplicates"),
        cache_dir=None if kw.get("no_cache") else str(kw.get("cache_dir") or default_cache_dir()),
    )


def stderr_console(quiet: bool = False):
    """A rich console on stderr (colour off with NO_COLOR or when not a tty)."""
    from rich.console import Console

    return Console(stderr=True, quiet=quiet, no_color=bool(os.environ.get("NO_COLOR")), highlight=False)


def progress_callback(quiet: bool):
    """A progress callback drawing on stderr, or None when stderr is no tty."""
    if quiet or not sys.stderr.isatty():
        return None, None
    from rich.progress import Progress

    prog = Progress(console=stderr_console(), transient=True)
    tasks: dict[str, Any] = {}

    def cb(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = prog.add_task(stage, total=total)
        prog.update(tasks[stage], completed=done, total=total)

    return prog, cb


#: Characters a terminal may act on that ``json.dumps(ensure_ascii=False)``
#: leaves raw: DEL, C1 controls (8-bit CSI/OSC), line separators, bidi controls.
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def json_text(doc: Any) -> str:
    r"""``doc`` as indented JSON that is safe to print on a terminal: C0
    controls are escaped by ``json`` itself, the characters above as
    ``\uXXXX`` (they only occur inside strings, so the data is unchanged).

    Examples
    --------
    >>> print(json_text({"a": "x\x9b2J\u202e"}))
    {
      "a": "x\u009b2J\u202e"
    }
    """
    text = json.dumps(doc, indent=2, default=str, ensure_ascii=False)
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def run_with_progress(quiet: bool, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call ``fn(*args, progress=cb, **kwargs)`` with a progress bar on stderr
    when it is a terminal (and not ``quiet``), else without one."""
    prog, cb = progress_callback(quiet)
    if prog is None:
        return fn(*args, **kwargs)
    with prog:
        return fn(*args, progress=cb, **kwargs)


def echo_json(doc: Any) -> None:
    """Print one JSON document on stdout (see :func:`json_text`)."""
    click.echo(json_text(doc))
