"""Redis server log.

Two header shapes start an event:

* Redis 3+: ``12345:M 14 Mar 2026 11:02:33.158 * message``; the role char
  becomes ``attrs.role`` (``M`` master, ``S`` replica, ``C`` child process
  for RDB/AOF, ``X`` sentinel);
* Redis 2.x: ``[12345] 14 Mar 11:02:33.158 * message`` (milliseconds
  optional, no year, no role).  The year is ``options.default_year``, else the
  current UTC year, and a date more than a day in the future moves back a year.

The pid becomes ``attrs.pid``.  Level chars: ``.`` debug, ``-`` verbose
(debug), ``*`` notice (info), ``#`` warning (warn).  Times are read in
``options.tz`` (Redis logs local time).

Lines without a header are continuation lines of the event above them: the
ASCII-art startup banner (Redis prints it raw, after the first log lines) and
the raw stack frames of a crash report.  They are appended to the event's
``message`` with ``\\n`` (trailing spaces removed), as in the plain format.
Header-less lines before the first event are malformed, and so is a line that
starts like a header (``12345:M `` or ``[12345] ``) but does not parse.
``key=value`` pairs in the message (``Redis version=7.2.4, bits=64``) are
extracted as usual (a trailing ``,``, ``.`` or ``;`` is dropped:
``port=6379.`` -> ``6379``).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import polars as pl

from ..normalize import normalize_level, parse_timestamp_series
from ..options import IngestOptions
from .base import ParseResult, empty_rejects, fold_continuations, reject, share_matching, split_blank
from .plain import ORPHAN_REASON, kv_events

NAME = "redis"
DESCRIPTION = "Redis server log (pid:role date * message; also Redis 2.x [pid] form)"
EXAMPLE = '12345:M 14 Mar 2026 11:02:30.123 # Server initialized'
CONTINUATION_LINES = True

_DATE = r"\d{1,2} [A-Z][a-z]{2}"
_TIME = r"\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?"
HEADER = (
    rf"^(?:(?P<pid>\d+):(?P<role>[MSCX]) (?P<ts>{_DATE} \d{{4}} {_TIME})"
    rf"|\[(?P<opid>\d+)\] (?P<ots>{_DATE} {_TIME})) (?P<lvl>[.\-*#]) (?P<msg>.*)$"
)
_LOOKS_HEADER = r"^(?:\d+:[A-Za-z] |\[\d+\] )"

ROLES = {"M": "master", "S": "replica", "C": "child", "X": "sentinel"}
LEVELS = {".": "debug", "-": "debug", "*": "info", "#": "warn"}


def sniff(sample: list[str]) -> float:
    """Fraction of the lines (ignoring indented banner lines) with a Redis header."""
    return share_matching(sample, HEADER, skip_indented=True)


def _timestamp(starts: pl.DataFrame, *, tz: str, default_year: int | None) -> pl.Series:
    """UTC times from ``ts`` (with year) or ``ots`` (Redis 2.x, no year)."""
    modern = parse_timestamp_series(starts["ts"], tz=tz)
    if starts["ots"].null_count() == starts.height:
        return modern.alias("ts")

    def in_year(year: int) -> pl.Series:
        text = starts.select(pl.col("ots").str.replace(r"^(\S+ \S+) ", f"${{1}} {year} ")).to_series()
        return parse_timestamp_series(text, tz=tz)

    if default_year is not None:
        old = in_year(default_year)
    else:
        now = datetime.now(timezone.utc)
        this_year, last_year = in_year(now.year), in_year(now.year - 1)
        future = this_year.is_null() | (this_year > now + timedelta(days=1))
        old = last_year.zip_with(future, this_year)
    return modern.zip_with(modern.is_not_null(), old).alias("ts")


def parse(lines: pl.DataFrame, *, options: IngestOptions) -> ParseResult:
    """Parse a Redis log into canonical events.

    Examples
    --------
    >>> from forensics.ingest.options import IngestOptions
    >>> lines = pl.DataFrame({"line": [1], "text": ["12345:M 14 Mar 2026 11:02:33.158 # Server initialized"]})
    >>> ev = parse(lines, options=IngestOptions()).events
    >>> ev.select("level", "attrs").row(0)
    ('warn', '{"pid":12345,"role":"master"}')
    """
    body, blank = split_blank(lines)
    header = pl.col("text").str.contains(HEADER)
    broken = body.filter(~header & pl.col("text").str.contains(_LOOKS_HEADER))
    body = body.filter(header | ~pl.col("text").str.contains(_LOOKS_HEADER))
    starts, orphans, n_cont = fold_continuations(body, header)
    parts = [reject(broken, "malformed Redis log header"), reject(orphans, ORPHAN_REASON)]
    rejects = pl.concat(parts).sort("line") if broken.height + orphans.height else empty_rejects()
    starts = starts.sort("line").with_columns(pl.col("text").str.extract_groups(HEADER).alias("_h")).unnest("_h")
    tidy = pl.col("continuation").str.replace_all(r"[ \t]+(\n|$)", "${1}")
    message = pl.when(pl.col("continuation").is_null()).then(pl.col("msg")).otherwise(
        pl.concat_str([pl.col("msg"), tidy], separator="\n")
    )
    fixed = starts.select(
        pl.lit(_timestamp(starts, tz=options.tz, default_year=options.default_year)).alias("ts"),
        normalize_level(pl.col("lvl").replace_strict(LEVELS, default=None, return_dtype=pl.String)).alias("level"),
        message.alias("message"),
    )
    fields = starts.select(
        "line",
        pl.col("msg").str.replace_all(r"=(\S+?)[,.;](\s|$)", "=${1}${2}").alias("_kv"),
        pl.coalesce("pid", "opid").cast(pl.Int64, strict=False).alias("pid"),
        pl.col("role").replace_strict(ROLES, default=None, return_dtype=pl.String).alias("role"),
    )
    events = kv_events(fields, "_kv", options=options, fixed={c: fixed[c] for c in fixed.columns})
    return ParseResult(events=events, rejects=rejects, continuation_lines=n_cont, blank_lines=blank)
