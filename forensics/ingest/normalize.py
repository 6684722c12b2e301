"""Shared vectorized helpers: timestamps, levels, field aliases, key=value pairs.

Every format module turns its raw fields into the canonical schema through
:func:`canonicalize`, so alias rules live in one place.
"""

from __future__ import annotations

import re

import polars as pl

from ..schema import ALIASES, EVENT_SCHEMA, LATENCY_NANOS, LATENCY_SECONDS, TS_TYPE
from .options import IngestOptions
from .kv import KV_PATTERN, extract_kv  # noqa: F401 (re-exported; moved to kv.py)
from .parallel import select_rows
from .routes import mask_route, mask_segment, route_action  # noqa: F401 (re-exported; moved to routes.py)

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


# -------------------------------------------------------------------------- level

_LEVEL_MAP = {
    "trace": "debug", "debug": "debug", "dbg": "debug", "finest": "debug", "finer": "debug", "fine": "debug",
    "verbose": "debug", "d": "debug", "t": "debug",
    "info": "info", "information": "info", "informational": "info", "notice": "info", "i": "info",
    "log": "info", "statement": "info", "detail": "info", "hint": "info", "context": "info", "config": "info",
    "warn": "warn", "warning": "warn", "w": "warn",
    "error": "error", "err": "error", "e": "error", "severe": "error",
    "fatal": "fatal", "critical": "fatal", "crit": "fatal", "panic": "fatal", "emerg": "fatal",
    "emergency": "fatal", "alert": "fatal", "f": "fatal", "c": "fatal",
}


def normalize_level(expr: pl.Expr) -> pl.Expr:
    """Map level spellings (WARNING, Err, crit, ...) to debug/info/warn/error/fatal."""
    low = expr.cast(pl.String).str.strip_chars().str.to_lowercase()
    return low.replace_strict(_LEVEL_MAP, default=None, return_dtype=pl.String)


# ---------------------------------------------------------------- canonicalize

_NUMERIC_STATUS = r"^\d{3}$"


def _pick_all(columns: list[str], canonical: str, overrides: dict[str, str]) -> list[str]:
    """Every column that answers for ``canonical``, best first: exact aliases in
    alias order, then nested ``x.alias`` names.  An override names exactly one."""
    lower = {c.lower(): c for c in columns}
    if canonical in overrides:
        hit = lower.get(overrides[canonical].lower())
        return [hit] if hit else []
    aliases = ALIASES.get(canonical, (canonical,))
    found = [lower[a] for a in aliases if a in lower]
    # Nested fields flattened with dots: "http.status" answers for "status".
    for alias in aliases:
        for low, name in lower.items():
            if "." in low and low.rsplit(".", 1)[-1] == alias and name not in found:
                found.append(name)
    # ... and "user.id" / "session.id" for user / session.
    if canonical in ("user", "session", "request_id"):
        for low, name in lower.items():
            if low in (f"{canonical}.id", f"{canonical.split('_')[0]}.id") and name not in found:
                found.append(name)
    return found


def _field_expr(raw: pl.DataFrame, canonical: str, name: str, options: IngestOptions) -> pl.Expr | None:
    col = pl.col(name)
    if canonical == "ts":
        return pl.lit(parse_timestamp_series(raw.get_column(name), tz=options.tz))
    if canonical == "level":
        return normalize_level(col)
    if canonical == "status":
        if raw.schema[name] == pl.String and name.lower() == "code":
            # "code" is only a status when it looks like one.
            if not raw.get_column(name).drop_nulls().str.contains(_NUMERIC_STATUS).all():
                return None
        return col.cast(pl.String).str.extract(r"^(\d{1,3})$", 1).cast(pl.Int32, strict=False)
    if canonical == "latency_ms":
        num = col.cast(pl.String).str.extract(r"^(-?\d+(?:\.\d+)?)", 1).cast(pl.Float64, strict=False)
        if name.lower() in LATENCY_NANOS:
            return num / 1e6
        return num * 1000.0 if name.lower() in LATENCY_SECONDS else num
    return _as_text(col, raw.schema[name])


