"""What every format's golden samples must show, for every sample under
``tests/golden/`` (one test per sample, so a new sample is covered by adding
its folder): the parse equals the expected files, and sniffing picks the
sample's format.  Each format's own test file holds what is particular to it."""

from __future__ import annotations

import pytest

from forensics.ingest import formats
from golden_util import FORMAT_GOLDENS, GOLDEN, assert_golden, golden_sample

SAMPLES = sorted(FORMAT_GOLDENS)


@pytest.mark.parametrize("folder", SAMPLES)
def test_golden_sample_matches_expected_events_and_rejects(folder):
    assert_golden(FORMAT_GOLDENS[folder], GOLDEN / folder)


@pytest.mark.parametrize("folder", SAMPLES)
def test_sniff_picks_the_samples_format(folder):
    assert formats.sniff(golden_sample(GOLDEN / folder)) == FORMAT_GOLDENS[folder]
