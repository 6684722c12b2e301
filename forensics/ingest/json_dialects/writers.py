"""What each JSON log writer means by its fields (see
:mod:`forensics.ingest.json_dialects` for how they are applied).

Documentation the readers follow:
journald https://www.freedesktop.org/software/systemd/man/latest/systemd.journal-fields.html and
https://systemd.io/JOURNAL_EXPORT_FORMATS/ ; GELF https://go2docs.graylog.org/current/getting_in_log_data/gelf.html ;
MongoDB https://www.mongodb.com/docs/manual/reference/log-messages/ ; log4j2 JsonLayout
https://logging.apache.org/log4j/2.x/manual/json-layout.html ; logstash-logback-encoder
https://github.com/logfellow/logstash-logback-encoder ; pino https://getpino.io/#/docs/api and bunyan
https://github.com/trentm/node-bunyan ; Caddy https://caddyserver.com/docs/caddyfile/directives/log ;
Traefik https://doc.traefik.io/traefik/observability/access-logs/ ; Google Cloud LogEntry
https://cloud.google.com/logging/docs/reference/v2/rest/v2/LogEntry .
"""

from __future__ import annotations

import polars as pl

from ..normalize import duration_text_ms, level_by_scheme, normalize_level, parse_timestamp
from .fields import (
    Cols,
    Field,
    decode_byte_array,
    epoch_us,
    first_item,
    first_of,
    http_action,
    id_field,
    level_field,
    millis,
    not_blank,
    single,
    status_first_level,
    text,
)


# ------------------------------------------------------------------ journald

def journald_prepare(frame: pl.DataFrame, lines: pl.Expr) -> pl.DataFrame:
    if "MESSAGE" not in frame.columns or frame.schema["MESSAGE"] != pl.String:
        return frame
    if not frame.select((lines & pl.col("MESSAGE").str.starts_with("[")).any()).item():
        return frame
    msg = pl.col("MESSAGE")
    return frame.with_columns(pl.when(lines).then(decode_byte_array(msg)).otherwise(msg).alias("MESSAGE"))


def journald(cols: Cols) -> dict[str, Field]:
    return {
        "ts": single(cols, "__REALTIME_TIMESTAMP", epoch_us),
        "level": level_field(cols, "PRIORITY", "syslog"),
        # systemd's messages about a unit (UNIT=) belong to that unit
        "component": first_of(cols, ("UNIT", "USER_UNIT", "_SYSTEMD_UNIT", "SYSLOG_IDENTIFIER", "_COMM"), text),
        "message": single(cols, "MESSAGE", text),
    }


# ---------------------------------------------------------------------- GELF


def gelf_prepare(frame: pl.DataFrame, lines: pl.Expr) -> pl.DataFrame:
    """Additional fields lose their ``_`` (``_user_id`` -> ``user_id``) on GELF
    lines, unless a field of that name is there too."""
    exprs = []
    for col in frame.columns:
        bare = col[1:]
        if not col.startswith("_") or not bare or bare.startswith("_") or bare == "line":
            continue
        if bare in frame.columns:
            differ = frame.schema[bare] != frame.schema[col]
            raw = pl.col(col).cast(pl.String) if differ else pl.col(col)
            old = pl.col(bare).cast(pl.String) if differ else pl.col(bare)
            free = lines & pl.col(bare).is_null() & pl.col(col).is_not_null()
            exprs += [pl.when(free).then(raw).otherwise(old).alias(bare),
                      pl.when(free).then(None).otherwise(pl.col(col)).alias(col)]
        else:
            exprs += [pl.when(lines).then(pl.col(col)).otherwise(None).alias(bare),
                      pl.when(lines).then(None).otherwise(pl.col(col)).alias(col)]
    return frame.with_columns(exprs) if exprs else frame


def gelf_message(cols: Cols) -> Field | None:
    """``short_message``; with ``full_message`` (often a stack trace) the full
    text, after the short one unless it already starts with it."""
    if not cols.has("short_message"):
        return None
    short = pl.col("short_message").cast(pl.String)
    if not cols.has("full_message"):
        return Field(short, {"short_message": short.is_not_null()})
    full = pl.col("full_message").cast(pl.String)
    value = (
        pl.when(full.is_null()).then(short)
        .when(short.is_null() | full.str.starts_with(short)).then(full)
        .otherwise(pl.concat_str([short, pl.lit("\n"), full]))
    )
    return Field(value, {"short_message": value.is_not_null(), "full_message": value.is_not_null()})


