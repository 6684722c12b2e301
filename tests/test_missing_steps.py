"""Missing steps: "never reached: X" with a depletion test, and censoring."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from forensics.mining.labeled import classify_sessions, mine_labeled
from forensics.mining.missing import depletion, missing_steps, missing_to_json, step_table
from tests.test_labeled import block_rows, keys, timeline_of


def test_steps_failing_sessions_never_reach_are_reported():
    tl = timeline_of(block_rows(incomplete={0, 1, 2, 3}))
    res = mine_labeled(tl, keys(range(8)))
    steps = {m.step for m in res.missing}
    assert steps == {"PacketResponder <num> for block blk_<n> terminating",
                     "BLOCK* NameSystem.addStoredBlock: blockMap updated: <ip> is added to blk_<n> size <num>"}
    m = res.missing[0]
    assert (m.failing_missing, m.failing_sessions, m.control_reached, m.control_sessions) == (4, 8, 72, 72)
    assert m.significant and m.q_value <= 0.05 and m.risk_ratio > 2
    assert m.explanation.startswith("never reached: ")
    assert set(m.example_sessions) <= keys(range(4))


def test_steps_everyone_reaches_are_not_missing():
    tl = timeline_of(block_rows())
    assert mine_labeled(tl, keys(range(8))).missing == ()


def test_steps_failing_sessions_miss_as_often_as_others_are_not_reported():
    # half of the incomplete blocks are normal: no depletion
    tl = timeline_of(block_rows(incomplete={0, 1, 40, 41, 42, 43, 44, 45, 46, 47}))
    assert mine_labeled(tl, keys(range(8))).missing == ()


def test_depletion_matches_fishers_exact_test():
    a, c, n1, n0 = np.array([3, 10, 0]), np.array([90, 85, 95]), 12, 100
    got = depletion(a, c, n1, n0)["p"]
    want = [stats.fisher_exact([[x, n1 - x], [y, n0 - y]], alternative="less")[1] for x, y in zip(a, c)]
    assert np.allclose(got, want)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 30), st.integers(1, 30), st.integers(0, 200), st.integers(1, 200))
def test_depletion_p_is_a_probability_and_pmin_bounds_it(a, n1, c, n0):
    a, c = min(a, n1), min(c, n0)
    d = depletion(np.array([a]), np.array([c]), n1, n0)
    assert 0.0 <= d["p"][0] <= 1.0
    assert d["pmin"][0] <= d["p"][0] + 1e-12


def test_young_sessions_are_not_judged_for_slow_steps():
    # step 1 comes 100 s after the start in control sessions; sessions 8-9
    # started 10 s before the end of the log: censored, not "missing"
    sess = np.r_[np.arange(10), np.arange(2, 8)]
    code = np.r_[np.zeros(10, int), np.ones(6, int)]
    start = np.r_[np.zeros(8), [390, 390]] * 1_000_000
    ts = np.r_[start, np.full(6, 100 * 1_000_000)].astype(np.int64)
    fail = np.arange(10) < 2
    ctrl = ~fail
    t = step_table(code, sess, fail, ctrl, 2, ts=ts, end=400 * 1_000_000)
    row = t.row(1, named=True)
    assert row["delay_us"] == 100 * 1_000_000
    assert (row["control_judged"], row["control_reached"], row["failing_judged"]) == (6, 6, 2)
    p = SimpleNamespace(code=code, sess=sess, ts=ts, vocab=("start", "done"), session_keys=tuple(map(str, range(10))),
                        failing=fail, control=ctrl)
    found, _ = missing_steps(p, end=400 * 1_000_000)
    assert found and found[0].failing_sessions == 2 and found[0].control_sessions == 6
    assert found[0].delay_s == pytest.approx(100.0)


def test_classify_flags_blocks_that_miss_a_step():
    tl = timeline_of(block_rows(incomplete={0, 1, 2, 3}))
    res = mine_labeled(tl, keys(range(8)))
    later = timeline_of(block_rows(20, failing=set(), incomplete={3, 9}, seed=5))
    flags = classify_sessions(later, res, top_k=0)
    assert set(flags.filter("flagged")["session_key"].to_list()) == keys({3, 9})
    assert flags.filter("flagged")["missing_step"].is_not_null().all()
    assert classify_sessions(later, res, top_k=0, missing=False).filter("flagged").height == 0


def test_missing_step_json_keeps_the_suspect_keys():
    tl = timeline_of(block_rows(incomplete={0, 1, 2, 3}))
    m = mine_labeled(tl, keys(range(8))).missing[0]
    doc = missing_to_json(m)
    for k in ("rank", "sequence", "burst_ids", "lead_time_s", "sessions", "users", "p_value", "q_value",
              "risk_ratio", "resources", "explanation", "example_sessions", "significant", "collapsed"):
        assert k in doc
    assert doc["kind"] == "missing_step" and doc["sequence"] == [m.step]
