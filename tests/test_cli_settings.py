"""One settings path: the option group of scan/show/bursts, its defaults, the
settings it builds and the options that give them back; option checks."""

from __future__ import annotations

import json
import shlex

import pytest
from click.testing import CliRunner

from forensics.cli import cli
from forensics.cli.options import build_scan_settings, fmt_duration, reproduce_args
from forensics.errors import ExitCode
from forensics.ingest.cache import default_cache_dir
from forensics.mining.model import MiningOptions
from forensics.scan import ScanSettings
from forensics.timeline.model import TimelineOptions

#: scan options that do not change its result: outputs, and where ingest runs
#: (the Spark engine gives the local engine's result, tests/test_spark_engine.py)
OUTPUT_ONLY = {"as_json", "export_dir", "export_events", "html_path", "no_color", "postmortem_path", "engine",
               "spark_master", "spark_conf"}


def _params(name: str) -> dict:
    return {p.name: p for p in cli.commands[name].params}


def _settings(argv: list[str]) -> ScanSettings:
    ctx = cli.commands["scan"].make_context("scan", ["x.log", *argv])
    return build_scan_settings(ctx.params)


def test_show_takes_every_scan_option_and_bursts_every_input_and_timeline_option():
    scan, show, bursts = _params("scan"), _params("show"), _params("bursts")
    assert set(scan) - OUTPUT_ONLY <= set(show)
    for name in ("session_pattern", "no_templates", "failing_path", "failing_id_column", "failing_label_column",
                 "failing_values", "failing_scope", "incident", "lookback", "max_span", "session_gap"):
        assert name in show, name
    assert {"session_pattern", "no_templates", "incident", "session_gap", "bin_", "tz"} <= set(bursts)
    for name in set(scan) & set(show):
        assert scan[name].default == show[name].default, name


def test_defaults_come_from_the_settings_dataclasses():
    scan = _params("scan")
    assert scan["lookback"].default == fmt_duration(MiningOptions().lookback_s) == "10m"
    assert scan["max_span"].default == fmt_duration(MiningOptions().max_span_s) == "30m"
    assert scan["session_gap"].default == fmt_duration(TimelineOptions().session_gap_s) == "30m"
    built = _settings([])
    assert built.mining == MiningOptions() and built.timeline == TimelineOptions()
    assert built.ingest.cache_dir == str(default_cache_dir()) and built.failing is None
    help_text = " ".join(CliRunner().invoke(cli, ["scan", "--help"]).output.split())
    assert "(90s, 10m). [default: 10m]" in help_text and "one occurrence. [default: 30m]" in help_text


@pytest.mark.parametrize("argv", [
    [],
    ["--lookback", "90s", "--max-span", "2h", "--session-gap", "45m", "--bin", "10s", "--max-len", "4",
     "--max-gap", "0", "--max-support", "0.005", "--alpha", "0.1", "--top", "3", "--client-errors"],
    ["--tz", "Europe/Berlin", "--format", "jsonl", "--user-field", "uid", "--strict", "--keep-duplicates",
     "--no-cache", "--incident", "16:10..16:30", "--session-pattern", r"blk_-?\d+", "--no-templates"],
    ["--failing", "labels.csv", "--failing-id-column", "Id", "--failing-label-column", "L",
     "--failing-values", "bad,worse", "--failing-scope", "whole", "--cache-dir", "/tmp/somewhere else"],
])
def test_reproduced_options_give_the_same_settings(argv):
    settings = _settings(argv)
    args = reproduce_args(settings)
    assert _settings(shlex.split(shlex.join(args))) == settings
    assert len(args) <= len(argv)  # only the non-default ones


def test_unknown_time_zone_is_a_one_line_usage_error(tmp_path):
    log = tmp_path / "a.jsonl"
    log.write_text('{"ts": "2023-11-02T10:00:00", "user": "u1"}\n')
    for cmd in ("scan", "show", "bursts", "ingest"):
        extra = ["--suspect", "1"] if cmd == "show" else []
        res = CliRunner().invoke(cli, [cmd, str(log), "--tz", "Mars/Olympus", "-q", *extra])
        assert res.exit_code == ExitCode.USAGE, (cmd, res.output)
        assert res.stderr.count("\n") == 1 and "unknown time zone 'Mars/Olympus'" in res.stderr, res.stderr


def _days_log(tmp_path, days):
    log = tmp_path / "days.jsonl"
    rows = [{"ts": f"2023-11-0{d}T{h:02d}:00:00Z", "user": f"u{h % 3}", "action": "view", "level": "info"}
            for d in days for h in range(0, 24, 2)]
    log.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return log


def test_time_of_day_incident_on_a_log_of_several_days_is_a_usage_error(tmp_path):
    log = _days_log(tmp_path, [1, 2, 3])
    res = CliRunner().invoke(cli, ["bursts", str(log), "-q", "--incident", "09:00..09:10"])
    assert res.exit_code == ExitCode.USAGE
    assert "spans 3 days (2023-11-01, 2023-11-02, 2023-11-03)" in res.stderr and "ISO" in res.stderr
    ok = CliRunner().invoke(cli, ["bursts", str(log), "-q", "--json", "--incident",
                                  "2023-11-02T09:00..2023-11-02T09:10"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["bursts"][0]["user_given"] is True


def test_bursts_on_a_log_without_errors_says_so(tmp_path):
    log = _days_log(tmp_path, [1])
    res = CliRunner().invoke(cli, ["bursts", str(log), "-q"])
    assert res.exit_code == 0, res.output
    assert "no errors in 12 events" in res.stdout
    assert "No error bursts found." in res.stdout
    assert "max 1 errors" not in res.stdout


def test_failing_file_matching_no_session_is_a_data_error(tmp_path):
    log = tmp_path / "app.jsonl"
    log.write_text("".join(json.dumps({"ts": f"2023-11-02T10:{i:02d}:00Z", "user": "u1", "session": f"s{i % 4}",
                                       "action": "view"}) + "\n" for i in range(40)))
    labels = tmp_path / "labels.csv"
    labels.write_text("id,label\nblk_1,Anomaly\nblk_2,Anomaly\nblk_3,Normal\n")
    res = CliRunner().invoke(cli, ["scan", str(log), "-q", "--no-cache", "--failing", str(labels)])
    assert res.exit_code == ExitCode.DATA, res.output
    assert res.stderr.count("\n") == 1
    assert "none of its 2 failing ids matched a session" in res.stderr
    assert "'blk_1'" in res.stderr and "'s0'" in res.stderr


def test_show_prints_a_long_action_name_on_one_line(tmp_path):
    action = "download_the_complete_course_material_archive"
    log = tmp_path / "app.jsonl"
    log.write_text("".join(json.dumps({"ts": f"2023-11-02T10:{i:02d}:00Z", "user": "u1", "session": "s1",
                                       "action": action if i == 3 else "view"}) + "\n" for i in range(10)))
    res = CliRunner().invoke(cli, ["show", str(log), "-q", "--no-cache", "--no-color", "--session", "s1"],
                             env={"COLUMNS": "160"})
    assert res.exit_code == 0, res.output
    assert any(action in line for line in res.stdout.splitlines()), res.stdout