def gelf(cols: Cols) -> dict[str, Field]:
    return {
        "level": level_field(cols, "level", "syslog"),
        "component": first_of(cols, ("component", "service", "svc", "app", "application", "service_name",
                                     "facility", "container_name"), text),
        "message": gelf_message(cols),
    }


# ------------------------------------------------------------------- MongoDB

_MONGO_LEVELS = {"F": "fatal", "E": "error", "W": "warn", "I": "info",
                 **{f"D{i}": "debug" for i in range(1, 6)}, "D": "debug"}


def mongodb(cols: Cols) -> dict[str, Field]:
    return {
        "ts": single(cols, "t.$date", lambda e: parse_timestamp(e)),
        "level": single(cols, "s", lambda e: e.cast(pl.String).replace_strict(
            _MONGO_LEVELS, default=None, return_dtype=pl.String)),
        "component": single(cols, "c", text, final=True),
        # error codes (attr.error.code) are no HTTP status
        "status": Field(pl.lit(None, dtype=pl.Int32), {}, final=True),
        "latency_ms": single(cols, "attr.durationMillis", lambda e: e.cast(pl.Float64, strict=False)),
    }


# ------------------------------------------------------------ log4j2, Logstash


def log4j2_time(cols: Cols) -> Field | None:
    parts = []
    if cols.has("instant.epochSecond"):
        sec = pl.col("instant.epochSecond").cast(pl.Int64, strict=False)
        nano = pl.col("instant.nanoOfSecond").cast(pl.Int64, strict=False) if cols.has("instant.nanoOfSecond") else pl.lit(0)
        us = sec * 1_000_000 + nano.fill_null(0) // 1000
        ts = us.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
        src = {"instant.epochSecond": ts.is_not_null()}
        if cols.has("instant.nanoOfSecond"):
            src["instant.nanoOfSecond"] = ts.is_not_null()
        parts.append((ts, src))
    if cols.has("timeMillis"):
        ms = pl.col("timeMillis").cast(pl.Int64, strict=False)
        ts = (ms * 1000).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
        parts.append((ts, {"timeMillis": ts.is_not_null() & (parts[0][0].is_null() if parts else pl.lit(True))}))
    if not parts:
        return None
    sources = {k: v for _, src in parts for k, v in src.items()}
    return Field(pl.coalesce([t for t, _ in parts]), sources)


def log4j2(cols: Cols) -> dict[str, Field]:
    return {"ts": log4j2_time(cols)}


def logstash(cols: Cols) -> dict[str, Field]:
    word = normalize_level(pl.col("level")) if cols.has("level") else pl.lit(None, dtype=pl.String)
    number = level_by_scheme(pl.col("level_value"), "logback") if cols.has("level_value") else pl.lit(None, dtype=pl.String)
    value = pl.coalesce(word, number)
    sources = {}
    if cols.has("level"):
        sources["level"] = word.is_not_null()
    if cols.has("level_value"):
        sources["level_value"] = number.is_not_null() & (number == value)
    return {"level": Field(value, sources) if sources else None}


# -------------------------------------------------------------- pino, bunyan

_PINO_NUMBERS = ["10", "20", "30", "40", "50", "60"]


def pino(cols: Cols) -> dict[str, Field]:
    return {
        "level": level_field(cols, "level", "pino"),
        "component": single(cols, "name", text),
        "request_id": id_field(cols, "req.id"),
        "action": http_action(cols, "req.method", "req.url"),
        "latency_ms": single(cols, "responseTime", lambda e: e.cast(pl.Float64, strict=False)),
        "remote_addr": single(cols, "req.remoteAddress", text),
        "user_agent": single(cols, "req.headers.user-agent", text, nocase=True),
    }


def pino_lines(cols: Cols) -> pl.Expr:
    """pino's own fields (``pid``, ``hostname``, bunyan's ``v``), or else a
    level that is one of pino's numbers."""
    own = [pl.col(c).is_not_null() for c in ("pid", "hostname", "v") if cols.has(c)]
    number = pl.col("level").cast(pl.String).is_in(_PINO_NUMBERS)
    return pl.any_horizontal([*own, number]) if own else number


