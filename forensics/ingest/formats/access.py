"""Web access logs: nginx/Apache "combined" and "common" formats.

``1.2.3.4 - alice [10/Oct/2000:13:55:36 -0700] "GET /x?y=1 HTTP/1.1" 200 2326 "http://ref/" "Mozilla/5.0"``

optionally followed by more quoted fields (e.g. ``"$http_x_forwarded_for"``,
kept in ``attrs.extra``) and by ``key=value`` extras (``rt=0.023 rid=abc
uid=u7 sid=s1``) that go through the usual aliases.

Canonical columns: ``ts`` (the bracketed time), ``status``, ``action`` =
``METHOD /route`` (ids masked, query dropped, ``http://host`` of proxy-style
targets dropped), ``user`` (a ``uid``/``user_id``/... extra, else the
remote user unless ``-``), ``latency_ms`` (``rt``/``request_time`` in seconds,
``ms``/``duration_ms`` in ms), ``request_id`` and ``session`` from extras,
``message`` = the request line as logged, ``level`` from the status (5xx
error, 4xx warn, else info).  ``attrs`` always uses the names
``remote_addr``, ``user_agent``, ``referer``, ``bytes`` (integer),
``method``, ``path`` (with query), ``protocol``; ``"-"`` becomes null.

A request line that is not ``METHOD target [PROTOCOL]`` (``"-"`` from
scanners, TLS bytes sent to a plain-HTTP port) still makes an event when the
rest of the line matches: method, path, protocol and action are null and the
raw request stays in ``message``.  Lines that do not match as a whole
(truncated lines, other layouts) are malformed.
"""

from __future__ import annotations

import re

import polars as pl

from ...schema import empty_events
from ..normalize import canonicalize, extract_kv, parse_timestamp_series, route_action
from ..options import IngestOptions
from .base import ParseResult, reject, split_blank

NAME = "access"
DESCRIPTION = "nginx/Apache access logs (combined/common, optional key=value extras)"

_Q = r'"((?:[^"\\]|\\.)*)"'
_QNC = r'"(?:[^"\\]|\\.)*"'
#: The whole line, one vectorized match.
LINE_PATTERN = (
    r"^\s*(?<remote_addr>\S+) (?<ident>\S+) (?<remote_user>\S+) \[(?<time>[^\]]+)\] "
    rf'"(?<request>(?:[^"\\]|\\.)*)" (?<status>\d{{3}}|-) (?<bytes>\d+|-)'
    rf'(?: "(?<referer>(?:[^"\\]|\\.)*)" "(?<user_agent>(?:[^"\\]|\\.)*)")?'
    rf"(?<extra>(?: +{_QNC})*)"
    rf'(?<kv>(?: +[A-Za-z_][\w.\-]*=(?:{_QNC}|\S*))*) *$'
)
#: The same layout for lines without escaped quotes: much faster to match.
SIMPLE_PATTERN = (
    LINE_PATTERN.replace(r'(?:[^"\\]|\\.)*', '[^"]*').replace(_QNC, '"[^"]*"')
)
_REQUEST = r"^(?<method>[A-Z][A-Z_-]*) (?<target>\S+)(?: (?<protocol>[A-Za-z]+/[\d.]+))?$"
_LINE_RE = re.compile(LINE_PATTERN.replace("(?<", "(?P<"))
_ATTR_NAMES = ("remote_addr", "user_agent", "referer", "bytes", "method", "path", "protocol", "extra")


def sniff(sample: list[str]) -> float:
    """Share of lines that match the access-log layout.

    Examples
    --------
    >>> sniff(['1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200 12 "-" "curl/8"'])
    1.0
    """
    if not sample:
        return 0.0
    return sum(1 for s in sample if _LINE_RE.match(s)) / len(sample)


def _nil(expr: pl.Expr) -> pl.Expr:
    return pl.when(expr == "-").then(None).otherwise(expr)


def _unescape(expr: pl.Expr) -> pl.Expr:
    """Apache writes ``\\"`` and ``\\\\`` inside quoted fields."""
    return expr.str.replace_all(r'\\(["\\])', "${1}")


def _extra(expr: pl.Expr) -> pl.Expr:
    """More quoted fields after the user agent: their contents joined by a
    space, ``"-"`` ones left out; null when none is left."""
    parts = expr.str.extract_all(_QNC).list.eval(
        _unescape(pl.element().str.slice(1, pl.element().str.len_chars() - 2))
    ).list.filter(pl.element() != "-")
    return pl.when(parts.list.len() > 0).then(parts.list.join(" ")).otherwise(None)


