"""The pieces JSON dialects are built from: :class:`Field` (a value and the
raw fields it was read from), :class:`Cols` (column lookup) and readers for
values that several writers share (identifiers, URLs, levels, byte arrays)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from ..normalize import blank_id, level_by_scheme, normalize_level, status_level, worse_level
from ..routes import route_action


@dataclass(frozen=True)
class Field:
    """One value a dialect reads.

    Attributes
    ----------
    value
        The value (the canonical column's type, or text for an ``attrs`` field).
    sources
        Raw field -> lines where the value was read from it (left out of ``attrs`` there).
    final
        On the dialect's lines the aliases never answer for this column, even where ``value`` is null.
    """

    value: pl.Expr
    sources: dict[str, pl.Expr]
    final: bool = False


class Cols:
    """The columns of a flattened frame, looked up by exact or case-blind name."""

    def __init__(self, schema: pl.Schema | dict):
        self.schema = dict(schema)
        self.columns = set(self.schema)
        self.lower = {c.lower(): c for c in self.schema}

    def is_text(self, key: str) -> bool:
        """Whether the column ``key`` holds text (JSON strings or mixed types)."""
        return self.schema.get(key) == pl.String

    def name(self, key: str, *, nocase: bool = False) -> str | None:
        if key in self.columns:
            return key
        return self.lower.get(key.lower()) if nocase else None

    def has(self, *keys: str) -> bool:
        return all(k in self.columns for k in keys)

    def __call__(self, key: str, *, nocase: bool = False) -> pl.Expr:
        name = self.name(key, nocase=nocase)
        return pl.col(name) if name else pl.lit(None, dtype=pl.String)


def single(cols: Cols, key: str, read: Callable[[pl.Expr], pl.Expr] = lambda e: e, *,
           nocase: bool = False, final: bool = False) -> Field | None:
    """A value read from one field (None when the frame has no such column)."""
    name = cols.name(key, nocase=nocase)
    if name is None:
        return None
    value = read(pl.col(name))
    return Field(value, {name: value.is_not_null()}, final)


def first_of(cols: Cols, keys: tuple[str, ...], read: Callable[[pl.Expr], pl.Expr] = lambda e: e,
             *, final: bool = False) -> Field | None:
    """The first non-null of several fields, each consumed where it gave the value."""
    parts = [(n, read(pl.col(n))) for k in keys if (n := cols.name(k))]
    if not parts:
        return None
    sources, before = {}, []
    for name, value in parts:
        sources[name] = pl.all_horizontal([value.is_not_null(), *before]) if before else value.is_not_null()
        before.append(value.is_null())
    return Field(pl.coalesce([v for _, v in parts]), sources, final)


def text(e: pl.Expr) -> pl.Expr:
    return e.cast(pl.String)


def not_blank(e: pl.Expr) -> pl.Expr:
    """Text, with ``""`` and ``"-"`` as null (an empty id is no id)."""
    return pl.when(blank_id(e)).then(None).otherwise(e.cast(pl.String))


def id_field(cols: Cols, key: str, read: Callable[[pl.Expr], pl.Expr] = lambda e: e, *,
             nocase: bool = False, final: bool = False) -> Field | None:
    """An identifier (user, request id): ``""`` and ``"-"`` are none, and are
    consumed (an empty id is no data)."""
    name = cols.name(key, nocase=nocase)
    if name is None:
        return None
    raw = read(pl.col(name))
    value = not_blank(raw)
    return Field(value, {name: value.is_not_null() | blank_id(raw).fill_null(False)}, final)


def millis(e: pl.Expr) -> pl.Expr:
    """Milliseconds rounded to the nanosecond (no ``8.799999999999999``)."""
    return e.round(6)


def first_item(e: pl.Expr) -> pl.Expr:
    """The first element of a JSON array text (``["abc"]`` -> ``abc``); other text as it is."""
    s = e.cast(pl.String)
    return pl.when(s.str.starts_with("[")).then(s.str.json_path_match("$[0]")).otherwise(s)


def path_of(url: pl.Expr) -> pl.Expr:
    """The path (and query) of a URL or request target."""
    path = url.cast(pl.String).str.replace(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*", "")
    return pl.when(path == "").then(pl.lit("/")).otherwise(path)


def http_action(cols: Cols, method: str, target: str) -> Field | None:
    """``METHOD /route`` from a method and a URL field (both consumed)."""
    m, t = cols.name(method), cols.name(target)
    if m is None or t is None:
        return None
    value = route_action(pl.col(m).cast(pl.String), path_of(pl.col(t)))
    gave = pl.col(m).is_not_null() & pl.col(t).is_not_null()  # as the value is (not computing the route again)
    return Field(value, {m: gave, t: gave})


def epoch_us(e: pl.Expr) -> pl.Expr:
    """Microseconds since the epoch (number or text) -> UTC time."""
    return e.cast(pl.String).str.strip_chars().cast(pl.Int64, strict=False).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")


def level_field(cols: Cols, key: str, scheme: str) -> Field | None:
    """A numeric level read by ``scheme``, or a level word."""
    return single(cols, key, lambda e: pl.coalesce(level_by_scheme(e, scheme), normalize_level(e)))


def status_first_level(cols: Cols, status: Field | None, key: str = "level", *, worse: bool = False) -> Field | None:
    """An access log's level: from the status (5xx error, 4xx warn), else (or,
    with ``worse``, when more severe) the logged level; the logged level is
    consumed only where the result equals it."""
    name = cols.name(key)
    logged = normalize_level(pl.col(name)) if name else pl.lit(None, dtype=pl.String)
    if status is None:
        return single(cols, key, normalize_level) if name else None
    from_status = status_level(status.value)
    value = worse_level(from_status, logged) if worse else pl.coalesce(from_status, logged)
    sources = {name: logged.is_not_null() & (logged == value)} if name else {}
    return Field(value, sources)



# --------------------------------------------------------- journald bytes

_BYTES = r"^\[\s*\d{1,3}(?:\s*,\s*\d{1,3})*\s*\]$"
#: RFC 3629 well-formed UTF-8, as lowercase hex pairs.
_UTF8_HEX = (
    r"^(?:[0-7][0-9a-f]|(?:c[2-9a-f]|d[0-9a-f])[89ab][0-9a-f]|e0[ab][0-9a-f][89ab][0-9a-f]"
    r"|(?:e[1-9a-c]|e[ef])[89ab][0-9a-f][89ab][0-9a-f]|ed[89][0-9a-f][89ab][0-9a-f]"
    r"|f0(?:9[0-9a-f]|[ab][0-9a-f])[89ab][0-9a-f][89ab][0-9a-f]"
    r"|f[1-3][89ab][0-9a-f][89ab][0-9a-f][89ab][0-9a-f]|f48[0-9a-f][89ab][0-9a-f][89ab][0-9a-f])*$"
)
_HEX = {i: f"{i:02x}" for i in range(256)}
_ESCAPED = {i: chr(i) if i < 0x80 else f"\\x{i:02x}" for i in range(256)}


def decode_byte_array(e: pl.Expr) -> pl.Expr:
    """journald's non-UTF-8 (or binary) field values, written as arrays of
    byte values (``[72,105]``), as text: UTF-8 decoded when the bytes are
    well-formed UTF-8, else bytes above 0x7f as ``\\xNN``.  Other values are
    left as they are."""
    s = e.cast(pl.String)
    nums = s.str.extract_all(r"\d+").list.eval(pl.element().cast(pl.Int64))
    arr = s.str.contains(_BYTES).fill_null(False) & (nums.list.max() <= 255).fill_null(False)
    hexed = nums.list.eval(pl.element().replace_strict(_HEX, default=None, return_dtype=pl.String)).list.join("")
    good = arr & hexed.str.contains(_UTF8_HEX).fill_null(False)
    utf8 = pl.when(good).then(hexed).otherwise(pl.lit("")).str.decode("hex").cast(pl.String)
    escaped = nums.list.eval(pl.element().replace_strict(_ESCAPED, default=None, return_dtype=pl.String)).list.join("")
    return pl.when(good).then(utf8).when(arr).then(escaped).otherwise(s)
