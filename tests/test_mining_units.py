"""Unit behaviours of the mining statistics, linkage and edge cases."""

from __future__ import annotations

from math import comb

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from forensics.mining import MiningOptions, evidence_frame, mine, mining_to_json
from forensics.mining.candidates import grow, prepare
from forensics.mining.core import steps_frame
from forensics.mining.linkage import explanation, resource_links
from forensics.mining.occurrences import embedding, embeddings
from forensics.mining.stats import bh_qvalues, enrichment, holm_adjusted, minp_order, prob_hit, tarone_family
from tests.mining_fixtures import Spec, build_timeline


def test_order_statistic_combination_is_uniform_under_the_null():
    rng = np.random.default_rng(0)
    for m in (1, 3, 5):
        p = minp_order(rng.random((20000, m)))
        for a in (0.01, 0.05, 0.25):
            assert abs((p <= a).mean() - a) < 0.2 * a + 0.003


def test_order_statistic_combination_rewards_closeness_and_count():
    two_close = minp_order(np.array([[1e-3, 1e-3, 1.0, 1.0]]))[0]
    one_close = minp_order(np.array([[1e-3, 1.0, 1.0, 1.0]]))[0]
    two_far = minp_order(np.array([[5e-2, 5e-2, 1.0, 1.0]]))[0]
    assert two_close < one_close and two_close < two_far  # seconds before both beats one, or minutes
    assert two_close < 1e-4


def test_prob_hit_is_the_exact_hypergeometric_chance():
    n, r, N = 30, 4, 3
    exact = 1 - comb(n - r, N) / comb(n, N)
    assert prob_hit(n, np.array([r]), np.array([N]))[0] == pytest.approx(exact)
    assert prob_hit(n, np.array([n]), np.array([1]))[0] == pytest.approx(1.0)


def test_enrichment_matches_one_sided_fisher_exact():
    a, c, n1, n0 = np.array([4, 0, 2]), np.array([1, 3, 10]), 40, 400
    got = enrichment(a, c, n1, n0)
    for i in range(3):
        _, want = stats.fisher_exact([[a[i], n1 - a[i]], [c[i], n0 - c[i]]], alternative="greater")
        assert got["p"][i] == pytest.approx(want, rel=1e-9)
    rr = ((4 + .5) / (n1 + 1)) / ((1 + .5) / (n0 + 1))
    assert got["risk_ratio"][0] == pytest.approx(rr)


def test_bh_qvalues_are_monotone_and_scaled():
    p = np.array([0.001, 0.01, 0.02, 0.5])
    q = bh_qvalues(p)
    assert q.tolist() == pytest.approx([0.004, 0.02, 0.02 * 4 / 3, 0.5])


def _holm_rejects(p: np.ndarray, w: np.ndarray, alpha: float) -> np.ndarray:
    """Weighted Holm by its definition: step down in increasing p / w while
    p <= alpha w / (sum of the weights not yet rejected)."""
    left = list(np.lexsort((np.arange(len(p)), p / w)))
    out = np.zeros(len(p), dtype=bool)
    while left and p[left[0]] <= alpha * w[left[0]] / w[left].sum():
        out[left.pop(0)] = True
    return out


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.one_of(st.floats(0, 1e-3), st.floats(0, 1)), st.floats(0.1, 5.0)), min_size=1, max_size=12),
       st.booleans())
def test_holm_adjusted_p_values_reject_exactly_what_the_step_down_rejects(pw, weighted):
    p = np.array([x for x, _ in pw])
    w = np.array([y for _, y in pw]) if weighted else np.ones(len(pw))
    adj = holm_adjusted(p, w)
    for alpha in (1e-4, 1e-3, 0.01, 0.05, 0.2):
        assert ((adj <= alpha) == _holm_rejects(p, w, alpha)).all()
    assert (adj >= p - 1e-15).all() and (adj <= 1).all()


def test_weighted_holm_controls_the_family_wise_error_under_the_null():
    rng = np.random.default_rng(3)
    w = 1.0 / rng.integers(1, 8, size=50) ** 2  # the rarity prior's shape
    w = w * len(w) / w.sum()
    runs = 20000
    any_false = sum(bool((holm_adjusted(rng.random(50), w) <= 0.05).any()) for _ in range(runs))
    assert any_false / runs <= 0.05 + 3 * (0.05 * 0.95 / runs) ** 0.5
    assert any_false / runs >= 0.03  # not vacuous: close to the level with independent nulls