def _groups(body: pl.DataFrame) -> pl.DataFrame:
    """``line`` plus the named groups of the line pattern (null row = no match).

    Lines without a backslash go through the simpler (faster) pattern."""
    esc = pl.col("text").str.contains("\\", literal=True)
    plain = body.filter(~esc).select("line", pl.col("text").str.extract_groups(SIMPLE_PATTERN).alias("g")).unnest("g")
    hard = body.filter(esc)
    if hard.height:
        full = hard.select("line", pl.col("text").str.extract_groups(LINE_PATTERN).alias("g")).unnest("g")
        plain = pl.concat([plain, full]).sort("line")
    return plain


def _fields(g: pl.DataFrame) -> pl.DataFrame:
    """Regex groups -> typed header columns (``line`` plus ``_``-prefixed names)."""
    req = g.select(pl.col("request").str.extract_groups(_REQUEST).alias("r")).unnest("r")
    g = pl.concat([g, req], how="horizontal")
    target = pl.col("target")
    route = target.str.replace(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/]*", "")
    route = pl.when(route == "").then(pl.lit("/")).otherwise(route)
    return g.select(
        "line",
        pl.lit(parse_timestamp_series(g.get_column("time"))).alias("_ts"),
        pl.col("status").cast(pl.Int32, strict=False).alias("_status"),
        _nil(pl.col("remote_user")).alias("_remote_user"),
        route_action(pl.col("method"), route).alias("_action"),
        _nil(_unescape(pl.col("request"))).alias("_message"),
        _nil(pl.col("remote_addr")).alias("remote_addr"),
        _nil(_unescape(pl.col("user_agent"))).alias("user_agent"),
        _nil(_unescape(pl.col("referer"))).alias("referer"),
        pl.col("bytes").cast(pl.Int64, strict=False).alias("bytes"),
        pl.col("method"),
        target.alias("path"),
        pl.col("protocol"),
        _extra(pl.col("extra")).alias("extra"),
        pl.col("kv"),
    )


def parse(lines: pl.DataFrame, *, options: IngestOptions) -> ParseResult:
    """Parse access-log lines into canonical events.

    Examples
    --------
    >>> import polars as pl
    >>> from forensics.ingest.options import IngestOptions
    >>> t = '1.2.3.4 - bob [10/Oct/2000:13:55:36 -0700] "GET /c/123?x=1 HTTP/1.1" 503 0 "-" "ua" rt=0.5'
    >>> e = parse(pl.DataFrame({"line": [1], "text": [t]}), options=IngestOptions()).events
    >>> e.select("user", "action", "status", "level", "latency_ms").row(0)
    ('bob', 'GET /c/{id}', 503, 'error', 500.0)
    """
    body, blank = split_blank(lines)
    groups = _groups(body)
    matched = groups.filter(pl.col("remote_addr").is_not_null())
    bad = body.join(matched.select("line"), on="line", how="anti")
    rejects = reject(bad, "not an access log line (or truncated)")
    if matched.height == 0:
        events = empty_events().drop("source", "format")
        return ParseResult(events=events, rejects=rejects.sort("line"), continuation_lines=0, blank_lines=blank)
    head = _fields(matched).sort("line")
    kv = extract_kv(head.select("line", pl.col("kv").fill_null("")), "kv").sort("line")
    # Header fields win over extras of the same name.
    kv = kv.drop([c for c in kv.columns if c != "line" and (c in _ATTR_NAMES or c.startswith("_"))])
    raw = head.select("line", *_ATTR_NAMES).join(kv, on="line", how="left").sort("line")
    out = canonicalize(raw, options=options, skip=("ts", "status", "action", "message", "level")).sort("line")
    fixed = head.select(
        "line",
        pl.col("_ts").alias("ts"),
        pl.col("_status").alias("status"),
        pl.col("_action").alias("action"),
        pl.col("_message").alias("message"),
        pl.when(pl.col("_status") >= 500).then(pl.lit("error"))
        .when(pl.col("_status") >= 400).then(pl.lit("warn"))
        .when(pl.col("_status").is_not_null()).then(pl.lit("info"))
        .alias("level"),
        "_remote_user",
    )
    order = out.columns
    events = (
        out.drop("ts", "status", "action", "message", "level")
        .join(fixed, on="line", how="left")
        .with_columns(pl.coalesce(pl.col("user"), pl.col("_remote_user")).alias("user"))
        .select(order)
        .sort("line")
    )
    return ParseResult(events=events, rejects=rejects.sort("line"), continuation_lines=0, blank_lines=blank)
