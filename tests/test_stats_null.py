"""End to end under the null: no sequence is related to the bursts, so any
significant suspect is a false discovery (FDR = FWER here), at 1x, 10x and
100x traffic, with all three evidence families (onset precedence, session
enrichment, resource linkage) in play."""

from __future__ import annotations

import numpy as np
import pytest

from forensics.mining import MiningOptions, mine
from tests.mining_fixtures import Spec, build_timeline

VOCAB = tuple(f"act{i}" for i in range(40))
WEIGHTS = 1.0 / np.arange(1, len(VOCAB) + 1) ** 1.2  # Zipf: a few common actions, many rare ones
KEYS = tuple(f"cache:k{i}" for i in range(4)) + ("table:users", "table:orders")
HOURS = 2.0


def null_log(sessions: int, seed: int) -> Spec:
    """``sessions`` sessions of 6-14 random actions (random resources) over
    two hours; two bursts at random times whose errors hit random keys and
    random sessions that were active then; nothing planted."""
    rng = np.random.default_rng(seed)
    spec = Spec()
    span = HOURS * 3600
    for s in range(sessions):
        start = rng.uniform(0, span - 900)
        n = int(rng.integers(6, 15))
        ts = np.sort(start + rng.uniform(0, 900, size=n))
        for i, t in enumerate(ts):
            res = tuple(sorted(set(rng.choice(KEYS, size=int(rng.integers(0, 3))).tolist())))
            spec.actions.append((f"s{s}", f"u{s}", float(t), str(rng.choice(VOCAB, p=WEIGHTS / WEIGHTS.sum())), f"r{s}-{i}", res))
    onsets = np.sort(rng.uniform(1200, span - 600, size=2))
    for b, o in enumerate(onsets, start=1):
        spec.bursts.append((b, [float(o)], float(o) + 300))
        for key in rng.choice(KEYS, size=3, replace=False):
            f = o + rng.uniform(0, 120)
            spec.errors += [(float(f + d), None, b, str(key), "cache", "err") for d in (0.0, 5.0, 9.0)]
        active = [a for a in spec.actions if o - 60 < a[2] < o + 200]
        for a in [active[i] for i in rng.choice(len(active), size=min(len(active), 6), replace=False)]:
            spec.errors.append((float(a[2] + 0.5), a[0], b, None, "app", "err"))
        spec.errors.append((float(o), None, b, None, "app", "err"))
    return spec


def false_discoveries(sessions: int, seeds) -> tuple[int, int]:
    """(runs with any significant suspect, hypotheses tested over all runs)."""
    opts = MiningOptions(lookback_s=300, max_len=4)
    results = [mine(build_timeline(null_log(sessions, s)), options=opts) for s in seeds]
    return sum(bool(r.suspects) for r in results), sum(r.candidates_tested for r in results)


@pytest.mark.parametrize("sessions", [150, 1500])
def test_null_logs_rarely_produce_a_significant_suspect(sessions):
    bad, tested = false_discoveries(sessions, range(12))
    assert tested > 0  # the families were really tested
    # P(X >= 3 | Bin(12, 0.05)) = 0.02: three false-discovery runs of twelve fail the test
    assert bad <= 2


@pytest.mark.slow
def test_null_logs_rarely_produce_a_significant_suspect_at_100x():
    bad, tested = false_discoveries(15000, range(4))
    assert tested > 0
    assert bad <= 1  # P(X >= 2 | Bin(4, 0.05)) = 0.014
