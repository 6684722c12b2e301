"""Regenerate docs/img/terminal-report.png and docs/img/html-report.png from
sample_logs/ (needs headless Chromium: Debian package ``chromium``).

    python docs/make_screenshots.py

The terminal report is recorded by rich at 100 columns, exported as SVG
(web-font URLs removed, so nothing is fetched) and photographed by Chromium;
the HTML report is written by ``write_html`` and photographed the same way.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
IMG = REPO / "docs" / "img"


def chromium_screenshot(url: str, png: Path, width: int, height: int) -> None:
    """Screenshot ``url`` with headless Chromium, no network side traffic."""
    exe = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
    if exe is None:
        sys.exit("headless Chromium not found (Debian: apt-get install -y chromium)")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", "--hide-scrollbars", "--virtual-time-budget=5000",
             f"--window-size={width},{height}", f"--screenshot={png}", url],
            check=True, capture_output=True, timeout=180,
        )


def terminal_svg(result) -> tuple[str, int, int]:
    """The terminal report as rich's SVG, its web fonts replaced by local ones."""
    from rich.console import Console

    from forensics.cli.render_scan import WIDTH, render_scan

    console = Console(record=True, width=WIDTH, file=io.StringIO(), force_terminal=True,
                      color_system="truecolor", highlight=False, emoji=False)
    render_scan(result, console=console)
    svg = console.export_svg(title="forensics scan sample_logs/")
    svg = re.sub(r",?\s*url\([^)]*\)\s*format\([^)]*\)", "", svg)  # no font downloads
    svg = svg.replace('font-family: Fira Code, monospace', 'font-family: "DejaVu Sans Mono", monospace')
    w, h = re.search(r'viewBox="0 0 ([\d.]+) ([\d.]+)"', svg).groups()
    return svg, int(float(w)) + 1, int(float(h)) + 1


def main() -> None:
    sys.path.insert(0, str(REPO))
    from forensics.report.html import write_html
    from forensics.scan import run_scan

    os.chdir(REPO)
    os.environ.pop("NO_COLOR", None)
    result = run_scan(["sample_logs/"])
    IMG.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        svg, w, h = terminal_svg(result)
        svg_path = Path(tmp) / "terminal.svg"
        svg_path.write_text(
            f"<!DOCTYPE html><html><body style='margin:0;background:#fff'>{svg}</body></html>", encoding="utf-8")
        page = svg_path.with_suffix(".html")
        svg_path.rename(page)
        chromium_screenshot(page.as_uri(), IMG / "terminal-report.png", w, h)
        html = Path(tmp) / "report.html"
        write_html(result, html)
        chromium_screenshot(html.as_uri(), IMG / "html-report.png", 1400, 2000)
    for name in ("terminal-report.png", "html-report.png"):
        print(IMG / name, (IMG / name).stat().st_size, "bytes")


if __name__ == "__main__":
    main()
