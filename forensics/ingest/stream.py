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
from dataclasses import dataclass, replace
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


def _chunks(st: Streamed, chunk_bytes: int) -> Iterator[tuple[bytes, bool]]:
    """Whole-line chunks of about ``chunk_bytes``; the flag marks the last."""
    parts, size = [st.first], len(st.first)
    for piece in st.pieces:
        parts.append(piece)
        size += len(piece)
        if size >= chunk_bytes:
            data = b"".join(parts)
            cut = data.rfind(b"\n") + 1
            if cut:
                yield (data if cut == len(data) else data[:cut]), False
                data = data[cut:]
            parts, size = [data], len(data)
    yield b"".join(parts), True


def _lines(data: bytes, *, last: bool, damage: str | None) -> tuple[pl.DataFrame, bytes, int, int]:
    """(lines, data, invalid UTF-8 lines, NUL bytes) of one chunk."""
    if last and damage and data:
        cut = data.rfind(b"\n")
        data = data[: cut + 1] if cut >= 0 else b""
    data, nul = replace_nul_runs(data)
    lines, invalid = split_lines(data)
    return lines, data, invalid, nul


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
    fmt = options.format
    events: list[pl.DataFrame] = []
    rejects: list[pl.DataFrame] = []
    offset = 0
    nul_total = 0
    totals = dict(lines=0, events=0, continuation_lines=0, blank_lines=0, malformed=0, invalid_utf8_lines=0)

    def keep(ev: pl.DataFrame, rej: pl.DataFrame, rep: FileReport) -> None:
        nonlocal offset
        if offset:
            ev = ev.with_columns(pl.col("line") + offset)
            rej = rej.with_columns(pl.col("line") + offset)
        offset += rep.lines
        for k in totals:
            totals[k] += getattr(rep, k)
        if sink is not None:
            sink(ev)
        events.append(project(ev) if project is not None else ev)
        rejects.append(rej)
        if on_chunk is not None:
            on_chunk()

    def parse(item: tuple[pl.DataFrame, bytes, int]) -> tuple[pl.DataFrame, pl.DataFrame, FileReport]:
        lines, data, invalid = item
        loaded = Loaded(st.index, st.display, st.relative, fmt, st.state.kind, None, invalid, data, lines)
        ev, rej, ((_, rep),) = parse_group([loaded], fmt, options=options, now=now)
        return ev, rej, rep

    chunks = _chunks(st, chunk_bytes)
    carry = b""
    for data, last in chunks:
        lines, data, invalid, nul = _lines(carry + data, last=last, damage=st.state.damage)
        carry = b""
        nul_total += nul
        if lines.height == 0:
            continue
        if fmt is None:
            sample = lines.filter(pl.col("text").str.strip_chars() != "").head(64)["text"].to_list()
            fmt = formats.sniff(sample)
        if not formats.continued(fmt):
            # chunks are independent: two are parsed at a time (Polars releases
            # the GIL, and many of its string kernels run on one core) while
            # the next one is read; results are kept in order
            def items(first=(lines, data, invalid)):
                nonlocal nul_total
                yield first
                for more, is_last in chunks:
                    ln, raw, inv, nul_more = _lines(more, last=is_last, damage=st.state.damage)
                    nul_total += nul_more
                    if ln.height:
                        yield ln, raw, inv

            for ev, rej, rep in ordered_map(parse, items()):
                keep(ev, rej, rep)
            break
        ev, rej, rep = parse((lines, data, invalid))
        cut = int(ev["line"].max()) if (not last and ev.height) else 0
        if cut > 1:
            # hold back the last event (and what follows it) for the next chunk
            tail = lines.filter(pl.col("line") >= cut)
            carry = ("\n".join(tail["text"].to_list()) + "\n").encode()
            ev = ev.filter(pl.col("line") < cut)
            rej = rej.filter(pl.col("line") < cut)
            kept = lines.filter(pl.col("line") < cut)
            blank = int(kept.select((pl.col("text").str.strip_chars().str.len_bytes() == 0).sum()).item())
            rep = replace(rep, lines=kept.height, events=ev.height, malformed=rej.height, blank_lines=blank,
                          continuation_lines=kept.height - ev.height - rej.height - blank)
        keep(ev, rej, rep)
    damage = st.state.damage
    if nul_total:
        note = f"{nul_total} NUL bytes (a zero-filled region); each run read as U+FFFD"
        damage = f"{damage}; {note}" if damage else note
    damage = limit_note(damage, st.state.hit)
    if not events:
        return [], None, FileReport(st.display, None, st.state.kind, skipped="empty file", damage=damage)
    report = FileReport(path=st.display, format=fmt, compression=st.state.kind, damage=damage, **totals)
    if not report.balanced():
        raise AssertionError(f"line accounting does not balance for {st.display}: {report}")
    return events, pl.concat(rejects), report
