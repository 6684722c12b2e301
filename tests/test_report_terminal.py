"""The terminal report of ``forensics scan`` and ``forensics show``: golden
text at 100 columns, colour switches, and sanitizing of hostile log content.

Regenerate the golden files with ``python tests/regen_goldens.py --only
terminal`` and read the diff: they are the spec of the report's layout.
"""

from __future__ import annotations

import io
import math
import os
import re

import pytest
from click.testing import CliRunner
from golden_util import REGENERATE_HINT, TERMINAL_GOLDEN_DIR, TERMINAL_GOLDENS, terminal_golden_text
from rich.console import Console
from test_report_helpers import HOSTILE, REPO, hostile_result, sample_result

from forensics.cli import cli
from forensics.cli.bursts_cmd import SPARK_CELLS
from forensics.cli.render_scan import render_scan
from forensics.cli.show_cmd import render_drilldown
from forensics.report.drilldown import suspect_drilldown
from forensics.report.text import fmt_p

SGR = re.compile(r"\x1b\[[0-9;]*m")
COLOR_SGR = re.compile(r"\x1b\[(?:[0-9;]*;)?(?:3[0-7]|9[0-7]|38;[25];[0-9;]+)(?:;[0-9;]*)?m")


def _invoke(*args, env=None):
    runner = CliRunner()
    old = os.getcwd()
    os.chdir(REPO)
    try:
        return runner.invoke(cli, list(args), env=env or {}, catch_exceptions=False)
    finally:
        os.chdir(old)


@pytest.fixture(scope="module")
def scan_out():
    args, env = TERMINAL_GOLDENS["scan_sample_logs.txt"]
    res = _invoke(*args, env=env)
    assert res.exit_code == 0, res.output
    return res


def _assert_golden(name: str, text: str) -> None:
    path = TERMINAL_GOLDEN_DIR / name
    assert path.exists(), f"{path} missing: {REGENERATE_HINT}"
    want = path.read_text(encoding="utf-8")
    assert want.strip(), f"{path} is empty"
    assert text == want, f"report differs from {path.name}; {REGENERATE_HINT}"


def test_scan_report_matches_golden_at_100_columns(scan_out):
    _assert_golden("scan_sample_logs.txt", scan_out.stdout)


def test_show_suspect_matches_golden_at_100_columns():
    _assert_golden("show_suspect_1.txt", terminal_golden_text("show_suspect_1.txt"))


def test_scan_report_fits_100_columns_and_has_every_section(scan_out):
    out = scan_out.stdout
    assert max(len(line) for line in out.splitlines()) <= 100
    for heading in ("forensics scan sample_logs/", "Span ", "Read ", "Error rate", "Error bursts",
                    "Burst 2 cascade:", "Suspects", "Verdict per burst", "Affected paths"):
        assert heading in out, heading
    r = sample_result()
    assert f"{r.ingest.accounting.to_json()['malformed']} malformed" in out


def test_header_names_each_file_and_line_with_malformed_input(scan_out):
    r = sample_result()
    assert r.ingest.rejects.height > 0, "sample_logs/ has malformed lines to name"
    for source, line in r.ingest.rejects.select("source", "line").iter_rows():
        block = next(s for s in scan_out.stdout.splitlines() if f"malformed: {source}:" in s)
        assert str(line) in block


def test_suspect_sequence_is_printed_once_with_its_explanation(scan_out):
    s = sample_result().mining.suspects[0]
    text = " -> ".join(s.sequence)
    flat = " ".join(scan_out.stdout.split())
    assert flat.count(text) == 1
    assert "touched course:840:content" in flat  # the explanation's linkage
    assert f"q {fmt_p(s.q_value)}" in flat and f"sessions {s.sessions}" in flat


def test_unexplained_burst_gets_honest_silence(scan_out):
    flat = " ".join(scan_out.stdout.split())
    assert "no user-action sequence stands out before burst 1" in flat
    assert "Burst 2 (16:15:00): preceded by suspect #1" in flat


