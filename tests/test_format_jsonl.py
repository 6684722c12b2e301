"""JSON lines reader: golden sample, aliases, flattening, malformed lines, fast path."""

from __future__ import annotations

import json
from pathlib import Path

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


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=40), st.sampled_from(['{"ts":1698941698}', "{", "{}", '{"a":[1,{"b":2}]}'])),
                max_size=25))
def test_arbitrary_lines_never_raise_and_accounting_holds(texts):
    check_parse_invariants(jsonl, texts, IngestOptions())
