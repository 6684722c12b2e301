"""JSON lines: one JSON object per line, any field names.

Nested objects are flattened with dotted names (``http.status``); arrays are
kept as JSON text.  Lines that are not a JSON object are malformed.  Parsing
uses Polars' native NDJSON reader over all lines at once; when a batch fails,
it is bisected so that only the bad lines are rejected.  Lines written by a
known JSON log writer (journald, GELF, log4j2, Logstash, pino/bunyan, MongoDB,
Caddy, Traefik, Google Cloud Logging) are read by its dialect
(:mod:`forensics.ingest.json_dialects`); a field named ``line`` (GELF 1.0's
source line) is kept as ``line_``, since ``line`` is the line number.
"""

from __future__ import annotations

import io

import polars as pl

from ..json_dialects import canonicalize_json
from ..options import IngestOptions
from .base import ParseResult, empty_rejects, reject, split_blank

NAME = "jsonl"
DESCRIPTION = ("JSON lines (one object per line; nested objects flattened with dotted names); journald, GELF, "
               "log4j2, Logstash, pino/bunyan, MongoDB, Caddy, Traefik and Google Cloud Logging read by their dialect")
CONTINUATION_LINES = False
EXAMPLE = '{"ts": "2026-03-14T11:02:33Z", "level": "error", "service": "api", "user_id": "u1", "msg": "payment failed"}'


def sniff(sample: list[str]) -> float:
    if not sample:
        return 0.0
    hits = sum(1 for s in sample if s.lstrip().startswith("{") and s.rstrip().endswith("}"))
    return hits / len(sample)


#: Rows the quick parse infers its schema from (see :func:`read_objects`).
QUICK_INFER = 1000
#: A key: a quote, optional white space, a colon.  Every key of a line
#: matches once; an escaped quote inside a string can match too (more, never fewer).
_KEY = r'"\s*:'
#: A key whose value is an explicit ``null`` (the name captured): each match
#: also matches :data:`_KEY` once.
_NULL_KEY = r'"((?:[^"\\]|\\.)*)"\s*:\s*null\b'


def _present(schema: pl.Schema) -> pl.Expr:
    """Per row, the keys the parse kept: non-null columns and struct fields, at every depth."""
    def walk(expr: pl.Expr, dtype) -> list[pl.Expr]:
        out = [expr.is_not_null().cast(pl.UInt32)]
        if isinstance(dtype, pl.Struct):
            for f in dtype.fields:
                out += walk(expr.struct.field(f.name), f.dtype)
        return out

    parts = [e for c, t in schema.items() for e in walk(pl.col(c), t)]
    return pl.sum_horizontal(parts) if parts else pl.lit(0, dtype=pl.UInt32)


def _lost_items(df: pl.DataFrame) -> bool:
    """Whether an array typed from the first rows as all-null (``[]``, ``[null]``)
    holds items later (read as nulls: their values lost)."""
    def walk(expr: pl.Expr, dtype) -> list[pl.Expr]:
        if isinstance(dtype, pl.Struct):
            return [e for f in dtype.fields for e in walk(expr.struct.field(f.name), f.dtype)]
        if isinstance(dtype, pl.List) and dtype.inner == pl.Null:
            return [expr.list.len() > 0]
        return []

    checks = [e for c, t in df.schema.items() for e in walk(pl.col(c), t)]
    return bool(checks) and bool(df.select(pl.any_horizontal(checks).any()).item())


def read_objects(data: bytes, texts: pl.Series) -> pl.DataFrame:
    """Parse JSON-lines ``data`` (one object per line, ``texts`` its lines)
    without dropping any field.

    A schema inferred from the first :data:`QUICK_INFER` rows can miss a
    field first seen later (Polars then drops it) or mistype one (Polars then
    raises).  So the quick parse is kept only when, on every line, the keys
    it kept equal the quote-colon pairs of the text (an upper bound on the
    line's keys: equal means none was lost); otherwise, or when it raises,
    the schema is inferred from every row (about 2.5x the parse time).
    Raises what :func:`polars.read_ndjson` raises on invalid JSON.
    """
    try:
        df = pl.read_ndjson(io.BytesIO(data), infer_schema_length=QUICK_INFER)
        if df.height == texts.len() and not _lost_items(df):
            keys = texts.str.count_matches(_KEY)
            present = df.select(_present(df.schema)).to_series()
            if bool((present == keys).all()) or _nulls_explain(df, texts, keys, present):
                return df
    except Exception:  # noqa: BLE001 - any failure: the full inference decides
        pass
    return pl.read_ndjson(io.BytesIO(data), infer_schema_length=None)


