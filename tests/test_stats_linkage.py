"""Evidence (c), resource linkage, and the null behaviour of the onset families at several traffic levels."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forensics.mining import MiningOptions
from forensics.mining.onsets import OnsetStrategy
from forensics.mining.resource_evidence import (
    link_pmin,
    link_u,
    link_u_one,
    onset_touches,
)
from forensics.mining.stats import minp_order, prob_hit
from tests.mining_fixtures import Spec, build_timeline
from tests.mining_reference import link_u_reference

KEYS = ("cache:a", "cache:b", "table:c")


def _linked_log(seed: int):
    """A small log: 6 sessions touching 3 resources in the 60 s before one
    onset at t=100; two of the resources err after it (first errors known)."""
    rng = np.random.default_rng(seed)
    spec = Spec()
    acts = []
    for s in range(6):
        for i in range(3):
            t = float(rng.uniform(40, 100.9))
            res = tuple(sorted(set(rng.choice(KEYS, size=int(rng.integers(0, 3)), replace=True).tolist())))
            acts.append((f"s{s}", f"u{s}", t, f"a{i}", f"r{s}-{i}", res))
    spec.actions = acts
    first = {"cache:a": 100 + float(rng.uniform(0, 20)), "table:c": 100 + float(rng.uniform(0, 40))}
    spec.errors = [(first[k] + d, None, 1, k, "cache", "err") for k in first for d in (0.0, 1.0)]
    spec.errors.append((100.0, None, 1, None, "app", "err"))
    spec.bursts = [(1, [100.0], 200.0)]
    return spec, first


@pytest.mark.parametrize("seed", range(6))
def test_linkage_u_is_the_brute_force_share_of_touch_subsets(seed):
    spec, first = _linked_log(seed)
    opts = MiningOptions(lookback_s=60)
    p = OnsetStrategy().prepare(build_timeline(spec), opts)
    touches = onset_touches(p)
    t0 = 1e-6 * float(p.ts.min()) - min(a[2] for a in spec.actions)  # seconds -> epoch offset
    lo, hi = 100 + opts.onset_slack_s - opts.lookback_s, 100 + opts.onset_slack_s  # the onset's window
    window = [(a[2], r) for a in sorted(spec.actions, key=lambda a: (a[0], a[2])) for r in a[5] if lo <= a[2] < hi]
    assert touches.size[0] == len(window)
    # only the resources that erred first (within the slack of the first keyed error) link
    lead = {k: f for k, f in first.items() if f <= min(first.values()) + opts.onset_slack_s}
    assert set(touches.first_error[0]) == set(lead)
    # each action row alone as a one-step "occurrence" (k = its touches)
    checked = 0
    for row in range(len(p.ts)):
        res = touches.resources.get(row, [])
        if not res or not touches.linkable[0]:
            continue
        tau = 1e-6 * float(p.ts[row]) - t0
        own = [i for i, (t, r) in enumerate(window) if abs(t - tau) < 1e-5 and r in res]
        expected = link_u_reference(window, lead, own, slack=opts.onset_slack_s)
        u = link_u(p, touches, [(int(p.code[row]),)], np.array([[row]]), max_gap=2, max_span_s=1800)[0, 0]
        assert u == pytest.approx(expected, abs=1e-9)
        checked += 1
    assert checked >= 3


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-1_000_000, 600_000_000), min_size=1, max_size=40), st.integers(1, 400),
       st.integers(1, 6), st.integers(-1_000_000, 600_000_000), st.integers(0, 5_000_000))
def test_linkage_u_is_a_probability_monotone_in_the_lead_and_at_least_pmin(ds, extra, k, delta, more):
    deltas = np.sort(np.array(ds))
    size = len(ds) + extra + k
    u = link_u_one(deltas, size, k, delta)
    assert 0.0 < u <= 1.0 or (u == 0.0 and np.searchsorted(deltas, delta, side="right") == 0)
    assert link_u_one(deltas, size, k, delta + more) >= u  # a later first error is weaker evidence
    row = np.array([[0]])
    pmin = link_pmin(row >= 0, type("T", (), {"linkable": np.array([True]), "size": np.array([size])})())
    own = max(u, link_u_one(deltas, size, k, int(deltas[0])))  # the candidate's own touch counts: x >= 1
    assert minp_order(np.array([[own]]))[0] >= pmin[0] - 1e-12


@pytest.mark.parametrize("window", [100, 1_000, 10_000])
def test_linkage_p_is_super_uniform_under_the_null_at_any_traffic(window):
    """Null: the candidate's k touches are k random touches of the window
    (exchangeable); first errors of 3 onsets' resources are unrelated."""
    rng = np.random.default_rng(window)
    runs, m = 4000, 3
    u = np.ones((runs, m))
    for j in range(m):
        # half the touches are of resources that err, at leads drawn once per onset
        d = np.sort(rng.exponential(60e6, size=window // 2).astype(np.int64))
        has = rng.random(window) < 0.5
        for r in range(runs // 8):  # per run, a random k-subset
            k = int(rng.integers(1, 4))
            pick = rng.choice(window, size=k, replace=False)
            linked = pick[has[pick]]
            if len(linked) == 0:
                continue
            delta = int(d[rng.integers(0, len(d), size=len(linked))].min())
            u[r * 8:(r + 1) * 8, j] = link_u_one(d, window, k, delta)  # 8 copies: same draw, cheap
    p = minp_order(u)
    for a in (0.01, 0.05, 0.25):
        assert (p <= a).mean() <= a + 3 * np.sqrt(a / (runs / 8)) + 0.01


@pytest.mark.parametrize("n", [2_000, 20_000, 200_000])
def test_onset_p_is_uniform_under_the_null_at_any_traffic(n):
    """Null of evidence (a): N completions at random among n eligible actions,
    4 onsets with windows of n/50 actions; p = minp_order of u_j."""
    rng = np.random.default_rng(n)
    runs, m, N = 3000, 4, 3
    horizon = np.sort(rng.choice(np.arange(n // 10, n), size=m, replace=False))
    lo = np.maximum(horizon - n // 50, np.r_[0, horizon[:-1]])
    pos = np.sort(rng.random((runs, N)) * n, axis=1).astype(np.int64)
    u = np.ones((runs, m))
    for j in range(m):
        inside = (pos >= lo[j]) & (pos < horizon[j])
        closest = np.where(inside, pos, -1).max(axis=1)
        r = np.where(closest >= 0, horizon[j] - closest, 0)
        u[:, j] = np.where(r > 0, prob_hit(n, np.maximum(r, 1), np.full(runs, N)), 1.0)
    p = minp_order(u)
    for a in (0.01, 0.05, 0.25):
        assert (p <= a).mean() <= a + 3 * np.sqrt(a / runs) + 0.005


def test_embeddings_many_is_embeddings_row_by_row():
    from types import SimpleNamespace as NS

    from forensics.mining.occurrences import embeddings, embeddings_many

    rng = np.random.default_rng(3)
    n = 400
    p = NS(code=rng.integers(0, 3, size=n), sess=np.repeat(np.arange(20), 20),
           ts=np.arange(n, dtype=np.int64) * 1_000_000)
    for k in (1, 2, 3, 4):
        codes = rng.integers(0, 3, size=(60, k))
        ends = rng.integers(0, n, size=60)
        many = embeddings_many(p, codes, ends, max_gap=2, max_span_s=8)
        one = np.vstack([embeddings(p, tuple(c), np.array([e]), max_gap=2, max_span_s=8) for c, e in zip(codes, ends)])
        assert (many == one).all()
        assert (many[:, 0] >= 0).any()  # some embeddings exist


@pytest.mark.parametrize("seed", range(3))
def test_vectorized_linkage_u_is_the_one_occurrence_rule(seed):
    from forensics.mining.occurrences import embeddings
    from forensics.mining.resource_evidence import closest_link

    spec, _ = _linked_log(seed)
    p = OnsetStrategy().prepare(build_timeline(spec), MiningOptions(lookback_s=60))
    touches = onset_touches(p)
    rows = np.flatnonzero(p.ts >= p.window_lo[0])
    pairs = [(int(a), int(b)) for a, b in pairwise(rows) if p.sess[a] == p.sess[b]]
    codes = [(int(p.code[a]), int(p.code[b])) for a, b in pairs]
    u = link_u(p, touches, codes, np.array([[b] for _, b in pairs]), max_gap=2, max_span_s=1800)[:, 0]
    linked = 0
    for (a, b), c, got in zip(pairs, codes, u):
        occ = embeddings(p, c, np.array([b]), max_gap=2, max_span_s=1800)[0]
        k, delta = closest_link(p, touches, occ, 0)
        want = 1.0 if delta < 0 else link_u_one(touches.deltas[0], int(touches.size[0]), k, delta)
        assert got == pytest.approx(want)
        linked += delta >= 0
    assert linked >= 1
