"""Values with units and scales: levels (by spelling or by a numeric scheme),
the level a status implies, and duration text (``"0.123s"``, ``"1m2.5s"``)
(re-exported by :mod:`forensics.ingest.normalize`)."""

from __future__ import annotations

import polars as pl

# -------------------------------------------------------------------------- level

_LEVEL_MAP = {
    "trace": "debug", "debug": "debug", "dbg": "debug", "finest": "debug", "finer": "debug", "fine": "debug",
    "verbose": "debug", "d": "debug", "t": "debug",
    "info": "info", "information": "info", "informational": "info", "notice": "info", "i": "info",
    "log": "info", "statement": "info", "detail": "info", "hint": "info", "context": "info", "config": "info",
    "warn": "warn", "warning": "warn", "w": "warn",
    "error": "error", "err": "error", "e": "error", "severe": "error", "dpanic": "error",
    "fatal": "fatal", "critical": "fatal", "crit": "fatal", "panic": "fatal", "emerg": "fatal",
    "emergency": "fatal", "alert": "fatal", "f": "fatal", "c": "fatal",
}

#: Numeric level schemes (the number as text -> canonical level).  A number is
#: only read by a scheme a dialect names: alone, ``30`` is pino's info but
#: Python's warning, so :func:`normalize_level` leaves numbers unmapped.
LEVEL_SCHEMES: dict[str, dict[str, str]] = {
    # RFC 5424 severity (syslog PRI, journald PRIORITY, GELF level)
    "syslog": {"0": "fatal", "1": "fatal", "2": "fatal", "3": "error", "4": "warn", "5": "info", "6": "info",
               "7": "debug"},
    # pino and bunyan
    "pino": {"10": "debug", "20": "debug", "30": "info", "40": "warn", "50": "error", "60": "fatal"},
    # logback's Level.toInt() (logstash-logback-encoder ``level_value``)
    "logback": {"5000": "debug", "10000": "debug", "20000": "info", "30000": "warn", "40000": "error"},
}

#: Canonical levels from least to most severe (see :func:`worse_level`).
LEVEL_RANK = {"debug": 0, "info": 1, "warn": 2, "error": 3, "fatal": 4}


def normalize_level(expr: pl.Expr) -> pl.Expr:
    """Map level spellings (WARNING, Err, crit, ``[ERROR]``, ``E``, ...) to
    debug/info/warn/error/fatal; null for anything else (numbers included:
    see :data:`LEVEL_SCHEMES`)."""
    low = expr.cast(pl.String).str.strip_chars().str.strip_chars("[]").str.strip_chars().str.to_lowercase()
    return low.replace_strict(_LEVEL_MAP, default=None, return_dtype=pl.String)


def level_by_scheme(expr: pl.Expr, scheme: str) -> pl.Expr:
    """Map a numeric level (a number or numeric text, ``3`` or ``"3"`` or
    ``3.0``) by one of :data:`LEVEL_SCHEMES`; null when it is not one of the
    scheme's numbers.

    Examples
    --------
    >>> import polars as pl
    >>> pl.DataFrame({"l": ["3", "7", "9"]}).select(level_by_scheme(pl.col("l"), "syslog"))["l"].to_list()
    ['error', 'debug', None]
    """
    text = expr.cast(pl.String).str.strip_chars().str.replace(r"\.0+$", "")
    return text.replace_strict(LEVEL_SCHEMES[scheme], default=None, return_dtype=pl.String)


def status_level(status: pl.Expr) -> pl.Expr:
    """The level of an HTTP response: 5xx error, 4xx warn, else info (null status: null)."""
    code = status.cast(pl.Int32, strict=False)
    return (
        pl.when(code >= 500).then(pl.lit("error"))
        .when(code >= 400).then(pl.lit("warn"))
        .when(code.is_not_null()).then(pl.lit("info"))
    )


def worse_level(a: pl.Expr, b: pl.Expr) -> pl.Expr:
    """Per line, the more severe of two canonical levels (a null one loses)."""
    ra = a.replace_strict(LEVEL_RANK, default=None, return_dtype=pl.Int8)
    rb = b.replace_strict(LEVEL_RANK, default=None, return_dtype=pl.Int8)
    return pl.when(rb.is_null() | (ra >= rb)).then(a).otherwise(b)


# ---------------------------------------------------------------- durations

#: Nanoseconds per unit (products of exact integers, then one division: 950us -> 0.95 ms exactly).
_DURATION_UNITS = {"ns": 1.0, "us": 1e3, "µs": 1e3, "μs": 1e3, "ms": 1e6, "s": 1e9, "m": 6e10, "h": 3.6e12}
_DURATION_PART = r"(\d+(?:\.\d+)?)(ns|us|µs|μs|ms|s|m|h)"


def duration_text_ms(expr: pl.Expr) -> pl.Expr:
    """Go and protobuf duration text (``"0.123s"``, ``"12ms"``, ``"1m2.5s"``,
    ``"950µs"``) -> milliseconds; null for anything else.

    Examples
    --------
    >>> import polars as pl
    >>> pl.DataFrame({"d": ["0.123s", "1m2.5s", "950us", "fast"]}).select(duration_text_ms(pl.col("d")))["d"].to_list()
    [123.0, 62500.0, 0.95, None]
    """
    text = expr.cast(pl.String).str.strip_chars()
    whole = text.str.contains(rf"^(?:{_DURATION_PART})+$")
    one = pl.element()
    ms = pl.when(whole).then(text).str.extract_all(_DURATION_PART).list.eval(
        one.str.extract(r"^([\d.]+)", 1).cast(pl.Float64)
        * one.str.extract(r"([^\d.]+)$", 1).replace_strict(_DURATION_UNITS, default=None, return_dtype=pl.Float64)
    ).list.sum() / 1e6
    return pl.when(whole).then(ms.round(6)).otherwise(None)
