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
from ..normalize import canonicalize, extract_kv, parse_timestamp_series, select_rows
from ..routes import mask_route
from ..options import IngestOptions
from .base import ParseResult, empty_rejects, reject, split_blank

NAME = "access"
DESCRIPTION = "nginx/Apache access logs (combined/common, optional key=value extras)"
EXAMPLE = '203.0.113.7 - u1 [02/Nov/2023:16:10:01 +0000] "POST /login HTTP/1.1" 302 0 "-" "Mozilla/5.0" rt=0.031 rid=req-0001'
CONTINUATION_LINES = False
#: An HTTP access log: sessions by client, request rows as actions (formats.access_formats).
ACCESS_LOG = True

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
#: The commonest layout (combined, ``METHOD /path PROTOCOL``, no backslash,
#: plain ``key=value`` extras) as one unambiguous (fast) match; on the lines
#: it matches it gives the same groups as :data:`LINE_PATTERN`.
FAST_PATTERN = (
    r"^(?<remote_addr>\S+) \S+ (?<remote_user>\S+) \[(?<time>[^\]]+)\] "
    r'"(?<request>(?<method>[A-Z][A-Z_-]*) (?<target>/[^\s"\\]*) (?<protocol>[A-Za-z]+/[\d.]+))" '
    r'(?<status>\d{3}) (?<bytes>\d+|-) "(?<referer>[^"\\]*)" "(?<user_agent>[^"\\]*)"'
    r'(?<kv>(?: [A-Za-z_][\w.\-]*=[^\s"\\]*)*)$'
)
#: Below this share of the first lines matching it, FAST_PATTERN is not tried.
FAST_MIN_SHARE = 0.5
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
    """Regex groups -> typed header columns (``line``, ``time`` plus
    ``_``-prefixed and attrs names); ``_action`` holds the masked route only."""
    req = g.select(pl.col("request").str.extract_groups(_REQUEST).alias("r")).unnest("r")
    g = pl.concat([g, req], how="horizontal")
    target = pl.col("target")
    route = target.str.replace(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/]*", "")
    route = pl.when(route == "").then(pl.lit("/")).otherwise(route)
    return g.select(
        "line",
        "time",
        pl.col("status").cast(pl.Int32, strict=False).alias("_status"),
        _nil(pl.col("remote_user")).alias("_remote_user"),
        route.alias("_action"),
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


def _fast_fields(g: pl.DataFrame) -> pl.DataFrame:
    """:func:`_fields` for lines matched by :data:`FAST_PATTERN` (nothing to
    unescape, no extra quoted fields, the target is already a route)."""
    return g.select(
        "line",
        "time",
        pl.col("status").cast(pl.Int32).alias("_status"),
        _nil(pl.col("remote_user")).alias("_remote_user"),
        pl.col("target").alias("_action"),
        pl.col("request").alias("_message"),
        _nil(pl.col("remote_addr")).alias("remote_addr"),
        _nil(pl.col("user_agent")).alias("user_agent"),
        _nil(pl.col("referer")).alias("referer"),
        pl.col("bytes").cast(pl.Int64, strict=False).alias("bytes"),
        pl.col("method"),
        pl.col("target").alias("path"),
        pl.col("protocol"),
        pl.lit(None, dtype=pl.String).alias("extra"),
        pl.col("kv"),
    )


def _actions(head: pl.DataFrame) -> pl.Series:
    """``METHOD /route`` (see :func:`~forensics.ingest.routes.route_action`),
    masking each distinct route once."""
    routes = head.select(pl.col("_action").unique())
    if routes.height * 4 > head.height:
        masked = head.select(mask_route(pl.col("_action")).alias("_masked"))
    else:
        table = routes.drop_nulls().with_columns(mask_route(pl.col("_action")).alias("_masked"))
        masked = head.select("_action").join(table, on="_action", how="left", maintain_order="left")
    both = pl.concat([head.select("method"), masked.select("_masked")], how="horizontal")
    return both.select(pl.concat_str(["method", "_masked"], separator=" ").alias("_action")).to_series()


def _split(lines: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """Matched lines as header columns (in line order), rejects, blank count.

    :data:`FAST_PATTERN` is tried first unless it fits less than
    :data:`FAST_MIN_SHARE` of the first lines (another layout: it would only
    cost time)."""
    probe = lines.head(1000).get_column("text").str.contains(FAST_PATTERN).mean()
    parts, rest = [], lines
    if probe is not None and probe >= FAST_MIN_SHARE:
        g = select_rows(lines, "line", pl.col("text").str.extract_groups(FAST_PATTERN).alias("g")).unnest("g")
        hit = g.get_column("remote_addr").is_not_null()
        if hit.all():
            return _fast_fields(g), empty_rejects(), 0
        parts.append(_fast_fields(g.filter(hit)))
        rest = lines.filter(~hit)
    body, blank = split_blank(rest)
    groups = _groups(body)
    matched = groups.filter(pl.col("remote_addr").is_not_null())
    bad = body.join(matched.select("line"), on="line", how="anti")
    rejects = reject(bad, "not an access log line (or truncated)").sort("line")
    parts.append(_fields(matched))
    head = pl.concat(parts).sort("line") if len(parts) > 1 and matched.height else parts[0]
    return head, rejects, blank


def parse(lines: pl.DataFrame, *, options: IngestOptions) -> ParseResult:
    """Parse access-log lines into canonical events.

    Lines of the common layout take one fast regex (:data:`FAST_PATTERN`);
    the others go through :data:`LINE_PATTERN`, with the same result.

    Examples
    --------
    >>> import polars as pl
    >>> from forensics.ingest.options import IngestOptions
    >>> t = '1.2.3.4 - bob [10/Oct/2000:13:55:36 -0700] "GET /c/123?x=1 HTTP/1.1" 503 0 "-" "ua" rt=0.5'
    >>> e = parse(pl.DataFrame({"line": [1], "text": [t]}), options=IngestOptions()).events
    >>> e.select("user", "action", "status", "level", "latency_ms").row(0)
    ('bob', 'GET /c/{id}', 503, 'error', 500.0)
    """
    head, rejects, blank = _split(lines)
    if head.height == 0:
        events = empty_events().drop("source", "format")
        return ParseResult(events=events, rejects=rejects, continuation_lines=0, blank_lines=blank)
    kv = extract_kv(head.select("line", pl.col("kv").fill_null("")), "kv")
    # Header fields win over extras of the same name.
    kv = kv.drop([c for c in kv.columns if c != "line" and (c in _ATTR_NAMES or c.startswith("_"))])
    if not kv.get_column("line").is_sorted():
        kv = kv.sort("line")
    # Same lines in the same order: columns side by side instead of joins.
    raw = pl.concat([head.select("line", *_ATTR_NAMES), kv.drop("line")], how="horizontal")
    out = canonicalize(raw, options=options, skip=("ts", "status", "action", "message", "level"))
    fixed = head.select(
        pl.lit(parse_timestamp_series(head.get_column("time"))).alias("ts"),
        pl.col("_status").alias("status"),
        pl.lit(_actions(head)).alias("action"),
        pl.col("_message").alias("message"),
        pl.when(pl.col("_status") >= 500).then(pl.lit("error"))
        .when(pl.col("_status") >= 400).then(pl.lit("warn"))
        .when(pl.col("_status").is_not_null()).then(pl.lit("info"))
        .alias("level"),
        "_remote_user",
    )
    order = out.columns
    events = (
        pl.concat([out.drop("ts", "status", "action", "message", "level"), fixed], how="horizontal")
        .with_columns(pl.coalesce(pl.col("user"), pl.col("_remote_user")).alias("user"))
        .select(order)
    )
    return ParseResult(events=events, rejects=rejects, continuation_lines=0, blank_lines=blank)
