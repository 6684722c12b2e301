"""Ingest: files and folders of raw logs -> one canonical event table.

>>> from forensics.ingest import ingest, IngestOptions
>>> result = ingest(["sample_logs/"], options=IngestOptions())
>>> result.events.columns[:3]
['ts', 'source', 'line']

The stages: find the files (:mod:`.discover`), then per file load it from the
warm cache (:mod:`.cache`, :mod:`.append`) or read it (:mod:`.reader`) and
parse it (:mod:`.group`; a large file chunk by chunk, :mod:`.stream`), and
last combine every file's events into one table in time order without the
copies overlapping rotated files repeat (:mod:`.combine`).  Progress is
reported in bytes read (:mod:`.progress`); ``project`` reduces events as they
are parsed (:mod:`.projection`).

Small files (up to :data:`SMALL_FILE` bytes) are decoded without building a
frame and parsed in batches of one format, so a folder of 100,000 tiny files
costs one parser call per batch, not per file (see docs/reliability.md, "Bad inputs").
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO

import polars as pl

from ..errors import DataError, InputError, UsageError
from ..schema import empty_events, empty_rejects
from . import append, cache, formats
from .accounting import Accounting, FileReport
from .combine import combine
from .discover import IGNORED_NAMES, IGNORED_SUFFIXES, discover, find_files  # noqa: F401 (re-exported)
from .options import IngestOptions
from .group import FUTURE_SLACK, MIN_TS, Loaded, parse_group  # noqa: F401 (MIN_TS, FUTURE_SLACK re-exported)
from .progress import ByteProgress, Progress
from .projection import ATTRS_HASH, thin_attrs, with_order_columns  # noqa: F401 (re-exported)
from .reader import ReadState, decode_lines, decode_texts, iter_bytes
from .stream import Streamed, parse_stream

__all__ = ["IngestOptions", "IngestResult", "ingest", "ingest_file", "discover", "thin_attrs", "ATTRS_HASH"]

SNIFF_LINES = 64


#: Files up to this many (decompressed) bytes are parsed in batches.
SMALL_FILE = 64 * 1024
#: A batch is parsed when it holds this many files or bytes.
BATCH_FILES = 4096
BATCH_BYTES = 8 * 1024 * 1024
#: Files larger than this (decompressed) are read and parsed in chunks of
#: about this size (:mod:`forensics.ingest.stream`), never held whole.
STREAM_CHUNK = 64 * 1024 * 1024

#: What ``str.strip_chars()`` in Polars treats as whitespace (Unicode
#: White_Space), so that small and large files pick the same sniff sample.
_WHITESPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"


@dataclass(frozen=True)
class IngestResult:
    """Events (canonical schema, sorted by ``ts``), rejects and accounting."""

    events: pl.DataFrame
    rejects: pl.DataFrame
    accounting: Accounting


# ----------------------------------------------------------------------- reading


def limit_note(damage: str | None, hit: bool, max_bytes: int) -> str | None:
    """``damage`` with the ``--max-bytes`` note added when reading stopped there (``hit``)."""
    if not hit:
        return damage
    limit = f"stopped after {max_bytes} bytes (--max-bytes)"
    return f"{damage}; {limit}" if damage else limit


def _latest(state: ReadState, path: Path, display: str, relative: str, options: IngestOptions) -> dict | None:
    """What a cache entry records so that an appended file can be extended
    (:mod:`forensics.ingest.append`): uncompressed files read whole only."""
    if state.kind is not None or state.hit or state.digest is None:
        return None
    return {"stem": cache.stem_key(path, display, relative, options=options), "size": state.size,
            "digest": state.digest.hexdigest()}


def load_file(index: int, path: Path | BinaryIO, display: str, relative: str, *, options: IngestOptions,
          state: ReadState | None = None) -> Loaded | Streamed | FileReport:
    """Read one file; a :class:`FileReport` when it is skipped (binary, empty),
    a :class:`Streamed` when it is larger than :data:`STREAM_CHUNK`.
    Raises ``OSError`` when it cannot be opened or read."""
    state = state if state is not None else ReadState()
    pieces = iter_bytes(path, state, max_bytes=options.max_bytes, block=min(STREAM_CHUNK, 16 * 1024 * 1024))
    buf = bytearray()
    for piece in pieces:
        buf += piece
        if len(buf) > STREAM_CHUNK:
            return Streamed(index, display, relative, bytes(buf), pieces, state)
    data, kind, damage, hit = bytes(buf), state.kind, state.damage, state.hit
    del buf
    if len(data) <= SMALL_FILE:
        small = decode_texts(data, damage)
        damage, why, texts, lines = limit_note(small.damage, hit, options.max_bytes), small.binary_reason, small.texts, None
        data, invalid = small.data, small.invalid_utf8_lines
        height = len(texts)
    else:
        raw = decode_lines(data, kind, damage, hit)
        damage, why, texts, lines = limit_note(raw.damage, hit, options.max_bytes), raw.binary_reason, None, raw.lines
        data, invalid = raw.data, raw.invalid_utf8_lines
        height = lines.height
    if why or height == 0:
        return FileReport(display, None, kind, skipped=why or "empty file", damage=damage)
    if options.format:
        fmt = options.format
    elif texts is not None:
        fmt = formats.choose([t for t in texts if t.strip(_WHITESPACE)][:SNIFF_LINES], options=options)
    else:
        sample = lines.filter(pl.col("text").str.strip_chars() != "").head(SNIFF_LINES)["text"].to_list()
        fmt = formats.choose(sample, options=options)
    return Loaded(index, display, relative, fmt, kind, damage, invalid, data, lines, texts)


def _stream(loaded: Streamed, *, options: IngestOptions, now: datetime, sink=None, project=None, on_chunk=None):
    return parse_stream(loaded, options=options, now=now, chunk_bytes=STREAM_CHUNK, sink=sink, project=project,
                        limit_note=lambda damage, hit: limit_note(damage, hit, options.max_bytes),
                        on_chunk=on_chunk)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def ingest_file(path: Path, display: str, *, options: IngestOptions, relative: str | None = None) -> tuple[pl.DataFrame, pl.DataFrame, FileReport]:
    """Read and parse one file on its own.  Raises ``OSError`` when it cannot
    be opened."""
    loaded = load_file(0, path, display, relative or path.name, options=options)
    if isinstance(loaded, FileReport):
        return empty_events(), empty_rejects(), loaded
    if isinstance(loaded, Streamed):
        evs, rej, rep = _stream(loaded, options=options, now=_now())
        if rej is None:
            return empty_events(), empty_rejects(), rep
        return pl.concat(evs).drop("_fi"), rej.drop("_fi"), rep
    ev, rej, ((_, rep),) = parse_group([loaded], loaded.fmt, options=options, now=_now())
    return ev.drop("_fi"), rej.drop("_fi"), rep


# ----------------------------------------------------------------------- parsing


def ingest(
    paths: Sequence[str | os.PathLike],
    *,
    options: IngestOptions | None = None,
    progress: Progress | None = None,
    project: Sequence[pl.Expr] | None = None,
) -> IngestResult:
    """Read every file under ``paths`` into one event table sorted by time.

    Parameters
    ----------
    paths
        Files and folders (walked recursively; hidden files, ``*.md``,
        ``*.parquet`` and ``truth.json`` are not logs and are passed over).
    options
        See :class:`IngestOptions`.
    progress
        Called as ``progress("ingest", bytes_done, bytes_total)``: bytes on
        disk (compressed bytes for compressed files) over all files, advancing
        as the chunks of a large file are read (:mod:`.progress`).
    project
        Expressions over the canonical columns that every file's (or
        chunk's) events are reduced to as soon as they are parsed or loaded
        from the cache (``forensics scan`` keeps only what the analysis
        reads); the default keeps the canonical schema.  The result holds
        these columns (plus ``ts`` and ``line``, always kept).  To thin out
        ``attrs`` use :func:`thin_attrs`, which keeps what the cross-file
        dedupe compares (:mod:`.projection`).

    Raises
    ------
    InputError
        When nothing at all could be read (or with ``strict``, on the first
        unreadable path).
    DataError
        With ``strict``, on the first damaged file.
    """
    options = options or IngestOptions()
    if options.format and options.format not in formats.FORMATS:
        raise UsageError(f"unknown format {options.format!r}; known: {', '.join(formats.names())}")
    found = find_files(paths, strict=options.strict)
    run = _Run(options, _now(), with_order_columns(project), ByteProgress(progress, found.sizes), found.errors)
    for i, (path, display, relative) in enumerate(found.files):
        _ingest_one(run, i, path, display, relative)
        run.meter.file_done(i)
    for fmt, group in run.batches.items():
        run.parse(group, fmt)
    run.meter.finish()
    return _result(run, found.skipped)


@dataclass
class _Run:
    """What one :func:`ingest` call collects as it goes through the files
    (``_fi`` marks each part with the index of its file)."""

    options: IngestOptions
    now: datetime
    proj: list[pl.Expr] | None
    meter: ByteProgress
    errors: list[str]
    ev_parts: list[pl.DataFrame] = field(default_factory=list)
    rej_parts: list[pl.DataFrame] = field(default_factory=list)
    reports: list[tuple[int, FileReport]] = field(default_factory=list)
    batches: dict[str, list[Loaded]] = field(default_factory=dict)
    batch_bytes: dict[str, int] = field(default_factory=dict)

    def keep(self, frame: pl.DataFrame) -> pl.DataFrame:
        """``frame`` reduced to the projection (and ``_fi``)."""
        return frame if self.proj is None else frame.select(*self.proj, "_fi")

    def unreadable(self, msg: str) -> None:
        """A file that cannot be read: fail with --strict, else note it and go on."""
        if self.options.strict:
            raise InputError(msg) from None
        self.errors.append(msg)

    def parse(self, group: list[Loaded], fmt: str) -> pl.DataFrame:
        """Parse files of one format; keep their parts; return the events
        before projection."""
        ev, rej, reps = parse_group(group, fmt, options=self.options, now=self.now)
        self.ev_parts.append(self.keep(ev))
        self.rej_parts.append(rej)
        self.reports.extend(reps)
        return ev

    def add(self, i: int, ev: pl.DataFrame, rej: pl.DataFrame, rep: FileReport) -> None:
        """Keep one file's events and rejects (from the cache: without ``_fi``)."""
        self.ev_parts.append(ev.with_columns(pl.lit(i, dtype=pl.Int32).alias("_fi")))
        self.rej_parts.append(rej.with_columns(pl.lit(i, dtype=pl.Int32).alias("_fi")))
        self.reports.append((i, rep))


