"""The fast growth engine (forensics/mining/growth.py) against the previous
level-wise algorithm, kept below verbatim as the slow reference.

Every engine path must give exactly the same patterns frame and completions
frame (same gids, rows, counts, signatures, order): the row-ordered window
and counting passes (the compiled loops of forensics/mining/kernels.py),
chunks of a session or two, the binary-search key lookup, bounded and
unbounded gaps.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

import forensics.mining.growth as growth
from forensics.mining import MiningOptions
from forensics.mining.candidates import SET_HASH_MASK, grow, prepare, row_bounds, set_hash, window_flags
from tests.mining_fixtures import Spec, build_timeline

# engine settings: (name, {module constant: value})
MODES = [
    ("default", {}),
    ("tiny_chunks", {"CHUNK": 2}),
    ("binary_search_lookup", {"DENSE_MAX": 0, "CHUNK": 5}),
    ("row_window_only", {"OPEN_GAPS": False}),
    ("levelwise_tiny_chunks", {"LEVELWISE_SHARE": 0.0, "CHUNK": 3}),
    ("depth_first_tiny_chunks", {"LEVELWISE_SHARE": 2.0, "CHUNK": 3}),
]


# ----------------------------------------------------------------------------- previous algorithm (reference)
def _old_level_stats(p, pid, end, npat, row_hash, sess_hash):
    s = p.sess[end]
    el = p.elig[end]
    first = np.r_[True, (pid[1:] != pid[:-1]) | (s[1:] != s[:-1])] if len(pid) else np.zeros(0, bool)
    pi = np.flatnonzero(first)
    ppid, psess = pid[pi], s[pi]
    pel = np.maximum.reduceat(el.astype(np.uint8), pi).astype(bool) if len(pi) else np.zeros(0, bool)
    fail = p.failing[psess] & pel
    ctrl = p.control[psess]
    hs = sess_hash[psess]
    hc = row_hash[end[el]]

    def count(ids, w=None):
        return np.bincount(ids, weights=w, minlength=npat)

    return {
        "support": count(ppid).astype(np.int64),
        "completions": count(pid[el]).astype(np.int64),
        "failing_with": count(ppid, fail).astype(np.int64),
        "control_with": count(ppid, ctrl).astype(np.int64),
        "sig_sessions": count(ppid, hs).astype(np.int64),
        "sig_failing": count(ppid[fail], hs[fail]).astype(np.int64),
        "sig_completions": count(pid[el], hc).astype(np.int64),
    }


def _old_dedupe_sorted(key, end, start, n):
    comb = key * np.int64(n) + end
    order = np.argsort(comb)
    cs = comb[order]
    idx = np.flatnonzero(np.r_[True, cs[1:] != cs[:-1]])
    st_ = np.maximum.reduceat(start[order], idx)
    u = cs[idx]
    return u // np.int64(n), u % np.int64(n), st_


def old_grow(p, options):
    """The level-wise growth before the window-first engine (all rows, argsort dedupe)."""
    n = len(p.code)
    n_sessions = len(p.session_keys)
    look_us = int(options.lookback_s * 1e6)
    span_us = int(options.max_span_s * 1e6)
    rare_below = options.max_support * n_sessions
    V = np.int64(max(len(p.vocab), 1))
    rows = np.arange(n, dtype=np.int64)
    bounds = row_bounds(p, look_us)
    row_hash = (set_hash(rows) & np.uint64(SET_HASH_MASK)).astype(np.float64)
    sess_hash = (set_hash(np.arange(n_sessions)) & np.uint64(SET_HASH_MASK)).astype(np.float64)
    ow, ew = window_flags(p, rows, p.ts, look_us, bounds)
    keep_code = np.zeros(int(V), dtype=bool)
    keep_code[np.unique(p.code[ow | ew])] = True
    sel = keep_code[p.code]
    pid, end, start = p.code[sel], rows[sel], p.ts[sel]
    lvl_suffix = np.zeros(int(V), dtype=np.int64)
    kept_dense = np.ones(int(V) * int(V), dtype=bool)
    frames, compl = [], []
    codes_prev = np.arange(int(V), dtype=np.int64)[:, None]
    same_next = np.r_[p.sess[1:] == p.sess[:-1], False]
    gid0 = 0
    prev_keys = None
    for k in range(2, options.max_len + 1):
        if len(pid) == 0:
            break
        parts_k, parts_e, parts_s = [], [], []
        alive = np.ones(len(end), dtype=bool)
        for g in range(options.max_gap + 1):
            nxt = end + 1 + g
            alive &= same_next[np.minimum(nxt - 1, n - 1)]
            nx = np.where(alive, nxt, 0)
            c = p.code[nx]
            ok = alive & (p.ts[nx] - start <= span_us) & keep_code[c]
            if k > 2:
                ok &= kept_dense[lvl_suffix[pid] * V + c]
            parts_k.append(pid[ok] * V + c[ok])
            parts_e.append(nx[ok])
            parts_s.append(start[ok])
        key = np.concatenate(parts_k)
        if len(key) == 0:
            break
        key, nend, nstart = _old_dedupe_sorted(key, np.concatenate(parts_e), np.concatenate(parts_s), n)
        ow, ew = window_flags(p, nend, nstart, look_us, bounds)
        pb = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
        has_o = np.maximum.reduceat(ow.astype(np.uint8), pb).astype(bool)
        has_e = np.maximum.reduceat(ew.astype(np.uint8), pb).astype(bool)
        present = has_o | has_e
        counts = np.diff(np.r_[pb, len(key)])
        keep = np.repeat(present, counts)
        newid = np.cumsum(present) - 1
        pid = np.repeat(newid, counts)[keep]
        end, start = nend[keep], nstart[keep]
        ukeys = key[pb][present]
        has_o, has_e = has_o[present], has_e[present]
        npat = len(ukeys)
        parent = ukeys // V
        last = ukeys % V
        suffix = last if k == 2 else np.searchsorted(prev_keys, lvl_suffix[parent] * V + last)
        codes = np.concatenate([codes_prev[parent], last[:, None]], axis=1)
        stats = _old_level_stats(p, pid, end, npat, row_hash, sess_hash)
        frames.append(pl.DataFrame({
            "gid": np.arange(gid0, gid0 + npat, dtype=np.int64), "length": np.full(npat, k, dtype=np.int32),
            "codes": pl.Series(codes).cast(pl.List(pl.Int64)), "onset_window": has_o, "error_window": has_e,
            **stats,
        }))
        rs = (stats["support"] < rare_below)[pid]
        compl.append(pl.DataFrame({"gid": pid[rs] + gid0, "row": end[rs], "elig": p.elig[end[rs]]}))
        gid0 += npat
        kept_dense = np.zeros(int(codes_prev.shape[0]) * int(V), dtype=bool)
        kept_dense[ukeys] = True
        prev_keys, lvl_suffix, codes_prev = ukeys, suffix, codes
    if not frames:
        return None, None
    return pl.concat(frames, how="vertical_relaxed"), pl.concat(compl)


# ----------------------------------------------------------------------------- helpers
def _assert_same_as_old(p, opts, monkeypatch):
    want_pats, want_comp = old_grow(p, opts)
    for name, consts in MODES:
        with monkeypatch.context() as m:
            for const, value in consts.items():
                m.setattr(growth, const, value)
            got = grow(p, options=opts)
        if want_pats is None:
            assert got.patterns.height == 0 and got.completions.height == 0, name
            continue
        try:
            assert_frame_equal(got.patterns, want_pats)
            # (completions are stored as Int32 ids and rows since; the values must not change)
            assert_frame_equal(got.completions, want_comp.cast({"gid": pl.Int32, "row": pl.Int32}))
        except AssertionError as exc:
            raise AssertionError(f"engine mode {name}: {exc}") from None


@st.composite
def logs(draw):
    """Small logs with several bursts and onsets, failing, erring and control sessions."""
    spec = Spec()
    n_sess = draw(st.integers(1, 7))
    for i in range(n_sess):
        n = draw(st.integers(1, 9))
        t = draw(st.integers(0, 250))
        for j in range(n):
            t += draw(st.integers(0, 45))
            spec.actions.append((f"s{i}", f"u{i}", float(t), draw(st.sampled_from("abcd")), f"s{i}-{j}", ()))
        err = draw(st.one_of(st.none(), st.tuples(st.integers(0, 400), st.sampled_from([None, 1, 2]))))
        if err is not None:
            spec.errors.append((float(err[0]), f"s{i}", err[1], None, "app", "x"))
    o1 = sorted(set(draw(st.lists(st.integers(10, 400), min_size=1, max_size=3))))
    o2 = sorted(set(draw(st.lists(st.integers(10, 400), min_size=0, max_size=2))))
    spec.bursts = [(1, [float(o) for o in o1], float(o1[-1] + 10))]
    if o2:
        spec.bursts.append((2, [float(o) for o in o2], float(o2[-1] + 10)))
    opts = MiningOptions(
        lookback_s=float(draw(st.sampled_from([20, 60, 150, 1e6]))),
        max_len=draw(st.integers(2, 5)),
        max_gap=draw(st.sampled_from([0, 1, 2, 20])),  # 20: the gap never binds (running maximum)
        max_span_s=float(draw(st.sampled_from([30, 90, 1e6]))),
        max_support=draw(st.sampled_from([0.3, 2.0])),
        onset_slack_s=draw(st.sampled_from([0.0, 1.5])),
    )
    return spec, opts


# ----------------------------------------------------------------------------- tests
@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(log=logs())
def test_every_engine_path_grows_exactly_what_the_previous_algorithm_grew(log, monkeypatch):
    spec, opts = log
    p = prepare(build_timeline(spec), options=opts)
    _assert_same_as_old(p, opts, monkeypatch)


def _random_log(seed: int, n_sess: int, max_len_sess: int) -> Spec:
    rng = np.random.default_rng(seed)
    spec = Spec()
    for i in range(n_sess):
        t = float(rng.uniform(0, 3000))
        for j in range(int(rng.integers(1, max_len_sess))):
            t += float(rng.exponential(20))
            spec.actions.append((f"s{i:04d}", f"u{i}", t, str(rng.choice(list("abcdefgh"))), None, ()))
        if rng.random() < 0.15:
            spec.errors.append((float(rng.uniform(1000, 3200)), f"s{i:04d}", int(rng.integers(1, 3)), None, "app", "x"))
    spec.bursts = [(1, [1200.0, 1900.0], 2000.0), (2, [2600.0], 2700.0)]
    return spec


@pytest.mark.parametrize("max_gap", [2, 200])
def test_many_chunks_of_a_larger_log_match_the_previous_algorithm(max_gap, monkeypatch):
    spec = _random_log(5, 120, 25)
    opts = MiningOptions(lookback_s=300.0, max_len=4, max_gap=max_gap, max_span_s=600.0, max_support=0.05)
    p = prepare(build_timeline(spec), options=opts)
    want_pats, _ = old_grow(p, opts)
    assert want_pats.height > 200  # a real comparison: many patterns, rare and frequent
    assert (want_pats["support"] >= 0.05 * len(p.session_keys)).any()
    with monkeypatch.context() as m:
        m.setattr(growth, "CHUNK", 50)  # dozens of chunks per level
        _assert_same_as_old(p, opts, monkeypatch)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(log=logs(), seed=st.integers(0, 2**16))
def test_keeping_some_completion_rows_changes_no_count_and_drops_only_other_rows(log, seed):
    spec, opts = log
    p = prepare(build_timeline(spec), options=opts)
    full = grow(p, options=opts)
    keep = np.random.default_rng(seed).random(len(p.code)) < 0.5
    part = grow(p, options=opts, keep_rows=keep)
    assert_frame_equal(part.patterns, full.patterns)
    want = full.completions.filter(pl.Series(keep)[full.completions["row"]])
    assert_frame_equal(part.completions, want)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(log=logs())
def test_evidence_rows_keep_every_completion_the_onset_evidence_reads(log):
    from forensics.mining.candidates import evidence_rows
    from forensics.mining.score import closest_completions

    spec, opts = log
    p = prepare(build_timeline(spec), options=opts)
    full = grow(p, options=opts)
    part = grow(p, options=opts, keep_rows=evidence_rows(p))
    gids = full.patterns["gid"].to_numpy()
    for a, b in zip(closest_completions(p, full, gids), closest_completions(p, part, gids)):
        np.testing.assert_array_equal(a, b)
    # credit's burst enrichment reads the eligible completions of sessions that erred in a burst
    fail = pl.Series(p.failing[p.sess] & p.elig)
    want = full.completions.filter(fail[full.completions["row"]])
    got = part.completions.filter(fail[part.completions["row"]])
    assert_frame_equal(got, want)
