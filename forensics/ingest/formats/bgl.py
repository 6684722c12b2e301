"""Supercomputer logs as loghub publishes them: BGL (Blue Gene/L RAS log) and
Thunderbird (syslog of a cluster), one event per line.

BGL::

    - 1117838570 2005.06.03 R02-M1-N0-C:J12-U11 2005-06-03-15.42.50.675872 R02-M1-N0-C:J12-U11 RAS KERNEL INFO
    instruction cache parity error corrected

(one line, wrapped here)

``<alert> <epoch> <YYYY.MM.DD> <node> <YYYY-MM-DD-HH.MM.SS.ffffff> <node>
<type> <component> <level> <message>``.

Thunderbird::

    - 1131566461 2005.11.09 dn228 Nov 9 12:01:01 dn228/dn228 crond(pam_unix)[2915]: session closed for user root

``<alert> <epoch> <YYYY.MM.DD> <node> <Mon> <day> <HH:MM:SS> <host>
<program>[<pid>]: <message>``.

The first token is loghub's alert category (the failure label; ``-`` when the
line is not an alert): ``attrs.alert``, left out for ``-``.  ``ts`` is the
epoch (UTC seconds), plus the microseconds of BGL's time field when its
seconds agree with the epoch (that field is local time, so only its fraction
is used); the date and time fields are not kept (they repeat ``ts``).
``attrs.node`` is the node (left out when BGL logs ``NULL``);
``attrs.node_repeat`` BGL's second node field when it differs.  BGL: ``component`` is the component field (``KERNEL``,
``APP``, ``MMCS``, ``DISCOVERY``...), ``attrs.type`` the type (``RAS``; left
out when ``NULL``), and the level maps INFO info, WARNING warn, SEVERE error,
ERROR error, FATAL fatal, FAILURE fatal (BGL's ladder is INFO < WARNING <
SEVERE < ERROR < FATAL < FAILURE).  Thunderbird: ``component`` is the
program's name (``crond`` for ``crond(pam_unix)``, ``gmetad`` for
``/apps/.../gmetad``), ``attrs.program`` the program as logged,
``attrs.pid``, ``attrs.host`` (``dn228/dn228``, ``src@tbird-sm1``); these
lines carry no level, so ``level`` is null.  Messages are kept whole (no
``key=value`` extraction: ``Source line=1043`` is prose here).

Lines that are neither shape are malformed, with a reason naming what was
expected.
"""

from __future__ import annotations

import re

import polars as pl

from ...schema import TS_TYPE, empty_events
from ..normalize import canonicalize
from ..options import IngestOptions
from .base import ParseResult, empty_rejects, reject, share_matching, split_blank

NAME = "bgl"
DESCRIPTION = "BGL / Thunderbird supercomputer logs (loghub: alert tag, epoch, node, RAS level or syslog program)"
CONTINUATION_LINES = False
EXAMPLE = ("- 1117838570 2005.06.03 R02-M1-N0-C:J12-U11 2005-06-03-15.42.50.675872 R02-M1-N0-C:J12-U11 "
           "RAS KERNEL INFO instruction cache parity error corrected")

_PREFIX = r"(?<alert>\S+) (?<epoch>\d{9,11}) (?<date>\d{4}\.\d{2}\.\d{2}) (?<node>\S+) "
#: The whole BGL line.
BGL = (
    "^" + _PREFIX + r"(?<time>\d{4}-\d{2}-\d{2}-\d{2}\.\d{2}\.\d{2}\.\d{1,6}) (?<node2>\S+) (?<type>\S+) "
    r"(?<component>\S+) (?<level>INFO|WARNING|SEVERE|ERROR|FATAL|FAILURE)(?: (?<msg>.*))?$"
)
_TB_HEAD = _PREFIX + r"(?<mon>[A-Z][a-z]{2}) +(?<day>\d{1,2}) (?<hms>\d{2}:\d{2}:\d{2}) (?<host>\S+) "
#: The whole Thunderbird line (the program is split from the message after).
THUNDERBIRD = f"^{_TB_HEAD}(?<rest>.*)$"
_PROGRAM_HEAD = r"(?<program>[^\s\[:]+(?:\([^)\s]*\))?)(?:\[(?<pid>\d+)\])?: "


def _plain(pattern: str) -> str:
    return re.sub(r"\(\?<\w+>", "(?:", pattern)


_SNIFF = _plain(f"(?:{BGL})|(?:{THUNDERBIRD})")
#: BGL fields in order (a matching line is split at its first nine spaces).
BGL_FIELDS = ("alert", "epoch", "date", "node", "time", "node2", "type", "component", "level", "msg")
LEVELS = {"INFO": "info", "WARNING": "warn", "SEVERE": "error", "ERROR": "error", "FATAL": "fatal", "FAILURE": "fatal"}


def sniff(sample: list[str]) -> float:
    """Share of lines in the BGL or the Thunderbird shape.

    Examples
    --------
    >>> sniff([EXAMPLE, "- 1131566461 2005.11.09 dn228 Nov 9 12:01:01 dn228/dn228 crond[2916]: (root) CMD (x)"])
    1.0
    """
    return share_matching(sample, _SNIFF)


def _nil(expr: pl.Expr, *values: str) -> pl.Expr:
    return pl.when(expr.is_in(list(values))).then(None).otherwise(expr)


