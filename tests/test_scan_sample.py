"""Issue 5's "Done when" on the committed ``sample_logs/`` (expectations from
its ``truth.json``): the whole scan, as ``forensics scan sample_logs/`` runs it.

Top-suspect rule (docs/statistics.md, "Credit, explaining away and ranking"):
the reported sequence is the trigger, or the trigger is listed in the top
suspect's ``collapsed`` (a closed super-sequence over the same occurrences).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from forensics.mining.closed import is_subsequence
from forensics.scan import ScanSettings, run_scan

SAMPLE = Path(__file__).resolve().parent.parent / "sample_logs"
TOLERANCE = timedelta(seconds=5)


def _t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def scan():
    truth = json.loads((SAMPLE / "truth.json").read_text())
    return truth, run_scan([SAMPLE], settings=ScanSettings())


def _is_trigger(suspect, trigger) -> bool:
    return suspect.sequence == trigger or trigger in suspect.collapsed


def _burst_id(result, onset: datetime) -> int:
    return next(b.id for b in result.timeline.bursts if any(abs(o - onset) <= TOLERANCE for o in b.onsets))


def test_top_suspect_is_the_planted_trigger_of_the_incident_burst(scan):
    truth, result = scan
    trigger = tuple(truth["trigger"]["sequence"])
    top = result.mining.suspects[0]
    assert _is_trigger(top, trigger) and top.significant and top.q_value <= 0.05
    incident = {_burst_id(result, _t(b["onset"])) for b in truth["bursts"] if b["kind"] == "incident"}
    assert set(top.burst_ids) == incident
    completions = [_t(x) for x in truth["trigger"]["completion_times"]]
    onsets = [lead.onset - timedelta(seconds=lead.lead_s) for lead in top.lead_time_s]
    assert len(onsets) == len(completions)
    assert all(any(abs(c - o) < timedelta(seconds=1) for o in onsets) for c in completions)


def test_trigger_cache_key_is_linked_through_the_occurrence_before_the_onset(scan):
    truth, result = scan
    top = result.mining.suspects[0]
    key = truth["trigger"]["cache_key"]
    linked = [r for r in top.resources if r.resource == key]
    assert linked and linked[0].errors_after > 0
    first = _t(truth["trigger"]["completion_times"][0])
    assert abs(linked[0].touched_at - first) < timedelta(seconds=1)  # not an earlier touch of the day
    assert linked[0].first_error_after > linked[0].touched_at
    assert key in top.explanation and "errors from" in top.explanation


def test_retry_rare_harmless_and_common_path_are_not_in_the_top_three(scan):
    truth, result = scan
    decoys = {d["kind"]: d for d in truth["decoys"]}
    top3 = [s.sequence for s in result.mining.suspects[:3]]
    assert top3
    for kind in ("retry_after_error", "rare_harmless", "common_path"):
        seq = tuple(decoys[kind]["sequence"])
        assert not any(is_subsequence(seq, s) for s in top3), kind


def test_deploy_burst_reports_no_significant_suspect(scan):
    truth, result = scan
    deploy = next(b for b in truth["bursts"] if b["kind"] == "unrelated_deploy")
    bid = _burst_id(result, _t(deploy["onset"]))
    verdict = {v.burst_id: v for v in result.mining.burst_verdicts}[bid]
    assert not verdict.explained and verdict.suspect_ranks == ()
    assert f"no user-action sequence stands out before burst {bid}" in verdict.note
    assert all(bid not in s.burst_ids for s in result.mining.suspects)


def test_coincidence_ranks_below_the_trigger(scan):
    truth, result = scan
    trigger = tuple(truth["trigger"]["sequence"])
    coincidence = tuple(next(d for d in truth["decoys"] if d["kind"] == "coincidence")["sequence"])
    shown = result.mining.suspects + result.mining.runners_up
    rank_of_trigger = next(s.rank for s in shown if _is_trigger(s, trigger))
    for s in shown:
        if is_subsequence(coincidence, s.sequence):
            assert s.rank > rank_of_trigger and not s.significant


def test_scan_json_carries_the_suspect_contract(scan):
    truth, result = scan
    doc = result.to_json()
    top = doc["suspects"][0]
    assert {"rank", "sequence", "burst_ids", "lead_time_s", "sessions", "users", "baseline_rate_per_hour",
            "p_value", "q_value", "risk_ratio", "resources", "explanation", "example_sessions"} <= set(top)
    assert truth["trigger"]["cache_key"] in {r["resource"] for r in top["resources"]}
    assert [v["explained"] for v in doc["burst_verdicts"]].count(False) == 1


def test_ingest_events_share_the_timeline_columns_they_have_in_common(scan):
    # the scan keeps the canonical events (user/session as read) and the timeline's
    # (filled by request linking); unchanged columns are one copy in memory
    from forensics.ingest import ingest
    from forensics.timeline import analysis_columns

    _, result = scan
    read = ingest([SAMPLE], options=result.settings.ingest, project=analysis_columns()).events
    assert result.ingest.events.equals(read)
    tl = result.timeline.events
    assert not read["user"].equals(tl["user"])  # linking filled some: that column keeps its own buffer
    def address(series):  # where a primitive column's values live (Arrow export is zero-copy)
        return series.rechunk().to_arrow().buffers()[1].address

    for c in ("ts", "line", "status", "latency_ms"):
        assert address(result.ingest.events[c]) == address(tl[c]), c
    assert address(read["line"]) != address(tl["line"])  # another ingest: its own buffers (the check can tell)
