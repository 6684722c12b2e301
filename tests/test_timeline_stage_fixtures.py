"""The timeline stage against the fixture file ``tests/fixtures/timeline/bursts.txt``.

Each case lists synthetic event streams and the expected ``bursts`` of
``forensics bursts --json`` (reviewed by hand).  Regenerate after an
intended change with ``FORENSICS_UPDATE_GOLDEN=1 python -m pytest
tests/test_timeline_stage_fixtures.py`` and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from timeline_fixtures import load_cases

from forensics.timeline import TimelineOptions, build_timeline
from forensics.timeline.export import bursts_to_json

FIXTURE = Path(__file__).parent / "fixtures" / "timeline" / "bursts.txt"
CASES = load_cases(FIXTURE)


def _bursts(case) -> list:
    return bursts_to_json(build_timeline(case["events"], options=TimelineOptions(**case["options"])))["bursts"]


@pytest.mark.parametrize("case", CASES, ids=[c["title"][:60] for c in CASES])
def test_stage_fixture_bursts_match_expected(case):
    assert _bursts(case) == case["expected"]["bursts"]


def test_update_golden():
    if not os.environ.get("FORENSICS_UPDATE_GOLDEN"):
        pytest.skip("set FORENSICS_UPDATE_GOLDEN=1 to rewrite the expected bursts")
    blocks = FIXTURE.read_text(encoding="utf-8").split("\n===\n")
    out = []
    for block, case in zip(blocks, CASES):
        head = block.partition("\n--\n")[0]
        out.append(head + "\n--\n" + json.dumps({"bursts": _bursts(case)}, indent=1) + "\n")
    FIXTURE.write_text("\n===\n".join(b.rstrip("\n") for b in out) + "\n", encoding="utf-8")
