"""AWS load-balancer access logs: Application Load Balancer, Classic ELB, and
CloudFront standard logs.

An ALB entry (30 space-separated fields today; AWS appends new ones at the
end, which are kept as written in ``attrs.extra``; logs written before a
field existed stop earlier, down to the 18 of 2016)::

    type time elb client:port target:port request_processing_time target_processing_time
    response_processing_time elb_status_code target_status_code received_bytes sent_bytes
    "request" "user_agent" ssl_cipher ssl_protocol target_group_arn "trace_id" "domain_name"
    "chosen_cert_arn" matched_rule_priority request_creation_time "actions_executed"
    "redirect_url" "error_reason" "target:port_list" "target_status_code_list"
    "classification" "classification_reason" conn_trace_id

A Classic ELB entry is the first 15 of those fields without ``type`` (and
``backend`` for ``target``).  A CloudFront standard log (tab-separated, with
``#Version:`` and ``#Fields:`` directives) is read by the ``w3c`` format's
parser (:func:`forensics.ingest.formats.w3c.parse`), which knows its fields.

Canonical columns: ``ts`` = ``time`` (UTC), ``status`` = ``elb_status_code``
(the target's is ``attrs.target_status``), ``latency_ms`` = the sum of the
three processing times (seconds) in milliseconds, null when one is ``-1``
(the load balancer got no response), ``request_id`` = the ``Root`` of the
``X-Amzn-Trace-Id`` in ``trace_id`` (the X-Ray trace id the targets see;
the whole header is kept in ``attrs.trace_header`` when it has more than the
root), ``component`` = the load balancer's name (``app/NAME/id`` -> ``NAME``),
``action`` = ``METHOD /route`` (``https://host:443`` dropped, ids masked),
``message`` = the request line, ``level`` from the status (5xx error, 4xx
warn, else info).  ``attrs``: ``remote_addr``, ``client_port``,
``user_agent``, ``method``, ``path``, ``protocol``, ``bytes`` (sent),
``received_bytes``, the three processing times as logged (seconds) and every
other field under its documented name; ``-`` is null.  Lines that do not
match are malformed, with the number of fields found.
"""

from __future__ import annotations

import re

import polars as pl

from ..normalize import parse_times, select_rows
from ..options import IngestOptions
from . import w3c
from .base import ParseResult, reject, split_blank
from .http_fields import (
    assemble, found_fields, level_from_status, nil, nil_request, no_events, route_actions, route_of, split_request,
)

NAME = "alb"
DESCRIPTION = "AWS access logs: Application Load Balancer, Classic ELB, CloudFront standard logs"
CONTINUATION_LINES = False
#: An HTTP access log: sessions by client, request rows as actions (formats.access_formats).
ACCESS_LOG = True
EXAMPLE = ('https 2026-03-14T11:02:17.186641Z app/shop-alb/50dc6c495c0c9188 203.0.113.9:52144 10.0.1.17:8080 '
           '0.001 0.052 0.000 200 200 412 1830 "GET https://shop.example.com:443/orders/42 HTTP/1.1" '
           '"Mozilla/5.0" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 '
           'arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/shop-web/73e2d6bc24d8a067 '
           '"Root=1-65f2d9a9-3f1c2b7d5e6a4b8c9d0e1f2a" "shop.example.com" '
           '"arn:aws:acm:eu-west-1:123456789012:certificate/12345678-1234-1234-1234-123456789012" 0 '
           '2026-03-14T11:02:17.133000Z "forward" "-" "-" "10.0.1.17:8080" "200" "-" "-" TID_5f0c7a4e8a1b4c2d')

