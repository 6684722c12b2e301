"""The miner against the brute-force reference on small random logs (hypothesis)."""

from __future__ import annotations

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forensics.mining import MiningOptions
from forensics.mining.candidates import grow, prepare
from forensics.mining.closed import collapse, is_subsequence
from tests.mining_fixtures import Spec, build_timeline
from tests.mining_reference import RefSession, control_with, failing_with, reference

OPTS = dict(lookback_s=60.0, max_len=4, max_gap=1, max_span_s=90.0, max_support=2.0, onset_slack_s=1.5)


@st.composite
def small_logs(draw):
    n_sess = draw(st.integers(1, 5))
    spec = Spec()
    ref = []
    for i in range(n_sess):
        n = draw(st.integers(1, 7))
        start = draw(st.integers(0, 200))
        gaps = draw(st.lists(st.integers(0, 40), min_size=n, max_size=n))
        ts, t = [], start
        for g in gaps:
            t += g
            ts.append(t)
        acts = draw(st.lists(st.sampled_from("abc"), min_size=n, max_size=n))
        key = f"s{i}"
        for j, (t, a) in enumerate(zip(ts, acts)):
            spec.actions.append((key, f"u{i}", float(t), a, f"{key}-{j}", ()))
        err = draw(st.one_of(st.none(), st.tuples(st.integers(0, 300), st.sampled_from([None, 1]))))
        cut, failing = float("inf"), False
        if err is not None:
            spec.errors.append((float(err[0]), key, err[1], None, "app", "x"))
            cut, failing = float(err[0]), err[1] is not None
        ref.append(RefSession(key, [float(x) for x in ts], list(acts), cut, failing))
    onsets = sorted(set(draw(st.lists(st.integers(10, 300), min_size=1, max_size=3))))
    spec.bursts = [(1, [float(o) for o in onsets], float(onsets[-1] + 10))]
    return spec, ref, [float(o) for o in onsets]


def _miner(spec):
    opts = MiningOptions(**OPTS)
    p = prepare(build_timeline(spec), options=opts)
    counted = grow(p, options=opts)
    pats = counted.patterns.with_columns(
        pl.col("codes").map_elements(lambda c: "".join(p.vocab[x] for x in c), return_dtype=pl.String).alias("seq")
    )
    return p, counted, pats


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_logs())
def test_support_counts_match_the_brute_force_reference(log):
    spec, ref_sessions, onsets = log
    _, _, pats = _miner(spec)
    ref = reference(ref_sessions, onsets, lookback=OPTS["lookback_s"], max_len=OPTS["max_len"],
                    max_gap=OPTS["max_gap"], max_span=OPTS["max_span_s"], slack=OPTS["onset_slack_s"])
    got = {r["seq"]: r for r in pats.iter_rows(named=True)}
    assert set(got) == {"".join(k) for k in ref}
    for k, r in ref.items():
        g = got["".join(k)]
        assert g["support"] == len(r.sessions)
        assert g["completions"] == len(r.eligible)
        assert g["failing_with"] == failing_with(r, ref_sessions)
        assert g["control_with"] == control_with(r, ref_sessions)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_logs())
def test_completions_are_the_reference_completions_and_never_after_the_error(log):
    spec, ref_sessions, onsets = log
    p, counted, pats = _miner(spec)
    ref = reference(ref_sessions, onsets, lookback=OPTS["lookback_s"], max_len=OPTS["max_len"],
                    max_gap=OPTS["max_gap"], max_span=OPTS["max_span_s"], slack=OPTS["onset_slack_s"])
    cut = {s.key: s.cut for s in ref_sessions}
    seq_of = dict(zip(pats["gid"].to_list(), pats["seq"].to_list()))
    comp = counted.completions
    seqpos = {}
    for gid, row, elig in comp.iter_rows():
        s = p.session_keys[p.sess[row]]
        first_row = int((p.sess < p.sess[row]).sum())
        seqpos.setdefault(seq_of[gid], set()).add((s, row - first_row, bool(elig)))
        if elig:  # before, never after: an eligible completion ends before the session's first error
            assert p.ts[row] < p.cut[p.sess[row]]
    for k, r in ref.items():
        got = seqpos.get("".join(k), set())
        assert {(s, e) for s, e, el in got} == r.completions
        assert {(s, e) for s, e, el in got if el} == r.eligible
        assert all(ref_sessions[int(s[1:])].ts[e] < cut[s] for s, e in r.eligible)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_logs())
def test_collapse_keeps_only_closed_patterns(log):
    spec, ref_sessions, onsets = log
    _, _, pats = _miner(spec)
    ref = reference(ref_sessions, onsets, lookback=OPTS["lookback_s"], max_len=OPTS["max_len"],
                    max_gap=OPTS["max_gap"], max_span=OPTS["max_span_s"], slack=OPTS["onset_slack_s"])
    done = collapse(pats)
    rep_of = dict(zip(done["seq"].to_list(), done["closed_gid"].to_list()))
    seq_of = dict(zip(done["gid"].to_list(), done["seq"].to_list()))
    for seq, rep in rep_of.items():
        key, rkey = tuple(seq), tuple(seq_of[rep])
        if seq_of[rep] == seq:  # closed: no proper super-sequence candidate with the same sessions
            for other, r in ref.items():
                if len(other) > len(key) and is_subsequence(key, other):
                    assert r.sessions != ref[key].sessions, (seq, other)
        else:  # collapsed: same sessions as its representative, which is closed
            assert ref[key].sessions == ref[rkey].sessions
            # a super-sequence of it (or an identical-occurrence twin) belongs to the same hypothesis
            group = [tuple(q) for q, r in rep_of.items() if r == rep and q != seq]
            assert any(is_subsequence(key, g) for g in group) or ref[key].eligible == ref[rkey].eligible
            assert rep_of[seq_of[rep]] == rep
