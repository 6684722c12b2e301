"""Warm cache: unchanged files are loaded, changed ones parsed again."""

from __future__ import annotations

import json
import os

from click.testing import CliRunner

import forensics.ingest as ingest_mod
from forensics.cli import cli
from forensics.ingest import IngestOptions, cache, ingest


def _record_reads(monkeypatch) -> list[str]:
    """The display names of the files read in full (``load_file``) from now on."""
    reads: list[str] = []
    real = ingest_mod.load_file

    def load(index, path, display, *args, **kwargs):
        reads.append(display)
        return real(index, path, display, *args, **kwargs)

    monkeypatch.setattr(ingest_mod, "load_file", load)
    return reads


def _big_log(write, name="app.jsonl", n=3000, user="u"):
    rows = [json.dumps({"ts": 1698941698 + i, "user_id": f"{user}{i % 7}", "event": "x", "n": i}) for i in range(n)]
    return write(name, "\n".join(rows) + "\nnot json\n")


def test_second_run_loads_the_cached_parse_and_gives_the_same_result(write, tmp_path, monkeypatch):
    log = _big_log(write)
    opts = IngestOptions(cache_dir=str(tmp_path / "cache"))
    first = ingest([log], options=opts)
    assert len(list((tmp_path / "cache").glob("*.json"))) == 1
    reads = _record_reads(monkeypatch)
    second = ingest([log], options=opts)
    assert reads == []  # loaded from the cache, not read
    assert second.events.equals(first.events)
    assert second.rejects.equals(first.rejects)
    assert second.accounting.to_json() == first.accounting.to_json()


def test_a_changed_or_appended_file_is_read_again(write, tmp_path):
    log = _big_log(write)
    opts = IngestOptions(cache_dir=str(tmp_path / "cache"))
    before = ingest([log], options=opts).events.height
    with open(log, "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"ts": 1698950000, "user_id": "late", "event": "y"}) + "\n")
    after = ingest([log], options=opts)
    assert after.events.height == before + 1
    assert "late" in after.events["user"].to_list()


def test_other_parse_options_do_not_share_entries(write, tmp_path):
    log = _big_log(write)
    d = str(tmp_path / "cache")
    a = cache.cache_key(log, str(log), log.name, options=IngestOptions(cache_dir=d))
    b = cache.cache_key(log, str(log), log.name, options=IngestOptions(cache_dir=d, tz="Europe/Berlin"))
    c = cache.cache_key(log, str(log), log.name, options=IngestOptions(cache_dir=d, strict=True))
    assert a != b and a == c


def test_a_broken_cache_entry_is_ignored(write, tmp_path):
    log = _big_log(write)
    opts = IngestOptions(cache_dir=str(tmp_path / "cache"))
    first = ingest([log], options=opts)
    for p in (tmp_path / "cache").glob("*.events.parquet"):
        p.write_bytes(b"garbage")
    again = ingest([log], options=opts)
    assert again.events.equals(first.events)


def test_cli_no_cache_writes_nothing_and_cache_dir_is_used(write, tmp_path):
    log = _big_log(write, name="in/app.jsonl")
    cdir = tmp_path / "c"
    res = CliRunner().invoke(cli, ["ingest", str(log.parent), "-q", "--no-cache", "--cache-dir", str(cdir)])
    assert res.exit_code == 0 and not cdir.exists()
    res = CliRunner().invoke(cli, ["ingest", str(log.parent), "-q", "--cache-dir", str(cdir)])
    # events part, rejects, report, and the "latest" record of an appendable file
    assert res.exit_code == 0 and sorted(n.split(".", 1)[1] for n in os.listdir(cdir)) == [
        "events.0.parquet", "json", "latest", "rejects.parquet"]


def _grown_equals_fresh(log, opts):
    cached = ingest([log], options=opts)
    fresh = ingest([log], options=IngestOptions(cache_dir=None))
    assert cached.events.equals(fresh.events)
    assert cached.rejects.equals(fresh.rejects)
    assert cached.accounting.to_json() == fresh.accounting.to_json()
    return cached


def test_appended_file_parses_only_the_new_lines(write, tmp_path, monkeypatch):
    log = _big_log(write)
    opts = IngestOptions(cache_dir=str(tmp_path / "cache"))
    ingest([log], options=opts)
    for round_ in range(2):  # appended twice: each time only the new part
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"ts": 1698950000 + round_, "user_id": f"late{round_}", "event": "y"}) + "\nbad\n")
        fresh = ingest([log], options=IngestOptions(cache_dir=None))
        with monkeypatch.context() as m:
            reads = _record_reads(m)
            res = ingest([log], options=opts)
        assert reads == []  # extended from the cache entry, not read in full
        assert res.events.equals(fresh.events) and res.rejects.equals(fresh.rejects)
        assert res.accounting.to_json() == fresh.accounting.to_json()
        assert f"late{round_}" in res.events["user"].to_list()
        assert res.rejects["line"].to_list()[-1] == 3001 + 2 * (round_ + 1)


def test_a_rewritten_file_is_read_again_in_full(write, tmp_path, monkeypatch):
    log = _big_log(write)
    opts = IngestOptions(cache_dir=str(tmp_path / "cache"))
    ingest([log], options=opts)
    text = log.read_text(encoding="utf-8").replace('"u3', '"u9', 1)  # same length, other content
    log.write_text(text + json.dumps({"ts": 1698950000, "user_id": "late"}) + "\n", encoding="utf-8")
    reads = _record_reads(monkeypatch)
    _grown_equals_fresh(log, opts)
    # the prefix hash did not match: read in full once for the cached run, once fresh
    assert reads == [str(log), str(log)]


def test_appended_stack_trace_log_is_read_again_in_full(write, tmp_path, monkeypatch):
    lines = [f"2023-11-02 16:00:{i % 60:02d},000 ERROR [main] c.e.Svc - failed {i}\n\tat c.e.Svc.x(Svc.java:1)"
             for i in range(2000)]
    log = write("svc.log", "\n".join(lines) + "\n")
    opts = IngestOptions(cache_dir=str(tmp_path / "cache"))
    ingest([log], options=opts)
    with open(log, "a", encoding="utf-8") as fh:
        fh.write("\tat c.e.Svc.y(Svc.java:2)\n")  # continues the last cached event
    reads = _record_reads(monkeypatch)
    res = _grown_equals_fresh(log, opts)
    assert reads == [str(log), str(log)]  # not extended: read in full (cached run, then fresh run)
    assert res.events.sort("line")["message"][-1].endswith("Svc.java:2)")
