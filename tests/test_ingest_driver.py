"""The ingest driver: folders, accounting, errors, duplicates, sorting."""

from __future__ import annotations

from pathlib import Path

import gzip
import json
import os

import polars as pl
import pytest

from forensics.errors import InputError, UsageError
from forensics.ingest import IngestOptions, ingest
from forensics.schema import EVENT_SCHEMA


def _j(ts: str, **kw) -> str:
    return json.dumps({"ts": ts, **kw})


def test_folder_is_read_recursively_and_sorted_by_time(write, tmp_path):
    write("a/app.jsonl", _j("2023-11-02T10:00:02Z", user="u1") + "\n" + _j("2023-11-02T10:00:00Z", user="u2") + "\n")
    write("b/c/other.jsonl", _j("2023-11-02T10:00:01Z", user="u3") + "\n")
    res = ingest([tmp_path])
    assert res.events["user"].to_list() == ["u2", "u3", "u1"]
    assert res.events.schema == pl.Schema(EVENT_SCHEMA)


def test_component_comes_from_the_folder_when_no_field_names_it(write, tmp_path):
    write("cache/x.jsonl", _j("2023-11-02T10:00:00Z") + "\n" + _j("2023-11-02T10:00:01Z", service="api") + "\n")
    res = ingest([tmp_path / "cache"])
    assert sorted(res.events["component"].to_list()) == ["api", "x"]
    res = ingest([tmp_path])
    assert sorted(res.events["component"].to_list()) == ["api", "cache"]


def test_accounting_balances_per_file_and_in_total(write, tmp_path):
    write("a.jsonl", "\n".join([_j("2023-11-02T10:00:00Z"), "", "{broken", _j("no-time"), "  "]) + "\n")
    res = ingest([tmp_path])
    (f,) = res.accounting.files
    assert (f.lines, f.events, f.blank_lines, f.malformed) == (5, 1, 2, 2)
    assert f.balanced()
    doc = res.accounting.to_json()
    assert doc["lines"] == doc["events"] + doc["continuation_lines"] + doc["blank_lines"] + doc["malformed"]
    assert set(res.rejects["reason"]) == {"invalid JSON", "no readable timestamp"}
    assert res.rejects["line"].to_list() == [3, 4]


def test_missing_path_is_reported_and_other_files_still_read(write, tmp_path):
    write("a.jsonl", _j("2023-11-02T10:00:00Z") + "\n")
    res = ingest([tmp_path / "a.jsonl", tmp_path / "nope.log"])
    assert res.events.height == 1
    assert res.accounting.errors == (f"{tmp_path / 'nope.log'}: no such file or folder",)