_Q = r'"(?:[^"\\]|\\.)*"'
_SECONDS = r"-?\d+(?:\.\d+)?"
#: An unquoted field (no quote in it: the quotes delimit the quoted fields).
_WORD = r'[^\s"]+'
#: The fields shared by ALB and Classic ELB entries, then the rest of the line.
HEAD = (
    r"^(?:(?<type>[a-z][a-z0-9]{0,7}) )?(?<time>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?Z) "
    rf"(?<elb>{_WORD}) "
    rf"(?<client>{_WORD}) (?<target_addr>{_WORD}) (?<rpt>{_SECONDS}) (?<tpt>{_SECONDS}) (?<rspt>{_SECONDS}) "
    r"(?<elb_status>\d{3}|-) (?<target_status>\d{1,3}|-) (?<received>\d+|-) (?<sent>\d+|-) "
    rf'"(?<request>(?:[^"\\]|\\.)*)" "(?<user_agent>(?:[^"\\]|\\.)*)" (?<ssl_cipher>{_WORD}) (?<ssl_protocol>{_WORD})'
    r"(?<rest>.*)$"
)
#: The ALB fields after ``ssl_protocol`` (each later group optional: older
#: logs stop earlier), then any newer fields.
ALB_REST = (
    rf'^ (?<target_group_arn>{_WORD}) "(?<trace_id>[^"]*)"'
    r'(?: "(?<domain_name>[^"]*)" "(?<chosen_cert_arn>[^"]*)"'
    rf'(?: (?<matched_rule_priority>{_WORD}) (?<request_creation_time>{_WORD}) "(?<actions_executed>[^"]*)"'
    r' "(?<redirect_url>[^"]*)" "(?<error_reason>[^"]*)"'
    r'(?: "(?<target_port_list>[^"]*)" "(?<target_status_code_list>[^"]*)"'
    r'(?: "(?<classification>[^"]*)" "(?<classification_reason>[^"]*)"'
    rf'(?: (?<conn_trace_id>{_WORD}))?)?)?)?)?'
    rf'(?<extra>(?: (?:{_Q}|[^"\s]\S*))*) *$'
)
_REST_NAMES = ("target_group_arn", "domain_name", "chosen_cert_arn", "matched_rule_priority", "request_creation_time",
               "actions_executed", "redirect_url", "error_reason", "target_port_list", "target_status_code_list",
               "classification", "classification_reason", "conn_trace_id")
#: Fields of a current ALB entry, of the oldest one, of a Classic ELB entry.
ALB_FIELDS, ALB_MIN_FIELDS, ELB_FIELDS = 30, 18, 15
_REASON = (f"not an ALB/ELB access log line: expected {ALB_FIELDS} fields (type time elb client:port target:port "
           "request_processing_time target_processing_time response_processing_time elb_status_code "
           'target_status_code received_bytes sent_bytes "request" "user_agent" ssl_cipher ssl_protocol '
           f'target_group_arn "trace_id" ...; at least {ALB_MIN_FIELDS}, or {ELB_FIELDS} for a Classic ELB), found ')
_RE = [re.compile(p.replace("(?<", "(?P<")) for p in (HEAD, ALB_REST)]
_UNNAMED = re.compile(r"\(\?<\w+>")
#: A whole ALB or Classic ELB entry (no captures: a fast match).
_OPTIONAL_TYPE = "^(?:(?<type>[a-z][a-z0-9]{0,7}) )?"
_EXTRA = ALB_REST[ALB_REST.index("(?<extra>"):ALB_REST.index(" *$")]


def _entry(rest: str) -> str:
    """A whole ALB or Classic ELB entry whose ALB fields after ``ssl_protocol`` match ``rest`` (no captures)."""
    return _UNNAMED.sub("(?:", "^(?:" + HEAD.replace(_OPTIONAL_TYPE, "(?<type>[a-z][a-z0-9]{0,7}) ")
                        .replace("(?<rest>.*)$", rest[1:])
                        + "|" + HEAD.replace(_OPTIONAL_TYPE, "").replace("(?<rest>.*)$", " *$") + ")")


#: A whole ALB or Classic ELB entry (no captures: a fast match).
ENTRY = _entry(ALB_REST)
#: An entry whose fields line up with the pieces between its quotes: newer
#: fields only after ``conn_trace_id`` (see :data:`QUOTE_SPLIT`).
ALIGNED = _entry(ALB_REST.replace(_EXTRA, "").replace("(?<conn_trace_id>{})".format(_WORD),
                                                        "(?<conn_trace_id>{})".format(_WORD) + _EXTRA))
#: Entries without a backslash (no escaped quote) that match :data:`ALIGNED`
#: are split at their quotes instead of matched field by field (much faster,
#: same fields); ``False`` sends every entry through :data:`HEAD` and
#: :data:`ALB_REST`.
QUOTE_SPLIT = True


def _is_entry(line: str) -> bool:
    m = _RE[0].match(line)
    if m is None:
        return False
    return bool(_RE[1].match(m.group("rest"))) if m.group("type") else not m.group("rest").strip()


