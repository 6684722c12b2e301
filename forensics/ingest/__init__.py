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
from datetime import datetime, timedelta, timezone
from pathlib import Path

import polars as pl

from ..errors import DataError, InputError, UsageError
from ..schema import EVENT_SCHEMA, REJECT_SCHEMA, conform, empty_events, empty_rejects
from . import cache, formats
from .accounting import Accounting, FileReport
from .normalize import component_from_path
from .options import IngestOptions
from .reader import decode_lines, decode_texts, read_bytes

__all__ = ["IngestOptions", "IngestResult", "ingest", "ingest_file", "discover"]

#: Files never read as logs when a folder is walked (documented in README).
IGNORED_SUFFIXES = (".md", ".parquet", ".png", ".jpg", ".jpeg", ".gif", ".html", ".pdf")
IGNORED_NAMES = ("truth.json",)

SNIFF_LINES = 64

#: Events before this time are rejected ("clock not set", epoch 0, two-digit years).
MIN_TS = datetime(1990, 1, 1, tzinfo=timezone.utc)
#: Events later than the time of the run plus this are rejected (wrong clock).
FUTURE_SLACK = timedelta(days=1)

#: Files up to this many (decompressed) bytes are parsed in batches.
SMALL_FILE = 64 * 1024
#: A batch is parsed when it holds this many files or bytes.
BATCH_FILES = 4096
BATCH_BYTES = 8 * 1024 * 1024

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


@dataclass(frozen=True)
class _Loaded:
    """One file read and decoded, waiting to be parsed."""

    index: int
    display: str
    relative: str
    fmt: str
    compression: str | None
    damage: str | None
    invalid: int
    data: bytes
    lines: pl.DataFrame | None = None  # large files
    texts: list[str] | None = None  # small files (parsed in batches)

    @property
    def height(self) -> int:
        return self.lines.height if self.lines is not None else len(self.texts or ())


def _limit_note(damage: str | None, hit: bool, max_bytes: int) -> str | None:
    if not hit:
        return damage
    limit = f"stopped after {max_bytes} bytes (--max-bytes)"
    return f"{damage}; {limit}" if damage else limit


def _load(index: int, path: Path, display: str, relative: str, *, options: IngestOptions) -> _Loaded | FileReport:
    """Read one file; a :class:`FileReport` when it is skipped (binary, empty).
    Raises ``OSError`` when it cannot be opened or read."""
    data, kind, damage, hit = read_bytes(path, max_bytes=options.max_bytes)
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
    return _Loaded(index, display, relative, fmt, kind, damage, invalid, data, lines, texts)


def ingest_file(path: Path, display: str, *, options: IngestOptions, relative: str | None = None) -> tuple[pl.DataFrame, pl.DataFrame, FileReport]:
    """Read and parse one file on its own.  Raises ``OSError`` when it cannot
    be opened."""
    loaded = _load(0, path, display, relative or path.name, options=options)
    if isinstance(loaded, FileReport):
        return empty_events(), empty_rejects(), loaded
    ev, rej, ((_, rep),) = _parse_group([loaded], loaded.fmt, options=options, now=_now())
    return ev.drop("_fi"), rej.drop("_fi"), rep


# ----------------------------------------------------------------------- parsing


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _parse(fmt: str, lines: pl.DataFrame, data: bytes, invalid: int, *, options: IngestOptions, fast_ok: bool = True):
    module = formats.get(fmt)
    fast = getattr(module, "parse_bytes", None) if fast_ok else None
    # The whole-buffer fast path infers a schema from the first lines, which
    # in a batch belong to another file: batches always take ``parse``.
    result = fast(data, lines, options=options) if fast is not None and not invalid else None
    return result if result is not None else module.parse(lines, options=options)


