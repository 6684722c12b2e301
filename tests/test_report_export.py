"""``scan --export DIR``: every Parquet file read back with pyarrow, checked
against the JSON report; metadata; atomic writes; the docs' examples run."""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_report_helpers import REPO, sample_result

from forensics import __version__
from forensics.report.export import export_scan

TS = pa.timestamp("us", tz="UTC")


def _s(t):
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def _list_of(pred):
    return lambda t: (pa.types.is_list(t) or pa.types.is_large_list(t)) and pred(t.value_type)


def _is(expected):
    return lambda t: t == expected


INT32, INT64, F64, BOOL = _is(pa.int32()), _is(pa.int64()), _is(pa.float64()), _is(pa.bool_())
TIME = _is(TS)

#: The documented contract (docs/contracts.md), column by column.
EXPECTED = {
    "suspects": {
        "rank": INT32, "sequence": _list_of(_s), "sequence_text": _s, "length": INT32,
        "burst_ids": _list_of(INT32), "onsets": _list_of(TIME), "lead_s": _list_of(F64), "min_lead_s": F64,
        "sessions": INT64, "users": INT64, "completions": INT64, "baseline_rate_per_hour": F64,
        "p_onset": F64, "p_enrichment": F64, "p_value": F64, "q_value": F64, "risk_ratio": F64,
        "rate_ratio": F64, "failing_with": INT64, "control_with": INT64, "significant": BOOL,
        "resources": _list_of(pa.types.is_struct), "linked_resources": _list_of(_s), "explanation": _s,
        "example_sessions": _list_of(_s), "collapsed": _list_of(_s),
        "p_link": F64, "deciding": _s,
    },
    "evidence": {
        "rank": INT32, "session": _s, "user": _s, "ts": TIME, "action": _s, "component": _s, "source": _s,
        "line": INT64, "step": INT32, "level": _s, "status": INT32, "request_id": _s, "key": _s,
        "is_error": BOOL, "message": _s,
    },
    "bursts": {
        "burst_id": INT32, "start": TIME, "end": TIME, "errors": INT64, "peak_per_min": F64,
        "users_affected": INT64, "users_affected_share": F64, "sessions_affected": INT64,
        "sessions_affected_share": F64, "onsets": _list_of(TIME), "user_given": BOOL, "explained": BOOL,
        "suspect_ranks": _list_of(INT32), "verdict": _s,
    },
    "cascade": {
        "burst_id": INT32, "order": INT32, "component": _s, "first_error": TIME, "offset_s": F64,
        "errors": INT64, "error_kinds": _list_of(_s), "lead_s": F64,
    },
    "error_rate": {
        "bin_start": TIME, "bin_s": F64, "events": INT64, "errors": INT64, "baseline": F64, "threshold": F64,
        "hot": BOOL, "burst_id": INT32,
    },
}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "out"
    written = export_scan(sample_result(), out, events=True)
    return out, written


@pytest.fixture(scope="module")
def doc():
    return json.loads(json.dumps(sample_result().to_json(), default=str))


def test_every_file_is_written_and_nothing_else(exported):
    out, written = exported
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(f"{t}.parquet" for t in [*EXPECTED, "events"])
    assert sorted(p.name for p in written) == names


@pytest.mark.parametrize("table", list(EXPECTED))
def test_columns_have_the_documented_names_and_types(exported, table):
    schema = pq.read_schema(exported[0] / f"{table}.parquet")
    assert schema.names == list(EXPECTED[table])
    for name, check in EXPECTED[table].items():
        assert check(schema.field(name).type), f"{table}.{name}: {schema.field(name).type}"


def test_documented_columns_match_the_docs(exported):
    text = (REPO / "docs" / "contracts.md").read_text(encoding="utf-8")
    for table, cols in EXPECTED.items():
        for col in cols:
            assert f"`{col}`" in text, f"{table}.{col} is not documented in docs/contracts.md"


def test_suspects_round_trip_against_the_json_report(exported, doc):
    t = pq.read_table(exported[0] / "suspects.parquet").to_pylist()
    assert len(t) == len(doc["suspects"]) > 0
    for row, js in zip(t, doc["suspects"]):
        assert row["rank"] == js["rank"]
        assert row["sequence"] == js["sequence"]
        assert row["burst_ids"] == js["burst_ids"]
        assert row["q_value"] == pytest.approx(js["q_value"])
        assert row["p_value"] == pytest.approx(js["p_value"])
        assert row["sessions"] == js["sessions"] and row["users"] == js["users"]
        assert [round(x, 3) for x in row["lead_s"]] == [x["lead_s"] for x in js["lead_time_s"]]
        assert [r["resource"] for r in row["resources"]] == [r["resource"] for r in js["resources"]]
        assert row["explanation"] == js["explanation"]


