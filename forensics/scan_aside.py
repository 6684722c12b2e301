"""The event columns a scan sets aside while it mines (:mod:`forensics.spill`).

After the timeline, a scan holds two event frames: the ingest's canonical
events and the timeline's, which share every column the timeline left
unchanged.  The miner reads a few columns of the timeline's
(:data:`forensics.mining.EVENT_COLUMNS`) and none of the ingest's, so on a
large input the others wait on disk while it runs and are read back for the
reports, each frame as it was:

* a column of the timeline's events that mining does not read is written
  once; read back, it goes into both frames again (they share it);
* a column that only fills the nulls of a column mining reads is written as
  its null mask and rebuilt from that column: the timeline's ``session``
  (``session_key`` puts derived keys into it), and the ingest's own versions
  of the columns the timeline rewrites in place
  (:data:`forensics.timeline.CHANGED_COLUMNS`: users and sessions filled by
  request linking, actions by message templates);
* a column that takes less than a byte a row (a constant held once, flags)
  or is mostly null stays in memory, and so do the ingest's columns the
  timeline's share.

That sharing holds because the timeline keeps the ingest's row order; when
it did not (it sorts events that were not in order), nothing is set aside.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

import polars as pl

from .ingest import IngestResult
from .mining import EVENT_COLUMNS
from .spill import Aside, set_aside
from .timeline import CHANGED_COLUMNS
from .timeline.model import Timeline

#: Events from which a scan sets columns aside while mining (below, the
#: columns' few hundred MB do not pay for writing and reading them back).
MIN_EVENTS = 1_000_000

_ORDER = ("ts", "source", "line")
#: column -> the timeline column whose nulls it may only fill
_BASE = {"session": "session_key", "user": "user", "action": "action"}
_MASK = "\x1emask"


@dataclass(frozen=True)
class Plan:
    """How each frame's columns are rebuilt (:func:`put_back`)."""

    spilled: Aside
    ingest_columns: tuple[str, ...]
    timeline_columns: tuple[str, ...]
    #: (frame, column) rebuilt from a timeline column through a null mask
    masked: tuple[tuple[str, str], ...]
    #: the ingest's columns set aside as the timeline's (one copy for both)
    shared: tuple[str, ...]

    def discard(self) -> None:
        """Delete the file without reading it back (mining failed)."""
        self.spilled.discard()


def set_aside_for_mining(ing: IngestResult, tl: Timeline, *, folder: str | os.PathLike,
                         min_events: int | None = None) -> tuple[IngestResult, Timeline, Plan | None]:
    """``ing`` and ``tl`` without the columns mining does not read, and the
    plan that reads them back (``None``, and the frames unchanged, below
    ``min_events`` events (default :data:`MIN_EVENTS`), when the timeline
    reordered the events, or when the folder cannot be written)."""
    ev, tev = ing.events, tl.events
    limit = MIN_EVENTS if min_events is None else min_events
    if tev.height < max(limit, 1) or ev.height != tev.height or not _same_order(ev, tev):
        return ing, tl, None
    cold = [c for c in tev.columns if c not in EVENT_COLUMNS and not _free(tev, c)]
    # the ingest's own columns: those the timeline rewrote (an equal one is shared)
    own = [c for c in ev.columns if (c in CHANGED_COLUMNS or c not in tev.columns) and not _same(ev, c, tev)]
    shared = [c for c in cold if c in ev.columns and c not in own]
    own_aside = [c for c in own if not _free(ev, c)]
    masked = ([("timeline", c) for c in cold if _fills(tev, c, tev)]
              + [("ingest", c) for c in own_aside if _fills(ev, c, tev)])
    write = {}
    for name, frame, cols in (("timeline", tev, cold), ("ingest", ev, own_aside)):
        write[name] = frame.select(
            [pl.col(c).is_not_null().alias(c + _MASK) if (name, c) in masked else pl.col(c) for c in cols])
    _, aside = set_aside(write, {k: v.columns for k, v in write.items()}, folder=folder)
    del write
    if aside is None:
        return ing, tl, None
    plan = Plan(aside, tuple(ev.columns), tuple(tev.columns), tuple(masked), tuple(shared))
    # nothing reads the ingest frame while mining; what it keeps is shared with the timeline's or small
    return replace(ing, events=ev.drop(shared + own_aside)), replace(tl, events=tev.drop(cold)), plan


def put_back(ing: IngestResult, tl: Timeline, plan: Plan) -> tuple[IngestResult, Timeline]:
    """``ing`` and ``tl`` with the columns of ``plan`` read back, each frame
    with its columns in their former order.  Columns are moved between
    frames by ``select``, never ``get_column``: that would materialize a
    constant column held once."""
    back = plan.spilled.read()
    masked = set(plan.masked)

    def rebuilt(name: str, base: pl.DataFrame) -> list[pl.Series]:
        frame = back.get(name, pl.DataFrame())
        out = []
        for col in frame.columns:
            c = col.removesuffix(_MASK)
            if (name, c) in masked:
                out.append(base.select(pl.when(frame.get_column(col)).then(pl.col(_BASE[c])).alias(c)).to_series())
            else:
                out.append(frame.get_column(col))
        return out

    tev = tl.events.with_columns(rebuilt("timeline", tl.events)).select(plan.timeline_columns)
    ev = (ing.events.with_columns(rebuilt("ingest", tev)).hstack(tev.select(plan.shared))
          .select(plan.ingest_columns))
    return replace(ing, events=ev), replace(tl, events=tev)


def _same_order(a: pl.DataFrame, b: pl.DataFrame) -> bool:
    """Whether the two frames hold the events in the same order: equal on
    the sort key (``ts, source, line``; the timeline's only reordering is a
    stable sort by it)."""
    if any(c not in a.columns or c not in b.columns for c in _ORDER):
        return False
    return a.select(_ORDER).equals(b.select(_ORDER))


def _free(frame: pl.DataFrame, c: str) -> bool:
    """Whether setting column ``c`` aside gains nothing: it takes less than
    a byte a row (a constant column held once, an all-null one, flags), or
    it is mostly null (an error kind, a burst id: the pages of its null
    values are mostly zero pages never touched; read back, they would be
    written)."""
    return (frame.select(c).estimated_size() * 4 < frame.height
            or frame.select(pl.col(c).null_count()).item() * 2 > frame.height)


def _same(ev: pl.DataFrame, c: str, tev: pl.DataFrame) -> bool:
    """Whether the ingest's column ``c`` equals the timeline's."""
    return c in tev.columns and ev.schema[c] == tev.schema[c] and ev.select(c).equals(tev.select(c))


def _fills(frame: pl.DataFrame, c: str, tev: pl.DataFrame) -> bool:
    """Whether ``frame[c]`` is the timeline's :data:`_BASE` column wherever
    it is not null (so its null mask and that column rebuild it)."""
    b = _BASE.get(c)
    # the base must stay in memory while mining (a column mining reads)
    if b is None or b not in EVENT_COLUMNS or b not in tev.columns or frame.schema[c] != tev.schema[b]:
        return False
    both = pl.concat([frame.select(pl.col(c).alias("_v")), tev.select(pl.col(b).alias("_b"))], how="horizontal")
    return bool(both.select((pl.col("_v").is_null() | (pl.col("_v") == pl.col("_b"))).all()).item())