def _nulls_explain(df: pl.DataFrame, texts: pl.Series, keys: pl.Series, present: pl.Series) -> bool:
    """Whether every line whose keys outnumber what the quick parse kept is a
    flat object (one ``{``, no ``[``, even inside strings) that differs only
    by keys written as ``null`` which the schema has as columns: a null kept
    is a null read, so nothing is lost.  Anything else (a null key the schema
    lacks, a nested object, which a text column would take whole) sends the
    file to the full inference, as any other difference does."""
    off = present != keys
    rows = texts.filter(off)
    flat = (rows.str.count_matches("{", literal=True) == 1) & ~rows.str.contains("[", literal=True)
    if not bool(flat.all()):
        return False
    nulls = rows.str.count_matches(_NULL_KEY)
    if not bool((keys.filter(off) == present.filter(off) + nulls).all()):
        return False
    names = rows.str.extract_all(_NULL_KEY).explode().drop_nulls().unique().str.replace(_NULL_KEY, "${1}")
    return bool(names.is_in(pl.Series(df.columns, dtype=pl.String).implode()).all())


def _read(texts: pl.Series) -> pl.DataFrame:
    buf = (texts.str.join("\n").item() + "\n").encode()
    return read_objects(buf, texts)


def lines_bytes(data: bytes, lines: pl.DataFrame, keep: pl.Series) -> bytes | None:
    r"""The text of the ``lines`` whose numbers are in ``keep``, each followed
    by a newline, cut out of ``data`` (one copy, where joining the texts copies
    twice), when ``data`` is exactly ``lines`` joined by newlines (no
    byte-order mark, ``\r`` or invalid UTF-8 was taken out); else None.

    Examples
    --------
    >>> lines = pl.DataFrame({"line": [1, 2, 3], "text": ["{}", "x", '{"a": 1}']})
    >>> lines_bytes(b'{}\nx\n{"a": 1}', lines, pl.Series([1, 3]))
    b'{}\n{"a": 1}\n'
    >>> lines_bytes(b'{}\r\nx\n{"a": 1}', lines, pl.Series([1, 3])) is None
    True
    """
    size = lines.select(pl.col("text").str.len_bytes().sum()).item() + lines.height
    if size != len(data) + (not data.endswith(b"\n")):
        return None
    runs = (lines.select(pl.col("line").is_in(keep.implode()).alias("k"),
                         pl.col("text").str.len_bytes().cast(pl.Int64).add(1).cum_sum().alias("end"))
            .with_columns(pl.col("end").shift(1, fill_value=0).alias("start"),
                          (pl.col("k") != pl.col("k").shift(1)).fill_null(True).cum_sum().alias("run"))
            .filter("k").group_by("run", maintain_order=True).agg(pl.col("start").first(), pl.col("end").last()))
    out = b"".join(data[a:b] for a, b in runs.select("start", "end").iter_rows())
    return out if not out or out.endswith(b"\n") else out + b"\n"


def _parse_ok(lines: pl.DataFrame, first: bytes | None = None
              ) -> tuple[list[tuple[pl.DataFrame, pl.Series]], list[pl.DataFrame]]:
    """Parse ``lines``; bisect on failure.  Returns (good frames with their
    line numbers, bad line frames).  The line numbers are kept beside the
    frames, not in a column of them: any column name could be a field.
    ``first``: the bytes of all of ``lines`` (:func:`lines_bytes`), for the
    first attempt."""
    good: list[tuple[pl.DataFrame, pl.Series]] = []
    bad: list[pl.DataFrame] = []
    stack = [lines]
    while stack:
        part = stack.pop()
        try:
            buf, first = first, None
            df = _read(part["text"]) if buf is None else read_objects(buf, part["text"])
            if df.height != part.height:
                raise ValueError("row count mismatch")
            good.append((df, part["line"]))
        except Exception:
            if part.height == 1:
                bad.append(part)
            else:
                mid = part.height // 2
                stack.append(part.slice(mid))
                stack.append(part.slice(0, mid))
    return good, bad


def flatten(df: pl.DataFrame) -> pl.DataFrame:
    """Unnest struct columns recursively with dotted names; lists become JSON text."""
    while True:
        structs = [c for c, t in df.schema.items() if isinstance(t, pl.Struct)]
        if not structs:
            break
        exprs = []
        for c, t in df.schema.items():
            if isinstance(t, pl.Struct):
                if not t.fields:
                    continue
                exprs.extend(pl.col(c).struct.field(f.name).alias(f"{c}.{f.name}") for f in t.fields)
            else:
                exprs.append(pl.col(c))
        df = df.select(exprs)
    lists = [c for c, t in df.schema.items() if isinstance(t, (pl.List, pl.Array))]
    if lists:
        df = df.with_columns(
            pl.when(pl.col(c).is_not_null())
            .then(pl.struct(pl.col(c).alias("v")).struct.json_encode().str.slice(5).str.strip_suffix("}"))
            .alias(c)
            for c in lists
        )
    return df


