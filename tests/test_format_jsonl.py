"""JSON lines reader: golden sample, aliases, flattening, malformed lines, fast path."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from forensics.ingest import formats, ingest
from forensics.ingest.formats import jsonl
from forensics.ingest.options import IngestOptions
from golden_util import assert_golden, check_parse_invariants, golden_sample, run_golden

HERE = Path(__file__).parent / "golden" / "jsonl"


def test_golden_sample_matches_expected_events_and_rejects():
    assert_golden("jsonl", HERE)


def test_golden_sample_line_accounting_balances():
    rep = run_golden("jsonl", HERE).accounting.files[0]
    assert rep.balanced()
    assert (rep.blank_lines, rep.malformed) == (2, 5)


def test_sniff_picks_jsonl_for_golden_sample():
    assert formats.sniff(golden_sample(HERE)) == "jsonl"


def test_nested_objects_are_flattened_with_dots_and_aliases_reach_them():
    ev = check_parse_invariants(jsonl, ['{"ts":1698941698,"http":{"status":502,"path":"/x"},"user":{"id":"u1"}}'],
                                IngestOptions()).events
    row = ev.row(0, named=True)
    assert row["status"] == 502
    assert row["user"] == "u1"
    assert json.loads(row["attrs"]) == {"http.path": "/x"}


def test_clean_file_takes_the_native_fast_path_with_the_same_result(write, tmp_path):
    rows = [json.dumps({"ts": 1698941698 + i, "user_id": f"u{i}", "event": "x", "n": i}) for i in range(50)]
    clean = write("clean.jsonl", "\n".join(rows) + "\n")
    lines = ingest([clean]).events
    assert jsonl.parse_bytes(clean.read_bytes(), _lines(rows), options=IngestOptions()) is not None
    # The general path (forced by a blank line) gives the same events.
    dirty = write("dirty.jsonl", "\n".join(rows) + "\n\n")
    slow = ingest([dirty]).events
    assert lines.drop("source", "component").equals(slow.drop("source", "component"))


def _lines(rows):
    import polars as pl

    return pl.DataFrame({"line": list(range(1, len(rows) + 1)), "text": rows})


def test_type_clash_across_lines_keeps_every_value_as_text(write):
    p = write("mixed.jsonl", '{"ts":1698941698,"v":1}\n{"ts":1698941699,"v":"x"}\n')
    attrs = [json.loads(a) for a in ingest([p]).events["attrs"]]
    assert [a["v"] for a in attrs] == ["1", "x"]


def test_a_field_named_line_is_kept_as_line_on_both_paths(write):
    rows = [json.dumps({"ts": 1698941698 + i, "file": "x.c", "line": 10 + i}) for i in range(3)]
    clean = write("clean.jsonl", "\n".join(rows) + "\n")
    dirty = write("dirty.jsonl", "\n".join(rows) + "\n\n")
    for path in (clean, dirty):
        ev = ingest([path]).events
        assert ev["line"].to_list() == [1, 2, 3]
        assert [json.loads(a)["line_"] for a in ev["attrs"]] == [10, 11, 12]


def test_attrs_keys_come_in_name_order_whatever_the_lines_key_order():
    # Polars orders the fields of lines with different keys differently from run to run
    texts = ['{"ts":1698941698,"zeta":1,"alpha":2,"mid":{"b":1,"a":2}}', '{"ts":1698941699,"beta":3,"zeta":4}']
    ev = check_parse_invariants(jsonl, texts, IngestOptions()).events
    assert ev["attrs"].to_list() == ['{"alpha":2,"mid.a":2,"mid.b":1,"zeta":1}', '{"beta":3,"zeta":4}']


def test_an_array_first_seen_empty_keeps_the_items_it_holds_later():
    import polars as pl

    texts = ['{"a": {"a": []}}', '{"a": {"a": [false]}}']
    old = jsonl.QUICK_INFER
    jsonl.QUICK_INFER = 1
    try:
        df = jsonl.read_objects(("\n".join(texts) + "\n").encode(), pl.Series(texts))
    finally:
        jsonl.QUICK_INFER = old
    assert df["a"].struct.field("a").to_list() == [[], [False]]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=40), st.sampled_from(['{"ts":1698941698}', "{", "{}", '{"a":[1,{"b":2}]}'])),
                max_size=25))
def test_arbitrary_lines_never_raise_and_accounting_holds(texts):
    check_parse_invariants(jsonl, texts, IngestOptions())


_leaf = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(-1e6, 1e6, allow_nan=False),
                  st.text(alphabet='ab":\\ {},', max_size=6))
_obj = st.recursive(
    st.dictionaries(st.sampled_from(["ts", "a", "b", "c", "d e"]), _leaf, max_size=4),
    lambda inner: st.dictionaries(st.sampled_from(["ts", "a", "b", "c", "n"]), st.one_of(_leaf, inner, st.lists(_leaf, max_size=2)), max_size=4),
    max_leaves=8)


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(_obj, min_size=1, max_size=8), spaced=st.booleans())
def test_quick_parse_never_loses_what_full_inference_reads(rows, spaced):
    # the quick parse infers from the first rows only: a field first seen later,
    # a changed type, nesting, nulls and quotes or colons inside strings must
    # give exactly what inferring the schema from every row gives
    import io

    import polars as pl
    from polars.testing import assert_frame_equal

    texts = [json.dumps(r, separators=(", ", " : ") if spaced else (",", ":")) for r in rows]
    data = ("\n".join(texts) + "\n").encode()
    try:
        want = pl.read_ndjson(io.BytesIO(data), infer_schema_length=None)
    except Exception:  # noqa: BLE001 - not readable at all: read_objects must raise too
        want = None
    old = jsonl.QUICK_INFER
    jsonl.QUICK_INFER = 1
    try:
        got = jsonl.read_objects(data, pl.Series(texts))
    except Exception:  # noqa: BLE001
        got = None
    finally:
        jsonl.QUICK_INFER = old
    assert (got is None) == (want is None)
    if want is not None:
        assert_frame_equal(got, want)


def test_quick_parse_is_kept_when_every_key_is_accounted_for(monkeypatch):
    import polars as pl

    texts = ['{"a": 1, "b": {"c": "x\\": y"}}'] * 3
    calls = []
    real = pl.read_ndjson
    monkeypatch.setattr(jsonl.pl, "read_ndjson", lambda *a, **k: (calls.append(k["infer_schema_length"]), real(*a, **k))[1])
    jsonl.read_objects(("\n".join(texts) + "\n").encode(), pl.Series(texts))
    # the escaped quote-colon inside the string counts as a key: one more than kept, so full inference
    assert calls == [jsonl.QUICK_INFER, None]
    calls.clear()
    texts = ['{"a": 1, "b": {"c": "x"}}'] * 3
    jsonl.read_objects(("\n".join(texts) + "\n").encode(), pl.Series(texts))
    assert calls == [jsonl.QUICK_INFER]


def test_fields_named_like_the_line_column_are_kept_on_both_paths():
    import polars as pl

    texts = ['{"ts": 1698941698, "__line": 7, "line": 9, "user": "u1"}', '{"ts": 1698941699, "user": "u2"}']
    lines = pl.DataFrame({"line": [4, 5], "text": texts})
    data = ("\n".join(texts) + "\n").encode()
    general = jsonl.parse(lines.vstack(pl.DataFrame({"line": [6], "text": ["oops"]})), options=IngestOptions())
    fast = jsonl.parse_bytes(data, lines, options=IngestOptions())
    for result in (general, fast):
        ev = result.events
        assert ev["line"].to_list() == [4, 5]
        assert json.loads(ev["attrs"][0]) == {"__line": 7, "line_": 9}


_LINE = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\x00"), max_size=12)  # NUL runs are replaced before lines are split


@given(st.lists(_LINE, min_size=1, max_size=12), st.booleans(), st.booleans(), st.data())
@settings(max_examples=300, deadline=None)
def test_the_bytes_of_some_lines_are_cut_out_of_the_data_exactly_when_it_holds_them_verbatim(
        texts, trailing, bom, data):
    """``lines_bytes`` gives what joining the kept lines' texts gives, and
    gives it whenever the data holds the lines verbatim (it declines where a
    byte-order mark or a ``\\r`` was taken out of them)."""
    from forensics.ingest.reader import split_lines

    raw = ("\ufeff" if bom else "") + "\n".join(texts) + ("\n" if trailing else "")
    blob = raw.encode()
    lines, _ = split_lines(blob)
    keep = [n for n in lines["line"].to_list() if data.draw(st.booleans())]
    got = jsonl.lines_bytes(blob, lines, pl.Series(keep, dtype=pl.Int64))
    kept = lines.filter(pl.col("line").is_in(keep))["text"].to_list()
    joined = "\n".join(lines["text"].to_list())
    verbatim = lines.height > 0 and raw in (joined, joined + "\n")
    if verbatim:
        assert got == "".join(t + "\n" for t in kept).encode()
    else:
        assert got is None


_KEYS = {"a": st.integers(-5, 5), "b": st.text("xyz:\" ", max_size=4), "c": st.booleans(),
         "d": st.fixed_dictionaries({}, optional={"e": st.integers(0, 3) | st.none(), "f": st.just("q") | st.none()})}


@st.composite
def _objects(draw) -> list[dict]:
    rows = []
    for _ in range(draw(st.integers(1, 8))):
        keys = draw(st.lists(st.sampled_from(sorted(_KEYS)), unique=True))
        rows.append({k: draw(_KEYS[k] | st.none()) for k in keys})
    return rows


@given(_objects(), st.sampled_from([", ", ","]))
@settings(max_examples=300, deadline=None)
def test_the_quick_schema_is_kept_only_when_the_full_inference_reads_the_same(rows, sep):
    """Lines with keys first seen late, some written as ``null`` (at the top
    level or nested): what ``read_objects`` keeps is what inferring the
    schema from every line gives."""
    import io

    texts = [json.dumps(r, separators=(sep, ": ")) for r in rows]
    data = ("\n".join(texts) + "\n").encode()
    old = jsonl.QUICK_INFER
    jsonl.QUICK_INFER = 2  # the schema is inferred from the first two lines only
    try:
        got = jsonl.read_objects(data, pl.Series(texts))
    finally:
        jsonl.QUICK_INFER = old
    full = pl.read_ndjson(io.BytesIO(data), infer_schema_length=None)
    flat_got, flat_full = (f.select(sorted(f.columns)) for f in (jsonl.flatten(got), jsonl.flatten(full)))
    assert flat_got.schema == flat_full.schema  # (`equals` does not tell a struct's extra null field)
    assert flat_got.equals(flat_full)


def test_a_null_nested_in_an_object_is_not_taken_for_a_kept_top_level_null():
    """The quick schema has ``a`` without a field ``x`` (inferred from the
    first line); a later line's ``a.x: null`` must not pass for the
    top-level ``x`` (which the schema has): the full inference decides."""
    import io

    texts = ['{"a": {"y": 1}, "x": 1}', '{"a": {"x": null, "y": 2}, "x": 2}']
    data = ("\n".join(texts) + "\n").encode()
    old = jsonl.QUICK_INFER
    jsonl.QUICK_INFER = 1
    try:
        got = jsonl.read_objects(data, pl.Series(texts))
    finally:
        jsonl.QUICK_INFER = old
    full = pl.read_ndjson(io.BytesIO(data), infer_schema_length=None)
    assert got.schema == full.schema  # (`equals` does not tell a struct's extra null field)
    assert got.equals(full)