def test_nothing_readable_raises_input_error(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        ingest([tmp_path / "nope.log"])


def test_strict_fails_on_the_first_missing_path(write, tmp_path):
    write("a.jsonl", _j("2023-11-02T10:00:00Z") + "\n")
    with pytest.raises(InputError):
        ingest([tmp_path / "nope.log", tmp_path / "a.jsonl"], options=IngestOptions(strict=True))


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read any file")
def test_unreadable_file_is_reported(write, tmp_path):
    p = write("secret.jsonl", _j("2023-11-02T10:00:00Z") + "\n")
    write("ok.jsonl", _j("2023-11-02T10:00:00Z", user="u") + "\n")
    p.chmod(0)
    res = ingest([tmp_path])
    assert any("permission denied" in e for e in res.accounting.errors)
    assert res.events.height == 1


def test_unknown_format_override_is_a_usage_error(write, tmp_path):
    write("a.jsonl", _j("2023-11-02T10:00:00Z") + "\n")
    with pytest.raises(UsageError, match="unknown format"):
        ingest([tmp_path], options=IngestOptions(format="nope"))


def test_rotated_copies_do_not_double_count(write, tmp_path):
    lines = [_j(f"2023-11-02T10:00:0{i}Z", user="u", n=i) for i in range(5)]
    write("app.jsonl.1.gz", gzip.compress(("\n".join(lines[:4]) + "\n").encode()))
    write("app.jsonl", "\n".join(lines[2:]) + "\n")  # copytruncate overlap: lines 2-3 twice
    res = ingest([tmp_path])
    assert res.events.height == 5
    assert res.accounting.duplicates == 2
    kept = ingest([tmp_path], options=IngestOptions(dedupe=False))
    assert kept.events.height == 7


def test_repeats_within_one_file_are_kept(write, tmp_path):
    line = _j("2023-11-02T10:00:00Z", user="u")
    write("a.jsonl", f"{line}\n{line}\n")
    assert ingest([tmp_path]).events.height == 2


def test_binary_files_are_skipped_and_counted(write, tmp_path):
    write("core.dump", b"\x00\x01\x02ELF" * 100)
    write("a.jsonl", _j("2023-11-02T10:00:00Z") + "\n")
    res = ingest([tmp_path])
    doc = res.accounting.to_json()
    assert doc["skipped_files"] == [{"path": str(tmp_path / "core.dump"), "reason": "binary content"}]
    assert doc["files"] == 1


def test_notes_and_truth_files_are_not_read_as_logs(write, tmp_path):
    write("README.md", "# notes\n")
    write("truth.json", "{}\n")
    write(".hidden.log", "x\n")
    write("a.jsonl", _j("2023-11-02T10:00:00Z") + "\n")
    res = ingest([tmp_path])
    assert [f.path for f in res.accounting.files] == [str(tmp_path / "a.jsonl")]


def test_docker_container_metadata_beside_its_log_is_not_read_as_logs(write, tmp_path):
    cid = "3f4e" * 16
    write(f"{cid}/{cid}-json.log", '{"log":"hello\\n","stream":"stdout","time":"2023-11-02T10:00:00.1Z"}\n')
    for name in ("config.v2.json", "hostconfig.json", "hosts", "hostname", "resolv.conf"):
        write(f"{cid}/{name}", '{"Name": "/web"}\n')
    write("other/hosts", "2023-11-02 10:00:00 INFO a hosts log elsewhere is a log\n")
    res = ingest([tmp_path])
    assert sorted(Path(f.path).name for f in res.accounting.files) == [f"{cid}-json.log", "hosts"]


def test_timezone_option_applies_to_naive_timestamps(write, tmp_path):
    write("a.jsonl", _j("2023-11-02 10:00:00") + "\n" + _j("2023-11-02T10:00:00+00:00") + "\n")
    res = ingest([tmp_path], options=IngestOptions(tz="Europe/Berlin"))
    hours = sorted(res.events["ts"].dt.hour().to_list())
    assert hours == [9, 10]


def test_field_overrides_pick_the_named_field(write, tmp_path):
    write("a.jsonl", _j("2023-11-02T10:00:00Z", who="alice", user="bot", what="click") + "\n")
    res = ingest([tmp_path], options=IngestOptions(user_field="who", action_field="what"))
    assert res.events.row(0, named=True)["user"] == "alice"
    assert res.events.row(0, named=True)["action"] == "click"
    assert json.loads(res.events.row(0, named=True)["attrs"]) == {"user": "bot"}


def test_the_combined_events_are_one_chunk_per_column_and_constant_text_is_held_once():
    from forensics.ingest.combine import one_chunk

    n = 50_000
    part = pl.DataFrame({"a": pl.int_range(0, n, eager=True), "format": ["jsonl"] * n,
                         "key": pl.Series([None] * n, dtype=pl.String), "user": [f"u{i}" for i in range(n)],
                         "level": ["info", "error"] * (n // 2),
                         # one other value, on a row no sample of a few spread rows reads
                         "rare": ["x"] * 7 + ["y"] + ["x"] * (n - 8)})
    frame = pl.concat([part] * 3, rechunk=False)
    out = one_chunk(frame)
    # the constant text no longer counts once per row (estimated_size counts the
    # text of each row's view: 5 bytes of "jsonl"); measured first, as reading a
    # constant column as a Series materializes it
    saved = frame.estimated_size() - out.estimated_size()
    assert saved >= (len("jsonl") - 0.01) * frame.height  # the constant is counted once
    assert out.equals(frame)
    assert all(out.get_column(c).n_chunks() == 1 for c in out.columns)
