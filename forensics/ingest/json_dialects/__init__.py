"""JSON dialects: what well-known JSON log writers mean by their fields.

The ``jsonl`` format reads any JSON object through the generic field aliases
(:func:`forensics.ingest.normalize.canonicalize`).  Some writers need more:
journald's time is ``__REALTIME_TIMESTAMP`` in microseconds and its level a
syslog number, GELF's level is a syslog number and its extra fields start with
``_``, Caddy's ``duration`` is in seconds, and so on.  A dialect is recognised
line by line from marker fields (after flattening), so a batch of small files
of several dialects still reads each line by its own; it supplies the
canonical values it knows (``prefer``) and names the raw fields it read them
from (``consumed``: left out of ``attrs`` on those lines).  Every other field
is left to the generic aliases and ``attrs``.  A value a dialect cannot read
(a level number outside its scheme) is null: the aliases answer instead and
the field stays in ``attrs``.

Dialects, first match wins: journald (``journalctl -o json``), GELF, MongoDB,
log4j2 ``JsonLayout``, Caddy and Traefik access logs, Google Cloud Logging
``LogEntry``, pino/bunyan, Logstash JSON (logstash-logback-encoder).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from ...schema import EVENT_SCHEMA
from ..normalize import canonicalize
from ..options import IngestOptions
from . import writers as w
from .fields import Cols, Field, decode_byte_array

__all__ = ["DIALECTS", "Cols", "Dialect", "Field", "canonicalize_json", "decode_byte_array", "detect"]


@dataclass(frozen=True)
class Dialect:
    """A JSON log writer: the fields that mark its lines and what it means by them."""

    name: str
    #: Any of these sets of fields, all non-null on a line, marks the line.
    markers: tuple[tuple[str, ...], ...]
    #: Canonical (or ``attrs``) name -> :class:`Field`, for the frame's columns.
    fields: Callable[[Cols], dict[str, Field]]
    #: An extra condition on marked lines.
    also: Callable[[Cols], pl.Expr] | None = None
    #: Rewrites raw columns on the dialect's lines before ``fields`` (frame, lines).
    prepare: Callable[[pl.DataFrame, pl.Expr], pl.DataFrame] | None = None


# ------------------------------------------------------------------- registry

#: In order: a line is read by the first dialect whose markers it has.
DIALECTS: tuple[Dialect, ...] = (
    Dialect("journald", (("__REALTIME_TIMESTAMP",),), w.journald, prepare=w.journald_prepare),
    Dialect("gelf", (("short_message", "host"), ("short_message", "version")), w.gelf, prepare=w.gelf_prepare),
    Dialect("mongodb", (("t.$date", "s", "c", "msg"),), w.mongodb),
    Dialect("log4j2", (("instant.epochSecond",), ("timeMillis", "loggerName")), w.log4j2),
    Dialect("caddy", (("logger", "request.method", "request.uri"),), w.caddy, also=w.caddy_lines),
    Dialect("traefik", (("RequestMethod", "DownstreamStatus"), ("RequestMethod", "RouterName")), w.traefik),
    Dialect("gcp", (("logName",), ("insertId",), ("logging.googleapis.com/trace",),
                    ("httpRequest.requestMethod", "severity")), w.gcp),
    Dialect("pino", (("level", "pid", "hostname"), ("level", "v", "name", "hostname"), ("level", "msg", "time")),
            w.pino, also=w.pino_lines),
    Dialect("logstash", (("@version",),), w.logstash),
)


def _lines_of(dialect: Dialect, cols: Cols) -> pl.Expr | None:
    """The marker condition of ``dialect`` (None: the columns cannot hold it)."""
    sets = [s for s in dialect.markers if cols.has(*s)]
    if not sets:
        return None
    cond = pl.any_horizontal([pl.all_horizontal([pl.col(c).is_not_null() for c in s]) for s in sets])
    return cond & dialect.also(cols).fill_null(False) if dialect.also else cond


def detect(raw: pl.DataFrame) -> dict[str, pl.Series]:
    """Dialect name -> its lines (a boolean mask), for the dialects present;
    each line belongs to one dialect at most.

    Examples
    --------
    >>> import polars as pl
    >>> raw = pl.DataFrame({"short_message": ["hi", None], "host": ["h", "h"], "level": [3, 3]})
    >>> {k: v.to_list() for k, v in detect(raw).items()}
    {'gelf': [True, False]}
    """
    cols = Cols(raw.schema)
    found = [(d.name, cond) for d in DIALECTS if (cond := _lines_of(d, cols)) is not None]
    if not found:
        return {}
    taken, exprs = pl.lit(False), []
    for name, cond in found:
        exprs.append((cond & ~taken).alias(name))
        taken = taken | cond
    masks = raw.select(exprs)
    return {name: masks[name] for name in masks.columns if masks[name].any()}


def canonicalize_json(raw: pl.DataFrame, *, options: IngestOptions) -> pl.DataFrame:
    """:func:`~forensics.ingest.normalize.canonicalize` a flattened JSON frame,
    each line read by its dialect where it has one (see the module docstring).

    A field override (``--time-field`` etc.) wins over a dialect, unless it
    names a field the dialect reads for that column anyway.
    """
    lines = detect(raw)
    if not lines:
        return canonicalize(raw, options=options)
    by_name = {d.name: d for d in DIALECTS}
    for name, mask in lines.items():
        if by_name[name].prepare is not None:
            raw = by_name[name].prepare(raw, pl.lit(mask))
    cases = _cases(raw, lines, options=options)
    # Every value and condition at once, in one lazy query: a value that
    # several conditions read (a masked route, a mapped level) is computed once.
    exprs: dict[str, pl.Expr] = {}
    consumed: dict[str, pl.Expr] = {}
    for out, fs in cases.items():
        dtype = EVENT_SCHEMA.get(out, pl.String())
        value = pl.lit(None, dtype=dtype)
        for mask, f in reversed(fs):
            value = pl.when(mask).then(f.value.cast(dtype, strict=False)).otherwise(value)
        used = pl.lit(True)
        if out not in EVENT_SCHEMA and out in raw.columns:  # an attrs field already there wins
            used = pl.col(out).is_null()
            value = pl.coalesce(pl.col(out).cast(pl.String), value)
        exprs[f"v {out}"] = value
        exprs[f"o {out}"] = pl.any_horizontal([pl.lit(False), *(m for m, f in fs if f.final)])
        for mask, f in fs:
            for src, cond in f.sources.items():
                hit = (mask & cond & used).fill_null(False)
                consumed[src] = consumed[src] | hit if src in consumed else hit
    exprs.update({f"c {src}": cond for src, cond in consumed.items()})
    got = raw.lazy().select([e.alias(k) for k, e in exprs.items()]).collect()
    extra = [got[f"v {out}"].alias(out) for out in cases if out not in EVENT_SCHEMA]
    if extra:
        raw = raw.with_columns(extra)
    prefer = {out: (pl.lit(got[f"v {out}"]), pl.lit(got[f"o {out}"])) for out in cases if out in EVENT_SCHEMA}
    return canonicalize(raw, options=options, prefer=prefer,
                        consumed={src: pl.lit(got[f"c {src}"]) for src in consumed})


def _cases(raw: pl.DataFrame, lines: dict[str, pl.Series], *, options: IngestOptions
           ) -> dict[str, list[tuple[pl.Expr, Field]]]:
    """Output name -> (lines, field) of every dialect present that reads it."""
    by_name = {d.name: d for d in DIALECTS}
    cols = Cols(raw.schema)
    overrides = {k: v.lower() for k, v in options.overrides().items()}
    cases: dict[str, list[tuple[pl.Expr, Field]]] = {}
    for name, mask in lines.items():
        for out, f in by_name[name].fields(cols).items():
            if f is None or (out in overrides and overrides[out] not in {s.lower() for s in f.sources}):
                continue
            cases.setdefault(out, []).append((pl.lit(mask), f))
    return cases
