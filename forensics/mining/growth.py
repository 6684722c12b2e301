"""Level-wise growth of gapped action sequences over integer arrays.

The engine behind :func:`forensics.mining.candidates.grow` (which documents
the occurrence semantics).  A level-k *state* is one ``(pattern, completion
row)`` with the latest start of an embedding ending there, stored as the
row distance ``d = end - start_row`` (rows are in time order within a
session, so the latest start row has the latest start time).  States are
kept in **row order** (sorted by end row, then pattern): growing and
counting a level are sweeps over the log's rows (:mod:`.kernels`), in
chunks of whole sessions run on two threads.

Each level is grown in two passes with identical results to growing
everything:

* the **window pass** extends only the states inside a window (pre-onset
  or pre-error).  A prefix of a window occurrence is a window occurrence (it
  ends earlier in the same session, so it falls in the same pre-onset window
  and its end is still eligible), and the window test is monotone in the
  start, so the latest start among window predecessors is the overall latest
  start whenever the result is in a window: this small pass yields exactly
  the window states of the full growth, hence the level's patterns;
* the **counting pass** extends every state of the parents of those
  patterns, into those patterns only, and counts them over the whole log.

When few rows lie in a window (the usual scan), the window passes of every
level run first, and the counting is then **depth-first**: each chunk of
sessions is grown through all levels and counted before the next, so only
one chunk's states are held.  With dense windows the levels are grown one at
a time, and a window pass that extended every state is the counting pass.

Examples
--------
>>> import numpy as np
>>> z = np.zeros(3, dtype=np.int64)
>>> frames, _ = grow_arrays(sess=z, code=np.array([0, 1, 1]), ts=np.arange(3) * 10**6,
...     elig=np.ones(3, bool), failing=np.array([True]), control=np.array([False]),
...     onset_lo=np.full(3, 2**62), err_lo=z, row_hash=np.zeros(3), sess_hash=np.zeros(1),
...     V=2, max_len=2, max_gap=1, span_us=10**9, rare_below=1.0)
>>> frames[0]["codes"].to_list(), frames[0]["support"].to_list()
([[0, 1], [1, 1]], [1, 1])
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import polars as pl

from ..concurrency import ordered_map
from .level_counts import Counts, LevelCounts, kernels

#: states per chunk (peak memory is a few times this)
CHUNK = 1 << 18
#: largest dense key -> pattern id table (int32 entries); larger: binary search
DENSE_MAX = 1 << 26
#: extend by the parents seen so far when the gap cannot bind (tests switch it off)
OPEN_GAPS = True
#: share of rows inside a window from which levels are grown one at a time
#: (dense windows: the window pass does the counting pass's work); below it,
#: chunks of sessions are grown through every level (one chunk held at a time)
LEVELWISE_SHARE = 0.5


States = tuple[np.ndarray, np.ndarray, np.ndarray]  # pattern id, end row, d (int32), sorted by (end, pattern)
#: a level's states as parts of whole sessions, in row order (never concatenated: no copy)
Parts = list[States]
Lookup = tuple[int, np.ndarray, np.ndarray]  # (kernels mode, dense table, sorted keys)


@dataclass
class _Rows:
    """Per-row (and per-session) arrays shared by every level."""

    code: np.ndarray  # int64
    ts: np.ndarray  # int64 us
    sess: np.ndarray  # int64 session index
    sess_start: np.ndarray  # int32 first row of each row's session
    sess_end: np.ndarray  # int32 one past the last row of each row's session
    elig: np.ndarray
    failing: np.ndarray
    control: np.ndarray
    sess_hash: np.ndarray
    row_hash: np.ndarray
    keep_rows: np.ndarray | None
    V: int
    step: int
    span_us: int
    span_free: bool
    open_gaps: bool  # the gap rule never binds (max_gap + 1 >= the longest session)

    @classmethod
    def build(cls, sess, code, ts, *, V, max_gap, span_us, **arrays) -> _Rows:
        n = len(code)
        sess = np.ascontiguousarray(sess, dtype=np.int64)
        cuts = np.flatnonzero(sess[1:] != sess[:-1]) + 1 if n else np.zeros(0, np.int64)
        starts, ends = np.r_[0, cuts], np.r_[cuts, n]
        lens = ends - starts
        ts = np.ascontiguousarray(ts, dtype=np.int64)
        span_free = n == 0 or span_us >= int(ts.max()) - int(ts.min())  # the span rule never binds
        open_gaps = OPEN_GAPS and n > 0 and max_gap + 1 >= int(lens.max())
        return cls(code=np.ascontiguousarray(code, dtype=np.int64), ts=ts, sess=sess,
                   sess_start=np.repeat(starts, lens).astype(np.int32),  # rows < 2**31 (grow_arrays)
                   sess_end=np.repeat(ends, lens).astype(np.int32), V=V, step=max_gap + 1, span_us=span_us,
                   span_free=span_free, open_gaps=open_gaps, **arrays)


def _chunks(r: _Rows, parts: Parts, size: int) -> Iterator[States]:
    """The states in slices of about ``size`` cut only between sessions
    (each part holds whole sessions)."""
    for pid, end, d in parts:
        i, n = 0, len(pid)
        while i < n:
            j = min(i + size, n)
            if j < n:  # finish the session of the last state
                j = int(np.searchsorted(end, end.dtype.type(r.sess_end[end[j - 1]]), side="left"))
            yield pid[i:j], end[i:j], d[i:j]
            i = j


def _level1_chunks(r: _Rows, size: int) -> Iterator[States]:
    """The level-1 states (each row, its own action) in slices of about
    ``size`` rows cut only between sessions, made one slice at a time."""
    i, n = 0, len(r.code)
    while i < n:
        j = min(i + size, n)
        if j < n:  # finish the session of the last row
            j = int(r.sess_end[j - 1])
        yield r.code[i:j].astype(np.int32), np.arange(i, j, dtype=np.int32), np.zeros(j - i, dtype=np.int32)
        i = j


def _lookup(keys: np.ndarray, space: int) -> Lookup:
    """``key -> index`` in the sorted unique ``keys`` (-1 when absent): a
    dense table when ``space`` is small enough, else a binary search."""
    none = np.zeros(1, np.int64)
    if space <= DENSE_MAX:
        table = np.full(space, -1, dtype=np.int32)
        table[keys] = np.arange(len(keys), dtype=np.int32)
        return kernels().DENSE, table, none
    return kernels().SORTED, np.zeros(1, np.int32), np.ascontiguousarray(keys, dtype=np.int64)


def _extend(r: _Rows, st: States, npat: int, lookup: Lookup, parent_ok: np.ndarray, narrow: bool) -> States:
    pid, end, d = st
    if len(pid) == 0:
        return np.zeros(0, np.int32 if narrow else np.int64), np.zeros(0, np.int32), np.zeros(0, np.int32)
    mode, table, keys = lookup
    if r.open_gaps:
        q, t, nd = kernels().extend_open(pid, end, d, r.code, r.ts, r.sess_start, r.sess_end, r.V, npat, r.span_us,
                                       r.span_free, mode, table, keys, parent_ok)
    else:
        q, t, nd = kernels().extend(pid, end, d, r.code, r.ts, r.sess_start, r.V, npat, r.step, r.span_us,
                                  r.span_free, mode, table, keys, parent_ok)
    return (q.astype(np.int32) if narrow else q), t, nd  # narrow: ids of this level's patterns (< 2**31)


class _Found(NamedTuple):
    """What a window pass finds for its level."""

    ukeys: np.ndarray  # sorted keys (parent * V + code) of the level's patterns
    has_o: np.ndarray
    has_e: np.ndarray
    look: Lookup  # key -> pattern id, for the counting pass too
    window: Parts  # the level's window states
    everything: Parts | None  # every extension, when every state was a window state


def _window_keys(r: _Rows, parts: list[States], space: int, bounds):
    """The sorted keys with a window state among ``parts``, their pre-onset /
    pre-error flags and each part's window mask (key tables when ``space``
    is small enough, else a sort)."""
    if space <= DENSE_MAX:
        o_key, e_key = np.zeros(space, dtype=bool), np.zeros(space, dtype=bool)
        masks = [kernels().window_flags(k, e, d, r.ts, bounds[0], bounds[1], o_key, e_key) for k, e, d in parts]
        ukeys = np.flatnonzero(o_key | e_key)
        return ukeys, o_key[ukeys], e_key[ukeys], masks
    flags = []
    for k, e, d in parts:
        start = r.ts[e - d]
        flags.append((start >= bounds[0][e], start >= bounds[1][e]))
    masks = [o | e for o, e in flags]
    ukeys = np.unique(np.concatenate([k[m] for (k, _, _), m in zip(parts, masks)]))
    has_o, has_e = np.zeros(len(ukeys), dtype=bool), np.zeros(len(ukeys), dtype=bool)
    for (k, _, _), (o, e) in zip(parts, flags):
        has_o[np.searchsorted(ukeys, k[o])] = True
        has_e[np.searchsorted(ukeys, k[e])] = True
    return ukeys, has_o, has_e, masks


def _window_pass(r: _Rows, wst: Parts, npat_prev: int, size: int, bounds, keep_all: bool):
    """The level's patterns (sorted keys), their window flags, the key ->
    id lookup and the window states; with ``keep_all`` (the window states
    were every state) also every extension, as the counting pass would have
    made it."""
    ident = (kernels().IDENTITY, np.zeros(1, np.int32), np.zeros(1, np.int64))
    every = np.ones(npat_prev, dtype=bool)
    parts = list(ordered_map(lambda ch: _extend(r, ch, npat_prev, ident, every, False), _chunks(r, wst, size)))
    space = npat_prev * r.V
    ukeys, has_o, has_e, masks = _window_keys(r, parts, space, bounds)
    if len(ukeys) == 0:
        return None
    ukeys = ukeys.astype(np.int64)
    look = _lookup(ukeys, space)
    window = [kernels().remap(k, e, d, *look, m, True) for (k, e, d), m in zip(parts, masks)]
    everything = [kernels().remap(k, e, d, *look, m, False) for (k, e, d), m in zip(parts, masks)] if keep_all \
        else None
    return _Found(ukeys, has_o, has_e, look, window, everything)


@dataclass
class _Pass:
    """One level found by the window pass: its patterns and how to grow into them."""

    k: int
    ukeys: np.ndarray
    has_o: np.ndarray
    has_e: np.ndarray
    npat_prev: int
    look: Lookup
    parent_ok: np.ndarray
    lv: LevelCounts


def _new_pass(r: _Rows, k: int, res: _Found, npat_prev: int, gid0: int) -> _Pass:
    ukeys, has_o, has_e, look = res.ukeys, res.has_o, res.has_e, res.look
    if gid0 + len(ukeys) >= 2**31:
        raise OverflowError("more than 2**31 patterns")
    parent_ok = np.zeros(npat_prev, dtype=bool)
    parent_ok[ukeys // r.V] = True
    return _Pass(k, ukeys, has_o, has_e, npat_prev, look, parent_ok, LevelCounts(r, len(ukeys)))


def _levelwise(r: _Rows, states: Parts, wst: Parts, size: int, bounds, max_len: int) -> list[_Pass]:
    """Dense windows: each level's window pass, then its counting pass (the
    window pass's own extensions when every state was a window state)."""
    passes: list[_Pass] = []
    npat_prev, gid0 = r.V, 0
    for k in range(2, max_len + 1):
        if sum(len(p[0]) for p in wst) == 0:
            break
        n_states, n_window = (sum(len(x[0]) for x in parts) for parts in (states, wst))
        res = _window_pass(r, wst, npat_prev, size, bounds, keep_all=n_window == n_states)
        if res is None:
            break
        ps = _new_pass(r, k, res, npat_prev, gid0)
        wst, everything = res.window, res.everything
        kept: Parts = []
        counted = (everything if everything is not None else  # the window pass extended every state
                   ordered_map(lambda ch, ps=ps: _extend(r, ch, ps.npat_prev, ps.look, ps.parent_ok, True),
                               _chunks(r, states, size)))
        for st in counted:
            ps.lv.add(st)
            if k < max_len:
                kept.append(st)
        states = kept
        passes.append(ps)
        npat_prev, gid0 = len(ps.ukeys), gid0 + len(ps.ukeys)
    return passes


