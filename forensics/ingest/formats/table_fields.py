"""Canonical events from a table's named cells (CSV rows): the time from
the column that names one (or a date and a time column), the level (SIEM
severities too) or one from the status, ``METHOD /route`` from method and
path columns; the other cells go through :func:`canonicalize`'s aliases."""

from __future__ import annotations

import re

import polars as pl

from ...schema import ALIASES, TS_TYPE
from ..normalize import canonicalize, normalize_level, parse_timestamp_series
from ..options import IngestOptions
from ..routes import mask_route

#: A header that names a time (with no alias, the first such column is the time).
TIME_NAME = r"(?i)time|date|^ts$|_ts$"
_EXTRA_TIME_FORMATS = (
    "%b %d, %Y @ %H:%M:%S%.f",  # Kibana Discover export
    "%m/%d/%Y, %I:%M:%S%.f %p",  # Azure portal / Sentinel
    "%m/%d/%Y %I:%M:%S%.f %p",
    "%b %d, %Y, %I:%M:%S%.f %p",  # QRadar
    "%b %d, %Y %I:%M:%S%.f %p",
)
_SIEM_LEVELS = {"high": "error", "medium": "warn", "moderate": "warn", "low": "info"}
_METHOD_NAMES = ("method", "http_method", "request_method", "verb", "cs-method", "http.request.method")
_PATH_NAMES = ("path", "uri", "url", "request_uri", "uri_path", "request_path", "cs-uri-stem", "url.path",
               "url.original")


def _answering(cols: list[str], canonical: str, overrides: dict[str, str]) -> list[str]:
    """Columns that answer for ``canonical``, best first: the override alone,
    else exact aliases (case-insensitive) in alias order, then ``x.alias``."""
    lower: dict[str, str] = {}
    for c in cols:
        lower.setdefault(c.lower(), c)
    if canonical in overrides:
        hit = lower.get(overrides[canonical].lower())
        return [hit] if hit else []
    aliases = ALIASES.get(canonical, (canonical,))
    found = [lower[a] for a in aliases if a in lower]
    return found + [c for c in cols if "." in c and c.lower().rsplit(".", 1)[-1] in aliases and c not in found]


def read_time(values: pl.Series, *, tz: str) -> pl.Series:
    """UTC times from text: :func:`~forensics.ingest.normalize.parse_timestamp_series`,
    then the SIEM spellings of :data:`_EXTRA_TIME_FORMATS` (in ``tz``).

    Examples
    --------
    >>> s = pl.Series(["Mar 14, 2026 @ 11:02:17.123", "3/14/2026, 1:02:17 PM", "1773486137"])
    >>> [t.isoformat() for t in read_time(s, tz="UTC")]
    ['2026-03-14T11:02:17.123000+00:00', '2026-03-14T13:02:17+00:00', '2026-03-14T11:02:17+00:00']
    """
    out = parse_timestamp_series(values.cast(pl.String), tz=tz)
    missed = out.is_null() & values.is_not_null()
    if not missed.any():
        return out
    v = pl.col("v").str.strip_chars()
    naive = pl.coalesce([v.str.to_datetime(f, strict=False, time_unit="us") for f in _EXTRA_TIME_FORMATS])
    if tz.upper() in ("UTC", "Z", "GMT"):
        aware = naive.dt.replace_time_zone("UTC")
    else:
        aware = naive.dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null").dt.convert_time_zone("UTC")
    more = pl.DataFrame({"v": values.filter(missed).cast(pl.String)}).select(aware.cast(TS_TYPE)).to_series()
    return out.scatter(missed.arg_true(), more)


def _time_candidates(cols: list[str], overrides: dict[str, str]) -> list[tuple[pl.Expr, list[str]]]:
    """(expression, columns it reads) that may hold the time, best first."""
    if "ts" in overrides:
        return [(pl.col(c), [c]) for c in _answering(cols, "ts", overrides)]
    lower = {c.lower(): c for c in reversed(cols)}
    out: list[tuple[pl.Expr, list[str]]] = []
    if "date" in lower and "time" in lower:
        d, t = lower["date"], lower["time"]
        out.append((pl.concat_str([pl.col(d), pl.col(t)], separator=" "), [d, t]))
    picked = _answering(cols, "ts", overrides)
    picked += [c for c in cols if c not in picked and re.search(TIME_NAME, c)]
    return out + [(pl.col(c), [c]) for c in picked]


