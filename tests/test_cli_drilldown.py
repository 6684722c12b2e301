"""The drill-down command ``scan`` prints runs as printed and shows the same suspect."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from forensics.cli import cli
from shared_data import shared_dir

REPO = Path(__file__).resolve().parents[1]
HDFS = "datasets/hdfs_loglead_2pct"


def hdfs_shared() -> Path | None:
    """The shared folder when it holds the HDFS sample."""
    shared = shared_dir()
    return shared if (shared / HDFS / "HDFS_2pct.log").is_file() else None


def _invoke(args, **kw):
    return CliRunner().invoke(cli, args, catch_exceptions=False, **kw)


def drilldown_line(stdout: str) -> str:
    (line,) = [x for x in stdout.splitlines() if x.startswith("Drill down: ")]
    return line.removeprefix("Drill down: ")


def scan_suspect_1(stdout: str) -> str:
    m = re.search(r"^ #1  (.*?)\n\s+(?:bursts|failing with it) ", stdout, re.S | re.M)
    assert m, stdout
    return " ".join(m[1].split())


def show_suspect(stdout: str) -> str:
    m = re.search(r"^Suspect #1  (.*?)\n\s+q ", stdout, re.S | re.M)
    assert m, stdout
    return " ".join(m[1].split())


def scan_then_show(scan_args: list[str]) -> tuple[str, str, list[str]]:
    scan = _invoke(["scan", *scan_args, "-q", "--no-color"])
    assert scan.exit_code == 0, scan.output
    command = shlex.split(drilldown_line(scan.stdout))
    assert command[:2] == ["forensics", "show"]
    show = _invoke(command[1:] + ["-q", "--no-color"])
    assert show.exit_code == 0, show.output
    return scan_suspect_1(scan.stdout), show_suspect(show.stdout), command


def test_printed_drilldown_on_the_sample_shows_the_same_suspect(monkeypatch):
    monkeypatch.chdir(REPO)
    scanned, shown, command = scan_then_show(["sample_logs/", "--max-gap", "2", "--lookback", "10m"])
    assert scanned == shown and "switch_language" in shown
    assert command == ["forensics", "show", "sample_logs/", "--suspect", "1"]  # defaults are not repeated


def test_printed_drilldown_carries_non_default_options_and_long_paths_whole(tmp_path):
    logs = tmp_path / ("a very long folder name with spaces and 'quotes' " * 3).strip()
    logs.mkdir()
    for f in (REPO / "sample_logs").rglob("*"):
        if f.is_file():
            (logs / f.name).write_bytes(f.read_bytes())
    scanned, shown, command = scan_then_show([str(logs), "--session-gap", "45m", "--top", "5", "--no-templates"])
    assert scanned == shown
    assert command[2] == str(logs)
    assert command[3:] == ["--session-gap", "45m", "--no-templates", "--top", "5", "--suspect", "1"]


def test_printed_drilldown_on_hdfs_with_failing_shows_the_same_suspect():
    shared = hdfs_shared()
    if shared is None:
        pytest.skip(f"HDFS sample not found under {shared_dir()} (set FORENSICS_SHARED)")
    data = shared / HDFS
    scanned, shown, command = scan_then_show([str(data / "HDFS_2pct.log"), "--session-pattern", r"blk_-?\d+",
                                              "--failing", str(data / "anomaly_label.csv")])
    assert scanned == shown
    assert command[command.index("--session-pattern") + 1] == r"blk_-?\d+"
    assert command[command.index("--failing") + 1] == str(data / "anomaly_label.csv")


def test_printed_drilldown_is_terminal_safe_and_one_line(tmp_path):
    logs = tmp_path / "evil\x1b]0;T\x07name\nnext"
    logs.mkdir()
    for f in (REPO / "sample_logs").rglob("*"):
        if f.is_file():
            (logs / f.name).write_bytes(f.read_bytes())
    res = _invoke(["scan", str(logs), "-q", "--no-color"])
    assert res.exit_code == 0, res.output
    line = drilldown_line(res.stdout)
    assert "\x1b" not in res.stdout and "\x07" not in res.stdout
    assert line.startswith("forensics show ") and line.endswith(" --suspect 1")
    assert "evilname⏎next" in line  # shown whole, escape sequence removed, newline made visible