def _depth_first(r: _Rows, wst: Parts, size: int, bounds, max_len: int) -> list[_Pass]:
    """Sparse windows: every level's patterns from the window passes alone,
    then each chunk of sessions grown through all levels in turn, so only one
    chunk's states are held at a time (the level-1 states too)."""
    passes: list[_Pass] = []
    npat_prev, gid0 = r.V, 0
    for k in range(2, max_len + 1):
        if sum(len(p[0]) for p in wst) == 0:
            break
        res = _window_pass(r, wst, npat_prev, size, bounds, keep_all=False)
        if res is None:
            break
        passes.append(_new_pass(r, k, res, npat_prev, gid0))
        wst = res.window
        npat_prev, gid0 = len(res.ukeys), gid0 + len(res.ukeys)

    # each thread counts its chunks into counters of its own (a session is
    # in one chunk only), added up at the end; completions stay in row order
    local, per_thread, lock = threading.local(), [], threading.Lock()

    def counters() -> list[Counts]:
        mine = getattr(local, "counts", None)
        if mine is None:
            mine = local.counts = [Counts(len(ps.ukeys)) for ps in passes]
            with lock:
                per_thread.append(mine)
        return mine

    def down(ch: States) -> list[tuple[np.ndarray, np.ndarray]]:
        out = []
        for ps, counts in zip(passes, counters()):
            ch = _extend(r, ch, ps.npat_prev, ps.look, ps.parent_ok, True)
            counts.count(r, ch)
            out.append(ps.lv.kept(ch))
            if len(ch[0]) == 0:
                break
        return out

    for levels in ordered_map(down, _level1_chunks(r, max(size // 8, 1))):
        for ps, kept in zip(passes, levels):
            ps.lv.compl.append(kept)
    for mine in per_thread:
        for ps, counts in zip(passes, mine):
            ps.lv.counted.absorb(counts)
    return passes


def grow_arrays(*, sess, code, ts, elig, failing, control, onset_lo, err_lo, row_hash, sess_hash, V: int,
                max_len: int, max_gap: int, span_us: int, rare_below: float,
                chunk: int | None = None,
                keep_rows: np.ndarray | None = None) -> tuple[list[pl.DataFrame], list[pl.DataFrame]]:
    """Grow every pattern (length 2..max_len) with a window occurrence.

    Rows are sorted by session then time; ``onset_lo`` / ``err_lo`` give per
    row the earliest start of an occurrence ending there inside a pre-onset
    / pre-error window (int64 max: none).  Returns one patterns frame and one
    completions frame (rare patterns: support below ``rare_below``) per
    level, with the columns of :class:`forensics.mining.candidates.Counted`.
    ``keep_rows`` (bool per row, default every row) limits the completions
    frames to the completions ending on those rows; the counts are unchanged.
    """
    n = len(code)
    if n >= 2**31:
        raise OverflowError("more than 2**31 action rows")
    r = _Rows.build(sess, code, ts, V=V, max_gap=max_gap, span_us=span_us, elig=elig, failing=failing,
                    control=control, sess_hash=sess_hash, row_hash=row_hash, keep_rows=keep_rows)
    size = chunk or CHUNK
    bounds = (onset_lo, err_lo)
    win1 = np.flatnonzero((r.ts >= onset_lo) | (r.ts >= err_lo))
    wst: Parts = [(r.code[win1].astype(np.int32), win1.astype(np.int32), np.zeros(len(win1), dtype=np.int32))]
    if len(win1) >= LEVELWISE_SHARE * max(n, 1):
        states: Parts = [(r.code.astype(np.int32), np.arange(n, dtype=np.int32), np.zeros(n, dtype=np.int32))]
        passes = _levelwise(r, states, wst, size, bounds, max_len)
    else:
        passes = _depth_first(r, wst, size, bounds, max_len)
    frames: list[pl.DataFrame] = []
    compl: list[pl.DataFrame] = []
    codes_prev = np.arange(V, dtype=np.int64)[:, None]
    gid0 = 0
    for ps in passes:
        npat = len(ps.ukeys)
        codes = np.concatenate([codes_prev[ps.ukeys // V], (ps.ukeys % V)[:, None]], axis=1)
        frames.append(pl.DataFrame({
            "gid": np.arange(gid0, gid0 + npat, dtype=np.int64),
            "length": np.full(npat, ps.k, dtype=np.int32),
            "codes": pl.Series(codes).cast(pl.List(pl.Int64)),
            "onset_window": ps.has_o,
            "error_window": ps.has_e,
            **ps.lv.counts(),
        }))
        compl.append(ps.lv.completions(gid0, rare_below))
        gid0 += npat
        codes_prev = codes
    return frames, compl
