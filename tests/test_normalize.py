"""Shared normalization helpers: key=value extraction, timestamps, routes, levels."""

from __future__ import annotations

import json

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from forensics.ingest.formats import logfmt
from forensics.ingest.kv import kv_by_pivot
from forensics.ingest.normalize import (
    attrs_json,
    canonicalize,
    component_from_path,
    duration_text_ms,
    extract_kv,
    level_by_scheme,
    normalize_level,
    parse_timestamp,
    parse_timestamp_series,
    select_rows,
    status_level,
    worse_level,
)
from forensics.ingest.options import IngestOptions
from forensics.ingest.routes import mask_route, route_action

_keys = st.sampled_from(["rt", "rid", "uid", "id", "a.b", "x-y", "line", "zz1", "zz2"])
# Values that hold another key's "key=" (quoted or not) must not be read as that key.
_vals = st.sampled_from(["1", '"q w"', '"a=b c"', 'x\\"y', "(z)", '"x\\"y"', "", "é", "rt=2", '"id=3 x"', '"\\\\"'])
_pair = st.tuples(st.sampled_from(["", " ", "(", "x"]), _keys, _vals).map(lambda t: f"{t[0]}{t[1]}={t[2]}")
_line = st.tuples(st.lists(_pair, max_size=4), st.sampled_from([" ", "  ", "\t"]), st.sampled_from(["", " "])).map(
    lambda t: t[1].join(t[0]) + t[2]
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_line, min_size=1, max_size=60), st.integers(0, 10))
def test_kv_fast_path_equals_the_general_path(rows, sample):
    df = pl.DataFrame({"line": list(range(1, len(rows) + 1)), "m": rows})
    fast, slow = extract_kv(df, "m", sample=sample), kv_by_pivot(df, "m")
    cols = sorted(slow.columns)
    fast = fast.select([pl.col(c) if c in fast.columns else pl.lit(None, dtype=pl.String).alias(c) for c in cols])
    assert fast.sort("line").equals(slow.select(cols).sort("line"))


_quoted = st.sampled_from(["a b", 'say \\"x\\"', "c:\\\\d", "p=1 rid=2", "", "é\\n"])


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(["rt", "rid", "uid"]), min_size=1, max_size=3, unique=True),
       st.lists(st.tuples(_vals, _quoted), min_size=40, max_size=40), st.integers(0, 5))
def test_kv_common_line_shape_reads_like_the_general_path(keys, values, odd):
    # Mostly one key sequence (the one-regex shape path; "msg" always quoted), a few other lines.
    rows = [" ".join(f"{k}={values[(i + j) % 40][0]}" for j, k in enumerate(keys)) + f' msg="{values[i][1]}"'
            for i in range(40)]
    rows[odd] = "rid=1 zz1=2 rt=3"
    df = pl.DataFrame({"line": list(range(1, 41)), "m": rows})
    assert extract_kv(df, "m", sample=10).equals(kv_by_pivot(df, "m"))


def test_kv_key_inside_another_value_is_not_read_as_that_key():
    rows = ['msg="retry b=1" b=2'] * 5 + ["q=x=1 x=2"]
    df = pl.DataFrame({"line": list(range(1, 7)), "m": rows})
    big = extract_kv(df, "m", sample=2)
    assert big["b"].to_list()[:5] == ["2"] * 5 and big["x"].to_list()[5] == "2"
    assert big.equals(kv_by_pivot(df, "m"))


def _attrs_by_cleanup(raw: pl.DataFrame, names: list[str]) -> list[str | None]:
    """Reference: encode every column, then strip the null members."""
    enc = raw.select(pl.struct(names).struct.json_encode().alias("a"))["a"]
    out = (
        enc.str.replace_all(r'"(?:[^"\\]|\\.)*":null,', "")
        .str.replace_all(r',"(?:[^"\\]|\\.)*":null\}', "}")
        .str.replace_all(r'\{"(?:[^"\\]|\\.)*":null\}', "{}")
    )
    return [None if v == "{}" else v for v in out.to_list()]


_cell = st.one_of(st.none(), st.sampled_from(["a", 'q"uote', "back\\slash", "x:null,", "é", "\x01"]))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(_cell, st.one_of(st.none(), st.integers(-5, 5)), st.one_of(st.none(), st.floats(-1e3, 1e3)),
                          _cell), min_size=1, max_size=30))
