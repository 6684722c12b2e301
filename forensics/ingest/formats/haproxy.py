"""HAProxy's HTTP log (``option httplog``), bare or inside a syslog header.

The default HTTP log format (HAProxy 1.9 on: ``TR/Tw/Tc/Tr/Ta``; before:
``Tq/Tw/Tc/Tr/Tt``, read the same way)::

    10.0.1.2:33317 [14/Mar/2026:11:02:17.123] http-in static/srv1 10/0/30/69/109 200 2750 - - ----
        1/1/1/1/0 0/0 {api.example.com|4f6a...} {} "GET /index.html HTTP/1.1"

optionally after a syslog header: RFC 3164 (``<134>Mar 14 11:02:17 lb
haproxy[1234]: ``, with or without ``<PRI>`` and host), the ISO-time rsyslog
variant (``2026-03-14T11:02:17.123456+01:00 lb haproxy[1234]: ``) or RFC 5424
(``<134>1 2026-03-14T11:02:17.123Z lb haproxy 1234 - - ``).  The TCP log
(``option tcplog``: ``Tw/Tc/Tt``, no status and no request) is read too.

Canonical columns: ``ts`` from ``accept_date`` (milliseconds kept; it has
no zone: read in ``--tz``), ``status`` (``-1``, no response, is null),
``latency_ms`` = ``Ta`` (``Tt`` before 1.9), the total time in milliseconds
(``-1``, aborted, is null), ``component`` = the backend, ``action`` =
``METHOD /route`` (ids masked, query dropped), ``message`` = the request line,
``request_id`` = the first captured header value (request headers first,
then response headers) that looks like a request id: it has a digit and is a
UUID, an X-Ray ``Root=1-...`` id, a hex token of 16+ characters (``-``,
``:``, ``_`` allowed: HAProxy's own ``unique-id``), or a token of 20+
letters, digits, ``-`` and ``_`` with both upper and lower case (a host name
has dots, a user agent spaces).  ``level`` from the status (5xx
error, 4xx warn, else info); without one, from the termination state: a
server-side end (``S``/``s`` first) is an error, a client-side one
(``C``/``c``) a warning.  ``attrs``: ``remote_addr``, ``client_port``,
``frontend``, ``server``, the other timers (``t_request_ms``,
``t_queue_ms``, ``t_connect_ms``, ``t_response_ms``; ``-1`` kept: that step
did not happen), ``bytes``, ``termination_state``, the connection counts and
queues, the captured cookies and headers as written, ``method``, ``path``,
``protocol``, and the syslog ``host`` and ``pid``.

A line whose syslog header is readable but whose message is not an HTTP or
TCP log (``Server web/web2 is DOWN, reason: Layer4 timeout``, ``Proxy
http-in started.``) is an event too: ``component`` = the syslog tag,
``message`` = the text, ``ts`` from the syslog header (an RFC 3164 time has
no year: ``IngestOptions.default_year``, else the current UTC year, moved back a year
when more than a day in the future), ``level`` from the PRI severity; without
a PRI, a server going ``DOWN`` or a backend left with ``no server available``
is an error, any other message info.  Other lines are malformed, and so is a
message that starts like an HTTP log line but does not match one (cut short).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import polars as pl

from ..normalize import parse_timestamp, select_rows
from ..options import IngestOptions
from .base import ParseResult, reject, split_blank
from .http_fields import (
    assemble, found_fields, level_from_status, localize, nil, nil_request, no_events, route_actions, route_of,
    split_request,
)

NAME = "haproxy"
DESCRIPTION = "HAProxy HTTP (and TCP) log, bare or inside a syslog header"
CONTINUATION_LINES = False
#: An HTTP access log: sessions by client, request rows as actions (formats.access_formats).
ACCESS_LOG = True
EXAMPLE = ('<134>Mar 14 11:02:17 lb1 haproxy[2291]: 10.0.1.2:33317 [14/Mar/2026:11:02:17.123] http-in '
           'api/srv1 10/0/30/69/109 200 2750 - - ---- 1/1/1/1/0 0/0 {api.example.com} {} "GET /orders/42 HTTP/1.1"')

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_BSD = r"(?<mon>" + "|".join(_MONTHS) + r") {1,2}(?<day>\d{1,2}) (?<hms>\d{2}:\d{2}:\d{2})"
_ISO = r"(?<iso>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:?\d{2}))"
#: An optional syslog header (RFC 5424, RFC 3164 or ISO time).
HEADER = (
    r"^(?:<(?<pri>\d{1,3})>)?"
    r"(?:1 (?<iso5424>\S+) (?<host5424>\S+) (?<app5424>\S+) (?<pid5424>\S+) \S+ (?:-|(?:\[(?:[^\]\\]|\\.)*\])+) "
    rf"|(?:{_BSD}|{_ISO}) (?:(?<host>\S+) )?(?<tag>[^\s\[\]:]+)(?:\[(?<pid>\d*)\])?: )?"
)
#: The header and the message.
ENVELOPE = HEADER + r"(?<body>.*)$"
#: The header as one group (capturing the short header, not the long message, is what is fast).
_PREFIX = "^(" + re.sub(r"\(\?<\w+>", "(?:", HEADER[1:]) + ")"
_HEAD = (
    r"^(?<client>\S+):(?<cport>\d+) \[(?<accept>\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?)\] "
    r"(?<frontend>\S+) (?<backend>[^\s/]+)/(?<server>\S+) "
)
_CONN = (r"(?<actconn>\d+)/(?<feconn>\d+)/(?<beconn>\d+)/(?<srv_conn>\d+)/(?<retries>\+?\d+) "
         r"(?<srv_queue>\d+)/(?<backend_queue>\d+)")
#: The HTTP log (after any syslog header).
HTTP_LOG = (
    _HEAD + r"(?<t_request>-?\d+)/(?<t_queue>-?\d+)/(?<t_connect>-?\d+)/(?<t_response>-?\d+)/(?<t_total>\+?-?\d+) "
    r"(?<status>-?\d{1,3}) (?<bytes>\+?\d+) (?<req_cookie>\S+) (?<resp_cookie>\S+) (?<term>[A-Za-z-]{4}) "
    + _CONN + r'(?: \{(?<hdr_req>[^}"]*)\})?(?: \{(?<hdr_resp>[^}"]*)\})?'
    r' "(?<request>[^"]*)"?$'
)
#: The TCP log (``option tcplog``).
TCP_LOG = (_HEAD + r"(?<t_queue>-?\d+)/(?<t_connect>-?\d+)/(?<t_total>\+?-?\d+) (?<bytes>\+?\d+) "
           r"(?<term>[A-Za-z-]{2}) " + _CONN + "$")
#: A captured header value that is a request id (see the module docstring):
#: a UUID, an X-Ray id, a hex token ...
REQUEST_ID = (
    r"^(?:[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
    r"|Root=1-[0-9A-Fa-f]{8}-[0-9A-Fa-f]{24}\S*"
    r"|[0-9A-Fa-f][0-9A-Fa-f:_-]{14,}[0-9A-Fa-f])$"
)
#: ... or a token of letters and digits with both cases and a digit.
REQUEST_TOKEN = r"^[A-Za-z0-9_-]{20,128}$"
_REASON = ("not an HAProxy log line: expected `client:port [accept_date] frontend backend/server "
           "TR/Tw/Tc/Tr/Ta status bytes cookie cookie termination_state actconn/feconn/beconn/srv_conn/retries "
           'srv_queue/backend_queue {headers} "request"` (16 fields, after an optional syslog header), found ')
#: The start of an HTTP/TCP log line (``client:port [accept_date]``).
_LOG_START = r"^\S+:\d+ \[\d{2}/[A-Z][a-z]{2}/\d{4}:"
_DOWN = r"\bis DOWN\b|no server available"
_SEVERITY = {0: "fatal", 1: "fatal", 2: "fatal", 3: "error", 4: "warn", 5: "info", 6: "info", 7: "debug"}
_RE = [re.compile(p.replace("(?<", "(?P<")) for p in (ENVELOPE, HTTP_LOG, TCP_LOG)]


def sniff(sample: list[str]) -> float:
    """Share of lines that are HAProxy logs: HTTP or TCP log lines (bare or
    in a syslog header) and other messages tagged ``haproxy``; 0 without a
    single HTTP or TCP log line.  When those are at least half of the
    sample, the other syslog lines count too (they are read as events
    here): a ``haproxy.log`` with a few lines of other programs is HAProxy's,
    not plain syslog.

    Examples
    --------
    >>> sniff([EXAMPLE, "<129>Mar 14 11:02:20 lb1 haproxy[2291]: Server api/srv2 is DOWN."])
    1.0
    >>> sniff(["<34>Oct 11 22:14:15 mymachine su[123]: 'su root' failed"])
    0.0
    """
    logs = tagged = other = 0
    for s in sample:
        env = _RE[0].match(s)
        body = env.group("body") if env else s
        if _RE[1].match(body) or _RE[2].match(body):
            logs += 1
        elif env and (env.group("tag") or env.group("app5424")):
            if (env.group("tag") or env.group("app5424")).lower() == "haproxy":
                tagged += 1
            else:
                other += 1
    if not logs:
        return 0.0
    ours = logs + tagged
    return (ours + (other if 2 * ours >= len(sample) else 0)) / len(sample)


def _bsd_ts(mon: pl.Expr, day: pl.Expr, hms: pl.Expr, *, options: IngestOptions) -> pl.Expr:
    """RFC 3164 month/day/time (no year) -> UTC, with the year rule."""
    month = mon.replace_strict({m: f"{i + 1:02d}" for i, m in enumerate(_MONTHS)}, default=None, return_dtype=pl.String)
    tail = pl.concat_str([month, day.str.zfill(2)], separator="-") + pl.lit(" ") + hms

    def at(year: int) -> pl.Expr:
        naive = (pl.lit(f"{year:04d}-") + tail).str.to_datetime("%Y-%m-%d %H:%M:%S", strict=False, time_unit="us")
        return localize(naive, options.tz)

    if options.default_year is not None:
        return at(options.default_year)
    now = datetime.now(timezone.utc)
    limit = pl.lit(now + timedelta(days=1), dtype=pl.Datetime("us", "UTC"))
    return pl.when(at(now.year) > limit).then(at(now.year - 1)).otherwise(at(now.year))


def _envelope(g: pl.DataFrame) -> pl.DataFrame:
    """``_host``, ``_pid``, ``_tag``, ``_pri`` of the syslog header (null without one)."""
    return g.select(
        pl.coalesce(nil(pl.col("host5424")), pl.col("host")).alias("_host"),
        pl.coalesce(nil(pl.col("pid5424")), nil(pl.col("pid"))).alias("_pid"),
        pl.coalesce(nil(pl.col("app5424")), pl.col("tag")).alias("_tag"),
        pl.col("pri").cast(pl.Int32, strict=False).alias("_pri"),
    )


def _request_id(g: pl.DataFrame) -> pl.Expr:
    """The first id-like captured header value (request block, then response block)."""
    def first_id(block: str) -> pl.Expr:
        vals = pl.col(block).str.split("|").list.eval(
            pl.when(pl.element().str.contains(r"\d")
                    & (pl.element().str.contains(REQUEST_ID)
                       | (pl.element().str.contains(REQUEST_TOKEN) & pl.element().str.contains("[a-z]")
                          & pl.element().str.contains("[A-Z]"))))
            .then(pl.element())
        )
        return vals.list.drop_nulls().list.first()

    return pl.coalesce(first_id("hdr_req"), first_id("hdr_resp"))


def _log_frames(g: pl.DataFrame, *, options: IngestOptions) -> tuple[pl.DataFrame, pl.DataFrame]:
    """HTTP/TCP log rows -> (raw fields for ``attrs``, canonical columns)."""
    req = g.select(split_request(pl.col("request")).alias("r")).unnest("r")
    g = pl.concat([g, req, _envelope(g)], how="horizontal").with_columns(route_of(pl.col("target")).alias("_route"))
    ms = {t: f"{t}_ms" for t in ("t_request", "t_queue", "t_connect", "t_response")}
    raw = g.select(
        "line",
        nil(pl.col("client")).alias("remote_addr"), pl.col("cport").cast(pl.Int32, strict=False).alias("client_port"),
        "frontend", "server",
        *[pl.col(k).cast(pl.Int64, strict=False).alias(v) for k, v in ms.items()],
        pl.col("bytes").str.strip_prefix("+").cast(pl.Int64, strict=False).alias("bytes"),
        pl.col("term").alias("termination_state"),
        *[pl.col(c).str.strip_prefix("+").cast(pl.Int64, strict=False)
          for c in ("actconn", "feconn", "beconn", "srv_conn", "retries", "srv_queue", "backend_queue")],
        nil(pl.col("req_cookie")).alias("captured_request_cookie"),
        nil(pl.col("resp_cookie")).alias("captured_response_cookie"),
        nil(pl.col("hdr_req")).alias("captured_request_headers"),
        nil(pl.col("hdr_resp")).alias("captured_response_headers"),
        "method", pl.col("target").alias("path"), "protocol",
        pl.col("_host").alias("host"), pl.col("_pid").alias("pid"),
    )
    status = pl.col("status").cast(pl.Int32, strict=False)
    status = pl.when(status >= 0).then(status)
    total = pl.col("t_total").str.strip_prefix("+").cast(pl.Float64, strict=False)
    side = pl.col("term").str.slice(0, 1)
    accept = pl.col("accept").str.to_datetime("%d/%b/%Y:%H:%M:%S%.f", strict=False, time_unit="us")
    fixed = g.select(
        localize(accept, options.tz).alias("ts"),
        status.alias("status"),
        pl.when(status.is_not_null()).then(level_from_status(status))
        .when(side.is_in(["S", "s"])).then(pl.lit("error"))
        .when(side.is_in(["C", "c"])).then(pl.lit("warn"))
        .otherwise(pl.lit("info")).alias("level"),
        pl.when(total >= 0).then(total).alias("latency_ms"),
        pl.lit(route_actions(g, "method", "_route")).alias("action"),
        nil_request(pl.col("request")).alias("message"),
        _request_id(g).alias("request_id"),
        pl.col("backend").alias("component"),
    )
    return raw, fixed


def _message_frames(g: pl.DataFrame, *, options: IngestOptions) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Syslog messages that are not HTTP/TCP logs -> (raw, canonical)."""
    env = _envelope(g)
    g = pl.concat([g, env], how="horizontal")
    iso = pl.coalesce(pl.col("iso5424"), pl.col("iso"))
    ts = pl.when(iso.is_not_null()).then(parse_timestamp(iso, tz=options.tz)).otherwise(
        _bsd_ts(pl.col("mon"), pl.col("day"), pl.col("hms"), options=options))
    word = pl.when(pl.col("body").str.contains(_DOWN)).then(pl.lit("error")).otherwise(pl.lit("info"))
    fixed = g.select(
        ts.alias("ts"),
        pl.when(pl.col("_pri").is_not_null())
        .then(pl.col("_pri").mod(8).replace_strict(_SEVERITY, default=None, return_dtype=pl.String))
        .otherwise(word).alias("level"),
        nil(pl.col("body")).alias("message"),
        pl.col("_tag").alias("component"),
    )
    return g.select("line", pl.col("_host").alias("host"), pl.col("_pid").alias("pid")), fixed


