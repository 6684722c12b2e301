"""Whole-scan result cache: a re-run of the same scan loads its result."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

import forensics.scan as scan_mod
from forensics.cli import cli
from forensics.ingest import IngestOptions
from forensics.scan import ScanSettings, run_scan

SAMPLE = Path(__file__).resolve().parents[1] / "sample_logs"


@pytest.fixture
def logs(tmp_path):
    out = tmp_path / "logs"
    shutil.copytree(SAMPLE, out)
    return out


def _scan(args):
    res = CliRunner().invoke(cli, ["scan", *args, "--no-color"], env={"COLUMNS": "100", "NO_COLOR": "1"})
    assert res.exit_code in (0, 1), res.output
    return res.stdout


def _no_run(monkeypatch):
    calls = []
    real = scan_mod._run
    monkeypatch.setattr(scan_mod, "_run", lambda *a, **k: calls.append(1) or real(*a, **k))
    return calls


def test_second_scan_loads_the_whole_result_and_prints_the_same(logs, tmp_path, monkeypatch):
    cache = str(tmp_path / "cache")
    first_text = _scan([str(logs), "--cache-dir", cache])
    first_json = _scan([str(logs), "--cache-dir", cache, "--json"])
    calls = _no_run(monkeypatch)
    assert _scan([str(logs), "--cache-dir", cache]) == first_text
    assert _scan([str(logs), "--cache-dir", cache, "--json"]) == first_json
    assert calls == []
    assert len(list((tmp_path / "cache" / "scans").iterdir())) == 1


def test_loaded_result_has_equal_frames_and_objects(logs, tmp_path):
    settings = ScanSettings(ingest=IngestOptions(cache_dir=str(tmp_path / "c")))
    a = run_scan([logs], settings=settings)
    b = run_scan([logs], settings=settings)
    assert a is not b
    for name in ("events", "actions", "sessions", "session_errors", "error_rate"):
        assert getattr(a.timeline, name).equals(getattr(b.timeline, name)), name
    assert a.ingest.events.equals(b.ingest.events) and a.ingest.rejects.equals(b.ingest.rejects)
    assert a.timeline.bursts == b.timeline.bursts and a.timeline.options == b.timeline.options
    assert a.mining.suspects == b.mining.suspects and a.mining.burst_verdicts == b.mining.burst_verdicts
    assert a.mining.steps.equals(b.mining.steps)
    assert a.ingest.accounting == b.ingest.accounting
    assert a.to_json() == b.to_json()


def test_stored_ingest_events_keep_only_the_columns_the_timeline_changed_and_share_the_rest(logs, tmp_path):
    settings = ScanSettings(ingest=IngestOptions(cache_dir=str(tmp_path / "c")))
    a = run_scan([logs], settings=settings)
    changed = [c for c in a.ingest.events.columns if not a.ingest.events[c].equals(a.timeline.events[c])]
    assert "user" in changed  # request linking fills users on the sample
    (entry,) = (tmp_path / "c" / "scans").iterdir()
    doc = json.loads((entry / "result.json").read_text())
    stored = pl.read_parquet_schema(entry / doc["frames"]["ingest.events"])
    assert list(stored) == changed
    b = run_scan([logs], settings=settings)
    assert b.ingest.events.equals(a.ingest.events) and b.ingest.events.columns == a.ingest.events.columns
    for c in ("ts", "line", "latency_ms"):  # one buffer for both frames, as after a computed scan
        assert _address(b.ingest.events[c]) == _address(b.timeline.events[c])
    assert _address(b.ingest.events["line"]) != _address(a.timeline.events["line"])  # the check can tell


def _address(s: pl.Series) -> int:
    """Where a primitive column's values live (Arrow export is zero-copy)."""
    return s.rechunk().to_arrow().buffers()[1].address


