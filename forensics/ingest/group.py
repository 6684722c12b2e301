"""Parsing files of one format together and splitting the result back per
file: the time checks, the canonical columns and the line accounting.

Used by :func:`forensics.ingest.ingest` for whole files, batches of small
files and the chunks of a large file (:mod:`forensics.ingest.stream`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import polars as pl

from ..schema import REJECT_SCHEMA, conform
from . import formats
from .accounting import FileReport
from .container_paths import container_component
from .normalize import component_from_path
from .options import IngestOptions

#: Events before this time are rejected ("clock not set", epoch 0, two-digit years).
MIN_TS = datetime(1990, 1, 1, tzinfo=timezone.utc)
#: Events later than the time of the run plus this are rejected (wrong clock).
FUTURE_SLACK = timedelta(days=1)


@dataclass(frozen=True)
class Loaded:
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



def _parse(fmt: str, lines: pl.DataFrame, data: bytes, invalid: int, *, options: IngestOptions, fast_ok: bool = True):
    module = formats.get(fmt)
    fast = getattr(module, "parse_bytes", None) if fast_ok else None
    # The whole-buffer fast path infers a schema from the first lines, which
    # in a batch belong to another file: batches always take ``parse``.
    result = fast(data, lines, options=options) if fast is not None and not invalid else None
    return result if result is not None else module.parse(lines, options=options)


def parse_group(
    group: list[Loaded], fmt: str, *, options: IngestOptions, now: datetime
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
        ev, rej, more = parse_group([group[g]], fmt, options=options, now=now)
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
            "_component": [container_component(it.display) or component_from_path(it.relative) for it in group],
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
    # a line may hold several events (an OTLP request): lines are counted once
    ev_lines = dict(events.group_by("_g").agg(pl.col("line").n_unique()).iter_rows()) if events.height else {}
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
        n_lines = ev_lines.get(g, 0)
        continuation = it.height - n_lines - n_rej - blank
        cont_total += continuation
        report = FileReport(
            path=it.display, format=fmt, compression=it.compression, lines=it.height, events=n_ev,
            extra_events=n_ev - n_lines,
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