def sniff(sample: list[str]) -> float:
    """Share of ALB/ELB entries; for a CloudFront standard log, the ``w3c``
    score (:func:`~forensics.ingest.formats.w3c.fields_score`).

    Examples
    --------
    >>> sniff([EXAMPLE])
    1.0
    >>> sniff(["#Version: 1.0", "#Fields: date time x-edge-location sc-status", "2026-03-14\\t11:00:01\\tFRA56\\t200"])
    1.0
    """
    if not sample:
        return 0.0
    score, cloudfront = w3c.fields_score(sample)
    entries = sum(1 for s in sample if _is_entry(s)) / len(sample)
    return max(entries, score if cloudfront else 0.0)


def _merge(a: ParseResult, b: ParseResult) -> ParseResult:
    """Two parses of disjoint lines as one (events and rejects in line order)."""
    return ParseResult(events=pl.concat([a.events, b.events]).sort("line", maintain_order=True),
                       rejects=pl.concat([a.rejects, b.rejects]).sort("line"),
                       continuation_lines=a.continuation_lines + b.continuation_lines,
                       blank_lines=a.blank_lines + b.blank_lines)


def _regex_fields(lines: pl.DataFrame) -> pl.DataFrame:
    """The fields of entries (``line``, ``text``), by :data:`HEAD` and :data:`ALB_REST`."""
    g = select_rows(lines, "line", pl.col("text").str.extract_groups(HEAD).alias("g")).unnest("g")
    rest = select_rows(g, pl.when(pl.col("type").is_not_null()).then(pl.col("rest")).str.extract_groups(ALB_REST)
                       .alias("r")).unnest("r")
    return pl.concat([g.drop("rest"), rest], how="horizontal")


def _split_fields(lines: pl.DataFrame) -> pl.DataFrame:
    """The fields of entries without a backslash, split at their quotes: the
    quoted fields are every other piece, the unquoted ones split at spaces."""
    q = pl.col("_q")
    lines = select_rows(lines, "line", pl.col("text").str.split('"').alias("_q"))

    def piece(i: int) -> pl.Expr:
        return q.list.get(i, null_on_oob=True)

    def words(i: int) -> pl.Expr:
        return piece(i).str.strip_chars(" ").str.split(" ")

    head = piece(0).str.strip_chars_end(" ")
    head = pl.when(head.str.contains("^[a-z]")).then(head).otherwise(pl.lit("- ") + head).str.split(" ")
    names = ("type", "time", "elb", "client", "target_addr", "rpt", "tpt", "rspt", "elb_status", "target_status",
             "received", "sent")
    quoted = {1: "request", 3: "user_agent", 5: "trace_id", 7: "domain_name", 9: "chosen_cert_arn",
              11: "actions_executed", 13: "redirect_url", 15: "error_reason", 17: "target_port_list",
              19: "target_status_code_list", 21: "classification", 23: "classification_reason"}
    tail = q.list.slice(24).list.join('"').str.strip_chars_start(" ")
    out = select_rows(lines, "line", *[head.list.get(i, null_on_oob=True).alias(n) for i, n in enumerate(names)],
                      *[piece(i).alias(n) for i, n in quoted.items()],
                      *[words(4).list.get(i, null_on_oob=True).alias(n)
                        for i, n in enumerate(("ssl_cipher", "ssl_protocol", "target_group_arn"))],
                      *[words(10).list.get(i, null_on_oob=True).alias(n)
                        for i, n in enumerate(("matched_rule_priority", "request_creation_time"))],
                      pl.when(q.list.len() > 24).then(tail.str.extract(r"^(\S+)", 1)).alias("conn_trace_id"),
                      pl.when(q.list.len() > 24).then(tail.str.replace(r"^\S*", "")).alias("extra"))
    return out.with_columns(pl.when(pl.col("type") != "-").then(pl.col("type")).alias("type"))