def canonicalize(
    raw: pl.DataFrame,
    *,
    options: IngestOptions,
    fixed: dict[str, pl.Expr] | None = None,
    skip: tuple[str, ...] = (),
) -> pl.DataFrame:
    """Map a frame of named raw fields to canonical columns.

    Each canonical column takes, line by line, the first non-null of the
    fields that answer for it (so one stream may mix ``uid`` and ``user_id``).
    A field is left out of ``attrs`` on the lines where it gave the value.

    Parameters
    ----------
    raw
        ``line`` plus any raw fields (any types; nested values already flattened
        or JSON text).
    options
        Field overrides and the default time zone.
    fixed
        Canonical columns the format computed itself (they win over aliases).
    skip
        Canonical names not to look up by alias.

    Returns
    -------
    pl.DataFrame
        ``line`` and every canonical column except ``source`` and ``format``;
        fields not used for a canonical column go into ``attrs`` as JSON text
        (null fields omitted).

    Examples
    --------
    >>> import polars as pl
    >>> from forensics.ingest.options import IngestOptions
    >>> raw = pl.DataFrame({"line": [1, 2], "time": ["2023-11-02T10:00:00Z"] * 2,
    ...                     "uid": ["u1", None], "user_id": [None, "u3"]})
    >>> canonicalize(raw, options=IngestOptions())["user"].to_list()
    ['u1', 'u3']
    """
    cols = [c for c in raw.columns if c != "line"]
    exprs, used, masked = _alias_exprs(raw, cols, options=options, fixed=fixed, skip=skip)
    leftovers = [c for c in cols if c not in used]
    attrs_src = raw.with_columns(masked[c] for c in leftovers if c in masked) if masked else raw
    out = raw.select(
        pl.col("line"),
        *[e.alias(k) for k, e in exprs.items()],
        pl.lit(attrs_json(attrs_src, leftovers)).alias("attrs"),
    )
    # Order and types of the canonical schema (minus source/format).
    final = []
    for name, dtype in EVENT_SCHEMA.items():
        if name in ("source", "format"):
            continue
        if name in out.columns:
            final.append(pl.col(name).cast(dtype, strict=False))
        else:
            final.append(pl.lit(None, dtype=dtype).alias(name))
    return out.select(final)


#: Canonical columns looked up by alias, in this order (a field answers for one at most).
_CANONICAL = ("ts", "level", "component", "status", "user", "session", "request_id", "action", "key",
              "latency_ms", "message")


def _alias_exprs(raw: pl.DataFrame, cols: list[str], *, options: IngestOptions,
                 fixed: dict[str, pl.Expr] | None, skip: tuple[str, ...]
                 ) -> tuple[dict[str, pl.Expr], set[str], dict[str, pl.Expr]]:
    """The expression of each canonical column (the format's own ``fixed``
    ones win; else the first non-null of the fields that answer for it), the
    fields used, and the lower-ranked fields masked on the lines where they
    gave the value (elsewhere they stay in ``attrs``)."""
    fixed = dict(fixed or {})
    overrides = options.overrides()
    used: set[str] = set()
    masked: dict[str, pl.Expr] = {}
    exprs: dict[str, pl.Expr] = {}
    for canonical in _CANONICAL:
        if canonical in fixed:
            exprs[canonical] = fixed.pop(canonical)
            continue
        if canonical in skip:
            continue
        names = _pick_all([c for c in cols if c not in used], canonical, overrides)
        parts = [(n, e) for n in names if (e := _field_expr(raw, canonical, n, options)) is not None]
        if not parts:
            continue
        used.add(parts[0][0])
        exprs[canonical] = parts[0][1] if len(parts) == 1 else pl.coalesce([e for _, e in parts])
        for i, (name, _) in enumerate(parts[1:], start=1):
            better_null = pl.all_horizontal([pl.col(n).is_null() for n, _ in parts[:i]])
            masked[name] = pl.when(better_null).then(None).otherwise(pl.col(name)).alias(name)
    exprs.update(fixed)
    return exprs, used, masked