def _http_columns(b: pl.DataFrame) -> pl.DataFrame:
    """The fields of HTTP log lines (``_body`` matched :data:`HTTP_LOG`): the
    first twelve have no space, so a split gives them; the captured headers
    and the request are the rest."""
    f = b.select(pl.col("_body").str.splitn(" ", 13).alias("f")).unnest("f")
    f.columns = [f"f{i}" for i in range(f.width)]
    timers = pl.col("f4").str.split("/")
    # the rest: ``{request headers} {response headers} "request"`` (blocks optional; HAProxy
    # escapes quotes and braces inside them)
    rest = pl.col("f12")
    quote = rest.str.find('"', literal=True)
    blocks = rest.str.slice(0, quote).str.strip_chars_end(" ")
    blocks = pl.when(blocks != "").then(blocks.str.strip_prefix("{").str.strip_suffix("}").str.split("} {"))
    tail = f.select(blocks.list.get(0, null_on_oob=True).alias("hdr_req"),
                    blocks.list.get(1, null_on_oob=True).alias("hdr_resp"),
                    rest.str.slice(quote + 1).str.strip_suffix('"').alias("request"))
    cols = f.select(
        *_common_columns(),
        *[timers.list.get(i).alias(n) for i, n in enumerate(("t_request", "t_queue", "t_connect", "t_response",
                                                             "t_total"))],
        pl.col("f5").alias("status"), pl.col("f6").alias("bytes"), pl.col("f7").alias("req_cookie"),
        pl.col("f8").alias("resp_cookie"), pl.col("f9").alias("term"), *_conn_columns("f10", "f11"),
    )
    return pl.concat([b.drop("_body"), cols, tail], how="horizontal")


