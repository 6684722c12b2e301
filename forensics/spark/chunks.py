"""The executor side of the Spark engine: one file's bytes -> chunks of whole
lines -> each chunk parsed by the project's own ingest code.

Plain functions over bytes and Polars frames (no pyspark here), so a Spark
task and a test run exactly the same code.  :func:`split_file` reads a file's
bytes the way ``ingest`` reads a file from disk (:func:`forensics.ingest.load_file`:
decompression, damage, binary detection, NUL runs, format sniffing) and cuts
it into chunks of whole lines; :func:`parse_chunk` parses one chunk with
:func:`forensics.ingest.group.parse_group`, as the local streaming reader
parses each of its chunks.

A chunk is parsed without the chunk before it.  For a format whose events
can have continuation lines (a stack trace), a chunk boundary may cut an
event: the chunk keeps only the events that start after its first event and
before its last one (the first chunk keeps its start, the last chunk its
end), and hands the lines around each boundary back as text
(:attr:`ChunkParse.boundary`); the driver parses each run of such lines
again as one piece (:func:`forensics.spark.assemble.parse_regions`), the
held-back last event together with the continuation lines that follow it,
as the local reader holds back a chunk's last event for the next chunk.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import BinaryIO

import polars as pl

from ..ingest import STREAM_CHUNK, load_file
from ..ingest import formats
from ..ingest.accounting import FileReport
from ..ingest.options import IngestOptions
from ..ingest.projection import with_order_columns
from ..ingest.reader import ReadState, binary_reason
from ..ingest.stream import Streamed, chunk_format, chunk_lines, parse_piece, whole_line_chunks
from ..timeline import analysis_columns


@dataclass(frozen=True)
class Chunk:
    """Whole lines of one file, numbered from ``first_line``.

    ``cut_damaged`` (the file's last chunk of damaged compressed data): cut
    it to its last whole line, as the local reader does.
    """

    fi: int
    k: int
    last: bool
    fmt: str
    first_line: int
    data: bytes
    compression: str | None = None
    cut_damaged: bool = False


@dataclass(frozen=True)
class FileFacts:
    """What reading a file told, besides its chunks.

    ``report``: the whole report of a file passed over (binary, empty).
    Otherwise ``damage`` is final for a file read whole (``streamed`` False)
    and, for a streamed one, the reader's damage before the NUL-byte and
    ``--max-bytes`` notes, which the driver adds (``hit``) once every
    chunk's NUL count is known.
    """

    fi: int
    fmt: str | None
    compression: str | None
    damage: str | None
    streamed: bool = False
    hit: bool = False
    chunks: int = 0
    report: dict | None = None

    def skipped_report(self) -> FileReport | None:
        return FileReport(**self.report) if self.report is not None else None


def _count_lines(data: bytes, *, cut: bool) -> int:
    """How many lines :func:`forensics.ingest.stream.chunk_lines` makes of ``data``."""
    if cut and data:
        data = data[: data.rfind(b"\n") + 1]
    n = data.count(b"\n")
    return n + 1 if data and not data.endswith(b"\n") else n


def split_at_lines(data: bytes, parts: int) -> list[bytes]:
    """``data`` cut after a newline into about ``parts`` pieces of equal size.

    >>> split_at_lines(b"a\\nbb\\nc\\nd", 2)
    [b'a\\nbb\\n', b'c\\nd']
    """
    if parts <= 1 or len(data) < 2:
        return [data]
    size = math.ceil(len(data) / parts)
    out, start = [], 0
    while start < len(data):
        nl = data.find(b"\n", start + size - 1)
        if nl < 0 or nl + 1 >= len(data):
            out.append(data[start:])
            break
        out.append(data[start: nl + 1])
        start = nl + 1
    return out


def split_file(fi: int, source: BinaryIO, display: str, relative: str, *, options: IngestOptions,
               parts: int | None = None, chunk_bytes: int = STREAM_CHUNK) -> Iterator[Chunk | FileFacts]:
    """Read one file (its bytes in ``source``) and yield its chunks, then its
    :class:`FileFacts`.

    A file up to ``STREAM_CHUNK`` bytes (decompressed) is read whole and cut
    into ``parts`` pieces (default: one per ``chunk_bytes``); a larger one is
    decompressed and cut as it is read (``chunk_bytes`` each), never held
    whole.  A format that reads a file-level header (``PER_FILE``: CSV, W3C)
    is one chunk.  A format whose events have continuation lines is cut only
    by size, where the local streaming reader cuts it: its continuations need
    not follow their event (a Docker stream's partial records, a PostgreSQL
    statement found by process id), so ``parts`` would change what is folded.
    """
    state = ReadState()
    loaded = load_file(fi, source, display, relative, options=options, state=state)
    if isinstance(loaded, FileReport):
        yield FileFacts(fi, None, loaded.compression, loaded.damage, report=asdict(loaded))
        return
    if isinstance(loaded, Streamed):
        yield from _split_streamed(fi, loaded, state, options=options, chunk_bytes=chunk_bytes)
        return
    data = loaded.data
    by_size = max(1, math.ceil(len(data) / chunk_bytes))
    if formats.per_file(loaded.fmt):
        n = 1
    elif formats.continued(loaded.fmt):
        n = by_size  # cut where the local streaming reader would, never by ``parts``
    else:
        n = parts or by_size
    pieces = split_at_lines(data, n)
    line = 1
    for k, piece in enumerate(pieces):
        yield Chunk(fi, k, k == len(pieces) - 1, loaded.fmt, line, piece, loaded.compression)
        line += _count_lines(piece, cut=False)
    yield FileFacts(fi, loaded.fmt, loaded.compression, loaded.damage, chunks=len(pieces))


def _split_streamed(fi: int, st: Streamed, state: ReadState, *, options: IngestOptions,
                    chunk_bytes: int) -> Iterator[Chunk | FileFacts]:
    """The chunks of a file too large to hold whole (see :func:`split_file`)."""
    why = binary_reason(st.first[:8192])
    if why:
        st.pieces.close()
        yield FileFacts(fi, None, state.kind, None, report=asdict(FileReport(st.display, None, state.kind, skipped=why)))
        return
    fmt = options.format
    line, k = 1, 0
    chunks = whole_line_chunks(st, chunk_bytes)
    for data, last in chunks:
        if fmt is None:
            lines = chunk_lines(data, last=last, damage=state.damage)[0]
            if lines.height:
                fmt = chunk_format(lines, options=options)
        if fmt is not None and formats.per_file(fmt) and not last:
            data, last = b"".join([data] + [more for more, _ in chunks]), True
        cut = bool(last and state.damage)
        if fmt is not None:
            yield Chunk(fi, k, last, fmt, line, data, state.kind, cut_damaged=cut)
            k += 1
        line += _count_lines(data, cut=cut)
    yield FileFacts(fi, fmt, state.kind, state.damage, streamed=True, hit=state.hit, chunks=k)


@dataclass(frozen=True)
class ChunkParse:
    """One chunk parsed: its kept events (with ``_fi``, reduced to the
    projection) and rejects (``_fi``), the lines handed back to the driver
    (``line``, ``text``: around a cut event), and its counts (``blank`` only
    over the lines it kept)."""

    fi: int
    k: int
    events: pl.DataFrame
    rejects: pl.DataFrame
    boundary: pl.DataFrame
    lines: int
    blank: int
    invalid: int
    nul: int


def projection(full_events: bool) -> list[pl.Expr] | None:
    """What each chunk's events are reduced to (``scan``'s projection:
    :func:`forensics.timeline.analysis_columns`), or None to keep every column."""
    return None if full_events else with_order_columns(analysis_columns())


_BOUNDARY = {"line": pl.Int64, "text": pl.String}


def _blank(lines: pl.DataFrame) -> int:
    return int(lines.select((pl.col("text").str.strip_chars().str.len_bytes() == 0).sum()).item())


def parse_chunk(chunk: Chunk, *, display: str, relative: str, options: IngestOptions, now: datetime,
                full_events: bool = False) -> ChunkParse:
    """Parse one chunk (see the module docstring for what it keeps)."""
    piece = parse_piece(chunk.data, index=chunk.fi, display=display, relative=relative, fmt=chunk.fmt,
                        options=options, now=now, first_line=chunk.first_line, last=chunk.last,
                        cut_damaged=chunk.cut_damaged, compression=chunk.compression)
    ev, rej, lines = piece.events, piece.rejects, piece.lines
    blank = piece.report.blank_lines
    boundary = pl.DataFrame(schema=_BOUNDARY)
    if lines.height and formats.continued(chunk.fmt) and not (chunk.k == 0 and chunk.last):
        first, end = chunk.first_line, chunk.first_line + lines.height
        if ev.height:
            lo = first if chunk.k == 0 else int(ev["line"].min())
            hi = end if chunk.last else int(ev["line"].max())
        else:
            lo = hi = first  # no event starts here: every line goes to the driver
        inside = pl.col("line").is_between(lo, hi, closed="left")
        ev, rej = ev.filter(inside), rej.filter(inside)
        blank = _blank(lines.filter(inside))
        boundary = lines.filter(~inside).select("line", "text")
    project = projection(full_events)
    if project is not None:
        ev = ev.select(*project, "_fi")
    return ChunkParse(chunk.fi, chunk.k, ev, rej, boundary, lines.height, blank, piece.report.invalid_utf8_lines,
                      piece.nul)
