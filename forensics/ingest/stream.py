"""Large files in bounded memory: read and parse in chunks of whole lines.

A file whose (decompressed) content is larger than one chunk is never held
whole: it is decompressed piece by piece, cut at line ends into chunks of
about :data:`forensics.ingest.STREAM_CHUNK` bytes, and each chunk is parsed
on its own (the same parser, fast path and checks as a whole file).  Line
numbers run on across chunks and the chunks' accounting adds up to the
file's.

Formats whose events can have continuation lines (``CONTINUATION_LINES``
in the format module: ``plain`` stack traces, ``postgres`` statements,
``redis``) hold back the last event of a chunk and
parse it again at the start of the next one, so a stack trace cut by a chunk
boundary is still folded into its event.  (A PostgreSQL continuation that
refers, by process id, to an event before the boundary is the one case a
boundary can change: it becomes malformed, still counted.)

Each chunk's events can be handed to a sink (the warm cache writes them as
Parquet parts) and reduced to the columns a caller needs (``project``), so
that only the reduced frames stay in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from functools import partial
from datetime import datetime

import polars as pl

from . import formats
from .accounting import FileReport
from .group import Loaded, parse_group
from .options import IngestOptions
from ..concurrency import ordered_map
from .reader import ReadState, binary_reason, replace_nul_runs, split_lines

Project = Callable[[pl.DataFrame], pl.DataFrame]


@dataclass
class Streamed:
    """A file too large to read whole: its first chunk and the rest of it."""

    index: int
    display: str
    relative: str
    first: bytes
    pieces: Iterator[bytes]
    state: ReadState


def whole_line_chunks(st: Streamed, chunk_bytes: int) -> Iterator[tuple[bytes, bool]]:
    """Whole-line chunks of about ``chunk_bytes``; the flag marks the last."""
    parts, size = [st.first], len(st.first)
    for piece in st.pieces:
        parts.append(piece)
        size += len(piece)
        if size < chunk_bytes:
            continue
        cut = piece.rfind(b"\n") + 1
        if cut:  # cut in the last piece: the chunk is copied once, by the join
            parts[-1] = piece[:cut]
            yield b"".join(parts), False
            rest = piece[cut:]
        else:
            data = b"".join(parts)
            cut = data.rfind(b"\n") + 1
            if cut:
                yield (data if cut == len(data) else data[:cut]), False
            rest = data[cut:]
        parts, size = [rest], len(rest)
    yield b"".join(parts), True


def chunk_lines(data: bytes, *, last: bool, damage: str | None) -> tuple[pl.DataFrame, bytes, int, int]:
    """(lines, data, invalid UTF-8 lines, NUL bytes) of one chunk (``last``:
    the file's last, cut to its last whole line when the file is damaged)."""
    if last and damage and data:
        cut = data.rfind(b"\n")
        data = data[: cut + 1] if cut >= 0 else b""
    data, nul = replace_nul_runs(data)
    lines, invalid = split_lines(data)
    return lines, data, invalid, nul


@dataclass(frozen=True)
class Piece:
    """Whole lines of one file parsed on their own (:func:`parse_piece`):
    events and rejects (line numbers in the file, ``_fi``), the lines, the
    file report of just these lines, and their NUL bytes."""

    events: pl.DataFrame
    rejects: pl.DataFrame
    lines: pl.DataFrame
    report: FileReport
    nul: int


def parse_piece(data: bytes, *, index: int, display: str, relative: str, fmt: str, options: IngestOptions,
                now: datetime, first_line: int = 1, last: bool = True, cut_damaged: bool = False,
                compression: str | None = None) -> Piece:
    """Parse whole lines of one file that start at line ``first_line``, the
    way each chunk of a large file is parsed (:func:`parse_stream`): the
    Spark engine's chunks and ``forensics watch``'s appended lines."""
    lines, data, invalid, nul = chunk_lines(data, last=last, damage="damaged" if cut_damaged else None)
    if lines.height == 0:
        from ..schema import empty_events, empty_rejects

        fi = pl.lit(index, dtype=pl.Int32).alias("_fi")
        return Piece(empty_events().with_columns(fi), empty_rejects().with_columns(fi), lines,
                     FileReport(display, fmt, compression), nul)
    loaded = Loaded(index, display, relative, fmt, compression, None, invalid, data, lines)
    ev, rej, ((_, rep),) = parse_group([loaded], fmt, options=options, now=now)
    off = first_line - 1
    if off:
        lines = lines.with_columns(pl.col("line") + off)
        ev = ev.with_columns(pl.col("line") + off)
        rej = rej.with_columns(pl.col("line") + off)
    return Piece(ev, rej, lines, rep, nul)


def chunk_format(lines: pl.DataFrame, *, options: IngestOptions) -> str:
    """The format of a file chosen from its first chunk's lines (the first
    64 that are not blank), unless ``options.format`` names it."""
    if options.format:
        return options.format
    sample = lines.filter(pl.col("text").str.strip_chars() != "").head(64)["text"].to_list()
    return formats.choose(sample, options=options)


@dataclass
class _Parts:
    """What the chunks of one file add up to (line numbers run on)."""

    sink: Callable[[pl.DataFrame], None] | None
    project: Project | None
    on_chunk: Callable[[], None] | None
    events: list[pl.DataFrame] = field(default_factory=list)
    rejects: list[pl.DataFrame] = field(default_factory=list)
    offset: int = 0
    nul: int = 0
    totals: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_TOTALS, 0))

    def keep(self, ev: pl.DataFrame, rej: pl.DataFrame, rep: FileReport) -> None:
        if self.offset:
            ev = ev.with_columns(pl.col("line") + self.offset)
            rej = rej.with_columns(pl.col("line") + self.offset)
        self.offset += rep.lines
        for k in self.totals:
            self.totals[k] += getattr(rep, k)
        if self.sink is not None:
            self.sink(ev)
        self.events.append(self.project(ev) if self.project is not None else ev)
        self.rejects.append(rej)
        if self.on_chunk is not None:
            self.on_chunk()


