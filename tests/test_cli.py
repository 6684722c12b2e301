"""The command line: help texts, version, exit codes, stdout/stderr split."""

from __future__ import annotations

import json

import click
from click.testing import CliRunner

from forensics import __version__
from forensics.cli import cli
from forensics.errors import ExitCode


def _runner() -> CliRunner:
    return CliRunner()


def test_version_prints_name_and_version():
    res = _runner().invoke(cli, ["--version"])
    assert res.exit_code == 0
    assert res.output == f"forensics {__version__}\n"


def _all_commands():
    return sorted(cli.commands.items())


def test_every_command_and_option_has_help_text():
    assert cli.help
    for name, cmd in _all_commands():
        assert cmd.help and cmd.help.strip(), f"{name} has no help"
        for param in cmd.params:
            if isinstance(param, click.Option):
                assert param.help, f"{name} {param.opts} has no help"
        res = _runner().invoke(cli, [name, "--help"])
        assert res.exit_code == 0, res.output
        assert "Usage: " in res.output


def test_ingest_json_goes_to_stdout_and_summary_to_stderr(write, tmp_path):
    write("a.jsonl", '{"ts": "2023-11-02T10:00:00Z", "user": "u1"}\nnot json\n')
    res = CliRunner().invoke(cli, ["ingest", str(tmp_path), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert {k: doc[k] for k in ("files", "lines", "events", "continuation_lines", "blank_lines", "malformed")} == {
        "files": 1, "lines": 2, "events": 1, "continuation_lines": 0, "blank_lines": 0, "malformed": 1,
    }
    assert doc["by_format"] == {"jsonl": 1}
    assert doc["by_file"][0]["path"] == str(tmp_path / "a.jsonl")
    assert "malformed lines (first 1 of 1)" in res.stderr
    assert f"{tmp_path / 'a.jsonl'}:2: not a JSON object" in res.stderr


def test_ingest_writes_parquet_and_rejects(write, tmp_path):
    import polars as pl

    write("in/a.jsonl", '{"ts": "2023-11-02T10:00:00Z", "user": "u1"}\n{oops\n')
    out, rej = tmp_path / "ev.parquet", tmp_path / "rej.parquet"
    res = CliRunner().invoke(cli, ["ingest", str(tmp_path / "in"), "-o", str(out), "--rejects", str(rej), "-q"])
    assert res.exit_code == 0, res.output
    assert pl.read_parquet(out)["user"].to_list() == ["u1"]
    assert pl.read_parquet(rej).select("line", "reason").rows() == [(2, "invalid JSON")]


def test_missing_path_with_others_readable_exits_partial(write, tmp_path):
    write("a.jsonl", '{"ts": "2023-11-02T10:00:00Z"}\n')
    res = CliRunner().invoke(cli, ["ingest", str(tmp_path / "a.jsonl"), str(tmp_path / "gone"), "-q"])
    assert res.exit_code == ExitCode.PARTIAL


def test_nothing_readable_is_one_line_error_and_exit_code(tmp_path):
    res = CliRunner().invoke(cli, ["ingest", str(tmp_path / "gone")])
    assert res.exit_code == ExitCode.NO_INPUT
    assert res.stderr == f"forensics: {tmp_path / 'gone'}: no such file or folder\n"
    assert "Traceback" not in res.output


def test_traceback_flag_shows_the_traceback(tmp_path):
    res = CliRunner().invoke(cli, ["--traceback", "ingest", str(tmp_path / "gone")])
    assert res.exit_code == ExitCode.NO_INPUT
    assert "Traceback" in res.stderr


def test_bad_option_value_is_usage_error(tmp_path):
    res = CliRunner().invoke(cli, ["ingest", str(tmp_path), "--format", "nope"])
    assert res.exit_code == 2


def test_error_messages_are_sanitized(tmp_path):
    evil = tmp_path / "x\x1b]0;pwned\x07.log"
    res = CliRunner().invoke(cli, ["ingest", str(evil)])
    assert "\x1b" not in res.stderr and "\x07" not in res.stderr


def test_formats_lists_every_registered_format():
    from forensics.ingest.formats import names

    res = CliRunner().invoke(cli, ["formats", "--json"])
    rows = {r["name"]: r for r in json.loads(res.stdout)}
    for name in names():
        assert rows[name]["example"] and "\n" not in rows[name]["example"]  # one line to recognise the format by


def test_starting_the_cli_does_not_import_scipy_stats_or_numba():
    # scipy.stats (~1.5 s) and numba (~0.2 s) would be start-up that every command, even --version, pays
    import subprocess
    import sys

    code = "import sys, forensics.cli; print(sorted({'scipy.stats', 'numba'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
