"""Whole-scan result cache: a re-run of the same scan loads its result."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

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
