"""Shared vectorized helpers: field aliases into the canonical columns (timestamps in
:mod:`.timestamps`, levels and durations in :mod:`.values`, key=value pairs in :mod:`.kv`).

Every format module turns its raw fields into the canonical schema through
:func:`canonicalize`, so alias rules live in one place.
"""

from __future__ import annotations

import functools
import re

import polars as pl

from ..schema import ALIASES, EVENT_SCHEMA, LATENCY_NANOS, LATENCY_SECONDS, TS_TYPE
from .options import IngestOptions
from .kv import KV_PATTERN, extract_kv  # noqa: F401 (re-exported; moved to kv.py)
from .parallel import select_rows
from .routes import mask_route, mask_segment, route_action  # noqa: F401 (re-exported; moved to routes.py)
from .timestamps import (  # noqa: F401 (re-exported; moved to timestamps.py)
    epoch_to_ts, parse_timestamp, parse_timestamp_series,
)
from .values import (  # noqa: F401 (re-exported; moved to values.py)
    LEVEL_RANK, normalize_level, level_by_scheme, status_level, worse_level, duration_text_ms,
)

# ---------------------------------------------------------------- time

#: An RFC 3339 UTC time (``2023-11-02T10:00:00.123Z``) that
#: :func:`parse_times` reads by parts.
_RFC3339_Z = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:[0-5]\d(?:\.\d{1,9})?Z$"
#: The format :func:`parse_timestamp_series` picks for a column of such times.
_ISO_AWARE = "%Y-%m-%dT%H:%M:%S%.f%#z"


def parse_times(values: pl.Series, *, tz: str = "UTC") -> pl.Series:
    """:func:`parse_timestamp_series`, faster on columns of RFC 3339 UTC
    times (``...T10:00:00.123456Z``, what container runtimes, load balancers
    and most JSON and logfmt loggers write).

    Such a time is read as its whole second (one strptime per distinct
    second: log lines share their seconds) plus the fraction, truncated to
    microseconds, as the general parse reads it; other values take the
    general path, as they would there.

    Examples
    --------
    >>> import polars as pl
    >>> t = parse_times(pl.Series(["2023-11-02T10:00:00.1234567Z", "2023-11-02 12:00:00+02:00"]))
    >>> t.dt.strftime("%H:%M:%S%.6f").to_list()
    ['10:00:00.123456', '10:00:00.000000']
    """
    if values.dtype != pl.String:
        return parse_timestamp_series(values, tz=tz)
    sample = values.drop_nulls().head(200)
    if sample.len() == 0 or not sample.str.contains(_RFC3339_Z).all():
        return parse_timestamp_series(values, tz=tz)
    if sample.str.to_datetime(_ISO_AWARE, strict=False, time_unit="us", time_zone="UTC").null_count():
        return parse_timestamp_series(values, tz=tz)  # the sample picks another format there
    v = pl.col("v")
    whole = v.str.slice(0, 19).str.to_datetime("%Y-%m-%dT%H:%M:%S", time_unit="us", time_zone="UTC", strict=False)
    micros = (v.str.slice(20).str.strip_suffix("Z") + "000000").str.slice(0, 6).cast(pl.Int64, strict=False)
    fast = pl.when(v.str.contains(_RFC3339_Z)).then(whole + pl.duration(microseconds=micros.fill_null(0)))
    frame = pl.DataFrame({"v": values})
    out = select_rows(frame, fast.alias("v")).to_series()
    missed = out.is_null() & values.is_not_null()
    if missed.any():
        # what parse_timestamp_series does with them: the format the sample
        # picked, then the general parse
        picked = v.str.to_datetime(_ISO_AWARE, strict=False, time_unit="us", time_zone="UTC")
        slow = frame.filter(missed).select(pl.coalesce(picked, parse_timestamp(v, tz=tz))).to_series()
        out = out.scatter(missed.arg_true(), slow)
    return out.cast(TS_TYPE).alias(values.name)


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


#: Canonical columns whose value can be null where their field is not (an
#: unmapped level, a status that is no number, an empty user): there the field
#: stays in ``attrs``.
_CHECKED = frozenset({"ts", "level", "status", "latency_ms", "user", "session", "request_id"})
#: Identifiers for which an empty value (``""``, ``"-"``) means none.
_IDS = frozenset({"user", "session", "request_id"})


