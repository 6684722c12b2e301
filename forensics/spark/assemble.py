"""The driver side of the Spark engine's ingest: the chunks' results -> one
:class:`forensics.ingest.IngestResult`, the same as ``ingest`` gives.

Lines handed back around cut events are parsed again as runs
(:func:`parse_regions`), every file's accounting is added up from its
chunks (:func:`file_reports`), and the events are combined, deduplicated
across files and sorted by :func:`forensics.ingest.combine.combine`, the
local engine's last ingest stage.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import polars as pl

from ..errors import DataError, InputError
from ..ingest import IngestResult, limit_note
from ..ingest.accounting import Accounting, FileReport
from ..ingest.combine import combine, one_chunk
from ..ingest.options import IngestOptions
from ..schema import REJECT_SCHEMA
from .chunks import Chunk, FileFacts, parse_chunk
from .rows import Piece, order_pieces


def parse_regions(boundary: pl.DataFrame, facts: dict[int, FileFacts], files: Sequence[tuple[str, str]], *,
                  options: IngestOptions, now: datetime, full_events: bool
                  ) -> tuple[list[pl.DataFrame], list[pl.DataFrame], dict[int, int]]:
    """Parse each run of consecutive handed-back lines of a file as one piece
    (it starts at a held-back event, or at the file's start).  Returns the
    events, the rejects and the blank lines per file."""
    events, rejects, blank = [], [], {}
    if boundary.height == 0:
        return events, rejects, blank
    runs = (boundary.sort("_fi", "line")
            .with_columns(((pl.col("line").diff() != 1) | (pl.col("_fi").diff() != 0)).fill_null(True)
                          .cum_sum().alias("_run"))
            .group_by("_run", maintain_order=True)
            .agg(pl.col("_fi").first(), pl.col("line").first(), pl.col("text")))
    for _, fi, start, texts in runs.iter_rows():  # one run per cut chunk boundary
        f = facts[fi]
        display, relative = files[fi]
        data = ("\n".join(texts) + "\n").encode()
        part = parse_chunk(Chunk(fi, 0, True, f.fmt, start, data, f.compression), display=display,
                           relative=relative, options=options, now=now, full_events=full_events)
        events.append(part.events)
        rejects.append(part.rejects)
        blank[fi] = blank.get(fi, 0) + part.blank
    return events, rejects, blank


def file_reports(files: Sequence[tuple[str, str]], facts: dict[int, FileFacts], stats: pl.DataFrame,
                 events: pl.DataFrame, rejects: pl.DataFrame, region_blank: dict[int, int], *,
                 options: IngestOptions) -> list[FileReport]:
    """Every file's :class:`FileReport`, added up from its chunks (the same
    fields and the same balance as the local engine's)."""
    per_chunk = stats.group_by("_fi").agg(pl.col("lines", "blank", "invalid", "nul").sum())
    totals = {r["_fi"]: r for r in per_chunk.iter_rows(named=True)}
    n_ev = dict(events.group_by("_fi").len().iter_rows()) if events.height else {}
    n_lines = dict(events.group_by("_fi").agg(pl.col("line").n_unique()).iter_rows()) if events.height else {}
    n_rej = dict(rejects.group_by("_fi").len().iter_rows()) if rejects.height else {}
    out = []
    for fi, (display, _) in enumerate(files):
        f = facts[fi]
        if f.report is not None:
            out.append(f.skipped_report())
            continue
        t = totals.get(fi, {"lines": 0, "blank": 0, "invalid": 0, "nul": 0})
        damage = f.damage
        if f.streamed:
            if t["nul"]:
                note = f"{t['nul']} NUL bytes (a zero-filled region); each run read as U+FFFD"
                damage = f"{damage}; {note}" if damage else note
            damage = limit_note(damage, f.hit, options.max_bytes)
        if f.chunks == 0:
            out.append(FileReport(display, None, f.compression, skipped="empty file", damage=damage))
            continue
        blank = t["blank"] + region_blank.get(fi, 0)
        ev, ev_lines, rej = n_ev.get(fi, 0), n_lines.get(fi, 0), n_rej.get(fi, 0)
        report = FileReport(path=display, format=f.fmt, compression=f.compression, lines=t["lines"], events=ev,
                            extra_events=ev - ev_lines, continuation_lines=t["lines"] - ev_lines - rej - blank,
                            blank_lines=blank, malformed=rej, invalid_utf8_lines=t["invalid"], damage=damage)
        if report.continuation_lines < 0 or not report.balanced():
            raise AssertionError(f"line accounting does not balance for {display}: {report}")
        out.append(report)
    return out


def assemble(files: Sequence[tuple[str, str]], events: list[Piece], rejects: pl.DataFrame,
             boundary: pl.DataFrame, stats: pl.DataFrame, facts: Sequence[FileFacts], *, options: IngestOptions,
             now: datetime, full_events: bool, skipped: Sequence[FileReport] = (),
             errors: Sequence[str] = ()) -> IngestResult:
    """The :class:`IngestResult` of every file's chunks (``files``:
    ``(display, relative)`` by file index).

    ``events`` (keyed pieces with ``_fi``, see :func:`forensics.spark.rows.frames`)
    is emptied, so that each piece is freed once combined.  The pieces are
    put in file and line order (no sort of rows): then
    :func:`forensics.ingest.combine.combine` finds a file read in time order
    already sorted, and its stable sort by time, file and line keeps the
    events of one line (the only rows equal in all three) in the parser's order.
    """
    by_fi = {f.fi: f for f in facts}
    if len(by_fi) != len(files):
        missing = [files[i][0] for i in range(len(files)) if i not in by_fi]
        raise InputError(f"{missing[0]}: not read by Spark (and {len(missing) - 1} more)" if len(missing) > 1
                         else f"{missing[0]}: not read by Spark")
    more_ev, more_rej, region_blank = parse_regions(boundary, by_fi, files, options=options, now=now,
                                                    full_events=full_events)
    events.extend(((frame.item(0, "_fi"), frame.item(0, "line")), frame) for frame in more_ev if frame.height)
    # one chunk a column, a column at a time (the sort and the groupings below would copy them all at once)
    all_events = one_chunk(pl.concat(order_pieces(events), how="vertical_relaxed", rechunk=False))
    rejects = pl.concat([rejects, *more_rej], how="vertical_relaxed") if more_rej else rejects
    reports = file_reports(files, by_fi, stats, all_events, rejects, region_blank, options=options)
    if options.strict:
        for r in reports:
            if r.damage:
                raise DataError(f"{r.path}: {r.damage}")
    if not reports and errors:
        raise InputError(errors[0] if len(errors) == 1 else f"{errors[0]} (and {len(errors) - 1} more errors)")
    rejects = rejects.select(*(pl.col(c).cast(t) for c, t in REJECT_SCHEMA.items()), pl.col("_fi").cast(pl.Int32))
    parts = [all_events]
    del all_events
    done = combine(parts, rejects, dedupe=options.dedupe)
    accounting = Accounting(tuple(skipped) + tuple(reports), tuple(errors), done.duplicates)
    return IngestResult(done.events, done.rejects, accounting)