def _groups(body: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Fields of the lines that are ALB/ELB entries (in line order), and the other lines."""
    text = pl.col("text")
    fast = select_rows(body, (text.str.contains(ALIGNED) & ~text.str.contains("\\", literal=True)).alias("f"))
    fast = fast.get_column("f") & QUOTE_SPLIT
    rest = body.filter(~fast)
    ok = rest.select(text.str.contains(ENTRY)).to_series()
    parts = [f(lines) for f, lines in ((_split_fields, body.filter(fast)), (_regex_fields, rest.filter(ok)))
             if lines.height]
    if not parts:
        return pl.DataFrame(), rest
    g = pl.concat(parts, how="diagonal_relaxed")
    return (g.sort("line") if len(parts) > 1 else g), rest.filter(~ok)


def _seconds(col: str) -> pl.Expr:
    v = pl.col(col).cast(pl.Float64, strict=False)
    return pl.when(v >= 0).then(v)


def _frames(g: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Matched groups -> (raw fields for ``attrs``, canonical columns)."""
    req = g.select(split_request(pl.col("request")).alias("r")).unnest("r")
    trace = nil(pl.col("trace_id"))
    g = pl.concat([g, req], how="horizontal").with_columns(
        route_of(pl.col("target")).alias("_route"),
        pl.coalesce(trace.str.extract(r"Root=([^;\s]+)", 1), trace).alias("_root"),
    )
    root = pl.col("_root")
    client = pl.col("client").str.extract_groups(r"^\[?(?<ip>.*?)\]?:(?<port>\d+)$")
    raw = g.select(
        "line", "type", nil(pl.col("elb")).alias("elb"),
        pl.coalesce(client.struct.field("ip"), nil(pl.col("client"))).alias("remote_addr"),
        client.struct.field("port").cast(pl.Int32, strict=False).alias("client_port"),
        nil(pl.col("target_addr")).alias("target"),
        *[pl.col(c).cast(pl.Float64, strict=False).alias(n) for c, n in
          (("rpt", "request_processing_time"), ("tpt", "target_processing_time"),
           ("rspt", "response_processing_time"))],
        pl.col("target_status").cast(pl.Int32, strict=False).alias("target_status"),
        pl.col("received").cast(pl.Int64, strict=False).alias("received_bytes"),
        pl.col("sent").cast(pl.Int64, strict=False).alias("bytes"),
        nil(pl.col("user_agent")).alias("user_agent"),
        "method", pl.col("target").alias("path"), "protocol",
        nil(pl.col("ssl_cipher")).alias("ssl_cipher"), nil(pl.col("ssl_protocol")).alias("ssl_protocol"),
        pl.when(trace != pl.lit("Root=") + root).then(trace).alias("trace_header"),
        *[nil(pl.col(c)).alias(c) for c in _REST_NAMES],
        nil(pl.col("extra").str.strip_chars()).alias("extra"),
    )
    status = pl.col("elb_status").cast(pl.Int32, strict=False)
    total = _seconds("rpt") + _seconds("tpt") + _seconds("rspt")
    name = pl.col("elb").str.extract(r"^(?:app|net|gwy)/([^/]+)/", 1)
    fixed = g.select(
        pl.lit(parse_times(g.get_column("time"))).alias("ts"),
        status.alias("status"),
        level_from_status(status).fill_null("info").alias("level"),
        (total * 1000.0).round(3).alias("latency_ms"),
        root.alias("request_id"),
        pl.coalesce(name, nil(pl.col("elb"))).alias("component"),
        pl.lit(route_actions(g, "method", "_route")).alias("action"),
        nil_request(pl.col("request")).alias("message"),
    )
    return raw, fixed


def parse(lines: pl.DataFrame, *, options: IngestOptions) -> ParseResult:
    """Parse ALB/ELB access-log lines (or a CloudFront standard log) into events.

    Examples
    --------
    >>> import polars as pl
    >>> from forensics.ingest.options import IngestOptions
    >>> r = parse(pl.DataFrame({"line": [1], "text": [EXAMPLE]}), options=IngestOptions())
    >>> r.events.select("component", "status", "action", "latency_ms", "request_id").row(0)
    ('shop-alb', 200, 'GET /orders/{id}', 53.0, '1-65f2d9a9-3f1c2b7d5e6a4b8c9d0e1f2a')
    """
    body, blank = split_blank(lines)
    # A CloudFront log (or one among ALB logs in a batch of small files): its
    # directives and tab-separated lines (no ALB line has a tab) are read as W3C.
    cf = pl.col("text").str.starts_with("#") | pl.col("text").str.contains("\t", literal=True)
    if body.height and body.select(cf.any()).item():
        return _merge(w3c.parse(lines.filter(cf), options=options), parse(lines.filter(~cf), options=options))
    g, bad = _groups(body)
    rejects = reject(bad, pl.lit(_REASON) + found_fields(pl.col("text"), ALB_FIELDS))
    if g.height == 0:
        return no_events(rejects, blank)
    raw, fixed = _frames(g)
    events = assemble(raw, fixed, options=options)
    return ParseResult(events=events, rejects=rejects, continuation_lines=0, blank_lines=blank)