def _as_text(col: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    if dtype == pl.String:
        return col
    if isinstance(dtype, (pl.Struct, pl.List, pl.Array)):
        return col.struct.json_encode() if isinstance(dtype, pl.Struct) else col.cast(pl.List(pl.String), strict=False).list.join(",")
    return col.cast(pl.String)


def attrs_json(raw: pl.DataFrame, names: list[str]) -> pl.Series:
    """JSON object text of the columns ``names``, null members left out; null
    when nothing is left.

    Fast path: columns that are null everywhere are dropped; the rows with
    the commonest set of null columns (flat columns only) are encoded
    directly from their non-null columns; only the other rows pay for the
    cleanup of ``"name":null`` members.
    """
    names = [n for n in names if raw.get_column(n).null_count() < raw.height]
    if not names:
        return pl.Series("attrs", [None] * raw.height, dtype=pl.String)
    nested = (pl.Struct, pl.List, pl.Array, pl.Object)
    if len(names) < 63 and not any(isinstance(raw.schema[n], nested) for n in names):
        bits = pl.sum_horizontal([pl.col(n).is_null().cast(pl.Int64) * (1 << i) for i, n in enumerate(names)])
        pattern = raw.select(bits.alias("_p")).get_column("_p")
        top = pattern.value_counts(sort=True).get_column("_p")[0]
        needs = pattern != top
        keep = [n for i, n in enumerate(names) if not top >> i & 1]
    else:
        needs = raw.select(pl.any_horizontal([pl.col(n).is_null() for n in names])).to_series()
        keep = names
    if keep:
        enc = pl.struct([pl.col(n) for n in keep]).struct.json_encode().alias("attrs")
        base = select_rows(raw, enc).get_column("attrs")
    else:
        base = pl.Series("attrs", [None] * raw.height, dtype=pl.String)
    if not needs.any():
        return base
    # Remove "name":null members (keys come from field names; the patterns
    # skip escaped quotes inside them).
    cleaned = (
        raw.filter(needs)
        .select(
            pl.struct([pl.col(n) for n in names]).struct.json_encode()
            .str.replace_all(r'"(?:[^"\\]|\\.)*":null,', "")
            .str.replace_all(r',"(?:[^"\\]|\\.)*":null\}', "}")
            .str.replace_all(r'\{"(?:[^"\\]|\\.)*":null\}', "{}")
            .alias("attrs")
        )
        .select(pl.when(pl.col("attrs") == "{}").then(None).otherwise(pl.col("attrs")).alias("attrs"))
        .get_column("attrs")
    )
    return base.scatter(needs.arg_true(), cleaned)


def component_from_path(rel_path: str) -> str:
    """Guess a component from a file path: the parent folder when there is one,
    else the file name without extensions, rotation numbers and dates.

    Examples
    --------
    >>> component_from_path("cache/redis.log")
    'cache'
    >>> component_from_path("postgresql-2023-11-02_000000.log.2.gz")
    'postgresql'
    >>> component_from_path("nginx_access.log")
    'nginx'
    """
    parts = rel_path.replace("\\", "/").split("/")
    if len(parts) > 1 and parts[-2] not in ("", ".", "logs", "log"):
        return parts[-2]
    name = parts[-1]
    stem = name.split(".")[0]
    stem = re.sub(r"[-_]?\d{4}-?\d{2}-?\d{2}.*$", "", stem)
    stem = re.sub(r"[-_](access|error|server|app|log|logs|json)$", "", stem, flags=re.I)
    return stem or name