_TOTALS = ("lines", "events", "extra_events", "continuation_lines", "blank_lines", "malformed", "invalid_utf8_lines")


def parse_stream(
    st: Streamed,
    *,
    options: IngestOptions,
    now: datetime,
    chunk_bytes: int,
    limit_note: Callable[[str | None, bool], str | None],
    sink: Callable[[pl.DataFrame], None] | None = None,
    project: Project | None = None,
    on_chunk: Callable[[], None] | None = None,
) -> tuple[list[pl.DataFrame], pl.DataFrame | None, FileReport]:
    """Parse a large file chunk by chunk.

    Returns the (projected) event frames with ``_fi``, the rejects with
    ``_fi`` (``None`` when the file is skipped) and the file's report.  The
    events go to ``sink`` (before projection) as each chunk is parsed, and
    ``on_chunk`` is called after each chunk (``st.state.consumed`` then tells
    how far the file has been read, for progress reports).
    """
    if binary_reason(st.first[:8192]):
        st.pieces.close()
        return [], None, FileReport(st.display, None, st.state.kind, skipped=binary_reason(st.first[:8192]))
    parts = _Parts(sink, project, on_chunk)

    def parse(fmt: str, item: tuple[pl.DataFrame, bytes, int]) -> tuple[pl.DataFrame, pl.DataFrame, FileReport]:
        lines, data, invalid = item
        loaded = Loaded(st.index, st.display, st.relative, fmt, st.state.kind, None, invalid, data, lines)
        ev, rej, ((_, rep),) = parse_group([loaded], fmt, options=options, now=now)
        return ev, rej, rep

    fmt = _parse_chunks(st, parts, parse, options=options, chunk_bytes=chunk_bytes)
    damage = st.state.damage
    if parts.nul:
        note = f"{parts.nul} NUL bytes (a zero-filled region); each run read as U+FFFD"
        damage = f"{damage}; {note}" if damage else note
    damage = limit_note(damage, st.state.hit)
    if not parts.events:
        return [], None, FileReport(st.display, None, st.state.kind, skipped="empty file", damage=damage)
    report = FileReport(path=st.display, format=fmt, compression=st.state.kind, damage=damage, **parts.totals)
    if not report.balanced():
        raise AssertionError(f"line accounting does not balance for {st.display}: {report}")
    return parts.events, pl.concat(parts.rejects), report