def test_bursts_and_cascade_round_trip_against_the_json_report(exported, doc):
    bursts = pq.read_table(exported[0] / "bursts.parquet").to_pylist()
    assert [b["burst_id"] for b in bursts] == [b["id"] for b in doc["bursts"]]
    assert [b["errors"] for b in bursts] == [b["errors"] for b in doc["bursts"]]
    verdicts = {v["burst_id"]: v for v in doc["burst_verdicts"]}
    assert [b["explained"] for b in bursts] == [verdicts[b["burst_id"]]["explained"] for b in bursts]
    cascade = pq.read_table(exported[0] / "cascade.parquet").to_pylist()
    assert len(cascade) == sum(len(b["cascade"]) for b in doc["bursts"])
    want = [(b["id"], c["component"], c["errors"]) for b in doc["bursts"] for c in b["cascade"]]
    assert [(c["burst_id"], c["component"], c["errors"]) for c in cascade] == want
    assert all(c["order"] == 1 for c in cascade if c["offset_s"] == 0.0)


def test_evidence_holds_every_step_of_every_suspect_occurrence(exported, doc):
    ev = pq.read_table(exported[0] / "evidence.parquet").to_pylist()
    seqs = {s["rank"]: s["sequence"] for s in doc["suspects"]}
    assert {r["rank"] for r in ev} == set(seqs)
    for r in ev:  # each event belongs to the step of that action
        assert r["action"] == seqs[r["rank"]][r["step"] - 1]
    for rank, seq in seqs.items():
        steps = {(r["session"], r["step"]) for r in ev if r["rank"] == rank}
        sessions = {s for s, _ in steps}
        assert all((s, k) in steps for s in sessions for k in range(1, len(seq) + 1))
    # the planted trigger's write of the poisoned cache key is among the evidence
    assert any(r["rank"] == 1 and r["key"] == "course:840:content" for r in ev)


def test_events_and_error_rate_row_counts_match(exported, doc):
    assert pq.read_metadata(exported[0] / "events.parquet").num_rows == doc["ingest"]["events"]
    rate = sample_result().timeline.error_rate
    assert pq.read_metadata(exported[0] / "error_rate.parquet").num_rows == rate.height


@pytest.mark.parametrize("table", [*EXPECTED, "events"])
def test_metadata_records_version_inputs_and_every_parameter(exported, table):
    meta = pq.read_schema(exported[0] / f"{table}.parquet").metadata
    assert meta[b"forensics.version"].decode() == __version__
    assert meta[b"forensics.table"].decode() == table
    assert json.loads(meta[b"forensics.inputs"]) == ["sample_logs/"]
    params = json.loads(meta[b"forensics.parameters"])
    assert params == json.loads(json.dumps(sample_result().settings.to_json()))
    assert params["mining"]["lookback_s"] == 600.0 and "session_gap_s" in params["timeline"]


def test_interrupted_export_leaves_no_half_written_file(tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    (out / "bursts.parquet").write_bytes(b"previous complete file")
    real = pq.write_table
    calls = []

    def flaky(table, where, *a, **kw):
        calls.append(where)
        if len(calls) == 3:  # the third file: half written, then Ctrl-C
            Path(where).write_bytes(b"PAR1 half")
            raise KeyboardInterrupt
        return real(table, where, *a, **kw)

    monkeypatch.setattr(pq, "write_table", flaky)
    with pytest.raises(KeyboardInterrupt):
        export_scan(sample_result(), out)
    names = sorted(os.listdir(out))
    assert names == ["bursts.parquet", "evidence.parquet", "suspects.parquet"]
    assert (out / "bursts.parquet").read_bytes() == b"previous complete file"  # untouched, not half-replaced
    for name in ("suspects.parquet", "evidence.parquet"):
        pq.read_table(out / name)  # complete and readable


def test_a_scan_without_suspects_exports_empty_tables_with_the_same_types(tmp_path):
    r = sample_result()
    empty = dataclasses.replace(r, mining=dataclasses.replace(r.mining, suspects=(), steps=None,
                                                              burst_verdicts=()))
    export_scan(empty, tmp_path)
    for table in ("suspects", "evidence"):
        t = pq.read_table(tmp_path / f"{table}.parquet")
        assert t.num_rows == 0
        assert t.schema.names == list(EXPECTED[table])
        for name, check in EXPECTED[table].items():
            assert check(t.schema.field(name).type)


def _doc_blocks(marker: str) -> list[str]:
    text = (REPO / "docs" / "contracts.md").read_text(encoding="utf-8")
    return [b for b in re.findall(r"```python\n(.*?)```", text, re.S) if marker in b]


def test_polars_example_in_the_docs_runs(exported, monkeypatch, capsys):
    (block,) = _doc_blocks("pl.read_parquet")
    monkeypatch.chdir(exported[0].parent)
    exec(compile(block, "docs/contracts.md (polars)", "exec"), {})
    assert "start_quiz" in capsys.readouterr().out


def test_duckdb_example_in_the_docs_runs(exported, monkeypatch, capsys):
    pytest.importorskip("duckdb", reason="duckdb is a test-only dependency (pip install -e '.[test]')")
    (block,) = _doc_blocks("duckdb.sql")
    monkeypatch.chdir(exported[0].parent)
    exec(compile(block, "docs/contracts.md (duckdb)", "exec"), {})
    out = capsys.readouterr().out
    assert "content-cache" in out and "s-8333ee1696bc" in out and "lookback_s" in out
