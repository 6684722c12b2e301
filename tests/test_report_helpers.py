"""Shared helpers of the report tests (no tests here): the scan of
sample_logs/, a copy of it with hostile log content planted everywhere, and
a headless Chromium runner."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

import polars as pl

REPO = Path(__file__).resolve().parent.parent

#: Planted content: ANSI CSI/OSC, title-setting, OSC 8 hyperlinks, C1 CSI,
#: DCS, rich markup and HTML/script in action names, keys, user and session ids.
HOSTILE = {
    "switch_language": "switch_language[bold]X[/bold]\x1b]0;pwned-title\x07<script>alert(1)</script>",
    "course:840:content": "course:840:content\x1b]8;;http://evil.example/\x1b\\click\x1b]8;;\x1b\\\x1b[31m",
    "u0695": "u0695\x1b[2J[red]U[/red]\x9b31m",
    "content-cache": "content-cache\x1b[1;31m<img src=x onerror=alert(2)>\x1bP+q\x1b\\",
    "s-8333ee1696bc": "s-8333ee1696bc\x1b]2;title2\x1b\\[link=http://x]y[/link]",
}


@lru_cache(maxsize=1)
def sample_result():
    """``run_scan(["sample_logs/"])`` from the repository root (inputs as typed)."""
    from forensics.scan import run_scan

    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        return run_scan(["sample_logs/"])
    finally:
        os.chdir(cwd)


def _poison_str(s: str) -> str:
    for k, v in HOSTILE.items():
        s = s.replace(k, v)
    return s


def _chain(e: pl.Expr) -> pl.Expr:
    for k, v in HOSTILE.items():
        e = e.str.replace_all(k, v, literal=True)
    return e


def _poison_frame(df: pl.DataFrame) -> pl.DataFrame:
    exprs = []
    for name, dtype in df.schema.items():
        if dtype == pl.String:
            exprs.append(_chain(pl.col(name)))
        elif dtype == pl.List(pl.String):
            exprs.append(pl.col(name).list.eval(_chain(pl.element())))
    return df.with_columns(exprs) if exprs else df


def poison(obj):
    """``obj`` with every HOSTILE key replaced, deep through dataclasses,
    tuples, lists, dicts, strings and frames."""
    if isinstance(obj, str):
        return _poison_str(obj)
    if isinstance(obj, pl.DataFrame):
        return _poison_frame(obj)
    if isinstance(obj, tuple):
        return tuple(poison(x) for x in obj)
    if isinstance(obj, list):
        return [poison(x) for x in obj]
    if isinstance(obj, dict):
        return {poison(k): poison(v) for k, v in obj.items()}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        if type(obj).__name__.endswith("Options") or type(obj).__name__ == "ScanSettings":
            return obj
        return dataclasses.replace(obj, **{f.name: poison(getattr(obj, f.name))
                                           for f in dataclasses.fields(obj) if f.init})
    return obj


def hostile_result():
    """The sample scan with hostile content planted in every kind of log text."""
    return poison(sample_result())


def chromium() -> str | None:
    """Path of a headless-capable Chromium, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def run_chromium(url: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run headless Chromium on ``url`` with a throwaway profile and no
    background network traffic."""
    with tempfile.TemporaryDirectory() as profile:
        cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={profile}", *args, url]
        return subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