def _take(raw: pl.DataFrame, candidates, read, dtype) -> tuple[pl.Series, pl.DataFrame]:
    """The first readable value of the candidates per row (``read`` turns a
    column's values into the canonical type, null when unreadable); the
    columns that gave it are nulled on those rows (they leave ``attrs``)."""
    value = pl.Series([None] * raw.height, dtype=dtype)
    used: dict[str, pl.Series] = {}
    for i, (expr, cols) in enumerate(candidates):
        got = read(raw.select(expr.alias("v")).to_series())
        take = got.is_not_null() if i == 0 else value.is_null() & got.is_not_null()
        value = got.cast(dtype) if i == 0 else value.zip_with(~take, got)
        for c in cols:
            used[c] = used[c] | take if c in used else take
    if used:
        raw = raw.with_columns(pl.when(pl.lit(m)).then(None).otherwise(pl.col(c)).alias(c) for c, m in used.items())
    return value, raw


def _level(v: pl.Series) -> pl.Series:
    sev = pl.col("v").str.strip_chars().str.to_lowercase().replace_strict(_SIEM_LEVELS, default=None,
                                                                           return_dtype=pl.String)
    return pl.DataFrame({"v": v}).select(pl.coalesce(normalize_level(pl.col("v")), sev)).to_series()


def _status(v: pl.Series) -> pl.Series:
    return v.str.extract(r"^\s*(\d{3})\s*$", 1).cast(pl.Int32, strict=False)


def _action(raw: pl.DataFrame, cols: list[str], overrides: dict[str, str]) -> pl.Series | None:
    """``METHOD /route`` from a method and a path/URL column when no column
    answers for the action (each distinct route masked once)."""
    lower = {c.lower(): c for c in reversed(cols)}
    method = next((lower[n] for n in _METHOD_NAMES if n in lower), None)
    path = next((lower[n] for n in _PATH_NAMES if n in lower), None)
    if method is None or path is None or _answering(cols, "action", overrides):
        return None
    route = pl.col(path).str.strip_chars().str.replace(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/]*", "")
    ok = pl.col(method).str.contains(r"^\s*[A-Za-z]+\s*$") & route.str.starts_with("/")
    parts = raw.select(pl.when(ok).then(pl.col(method).str.strip_chars().str.to_uppercase()).alias("_m"),
                       pl.when(ok).then(route).alias("_r"))
    table = parts.select(pl.col("_r").unique().drop_nulls()).with_columns(mask_route(pl.col("_r")).alias("_masked"))
    joined = parts.join(table, on="_r", how="left", maintain_order="left")
    return joined.select(pl.concat_str(["_m", "_masked"], separator=" ").alias("action")).to_series()


def events_from_cells(raw: pl.DataFrame, cols: list[str], *, options: IngestOptions) -> pl.DataFrame:
    """Canonical events from ``line`` and the header-named text columns."""
    over = options.overrides()
    ts, raw = _take(raw, _time_candidates(cols, over), lambda v: read_time(v, tz=options.tz), TS_TYPE)
    level, raw = _take(raw, [(pl.col(c), [c]) for c in _answering(cols, "level", over)], _level, pl.String)
    status, raw = _take(raw, [(pl.col(c), [c]) for c in _answering(cols, "status", over)], _status, pl.Int32)
    from_status = pl.DataFrame({"s": status}).select(
        pl.when(pl.col("s") >= 500).then(pl.lit("error")).when(pl.col("s") >= 400).then(pl.lit("warn"))
        .when(pl.col("s").is_not_null()).then(pl.lit("info"))
    ).to_series()
    fixed = {"ts": pl.lit(ts), "level": pl.lit(level.fill_null(from_status)), "status": pl.lit(status)}
    action = _action(raw, cols, over)
    if action is not None:
        fixed["action"] = pl.lit(action)
    return canonicalize(raw, options=options, fixed=fixed)
