"""Ingest: files and folders of raw logs -> one canonical event table.

>>> from forensics.ingest import ingest, IngestOptions   # doctest: +SKIP
>>> result = ingest(["logs/"], options=IngestOptions())  # doctest: +SKIP
>>> result.events.columns[:3]                              # doctest: +SKIP
['ts', 'source', 'line']
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from ..errors import DataError, InputError, UsageError
from ..schema import EVENT_SCHEMA, REJECT_SCHEMA, conform, empty_events, empty_rejects
from . import formats
from .accounting import Accounting, FileReport
from .normalize import component_from_path
from .options import IngestOptions
from .reader import read_lines

__all__ = ["IngestOptions", "IngestResult", "ingest", "ingest_file", "discover"]

#: Files never read as logs when a folder is walked (documented in README).
IGNORED_SUFFIXES = (".md", ".parquet", ".png", ".jpg", ".jpeg", ".gif", ".html", ".pdf")
IGNORED_NAMES = ("truth.json",)

SNIFF_LINES = 64

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


def discover(paths: Sequence[str | os.PathLike], *, strict: bool = False) -> tuple[list[tuple[Path, str, str]], list[str]]:
    """Expand files and folders (recursively) into ``(path, display, relative)``
    triples; ``relative`` is the path below the folder that was walked (just the
    file name for a file given directly), used to guess the component.

    Missing or unreadable paths are reported as one-line errors (or raised with
    ``strict``).  Files inside folders are listed in sorted order.
    """
    found: list[tuple[Path, str, str]] = []
    errors: list[str] = []

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
            try:
                entries: Iterable[tuple[str, list[str], list[str]]] = sorted(os.walk(p, onerror=None))
            except OSError as exc:
                fail(f"{raw}: cannot list folder: {exc.strerror or exc}")
                continue
            if not os.access(p, os.R_OK | os.X_OK):
                fail(f"{raw}: permission denied")
                continue
            for root, dirs, files in entries:
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                if any(part.startswith(".") for part in Path(root).relative_to(p).parts):
                    continue
                for name in sorted(files):
                    fp = Path(root) / name
                    if _ignored(fp) or not fp.is_file():
                        continue
                    found.append((fp, str(fp), str(fp.relative_to(p))))
        elif p.is_file():
            found.append((p, str(raw), p.name))
        else:
            fail(f"{raw}: not a regular file")
    return found, errors


def ingest_file(path: Path, display: str, *, options: IngestOptions, relative: str | None = None) -> tuple[pl.DataFrame, pl.DataFrame, FileReport]:
    """Read and parse one file.  Raises ``OSError`` when it cannot be opened."""
    raw = read_lines(path, max_bytes=options.max_bytes)
    damage = raw.damage
    if raw.truncated_at_limit:
        limit = f"stopped after {options.max_bytes} bytes (--max-bytes)"
        damage = f"{damage}; {limit}" if damage else limit
    if raw.binary:
        return empty_events(), empty_rejects(), FileReport(display, None, raw.compression, skipped="binary content", damage=damage)
    lines = raw.lines
    if options.format:
        fmt = options.format
    else:
        sample = lines.filter(pl.col("text").str.strip_chars() != "").head(SNIFF_LINES)["text"].to_list()
        fmt = formats.sniff(sample)
    module = formats.get(fmt)
    result = None
    fast = getattr(module, "parse_bytes", None)
    if fast is not None and not raw.invalid_utf8_lines:
        result = fast(raw.data, lines, options=options)
    if result is None:
        result = module.parse(lines, options=options)
    events = result.events
    # An event without a readable timestamp cannot be placed on the timeline.
    no_ts = events.filter(pl.col("ts").is_null())
    if no_ts.height:
        events = events.filter(pl.col("ts").is_not_null())
        text = lines.join(no_ts.select("line"), on="line", how="semi")
        more = text.select("line", pl.lit("no readable timestamp").alias("reason"), "text")
        rejects = pl.concat([result.rejects, more]).sort("line")
    else:
        rejects = result.rejects
    component = component_from_path(relative or path.name)
    events = conform(
        events.with_columns(
            pl.lit(display).alias("source"),
            pl.lit(fmt).alias("format"),
            pl.col("component").fill_null(pl.lit(component)),
        )
    )
    rejects = rejects.select(
        pl.lit(display).alias("source"), pl.col("line"), pl.lit(fmt).alias("format"), pl.col("reason"), pl.col("text")
    ).cast(REJECT_SCHEMA)
    report = FileReport(
        path=display,
        format=fmt,
        compression=raw.compression,
        lines=lines.height,
        events=events.height,
        continuation_lines=result.continuation_lines,
        blank_lines=result.blank_lines,
        malformed=rejects.height,
        invalid_utf8_lines=raw.invalid_utf8_lines,
        damage=damage,
    )
    if not report.balanced():
        raise AssertionError(f"line accounting does not balance for {display}: {report}")
    return events, rejects, report


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
    """
    options = options or IngestOptions()
    if options.format and options.format not in formats.FORMATS:
        raise UsageError(f"unknown format {options.format!r}; known: {', '.join(formats.names())}")
    files, errors = discover(paths, strict=options.strict)
    ev_parts: list[pl.DataFrame] = []
    rej_parts: list[pl.DataFrame] = []
    reports: list[FileReport] = []
    for i, (path, display, relative) in enumerate(files):
        try:
            ev, rej, rep = ingest_file(path, display, options=options, relative=relative)
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
        if options.strict and rep.damage:
            raise DataError(f"{display}: {rep.damage}")
        ev_parts.append(ev.with_columns(pl.lit(len(ev_parts), dtype=pl.Int32).alias("_fi")))
        rej_parts.append(rej)
        reports.append(rep)
        if progress:
            progress("ingest", i + 1, len(files))
    if not reports and errors:
        raise InputError(errors[0] if len(errors) == 1 else f"{errors[0]} (and {len(errors) - 1} more errors)")
    events = pl.concat(ev_parts, how="vertical") if ev_parts else empty_events().with_columns(pl.lit(0, dtype=pl.Int32).alias("_fi"))
    rejects = pl.concat(rej_parts, how="vertical") if rej_parts else empty_rejects()
    duplicates = 0
    if options.dedupe and events.height:
        # Overlapping rotated files (copytruncate) repeat lines verbatim in
        # another file: keep the first copy of an identical event.
        content = [c for c in EVENT_SCHEMA if c not in ("source", "line")]
        before = events.height
        events = _drop_cross_file_duplicates(events, content)
        duplicates = before - events.height
    events = events.drop("_fi").sort("ts", maintain_order=True)
    return IngestResult(events, rejects, Accounting(tuple(reports), tuple(errors), duplicates))


def _drop_cross_file_duplicates(events: pl.DataFrame, content: list[str]) -> pl.DataFrame:
    """Drop an event identical in every content column to one from an earlier
    file; repeats within one file are kept (they can be real)."""
    return events.filter(pl.col("_fi") == pl.col("_fi").min().over(content))
