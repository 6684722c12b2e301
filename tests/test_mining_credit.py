"""Credit, explaining away and ranking (forensics/mining/credit.py) on a
hand-built day with known answers.

A 3-step trigger completes 5 s before the onsets of bursts 1 and 2 and its
last step writes key K, which then errs in both bursts.  Burst 3 has no user
cause, but two sequences complete shortly before it by chance: a trigger
sub-sequence done by a third user (20 s before), and an unrelated rare pair
whose other completion falls 30 s before burst 2.  Both are significant in
stage 1 (their evidence across two onsets is strong); neither may be credited
with burst 3.
"""

from __future__ import annotations

import numpy as np
import pytest

from forensics.mining import MiningOptions, mine, mining_to_json
from tests.mining_fixtures import Spec, build_timeline

T1, T2, T3 = 10_000.0, 16_000.0, 22_000.0
COMMON = ("view", "open", "read", "list", "search", "home", "help", "save")
OPTS = MiningOptions(max_support=0.05)


def _day(*, seed: int = 3, late_errors: int = 0) -> Spec:
    rng = np.random.default_rng(seed)
    spec = Spec()
    for i in range(200):
        t = float(rng.uniform(0, 27_000))
        for j in range(30):
            t += float(rng.exponential(40.0)) + 1
            spec.actions.append((f"bg{i:03d}", f"u{i}", t, COMMON[rng.integers(len(COMMON))], f"bg{i}-{j}", ()))

    def did(key: str, steps: list[tuple[float, str, tuple]]):
        for j, (t, a, res) in enumerate(steps):
            spec.actions.append((key, key, t, a, f"{key}-{j}", res))

    for key, end, before in (("trig1", T1 - 5, "view"), ("trig2", T2 - 5, "list")):
        did(key, [(end - 90, before, ()), (end - 60, "a", ()), (end - 30, "b", ()), (end, "c", ("K",)),
                  (end + 40, "read", ())])
    did("sub3", [(T3 - 80, "open", ()), (T3 - 50, "b", ()), (T3 - 20, "c", ()), (T3 + 60, "read", ())])
    did("x1", [(T3 - 60, "d", ()), (T3 - 15, "e", ())])
    did("x2", [(T2 - 70, "d", ()), (T2 - 30, "e", ())])
    for b, t0 in ((1, T1), (2, T2)):
        spec.errors += [(t0 + 2 * k, None, b, "K", "cache", "decode") for k in range(40)]
    spec.errors += [(T3 + 3 * k, None, 3, None, "web", "502") for k in range(30)]
    spec.errors += [(T3 + 3_000 + k, None, None, "K", "cache", "decode") for k in range(late_errors)]
    spec.bursts = [(1, [T1], T1 + 300), (2, [T2], T2 + 300), (3, [T3], T3 + 200)]
    return spec


@pytest.fixture(scope="module")
def result():
    return mine(build_timeline(_day()), options=OPTS)


def test_trigger_is_first_and_credited_with_the_incident_bursts_only(result):
    top = result.suspects[0]
    assert top.sequence == ("a", "b", "c") and top.significant
    assert top.burst_ids == (1, 2)
    assert [round(x.lead_s) for x in top.lead_time_s] == [5, 5]


def test_unrelated_burst_keeps_its_no_cause_verdict(result):
    verdict = {v.burst_id: v for v in result.burst_verdicts}
    assert verdict[1].explained and verdict[2].explained
    assert not verdict[3].explained and "no user-action sequence stands out before burst 3" in verdict[3].note
    assert all(3 not in s.burst_ids for s in result.suspects)


def test_sub_sequence_sharing_the_trigger_occurrences_is_listed_under_it(result):
    top = result.suspects[0]
    assert ("b", "c") in top.collapsed  # its onset-1/2 evidence is the trigger's; burst 3 alone is not enough
    assert all(s.sequence != ("b", "c") for s in result.suspects)


def test_chance_sequence_sharing_an_explained_onset_is_explained_away(result):
    assert result.suspects
    assert all(s.sequence != ("d", "e") for s in result.suspects)
    assert result.explained_away >= 1
    assert mining_to_json(result)["explained_away"] == result.explained_away


def test_linkage_counts_only_errors_inside_the_credited_burst():
    late = mine(build_timeline(_day(late_errors=25)), options=OPTS)
    top = late.suspects[0]
    k = next(r for r in top.resources if r.resource == "K")
    assert k.errors_after == 40  # burst 1's errors after the first occurrence; not the 25 late ones
    assert "K returned 40 errors" in top.explanation and "touched K at 10:46:35" in top.explanation
