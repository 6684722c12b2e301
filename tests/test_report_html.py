"""``scan --html``: one self-contained page, log content escaped, and a real
headless Chromium run (skipped when Chromium is missing).

The Chromium test writes its screenshot to ``$FORENSICS_ARTIFACTS`` when set
(CI keeps it), else to pytest's temporary folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_report_helpers import chromium, hostile_result, run_chromium, sample_result

from forensics.report.assets import (PLOTLY_JS_FILE, PLOTLY_JS_PACKAGE, PLOTLY_JS_SHA256, PLOTLY_JS_VERSION,
                                     plotly_js, vendor_file)
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


MAX_PAGE_BYTES = 1_500_000


def _without_library(page: str) -> str:
    """The page minus the inlined chart library (our own markup and scripts)."""
    assert plotly_js() in page, "the vendored plotly.js is inlined, whole"
    return page.replace(plotly_js(), "")


def test_page_is_self_contained(page):
    ours = _without_library(page)
    assert "<script src" not in ours and "<link" not in ours and "@import" not in ours
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", ours)
    assert not re.search(r"url\(", ours)
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    assert "Plotly.newPlot" in ours


def test_page_on_sample_logs_is_small_and_loads_nothing_from_the_network(page):
    size = len(page.encode("utf-8"))
    assert size <= MAX_PAGE_BYTES, f"report is {size:,} bytes, more than {MAX_PAGE_BYTES:,}"
    tags = re.findall(r"<(?:script|link|style|img|iframe)\b[^>]*>", page, re.I)
    assert tags, "the page has its script and style elements"
    for tag in tags:
        assert not re.search(r"\b(?:src|href)\s*=", tag, re.I), f"{tag} loads a resource"
    assert not re.search(r"@import|url\(\s*['\"]?(?:https?:)?//", page, re.I)
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page).group(1)
    assert "default-src 'none'" in csp and "connect-src 'none'" in csp and "http" not in csp


def test_vendored_chart_library_is_the_recorded_npm_file():
    data = vendor_file(PLOTLY_JS_FILE)
    assert hashlib.sha256(data).hexdigest() == PLOTLY_JS_SHA256
    assert f"plotly.js (basic - minified) v{PLOTLY_JS_VERSION}" in data[:200].decode()
    readme = vendor_file("README.md").decode()
    assert f"{PLOTLY_JS_PACKAGE}@{PLOTLY_JS_VERSION}" in readme and PLOTLY_JS_SHA256 in readme
    assert "MIT License" in vendor_file("LICENSE").decode()


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
    assert r.mining.suspects, "sample_logs/ has a suspect to show"
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
    blobs = re.findall(r'data-figure="[^"]+">(.*?)</script>', html, re.S)
    assert len(blobs) >= 4
    for blob in blobs:
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
    """The DOM after the page's scripts ran; fails on any console message
    (uncaught errors, console.error/warn/log) Chromium logged."""
    proc = run_chromium(path.as_uri(), "--virtual-time-budget=5000", "--enable-logging=stderr", "--v=0",
                        "--dump-dom")
    stderr = proc.stderr.decode(errors="replace")
    assert proc.returncode == 0, stderr[-2000:]
    console = [line for line in stderr.splitlines() if ":CONSOLE" in line]
    assert not console, "\n".join(console[:5])
    return proc.stdout.decode("utf-8", errors="replace")


def _attr(dom: str, name: str) -> str:
    m = re.search(rf'{name}="([^"]*)"', dom)
    assert m, f"{name} missing: the page's scripts did not run"
    return m.group(1)


def _drawn_charts(dom: str) -> dict[str, str]:
    """Figure id -> the DOM from its chart element to the next one."""
    parts = re.split(r'<div class="chart[^"]*" id="(fig-\d+)"', dom)
    return dict(zip(parts[1::2], parts[2::2]))


def _marks(svg: str) -> int:
    """Bars and markers plotly.js drew (one path with a shape per data point)."""
    return (len(re.findall(r'<g class="point"><path d="M[^"]+"', svg))
            + len(re.findall(r'<path class="point"[^>]*\bd="M[^"]+"', svg)))


def _points(fig: dict) -> int:
    return sum(len(t["x"]) for t in fig["data"] if t["type"] == "bar" or "markers" in t.get("mode", ""))


@needs_chromium
def test_chromium_renders_every_chart_without_script_errors(tmp_path):
    path = tmp_path / "report.html"
    write_html(sample_result(), path)
    page = path.read_text(encoding="utf-8")
    dom = _dump(path)
    assert _attr(dom, "data-errors") == "0", _attr(dom, "data-error-messages")
    n = int(_attr(dom, "data-figures"))
    assert n >= 4 and _attr(dom, "data-figures-drawn") == str(n)
    charts = _drawn_charts(dom)
    figs = dict(re.findall(r'<script type="application/json" data-figure="([^"]+)">(.*?)</script>', page, re.S))
    assert sorted(charts) == sorted(figs) and len(charts) == n
    for fid, svg in charts.items():
        assert 'class="plot-container plotly"' in svg and 'class="main-svg"' in svg, fid
        assert re.search(r'class="[xy]tick"', svg), f"{fid}: no axis ticks drawn"
        want = _points(json.loads(figs[fid]))
        assert want > 0 and _marks(svg) == want, f"{fid}: drew {_marks(svg)} of {want} bars/markers"

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
    assert n >= 4 and _attr(dom, "data-figures-drawn") == str(n)
    assert "<script>alert(1)</script>" not in dom and "<img src" not in dom
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom  # in the page text and in the charts' SVG text
