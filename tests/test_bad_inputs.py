"""The bad-input table (docs/reliability.md, "Bad inputs"): one test per row.

Broken, hostile and huge inputs never crash ingest, never lose a line without
counting it, and are reported with the file name.
"""

from __future__ import annotations

import builtins
import bz2
import gzip
import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import polars as pl
import pytest
import zstandard
from click.testing import CliRunner

import forensics.ingest as ingest_mod
import forensics.ingest.reader as reader_mod
from forensics.cli import cli
from forensics.errors import DataError, ExitCode, InputError
from forensics.ingest import IngestOptions, ingest

REPO = Path(__file__).resolve().parent.parent


def _j(ts: str, **kw) -> str:
    return json.dumps({"ts": ts, **kw})


def _jsonl(n: int, *, start: int = 0, **kw) -> str:
    return "".join(_j(f"2023-11-02T10:{(start + i) // 60 % 60:02d}:{(start + i) % 60:02d}Z", n=start + i, **kw) + "\n"
                   for i in range(n))


def _cli(*args: str):
    return CliRunner().invoke(cli, list(args))


# ------------------------------------------------------------------ empty inputs


def test_empty_file_is_skipped_with_a_message_and_counted(write, tmp_path):
    write("empty.log", b"")
    write("a.jsonl", _jsonl(2))
    res = ingest([tmp_path])
    doc = res.accounting.to_json()
    assert doc["skipped_files"] == [{"path": str(tmp_path / "empty.log"), "reason": "empty file"}]
    assert doc["files"] == 1 and res.events.height == 2
    out = _cli("ingest", str(tmp_path))
    assert out.exit_code == ExitCode.OK
    assert f"skipped: {tmp_path / 'empty.log'}: empty file" in out.stderr


def test_only_an_empty_file_gives_no_events_and_exit_ok(write, tmp_path):
    p = write("empty.log", b"")
    res = ingest([p])
    assert res.events.height == 0 and res.accounting.errors == ()
    assert _cli("ingest", str(p), "-q").exit_code == ExitCode.OK


def test_empty_folder_is_a_one_line_error_naming_it(write, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="no log files in folder"):
        ingest([empty])
    out = _cli("ingest", str(empty))
    assert out.exit_code == ExitCode.NO_INPUT
    assert out.stderr == f"forensics: {empty}: no log files in folder\n"
    write("logs/a.jsonl", _jsonl(1))
    res = ingest([tmp_path / "logs", empty])
    assert res.events.height == 1
    assert res.accounting.errors == (f"{empty}: no log files in folder",)
    assert _cli("ingest", str(tmp_path / "logs"), str(empty), "-q").exit_code == ExitCode.PARTIAL


# ------------------------------------------------------------------ binary files

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00" + bytes(range(256)) * 8
CORE = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x04\x00\x3e\x00\x01\x00\x00\x00" + bytes(range(256)) * 16


def test_binary_files_in_a_folder_are_skipped_with_a_message_and_counted(write, tmp_path):
    write("logs/shot.dat", PNG)  # an image under a log-like name
    write("logs/core.1234", CORE)
    write("logs/app.jsonl", _jsonl(3))
    res = ingest([tmp_path / "logs"])
    doc = res.accounting.to_json()
    assert sorted(s["path"] for s in doc["skipped_files"]) == sorted(
        [str(tmp_path / "logs/shot.dat"), str(tmp_path / "logs/core.1234")])
    assert {s["reason"] for s in doc["skipped_files"]} == {"binary content"}
    assert doc["files"] == 1 and doc["events"] == 3 and doc["malformed"] == 0
    out = _cli("ingest", str(tmp_path / "logs"))
    assert out.exit_code == ExitCode.OK
    assert out.stderr.count(": binary content\n") == 2 and f"skipped: {tmp_path / 'logs/core.1234'}" in out.stderr


def test_zero_filled_region_after_a_crash_keeps_the_text_lines(write, tmp_path):
    # A crash can leave a block of NUL bytes where the last writes should be.
    p = write("app.jsonl", _jsonl(3).encode() + b"\x00" * 5000 + b"\n" + _jsonl(1, start=10).encode())
    res = ingest([p])
    (f,) = res.accounting.files
    assert f.skipped is None and f.events == 4 and f.malformed == 1 and f.balanced()
    assert "5000 NUL bytes" in f.damage


