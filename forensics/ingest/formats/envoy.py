"""Envoy's default access log and Istio's (the sidecar's text access log).

Envoy's default format string::

    [%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%"
    %RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION%
    %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%"
    "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"

Istio (1.8 on) inserts ``%RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS%
"%UPSTREAM_TRANSPORT_FAILURE_REASON%"`` after the flags and appends
``%UPSTREAM_CLUSTER% %UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS%
%DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME% %ROUTE_NAME%``; those get
their names in ``attrs``.  Any other fields between the flags and the byte
counts, or after the upstream host, are kept as written in
``attrs.extra_after_flags`` / ``attrs.extra``.

Canonical columns: ``ts`` (START_TIME, milliseconds kept), ``status``
(RESPONSE_CODE; ``0``, "no response sent", is kept as 0; ``-`` for TCP is
null), ``latency_ms`` (DURATION, already milliseconds), ``request_id``
(X-REQUEST-ID), ``action`` = ``METHOD /route`` (ids masked, query dropped),
``message`` = the request line, ``level`` from the status (5xx error, 4xx
warn); without a status (0 or ``-``) from the flags: an upstream or local
failure (``UH UF UO UT UR UC URX LR LH NC UMSDR UPE``) is an error, a
downstream one (``DC DT DPE SI``) a warning, else info.  ``attrs``: the
access-log names ``remote_addr`` (the first X-Forwarded-For address, else
the downstream remote address), ``user_agent``, ``method``, ``path``,
``protocol``, plus ``response_flags``, ``bytes_received``, ``bytes_sent``,
``upstream_service_time_ms``, ``x_forwarded_for``, ``authority``,
``upstream_host``; ``-`` is null.

Lines that do not have the default layout are malformed.
"""

from __future__ import annotations

import re

import polars as pl

from ..normalize import parse_timestamp_series, select_rows
from ..options import IngestOptions
from .base import ParseResult, reject, split_blank
from .http_fields import (
    FIELD, assemble, found_fields, level_from_status, nil, nil_request, no_events, route_actions, route_of,
    split_request,
)

NAME = "envoy"
DESCRIPTION = "Envoy default access log and Istio's sidecar access log (text)"
CONTINUATION_LINES = False
#: An HTTP access log: sessions by client, request rows as actions (formats.access_formats).
ACCESS_LOG = True
EXAMPLE = ('[2026-03-14T11:02:17.310Z] "POST /api/v1/orders HTTP/1.1" 201 - 154 312 23 21 "10.0.35.28" '
           '"okhttp/4.12" "cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2" "orders.shop" "10.0.2.1:8080"')

_Q = r'"(?<{}>[^"]*)"'
_MORE = rf"(?:{FIELD})"
#: The whole line, one vectorized match.
LINE_PATTERN = (
    r'^\[(?<time>[^\]\s]+)\] "(?<request>[^"]*)" (?<code>\d{1,3}|-) (?<flags>\S+)'
    rf"(?<middle>(?: {_MORE})*?)"
    r" (?<rx>\d+|-) (?<tx>\d+|-) (?<duration>\d+|-) (?<ust>\d+|-) "
    + " ".join(_Q.format(n) for n in ("xff", "ua", "rid", "authority", "upstream_host"))
    + rf"(?<tail>(?: {_MORE})*) *$"
)
#: The default format alone (no Istio fields): one unambiguous, faster match.
DEFAULT_PATTERN = LINE_PATTERN.replace(rf"(?<middle>(?: {_MORE})*?)", "").replace(rf"(?<tail>(?: {_MORE})*) *$", " *$")
#: Below this share of the first lines matching it, :data:`DEFAULT_PATTERN` is not tried.
DEFAULT_MIN_SHARE = 0.5
#: Istio's fields between the flags and the byte counts.
_ISTIO_MIDDLE = (r'^ (?<response_code_details>[^"\s]\S*) (?<connection_termination_details>[^"\s]\S*)'
                 r' "(?<upstream_transport_failure_reason>[^"]*)"$')
