"""OpenTelemetry logs in the OTLP/JSON encoding: one event per log record.

Two layouts are read, in any mix: the collector's file exporter (one
``ExportLogsServiceRequest`` per line, each holding many records) and
pretty-printed documents (one request spread over many lines, as ``jq .`` or
an SDK's debug export writes it).  A document starts at a line that begins
with ``{``; a line that also ends with ``}`` is a whole request, otherwise
the document runs until its braces close.

Line accounting: an event's ``line`` is the first line of its request, so one
line can hold many events (one per log record); the other lines of a
pretty-printed document are continuation lines.  A document that cannot be
read (invalid JSON, braces that never close, JSON that is not an OTLP logs
request, a request without records or without any usable time) makes every
one of its lines malformed, with the reason.

Fields (attribute names in :data:`SEMCONV`):
``ts`` from ``timeUnixNano``, else ``observedTimeUnixNano`` (0 means unset);
a record with neither takes the earliest time of its request (marked in
``attrs.time_note``).  ``component`` = resource ``service.name``, ``level``
from ``severityNumber`` (else ``severityText``), ``request_id`` = ``traceId``
(lowercase hex), ``message`` = the body (a map body's ``message``/``msg``
entry; its other entries join the attributes), then attributes by the
semantic conventions.  ``attrs`` keeps every other attribute under its key,
resource attributes as ``resource.<key>``, the scope as ``scope.name``,
``scope.version``, ``scope.<key>``, and ``severityText``,
``severityNumber``, ``spanId``, ``flags``, ``eventName``,
``observedTimeUnixNano``.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import NamedTuple

import polars as pl

from ...schema import ALIASES, EVENT_SCHEMA, LATENCY_NANOS, LATENCY_SECONDS, empty_events
from ..normalize import normalize_level
from ..options import IngestOptions
from ..otlp_values import (NEST, attribute_rows, context_fragments, explode_records, fragment, hex_id,
                           record_meta, record_times, request_dtype, severity_level, with_texts)
from ..routes import mask_route, route_action
from .base import ParseResult, empty_rejects, reject, share_matching, split_blank

NAME = "otlp"
DESCRIPTION = "OpenTelemetry logs as OTLP/JSON (collector file exporter, one request per line; or pretty-printed)"
CONTINUATION_LINES = True
#: One request line holds many records, each an event (accounted as extra_events).
MANY_EVENTS_PER_LINE = True
EXAMPLE = (
    '{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"checkout"}}]},'
    '"scopeLogs":[{"scope":{"name":"shop.http"},"logRecords":[{"timeUnixNano":"1699000000000000000",'
    '"severityNumber":17,"severityText":"ERROR","body":{"stringValue":"payment failed"},'
    '"traceId":"5b8efff798038103d269b633813fc60c","attributes":[{"key":"http.response.status_code",'
    '"value":{"intValue":"502"}}]}]}]}]}'
)

#: A line that opens a request: ``{"resourceLogs":`` (the collector writes it first).
REQUEST_LINE = r'^\{\s*"resourceLogs"\s*:'
_PRETTY_KEY = re.compile(r'^\s*"resourceLogs"\s*:')
_STRING = r'"(?:[^"\\]|\\.)*"'

STRAY = "not an OTLP logs request: a line outside any JSON object (expected '{' at the start of a line)"
TORN = "incomplete JSON: the object's braces never close (a torn write, or a document cut off)"
INVALID = "invalid JSON"
SHAPE = "not an OTLP logs request: resourceLogs does not have the OTLP/JSON shape"
NO_LOGS = 'not an OTLP logs request: no "resourceLogs" key'
EMPTY = "OTLP logs request without log records"
NO_TIME = "no readable timestamp: no log record has a usable timeUnixNano or observedTimeUnixNano"
_OTHER_SIGNALS = (("resourceSpans", "OTLP traces (resourceSpans), not logs"),
                  ("resourceMetrics", "OTLP metrics (resourceMetrics), not logs"),
                  ("resourceProfiles", "OTLP profiles (resourceProfiles), not logs"))


def sniff(sample: list[str]) -> float:
    """Share of lines that open an OTLP logs request (when at least half do,
    the share of lines that open any JSON object, so that a stray JSON line
    does not hand the file to ``jsonl``); 1.0 for a pretty-printed request
    (``{`` alone, then the ``"resourceLogs"`` key).

    Examples
    --------
    >>> sniff(['{"resourceLogs":[]}', '{"resourceLogs":[{"scopeLogs":[]}]}', '{"other": 1}'])
    1.0
    >>> sniff(["{", '  "resourceLogs": [', "    {"])
    1.0
    >>> sniff(['{"ts": 1, "msg": "resourceLogs"}'])
    0.0
    """
    if not sample:
        return 0.0
    pretty = sample[0].strip() == "{" and any(_PRETTY_KEY.match(s) for s in sample[1:3])
    if pretty:
        return 1.0
    logs = share_matching(sample, REQUEST_LINE)
    return share_matching(sample, r"^\{") if logs >= 0.5 else logs


# ------------------------------------------------------------------ documents


def _segment(body: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Group non-blank lines into JSON documents.

    Returns ``(docs, members, rejects)``: ``docs`` has one row per document
    (``_doc``, ``line`` of its first line, ``text`` of all its lines,
    ``_n`` lines); ``members`` maps every line of a document to it
    (``_doc``, ``line``, ``text``); ``rejects`` are the lines outside any
    document and the lines of documents whose braces never close.
    """
    text = pl.col("text")
    start = text.str.contains(r"^\{")
    whole = start & text.str.strip_chars_end().str.ends_with("}")
    b = body.with_columns(start.alias("_s"), whole.alias("_w"))
    b = b.with_columns(pl.col("_s").cast(pl.Int64).cum_sum().alias("_doc"))
    b = b.with_columns(pl.col("_w").first().over("_doc").alias("_one"))
    stray = [b.filter(pl.col("_doc") == 0)]
    single = b.filter((pl.col("_doc") > 0) & pl.col("_one"))
    stray.append(single.filter(~pl.col("_s")))
    docs = [single.filter(pl.col("_s")).select("_doc", "line", "text", pl.lit(1, dtype=pl.UInt32).alias("_n"))]
    members = [docs[0].select("_doc", "line", "text")]
    torn = empty_rejects()
    multi = b.filter((pl.col("_doc") > 0) & ~pl.col("_one"))
    if multi.height:
        bare = text.str.replace_all(_STRING, "")
        depth = (bare.str.count_matches(r"[{\[]").cast(pl.Int64) - bare.str.count_matches(r"[}\]]").cast(pl.Int64))
        m = multi.with_columns(depth.cum_sum().over("_doc").alias("_depth"))
        m = m.with_columns(pl.when(pl.col("_depth") <= 0).then(pl.col("line")).min().over("_doc").alias("_end"))
        inside = m.filter(pl.col("_end").is_not_null() & (pl.col("line") <= pl.col("_end")))
        stray.append(m.filter(pl.col("_end").is_not_null() & (pl.col("line") > pl.col("_end"))))
        torn = reject(m.filter(pl.col("_end").is_null()), TORN)
        members.append(inside.select("_doc", "line", "text"))
        docs.append(inside.group_by("_doc", maintain_order=True).agg(
            pl.col("line").first(), pl.col("text").str.join("\n"), pl.len().alias("_n")))
    rejects = pl.concat([reject(pl.concat([s.select("line", "text") for s in stray]), STRAY), torn])
    return pl.concat(docs).sort("_doc"), pl.concat(members), rejects


def _not_logs(text: pl.Expr) -> pl.Expr:
    """Why a document without ``"resourceLogs"`` is not read (another OTLP signal, or other JSON)."""
    why = pl.when(pl.lit(False)).then(pl.lit(None, dtype=pl.String))
    for key, reason in _OTHER_SIGNALS:
        why = why.when(text.str.contains(f'"{key}"\\s*:')).then(pl.lit(reason))
    return why.otherwise(pl.lit(NO_LOGS))


def _decode(docs: pl.DataFrame, depth: int) -> tuple[list[pl.DataFrame], list[pl.DataFrame]]:
    """Decode documents as requests; a batch that fails is bisected so that
    only the failing documents are refused.  Returns (decoded frames with
    ``_doc``, ``line``, ``_req``; refused frames with ``_doc``, ``reason``)."""
    dtype = request_dtype(depth)
    good: list[pl.DataFrame] = []
    bad: list[pl.DataFrame] = []
    stack = [docs] if docs.height else []
    while stack:
        part = stack.pop()
        try:
            good.append(part.select("_doc", "line", pl.col("text").str.json_decode(dtype).alias("_req")))
        except Exception:  # noqa: BLE001 - any decoding failure: bisect
            if part.height > 1:
                mid = part.height // 2
                stack += [part.slice(mid), part.slice(0, mid)]
                continue
            try:  # valid JSON (every key ignored) but not the OTLP shape?
                part.select(pl.col("text").str.json_decode(pl.Struct({"\x00": pl.String})))
                reason = SHAPE
            except Exception:  # noqa: BLE001
                reason = INVALID
            bad.append(part.select("_doc", pl.lit(reason).alias("reason")))
    return good, bad


def _now_bounds() -> tuple[datetime, datetime]:
    """The times an event may have (those the ingest driver accepts)."""
    from .. import group  # here, not at import: group imports the format registry

    return group.MIN_TS, datetime.now(timezone.utc) + group.FUTURE_SLACK


# -------------------------------------------------------------------- mapping

#: Attribute keys (semantic conventions, newest first) that answer for a
#: canonical column before the usual aliases (``forensics.schema.ALIASES``).
SEMCONV: dict[str, tuple[str, ...]] = {
    "user": ("user.id", "enduser.id"),
    "session": ("session.id",),
    "status": ("http.response.status_code", "http.status_code"),
    "latency_ms": ("http.server.request.duration", "http.client.request.duration", "http.server.duration",
                   "http.client.duration"),
    "action": ("event.name",),
    "message": ("message", "msg"),
}
#: Duration attributes in seconds (the others are in milliseconds, or as
#: ``forensics.schema`` says for its aliases).
SECONDS = frozenset({"http.server.request.duration", "http.client.request.duration", *LATENCY_SECONDS})
#: Attributes read to build the action and a missing message; they stay in ``attrs``.
PARTS: dict[str, tuple[str, ...]] = {
    "_method": ("http.request.method", "http.method"), "_route": ("http.route",),
    "_path": ("url.path", "http.target"), "_exc_type": ("exception.type",), "_exc_msg": ("exception.message",),
}
_CANONICAL = ("level", "component", "status", "user", "session", "request_id", "action", "key", "latency_ms",
              "message")
#: Canonical columns a record's own fields answer for before any attribute.
_OWN = ("component", "level", "request_id", "action", "message")
#: A level word near the start of a text body, read when the record has no severity.
BODY_LEVEL = r"^.{0,64}?\b(TRACE|DEBUG|INFO|WARN|WARNING|ERROR|FATAL|CRITICAL)\b"
TIME_NOTE = "no usable timeUnixNano or observedTimeUnixNano: the earliest time of its request"


def candidates(options: IngestOptions) -> pl.DataFrame:
    """Attribute keys (lowercase) -> the canonical column they answer for,
    their rank (0 best) and a factor to milliseconds.  A field the user names
    (``--user-field``, ``--columns``) is the only candidate for its column."""
    over = {k: v.lower() for k, v in options.overrides().items()}
    rows = []
    for canon in (*_CANONICAL, "ts"):
        if canon in over:
            keys = [over[canon]]
        elif canon == "ts":
            continue
        else:
            keys = [*SEMCONV.get(canon, ()), *ALIASES.get(canon, ())]
        for rank, key in enumerate(dict.fromkeys(k.lower() for k in keys)):
            scale = 1000.0 if key in SECONDS else 1e-6 if key in LATENCY_NANOS else 1.0
            rows.append((key, canon, rank, scale))
    rows += [(key, part, rank, 1.0) for part, keys in PARTS.items() for rank, key in enumerate(keys)]
    table = pl.DataFrame(rows, schema={"key_lc": pl.String, "canonical": pl.String, "rank": pl.Int32,
                                       "scale": pl.Float64}, orient="row")
    return table.unique("key_lc", keep="first", maintain_order=True)


def _winners(rows: pl.DataFrame, cands: pl.DataFrame) -> pl.DataFrame:
    """Per record and canonical column, the best attribute with a usable
    value: ``_rid``, ``canonical``, ``name``, ``value`` (text).  Attributes
    rank before map-body entries, except for the message."""
    c = rows.join(cands, on="key_lc", how="inner")
    text = pl.col("_text")
    canon = pl.col("canonical")
    number = text.str.extract(r"^\s*(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)\s*$", 1).cast(pl.Float64, strict=False)
    value = (
        pl.when(canon == "status").then(text.str.extract(r"^\s*(\d{3})\s*$", 1))
        .when(canon == "latency_ms").then((number * pl.col("scale")).round(6).cast(pl.String))
        .when(canon == "level").then(normalize_level(text))
        .when(text.str.strip_chars() != "").then(text)
    )
    body_first = pl.when(canon == "message").then(1 - pl.col("_src")).otherwise(pl.col("_src"))
    order = body_first.cast(pl.Int32) * 1000 + pl.col("rank")
    return (
        c.select("_rid", "canonical", "name", value.alias("value"), order.alias("_order"))
        .filter(pl.col("value").is_not_null())
        .sort("_rid", "canonical", "_order")
        .unique(["_rid", "canonical"], keep="first", maintain_order=True)
        .drop("_order")
    )


def _wide(records: pl.DataFrame, winners: pl.DataFrame) -> pl.DataFrame:
    """``_rid`` plus one text column per canonical column and part (null where no attribute gave one)."""
    names = [*_CANONICAL, "ts", *PARTS]
    if winners.height:
        wide = winners.pivot(on="canonical", index="_rid", values="value")
        wide = records.select("_rid").join(wide, on="_rid", how="left", maintain_order="left")
    else:
        wide = records.select("_rid")
    return wide.with_columns(pl.lit(None, dtype=pl.String).alias(n) for n in names if n not in wide.columns)


class Built(NamedTuple):
    """What :func:`build_events` makes of decoded requests."""

    events: pl.DataFrame
    events_docs: pl.DataFrame  # ``_doc`` of the requests that gave events
    refused: pl.DataFrame  # ``_doc``, ``reason``: requests without records or without any usable time


def build_events(decoded: pl.DataFrame, *, options: IngestOptions, bounds: tuple[datetime, datetime],
                 depth: int = NEST) -> Built:
    """Decoded requests (``request_dtype(depth)``) -> one canonical event per log record (in request order)."""
    records, resources, scopes = explode_records(decoded)
    over = options.overrides()
    cands = candidates(options)
    rows = attribute_rows(records, depth)
    winners = _winners(rows, cands)
    rec = pl.concat([records, _wide(records, winners).drop("_rid")], how="horizontal")
    rec = record_times(rec, bounds, tz=options.tz, field="ts" in over)
    rec = rec.with_columns(hex_id(pl.col("spanId"), 8).alias("spanId"))
    body = with_texts(rec.select(pl.col("body").alias("_b")), "_b", depth + 1).get_column("_text")
    rec = rec.with_columns(pl.when(pl.col("body").struct.field("kvlistValue").is_null()).then(body).alias("_body"))
    service, res_frag, scope_frag = context_fragments(resources, scopes, service="component" not in over, depth=depth)
    rec = rec.join(service, on="_ri", how="left", maintain_order="left")
    rec = rec.with_columns(e.alias(f"_o_{name}") for name, e in _own_values(over).items())
    # an attribute leaves attrs only where it gave the value (not where the record's own field did)
    has_own = rec.select("_rid", *(pl.col(c).is_not_null().alias(c[3:]) for c in rec.columns if c.startswith("_o_")))
    has_own = has_own.unpivot(index="_rid", variable_name="canonical", value_name="_has")
    used = (winners.filter(~pl.col("canonical").str.starts_with("_"))
            .join(has_own, on=["_rid", "canonical"], how="left").filter(~pl.col("_has").fill_null(False)))
    rec_frag = fragment(rows.join(used.select("_rid", "name"), on=["_rid", "name"], how="anti"), "_rid",
                        pl.col("name"), pl.col("_lit")).rename({"_frag": "_rec"})
    rec = (rec.join(res_frag, on="_ri", how="left", maintain_order="left")
           .join(scope_frag, on="_si", how="left", maintain_order="left")
           .join(rec_frag, on="_rid", how="left", maintain_order="left"))
    timeless = rec.filter(pl.col("ts").is_null()).select("_doc").unique()
    rec = rec.filter(pl.col("ts").is_not_null())
    events = rec.select(_columns(over))
    empty = decoded.join(records.select("_doc").unique(), on="_doc", how="anti").select(
        "_doc", pl.when(pl.col("_req").struct.field("resourceLogs").is_null()).then(pl.lit(NO_LOGS))
        .otherwise(pl.lit(EMPTY)).alias("reason"))
    refused = pl.concat([empty, timeless.with_columns(pl.lit(NO_TIME).alias("reason"))])
    return Built(events, rec.select("_doc").unique(), refused)


def _own_values(over: dict[str, str]) -> dict[str, pl.Expr]:
    """The canonical values a record's own fields give (before any
    attribute), for the columns the user did not name a field for."""
    col = pl.col
    route = pl.coalesce(col("_route"), col("_path"))
    action = pl.when(col("_method").is_not_null() & route.is_not_null()).then(route_action(col("_method"), route)) \
        .when(route.is_not_null()).then(mask_route(route)).otherwise(col("eventName"))
    own = {  # the keys are _OWN
        "component": col("_service"),
        "level": severity_level(col("severityNumber"), col("severityText")),
        "request_id": hex_id(col("traceId"), 16),
        "action": action,
        "message": col("_body"),
    }
    return {k: v for k, v in own.items() if k not in over}


def _columns(over: dict[str, str]) -> list[pl.Expr]:
    """The canonical columns of the joined records (``line`` .. ``attrs``)."""
    col = pl.col
    exc = pl.concat_str([col("_exc_type"), col("_exc_msg")], separator=": ", ignore_nulls=True)
    note = pl.when(col("_own").is_null()).then(pl.lit(TIME_NOTE))
    attrs = pl.concat_str([record_meta(col("_time_used"), note), col("_rec"), col("_res"), col("_scope")],
                          separator=",", ignore_nulls=True)
    out = {"line": col("line"), "ts": col("ts")}
    for name in _CANONICAL:
        own = name in _OWN and name not in over
        out[name] = pl.coalesce(col(f"_o_{name}"), col(name)) if own else col(name)
    if "message" not in over:  # no body, no message attribute: the exception
        out["message"] = pl.coalesce(out["message"], pl.when(exc != "").then(exc))
    if "level" not in over:  # severity unset (a file read without a parser): a level word early in the body
        out["level"] = pl.coalesce(out["level"], normalize_level(col("_body").str.extract(BODY_LEVEL, 1)))
    out["attrs"] = pl.when(attrs != "").then(pl.concat_str([pl.lit("{"), attrs, pl.lit("}")]))
    return [out[n].cast(t, strict=False).alias(n) for n, t in EVENT_SCHEMA.items() if n in out]


# ---------------------------------------------------------------------- parse


def parse(lines: pl.DataFrame, *, options: IngestOptions) -> ParseResult:
    """Parse OTLP/JSON lines into one event per log record.

    Examples
    --------
    >>> import polars as pl
    >>> from forensics.ingest.options import IngestOptions
    >>> r = parse(pl.DataFrame({"line": [1, 2], "text": [EXAMPLE, '{"resourceSpans": []}']}), options=IngestOptions())
    >>> r.events.select("component", "level", "status", "request_id", "message").row(0)
    ('checkout', 'error', 502, '5b8efff798038103d269b633813fc60c', 'payment failed')
    >>> r.rejects["reason"].to_list()
    ['OTLP traces (resourceSpans), not logs']
    """
    body, blank = split_blank(lines)
    docs, members, rejects = _segment(body)
    has_logs = pl.col("text").str.contains(r'"resourceLogs"\s*:')
    refused = [docs.filter(~has_logs).select("_doc", _not_logs(pl.col("text")).alias("reason"))]
    requests = docs.filter(has_logs)
    # arrays and maps decoded NEST levels deep only when there are any (a deep dtype is slower)
    depth = NEST if requests["text"].str.contains(r'"(?:arrayValue|kvlistValue)"').any() else 0
    good, bad = _decode(requests, depth)
    refused += bad
    events = empty_events().drop("source", "format")
    continuation = 0
    if good:
        decoded = pl.concat(good).sort("_doc")
        built = build_events(decoded, options=options, bounds=_now_bounds(), depth=depth)
        refused.append(built.refused)
        events = built.events
        if events.height:
            used = docs.join(built.events_docs, on="_doc", how="semi")
            continuation = int(used["_n"].sum()) - used.height
    why = pl.concat(refused)
    doc_rejects = members.join(why, on="_doc", how="inner").select("line", "reason", "text")
    all_rejects = pl.concat([rejects, doc_rejects]).sort("line")
    return ParseResult(events=events, rejects=all_rejects, continuation_lines=continuation, blank_lines=blank)
