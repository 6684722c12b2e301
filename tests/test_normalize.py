"""Shared normalization helpers: key=value extraction, timestamps, routes, levels."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from forensics.ingest.normalize import (
    _kv_by_pivot,
    component_from_path,
    extract_kv,
    normalize_level,
    parse_timestamp,
    parse_timestamp_series,
    route_action,
)

_keys = st.sampled_from(["rt", "rid", "uid", "id", "a.b", "x-y", "line", "zz1", "zz2"])
_vals = st.sampled_from(["1", '"q w"', '"a=b c"', 'x\\"y', "(z)", '"x\\"y"', "", "é"])
_pair = st.tuples(st.sampled_from(["", " ", "(", "x"]), _keys, _vals).map(lambda t: f"{t[0]}{t[1]}={t[2]}")
_line = st.lists(_pair, max_size=4).map(" ".join)


@settings(max_examples=200, deadline=None)
@given(st.lists(_line, min_size=1, max_size=60), st.integers(0, 10))
def test_kv_fast_path_equals_the_general_path(rows, sample):
    df = pl.DataFrame({"line": list(range(1, len(rows) + 1)), "m": rows})
    fast, slow = extract_kv(df, "m", sample=sample), _kv_by_pivot(df, "m")
    cols = sorted(slow.columns)
    fast = fast.select([pl.col(c) if c in fast.columns else pl.lit(None, dtype=pl.String).alias(c) for c in cols])
    assert fast.sort("line").equals(slow.select(cols).sort("line"))


def test_kv_first_value_of_a_repeated_key_wins():
    df = pl.DataFrame({"line": [1], "m": ["b=2 c=3 b=9"]})
    assert extract_kv(df, "m").row(0, named=True) == {"line": 1, "b": "2", "c": "3"}


def _ts(values, **kw):
    return pl.DataFrame({"t": values}).select(parse_timestamp(pl.col("t"), **kw).dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ"))["t"].to_list()


def test_timestamp_spellings_all_land_in_utc():
    assert _ts([
        "2023-11-02T16:14:58.123Z",
        "2023-11-02 18:14:58.123+02:00",
        "2023-11-02T18:14:58.123+0200",
        "2023-11-02 16:14:58,123",
        "2023-11-02 16:14:58.123 UTC",
        "[02/Nov/2023:18:14:58 +0200]",
        "02 Nov 2023 16:14:58.123",
        "1698941698",
        "1698941698123",
        "1698941698123000",
        "1698941698123000000",
    ]) == ["2023-11-02T16:14:58.123Z"] * 3 + ["2023-11-02T16:14:58.123Z"] * 2 + ["2023-11-02T16:14:58.000Z"] + [
        "2023-11-02T16:14:58.123Z"] + ["2023-11-02T16:14:58.000Z"] + ["2023-11-02T16:14:58.123Z"] * 3


def test_naive_times_use_the_given_zone_and_dst_gaps_are_unreadable():
    assert _ts(["2023-03-26 02:30:00", "2023-10-29 02:30:00", "2023-07-01 12:00:00"], tz="Europe/Berlin") == [
        None, "2023-10-29T00:30:00.000Z", "2023-07-01T10:00:00.000Z"]


def test_fast_series_parser_agrees_with_the_expression_on_mixed_columns():
    vals = ["2023-11-02T16:14:58Z", "junk", None, "1698941698", "02/Nov/2023:18:14:58 +0200", "2023-11-02 16:14:58,5"]
    fast = parse_timestamp_series(pl.Series("t", vals))
    slow = pl.DataFrame({"t": vals}).select(parse_timestamp(pl.col("t")))["t"]
    assert fast.to_list() == slow.to_list()


def test_routes_mask_ids_and_drop_queries():
    df = pl.DataFrame({"m": ["GET", "POST"], "p": ["/courses/123/lectures/7?x=1",
                                                 "/u/550e8400-e29b-41d4-a716-446655440000/f/ab12cd34ef"]})
    assert df.select(route_action(pl.col("m"), pl.col("p")))["m"].to_list() == [
        "GET /courses/{id}/lectures/{id}", "POST /u/{id}/f/{id}"]


def test_level_spellings_map_to_five_levels():
    df = pl.DataFrame({"l": ["WARNING", "Err", "crit", "TRACE", "notice", "bogus", None]})
    assert df.select(normalize_level(pl.col("l")))["l"].to_list() == ["warn", "error", "fatal", "debug", "info", None, None]


def test_component_from_path_strips_rotation_and_dates():
    assert component_from_path("db/postgresql.log") == "db"
    assert component_from_path("postgresql-2023-11-02_000000.log.2.gz") == "postgresql"
    assert component_from_path("app.jsonl.1.gz") == "app"
