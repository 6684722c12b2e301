"""The canonical event schema: the public contract every stage builds on.

One row per event.  Column order and types are stable; new columns may only be
added at the end (see docs/schema.md).
"""

from __future__ import annotations

import polars as pl

TS_TYPE = pl.Datetime("us", "UTC")

#: Canonical event columns, in order.
EVENT_SCHEMA: dict[str, pl.DataType] = {
    "ts": TS_TYPE,
    "source": pl.String(),
    "line": pl.Int64(),
    "format": pl.String(),
    "component": pl.String(),
    "level": pl.String(),
    "status": pl.Int32(),
    "user": pl.String(),
    "session": pl.String(),
    "request_id": pl.String(),
    "action": pl.String(),
    "key": pl.String(),
    "latency_ms": pl.Float64(),
    "message": pl.String(),
    "attrs": pl.String(),
}

#: Rejected (malformed) lines, as written by ``--rejects``.
REJECT_SCHEMA: dict[str, pl.DataType] = {
    "source": pl.String(),
    "line": pl.Int64(),
    "format": pl.String(),
    "reason": pl.String(),
    "text": pl.String(),
}

LEVELS = ("debug", "info", "warn", "error", "fatal")

#: Field-name aliases, checked in order (case-insensitive) when a format has
#: named fields (JSON lines, logfmt, key=value extras).
ALIASES: dict[str, tuple[str, ...]] = {
    "ts": ("ts", "time", "timestamp", "@timestamp", "date", "datetime", "t", "asctime", "time_local"),
    "level": ("level", "lvl", "severity", "loglevel", "log_level", "levelname", "priority"),
    "component": ("component", "service", "svc", "app", "application", "service_name", "service.name", "logger_name"),
    "status": ("status", "status_code", "http_status", "statuscode", "code"),
    "user": ("user", "user_id", "userid", "uid", "username", "user_name", "usr", "customer_id", "customerid",
             "customer", "account_id", "member_id", "user.id", "user.name"),
    "session": ("session", "session_id", "sessionid", "sid"),
    "request_id": ("request_id", "requestid", "req_id", "rid", "trace_id", "traceid", "trace.id", "trace",
                   "correlation_id", "correlationid", "x_request_id", "x-request-id"),
    "action": ("action", "event", "event_type", "activity", "op", "cmd", "operation"),
    "key": ("key", "cache_key", "cachekey", "resource"),
    "latency_ms": ("latency_ms", "duration_ms", "elapsed_ms", "ms", "response_time_ms", "rt", "request_time",
                   "event.duration", "duration", "latency"),
    "message": ("message", "msg", "text", "log", "body"),
}

#: Latency aliases whose values are in seconds (converted to ms).
LATENCY_SECONDS = frozenset({"rt", "request_time", "upstream_response_time"})

#: Latency aliases whose values are in nanoseconds (Elastic ECS ``event.duration``).
LATENCY_NANOS = frozenset({"event.duration"})


def empty_events() -> pl.DataFrame:
    """An empty frame with the canonical event schema."""
    return pl.DataFrame(schema=EVENT_SCHEMA)


def empty_rejects() -> pl.DataFrame:
    """An empty frame with the reject schema."""
    return pl.DataFrame(schema=REJECT_SCHEMA)


def conform(frame: pl.DataFrame) -> pl.DataFrame:
    """Return ``frame`` with exactly the canonical columns, types and order.

    Missing columns are added as nulls; extra columns are dropped.
    """
    exprs = []
    for name, dtype in EVENT_SCHEMA.items():
        if name in frame.columns:  # a cast to the same type still copies
            exprs.append(pl.col(name) if frame.schema[name] == dtype else pl.col(name).cast(dtype, strict=False))
        else:
            exprs.append(pl.lit(None, dtype=dtype).alias(name))
    return frame.select(exprs)
