"""``scan --html``: one self-contained page, log content escaped, and a real
headless Chromium run (skipped when Chromium is missing).

The Chromium test writes its screenshot to ``$FORENSICS_ARTIFACTS`` when set
(CI keeps it), else to pytest's temporary folder.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_report_helpers import chromium, hostile_result, run_chromium, sample_result

from forensics.report.html import render_html, script_json, write_html

needs_chromium = pytest.mark.skipif(
    chromium() is None, reason="headless Chromium not installed (Debian: apt-get install -y chromium)")


@pytest.fixture(scope="module")
def page():
    return render_html(sample_result())


@pytest.fixture(scope="module")
def hostile_page():
    return render_html(hostile_result())


def _figures(html: str) -> list[dict]:
    blobs = re.findall(r'<script type="application/json" data-figure="[^"]+">(.*?)</script>', html, re.S)
    return [json.loads(b) for b in blobs]


def test_page_is_self_contained(page):
    from plotly.offline import get_plotlyjs

    assert get_plotlyjs() in page  # plotly.js inlined, whole
    ours = page.replace(get_plotlyjs(), "")
    assert "<script src" not in ours and "<link" not in ours and "@import" not in ours
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", ours)
    assert not re.search(r"url\(", ours)
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    assert "Plotly.newPlot" in page and len(page) > 3_000_000  # plotly.js inlined


def test_page_has_rate_chart_cascades_suspects_and_session_timelines(page):
    figs = _figures(page)
    r = sample_result()
    titles = [f["layout"]["title"]["text"] for f in figs]
    assert titles[0].startswith("Error rate")
    assert sum(t.startswith("Burst ") for t in titles) == sum(1 for b in r.timeline.bursts if b.cascade)
    assert sum(t.startswith("Suspect #") for t in titles) == len(r.mining.suspects)
    rate = figs[0]
    shaded = [s for s in rate["layout"]["shapes"] if s["type"] == "rect"]
    assert len(shaded) == len(r.timeline.bursts)
    assert sum(rate["data"][0]["y"]) == r.timeline.error_rate["errors"].sum()
    for s in r.mining.suspects:
        assert f"<td>{s.rank}</td>" in page
    assert "no user-action sequence stands out before burst 1" in page


def test_session_chart_numbers_the_suspect_steps(page):
    fig = next(f for f in _figures(page) if f["layout"]["title"]["text"].startswith("Suspect #1"))
    steps = next(t for t in fig["data"] if t["name"] == "suspect step")
    n = len(sample_result().mining.suspects[0].sequence)
    assert sorted(set(steps["text"])) == [str(k) for k in range(1, n + 1)]
    assert max(x for x in steps["x"]) < 0  # every step before its onset (x = seconds from the onset)


def test_hostile_log_content_is_escaped_everywhere(hostile_page):
    html = hostile_page
    assert "<script>alert(1)</script>" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # shown, as text
    assert "\x1b" not in html and "\x07" not in html
    # inside the figure JSON nothing can close the script element
    for blob in re.findall(r'data-figure="[^"]+">(.*?)</script>', html, re.S):
        assert "<" not in blob and "\u2028" not in blob
    labels = json.dumps(_figures(html))
    assert "<script>" not in labels and "&lt;script&gt;" in labels  # plotly renders labels as HTML


@given(st.text())
def test_script_json_never_contains_markup_and_round_trips(text):
    out = script_json({"t": text})
    assert "<" not in out and ">" not in out and "&" not in out
    assert "\u2028" not in out and "\u2029" not in out
    assert json.loads(out) == {"t": text}


def test_write_html_is_atomic_and_complete(tmp_path):
    target = tmp_path / "report.html"
    write_html(sample_result(), target)
    text = target.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    assert os.listdir(tmp_path) == ["report.html"]


def _dump(path: Path) -> str:
    proc = run_chromium(path.as_uri(), "--virtual-time-budget=5000", "--dump-dom")
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    return proc.stdout.decode("utf-8", errors="replace")


def _attr(dom: str, name: str) -> str:
    m = re.search(rf'{name}="([^"]*)"', dom)
    assert m, f"{name} missing: the page's scripts did not run"
    return m.group(1)


@needs_chromium
def test_chromium_renders_every_chart_without_script_errors(tmp_path):
    path = tmp_path / "report.html"
    write_html(sample_result(), path)
    dom = _dump(path)
    assert _attr(dom, "data-errors") == "0", _attr(dom, "data-error-messages")
    n = int(_attr(dom, "data-figures"))
    assert n >= 4 and _attr(dom, "data-figures-drawn") == str(n)
    assert dom.count('class="plot-container plotly"') == n
    assert dom.count("main-svg") >= n
    assert re.search(r'<g class="point">|class="point"', dom)  # bars and markers drawn

    shot = tmp_path / "report.png"
    proc = run_chromium(path.as_uri(), "--virtual-time-budget=5000", "--hide-scrollbars",
                        f"--screenshot={shot}", "--window-size=1400,2000")
    assert proc.returncode == 0 and shot.exists()
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000
    keep = os.environ.get("FORENSICS_ARTIFACTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / "html-report.png")


@needs_chromium
def test_chromium_keeps_planted_script_as_text(tmp_path):
    path = tmp_path / "hostile.html"
    path.write_text(render_html(hostile_result()), encoding="utf-8")
    dom = _dump(path)
    assert _attr(dom, "data-errors") == "0", _attr(dom, "data-error-messages")
    n = int(_attr(dom, "data-figures"))
    assert _attr(dom, "data-figures-drawn") == str(n)
    assert "<script>alert(1)</script>" not in dom and "<img src" not in dom
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom  # in the page text and in the charts' SVG text
