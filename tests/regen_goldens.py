"""Rewrite every golden file from the current code (the test run never does).

Usage, from the repository root::

    python tests/regen_goldens.py                      # all goldens
    python tests/regen_goldens.py --only formats       # tests/golden/<folder>/expected*.jsonl
    python tests/regen_goldens.py --only terminal      # tests/golden/report/*.txt
    python tests/regen_goldens.py --only timeline      # tests/fixtures/timeline/bursts.txt

Then read ``git diff tests/``: the golden files are the spec, a change must
be intended. Prints each file it rewrote with "changed" or "unchanged" and
exits 0. The CLI runs use a throwaway cache folder (``XDG_CACHE_HOME``), so
no cached scan from another code version is replayed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

TESTS = Path(__file__).resolve().parent
sys.path[:0] = [str(TESTS.parent), str(TESTS)]  # this tree's forensics and the test helpers

import golden_util as gu  # noqa: E402

KINDS = ("formats", "terminal", "timeline")


def _report(path: Path, before: bytes | None) -> None:
    state = "unchanged" if path.exists() and path.read_bytes() == before else "changed"
    print(f"{state:9} {path.relative_to(gu.REPO)}")


def _snapshot(path: Path) -> bytes | None:
    return path.read_bytes() if path.exists() else None


def regen_formats() -> None:
    """Rewrite ``expected.jsonl`` and ``expected_rejects.jsonl`` of every
    format golden folder (an unknown folder is an error: map it in
    ``golden_util.FORMAT_GOLDENS``)."""
    folders = sorted(p.name for p in gu.GOLDEN.iterdir() if (p / gu.INPUT_FILE).exists())
    unknown = sorted(set(folders) - set(gu.FORMAT_GOLDENS))
    if unknown:
        raise SystemExit(f"golden folders without a format in golden_util.FORMAT_GOLDENS: {unknown}")
    for name, fmt in gu.FORMAT_GOLDENS.items():
        folder = gu.GOLDEN / name
        files = [folder / gu.EVENTS_FILE, folder / gu.REJECTS_FILE]
        before = [_snapshot(f) for f in files]
        gu.write_golden(fmt, folder)
        for f, b in zip(files, before):
            _report(f, b)


def regen_terminal() -> None:
    """Rewrite the terminal report goldens (``tests/golden/report/``)."""
    gu.TERMINAL_GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
    for name in gu.TERMINAL_GOLDENS:
        path = gu.TERMINAL_GOLDEN_DIR / name
        before = _snapshot(path)
        path.write_text(gu.terminal_golden_text(name), encoding="utf-8")
        _report(path, before)


def regen_timeline() -> None:
    """Rewrite the expected bursts of every timeline stage fixture case."""
    before = _snapshot(gu.STAGE_FIXTURE)
    gu.STAGE_FIXTURE.write_text(gu.stage_fixture_text(), encoding="utf-8")
    _report(gu.STAGE_FIXTURE, before)


def main(argv: list[str] | None = None) -> int:
    """Parse ``--only`` and rewrite the chosen goldens."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=KINDS, action="append",
                        help="rewrite only this kind of golden (repeatable; default: all)")
    args = parser.parse_args(argv)
    jobs = {"formats": regen_formats, "terminal": regen_terminal, "timeline": regen_timeline}
    with tempfile.TemporaryDirectory(prefix="forensics-regen-") as cache:
        os.environ["XDG_CACHE_HOME"] = cache
        for kind in args.only or KINDS:
            jobs[kind]()
    print("now read `git diff tests/`: the golden files are the spec")
    return 0


if __name__ == "__main__":
    sys.exit(main())