#: Istio's fields after the upstream host.
_ISTIO_TAIL = (
    r"^ (?<upstream_cluster>\S+) (?<upstream_local_address>\S+) (?<downstream_local_address>\S+)"
    r" (?<downstream_remote_address>\S+) (?<requested_server_name>\S+) (?<route_name>\S+)$"
)
_ISTIO_NAMES = ("response_code_details", "connection_termination_details", "upstream_transport_failure_reason",
                "upstream_cluster", "upstream_local_address", "downstream_local_address",
                "downstream_remote_address", "requested_server_name", "route_name")
#: Default-format fields (``[START_TIME]`` and the quoted request count as one each).
DEFAULT_FIELDS = 13
_REASON = (f"not an Envoy access log line: expected the default format's {DEFAULT_FIELDS} fields "
           '([START_TIME] "METHOD PATH PROTOCOL" RESPONSE_CODE RESPONSE_FLAGS BYTES_RECEIVED BYTES_SENT DURATION '
           'UPSTREAM_SERVICE_TIME "X-FORWARDED-FOR" "USER-AGENT" "X-REQUEST-ID" "AUTHORITY" "UPSTREAM_HOST"), found ')
UPSTREAM_FAILURE_FLAGS = ("UH", "UF", "UO", "UT", "UR", "UC", "URX", "LR", "LH", "NC", "UMSDR", "UPE")
DOWNSTREAM_FLAGS = ("DC", "DT", "DPE", "SI")
_LINE_RE = re.compile(LINE_PATTERN.replace("(?<", "(?P<"))


def sniff(sample: list[str]) -> float:
    """Share of lines in Envoy's default layout.

    Examples
    --------
    >>> sniff([EXAMPLE, "GET / HTTP/1.1"])
    0.5
    """
    if not sample:
        return 0.0
    return sum(1 for s in sample if _LINE_RE.match(s)) / len(sample)


def _flag_level(flags: pl.Expr) -> pl.Expr:
    """Level of a row without a status, from its response flags (comma-separated)."""
    words = flags.fill_null("").str.split(",")
    return (
        pl.when(words.list.eval(pl.element().is_in(UPSTREAM_FAILURE_FLAGS)).list.any()).then(pl.lit("error"))
        .when(words.list.eval(pl.element().is_in(DOWNSTREAM_FLAGS)).list.any()).then(pl.lit("warn"))
        .otherwise(pl.lit("info"))
    )


def _host(addr: pl.Expr) -> pl.Expr:
    """``ip:port`` / ``[v6]:port`` -> the address."""
    return addr.str.replace(r"^\[([^\]]*)\]:\d+$", "${1}").str.replace(r"^([^:]+):\d+$", "${1}")


def _istio(g: pl.DataFrame) -> pl.DataFrame:
    """Named Istio fields, and what is left of the middle and tail as written."""
    mid = g.select(pl.col("middle").str.extract_groups(_ISTIO_MIDDLE).alias("m")).unnest("m")
    tail = g.select(pl.col("tail").str.extract_groups(_ISTIO_TAIL).alias("t")).unnest("t")
    left = g.select(
        pl.when(mid["response_code_details"].is_null()).then(nil(pl.col("middle").str.strip_chars()))
        .alias("extra_after_flags"),
        pl.when(tail["upstream_cluster"].is_null()).then(nil(pl.col("tail").str.strip_chars())).alias("extra"),
    )
    named = pl.concat([mid, tail], how="horizontal").select(nil(pl.col(n)).alias(n) for n in _ISTIO_NAMES)
    return pl.concat([named, left], how="horizontal")


