"""The last ingest stage: every file's events into one table in time order,
without the copies that overlapping rotated files repeat."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from .projection import ATTRS_HASH, dedupe_columns

__all__ = ["Combined", "combine"]

#: Columns the stages before carry and the result never holds: the file
#: index (order of the files given) and the hash of a thinned ``attrs``.
FILE_INDEX = "_fi"


@dataclass(frozen=True)
class Combined:
    """Events sorted by ``ts`` (then file, then line), rejects in file and
    line order, and how many cross-file duplicates were dropped."""

    events: pl.DataFrame
    rejects: pl.DataFrame
    duplicates: int


def combine(ev_parts: list[pl.DataFrame], rejects: pl.DataFrame, *, dedupe: bool) -> Combined:
    """Concatenate the event parts (each with :data:`FILE_INDEX`), drop an
    event that repeats one from an earlier file when ``dedupe``, and sort.

    ``ev_parts`` is emptied (so the parts are freed as soon as they are
    concatenated); it must not be empty.
    """
    # parts in order of their first event: rotated files and chunks then
    # usually concatenate into time order already, and the sort is skipped
    ev_parts.sort(key=_part_order)
    events = pl.concat(ev_parts, how="vertical", rechunk=False)
    ev_parts.clear()
    duplicates = 0
    lazy = events.lazy()
    if dedupe and events.height:
        # Overlapping rotated files (copytruncate) repeat lines verbatim in
        # another file: keep the first copy of an identical event.
        drop = cross_file_duplicates(events, dedupe_columns(events.columns))
        if drop is not None and drop.len():
            duplicates = drop.len()
            lazy = lazy.with_row_index("_r").filter(~pl.col("_r").is_in(drop.implode())).drop("_r")
    # one materialization for the filter and the sort (memory: twice the events, not three times)
    ordered = in_order(events)  # (dropping duplicates keeps the order)
    del events
    if not ordered:
        # stable: the events of one line (an OTLP request) keep the parser's order
        lazy = lazy.sort(["ts", FILE_INDEX, "line"], maintain_order=True)
    rejects = rejects.sort([FILE_INDEX, "line"]).drop(FILE_INDEX)
    # the plan holds the concatenated parts: popped, it is gone once collected,
    # so that one_chunk can free each column's old chunks
    plan = [lazy.drop(FILE_INDEX, ATTRS_HASH, strict=False)]
    del lazy
    return Combined(one_chunk(plan.pop().collect()), rejects, duplicates)


def one_chunk(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with every column in one chunk, rechunked a column at a time.

    Parts concatenated in order keep their own chunks (and a constant column
    has one): the first eager operation on the frame would copy all of it at
    once to align them.  One column at a time, the old chunks of a column are
    freed before the next is copied, so the peak is the frame plus one column
    (string columns copy only their 16-byte views; the text is shared).
    """
    for name in frame.columns:
        col = frame.get_column(name)
        if col.dtype == pl.String and frame.height and _constant(col):
            # one value (or none) on every row: a constant column holds it
            # once instead of a 16-byte view per row (``format``, an unused ``key``)
            frame = frame.with_columns(pl.lit(col[0], dtype=pl.String).alias(name))
        elif col.n_chunks() > 1:
            frame = frame.with_columns(col.rechunk())
    return frame