def _free_name(name: str, frames: list[pl.DataFrame]) -> str:
    """``name``, with underscores added until no frame has a column of that name."""
    while any(name in f.columns for f in frames):
        name += "_"
    return name


def _concat(parts: list[pl.DataFrame], *, keep: str) -> pl.DataFrame:
    """The parts a bisection parsed, as one frame: flattened first (a field that
    is an object in one part and a scalar in another cannot be one column),
    then, if types still clash, as text (what one parse of all lines gives),
    all but the ``keep`` column (the line numbers)."""
    if len(parts) == 1:
        return parts[0]
    flat = [flatten(p) for p in parts]
    try:
        return pl.concat(flat, how="diagonal_relaxed")
    except Exception:  # noqa: BLE001 - a clash relaxed types cannot settle
        return pl.concat([p.with_columns(pl.exclude(keep).cast(pl.String)) for p in flat], how="diagonal_relaxed")


def _fields(df: pl.DataFrame) -> pl.DataFrame:
    """Flattened fields in name order (Polars orders the fields of lines with
    different keys differently from run to run, and ``attrs`` must not change
    with it: cross-file dedupe compares it); a JSON field named ``line``
    becomes ``line_`` (``line`` is the line number)."""
    df = flatten(df)
    if "line" in df.columns:
        name = "line_"
        while name in df.columns:
            name += "_"
        df = df.rename({"line": name})
    return df.select(sorted(df.columns))


def parse_bytes(data: bytes, lines: pl.DataFrame, *, options: IngestOptions) -> ParseResult | None:
    """Fast path: a clean file (no blank or bad lines) goes straight through
    Polars' native NDJSON reader.  Blank lines or lines that are not whole
    objects go through :func:`parse` with ``data`` (the objects' bytes are
    cut out of it); None when the native reader fails, and ``parse`` runs."""
    if not data:
        return None
    text = lines["text"]
    if b"\n\n" in data or data.startswith(b"\n") or not (text.str.starts_with("{").all()
                                                         and text.str.ends_with("}").all()):
        # blank lines, or some line is not a whole object (a torn write): `parse`
        # sorts them out, reading the objects' bytes cut out of `data`
        return parse(lines, options=options, data=data)
    try:
        df = read_objects(data, text)
    except Exception:
        return None
    if df.height != lines.height:
        return None
    df = _fields(df).with_columns(lines["line"].alias("line"))
    return ParseResult(events=canonicalize_json(df, options=options), rejects=empty_rejects())


def parse(lines: pl.DataFrame, *, options: IngestOptions, data: bytes | None = None) -> ParseResult:
    """Parse JSON lines into canonical events (``data``: the bytes of
    ``lines``, when at hand, to read the objects from).

    Examples
    --------
    >>> import polars as pl
    >>> from forensics.ingest.options import IngestOptions
    >>> lines = pl.DataFrame({"line": [1, 2], "text": ['{"ts": 1698941698, "user_id": "u1"}', "oops"]})
    >>> r = parse(lines, options=IngestOptions())
    >>> r.events["user"].to_list(), r.rejects["reason"].to_list()
    (['u1'], ['not a JSON object'])
    """
    body, blank = split_blank(lines)
    stripped = pl.col("text").str.strip_chars()
    opens, closes = stripped.str.starts_with("{"), stripped.str.ends_with("}")
    body = body.with_columns(opens.alias("_o"), closes.alias("_c"))
    # A line that opens an object but does not close it (a torn write, the
    # usual damage) can never parse: reject it up front, so that one bad line
    # does not send the whole file through the bisection below.
    shaped = body.filter(pl.col("_o") & pl.col("_c")).drop("_o", "_c")
    torn = body.filter(pl.col("_o") & ~pl.col("_c")).drop("_o", "_c")
    not_obj = body.filter(~pl.col("_o")).drop("_o", "_c")
    first = lines_bytes(data, lines, shaped["line"]) if data is not None and shaped.height else None
    good, bad = _parse_ok(shaped, first) if shaped.height else ([], [])
    rejects = [reject(not_obj, "not a JSON object"), reject(torn, "invalid JSON")] + [reject(b, "invalid JSON") for b in bad]
    if good:
        key = _free_name("__line", [f for f, _ in good])  # a name no field has
        parts = [f.with_columns(n.alias(key)) for f, n in good]
        df = _fields(_concat(parts, keep=key)).rename({key: "line"})
        if len(parts) > 1:  # bisected: parts out of line order
            df = df.sort("line")
        events = canonicalize_json(df, options=options)
    else:
        from ...schema import empty_events

        events = empty_events().drop("source", "format")
    rej = pl.concat(rejects).sort("line") if rejects else empty_rejects()
    return ParseResult(events=events, rejects=rej, continuation_lines=0, blank_lines=blank)