def _frames(g: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Matched groups -> (raw fields for ``attrs``, canonical columns)."""
    req = g.select(split_request(pl.col("request")).alias("r")).unnest("r")
    istio = _istio(g)
    g = pl.concat([g, req, istio], how="horizontal").with_columns(route_of(pl.col("target")).alias("_route"))
    xff = nil(pl.col("xff"))
    raw = g.select(
        "line",
        pl.coalesce(xff.str.split(",").list.first().str.strip_chars(),
                    _host(pl.col("downstream_remote_address"))).alias("remote_addr"),
        nil(pl.col("ua")).alias("user_agent"),
        "method", pl.col("target").alias("path"), "protocol",
        nil(pl.col("flags")).alias("response_flags"),
        pl.col("rx").cast(pl.Int64, strict=False).alias("bytes_received"),
        pl.col("tx").cast(pl.Int64, strict=False).alias("bytes_sent"),
        pl.col("ust").cast(pl.Int64, strict=False).alias("upstream_service_time_ms"),
        xff.alias("x_forwarded_for"),
        nil(pl.col("authority")).alias("authority"),
        nil(pl.col("upstream_host")).alias("upstream_host"),
        *_ISTIO_NAMES, "extra_after_flags", "extra",
    )
    status = pl.col("code").cast(pl.Int32, strict=False)
    fixed = g.select(
        pl.lit(parse_timestamp_series(g.get_column("time"))).alias("ts"),
        status.alias("status"),
        pl.lit(route_actions(g, "method", "_route")).alias("action"),
        nil_request(pl.col("request")).alias("message"),
        pl.when(status.is_null() | (status == 0)).then(_flag_level(pl.col("flags")))
        .otherwise(level_from_status(status)).alias("level"),
        pl.col("duration").cast(pl.Float64, strict=False).alias("latency_ms"),
        nil(pl.col("rid")).alias("request_id"),
    )
    return raw, fixed


def _groups(body: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Groups of every line (null where it does not match), in line order, and
    the lines that do not match.  :data:`DEFAULT_PATTERN` goes first unless
    it fits less than :data:`DEFAULT_MIN_SHARE` of the first lines."""
    text = pl.col("text")
    probe = body.head(1000).select(text.str.contains(DEFAULT_PATTERN).mean()).item()
    parts, rest = [], body
    if probe is not None and probe >= DEFAULT_MIN_SHARE:
        g = select_rows(body, "line", text.str.extract_groups(DEFAULT_PATTERN).alias("g")).unnest("g")
        g = g.with_columns(pl.lit("").alias("middle"), pl.lit("").alias("tail"))
        hit = g.get_column("time").is_not_null()
        parts.append(g.filter(hit))
        rest = body.filter(~hit)
    if rest.height or not parts:
        parts.append(select_rows(rest, "line", text.str.extract_groups(LINE_PATTERN).alias("g")).unnest("g"))
    g = pl.concat(parts, how="diagonal_relaxed") if len(parts) > 1 else parts[0]
    g = g.sort("line") if len(parts) > 1 else g
    return g, body.join(g.filter(pl.col("time").is_not_null()).select("line"), on="line", how="anti",
                        maintain_order="left")


def parse(lines: pl.DataFrame, *, options: IngestOptions) -> ParseResult:
    """Parse Envoy/Istio access-log lines into canonical events.

    Examples
    --------
    >>> import polars as pl
    >>> from forensics.ingest.options import IngestOptions
    >>> r = parse(pl.DataFrame({"line": [1], "text": [EXAMPLE]}), options=IngestOptions())
    >>> r.events.select("status", "action", "latency_ms", "request_id").row(0)
    (201, 'POST /api/v1/orders', 23.0, 'cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2')
    """
    body, blank = split_blank(lines)
    g, bad = _groups(body)
    rejects = reject(bad, pl.lit(_REASON) + found_fields(pl.col("text"), DEFAULT_FIELDS))
    hit = g.get_column("time").is_not_null()
    g = g.filter(hit)
    if g.height == 0:
        return no_events(rejects, blank)
    raw, fixed = _frames(g)
    events = assemble(raw, fixed, options=options)
    return ParseResult(events=events, rejects=rejects, continuation_lines=0, blank_lines=blank)