def test_attrs_json_leaves_out_null_members_like_the_cleanup(rows):
    raw = pl.DataFrame(rows, schema={"s": pl.String, "i": pl.Int64, "f": pl.Float64, 'we"ird': pl.String}, orient="row")
    names = raw.columns
    kept = [n for n in names if raw[n].null_count() < raw.height]
    want = _attrs_by_cleanup(raw, kept) if kept else [None] * raw.height
    assert attrs_json(raw, names).to_list() == want


def test_attrs_json_of_nested_columns_still_drops_null_members():
    raw = pl.DataFrame({"a": [{"x": 1}, None], "b": ["v", None]})
    assert attrs_json(raw, ["a", "b"]).to_list() == ['{"a":{"x":1},"b":"v"}', None]


def test_select_rows_on_slices_equals_one_select():
    df = pl.DataFrame({"t": [f"k{i}=v{i}" for i in range(1000)]})
    expr = pl.col("t").str.extract(r"=(\S+)", 1)
    assert select_rows(df, expr, min_rows=100).equals(df.select(expr))
    assert select_rows(df, "t", then=lambda lf: lf.filter(pl.col("t").str.ends_with("7")), min_rows=100).height == 100


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


ROUTES = [
    # (path, masked route): ids are masked, names of things are kept
    ("/users/123", "/users/{id}"),
    ("/users/123/orders/42?page=2#top", "/users/{id}/orders/{id}"),
    ("/orders/9f1c2e7a-4b3d-4e5f-8a9b-0c1d2e3f4a5b", "/orders/{id}"),
    ("/orders/9f1c2e7a", "/orders/{id}"),
    ("/blobs/507f1f77bcf86cd799439011", "/blobs/{id}"),
    ("/f/ab12cd34ef", "/f/{id}"),
    ("/products/SKU-16993", "/products/{id}"),
    ("/day/2023-11-02/report", "/day/{id}/report"),
    ("/style2.css", "/style2.css"),
    ("/static/app.4f2a9c1e.js", "/static/app.4f2a9c1e.js"),
    ("/img/logo@2x.png", "/img/logo@2x.png"),
    ("/api/v2/items", "/api/v2/items"),
    ("/auth/oauth2callback", "/auth/oauth2callback"),
    ("/docs/chapter12", "/docs/chapter12"),
    ("/deadbeef", "/deadbeef"),  # hex letters only: a word
    ("/orders.v1.OrderService/GetOrder", "/orders.v1.OrderService/GetOrder"),  # a gRPC service: a dotted name
    ("/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Check"),
    ("/files/report.v2.a7f3c9e1d2", "/files/{id}"),  # a dotted id is still an id
    ("/", "/"),
    ("", ""),
]


def test_route_masking_replaces_id_segments_and_keeps_file_names_and_words():
    df = pl.DataFrame({"p": [p for p, _ in ROUTES]})
    got = df.select(mask_route(pl.col("p"))).to_series().to_list()
    assert list(zip([p for p, _ in ROUTES], got)) == ROUTES


def test_level_spellings_map_to_five_levels():
    df = pl.DataFrame({"l": ["WARNING", "Err", "crit", "TRACE", "notice", "bogus", None, "[ERROR]", " [warn] ", "E", "W",
                             "I", "dpanic", "3"]})
    assert df.select(normalize_level(pl.col("l")))["l"].to_list() == [
        "warn", "error", "fatal", "debug", "info", None, None, "error", "warn", "error", "warn", "info", "error", None]


def test_numeric_levels_map_only_by_a_named_scheme():
    df = pl.DataFrame({"n": [0, 3, 4, 5, 7, 8, 30, 50]})
    syslog = df.select(level_by_scheme(pl.col("n"), "syslog"))["n"].to_list()
    pino = df.select(level_by_scheme(pl.col("n"), "pino"))["n"].to_list()
    assert syslog == ["fatal", "error", "warn", "info", "debug", None, None, None]
    assert pino == [None] * 6 + ["info", "error"]
    text = pl.DataFrame({"n": ["3", "3.0", " 6 ", "40000"]})
    assert text.select(level_by_scheme(pl.col("n"), "syslog"))["n"].to_list() == ["error", "error", "info", None]
    assert text.select(level_by_scheme(pl.col("n"), "logback"))["n"].to_list() == [None, None, None, "error"]