def _ingest_one(run: _Run, i: int, path: Path, display: str, relative: str) -> None:
    """Load file ``i`` from the cache, or read it and parse it (or add it to
    a batch of small files)."""
    state = ReadState()
    hit, key = _from_cache(run, i, path, display, relative, state) if run.options.cache_dir else (False, None)
    if hit:
        return
    try:
        loaded = load_file(i, path, display, relative, options=run.options, state=state)
    except PermissionError:
        run.unreadable(f"{display}: permission denied")
        return
    except OSError as exc:
        run.unreadable(f"{display}: cannot read: {exc.strerror or exc}")
        return
    latest = partial(_latest, state, path, display, relative, run.options)
    if isinstance(loaded, Streamed):
        _add_streamed(run, loaded, key, latest)
    else:
        _add_loaded(run, i, display, loaded, key, latest)


def _from_cache(run: _Run, i: int, path: Path, display: str, relative: str,
                state: ReadState) -> tuple[bool, str | None]:
    """``(hit, key)``: whether file ``i`` was loaded from the warm cache (or
    its entry extended by the appended lines, :mod:`.append`), and the key to
    store its parse under (``None``: not cached, e.g. a small file)."""
    try:
        if path.stat().st_size <= SMALL_FILE:
            return False, None
        key = cache.cache_key(path, display, relative, options=run.options)
        hit = cache.load(Path(run.options.cache_dir), key, project=run.proj)
        if hit is None and append.extend_entry(path, display, relative, options=run.options, now=run.now,
                                               key=key, max_tail=STREAM_CHUNK):
            hit = cache.load(Path(run.options.cache_dir), key, project=run.proj)
        state.digest = append.new_digest()
        if hit is not None:
            run.add(i, *hit)
            return True, key
        return False, key
    except OSError:
        return False, None