def _tcp_columns(b: pl.DataFrame) -> pl.DataFrame:
    """The fields of TCP log lines (``_body`` matched :data:`TCP_LOG`): no spaces in any."""
    f = b.select(pl.col("_body").str.splitn(" ", 9).alias("f")).unnest("f")
    f.columns = [f"f{i}" for i in range(f.width)]
    timers = pl.col("f4").str.split("/")
    cols = f.select(
        *_common_columns(),
        *[timers.list.get(i).alias(n) for i, n in enumerate(("t_queue", "t_connect", "t_total"))],
        pl.col("f5").alias("bytes"), pl.col("f6").alias("term"), *_conn_columns("f7", "f8"),
        *[pl.lit(None, dtype=pl.String).alias(c) for c in ("t_request", "t_response", "status", "req_cookie",
                                                           "resp_cookie", "hdr_req", "hdr_resp", "request")],
    )
    return pl.concat([b.drop("_body"), cols], how="horizontal")


def _common_columns() -> list[pl.Expr]:
    """``client:port [accept_date] frontend backend/server`` (fields 0-3)."""
    return [
        pl.col("f0").str.replace(r":\d+$", "").alias("client"), pl.col("f0").str.extract(r":(\d+)$", 1).alias("cport"),
        pl.col("f1").str.strip_chars("[]").alias("accept"), pl.col("f2").alias("frontend"),
        pl.col("f3").str.extract(r"^([^/]*)/", 1).alias("backend"),
        pl.col("f3").str.replace(r"^[^/]*/", "").alias("server"),
    ]