def _constant(col: pl.Series) -> bool:
    nulls = col.null_count()
    if nulls:
        return nulls == col.len()
    # a column with two values nearly always shows them in a few rows spread
    # over it: only a column equal there is scanned whole (min and max)
    probe = col.gather_every(max(1, col.len() // 64))
    if (probe != probe[0]).any():
        return False
    return col.min() == col.max()


def _part_order(frame: pl.DataFrame) -> tuple:
    if frame.height == 0:
        return (0, None, 0, 0)
    first = frame.select(pl.col("ts").min(), pl.col(FILE_INDEX).min(), pl.col("line").min()).row(0)
    return (1, *first) if first[0] is not None else (2, None, first[1], first[2])


def in_order(events: pl.DataFrame) -> bool:
    """Whether ``events`` is sorted by ``ts``, :data:`FILE_INDEX`, ``line``
    already (a sort would copy every column)."""
    if events.height < 2 or events.get_column("ts").null_count():
        return events.height < 2
    ts, fi, ln = pl.col("ts"), pl.col(FILE_INDEX), pl.col("line")
    nts, nfi, nln = ts.shift(-1), fi.shift(-1), ln.shift(-1)
    ok = (ts < nts) | ((ts == nts) & ((fi < nfi) | ((fi == nfi) & (ln < nln))))
    return bool(events.select(ok.head(events.height - 1).all()).item())


def cross_file_duplicates(events: pl.DataFrame, content: list[str]) -> pl.Series | None:
    """Row numbers of the events identical in every ``content`` column to one
    from an earlier file (repeats within one file are kept: they can be real).

    Only events whose time occurs in more than one file can have such a twin,
    so the grouping over every content column runs on those alone (rotated
    files overlap by a few lines, not by their whole length).  A time in two
    files lies where their time ranges overlap: the grouping by time runs on
    the events in those stretches (and those without a time) only, not on
    every event (at 49M events it held 3.5 GB)."""
    if events.height == 0 or events[FILE_INDEX].n_unique() < 2:
        return None
    shared = (
        events.lazy().select(*content, FILE_INDEX).with_row_index("_r")
        .filter(_in_overlaps(events))
        .filter(pl.col(FILE_INDEX).min().over("ts") != pl.col(FILE_INDEX).max().over("ts"))
        .collect()
    )
    if shared.height == 0:
        return None
    return shared.filter(pl.col(FILE_INDEX) != pl.col(FILE_INDEX).min().over(content)).get_column("_r")


def _in_overlaps(events: pl.DataFrame) -> pl.Expr:
    """Per event, whether its time lies where two files' time ranges overlap
    (or it has none): a sweep over the ranges' ends gives the stretches
    covered by two or more files, and each time is looked up among them."""
    ranges = events.group_by(FILE_INDEX).agg(pl.col("ts").min().alias("lo"), pl.col("ts").max().alias("hi"))
    ranges = ranges.filter(pl.col("lo").is_not_null())
    if ranges.height < 2:
        return pl.col("ts").is_null()
    # +1 at a start, -1 after an end; at one instant starts count before ends (ranges are closed)
    ends = pl.concat([ranges.select(pl.col("lo").alias("t"), pl.lit(1).alias("d"), pl.lit(0).alias("o")),
                      ranges.select(pl.col("hi").alias("t"), pl.lit(-1).alias("d"), pl.lit(1).alias("o"))])
    ends = ends.sort("t", "o").with_columns(pl.col("d").cum_sum().alias("cover"))
    # a stretch covered twice starts where the cover reaches 2 and ends at the next end
    starts = ends.filter((pl.col("cover") >= 2) & (pl.col("cover").shift(1, fill_value=0) < 2))
    stops = ends.filter((pl.col("cover") < 2) & (pl.col("cover").shift(1, fill_value=0) >= 2))
    lo, hi = starts.get_column("t"), stops.get_column("t")
    if lo.len() <= _FEW_STRETCHES:  # a bit mask per stretch (rotated files overlap once each)
        inside = pl.lit(False)
        for a, b in zip(lo, hi):
            inside = inside | pl.col("ts").is_between(a, b)
        return inside.fill_null(False) | pl.col("ts").is_null()
    ts = events.get_column("ts")
    at = lo.search_sorted(ts, side="right").cast(pl.Int64) - 1  # the stretch starting at or before
    inside = (at >= 0) & (ts <= hi.gather(at.clip(0, None)))
    return pl.lit(inside.fill_null(False)) | pl.col("ts").is_null()


#: Up to this many stretches, one ``is_between`` each; more, one binary search per event
_FEW_STRETCHES = 64
