"""Plain-text application logs: a timestamp, maybe a level, then free text.

The fallback format when no other sniffer wins.  A line that starts with a
recognised timestamp starts an event; any other line is a continuation of the
event above it (Java stack traces: ``\\tat ...``, ``Caused by: ...``,
``... 12 more``), and the event's ``message`` is the first line's message plus
the continuation lines joined with ``\\n``.  Continuation lines before the first
event are malformed, so a file without any timestamped line is all malformed.

Timestamps recognised at the start of a line:

* ``2026-03-14 11:03:23,575`` / ``.575`` / no fraction, ``T`` or space, an
  optional offset (``Z``, ``+01:00``, ``+0100``) or ``UTC``/``GMT`` word;
  ``2026/03/14 11:03:23`` (Go's ``log``) too;
* the same inside brackets: ``[2026-03-14 11:03:23]``;
* HDFS (loghub): ``081109 203615`` (yyMMdd HHmmss, years 69-99 are 19xx).

Timestamps without an offset are read in ``options.tz``.  After the timestamp
the first of these layouts that fits is used (``LEVEL`` is an upper-case
level word such as ``INFO``, ``WARNING``, ``ERROR``, ``CRITICAL``):

* ``[pid] LEVEL [thread] logger - msg`` or ``... dotted.Logger: msg``
  (log4j/logback, Hadoop, HDFS; pid, thread and logger optional);
* ``[thread] LEVEL logger - msg`` (logback's default pattern);
* ``- logger - LEVEL - msg`` (Python ``%(name)s - %(levelname)s``);
* ``LEVEL:logger:msg`` (Python's basic format), ``LEVEL: msg``;
* ``[LEVEL] msg``;
* anything else: no level, the whole rest is the message.

``logger``, ``thread`` and ``pid`` go to ``attrs``.  ``key=value`` pairs in
the first line's message are extracted (aliases such as ``user``/``rid`` fill
``user``/``request_id``; other keys go to ``attrs``; a key that repeats a
prefix field such as ``thread`` is dropped, the prefix wins).

:func:`kv_events` is shared with the other line-oriented readers.
"""

from __future__ import annotations

import re

import polars as pl

from ...schema import ALIASES
from ..normalize import canonicalize, extract_kv, normalize_level, parse_timestamp
from ..options import IngestOptions
from .base import ParseResult, empty_rejects, fold_continuations, reject, split_blank

NAME = "plain"
DESCRIPTION = "Plain-text logs with a timestamp (and level) prefix; untimestamped lines continue the event above"
EXAMPLE = '2026-03-14 11:03:20,001 ERROR [main] com.acme.lms.Application - Cache refresh failed'
CONTINUATION_LINES = True

ORPHAN_REASON = "continuation line with no event before it"

_ISO = (
    r"\d{4}[-/]\d{2}[-/]\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d{1,9})?"
    r"(?:Z|[+-]\d{2}:?\d{2}| ?[+-]\d{2}:\d{2}| (?:UTC|GMT))?"
)
#: A line that starts an event: one of three timestamp shapes, then a space or the end.
START = rf"^(?:\[(?P<bts>{_ISO})\]|(?P<ts>{_ISO})(?:\s|$)|(?P<hts>\d{{6}} \d{{6}})(?:\s|$))"
_START_ANY = rf"^(?:\[{_ISO}\]|{_ISO}(?:\s|$)|\d{{6}} \d{{6}}(?:\s|$))"

LEVELS = r"(?:TRACE|DEBUG|INFO|NOTICE|WARNING|WARN|ERROR|ERR|SEVERE|FATAL|CRITICAL|CRIT|PANIC|ALERT|EMERG)"
_DOTTED = r"[\w$\-]+(?:\.[\w$\-]+)+"