def _parse_group(
    group: list[_Loaded], fmt: str, *, options: IngestOptions, now: datetime
) -> tuple[pl.DataFrame, pl.DataFrame, list[tuple[int, FileReport]]]:
    """Parse files of one format together (one parser call for the group) and
    split the result back per file.  Returns events and rejects (with the
    file's discovery index in ``_fi``) and ``(index, report)`` pairs.

    Lines are numbered across the group; a file whose first non-blank line did
    not become an event or a reject was folded into the previous file's last
    event, so that file and the one before it are parsed again on their own.
    """
    if len(group) == 1 and group[0].lines is not None:
        lines = group[0].lines
        data = group[0].data
    else:
        texts = [t for it in group for t in (it.texts if it.texts is not None else it.lines["text"].to_list())]
        lines = pl.DataFrame({"line": pl.int_range(1, len(texts) + 1, dtype=pl.Int64, eager=True), "text": texts},
                             schema={"line": pl.Int64, "text": pl.String})
        data = ("\n".join(texts) + "\n").encode() if texts else b""
    invalid = sum(it.invalid for it in group)
    result = _parse(fmt, lines, data, invalid, options=options, fast_ok=len(group) == 1)
    starts = [0]
    for it in group:
        starts.append(starts[-1] + it.height)
    starts_s = pl.Series("_off", starts[:-1], dtype=pl.Int64)

    def with_fid(frame: pl.DataFrame) -> pl.DataFrame:
        # line L (1-based, group numbering) belongs to file i with starts[i] < L <= starts[i+1]
        idx = starts_s.search_sorted(frame["line"] - 1, side="right") - 1
        return frame.with_columns(idx.cast(pl.Int32).alias("_g"))

    events = with_fid(result.events)
    rejects = with_fid(result.rejects.select("line", "reason", "text"))
    redo: set[int] = set()
    if len(group) > 1:
        first = (
            with_fid(lines.filter(pl.col("text").str.strip_chars().str.len_bytes() > 0).select("line"))
            .group_by("_g").agg(pl.col("line").min())
        )
        placed = pl.concat([events.select("line"), rejects.select("line")])
        leaked = first.join(placed, on="line", how="anti")["_g"].to_list()
        for g in leaked:
            redo.update((g, g - 1) if g > 0 else (g,))
    ev, rej, reports = _finish(group, lines, events, rejects, result, fmt, now=now, skip=redo, starts=starts_s)
    evs, rejs = [ev], [rej]
    for g in sorted(redo):
        ev, rej, more = _parse_group([group[g]], fmt, options=options, now=now)
        evs.append(ev)
        rejs.append(rej)
        reports.extend(more)
    if len(evs) > 1:
        return pl.concat(evs), pl.concat(rejs), reports
    return evs[0], rejs[0], reports


def _blank_counts(lines: pl.DataFrame, starts: pl.Series) -> dict[int, int]:
    """Whitespace-only lines per file of a group (same test as ``split_blank``)."""
    blank = lines.filter(pl.col("text").str.strip_chars().str.len_bytes() == 0)
    if not blank.height:
        return {}
    g = starts.search_sorted(blank["line"] - 1, side="right") - 1
    return dict(g.value_counts().iter_rows())


def _finish(group, lines, events, rejects, result, fmt, *, now: datetime, skip: set[int], starts: pl.Series):
    """Time checks, canonical columns and per-file accounting for a parsed group."""
    meta = pl.DataFrame(
        {
            "_g": list(range(len(group))),
            "source": [it.display for it in group],
            "_component": [component_from_path(it.relative) for it in group],
            "_off": starts,
        },
        schema={"_g": pl.Int32, "source": pl.String, "_component": pl.String, "_off": pl.Int64},
    )
    # An event without a readable (or believable) time cannot be placed on the timeline.
    latest = now + FUTURE_SLACK
    why = (
        pl.when(pl.col("ts").is_null()).then(pl.lit("no readable timestamp"))
        .when(pl.col("ts") < MIN_TS).then(pl.lit(f"timestamp before {MIN_TS:%Y-%m-%d} (clock not set?)"))
        .when(pl.col("ts") > latest).then(pl.lit(f"timestamp in the future (after {latest:%Y-%m-%d %H:%M} UTC)"))
    )
    events = events.with_columns(why.alias("_why"))
    bad = events.filter(pl.col("_why").is_not_null())
    if bad.height:
        events = events.filter(pl.col("_why").is_null())
        more = bad.select("line", pl.col("_why").alias("reason"), "_g").join(lines, on="line", how="left")
        rejects = pl.concat([rejects, more.select("line", "reason", "text", "_g")])
    events = events.drop("_why")
    events = events.join(meta, on="_g", how="left").with_columns(
        (pl.col("line") - pl.col("_off")).alias("line"),
        pl.lit(fmt).alias("format"),
        pl.col("component").fill_null(pl.col("_component")),
    )
    rejects = rejects.join(meta, on="_g", how="left").with_columns(
        (pl.col("line") - pl.col("_off")).alias("line"), pl.lit(fmt).alias("format")
    )
    index = pl.Series("_fi", [it.index for it in group], dtype=pl.Int32)
    if skip:
        events = events.filter(~pl.col("_g").is_in(sorted(skip)))
        rejects = rejects.filter(~pl.col("_g").is_in(sorted(skip)))
    ev_counts = dict(events.group_by("_g").len().iter_rows()) if events.height else {}
    rej_counts = dict(rejects.group_by("_g").len().iter_rows()) if rejects.height else {}
    events = conform(events).with_columns(index.gather(events["_g"]).alias("_fi"))
    rejects = rejects.select(*(pl.col(c).cast(t) for c, t in REJECT_SCHEMA.items()), index.gather(rejects["_g"]).alias("_fi"))
    blanks = _blank_counts(lines, starts) if len(group) > 1 else {0: result.blank_lines}
    reports = []
    cont_total = 0
    for g, it in enumerate(group):
        if g in skip:
            continue
        n_ev, n_rej, blank = ev_counts.get(g, 0), rej_counts.get(g, 0), blanks.get(g, 0)
        continuation = it.height - n_ev - n_rej - blank
        cont_total += continuation
        report = FileReport(
            path=it.display, format=fmt, compression=it.compression, lines=it.height, events=n_ev,
            continuation_lines=continuation, blank_lines=blank, malformed=n_rej,
            invalid_utf8_lines=it.invalid, damage=it.damage,
        )
        if continuation < 0:
            raise AssertionError(f"line accounting does not balance for {it.display}: {report}")
        reports.append((it.index, report))
    if not skip and cont_total != result.continuation_lines:
        names = ", ".join(it.display for it in group[:3])
        raise AssertionError(f"line accounting does not balance for {names}: "
                             f"{cont_total} continuation lines, parser said {result.continuation_lines}")
    return events, rejects, reports


