"""Shared pytest fixtures, and a guard: the test run never rewrites goldens."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLE_LOGS = REPO / "sample_logs"

#: Variables that once made golden tests rewrite their files instead of comparing.
REGEN_VARIABLES = ("FORENSICS_REGEN", "FORENSICS_UPDATE_GOLDEN")


def pytest_configure(config):
    """Refuse to run when a regenerate variable is set: goldens are rewritten
    by ``python tests/regen_goldens.py``, and a test run always compares."""
    given = [name for name in REGEN_VARIABLES if name in os.environ]
    if given:
        raise pytest.UsageError(
            f"{' and '.join(given)} {'is' if len(given) == 1 else 'are'} set, but the tests no longer rewrite "
            "golden files: they always compare. Unset it, and regenerate goldens with the separate command "
            "`python tests/regen_goldens.py [--only formats|terminal|timeline]`, then read `git diff tests/`.")


@pytest.fixture
def write(tmp_path: Path):
    """Write a file under tmp_path (bytes or text) and return its path."""

    def _write(name: str, content: str | bytes) -> Path:
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            p.write_text(content, encoding="utf-8")
        else:
            p.write_bytes(content)
        return p

    return _write