def blank_id(expr: pl.Expr) -> pl.Expr:
    """Whether an identifier value is empty: ``""`` or ``"-"`` (null stays null)."""
    # what ``strip_chars().is_in(["", "-"])`` says (``\s`` is Unicode White_Space, as
    # strip_chars' whitespace), without copying every value
    return expr.cast(pl.String).str.contains(r"^\s*-?\s*$")


#: Level words :func:`fast_level` looks up as they are written.
_LEVEL_WORDS = ("trace", "debug", "dbg", "verbose", "info", "information", "informational", "notice", "log",
                "warn", "warning", "error", "err", "severe", "fatal", "critical", "crit", "panic", "emerg", "alert")


@functools.lru_cache(maxsize=1)
def _level_spellings() -> dict[str, str]:
    """Common spellings of level words (``info``, ``INFO``, ``Info``) -> what
    :func:`normalize_level` makes of them."""
    words = sorted({f(w) for w in _LEVEL_WORDS for f in (str.lower, str.upper, str.capitalize)})
    got = pl.select(normalize_level(pl.lit(pl.Series(words, dtype=pl.String)))).to_series().to_list()
    return {w: g for w, g in zip(words, got) if g is not None}


def fast_level(col: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """:func:`normalize_level` of a column: common spellings by one lookup,
    only the other values through the general cleanup."""
    if dtype != pl.String:
        return normalize_level(col)
    known = col.replace_strict(_level_spellings(), default=None, return_dtype=pl.String)
    return pl.coalesce(known, normalize_level(pl.when(known.is_null()).then(col)))


def _field_expr(raw: pl.DataFrame, canonical: str, name: str, options: IngestOptions) -> pl.Expr | None:
    col = pl.col(name)
    dtype = raw.schema[name]
    if canonical == "ts":
        return pl.lit(parse_times(raw.get_column(name), tz=options.tz))
    if canonical == "level":
        return fast_level(col, dtype)
    if canonical == "status":
        if dtype == pl.String and name.lower() == "code":
            # "code" is only a status when it looks like one.
            if not raw.get_column(name).drop_nulls().str.contains(_NUMERIC_STATUS).all():
                return None
        if dtype.is_integer():  # what the text of the number gives, without the text
            return pl.when(col.is_between(0, 999)).then(col).cast(pl.Int32)
        text = col.cast(pl.String)  # the whole text when it is 1-3 digits (a match, not a capture: faster)
        return pl.when(text.str.contains(r"^\d{1,3}$")).then(text).cast(pl.Int32, strict=False)
    if canonical == "latency_ms":
        if dtype.is_integer():
            num = col.cast(pl.Float64)
        else:
            num = col.cast(pl.String).str.extract(r"^(-?\d+(?:\.\d+)?)", 1).cast(pl.Float64, strict=False)
        if name.lower() in LATENCY_NANOS:
            return num / 1e6
        return num * 1000.0 if name.lower() in LATENCY_SECONDS else num
    text = _as_text(col, raw.schema[name])
    if canonical in _IDS:
        return pl.when(blank_id(col)).then(None).otherwise(text)
    return text


def canonicalize(
    raw: pl.DataFrame,
    *,
    options: IngestOptions,
    fixed: dict[str, pl.Expr] | None = None,
    skip: tuple[str, ...] = (),
    prefer: dict[str, tuple[pl.Expr, pl.Expr]] | None = None,
    consumed: dict[str, pl.Expr] | None = None,
) -> pl.DataFrame:
    """Map a frame of named raw fields to canonical columns.

    Each canonical column takes, line by line, the first non-null of the
    fields that answer for it (so one stream may mix ``uid`` and ``user_id``).
    A field is left out of ``attrs`` on the lines where it gave the value; on
    the other lines it stays, so a level that maps to none of the five (``5``,
    ``"verbose-ish"``) or a status that is no number is kept verbatim.  An
    empty identifier (``""`` or ``"-"`` as user, session or request id) is
    no value and is left out.

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
    prefer
        Canonical name -> ``(value, own)``: the value a format read for some
        lines (a JSON dialect); where it is null and ``own`` is not true, the
        aliases answer as usual.
    consumed
        Raw field -> the lines on which it was read into a ``prefer`` value
        (left out of ``attrs`` there).

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
    ...                     "uid": ["u1", None], "user_id": [None, "u3"], "level": ["warning", "5"]})
    >>> out = canonicalize(raw, options=IngestOptions())
    >>> out["user"].to_list(), out["level"].to_list(), out["attrs"].to_list()
    (['u1', 'u3'], ['warn', None], [None, '{"level":"5"}'])
    """
    cols = [c for c in raw.columns if c != "line"]
    exprs, whole, drop = _alias_exprs(raw, cols, options=options, fixed=fixed, skip=skip, prefer=prefer or {})
    for name, cond in (consumed or {}).items():
        if name in raw.columns and name not in whole:
            drop.setdefault(name, []).append(cond.fill_null(False))
    leftovers = [c for c in cols if c not in whole]
    values = raw.select(pl.col("line"), *[e.alias(k) for k, e in exprs.items()])
    # a condition named by its canonical column is "that column has a value"
    # (the field was its only source): read from the values, not computed again
    def cond(c: pl.Expr | str) -> pl.Expr:
        return pl.lit(values.get_column(c).is_not_null()) if isinstance(c, str) else c

    masks = [pl.when(pl.any_horizontal([cond(c) for c in conds])).then(None).otherwise(pl.col(n)).alias(n)
             for n, conds in drop.items() if n in leftovers]
    attrs_src = raw.with_columns(masks) if masks else raw
    out = values.with_columns(pl.lit(attrs_json(attrs_src, leftovers)).alias("attrs"))
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
                 fixed: dict[str, pl.Expr] | None, skip: tuple[str, ...],
                 prefer: dict[str, tuple[pl.Expr, pl.Expr]],
                 ) -> tuple[dict[str, pl.Expr], set[str], dict[str, list[pl.Expr | str]]]:
    """The expression of each canonical column (the format's own ``fixed``
    ones win; then, line by line, its ``prefer`` value; else the first
    non-null of the fields that answer for it), the fields wholly used, and
    for each other field the conditions of the lines where it gave the value
    (there it is left out of ``attrs``; elsewhere it stays)."""
    fixed = dict(fixed or {})
    overrides = options.overrides()
    claimed: set[str] = set()
    whole: set[str] = set()
    drop: dict[str, list[pl.Expr | str]] = {}
    exprs: dict[str, pl.Expr] = {}
    for canonical in _CANONICAL:
        if canonical in fixed:
            exprs[canonical] = fixed.pop(canonical)
            continue
        parts = []
        if canonical not in skip:
            names = _pick_all([c for c in cols if c not in claimed], canonical, overrides)
            parts = [(n, e) for n in names if (e := _field_expr(raw, canonical, n, options)) is not None]
        pref = prefer.get(canonical)
        if not parts and pref is None:
            continue
        taken = None
        if pref is not None:
            value = pref[0].cast(EVENT_SCHEMA[canonical], strict=False)
            taken = value.is_not_null() | pref[1].fill_null(False)
        if parts:
            claimed.add(parts[0][0])
        before_null: list[pl.Expr] = []
        for i, (name, e) in enumerate(parts):
            answers = e.is_not_null() if canonical in _CHECKED else pl.col(name).is_not_null()
            if i == 0 and taken is None and canonical not in _CHECKED:
                whole.add(name)  # gave the value wherever it has one
            else:
                gave = pl.all_horizontal([answers, *before_null]) if before_null else answers
                if len(parts) == 1 and taken is None:
                    gave = canonical  # its only source: where the column has a value (see canonicalize)
                drop.setdefault(name, []).append(gave if taken is None else gave & ~taken)
            if canonical in _IDS:
                drop.setdefault(name, []).append(blank_id(pl.col(name)).fill_null(False))
            before_null.append(e.is_null())
        alias = None if not parts else parts[0][1] if len(parts) == 1 else pl.coalesce([e for _, e in parts])
        if pref is None:
            exprs[canonical] = alias
        elif alias is None:
            exprs[canonical] = value
        else:
            exprs[canonical] = pl.when(taken).then(value).otherwise(alias)
    exprs.update(fixed)
    return exprs, whole, drop


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
