"""Cross-file duplicates (overlapping rotated files): the search limited to
where the files' time ranges overlap finds exactly what the search over
every event finds."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
import importlib

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forensics.ingest.combine import FILE_INDEX, cross_file_duplicates

combine = importlib.import_module("forensics.ingest.combine")  # the package exports a function of that name

T0 = datetime(2026, 12, 8, tzinfo=timezone.utc)


def _reference(events: pl.DataFrame, content: list[str]) -> list[int]:
    """The search over every event (the code before the overlap filter)."""
    if events.height == 0 or events[FILE_INDEX].n_unique() < 2:
        return []
    shared = (
        events.lazy().select(*content, FILE_INDEX).with_row_index("_r")
        .filter(pl.col(FILE_INDEX).min().over("ts") != pl.col(FILE_INDEX).max().over("ts"))
        .collect()
    )
    return sorted(shared.filter(pl.col(FILE_INDEX) != pl.col(FILE_INDEX).min().over(content))["_r"].to_list())


_event = st.tuples(st.integers(0, 4), st.one_of(st.none(), st.integers(0, 40)), st.sampled_from("abc"))


@settings(max_examples=300, deadline=None)
@given(st.lists(_event, max_size=60), st.booleans())
def test_overlap_filter_finds_the_same_duplicates_as_the_search_over_every_event(rows, many):
    # ``many``: the binary search path (stretches above the limit) instead of the bit masks
    ev = pl.DataFrame({
        FILE_INDEX: [f for f, _, _ in rows],
        "ts": [None if t is None else T0 + timedelta(seconds=t) for _, t, _ in rows],
        "message": [m for _, _, m in rows],
    }, schema={FILE_INDEX: pl.UInt32, "ts": pl.Datetime("us", "UTC"), "message": pl.String})
    old = combine._FEW_STRETCHES
    combine._FEW_STRETCHES = 0 if many else old
    try:
        got = cross_file_duplicates(ev, ["ts", "message"])
    finally:
        combine._FEW_STRETCHES = old
    assert sorted(got.to_list() if got is not None else []) == _reference(ev, ["ts", "message"])


@pytest.mark.parametrize("many", [False, True])
def test_files_that_touch_at_one_instant_share_it(many, monkeypatch):
    monkeypatch.setattr(combine, "_FEW_STRETCHES", 0 if many else 64)
    ts = [T0, T0 + timedelta(seconds=5), T0 + timedelta(seconds=5), T0 + timedelta(seconds=9)]
    ev = pl.DataFrame({FILE_INDEX: [0, 0, 1, 1], "ts": ts, "message": ["x", "y", "y", "z"]},
                      schema={FILE_INDEX: pl.UInt32, "ts": pl.Datetime("us", "UTC"), "message": pl.String})
    assert cross_file_duplicates(ev, ["ts", "message"]).to_list() == [2]  # the later file's copy