def test_a_touched_file_or_another_option_runs_the_scan_again(logs, tmp_path, monkeypatch):
    cache = str(tmp_path / "cache")
    _scan([str(logs), "--cache-dir", cache, "--json"])
    calls = _no_run(monkeypatch)
    _scan([str(logs), "--cache-dir", cache, "--json", "--max-gap", "1"])
    assert calls == [1]
    p = logs / "nginx" / "access.log"
    st = p.stat()
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    _scan([str(logs), "--cache-dir", cache, "--json"])
    assert calls == [1, 1]


def test_no_cache_writes_no_result(logs, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    _scan([str(logs), "--no-cache", "--json"])
    assert not (tmp_path / "xdg" / "forensics" / "scans").exists()


def test_a_damaged_result_entry_is_ignored(logs, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    first = _scan([str(logs), "--cache-dir", str(cache), "--json"])
    for f in (cache / "scans").rglob("*.parquet"):
        f.write_bytes(b"garbage")
    calls = _no_run(monkeypatch)
    assert _scan([str(logs), "--cache-dir", str(cache), "--json"]) == first
    assert calls == [1]


def test_computed_scans_print_the_same_json_every_time(logs, tmp_path):
    # two resources touched by one request at the same instant used to swap places between runs
    runs = {_scan([str(logs), "--no-cache", "--json"]) for _ in range(4)}
    assert len(runs) == 1


@pytest.fixture
def labeled(tmp_path):
    log = tmp_path / "app.jsonl"
    rows = []
    for i in range(200):
        s = f"s{i % 20}"
        act = ["login", "view", "poison" if i % 20 < 3 else "view", "buy"][i // 20 % 4]
        rows.append(f'{{"ts": "2023-11-02T10:{i // 4:02d}:{i % 4 * 15:02d}Z", "user": "u{i % 20}", '
                    f'"session": "{s}", "action": "{act}"}}\n')
    log.write_text("".join(rows))
    labels = tmp_path / "labels.csv"
    labels.write_text("id,label\n" + "".join(f"s{k},{'fail' if k < 3 else 'ok'}\n" for k in range(20)))
    return log, labels


def test_a_scan_with_failing_is_served_from_the_cache_until_the_labels_change(labeled, tmp_path, monkeypatch):
    log, labels = labeled
    args = [str(log), "--cache-dir", str(tmp_path / "cache"), "--json", "--failing", str(labels)]
    first = _scan(args)
    calls = _no_run(monkeypatch)
    assert _scan(args) == first
    assert calls == []
    st = labels.stat()
    labels.write_text(labels.read_text().replace("s2,fail", "s2,ok"))
    os.utime(labels, ns=(st.st_atime_ns, st.st_mtime_ns))  # same time: the content hash tells them apart
    second = _scan(args)
    assert calls == [1] and second != first
    _scan([*args, "--failing-scope", "whole"])
    assert calls == [1, 1]


def test_cache_entries_are_written_through_the_atomic_folder_helper(logs, tmp_path, monkeypatch):
    import forensics.io
    import forensics.scan_cache

    used = []
    real = forensics.io.atomic_dir
    monkeypatch.setattr(forensics.scan_cache, "atomic_dir", lambda target: used.append(target) or real(target))
    _scan([str(logs), "--cache-dir", str(tmp_path / "cache"), "--json"])
    (entry,) = (tmp_path / "cache" / "scans").iterdir()
    assert used == [entry] and (entry / "result.json").is_file()
    assert not [p for p in entry.parent.iterdir() if p.name.startswith(".")]  # no temporary folder left


def test_atomic_dir_replaces_the_folder_on_success_and_leaves_it_on_failure(tmp_path):
    from forensics.io import atomic_dir

    target = tmp_path / "entry"
    with atomic_dir(target) as tmp:
        (tmp / "a").write_text("1")
    with atomic_dir(target) as tmp:
        (tmp / "b").write_text("2")
    assert sorted(p.name for p in target.iterdir()) == ["b"]
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as tmp:
            (tmp / "c").write_text("3")
            raise RuntimeError("interrupted")
    assert sorted(p.name for p in target.iterdir()) == ["b"]
    assert [p.name for p in tmp_path.iterdir()] == ["entry"]
