"""What the Spark engine's two stages exchange, as Arrow record batches.

Stage one (:func:`split_batches`) turns ``binaryFile`` rows (``path``,
``content``) into chunk rows (:data:`CHUNK_FIELDS`); stage two
(:func:`parse_batches`) turns chunk rows into one table of every kind of
result (:func:`result_fields`), told apart by ``_kind``: ``e`` an event, ``r``
a malformed line, ``b`` a line handed back around a cut event, ``s`` a
chunk's counts, ``f`` a file's facts (JSON in ``info``).  The driver splits
that table back into frames (:func:`frames`).  No pyspark here: the Spark
calls are in :mod:`forensics.spark.engine`.

Timestamps cross as microseconds since the epoch (``bigint``), unsigned
integers as signed ones of the same bits: Spark has neither a time-zone-free
instant type nor unsigned integers.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import asdict
from datetime import datetime

import polars as pl
import pyarrow as pa

from ..ingest.options import IngestOptions
from ..schema import TS_TYPE, empty_events
from .chunks import Chunk, ChunkParse, FileFacts, parse_chunk, projection, split_file

CHUNK_FIELDS = pa.schema([
    ("_kind", pa.string()), ("_fi", pa.int32()), ("_k", pa.int32()), ("last", pa.bool_()), ("fmt", pa.string()),
    ("first_line", pa.int64()), ("compression", pa.string()), ("cut", pa.bool_()), ("data", pa.binary()),
    ("info", pa.string()),
])

_ARROW = {pl.String: pa.string(), pl.Int64: pa.int64(), pl.Int32: pa.int32(), pl.Float64: pa.float64(),
          pl.Boolean: pa.bool_(), pl.UInt64: pa.int64(), pl.UInt32: pa.int64()}
_SPARK = {pa.string(): "string", pa.int64(): "bigint", pa.int32(): "int", pa.float64(): "double",
          pa.bool_(): "boolean", pa.binary(): "binary"}


def event_schema(full_events: bool) -> pl.Schema:
    """The event columns each chunk hands back (with ``_fi``)."""
    ev = empty_events().with_columns(pl.lit(0, dtype=pl.Int32).alias("_fi"))
    project = projection(full_events)
    return (ev.select(*project, "_fi") if project is not None else ev).schema


def _arrow_type(dtype: pl.DataType) -> pa.DataType:
    if dtype == TS_TYPE:
        return pa.int64()
    return _ARROW[dtype.base_type()]


def result_fields(full_events: bool) -> pa.Schema:
    """The schema of stage two's rows (see the module docstring)."""
    fields = [("_kind", pa.string()), ("_k", pa.int32())]
    fields += [(name, _arrow_type(t)) for name, t in event_schema(full_events).items()]
    fields += [("reason", pa.string()), ("text", pa.string()), ("info", pa.string())]
    return pa.schema(fields)


def spark_ddl(schema: pa.Schema) -> str:
    """``schema`` as a Spark DDL string (for ``mapInArrow``)."""
    return ", ".join(f"`{f.name}` {_SPARK[f.type]}" for f in schema)


# ------------------------------------------------------------------ stage one


def _chunk_row(item: Chunk | FileFacts) -> dict:
    if isinstance(item, FileFacts):
        return {"_kind": "f", "_fi": item.fi, "_k": -1, "info": json.dumps(asdict(item))}
    return {"_kind": "c", "_fi": item.fi, "_k": item.k, "last": item.last, "fmt": item.fmt,
            "first_line": item.first_line, "compression": item.compression, "cut": item.cut_damaged,
            "data": item.data}


