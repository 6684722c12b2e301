"""The timeline stage against the fixture file ``tests/fixtures/timeline/bursts.txt``.

Each case lists synthetic event streams and the expected ``bursts`` of
``forensics bursts --json`` (reviewed by hand).  Regenerate after an
intended change with ``python tests/regen_goldens.py --only timeline`` and
review the diff.
"""

from __future__ import annotations

import pytest
from golden_util import STAGE_FIXTURE, stage_fixture_bursts
from timeline_fixtures import load_cases

CASES = load_cases(STAGE_FIXTURE)


def test_stage_fixture_file_has_cases_with_bursts():
    assert CASES, f"no cases in {STAGE_FIXTURE}"
    assert any(case["expected"]["bursts"] for case in CASES), "some case must expect a burst"


@pytest.mark.parametrize("case", CASES, ids=[c["title"][:60] for c in CASES])
def test_stage_fixture_bursts_match_expected(case):
    assert stage_fixture_bursts(case) == case["expected"]["bursts"]