def test_error_rate_line_marks_each_burst_and_onset(scan_out):
    lines = scan_out.stdout.splitlines()
    spark = next(i for i, s in enumerate(lines) if s.startswith("errors "))
    marks = lines[spark + 1]
    assert marks.startswith("bursts ")
    tl = sample_result().timeline
    per = math.ceil(tl.error_rate.height / SPARK_CELLS)
    first = tl.error_rate["bin_start"][0]
    cells = {int((o - first).total_seconds() // (tl.bin_s * per)) for b in tl.bursts for o in b.onsets}
    assert cells, "sample_logs/ has burst onsets to mark"
    assert [i - 7 for i, ch in enumerate(marks) if ch == "^"] == sorted(cells)
    assert "1" in marks and "2" in marks and "─" in marks
    # the hot cells of burst 2 sit above its marks
    col = marks.index("─")
    assert lines[spark][col] != " "


def test_no_color_flag_and_env_remove_colour_but_forced_terminal_has_it():
    coloured = _invoke("scan", "sample_logs/", "-q", env={"FORCE_COLOR": "1", "NO_COLOR": None})
    assert COLOR_SGR.search(coloured.stdout), "a forced terminal should get colour"
    flag = _invoke("scan", "sample_logs/", "-q", "--no-color", env={"FORCE_COLOR": "1", "NO_COLOR": None})
    env = _invoke("scan", "sample_logs/", "-q", env={"FORCE_COLOR": "1", "NO_COLOR": "1"})
    for res in (flag, env):
        assert res.exit_code == 0
        assert not COLOR_SGR.search(res.stdout)
        assert SGR.sub("", res.stdout) == SGR.sub("", coloured.stdout)


def test_progress_is_silent_when_stderr_is_not_a_terminal(scan_out):
    assert scan_out.stderr == ""


def _render_hostile() -> str:
    buf = io.StringIO()
    console = Console(file=buf, width=100, force_terminal=True, color_system="truecolor", highlight=False)
    result = hostile_result()
    render_scan(result, console=console)
    render_drilldown(suspect_drilldown(result, 1), console)
    return buf.getvalue()


def test_hostile_log_content_never_reaches_the_terminal_raw():
    out = _render_hostile()
    # the only escape sequences are rich's own colour/style codes
    assert not re.search(r"\x1b(?!\[[0-9;]*m)", out)
    assert "\x07" not in out and "\x9b" not in out and "\x90" not in out
    for gone in ("pwned-title", "title2", "http://evil.example", "\x1b]"):
        assert gone not in out
    plain = SGR.sub("", out)
    # rich markup in log text is shown literally, not interpreted
    assert "[bold]X[/bold]" in plain
    assert "[red]U[/red]" in plain
    assert "[link=http://x]y[/link]" in plain
    squeezed = re.sub(r"\s+", "", plain)
    assert "<script>alert(1)</script>" in squeezed  # harmless on a terminal, shown as text
    assert max(len(line) for line in plain.splitlines()) <= 100


def test_hostile_file_names_and_messages_are_sanitized_end_to_end(tmp_path):
    evil = tmp_path / "evil\x1b]0;T\x07[bold]name.jsonl"
    lines = []
    for i in range(240):
        lines.append(f'{{"ts":"2023-11-02T10:{i // 4:02d}:{(i % 4) * 15:02d}Z","level":"info","service":"web",'
                     f'"user_id":"u{i % 7}","action":"view","msg":"ok"}}')
    for i in range(40):
        lines.append(f'{{"ts":"2023-11-02T10:30:{i:02d}Z","level":"error","service":"db\\u001b[31m[blink]",'
                     f'"msg":"boom \\u001b]8;;http://evil/\\u0007link\\u001b]8;;\\u0007 \\u001b[2J[bold]B[/bold]"}}')
    lines.append("{not json \x1b[31m")
    evil.write_text("\n".join(lines) + "\n", encoding="utf-8")
    res = _invoke("scan", str(tmp_path), "-q", "--incident", "10:29..10:32", "--no-color",
                  env={"FORCE_COLOR": "1"})
    assert res.exit_code == 0, res.output
    out = res.stdout
    assert not re.search(r"\x1b(?!\[[0-9;]*m)", out) and "\x07" not in out
    assert "http://evil" not in out
    squeezed = re.sub(r"\s+", "", SGR.sub("", out))
    assert "evil[bold]name.jsonl" in squeezed  # file name of the malformed line, shown literally
    assert "db[blink]" in squeezed and "[bold]B[/bold]" in squeezed


def test_hostile_content_is_planted_in_the_report_at_all():
    # guard: the hostile fixture really reaches suspects, cascade, keys and sessions
    r = hostile_result()
    assert HOSTILE["switch_language"] in r.mining.suspects[0].sequence
    assert any(HOSTILE["content-cache"] == c.component for b in r.timeline.bursts for c in b.cascade)
    assert any(HOSTILE["course:840:content"] == x.resource for x in r.mining.suspects[0].resources)