def test_nul_bytes_late_in_a_line_do_not_cut_the_line(write, tmp_path):
    p = write("app.log", b"x" * 9000 + b"\n2023-11-02 10:00:00,000 INFO a\x00b user=u1 tail\n")
    res = ingest([p], options=IngestOptions(format="plain"))
    assert res.events["message"].str.contains("tail").any()


# ------------------------------------------------------------ truncated archives

TEXT = _jsonl(60_000).encode()  # ~3.5 MB: several bzip2 blocks and zstd blocks
COMPRESS = {"gzip": gzip.compress, "bzip2": bz2.compress, "zstd": zstandard.compress}


@pytest.mark.parametrize("kind", sorted(COMPRESS))
def test_truncated_archive_keeps_readable_lines_and_reports_the_file(kind, write, tmp_path):
    blob = COMPRESS[kind](TEXT)
    p = write(f"app.jsonl.1.{kind}", blob[: len(blob) * 3 // 4])
    res = ingest([p])
    (f,) = res.accounting.files
    assert f.compression == kind and f.damage and kind in f.damage
    assert 0 < f.events < 60_000 and f.malformed == 0, "only whole lines before the damage are kept"
    assert f.balanced()
    out = _cli("ingest", str(p), "-q", "--json")
    assert json.loads(out.stdout)["by_file"][0]["damage"] == f.damage
    out = _cli("ingest", str(p))
    assert f"warning: {p}: {kind} stream" in out.stderr


@pytest.mark.parametrize("kind", sorted(COMPRESS))
def test_strict_fails_fast_on_a_damaged_archive(kind, write, tmp_path):
    blob = COMPRESS[kind](TEXT)
    p = write(f"a.jsonl.{kind}", blob[: len(blob) // 2])
    with pytest.raises(DataError, match="stream"):
        ingest([p], options=IngestOptions(strict=True))
    assert _cli("ingest", str(p), "--strict").exit_code == ExitCode.DATA


# ------------------------------------------------------------------ encodings


def test_invalid_utf8_is_replaced_counted_and_warned(write, tmp_path):
    p = write("a.jsonl", _j("2023-11-02T10:00:00Z", user="u1").encode() + b"\n"
              + b'{"ts": "2023-11-02T10:00:01Z", "user": "caf\xe9"}\n')
    res = ingest([p])
    assert res.accounting.to_json()["invalid_utf8_lines"] == 1
    assert res.events["user"].to_list() == ["u1", "caf\ufffd"]
    out = _cli("ingest", str(p))
    assert "1 lines were not UTF-8" in out.stderr


# ------------------------------------------------------------------ a huge line


def test_ten_megabyte_line_is_handled_counted_and_shortened_in_messages(write, tmp_path):
    huge = "{" + "x" * (10 * 1024 * 1024)  # not valid JSON
    big_msg = "m" * (10 * 1024 * 1024)
    p = write("a.jsonl", _j("2023-11-02T10:00:00Z", message=big_msg) + "\n" + huge + "\n" + _jsonl(1, start=5))
    res = ingest([p])
    (f,) = res.accounting.files
    assert (f.lines, f.events, f.malformed) == (3, 2, 1)
    assert len(res.events["message"][0]) == len(big_msg), "event content is kept whole"
    assert len(res.rejects["text"][0]) == len(huge), "the rejects table keeps the line whole"
    out = _cli("ingest", str(p))
    assert out.exit_code == ExitCode.OK
    assert max(len(line) for line in out.stderr.splitlines()) < 400
    assert "…" in out.stderr


# ----------------------------------------------------------- order, skew, copies


def test_lines_out_of_order_and_skewed_sources_are_merged_by_time(write, tmp_path):
    write("a/app.jsonl", "".join(_j(f"2023-11-02T10:00:0{s}Z", src="a", n=s) + "\n" for s in (5, 1, 3)))
    # The other host's clock is 2 hours ahead: its events stay where its clock put them.
    write("b/app.jsonl", "".join(_j(f"2023-11-02T12:00:0{s}+02:00", src="b", n=s) + "\n" for s in (4, 2)))
    res = ingest([tmp_path])
    assert res.events["ts"].is_sorted()
    assert [json.loads(a)["n"] for a in res.events["attrs"]] == [1, 2, 3, 4, 5]


def test_overlapping_rotations_drop_exact_duplicates_unless_kept(write, tmp_path):
    write("app.jsonl.1", _jsonl(10))
    write("app.jsonl", _jsonl(10, start=6))  # copytruncate overlap: 4 lines twice
    res = ingest([tmp_path])
    assert res.events.height == 16 and res.accounting.duplicates == 4
    out = _cli("ingest", str(tmp_path), "--json", "-q")
    assert json.loads(out.stdout)["duplicates_dropped"] == 4
    out = _cli("ingest", str(tmp_path), "--json", "-q", "--keep-duplicates")
    doc = json.loads(out.stdout)
    assert doc["duplicates_dropped"] == 0 and doc["events"] == 20


# ------------------------------------------------------- missing, unreadable


def test_missing_path_is_one_line_error_and_other_files_are_processed(write, tmp_path):
    write("a.jsonl", _jsonl(2))
    gone = tmp_path / "gone.log"
    out = _cli("ingest", str(tmp_path / "a.jsonl"), str(gone), "--json")
    assert out.exit_code == ExitCode.PARTIAL
    assert json.loads(out.stdout)["events"] == 2
    assert f"error: {gone}: no such file or folder" in out.stderr
    out = _cli("ingest", str(gone), str(tmp_path / "a.jsonl"), "--strict")
    assert out.exit_code == ExitCode.NO_INPUT
    assert out.stderr == f"forensics: {gone}: no such file or folder\n"


@pytest.fixture
def deny_open(monkeypatch):
    """Simulate permission errors (tests run as root, who can read anything):
    opening any path whose name contains "secret" raises PermissionError."""
    real_open = builtins.open

    def fake_open(file, *args, **kwargs):
        if "secret" in str(file):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(reader_mod, "open", fake_open, raising=False)


def test_permission_denied_names_the_path_and_other_files_are_processed(deny_open, write, tmp_path):
    write("logs/secret.jsonl", _jsonl(2))
    write("logs/ok.jsonl", _jsonl(3))
    res = ingest([tmp_path / "logs"])
    assert res.events.height == 3
    assert res.accounting.errors == (f"{tmp_path / 'logs/secret.jsonl'}: permission denied",)
    out = _cli("ingest", str(tmp_path / "logs"), "-q")
    assert out.exit_code == ExitCode.PARTIAL
    out = _cli("ingest", str(tmp_path / "logs"), "--strict")
    assert out.exit_code == ExitCode.NO_INPUT
    assert out.stderr == f"forensics: {tmp_path / 'logs/secret.jsonl'}: permission denied\n"


def test_unlistable_subfolder_is_reported_and_the_rest_is_read(monkeypatch, write, tmp_path):
    write("logs/ok.jsonl", _jsonl(1))
    write("logs/locked/x.jsonl", _jsonl(1))
    real_scandir = os.scandir

    def fake_scandir(path="."):
        if str(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", fake_scandir)
    res = ingest([tmp_path / "logs"])
    assert res.events.height == 1
    assert res.accounting.errors == (f"{tmp_path / 'logs/locked'}: cannot list folder: Permission denied",)


def test_fifo_in_a_folder_is_never_opened(write, tmp_path):
    write("logs/ok.jsonl", _jsonl(1))
    os.mkfifo(tmp_path / "logs/pipe.log")  # opening it would block forever
    res = ingest([tmp_path / "logs"])
    assert res.events.height == 1
    assert res.accounting.to_json()["skipped_files"] == [
        {"path": str(tmp_path / "logs/pipe.log"), "reason": "not a regular file"}]
    with pytest.raises(InputError, match="not a regular file"):
        ingest([tmp_path / "logs/pipe.log"])


# --------------------------------------------------------------- timestamps


def test_timestamps_far_in_the_past_or_future_are_rejected_with_a_reason(write, tmp_path):
    future = datetime.now(timezone.utc).year + 5
    p = write("a.jsonl", "\n".join([
        _j("2023-11-02T10:00:00Z", n=1),
        _j("1970-01-01T00:00:00Z", n=2),  # unset clock
        _j(f"{future}-01-01T00:00:00Z", n=3),
        _j("2023-11-02T10:00:01Z", n=4),
    ]) + "\n")
    res = ingest([p])
    assert [json.loads(a)["n"] for a in res.events["attrs"]] == [1, 4]
    reasons = dict(zip(res.rejects["line"], res.rejects["reason"]))
    assert reasons[2].startswith("timestamp before 1990-01-01")
    assert reasons[3].startswith("timestamp in the future")
    (f,) = res.accounting.files
    assert f.malformed == 2 and f.balanced()


def test_daylight_saving_transitions_in_local_time_logs(write, tmp_path):
    # Europe/Berlin: 2023-03-26 02:00 -> 03:00 (spring forward), 2023-10-29 03:00 -> 02:00 (fall back).
    p = write("app.log", "".join(f"{t},000 INFO app: n={i}\n" for i, t in enumerate([
        "2023-03-26 01:59:00",  # CET  -> 00:59Z
        "2023-03-26 02:30:00",  # does not exist in Berlin: rejected
        "2023-03-26 03:00:00",  # CEST -> 01:00Z
        "2023-10-29 02:30:00",  # happens twice: the earlier (CEST) reading -> 00:30Z
        "2023-10-29 03:30:00",  # CET  -> 02:30Z
    ])))
    res = ingest([p], options=IngestOptions(tz="Europe/Berlin"))
    got = [t.strftime("%m-%d %H:%M") for t in res.events["ts"]]
    assert got == ["03-26 00:59", "03-26 01:00", "10-29 00:30", "10-29 02:30"]
    assert res.rejects.select("line", "reason").rows() == [(2, "no readable timestamp")]


def test_mixed_offsets_in_one_file_are_normalized_to_utc(write, tmp_path):
    p = write("a.jsonl", "\n".join(_j(t, n=i) for i, t in enumerate([
        "2023-11-02T18:14:58+02:00", "2023-11-02T16:14:58Z", "2023-11-02T11:14:58-0500",
        "2023-11-02 16:14:58 UTC", "1698941698",
    ])) + "\n")
    res = ingest([p])
    assert res.events.height == 5
    assert set(res.events["ts"].dt.strftime("%H:%M:%S")) == {"16:14:58"}


# ------------------------------------------------------------------ bombs


def _bomb(kind: str, total_gb: int) -> bytes:
    """A small file that inflates to ``total_gb`` GiB (many members/frames of
    a compressed 64 MiB run of one byte)."""
    member = COMPRESS[kind](b"A" * (64 * 1024 * 1024))
    return member * (total_gb * 16)


@pytest.mark.parametrize("kind", sorted(COMPRESS))
def test_compression_bomb_stops_at_max_bytes_and_is_reported(kind, write, tmp_path):
    p = write(f"bomb.log.{kind}", _bomb(kind, 20))  # 20 GiB once inflated
    t0 = time.perf_counter()
    res = ingest([p], options=IngestOptions(max_bytes=8 * 1024 * 1024))
    assert time.perf_counter() - t0 < 30, "not read to exhaustion"
    (f,) = res.accounting.files
    assert "stopped after 8388608 bytes (--max-bytes)" in f.damage
    assert f.lines == 1 and f.balanced()
    out = _cli("ingest", str(p), "--max-bytes", str(1024 * 1024))
    assert "--max-bytes" in out.stderr and str(p) in out.stderr


# ------------------------------------------------------------------ Ctrl-C


def _big_input(folder: Path, files: int = 8, rows: int = 250_000) -> None:
    folder.mkdir()
    for i in range(files):
        pl.DataFrame({
            "ts": pl.datetime_range(datetime(2023, 11, 2, 10), datetime(2023, 11, 2, 18), "100ms", eager=True)
            .head(rows).dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ"),
            "user": [f"u{j % 5000}" for j in range(rows)],
            "action": ["open_course"] * rows,
            "file": [i] * rows,
        }).write_ndjson(folder / f"app{i}.jsonl")


def test_ctrl_c_exits_130_and_leaves_no_partial_output(tmp_path):
    _big_input(tmp_path / "logs")
    out = tmp_path / "out.parquet"
    env = {**os.environ, "NO_COLOR": "1"}
    # Say "ready" once the (slow to import) CLI is loaded, then run it.
    code = "import sys; from forensics.cli import main; print('ready', file=sys.stderr, flush=True); main()"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "ingest", str(tmp_path / "logs"), "-o", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )
    assert proc.stderr.readline() == b"ready\n"
    time.sleep(1.0)  # inside the ingest of 2M lines
    assert proc.poll() is None, "input too small: the run ended before the interrupt"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == ExitCode.INTERRUPTED == 130, err.decode()[-2000:]
    assert b"interrupted" in err and b"Traceback" not in err
    assert not out.exists()
    assert list(tmp_path.glob(".out.parquet.*.tmp")) == []


def test_interrupt_during_an_export_removes_the_temporary_file(monkeypatch, tmp_path):
    import pyarrow.parquet as pq

    from forensics.io import write_parquet

    def half_write(table, where, **kw):
        Path(where).write_bytes(b"PAR1 half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(pq, "write_table", half_write)
    target = tmp_path / "out.parquet"
    with pytest.raises(KeyboardInterrupt):
        write_parquet(pl.DataFrame({"a": [1]}), target)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------- many small files


def _many(root: Path, n: int) -> None:
    for i in range(n):
        sub = root / f"h{i % 20}"
        sub.mkdir(parents=True, exist_ok=True)
        if i % 3 == 0:
            (sub / f"f{i}.jsonl").write_text(_jsonl(3, start=i, user=f"u{i}"))
        elif i % 3 == 1:
            (sub / f"f{i}.log").write_text("".join(
                f"2023-11-02 10:{i % 60:02d}:{j:02d},000 INFO app: user=u{i} n={j}\n  continued {j}\n" for j in range(2)))
        else:
            (sub / f"f{i}.log").write_text(
                f"  orphan continuation\n2023-11-02 11:00:{i % 60:02d},000 ERROR db: boom user=u{i}\n")


def test_a_folder_of_many_small_files_works_with_bounded_open_files(tmp_path):
    _many(tmp_path / "logs", 600)
    peak = {"fds": 0}

    def progress(stage, done, total):
        peak["fds"] = max(peak["fds"], len(os.listdir("/proc/self/fd")))

    before = len(os.listdir("/proc/self/fd"))
    res = ingest([tmp_path / "logs"], progress=progress)  # time per file: bench/bench_many_files.py
    doc = res.accounting.to_json()
    assert doc["files"] == 600 and not doc["errors"]
    assert doc["lines"] == doc["events"] + doc["continuation_lines"] + doc["blank_lines"] + doc["malformed"]
    assert doc["malformed"] == 200  # the orphan continuation lines, one per third file
    assert peak["fds"] <= before + 4


def test_small_files_parsed_in_batches_match_files_parsed_one_by_one(tmp_path, monkeypatch):
    """The batch path must give exactly what per-file parsing gives: the sample
    logs cut into 9-line files (so many start inside a multi-line event)."""
    root = tmp_path / "logs"
    for src in sorted((REPO / "sample_logs").rglob("*")):
        if not src.is_file() or src.suffix in (".md", ".json", ".gz"):
            continue
        lines = src.read_bytes().splitlines(keepends=True)[:450]
        for k in range(0, len(lines), 9):
            dst = root / src.parent.name / f"{src.stem}_{k // 9:04d}{src.suffix}"
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_bytes(b"".join(lines[k:k + 9]))
    batched = ingest([root])
    monkeypatch.setattr(ingest_mod, "SMALL_FILE", -1)
    single = ingest([root])
    assert batched.accounting == single.accounting
    assert batched.events.equals(single.events)
    assert batched.rejects.equals(single.rejects)
    assert batched.accounting.to_json()["malformed"] > 0  # files that start mid-event were seen


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("FORENSICS_SLOW"), reason="set FORENSICS_SLOW=1 (takes ~2 minutes)")
def test_a_folder_of_100k_small_files(tmp_path):
    _many(tmp_path / "logs", 100_000)
    res = ingest([tmp_path / "logs"])  # time per file: bench/bench_many_files.py
    doc = res.accounting.to_json()
    assert doc["files"] == 100_000 and doc["malformed"] == 33_333


def test_jsonl_field_first_seen_after_line_100_is_kept(write, tmp_path):
    lines = [_j("2023-11-02T10:00:00Z", n=i) for i in range(150)] + [_j("2023-11-02T10:00:01Z", user="late")]
    res = ingest([write("big.jsonl", ("\n".join(lines) + "\n") * 40)])  # > SMALL_FILE: the per-file path
    assert "late" in res.events["user"].to_list()


def test_outputs_get_the_usual_file_mode_not_mkstemps_0600(tmp_path):
    import os

    import polars as pl

    from forensics.io import write_parquet

    target = tmp_path / "out.parquet"
    write_parquet(pl.DataFrame({"a": [1]}), target)
    umask = os.umask(0)
    os.umask(umask)
    assert (target.stat().st_mode & 0o777) == (0o666 & ~umask)
