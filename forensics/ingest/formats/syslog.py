"""Syslog: RFC 5424, RFC 3164 (with or without ``<PRI>``) and the ISO-time
variant rsyslog writes to ``/var/log/syslog`` on current distributions.

* RFC 5424: ``<165>1 2003-10-11T22:14:15.003Z host app 1234 ID47 [sd@32473 iut="3"] msg``;
  ``-`` is a nil value; structured-data params are named fields (aliases
  apply, the rest go to ``attrs``).
* RFC 3164: ``<34>Oct 11 22:14:15 host su[123]: msg`` and the PRI-less
  ``Nov  2 16:14:58 host app[123]: msg``.  There is no year: it is
  ``options.default_year``, else the current UTC year, with dates more than a
  day in the future moved back a year.  The time is read in ``options.tz``.
* ``2023-11-02T16:14:58.123456+00:00 host app[123]: msg`` (rsyslog's
  high-precision file format), optionally with ``<PRI>``.

``component`` is the app name / tag; ``host``, ``pid``, ``msgid`` and
``facility`` go to ``attrs``.  ``level`` comes from the PRI severity (0-2
fatal, 3 error, 4 warn, 5-6 info, 7 debug); without PRI it is the message's
``level=``-style pair if any, else null.  ``key=value`` pairs in the message
are extracted (SD params win over message pairs; header fields win over
both).  A PRI above 191 is malformed.

Lines without a syslog header are malformed, never continuations: syslog
daemons escape embedded newlines (rsyslog writes ``#012``), so a header-less
line in a syslog file is damage (a torn write, interleaved output) and should
be counted, not hidden inside the event above.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import polars as pl

from ...schema import empty_events
from ..normalize import canonicalize, extract_kv, parse_timestamp
from ..options import IngestOptions
from .base import ParseResult, reject, split_blank

NAME = "syslog"
DESCRIPTION = "syslog: RFC 5424, RFC 3164 (with or without <PRI>), rsyslog ISO-time files"
EXAMPLE = "<34>Nov  2 16:10:01 web1 su[123]: 'su root' failed for lonvick on /dev/pts/8"
CONTINUATION_LINES = False

_SD = r'(?:-|(?:\[[^\s\]=]+(?: +[^\s\]=]+="(?:[^"\\]|\\.)*")*\])+)'
RFC5424 = (
    r"^<(?<pri>\d{1,3})>(?<version>\d{1,2}) (?<time>\S+) (?<host>\S+) (?<app>\S+) (?<pid>\S+) (?<msgid>\S+) "
    rf"(?<sd>{_SD})(?: (?<msg>.*))?$"
)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_BSD_TIME = r"(?<mon>" + "|".join(_MONTHS) + r") {1,2}(?<day>\d{1,2}) (?<hms>\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?)"
_ISO_TIME = r"(?<iso>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2}))"
RFC3164 = rf"^(?:<(?<pri>\d{{1,3}})>)?(?:{_BSD_TIME}|{_ISO_TIME}) (?<rest>\S.*)$"
#: ``tag[pid]: message`` (the tag is the app name).
_TAG = r"^(?<tag>[^\s\[\]:]{1,64})(?:\[(?<pid>[^\]\s]*)\])?:(?: (?<msg>.*))?$"
#: rest = ``host tag[pid]: message`` (``host`` may be left out).
_HOST_TAG = r"^(?<host>\S+) (?<tail>.*)$"

_LEVEL_WORDS = {"trace", "debug", "info", "notice", "warn", "warning", "error", "err", "crit", "critical", "fatal", "alert", "emerg"}
_SNIFF = [re.compile(p.replace("(?<", "(?P<")) for p in (RFC5424, RFC3164)]
_FACILITIES = (
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv", "ftp",
    "ntp", "audit", "alert", "clock", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
)
_SEVERITY_LEVEL = {0: "fatal", 1: "fatal", 2: "fatal", 3: "error", 4: "warn", 5: "info", 6: "info", 7: "debug"}
#: Header fields; message pairs of the same name are dropped.
_HEADER_ATTRS = ("host", "pid", "msgid", "facility")


def sniff(sample: list[str]) -> float:
    """Share of lines with a syslog header.

    An ISO-time line without PRI whose "host" is a level word
    (``2026-03-14T11:02:33Z ERROR api: boom``) is an app log, not syslog.

    Examples
    --------
    >>> sniff(["<34>Oct 11 22:14:15 mymachine su[123]: 'su root' failed", "Nov  2 16:14:58 web1 app[7]: ok"])
    1.0
    >>> sniff(["12:M 14 Mar 2026 11:02:33.158 * Ready"])
    0.0
    """
    if not sample:
        return 0.0
    hits = 0
    for s in sample:
        if _SNIFF[0].match(s):
            hits += 1
            continue
        m = _SNIFF[1].match(s)
        if m and not (m.group("iso") and not m.group("pri") and m.group("rest").split(" ", 1)[0].lower() in _LEVEL_WORDS):
            hits += 1
    return hits / len(sample)


def _bsd_ts(mon: pl.Expr, day: pl.Expr, hms: pl.Expr, *, options: IngestOptions) -> pl.Expr:
    """RFC 3164 month/day/time (no year) -> UTC, with the year rule."""
    month = mon.replace_strict({m: f"{i + 1:02d}" for i, m in enumerate(_MONTHS)}, default=None, return_dtype=pl.String)
    md = pl.concat_str([month, day.str.zfill(2)], separator="-")

    def at(year: int) -> pl.Expr:
        text = pl.concat_str([pl.lit(f"{year:04d}"), md], separator="-") + pl.lit("T") + hms
        return parse_timestamp(text, tz=options.tz)

    if options.default_year is not None:
        return at(options.default_year)
    now = datetime.now(timezone.utc)
    this_year = at(now.year)
    limit = pl.lit(now + timedelta(days=1), dtype=pl.Datetime("us", "UTC"))
    return pl.when(this_year > limit).then(at(now.year - 1)).otherwise(this_year)


def _nil(expr: pl.Expr) -> pl.Expr:
    return pl.when(expr == "-").then(None).otherwise(expr)


def _header_5424(part: pl.DataFrame, *, options: IngestOptions) -> pl.DataFrame:
    g = part.select("line", pl.col("text").str.extract_groups(RFC5424).alias("g")).unnest("g")
    msg = g["msg"].str.strip_prefix("\ufeff")
    return g.select(
        "line",
        pl.col("pri").cast(pl.Int32, strict=False).alias("_pri"),
        parse_timestamp(_nil(pl.col("time")), tz=options.tz).alias("_ts"),
        _nil(pl.col("app")).alias("_component"),
        pl.when(msg == "").then(None).otherwise(msg).alias("_message"),
        _nil(pl.col("sd")).alias("_sd"),
        _nil(pl.col("host")).alias("host"),
        _nil(pl.col("pid")).alias("pid"),
        _nil(pl.col("msgid")).alias("msgid"),
    )


def _header_3164(part: pl.DataFrame, *, options: IngestOptions) -> pl.DataFrame:
    g = part.select("line", pl.col("text").str.extract_groups(RFC3164).alias("g")).unnest("g")
    rest = pl.col("rest")
    # No host when the first word already is "tag:" / "tag[pid]:".
    hosted = ~rest.str.contains(r"^[^\s\[\]:]{1,64}(?:\[[^\]\s]*\])?:(?: |$)")
    g = g.with_columns(
        pl.when(hosted).then(rest.str.extract(_HOST_TAG, 1)).alias("host"),
        pl.when(hosted).then(rest.str.extract(_HOST_TAG, 2)).otherwise(rest).alias("_tail"),
    )
    tag = g.select(pl.col("_tail").str.extract_groups(_TAG).alias("t")).unnest("t")
    g = pl.concat([g, tag], how="horizontal")
    tagged = pl.col("tag").is_not_null()
    msg = pl.when(tagged).then(pl.col("msg")).otherwise(pl.col("_tail"))
    ts = pl.when(pl.col("iso").is_not_null()).then(parse_timestamp(pl.col("iso"), tz=options.tz)).otherwise(
        _bsd_ts(pl.col("mon"), pl.col("day"), pl.col("hms"), options=options)
    )
    return g.select(
        "line",
        pl.col("pri").cast(pl.Int32, strict=False).alias("_pri"),
        ts.alias("_ts"),
        pl.col("tag").alias("_component"),
        pl.when(msg == "").then(None).otherwise(msg).alias("_message"),
        pl.lit(None, dtype=pl.String).alias("_sd"),
        pl.col("host"),
        pl.when(pl.col("pid") == "").then(None).otherwise(pl.col("pid")).alias("pid"),
        pl.lit(None, dtype=pl.String).alias("msgid"),
    )


def _kv_source(head: pl.DataFrame) -> pl.DataFrame:
    """Text to pull pairs from: SD params first (they win), then the message.

    ``\\]`` in SD values becomes ``]`` (extract_kv handles ``\\"``).
    Trailing ``)``, ``,``, ``;`` and ``]`` are cut from unquoted message
    values, so ``(uid=0)`` gives ``0``.
    """
    msg = pl.col("_message").str.replace_all(r'=([^"\s]\S*?)[),;\]]+(\s|$)', "=${1}${2}")
    sd = pl.col("_sd").str.replace_all(r"\\\]", "]")  # RFC 5424 escapes "]" in values as "\]"
    return head.select("line", pl.concat_str([sd, msg], separator=" ", ignore_nulls=True).fill_null("").alias("kv"))


def parse(lines: pl.DataFrame, *, options: IngestOptions) -> ParseResult:
    """Parse syslog lines into canonical events.

    Examples
    --------
    >>> import polars as pl
    >>> from forensics.ingest.options import IngestOptions
    >>> t = ["<34>Oct 11 22:14:15 mymachine su[123]: failed user=u1", "junk"]
    >>> r = parse(pl.DataFrame({"line": [1, 2], "text": t}), options=IngestOptions(default_year=2023))
    >>> r.events.select("ts", "component", "level", "user").rows()[0][1:]
    ('su', 'fatal', 'u1')
    >>> r.rejects["reason"].to_list()
    ['no syslog header']
    """
    body, blank = split_blank(lines)
    is5424 = pl.col("text").str.contains(RFC5424)
    is3164 = ~is5424 & pl.col("text").str.contains(RFC3164)
    parts = []
    p5 = body.filter(is5424)
    p3 = body.filter(is3164)
    if p5.height:
        parts.append(_header_5424(p5, options=options))
    if p3.height:
        parts.append(_header_3164(p3, options=options))
    no_header = reject(body.filter(~is5424 & ~is3164), "no syslog header")
    if not parts:
        return ParseResult(events=empty_events().drop("source", "format"), rejects=no_header, blank_lines=blank)
    head = pl.concat(parts, how="vertical").sort("line")
    bad_pri = head.filter(pl.col("_pri") > 191).select("line")
    head = head.filter(pl.col("_pri").is_null() | (pl.col("_pri") <= 191))
    rejects = pl.concat([no_header, reject(body.join(bad_pri, on="line", how="semi"), "invalid PRI (above 191)")]).sort("line")
    head = head.with_columns(
        pl.col("_pri").floordiv(8).replace_strict(dict(enumerate(_FACILITIES)), default=None, return_dtype=pl.String).alias("facility"),
        pl.col("_pri").mod(8).replace_strict(_SEVERITY_LEVEL, default=None, return_dtype=pl.String).alias("_level"),
    )
    kv = extract_kv(_kv_source(head), "kv").sort("line")
    kv = kv.drop([c for c in kv.columns if c != "line" and (c in _HEADER_ATTRS or c.startswith("_"))])
    raw = head.select("line", *_HEADER_ATTRS).join(kv, on="line", how="left").sort("line")
    out = canonicalize(raw, options=options, skip=("ts", "component", "message")).sort("line")
    fixed = head.select(
        "line", pl.col("_ts").alias("ts"), pl.col("_component").alias("component"),
        pl.col("_message").alias("message"), "_level",
    )
    order = out.columns
    events = (
        out.drop("ts", "component", "message")
        .join(fixed, on="line", how="left")
        .with_columns(pl.coalesce(pl.col("_level"), pl.col("level")).alias("level"))
        .select(order)
        .sort("line")
    )
    return ParseResult(events=events, rejects=rejects, continuation_lines=0, blank_lines=blank)