def ingest(
    paths: Sequence[str | os.PathLike],
    *,
    options: IngestOptions | None = None,
    progress: Progress | None = None,
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
    batches: dict[str, list[_Loaded]] = {}
    batch_bytes: dict[str, int] = {}

    def parse(group: list[_Loaded], fmt: str) -> None:
        ev, rej, reps = _parse_group(group, fmt, options=options, now=now)
        ev_parts.append(ev)
        rej_parts.append(rej)
        reports.extend(reps)

    for i, (path, display, relative) in enumerate(files):
        key = None
        if options.cache_dir:
            try:
                if path.stat().st_size > SMALL_FILE:
                    key = cache.cache_key(path, display, relative, options=options)
                    hit = cache.load(Path(options.cache_dir), key)
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
            loaded = _load(i, path, display, relative, options=options)
        except PermissionError:
            msg = f"{display}: permission denied"
            if options.strict:
                raise InputError(msg) from None
            errors.append(msg)
            continue
        except OSError as exc:
            msg = f"{display}: cannot read: {exc.strerror or exc}"
            if options.strict:
                raise InputError(msg) from None
            errors.append(msg)
            continue
        if options.strict and loaded.damage:
            raise DataError(f"{display}: {loaded.damage}")
        if isinstance(loaded, FileReport):
            reports.append((i, loaded))
        elif loaded.texts is None:
            parse([loaded], loaded.fmt)
            if key is not None and not loaded.damage:
                cache.store(Path(options.cache_dir), key, ev_parts[-1].drop("_fi"), rej_parts[-1].drop("_fi"),
                            reports[-1][1])
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
    events = pl.concat(ev_parts, how="vertical") if ev_parts else empty_events().with_columns(fi)
    rejects = pl.concat(rej_parts, how="vertical") if rej_parts else empty_rejects().with_columns(fi)
    duplicates = 0
    if options.dedupe and events.height:
        # Overlapping rotated files (copytruncate) repeat lines verbatim in
        # another file: keep the first copy of an identical event.
        content = [c for c in EVENT_SCHEMA if c not in ("source", "line")]
        before = events.height
        events = _drop_cross_file_duplicates(events, content)
        duplicates = before - events.height
    events = events.sort(["ts", "_fi", "line"]).drop("_fi")
    rejects = rejects.sort(["_fi", "line"]).drop("_fi")
    accounting = Accounting(tuple(skipped) + tuple(r for _, r in reports), tuple(errors), duplicates)
    return IngestResult(events, rejects, accounting)


def _drop_cross_file_duplicates(events: pl.DataFrame, content: list[str]) -> pl.DataFrame:
    """Drop an event identical in every content column to one from an earlier
    file; repeats within one file are kept (they can be real).

    Only events whose time occurs in more than one file can have such a twin,
    so the grouping over every content column runs on those alone (rotated
    files overlap by a few lines, not by their whole length)."""
    if events.height == 0 or events["_fi"].n_unique() < 2:
        return events
    ev = events.with_row_index("_r")
    shared = ev.filter(pl.col("_fi").min().over("ts") != pl.col("_fi").max().over("ts"))
    if shared.height == 0:
        return events
    drop = shared.filter(pl.col("_fi") != pl.col("_fi").min().over(content)).get_column("_r")
    if drop.len() == 0:
        return events
    return ev.filter(~pl.col("_r").is_in(drop.implode())).drop("_r")