def _parse_chunks(st: Streamed, parts: _Parts, parse, *, options: IngestOptions, chunk_bytes: int) -> str | None:
    """Parse every chunk into ``parts``; return the format (chosen from the
    first chunk with lines unless ``options.format`` gives it)."""
    fmt = options.format
    chunks = whole_line_chunks(st, chunk_bytes)
    carry = b""
    for data, last in chunks:
        lines, data, invalid, nul = chunk_lines(carry + data, last=last, damage=st.state.damage)
        carry = b""
        parts.nul += nul
        if lines.height == 0:
            continue
        if fmt is None:
            fmt = chunk_format(lines, options=options)
        if formats.per_file(fmt) and not last:
            # a file-level header (a CSV header row, W3C #Fields) or one
            # document: the file is parsed whole, as one chunk (its memory is
            # then the file's, not a chunk's)
            whole = [data] + [more for more, _ in chunks]
            parts.nul -= nul
            lines, data, invalid, nul = chunk_lines(b"".join(whole), last=True, damage=st.state.damage)
            parts.nul += nul
            last = True
        if not formats.continued(fmt):
            # chunks are independent: two are parsed at a time (Polars releases
            # the GIL, and many of its string kernels run on one core) while
            # the next one is read; results are kept in order
            def items(first=(lines, data, invalid)):
                yield first
                for more, is_last in chunks:
                    ln, raw, inv, nul_more = chunk_lines(more, last=is_last, damage=st.state.damage)
                    parts.nul += nul_more
                    if ln.height:
                        yield ln, raw, inv

            for ev, rej, rep in ordered_map(partial(parse, fmt), items()):
                parts.keep(ev, rej, rep)
            break
        ev, rej, rep = parse(fmt, (lines, data, invalid))
        cut = int(ev["line"].max()) if (not last and ev.height) else 0
        if cut > 1:
            ev, rej, rep, carry = _hold_back(lines, ev, rej, rep, cut)
        parts.keep(ev, rej, rep)
    return fmt


def held_lines(lines: pl.DataFrame, cut: int) -> bytes:
    """The lines from line ``cut`` on (an event that may go on in lines not
    read yet, and what follows it), as bytes to parse again with the next
    lines: the streaming reader's next chunk, ``forensics watch``'s next poll."""
    tail = lines.filter(pl.col("line") >= cut)
    return ("\n".join(tail["text"].to_list()) + "\n").encode()


def _hold_back(lines: pl.DataFrame, ev: pl.DataFrame, rej: pl.DataFrame, rep: FileReport,
               cut: int) -> tuple[pl.DataFrame, pl.DataFrame, FileReport, bytes]:
    """Hold back the lines from ``cut`` (the last event and what follows it)
    for the next chunk: the chunk's events, rejects and report without them,
    and their text."""
    carry = held_lines(lines, cut)
    ev = ev.filter(pl.col("line") < cut)
    rej = rej.filter(pl.col("line") < cut)
    kept = lines.filter(pl.col("line") < cut)
    blank = int(kept.select((pl.col("text").str.strip_chars().str.len_bytes() == 0).sum()).item())
    ev_lines = ev["line"].n_unique() if ev.height else 0
    rep = replace(rep, lines=kept.height, events=ev.height, extra_events=ev.height - ev_lines, malformed=rej.height,
                  blank_lines=blank, continuation_lines=kept.height - ev_lines - rej.height - blank)
    return ev, rej, rep, carry
