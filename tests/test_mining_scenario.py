"""Ranking quality on the realistic synthetic incident (tests/mining_fixtures.scenario).

~300 concurrent sessions, one action per 45 s, 8 hours (166k actions); a
4-step trigger completed 5-15 s before the onsets of bursts 1 and 2; a
coincidental rare sequence 1-4 min before burst 3 (a deploy: no user cause);
a harmless rare sequence three times far from any onset; retries after every
error.
"""

from __future__ import annotations

import polars as pl
import pytest

from forensics.mining import evidence_frame, mine, mining_to_json
from forensics.mining.closed import is_subsequence
from tests.mining_fixtures import COINCIDENCE, HARMLESS, POISONED_KEY, RETRY, TRIGGER, scenario

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def mined():
    sc = scenario(seed=7)
    return sc, mine(sc.timeline)


def _contains(seq, pattern) -> bool:
    return is_subsequence(tuple(pattern), tuple(seq))


def test_planted_trigger_is_the_significant_top_suspect_of_both_bursts(mined):
    _, result = mined
    top = result.suspects[0]
    assert top.rank == 1
    assert _contains(top.sequence, TRIGGER)  # the closed pattern (may carry steps both trigger users did before)
    assert top.sequence == TRIGGER or TRIGGER in top.collapsed
    assert top.q_value < 0.05 and top.significant
    assert top.burst_ids == (1, 2)
    assert all(5 <= lead.lead_s <= 15 for lead in top.lead_time_s)
    assert top.completions == 2


def test_trigger_resource_is_linked_in_the_explanation(mined):
    _, result = mined
    top = result.suspects[0]
    linked = [r for r in top.resources if r.resource == POISONED_KEY]
    assert linked and linked[0].errors_after > 0 and linked[0].step == TRIGGER[-1]
    assert POISONED_KEY in top.explanation and "errors from" in top.explanation


def test_coincidence_and_harmless_sequences_rank_below_and_are_not_significant(mined):
    _, result = mined
    assert result.suspects  # (the trigger)
    for s in result.suspects:
        assert not _contains(s.sequence, COINCIDENCE) and not _contains(s.sequence, HARMLESS)
    for s in result.runners_up:  # if shown at all, they are below the trigger
        if _contains(s.sequence, COINCIDENCE) or _contains(s.sequence, HARMLESS):
            assert s.rank > 1 and not s.significant


def test_after_error_retries_never_appear(mined):
    _, result = mined
    shown = [s.sequence for s in result.suspects + result.runners_up] + [a.sequence for a in result.affected_paths]
    shown += [c for s in result.suspects for c in s.collapsed]
    assert shown
    assert not any("retry" in seq for seq in shown)
    assert not any(_contains(seq, RETRY[:2]) for seq in shown)


def test_deploy_burst_gets_no_suspect_and_a_plain_note(mined):
    sc, result = mined
    verdict = {v.burst_id: v for v in result.burst_verdicts}
    assert verdict[sc.no_cause_burst].explained is False
    assert "no user-action sequence stands out before burst 3" in verdict[sc.no_cause_burst].note
    assert verdict[1].explained and verdict[2].explained
    assert all(sc.no_cause_burst not in s.burst_ids for s in result.suspects)


def test_affected_paths_are_frequent_paths_of_failing_sessions(mined):
    _, result = mined
    assert result.affected_paths
    n_sessions = mined[0].timeline.sessions.height
    for a in result.affected_paths:
        assert a.sessions >= 0.01 * n_sessions  # not rare: impact, not suspect
        assert 0 < a.share <= 1
    shares = [a.failing_sessions for a in result.affected_paths]
    assert shares == sorted(shares, reverse=True)


def test_json_contract_has_the_documented_keys(mined):
    _, result = mined
    doc = mining_to_json(result)
    assert {"suspects", "affected_paths", "burst_verdicts", "candidates_tested"} <= set(doc)
    s = doc["suspects"][0]
    assert {"rank", "sequence", "burst_ids", "lead_time_s", "sessions", "users", "baseline_rate_per_hour",
            "p_value", "q_value", "risk_ratio", "resources", "explanation", "example_sessions", "p_onset",
            "p_enrichment", "completions", "collapsed"} <= set(s)
    assert {"burst_id", "onset", "lead_s"} == set(s["lead_time_s"][0])
    assert {"resource", "touched_at", "step", "errors_after", "first_error_after"} <= set(s["resources"][0])
    assert doc["candidates_tested"] > 1000  # the trigger won against many tested hypotheses


def test_evidence_frame_lists_every_event_of_every_occurrence(mined):
    sc, result = mined
    ev = evidence_frame(result, sc.timeline)
    assert ev.columns == ["rank", "session", "user", "ts", "action", "component", "source", "line", "step"]
    top = ev.filter(pl.col("rank") == 1)
    n_steps = len(result.suspects[0].sequence)
    assert top["session"].n_unique() == 2
    assert sorted(top["step"].unique().to_list()) == list(range(1, n_steps + 1))
    assert top.filter(pl.col("step") == n_steps)["action"].unique().to_list() == [TRIGGER[-1]]