#: Layouts of the text after the timestamp, tried in order.
LAYOUTS = (
    rf"^(?:(?P<pid>\d+)\s+)?(?P<level>{LEVELS})(?:\s+|$)(?:\[(?P<thread>[^\]]*)\]\s+)?"
    rf"(?:(?P<logger>[\w$.\-]+) - |(?P<logger2>{_DOTTED}): )?(?P<msg>.*)$",
    rf"^\[(?P<thread>[^\]]*)\]\s+(?P<level>{LEVELS})(?:\s+|$)(?:(?P<logger>[\w$.\-]+) - )?(?P<msg>.*)$",
    rf"^-\s+(?P<logger>\S+)\s+-\s+(?P<level>{LEVELS})\s+-\s?(?P<msg>.*)$",
    rf"^(?P<level>{LEVELS}):(?P<logger>[^:\s]*):(?P<msg>.*)$",
    rf"^(?P<level>{LEVELS}):\s+(?P<msg>.*)$",
    rf"^\[(?P<level>{LEVELS})\]\s*(?P<msg>.*)$",
)
_FIELDS = ("pid", "level", "thread", "logger", "msg")


def sniff(sample: list[str]) -> float:
    """Fraction of the sample lines that start with a recognised timestamp."""
    if not sample:
        return 0.0
    s = pl.Series(sample, dtype=pl.String)
    return float(s.str.contains(_START_ANY).sum()) / len(sample)


# ------------------------------------------------------------------ shared helper

def kv_events(
    fields: pl.DataFrame,
    kv_column: str,
    *,
    options: IngestOptions,
    fixed: dict[str, pl.Series],
) -> pl.DataFrame:
    """Canonical events from per-event fields plus ``key=value`` pairs.

    Parameters
    ----------
    fields
        ``line`` (unique), ``kv_column`` and attribute columns (these go to
        ``attrs`` unless their name is a canonical alias).
    kv_column
        Text to pull ``key=value`` pairs from (dropped afterwards).  A key that
        clashes with a column of ``fields`` (case-insensitive) is dropped.
    fixed
        Canonical columns computed by the format, one value per row of
        ``fields`` in the same order; they win over aliases.

    Examples
    --------
    >>> f = pl.DataFrame({"line": [1], "kv": ["rid=9 x=1"], "thread": ["main"]})
    >>> ev = kv_events(f, "kv", options=IngestOptions(), fixed={"level": pl.Series(["info"])})
    >>> ev.select("request_id", "level", "attrs").row(0)
    ('9', 'info', '{"thread":"main","x":"1"}')
    """
    taken = {c.lower() for c in fields.columns}
    kv = extract_kv(fields.select("line", kv_column), kv_column)
    kv = kv.drop([c for c in kv.columns if c != "line" and c.lower() in taken])
    kv = _merge_aliases(kv, skip=set(fixed) | set(options.overrides()))
    raw = fields.drop(kv_column).join(kv, on="line", how="left", maintain_order="left")
    lits = {k: pl.lit(v) for k, v in fixed.items()}
    return canonicalize(raw, options=options, fixed=lits)


#: Text fields whose aliases are merged row by row (see :func:`_merge_aliases`).
_MERGED = ("user", "session", "request_id", "action", "key")


def _merge_aliases(kv: pl.DataFrame, *, skip: set[str]) -> pl.DataFrame:
    """Merge alias keys of one canonical field row by row.

    :func:`canonicalize` picks one column per canonical field for the whole
    frame, which suits JSON (stable field names) but not free text, where one
    line says ``user=u1`` and the next ``uid=u2``.  Here the first alias (in
    :data:`ALIASES` order) present on each row wins and goes into the column of
    the earliest alias; a later alias keeps its value (for ``attrs``) only on
    rows where it was not the one used.
    """
    by_lower: dict[str, str] = {}
    for c in kv.columns:
        if c != "line":
            by_lower.setdefault(c.lower(), c)
    exprs: list[pl.Expr] = []
    for canonical in _MERGED:
        if canonical in skip:
            continue
        names = [by_lower[a] for a in ALIASES[canonical] if a in by_lower]
        if len(names) < 2:
            continue
        exprs.append(pl.coalesce(names).alias(names[0]))
        for i, name in enumerate(names[1:], start=1):
            earlier = pl.any_horizontal([pl.col(n).is_not_null() for n in names[:i]])
            exprs.append(pl.when(earlier).then(pl.col(name)).alias(name))
    return kv.with_columns(exprs) if exprs else kv


# -------------------------------------------------------------------------- parse