def test_tarone_drops_hypotheses_that_can_never_be_significant():
    pmin = np.r_[np.full(3, 1e-9), np.full(1000, 1e-3)]
    keep = tarone_family(pmin, 0.05)
    assert keep[:3].all() and not keep[3:].any()


def _spec_with_retry_after_error() -> Spec:
    spec = Spec()
    # 30 background sessions, 1 failing session whose retries come after its error
    for i in range(30):
        for j in range(6):
            spec.actions.append((f"s{i:02d}", f"u{i}", 10.0 * i + 20 * j, "view", f"s{i}-{j}", ("k:view",)))
    for j, (t, a) in enumerate([(500, "view"), (510, "open"), (530, "retry"), (540, "reload"), (550, "retry")]):
        spec.actions.append(("zfail", "uf", float(t), a, f"f-{j}", ()))
    spec.errors.append((520.0, "zfail", 1, "k:x", "cache", "http_5xx"))
    spec.bursts = [(1, [600.0], 700.0)]
    return spec


def test_after_error_actions_are_never_candidates():
    tl = build_timeline(_spec_with_retry_after_error())
    opts = MiningOptions(max_support=0.5)
    result = mine(tl, options=opts)
    seen = [s.sequence for s in result.suspects + result.runners_up] + [a.sequence for a in result.affected_paths]
    assert not any("retry" in s or "reload" in s for s in seen)
    p = prepare(tl, options=opts)
    grown = [tuple(p.vocab[c] for c in codes) for codes in grow(p, options=opts).patterns["codes"].to_list()]
    assert ("view", "open") in grown  # the failing session's pre-error path is a candidate ...
    assert not any("retry" in s or "reload" in s for s in grown)  # ... what it did after the error is not
    retry_rows = [i for i, c in enumerate(p.code) if p.vocab[c] in ("retry", "reload")]
    assert retry_rows and not p.elig[retry_rows].any()


def test_log_without_bursts_or_keys_reports_nothing_and_does_not_fail():
    spec = Spec()
    for i in range(5):
        for j in range(4):
            spec.actions.append((f"s{i}", f"u{i}", 30.0 * j + i, "ab"[j % 2], None, ()))
    result = mine(build_timeline(spec))
    assert result.suspects == () and result.burst_verdicts == ()
    doc = mining_to_json(result)
    assert doc["suspects"] == [] and doc["candidates_tested"] == 0
    assert evidence_frame(result, build_timeline(spec)).height == 0


def test_embedding_takes_the_latest_start_and_respects_gaps():
    spec = Spec()
    for j, a in enumerate("abxab"):
        spec.actions.append(("s", "u", float(j), a, f"r{j}", (f"key{j}",)))
    p = prepare(build_timeline(spec))
    a, b = p.vocab.index("a"), p.vocab.index("b")
    assert embedding(p, (a, b), 4, max_gap=2, max_span_s=60) == (3, 4)
    assert embedding(p, (a, a, b), 4, max_gap=2, max_span_s=60) == (0, 3, 4)
    assert embedding(p, (a, a, b), 4, max_gap=1, max_span_s=60) is None
    assert embedding(p, (a, a, b), 4, max_gap=2, max_span_s=3.5) is None  # 4 s from first to last step
    assert embeddings(p, (a, b), np.array([1, 2, 4]), max_gap=2, max_span_s=60).tolist() == [
        [0, 1], [-1, -1], [3, 4]]


def test_resource_links_count_errors_after_the_completion():
    spec = Spec()
    for j, a in enumerate("ab"):
        spec.actions.append(("s", "u", float(j), a, f"r{j}", ("K",) if a == "b" else ()))
    spec.errors += [(0.5, None, None, "K", "cache", "x"), (5.0, None, None, "K", "cache", "x"),
                    (6.0, None, None, "K", "cache", "x"), (7.0, None, None, "L", "cache", "x")]
    tl = build_timeline(spec)
    p = prepare(tl)
    steps = steps_frame(p, 1, np.array([[0, 1]]))
    errors = tl.events.filter(pl.col("is_error")).select("key", "ts")
    links = resource_links(p, steps, errors)
    assert [(x.resource, x.errors_after, x.step, x.step_index) for x in links] == [("K", 2, "b", 2)]
    text = explanation(("a", "b"), links, (), 1, 0.5)
    assert "its last step (b) touched K at 08:00:01; K returned 2 errors from 08:00:05" in text
