"""One gap/span rule: the occurrence locator (forensics/mining/occurrences.py)
finds exactly the completions the counting engine (growth.py) counts."""

from __future__ import annotations

import numpy as np
import polars as pl
from hypothesis import HealthCheck, assume, given, settings

from forensics.mining import MiningOptions
from forensics.mining.candidates import grow, prepare
from forensics.mining.occurrences import embeddings, occurrences
from tests.mining_fixtures import build_timeline
from tests.test_mining_reference import OPTS, small_logs


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_logs())
def test_locator_and_growth_find_the_same_completions(log):
    spec, _, _ = log
    opts = MiningOptions(**OPTS)
    p = prepare(build_timeline(spec), options=opts)
    counted = grow(p, options=opts)  # max_support 2: every pattern is rare, every completion is kept
    assume(counted.patterns.height > 0)
    rows_of = counted.completions.group_by("gid").agg(pl.col("row").sort())
    rows_of = dict(zip(rows_of["gid"].to_list(), rows_of["row"].to_list()))
    for gid, codes in zip(counted.patterns["gid"].to_list(), counted.patterns["codes"].to_list()):
        occ = occurrences(p, tuple(codes), max_gap=opts.max_gap, max_span_s=opts.max_span_s)
        assert occ[:, -1].tolist() == rows_of[gid]
        back = embeddings(p, tuple(codes), occ[:, -1], max_gap=opts.max_gap, max_span_s=opts.max_span_s)
        assert back.tolist() == occ.tolist()  # same latest-start embedding from either direction


def test_latest_start_then_latest_steps_represent_a_completion():
    from types import SimpleNamespace as NS
    # a a b b c: (a, b, c) ending at row 4 starts at row 1 (the latest a), then takes row 3 (the latest b)
    p = NS(code=np.array([0, 0, 1, 1, 2]), sess=np.zeros(5, int), ts=np.arange(5) * 1_000_000)
    assert occurrences(p, (0, 1, 2), max_gap=2, max_span_s=60).tolist() == [[1, 3, 4]]
    assert embeddings(p, (0, 1, 2), np.array([4, 3]), max_gap=2, max_span_s=60).tolist() == [[1, 3, 4], [-1, -1, -1]]
    # the span rule: 3 s from first to last step is too long for max_span 2.5 s
    assert occurrences(p, (0, 1, 2), max_gap=2, max_span_s=2.5).tolist() == []
    # never across sessions
    q = NS(code=p.code, sess=np.array([0, 0, 0, 1, 1]), ts=p.ts)
    assert occurrences(q, (0, 1), max_gap=2, max_span_s=60).tolist() == [[1, 2]]
