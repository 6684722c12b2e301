"""Reducing events while they are ingested, without losing the dedupe.

:func:`forensics.ingest.ingest` can reduce each file's (or chunk's) events to
the columns a caller reads (its ``project`` argument), so that only those stay
in memory.  One thing must survive any reduction: the cross-file dedupe
(overlapping rotated files) compares events on every content column,
``attrs`` included.  A projection that thins out ``attrs`` therefore keeps a
hash of the full ``attrs`` in the column :data:`ATTRS_HASH`, which the dedupe
compares instead, and which ingest drops from its result.

:func:`thin_attrs` builds such a projection; it is the supported way to thin
``attrs`` (``forensics.timeline.analysis_columns`` uses it).

Examples
--------
>>> import polars as pl
>>> from forensics.schema import empty_events
>>> empty_events().select(thin_attrs(pl.lit(False))).columns[-2:]
['attrs', '_attrs_hash']
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from ..schema import EVENT_SCHEMA

__all__ = ["ATTRS_HASH", "thin_attrs", "with_order_columns", "dedupe_columns"]

#: The column a projection keeps the hash of the full ``attrs`` in (see the
#: module docstring); never part of an ingest result.
ATTRS_HASH = "_attrs_hash"

#: Columns every projection keeps: the time and line order of the result.
ORDER_COLUMNS = ("ts", "line")


def thin_attrs(keep: pl.Expr) -> list[pl.Expr]:
    """A projection over the canonical columns: every column, but ``attrs``
    only on the events where ``keep`` is true (null elsewhere), plus
    :data:`ATTRS_HASH` so that the cross-file dedupe still compares the full
    ``attrs``.

    Parameters
    ----------
    keep
        A Boolean expression over the canonical columns (nulls count as
        false).
    """
    # concat_str copies the kept values: a plain when/then would give views
    # into the original strings and keep all of them in memory
    return [*(pl.col(c) for c in EVENT_SCHEMA if c != "attrs"),
            pl.when(keep.fill_null(False)).then(pl.concat_str([pl.col("attrs"), pl.lit("")]))
            .otherwise(None).alias("attrs"),
            pl.col("attrs").hash().alias(ATTRS_HASH)]


def with_order_columns(project: Sequence[pl.Expr] | None) -> list[pl.Expr] | None:
    """``project`` plus ``ts`` and ``line`` when it lacks them (the result is
    sorted by them); ``None`` (keep the canonical schema) stays ``None``."""
    if project is None:
        return None
    proj = list(project)
    names = {e.meta.output_name() for e in proj}
    return [*proj, *(pl.col(c) for c in ORDER_COLUMNS if c not in names)]


def dedupe_columns(columns: Sequence[str]) -> list[str]:
    """The columns of a (projected) event frame with ``columns`` that the
    cross-file dedupe compares: the canonical content columns present (not
    ``source`` and ``line``, which differ between copies), with
    :data:`ATTRS_HASH` standing in for ``attrs`` when it is there."""
    swap = {"attrs": ATTRS_HASH} if ATTRS_HASH in columns else {}
    return [swap.get(c, c) for c in EVENT_SCHEMA if c not in ("source", "line") and swap.get(c, c) in columns]
