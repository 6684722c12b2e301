"""Timestamps: many spellings of a time into ``Datetime(us, UTC)``
(re-exported by :mod:`forensics.ingest.normalize`)."""

from __future__ import annotations

import polars as pl

from ..schema import TS_TYPE
from .parallel import select_rows

# --------------------------------------------------------------------------- time

_ISO_AWARE = "%Y-%m-%dT%H:%M:%S%.f%#z"
_ISO_NAIVE = "%Y-%m-%dT%H:%M:%S%.f"


def _localize(naive: pl.Expr, tz: str) -> pl.Expr:
    """Naive local datetimes -> UTC (DST gaps become null, folds take the earlier)."""
    if tz.upper() in ("UTC", "Z", "GMT"):
        return naive.dt.replace_time_zone("UTC")
    return naive.dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null").dt.convert_time_zone("UTC")


def epoch_to_ts(num: pl.Expr) -> pl.Expr:
    """Epoch number (s, ms, us or ns, chosen by magnitude) -> UTC datetime."""
    x = num.cast(pl.Float64, strict=False)
    a = x.abs()
    us = (
        pl.when(a < 1e11).then(x * 1e6)
        .when(a < 1e14).then(x * 1e3)
        .when(a < 1e17).then(x)
        .otherwise(x / 1e3)
    )
    return us.round(0).cast(pl.Int64, strict=False).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")


def parse_timestamp(expr: pl.Expr, *, tz: str = "UTC") -> pl.Expr:
    """Parse many timestamp spellings into ``Datetime(us, UTC)``; null if none fits.

    Accepts epoch numbers (s/ms/us/ns, numbers or numeric strings), ISO-8601
    with or without ``T``, fraction and offset (``Z``, ``+02:00``, ``+0200``),
    a trailing ``UTC``/``GMT`` word, a comma before milliseconds (log4j),
    ``10/Oct/2000:13:55:36 -0700`` (access logs, brackets optional) and
    ``14 Mar 2026 11:02:33.158`` (Redis).  Timestamps without a zone are read
    in ``tz``.

    Examples
    --------
    >>> import polars as pl
    >>> df = pl.DataFrame({"t": ["2023-11-02 16:14:58,123", "1698941698", "[02/Nov/2023:18:14:58 +0200]"]})
    >>> df.select(parse_timestamp(pl.col("t")).dt.strftime("%H:%M:%S")).to_series().to_list()
    ['16:14:58', '16:14:58', '16:14:58']
    """
    s = expr.cast(pl.String).str.strip_chars().str.strip_chars("[]")
    numeric = s.str.contains(r"^-?\d{9,19}(\.\d+)?$")
    iso = (
        s.str.replace(r"^(\d{4}-\d{2}-\d{2})[ T]", "${1}T")
        .str.replace(r"(:\d{2}),(\d+)", "${1}.${2}")
        .str.replace(r"\s*(UTC|GMT|Z)$", "+00:00")
        .str.replace(r"\s+([+-]\d{2}:?\d{2})$", "${1}")
    )
    aware = iso.str.to_datetime(_ISO_AWARE, strict=False, time_unit="us", time_zone="UTC")
    naive = _localize(iso.str.to_datetime(_ISO_NAIVE, strict=False, time_unit="us"), tz)
    clf = s.str.to_datetime("%d/%b/%Y:%H:%M:%S %z", strict=False, time_unit="us", time_zone="UTC")
    redis = _localize(s.str.to_datetime("%d %b %Y %H:%M:%S%.f", strict=False, time_unit="us"), tz)
    return (
        pl.when(numeric)
        .then(epoch_to_ts(s))
        .otherwise(pl.coalesce(aware, naive, clf, redis))
        .cast(TS_TYPE)
    )


_FAST_FORMATS: tuple[tuple[str, bool], ...] = (
    # (strptime format, carries its own zone)
    ("%Y-%m-%dT%H:%M:%S%.f%#z", True),
    ("%Y-%m-%d %H:%M:%S%.f%#z", True),
    ("%Y-%m-%dT%H:%M:%S%.f", False),
    ("%Y-%m-%d %H:%M:%S%.f", False),
    ("%d/%b/%Y:%H:%M:%S %z", True),
    ("%d %b %Y %H:%M:%S%.f", False),
)


def parse_timestamp_series(values: pl.Series, *, tz: str = "UTC") -> pl.Series:
    """Like :func:`parse_timestamp`, but fast on uniform columns.

    The first non-null values pick one strptime format, applied to the whole
    column in one pass; only rows that format cannot read go through the
    general (slower, many-format) :func:`parse_timestamp`.
    """
    name = values.name
    if values.dtype != pl.String:
        if values.dtype.is_numeric():
            return pl.select(epoch_to_ts(pl.lit(values))).to_series().alias(name)
        values = values.cast(pl.String)
    sample = values.drop_nulls().head(200)
    frame = pl.DataFrame({"v": values})
    out: pl.Series | None = None
    if sample.len() and not sample.str.contains(r"^\s*-?\d{9,19}(\.\d+)?\s*$").any():
        for fmt, aware in _FAST_FORMATS:
            if aware:
                trial = sample.str.to_datetime(fmt, strict=False, time_unit="us", time_zone="UTC")
            else:
                trial = sample.str.to_datetime(fmt, strict=False, time_unit="us")
            if trial.null_count() == 0:
                if aware:
                    expr = pl.col("v").str.to_datetime(fmt, strict=False, time_unit="us", time_zone="UTC")
                else:
                    expr = _localize(pl.col("v").str.to_datetime(fmt, strict=False, time_unit="us"), tz)
                out = select_rows(frame, expr.cast(TS_TYPE)).to_series()
                break
    if out is None:
        return frame.select(parse_timestamp(pl.col("v"), tz=tz)).to_series().alias(name)
    missed = out.is_null() & values.is_not_null()
    if missed.any():
        slow = frame.filter(missed).select(parse_timestamp(pl.col("v"), tz=tz)).to_series()
        out = out.scatter(missed.arg_true(), slow)
    return out.alias(name)
