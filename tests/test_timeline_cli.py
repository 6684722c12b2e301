"""``forensics bursts``: JSON document, rich rendering, options and exit codes."""

from __future__ import annotations

import json

import polars as pl
import pytest
from click.testing import CliRunner
from timeline_fixtures import incident_day

from forensics.cli import cli


@pytest.fixture(scope="module")
def day_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("logs") / "day.jsonl"
    ev = incident_day(recur=True).drop("source", "line", "format")
    ev.with_columns(pl.col("ts").dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ")).write_ndjson(path)
    return path


def _run(*args):
    return CliRunner().invoke(cli, ["bursts", *map(str, args), "-q"], catch_exceptions=False)


def test_json_document_has_bursts_onsets_cascade_and_error_rate(day_file):
    res = _run(day_file, "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert set(doc) == {"bursts", "bin_s", "error_rate"}
    (b,) = doc["bursts"]
    assert b["start"] == "2023-11-02T16:14:58Z"
    assert b["onsets"] == ["2023-11-02T16:14:58Z", "2023-11-02T16:45:30Z"]
    assert [c["component"] for c in b["cascade"]] == ["cache", "db", "content", "auth"]
    assert set(b) >= {"id", "end", "errors", "peak_per_min", "users_affected", "users_affected_share",
                      "sessions_affected", "sessions_affected_share", "user_given"}
    assert set(b["cascade"][0]) == {"component", "first_error", "errors", "error_kinds", "lead_s"}
    assert doc["bin_s"] == 60.0 and len(doc["error_rate"]) == 1440
    assert set(doc["error_rate"][0]) == {"bin_start", "events", "errors", "hot", "burst_id"}
    assert sum(r["errors"] for r in doc["error_rate"]) >= b["errors"]


def test_rendering_marks_the_burst_and_prints_the_cascade_within_100_columns(day_file):
    res = _run(day_file)
    assert res.exit_code == 0, res.output
    assert "cache 16:14:58 -> db +9 s" in res.output
    assert "16:14:58, 16:45:30" in res.output
    assert max(len(line) for line in res.output.splitlines()) <= 100


def test_incident_option_gives_a_user_given_burst(day_file):
    doc = json.loads(_run(day_file, "--json", "--incident", "16:00..17:00").output)
    (b,) = doc["bursts"]
    assert b["user_given"] is True and b["start"] == "2023-11-02T16:14:58Z"


@pytest.mark.parametrize("args", [["--incident", "nonsense"], ["--session-gap", "soon"], ["--bin", "0"]])
def test_bad_option_values_exit_with_usage_code(day_file, args):
    res = CliRunner().invoke(cli, ["bursts", str(day_file), "-q", *args])
    assert res.exit_code == 2
    assert "forensics:" in res.output


def test_bin_and_client_errors_options_reach_the_timeline(day_file):
    doc = json.loads(_run(day_file, "--json", "--bin", "5m", "--client-errors").output)
    assert doc["bin_s"] == 300.0 and len(doc["error_rate"]) == 288


def test_log_content_is_made_terminal_safe(tmp_path):
    evil = "\x1b]0;pwned\x07\x1b[31mBOOM"
    ev = incident_day(recur=False).with_columns(
        pl.when(pl.col("component") == "cache").then(pl.lit("cache" + evil)).otherwise(pl.col("component"))
        .alias("component"),
        pl.when(pl.col("component") == "cache").then(pl.lit(evil + " poisoned")).otherwise(pl.col("message"))
        .alias("message"),
    )
    path = tmp_path / "evil.jsonl"
    ev.drop("source", "line", "format").with_columns(pl.col("ts").dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ")).write_ndjson(path)
    res = _run(path)
    assert res.exit_code == 0, res.output
    assert "cacheBOOM" in res.output  # shown, with the escape sequences removed
    assert "\x1b" not in res.output and "\x07" not in res.output


def test_no_events_is_a_data_error(tmp_path):
    p = tmp_path / "empty.log"
    p.write_text("")
    res = CliRunner().invoke(cli, ["bursts", str(p), "-q"])
    assert res.exit_code == 4