def _layout(frame: pl.DataFrame, rest: str) -> pl.DataFrame:
    """Add pid/level/thread/logger/msg from the first layout that fits ``rest``.

    Each layout's regex runs once (materialized), then the fields are picked.
    """
    groups = frame.select(
        [pl.col(rest).str.extract_groups(p).alias(f"_g{i}") for i, p in enumerate(LAYOUTS)]
    )
    picks = {f: [] for f in _FIELDS}
    for i, pattern in enumerate(LAYOUTS):
        names = set(re.compile(pattern).groupindex)
        hit = pl.col(f"_g{i}").struct.field("msg").is_not_null()
        for f in _FIELDS:
            if f == "logger" and "logger2" in names:
                value = pl.coalesce(pl.col(f"_g{i}").struct.field("logger"), pl.col(f"_g{i}").struct.field("logger2"))
            elif f in names:
                value = pl.col(f"_g{i}").struct.field(f)
            else:
                value = pl.lit(None, dtype=pl.String)
            picks[f].append((hit, value))
    exprs = []
    for f, cases in picks.items():
        fallback = pl.col(rest) if f == "msg" else pl.lit(None, dtype=pl.String)
        expr = fallback
        for hit, value in reversed(cases):
            expr = pl.when(hit).then(value).otherwise(expr)
        exprs.append(expr.alias(f))
    return pl.concat([frame, groups], how="horizontal").with_columns(exprs).drop(groups.columns)


def _timestamp(bts: pl.Expr, ts: pl.Expr, hts: pl.Expr, tz: str) -> pl.Expr:
    iso = pl.coalesce(bts, ts).str.replace(r"^(\d{4})/(\d{2})/(\d{2})", "${1}-${2}-${3}")
    hdfs = hts.str.to_datetime("%y%m%d %H%M%S", strict=False).dt.strftime("%Y-%m-%dT%H:%M:%S")
    return parse_timestamp(pl.coalesce(iso, hdfs), tz=tz)


def parse(lines: pl.DataFrame, *, options: IngestOptions) -> ParseResult:
    """Parse timestamp-prefixed text lines into canonical events.

    Examples
    --------
    >>> from forensics.ingest.options import IngestOptions
    >>> lines = pl.DataFrame({"line": [1, 2, 3], "text": [
    ...     "2026-03-14 11:03:23,575 ERROR [main] com.acme.Foo - boom user=u42",
    ...     "java.lang.IllegalStateException: x", "\\tat com.acme.Foo.run(Foo.java:1)"]})
    >>> r = parse(lines, options=IngestOptions())
    >>> r.events.select("level", "user").row(0), r.continuation_lines
    (('error', 'u42'), 2)
    >>> r.events["message"][0].splitlines()[1]
    'java.lang.IllegalStateException: x'
    """
    body, blank = split_blank(lines)
    starts, orphans, n_cont = fold_continuations(body, pl.col("text").str.contains(_START_ANY))
    rejects = reject(orphans, ORPHAN_REASON) if orphans.height else empty_rejects()
    starts = starts.sort("line")
    prefix = pl.col("text").str.extract_groups(START)
    parsed = starts.select(
        "line",
        "continuation",
        prefix.alias("_p"),
        pl.col("text").str.replace(START, "").str.strip_chars_start().alias("_rest"),
    ).with_columns(
        _timestamp(*(pl.col("_p").struct.field(f) for f in ("bts", "ts", "hts")), options.tz).alias("_ts"),
    )
    parsed = _layout(parsed, "_rest")
    message = pl.when(pl.col("continuation").is_null()).then(pl.col("msg")).otherwise(
        pl.concat_str([pl.col("msg"), pl.col("continuation")], separator="\n")
    )
    fixed_frame = parsed.select(
        pl.col("_ts").alias("ts"),
        normalize_level(pl.col("level")).alias("level"),
        message.alias("message"),
    )
    fields = parsed.select("line", "msg", "logger", "thread", pl.col("pid").cast(pl.Int64, strict=False))
    events = kv_events(fields, "msg", options=options, fixed={c: fixed_frame[c] for c in fixed_frame.columns})
    return ParseResult(events=events, rejects=rejects, continuation_lines=n_cont, blank_lines=blank)