def _add_streamed(run: _Run, loaded: Streamed, key: str | None, latest) -> None:
    """Parse a large file chunk by chunk (progress after each chunk)."""
    options = run.options
    writer = cache.EntryWriter(Path(options.cache_dir), key) if key is not None else None
    try:
        evs, rej, rep = _stream(loaded, options=options, now=run.now, sink=writer.add if writer else None,
                                project=run.keep,
                                on_chunk=lambda: run.meter.reading(loaded.index, loaded.state.consumed))
    except OSError as exc:
        run.unreadable(f"{loaded.display}: cannot read: {exc.strerror or exc}")
        return
    if options.strict and rep.damage:
        raise DataError(f"{loaded.display}: {rep.damage}")
    if rej is not None:
        run.ev_parts.extend(evs)
        run.rej_parts.append(rej)
        if writer is not None and not rep.damage:
            writer.commit(rej, rep, latest=latest())
    run.reports.append((loaded.index, rep))


def _add_loaded(run: _Run, i: int, display: str, loaded: Loaded | FileReport, key: str | None, latest) -> None:
    """Parse a file read whole (and cache it), or add a small one to the
    batch of its format (parsed when the batch is full); a skipped file is
    only reported."""
    if run.options.strict and loaded.damage:
        raise DataError(f"{display}: {loaded.damage}")
    if isinstance(loaded, FileReport):
        run.reports.append((i, loaded))
        return
    if loaded.texts is None or formats.per_file(loaded.fmt):
        full = run.parse([loaded], loaded.fmt)
        if key is not None and not loaded.damage:
            cache.store(Path(run.options.cache_dir), key, full.drop("_fi"), run.rej_parts[-1].drop("_fi"),
                        run.reports[-1][1], latest=latest())
        return
    fmt = loaded.fmt
    run.batches.setdefault(fmt, []).append(loaded)
    run.batch_bytes[fmt] = run.batch_bytes.get(fmt, 0) + len(loaded.data)
    if len(run.batches[fmt]) >= BATCH_FILES or run.batch_bytes[fmt] >= BATCH_BYTES:
        run.parse(run.batches.pop(fmt), fmt)
        del run.batch_bytes[fmt]


def _result(run: _Run, skipped: list[FileReport]) -> IngestResult:
    """Combine every file's parts into the result."""
    if not run.reports and run.errors:
        errors = run.errors
        raise InputError(errors[0] if len(errors) == 1 else f"{errors[0]} (and {len(errors) - 1} more errors)")
    run.reports.sort(key=lambda t: t[0])
    fi = pl.lit(0, dtype=pl.Int32).alias("_fi")
    if not run.ev_parts:
        run.ev_parts.append(run.keep(empty_events().with_columns(fi)))
    rejects = pl.concat(run.rej_parts, how="vertical") if run.rej_parts else empty_rejects().with_columns(fi)
    run.rej_parts.clear()
    done = combine(run.ev_parts, rejects, dedupe=run.options.dedupe)
    accounting = Accounting(tuple(skipped) + tuple(r for _, r in run.reports), tuple(run.errors), done.duplicates)
    return IngestResult(done.events, done.rejects, accounting)