# ------------------------------------------------------- Caddy, Traefik, GCP


def caddy_latency(e: pl.Expr, *, text: bool) -> pl.Expr:
    """``duration``: seconds as a number (the default), or Go duration text
    (``duration_format string``)."""
    if not text:
        return millis(e.cast(pl.Float64, strict=False) * 1000.0)
    seconds = e.str.extract(r"^(\d+(?:\.\d+)?(?:[eE]-?\d+)?)$", 1).cast(pl.Float64, strict=False)
    return pl.coalesce(duration_text_ms(e), millis(seconds * 1000.0))


def caddy(cols: Cols) -> dict[str, Field]:
    status = single(cols, "status", lambda e: e.cast(pl.Int32, strict=False))
    access = pl.col("logger").cast(pl.String).str.starts_with("http.log.access") if cols.has("logger") else pl.lit(False)
    return {
        "status": status,
        "level": status_first_level(cols, status),
        "latency_ms": single(cols, "duration", lambda e: caddy_latency(e, text=cols.is_text("duration"))),
        "user": id_field(cols, "user_id"),
        "request_id": id_field(cols, "request.headers.X-Request-Id", first_item, nocase=True, final=True),
        "action": http_action(cols, "request.method", "request.uri"),
        # "handled request" says nothing: the status and route do (error kinds group by them)
        "message": caddy_message(cols, access),
        "remote_addr": first_of(cols, ("request.client_ip", "request.remote_ip"), text),
        "user_agent": single(cols, "request.headers.User-Agent", first_item, nocase=True),
    }


def caddy_message(cols: Cols, access: pl.Expr) -> Field:
    value = pl.when(access).then(None).otherwise(cols("msg").cast(pl.String))
    msg = cols.name("msg")
    return Field(value, {msg: value.is_not_null()} if msg else {}, final=True)


def caddy_lines(cols: Cols) -> pl.Expr:
    return pl.col("logger").cast(pl.String).str.starts_with("http.log.")


def traefik(cols: Cols) -> dict[str, Field]:
    status = single(cols, "DownstreamStatus", lambda e: e.cast(pl.Int32, strict=False))
    out = {
        "ts": single(cols, "StartUTC", parse_timestamp),
        "status": status,
        "level": status_first_level(cols, status),
        "latency_ms": single(cols, "Duration", lambda e: millis(e.cast(pl.Float64, strict=False) / 1e6)),
        "user": id_field(cols, "ClientUsername"),
        "request_id": id_field(cols, "request_X-Request-Id", nocase=True),
        "component": single(cols, "ServiceName", text),
        "action": http_action(cols, "RequestMethod", "RequestPath"),
        "remote_addr": single(cols, "ClientHost", text),
        "user_agent": single(cols, "request_User-Agent", text, nocase=True),
    }
    # the access line's "msg" is empty: no message, and nothing to keep
    msg = cols.name("msg")
    out["message"] = Field(pl.lit(None, dtype=pl.String), {msg: pl.col(msg).cast(pl.String) == ""} if msg else {}, final=True)
    return out


def gcp_trace(e: pl.Expr) -> pl.Expr:
    """``projects/P/traces/ID`` -> ``ID``."""
    s = not_blank(e)
    return pl.coalesce(s.str.extract(r"/traces/([^/]+)$", 1), s)


def gcp(cols: Cols) -> dict[str, Field]:
    status = single(cols, "httpRequest.status", lambda e: e.cast(pl.Int32, strict=False))
    return {
        "status": status,
        "level": status_first_level(cols, status, "severity", worse=True),
        "component": first_of(cols, ("serviceContext.service", "resource.labels.service_name",
                                     "resource.labels.function_name", "resource.labels.container_name",
                                     "resource.labels.module_id", "resource.labels.backend_service_name"), text),
        "latency_ms": single(cols, "httpRequest.latency", duration_text_ms),
        "request_id": first_of(cols, ("trace", "logging.googleapis.com/trace"), gcp_trace),
        "action": http_action(cols, "httpRequest.requestMethod", "httpRequest.requestUrl"),
        "message": first_of(cols, ("textPayload", "jsonPayload.message", "message"), text),
        "remote_addr": single(cols, "httpRequest.remoteIp", text),
        "user_agent": single(cols, "httpRequest.userAgent", text),
    }


