"""Ingest: files and folders of raw logs -> one canonical event table.

>>> from forensics.ingest import ingest, IngestOptions   # doctest: +SKIP
>>> result = ingest(["logs/"], options=IngestOptions())  # doctest: +SKIP
>>> result.events.columns[:3]                              # doctest: +SKIP
['ts', 'source', 'line']

Small files (up to :data:`SMALL_FILE` bytes) are decoded without building a
frame and parsed in batches of one format, so a folder of 100,000 tiny files
costs one parser call per batch, not per file (see README, "Reliability and security").
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import polars as pl

from ..errors import DataError, InputError, UsageError
from ..schema import EVENT_SCHEMA, empty_events, empty_rejects
from . import append, cache, formats
from .accounting import Accounting, FileReport
from .options import IngestOptions
from .group import FUTURE_SLACK, MIN_TS, Loaded, parse_group  # noqa: F401 (MIN_TS, FUTURE_SLACK re-exported)
from .reader import ReadState, decode_lines, decode_texts, iter_bytes
from .stream import Streamed, parse_stream

__all__ = ["IngestOptions", "IngestResult", "ingest", "ingest_file", "discover"]

#: Files never read as logs when a folder is walked (documented in README).
IGNORED_SUFFIXES = (".md", ".parquet", ".png", ".jpg", ".jpeg", ".gif", ".html", ".pdf")
IGNORED_NAMES = ("truth.json",)

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

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class IngestResult:
    """Events (canonical schema, sorted by ``ts``), rejects and accounting."""

    events: pl.DataFrame
    rejects: pl.DataFrame
    accounting: Accounting


def _ignored(path: Path) -> bool:
    name = path.name
    return name.startswith(".") or name in IGNORED_NAMES or name.lower().endswith(IGNORED_SUFFIXES)


def discover(
    paths: Sequence[str | os.PathLike], *, strict: bool = False
) -> tuple[list[tuple[Path, str, str]], list[str], list[FileReport]]:
    """Expand files and folders (recursively) into ``(path, display, relative)``
    triples; ``relative`` is the path below the folder that was walked (just the
    file name for a file given directly), used to guess the component.

    Missing or unreadable paths, sub-folders that cannot be listed and folders
    without any log file are reported as one-line errors (or raised as
    :class:`InputError` with ``strict``).  Special files (FIFOs, sockets,
    devices) inside a folder are never opened; they are returned as skipped
    reports.  Files inside folders are listed in sorted order.
    """
    found: list[tuple[Path, str, str]] = []
    errors: list[str] = []
    skipped: list[FileReport] = []

    def fail(msg: str) -> None:
        if strict:
            raise InputError(msg)
        errors.append(msg)

    for raw in paths:
        p = Path(raw)
        if not p.exists():
            fail(f"{raw}: no such file or folder")
            continue
        if p.is_dir():
            if not os.access(p, os.R_OK | os.X_OK):
                fail(f"{raw}: permission denied")
                continue
            walk_errors: list[OSError] = []
            entries: Iterable[tuple[str, list[str], list[str]]] = sorted(os.walk(p, onerror=walk_errors.append))
            for exc in walk_errors:
                fail(f"{exc.filename or raw}: cannot list folder: {exc.strerror or exc}")
            before = len(found)
            for root, _dirs, files in entries:
                if any(part.startswith(".") for part in Path(root).relative_to(p).parts):
                    continue
                for name in sorted(files):
                    fp = Path(root) / name
                    if _ignored(fp):
                        continue
                    if not fp.is_file():
                        skipped.append(FileReport(str(fp), None, skipped="not a regular file"))
                        continue
                    found.append((fp, str(fp), str(fp.relative_to(p))))
            if len(found) == before and not walk_errors:
                fail(f"{raw}: no log files in folder")
        elif p.is_file():
            found.append((p, str(raw), p.name))
        else:
            fail(f"{raw}: not a regular file")
    return found, errors, skipped


# ----------------------------------------------------------------------- reading


def _limit_note(damage: str | None, hit: bool, max_bytes: int) -> str | None:
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


def _load(index: int, path: Path, display: str, relative: str, *, options: IngestOptions,
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
        damage, why, texts, lines = _limit_note(small.damage, hit, options.max_bytes), small.binary_reason, small.texts, None
        data, invalid = small.data, small.invalid_utf8_lines
        height = len(texts)
    else:
        raw = decode_lines(data, kind, damage, hit)
        damage, why, texts, lines = _limit_note(raw.damage, hit, options.max_bytes), raw.binary_reason, None, raw.lines
        data, invalid = raw.data, raw.invalid_utf8_lines
        height = lines.height
    if why or height == 0:
        return FileReport(display, None, kind, skipped=why or "empty file", damage=damage)
    if options.format:
        fmt = options.format
    elif texts is not None:
        fmt = formats.sniff([t for t in texts if t.strip(_WHITESPACE)][:SNIFF_LINES])
    else:
        sample = lines.filter(pl.col("text").str.strip_chars() != "").head(SNIFF_LINES)["text"].to_list()
        fmt = formats.sniff(sample)
    return Loaded(index, display, relative, fmt, kind, damage, invalid, data, lines, texts)


def _stream(loaded: Streamed, *, options: IngestOptions, now: datetime, sink=None, project=None):
    return parse_stream(loaded, options=options, now=now, chunk_bytes=STREAM_CHUNK, sink=sink, project=project,
                        limit_note=lambda damage, hit: _limit_note(damage, hit, options.max_bytes))


def _now() -> datetime:
    return datetime.now(timezone.utc)


def ingest_file(path: Path, display: str, *, options: IngestOptions, relative: str | None = None) -> tuple[pl.DataFrame, pl.DataFrame, FileReport]:
    """Read and parse one file on its own.  Raises ``OSError`` when it cannot
    be opened."""
    loaded = _load(0, path, display, relative or path.name, options=options)
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
        Called as ``progress("ingest", files_done, files_total)``.
    project
        Expressions over the canonical columns that every file's (or
        chunk's) events are reduced to as soon as they are parsed or loaded
        from the cache (``forensics scan`` keeps only what the analysis
        reads); the default keeps the canonical schema.  The result holds
        these columns (plus ``ts`` and ``line``, always kept).

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
    files, errors, skipped = discover(paths, strict=options.strict)
    now = _now()
    ev_parts: list[pl.DataFrame] = []
    rej_parts: list[pl.DataFrame] = []
    reports: list[tuple[int, FileReport]] = []
    batches: dict[str, list[Loaded]] = {}
    batch_bytes: dict[str, int] = {}

    proj = list(project) if project is not None else None
    if proj is not None:  # the time and line order are always needed
        names = {e.meta.output_name() for e in proj}
        proj = [*proj, *(pl.col(c) for c in ("ts", "line") if c not in names)]

    def keep(frame: pl.DataFrame) -> pl.DataFrame:
        return frame if proj is None else frame.select(*proj, "_fi")

    def unreadable(msg: str) -> None:
        """A file that cannot be read: fail with --strict, else note it and go on."""
        if options.strict:
            raise InputError(msg) from None
        errors.append(msg)

    def parse(group: list[Loaded], fmt: str) -> pl.DataFrame:
        ev, rej, reps = parse_group(group, fmt, options=options, now=now)
        ev_parts.append(keep(ev))
        rej_parts.append(rej)
        reports.extend(reps)
        return ev

    for i, (path, display, relative) in enumerate(files):
        key = None
        state = ReadState()
        if options.cache_dir:
            try:
                if path.stat().st_size > SMALL_FILE:
                    key = cache.cache_key(path, display, relative, options=options)
                    hit = cache.load(Path(options.cache_dir), key, project=proj)
                    if hit is None and append.extend_entry(path, display, relative, options=options, now=now,
                                                           key=key, max_tail=STREAM_CHUNK):
                        hit = cache.load(Path(options.cache_dir), key, project=proj)
                    state.digest = append.new_digest()
                    if hit is not None:
                        ev, rej, rep = hit
                        ev_parts.append(ev.with_columns(pl.lit(i, dtype=pl.Int32).alias("_fi")))
                        rej_parts.append(rej.with_columns(pl.lit(i, dtype=pl.Int32).alias("_fi")))
                        reports.append((i, rep))
                        if progress:
                            progress("ingest", i + 1, len(files))
                        continue
            except OSError:
                key = None
        try:
            loaded = _load(i, path, display, relative, options=options, state=state)
        except PermissionError:
            unreadable(f"{display}: permission denied")
            continue
        except OSError as exc:
            unreadable(f"{display}: cannot read: {exc.strerror or exc}")
            continue
        if isinstance(loaded, Streamed):
            writer = cache.EntryWriter(Path(options.cache_dir), key) if key is not None else None
            try:
                evs, rej, rep = _stream(loaded, options=options, now=now, sink=writer.add if writer else None,
                                        project=keep)
            except OSError as exc:
                unreadable(f"{display}: cannot read: {exc.strerror or exc}")
                continue
            if options.strict and rep.damage:
                raise DataError(f"{display}: {rep.damage}")
            if rej is not None:
                ev_parts.extend(evs)
                rej_parts.append(rej)
                if writer is not None and not rep.damage:
                    writer.commit(rej, rep, latest=_latest(state, path, display, relative, options))
            reports.append((i, rep))
            if progress:
                progress("ingest", i + 1, len(files))
            continue
        if options.strict and loaded.damage:
            raise DataError(f"{display}: {loaded.damage}")
        if isinstance(loaded, FileReport):
            reports.append((i, loaded))
        elif loaded.texts is None:
            full = parse([loaded], loaded.fmt)
            if key is not None and not loaded.damage:
                cache.store(Path(options.cache_dir), key, full.drop("_fi"), rej_parts[-1].drop("_fi"),
                            reports[-1][1], latest=_latest(state, path, display, relative, options))
            del full
        else:
            batches.setdefault(loaded.fmt, []).append(loaded)
            batch_bytes[loaded.fmt] = batch_bytes.get(loaded.fmt, 0) + len(loaded.data)
            if len(batches[loaded.fmt]) >= BATCH_FILES or batch_bytes[loaded.fmt] >= BATCH_BYTES:
                parse(batches.pop(loaded.fmt), loaded.fmt)
                del batch_bytes[loaded.fmt]
        if progress:
            progress("ingest", i + 1, len(files))
    for fmt, group in batches.items():
        parse(group, fmt)
    if not reports and errors:
        raise InputError(errors[0] if len(errors) == 1 else f"{errors[0]} (and {len(errors) - 1} more errors)")
    reports.sort(key=lambda t: t[0])
    fi = pl.lit(0, dtype=pl.Int32).alias("_fi")
    # parts in order of their first event: rotated files and chunks then
    # usually concatenate into time order already, and the sort is skipped
    ev_parts.sort(key=_part_order)
    events = pl.concat(ev_parts, how="vertical", rechunk=False) if ev_parts else keep(empty_events().with_columns(fi))
    ev_parts.clear()
    rejects = pl.concat(rej_parts, how="vertical") if rej_parts else empty_rejects().with_columns(fi)
    duplicates = 0
    lazy = events.lazy()
    if options.dedupe and events.height:
        # Overlapping rotated files (copytruncate) repeat lines verbatim in
        # another file: keep the first copy of an identical event.
        # (a projection that thins out ``attrs`` keeps its hash for this)
        swap = {"attrs": "_attrs_hash"} if "_attrs_hash" in events.columns else {}
        content = [swap.get(c, c) for c in EVENT_SCHEMA if c not in ("source", "line") and swap.get(c, c) in events.columns]
        drop = _cross_file_duplicates(events, content)
        if drop is not None and drop.len():
            duplicates = drop.len()
            lazy = lazy.with_row_index("_r").filter(~pl.col("_r").is_in(drop.implode())).drop("_r")
    # one materialization for the filter and the sort (memory: twice the events, not three times)
    ordered = _in_order(events)  # (dropping duplicates keeps the order)
    del events
    if not ordered:
        lazy = lazy.sort(["ts", "_fi", "line"])
    events = lazy.drop("_fi", "_attrs_hash", strict=False).collect()
    rejects = rejects.sort(["_fi", "line"]).drop("_fi")
    accounting = Accounting(tuple(skipped) + tuple(r for _, r in reports), tuple(errors), duplicates)
    return IngestResult(events, rejects, accounting)


def _part_order(frame: pl.DataFrame) -> tuple:
    if frame.height == 0:
        return (0, None, 0, 0)
    first = frame.select(pl.col("ts").min(), pl.col("_fi").min(), pl.col("line").min()).row(0)
    return (1, *first) if first[0] is not None else (2, None, first[1], first[2])


def _in_order(events: pl.DataFrame) -> bool:
    """Whether ``events`` is sorted by ``ts, _fi, line`` already (a sort
    would copy every column)."""
    if events.height < 2 or events.get_column("ts").null_count():
        return events.height < 2
    ts, fi, ln = pl.col("ts"), pl.col("_fi"), pl.col("line")
    nts, nfi, nln = ts.shift(-1), fi.shift(-1), ln.shift(-1)
    ok = (ts < nts) | ((ts == nts) & ((fi < nfi) | ((fi == nfi) & (ln < nln))))
    return bool(events.select(ok.head(events.height - 1).all()).item())


def _cross_file_duplicates(events: pl.DataFrame, content: list[str]) -> pl.Series | None:
    """Row numbers of the events identical in every content column to one
    from an earlier file (repeats within one file are kept: they can be real).

    Only events whose time occurs in more than one file can have such a twin,
    so the grouping over every content column runs on those alone (rotated
    files overlap by a few lines, not by their whole length)."""
    if events.height == 0 or events["_fi"].n_unique() < 2:
        return None
    shared = (
        events.lazy().select(*content, "_fi").with_row_index("_r")
        .filter(pl.col("_fi").min().over("ts") != pl.col("_fi").max().over("ts"))
        .collect()
    )
    if shared.height == 0:
        return None
    return shared.filter(pl.col("_fi") != pl.col("_fi").min().over(content)).get_column("_r")