def split_batches(batches: Iterator[pa.RecordBatch], *, files: dict[str, tuple[int, str, str]],
                  options: IngestOptions, parts: int | None, chunk_bytes: int) -> Iterator[pa.RecordBatch]:
    """Stage one over ``binaryFile`` batches: each file (by its ``path``, a
    key of ``files``: ``(index, display, relative)``) into chunk rows, one
    batch per chunk (a chunk is up to ``chunk_bytes``)."""
    for batch in batches:
        paths, contents = batch.column("path"), batch.column("content")
        for i in range(batch.num_rows):
            fi, display, relative = files[normal_path(paths[i].as_py())]
            source = io.BytesIO(contents[i].as_py())
            for item in split_file(fi, source, display, relative, options=options, parts=parts,
                                   chunk_bytes=chunk_bytes):
                yield pa.RecordBatch.from_pylist([_chunk_row(item)], schema=CHUNK_FIELDS)


def normal_path(path: str) -> str:
    """A path or URL as ``binaryFile`` and Hadoop's listing spell it alike
    (``file:/a b`` and ``file:///a%20b`` are the same file)."""
    from urllib.parse import unquote

    path = unquote(path)
    if path.startswith("file://"):
        path = "file:" + path[len("file://"):]
    return path


# ------------------------------------------------------------------ stage two


def _chunk_of(row: dict) -> Chunk:
    return Chunk(row["_fi"], row["_k"], row["last"], row["fmt"], row["first_line"], row["data"],
                 row["compression"], cut_damaged=bool(row["cut"]))


def parse_batches(batches: Iterator[pa.RecordBatch], *, files: dict[int, tuple[str, str]], options: IngestOptions,
                  now: datetime, full_events: bool) -> Iterator[pa.RecordBatch]:
    """Stage two over chunk rows: each chunk parsed (:func:`parse_chunk`),
    facts passed on."""
    schema = result_fields(full_events)
    for batch in batches:
        for row in batch.to_pylist():
            if row["_kind"] == "f":
                out = pl.DataFrame({"_kind": ["f"], "_k": [-1], "_fi": [row["_fi"]], "info": [row["info"]]})
            else:
                display, relative = files[row["_fi"]]
                out = parse_frame(parse_chunk(_chunk_of(row), display=display, relative=relative, options=options,
                                              now=now, full_events=full_events))
            yield to_batch(out, schema)


def parse_frame(p: ChunkParse) -> pl.DataFrame:
    """One chunk's results as rows of every kind (columns of :func:`result_fields`, some missing)."""
    k = pl.lit(p.k, dtype=pl.Int32).alias("_k")
    fi = pl.lit(p.fi, dtype=pl.Int32).alias("_fi")
    stats = {"lines": p.lines, "blank": p.blank, "invalid": p.invalid, "nul": p.nul}
    parts = [
        p.events.with_columns(pl.lit("e").alias("_kind"), k),
        p.rejects.with_columns(pl.lit("r").alias("_kind"), k),
        p.boundary.with_columns(pl.lit("b").alias("_kind"), k, fi),
        pl.DataFrame({"_kind": ["s"], "info": [json.dumps(stats)]}).with_columns(k, fi),
    ]
    return pl.concat([x for x in parts if x.height], how="diagonal_relaxed")


def to_batch(frame: pl.DataFrame, schema: pa.Schema) -> pa.RecordBatch:
    """``frame`` with every column of ``schema`` (missing ones null), in its types."""
    cols = []
    for f in schema:
        if f.name not in frame.columns:
            cols.append(pl.lit(None).alias(f.name))
        elif frame.schema[f.name] == TS_TYPE:
            cols.append(pl.col(f.name).dt.epoch("us"))
        elif frame.schema[f.name] in (pl.UInt64, pl.UInt32):
            cols.append(pl.col(f.name).reinterpret(signed=True) if frame.schema[f.name] == pl.UInt64
                        else pl.col(f.name).cast(pl.Int64))
        else:
            cols.append(pl.col(f.name))
    table = frame.select(cols).to_arrow().cast(schema)
    batches = table.combine_chunks().to_batches()
    return batches[0] if batches else pa.RecordBatch.from_pylist([], schema=schema)


# ------------------------------------------------------------------ driver