def _conn_columns(conns: str, queues: str) -> list[pl.Expr]:
    c, q = pl.col(conns).str.split("/"), pl.col(queues).str.split("/")
    names = ("actconn", "feconn", "beconn", "srv_conn", "retries")
    return [*[c.list.get(i).alias(n) for i, n in enumerate(names)],
            q.list.get(0).alias("srv_queue"), q.list.get(1).alias("backend_queue")]


def _split(body: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(HTTP log fields, TCP log fields, other syslog messages, unreadable lines)."""
    prefix = pl.col("text").str.extract(_PREFIX, 1)
    lines = select_rows(body, "line", "text", pl.col("text").str.slice(prefix.str.len_chars()).alias("_body"),
                        pl.when(prefix != "").then(prefix).alias("_prefix"))
    env = lines.select(pl.col("_prefix").str.extract_groups(HEADER).alias("e")).unnest("e")
    lines = pl.concat([lines.drop("_prefix"), env], how="horizontal")
    kind = select_rows(lines, pl.when(pl.col("_body").str.contains(HTTP_LOG)).then(pl.lit("http"))
                       .when(pl.col("_body").str.contains(TCP_LOG)).then(pl.lit("tcp")).alias("_kind"))
    lines = lines.with_columns(kind.to_series())
    http = _http_columns(lines.filter(pl.col("_kind") == "http").drop("_kind"))
    tcp = _tcp_columns(lines.filter(pl.col("_kind") == "tcp").drop("_kind"))
    rest = lines.filter(pl.col("_kind").is_null()).rename({"_body": "body"})
    # a message that starts like a log line but does not match is a cut or damaged log line
    tagged = pl.col("tag").is_not_null() | pl.col("app5424").is_not_null()
    has_header = tagged & ~pl.col("body").str.contains(_LOG_START)
    return http, tcp, rest.filter(has_header), rest.filter(~has_header).select("line", "text")


def parse(lines: pl.DataFrame, *, options: IngestOptions) -> ParseResult:
    """Parse HAProxy log lines into canonical events.

    Examples
    --------
    >>> import polars as pl
    >>> from forensics.ingest.options import IngestOptions
    >>> r = parse(pl.DataFrame({"line": [1], "text": [EXAMPLE]}), options=IngestOptions())
    >>> r.events.select("status", "action", "latency_ms", "component").row(0)
    (200, 'GET /orders/{id}', 109.0, 'api')
    """
    body, blank = split_blank(lines)
    http, tcp, messages, bad = _split(body)
    rejects = reject(bad, pl.lit(_REASON) + found_fields(pl.col("text")))
    parts = []
    for frame in (http, tcp):
        if frame.height:
            parts.append(_log_frames(frame, options=options))
    if messages.height:
        parts.append(_message_frames(messages, options=options))
    if not parts:
        return no_events(rejects, blank)
    events = pl.concat([assemble(raw, fixed, options=options) for raw, fixed in parts])
    if len(parts) > 1:
        events = events.sort("line")
    return ParseResult(events=events, rejects=rejects, continuation_lines=0, blank_lines=blank)