def _ts(epoch: pl.Expr, time: pl.Expr) -> pl.Expr:
    """Epoch seconds plus the time field's fraction when its seconds agree."""
    secs = epoch.cast(pl.Int64, strict=False)
    frac = time.str.extract(r"\.(\d{1,6})$", 1).str.pad_end(6, "0").cast(pl.Int64, strict=False)
    agree = time.str.extract(r"\.(\d{2})\.\d{1,6}$", 1).cast(pl.Int64, strict=False) == secs % 60
    micros = secs * 1_000_000 + pl.when(agree).then(frac).otherwise(0)
    return micros.cast(pl.Datetime("us")).dt.replace_time_zone("UTC").cast(TS_TYPE)


def _bgl(g: pl.DataFrame, options: IngestOptions) -> pl.DataFrame:
    raw = g.select(
        "line",
        _nil(pl.col("alert"), "-").alias("alert"),
        _nil(pl.col("node"), "NULL").alias("node"),
        pl.when(pl.col("node2") != pl.col("node")).then(_nil(pl.col("node2"), "NULL")).alias("node_repeat"),
        _nil(pl.col("type"), "NULL").alias("type"),
    )
    fixed = g.select(
        _ts(pl.col("epoch"), pl.col("time")).alias("ts"),
        pl.col("component"),
        pl.col("level").replace_strict(LEVELS, default=None, return_dtype=pl.String).alias("level"),
        pl.col("msg").alias("message"),
    )
    return canonicalize(raw, options=options, fixed={c: pl.lit(fixed[c]) for c in fixed.columns})


def _thunderbird(g: pl.DataFrame, options: IngestOptions) -> pl.DataFrame:
    prog = g.select(pl.col("rest").str.extract_groups(f"^(?<phead>{_PROGRAM_HEAD})").alias("p")).unnest("p")
    g = pl.concat([g, prog], how="horizontal")
    raw = g.select(
        "line",
        _nil(pl.col("alert"), "-").alias("alert"),
        "node",
        "host",
        "program",
        pl.col("pid").cast(pl.Int64, strict=False),
    )
    name = pl.col("program").str.replace(r"\([^)]*\)$", "").str.replace(r"^.*/", "")
    fixed = g.select(
        _ts(pl.col("epoch"), pl.lit(None, dtype=pl.String)).alias("ts"),
        pl.when(name != "").then(name).alias("component"),
        pl.lit(None, dtype=pl.String).alias("level"),
        pl.col("rest").str.slice(pl.col("phead").str.len_chars().fill_null(0)).alias("message"),
    )
    return canonicalize(raw, options=options, fixed={c: pl.lit(fixed[c]) for c in fixed.columns})


def parse(lines: pl.DataFrame, *, options: IngestOptions) -> ParseResult:
    """Parse BGL and Thunderbird lines into canonical events.

    Examples
    --------
    >>> lines = pl.DataFrame({"line": [1], "text": [EXAMPLE.replace("- ", "KERNDTLB ", 1).replace("INFO", "FATAL")]})
    >>> ev = parse(lines, options=IngestOptions()).events
    >>> ev.select("ts", "component", "level", "attrs").row(0)[1:]
    ('KERNEL', 'fatal', '{"alert":"KERNDTLB","node":"R02-M1-N0-C:J12-U11","type":"RAS"}')
    >>> ev["ts"].dt.to_string("%Y-%m-%d %H:%M:%S%.6f").item()
    '2005-06-03 22:42:50.675872'
    """
    body, blank = split_blank(lines)
    # Matching is cheap, capturing is not: BGL lines are split at spaces once
    # they match, Thunderbird lines capture their head only.
    is_bgl = body.get_column("text").str.contains(_plain(BGL))
    bgl = body.filter(is_bgl).select(
        "line", pl.col("text").str.splitn(" ", len(BGL_FIELDS)).struct.rename_fields(list(BGL_FIELDS)).alias("f")
    ).unnest("f")
    rest = body.filter(~is_bgl)
    t = pl.concat([rest, rest.select(pl.col("text").str.extract_groups(f"^(?<head>{_TB_HEAD})").alias("t"))
                  .unnest("t")], how="horizontal")
    tb = t.filter(pl.col("head").is_not_null()).with_columns(
        pl.col("text").str.slice(pl.col("head").str.len_chars()).alias("rest"))
    bad = t.filter(pl.col("head").is_null()).select("line", "text")
    prefixed = pl.col("text").str.contains(_plain("^" + _PREFIX))
    rejects = pl.concat([
        reject(bad.filter(prefixed), "BGL/Thunderbird line with a malformed record (expected <time> <node> <type> "
                                     "<component> <level> <message>, or <Mon> <day> <HH:MM:SS> <host> <message>)"),
        reject(bad.filter(~prefixed), "not a BGL/Thunderbird line (expected <alert or -> <epoch> <YYYY.MM.DD> "
                                      "<node> ...)"),
    ]).sort("line") if bad.height else empty_rejects()
    parts = [p for p in (_bgl(bgl, options) if bgl.height else None,
                         _thunderbird(tb, options) if tb.height else None) if p is not None]
    events = pl.concat(parts).sort("line") if parts else empty_events().drop("source", "format")
    return ParseResult(events=events, rejects=rejects, continuation_lines=0, blank_lines=blank)