#: Collected rows converted to Polars at a time (a group of Spark's batches).
GROUP_ROWS = 1 << 18
#: Events of one chunk (or of one re-parsed run of lines), keyed by
#: (file index, first line); kept in the order collected.
Piece = tuple[tuple[int, int], pl.DataFrame]


def frames(batches: list[pa.RecordBatch], *, full_events: bool
           ) -> tuple[list[Piece], pl.DataFrame, pl.DataFrame, pl.DataFrame, list[FileFacts]]:
    """Stage two's rows back as (event pieces, rejects, boundary lines, chunk
    counts, file facts); events and rejects keep ``_fi``.

    ``batches`` (in the order Spark collected them) is emptied as it is read:
    each group of batches is freed once converted, so the driver never holds
    the collected Arrow table and all of its frames at once.  The events come
    back as keyed pieces of one chunk each (see :func:`order_pieces`; an
    empty one first, for the columns).
    """
    schema = result_fields(full_events)
    empty = pl.from_arrow(pa.Table.from_batches([], schema=schema))
    assert isinstance(empty, pl.DataFrame)
    first = _split(empty, full_events)
    pieces: list[Piece] = [((-1, -1), first[0].drop("_k"))]
    others: list[tuple[pl.DataFrame, ...]] = [first[1:]]
    batches.reverse()
    while batches:
        group = [batches.pop()]
        rows = group[0].num_rows
        while batches and rows < GROUP_ROWS:
            group.append(batches.pop())
            rows += group[-1].num_rows
        df = pl.from_arrow(pa.Table.from_batches(group, schema=schema))
        assert isinstance(df, pl.DataFrame)
        del group
        events, *rest = _split(df, full_events)
        del df
        others.append(tuple(rest))
        for piece in events.partition_by("_fi", "_k", maintain_order=True):
            pieces.append(((piece.item(0, "_fi"), piece.item(0, "line")), piece.drop("_k")))
    rejects, boundary, counts, info = (pl.concat([p[i] for p in others], rechunk=False) for i in range(4))
    stats = pl.DataFrame([{"_fi": fi, "_k": k, **json.loads(info)} for fi, k, info in counts.iter_rows()],
                         schema={"_fi": pl.Int32, "_k": pl.Int32, "lines": pl.Int64, "blank": pl.Int64,
                                 "invalid": pl.Int64, "nul": pl.Int64})
    facts = [FileFacts(**json.loads(text)) for text in info.get_column("info")]
    return pieces, rejects, boundary, stats, facts


def order_pieces(pieces: list[Piece]) -> list[pl.DataFrame]:
    """Event pieces (each of one chunk, keyed by file and first line, in the
    order collected) in file and line order: chunks of a file follow each
    other, and a chunk split across two collected groups keeps its halves'
    order, as the sort is stable (the events of a line split there, whose
    halves share a key, stay in the parser's order).  ``pieces`` is emptied."""
    pieces.sort(key=lambda kp: kp[0])
    out = [frame for _, frame in pieces]
    pieces.clear()
    return out


def _split(df: pl.DataFrame, full_events: bool) -> tuple[pl.DataFrame, ...]:
    """Rows by kind: events (with ``_k``), rejects, boundary lines, chunk counts, file facts."""
    kind = pl.col("_kind")
    ev_cols = []
    for name, t in event_schema(full_events).items():
        if t == TS_TYPE:
            ev_cols.append(pl.from_epoch(pl.col(name), time_unit="us").dt.replace_time_zone("UTC").alias(name))
        elif t == pl.UInt64:
            ev_cols.append(pl.col(name).reinterpret(signed=False))
        else:
            ev_cols.append(pl.col(name).cast(t))
    return (df.filter(kind == "e").select(*ev_cols, "_k"),
            df.filter(kind == "r").select("source", "line", "format", "reason", "text", "_fi"),
            df.filter(kind == "b").select("_fi", "line", "text"),
            df.filter(kind == "s").select("_fi", "_k", "info"),
            df.filter(kind == "f").select("info"))