def test_status_level_and_the_worse_of_two_levels():
    df = pl.DataFrame({"s": [503, 404, 200, None], "l": ["info", "error", None, "warn"]})
    out = df.select(status_level(pl.col("s")).alias("a"), worse_level(status_level(pl.col("s")), pl.col("l")).alias("b"))
    assert out["a"].to_list() == ["error", "warn", "info", None]
    assert out["b"].to_list() == ["error", "error", "info", "warn"]


def test_duration_text_in_any_unit_becomes_milliseconds():
    df = pl.DataFrame({"d": ["0.123s", "12ms", "1m2.5s", "950\u00b5s", "950us", "3ns", "1h", "12", "fast", "1.5 s", None]})
    assert df.select(duration_text_ms(pl.col("d")))["d"].to_list() == [
        123.0, 12.0, 62500.0, 0.95, 0.95, 0.000003, 3600000.0, None, None, None, None]


def _canon(**cols) -> pl.DataFrame:
    n = len(next(iter(cols.values())))
    raw = pl.DataFrame({"line": list(range(1, n + 1)), "ts": ["2023-11-02T10:00:00Z"] * n, **cols})
    return canonicalize(raw, options=IngestOptions())


def test_an_unmapped_level_stays_in_attrs_under_its_own_name():
    out = _canon(level=["warning", "5", "verbose-ish", None])
    assert out["level"].to_list() == ["warn", None, None, None]
    assert out["attrs"].to_list() == [None, '{"level":"5"}', '{"level":"verbose-ish"}', None]


def test_a_lower_ranked_level_field_answers_where_the_first_does_not_map():
    out = _canon(level=["7", "info"], severity=["ERROR", "DEBUG"])
    assert out["level"].to_list() == ["error", "info"]
    assert [json.loads(a) for a in out["attrs"]] == [{"level": "7"}, {"severity": "DEBUG"}]


def test_status_and_latency_that_are_no_numbers_stay_in_attrs():
    out = _canon(status=["503", "failed"], latency_ms=["12", "fast"])
    assert out["status"].to_list() == [503, None] and out["latency_ms"].to_list() == [12.0, None]
    assert out["attrs"].to_list() == [None, '{"status":"failed","latency_ms":"fast"}']


def test_empty_ids_are_no_ids_and_leave_nothing_behind():
    out = _canon(user_id=["", "-", "u1", None], uid=["u9", None, "u2", "-"], request_id=["-", "r1", "", None])
    assert out["user"].to_list() == ["u9", None, "u1", None]
    assert out["request_id"].to_list() == [None, "r1", None, None]
    assert [json.loads(a) if a else None for a in out["attrs"]] == [None, None, {"uid": "u2"}, None]


def test_a_preferred_value_wins_on_its_lines_and_its_sources_leave_attrs():
    raw = pl.DataFrame({"line": [1, 2, 3], "ts": ["2023-11-02T10:00:00Z"] * 3, "PRIORITY": ["3", "9", None],
                        "level": [None, None, "warn"]})
    pref = pl.col("PRIORITY").replace_strict({"3": "error"}, default=None, return_dtype=pl.String)
    out = canonicalize(raw, options=IngestOptions(), prefer={"level": (pref, pl.lit(False))},
                       consumed={"PRIORITY": pref.is_not_null()})
    assert out["level"].to_list() == ["error", None, "warn"]
    assert out["attrs"].to_list() == [None, '{"PRIORITY":"9"}', None]


def test_logfmt_numeric_level_is_kept_in_attrs():
    lines = pl.DataFrame({"line": [1, 2], "text": ["ts=2023-11-02T10:00:00Z level=5 msg=hi",
                                                   "ts=2023-11-02T10:00:01Z level=ERROR msg=boom"]})
    ev = logfmt.parse(lines, options=IngestOptions()).events
    assert ev["level"].to_list() == [None, "error"]
    assert ev["attrs"].to_list() == ['{"level":"5"}', None]


def test_component_from_path_strips_rotation_and_dates():
    assert component_from_path("db/postgresql.log") == "db"
    assert component_from_path("postgresql-2023-11-02_000000.log.2.gz") == "postgresql"
    assert component_from_path("app.jsonl.1.gz") == "app"
