"""A suspect no failing (erring) session did has no risk ratio to print:
the corrected ratio would only restate the group sizes (issue 13 paper cut:
"risk ratio 340" for 0 failing sessions)."""

from __future__ import annotations

import dataclasses
import io

from rich.console import Console
from test_report_helpers import sample_result

from forensics.cli.render_scan import render_scan
from forensics.report.html import render_html


def _with_zero_failing(result):
    top = result.mining.suspects[0]
    zero = dataclasses.replace(top, failing_with=0, risk_ratio=340.0)
    mining = dataclasses.replace(result.mining, suspects=(zero, *result.mining.suspects[1:]))
    return dataclasses.replace(result, mining=mining)


def _terminal(result) -> str:
    buf = io.StringIO()
    render_scan(result, console=Console(file=buf, width=200, no_color=True, highlight=False))
    return buf.getvalue()


def test_terminal_report_prints_no_risk_ratio_for_a_suspect_no_failing_session_did():
    result = sample_result()
    assert result.mining.suspects, "the sample must have a suspect"
    before = _terminal(result)
    assert f"risk ratio {round(result.mining.suspects[0].risk_ratio)}" in before
    after = _terminal(_with_zero_failing(result))
    assert "risk ratio 340" not in after
    assert "risk ratio -" in after


def test_html_report_prints_no_risk_ratio_for_a_suspect_no_failing_session_did():
    html = render_html(_with_zero_failing(sample_result()))
    assert ">340<" not in html
