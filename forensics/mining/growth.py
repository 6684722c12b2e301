"""Level-wise growth of gapped action sequences over integer arrays.

The engine behind :func:`forensics.mining.candidates.grow` (which documents
the occurrence semantics).  A level-k *state* is one ``(pattern, completion
row)`` with the latest start of an embedding ending there, stored as the
row distance ``d = end - start_row`` (rows are in time order within a
session, so the latest start row has the latest start time).

A level is grown in one of two ways, with identical results:

* **Window-first** (when few states lie in a window, the usual case).  A
  window pass extends only the states inside a window (pre-onset or
  pre-error).  A prefix of a window occurrence is a window occurrence (it
  ends earlier in the same session, so it falls in the same pre-onset window
  and its end is still eligible), and the window test is monotone in the
  start, so the latest start among window predecessors is the overall latest
  start whenever the result is in a window: this small pass yields exactly
  the window states of the full growth, hence the level's patterns.  The
  counting pass then extends every state of the parent patterns, keeping
  only extensions into this level's patterns *before* duplicates are merged.
* **Combined** (when at least half the states lie in a window): one pass
  extends every state, tests the windows and keeps the patterns with a
  window state.

Both run in chunks of whole parent patterns: a chunk's new patterns are a
contiguous, sorted range of ids, so chunks are independent and peak memory
stays a few times the chunk size.  Extending a chunk (merging duplicate
``(pattern, end)`` extensions to the latest start) and counting a level are
compiled loops (:mod:`.kernels`); chunks run on two threads.  When the gap
never binds (``max_gap`` at least the longest session), a state extends to
the rows up to the next state's end of its (pattern, session), with a
running maximum of the start, instead of once per gap.  The Python loops
are over the levels and the chunks.

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

from collections.abc import Iterator

import numpy as np
import polars as pl

from ..concurrency import ordered_map
from . import kernels

#: states per chunk (peak memory is a few times this)
CHUNK = 1 << 20
#: largest dense key -> pattern id table (int32 entries); larger: searchsorted
DENSE_MAX = 1 << 26
#: extension by running maximum when the gap cannot bind (tests switch it off)
OPEN_GAPS = True
#: share of window states from which a level is grown in one combined pass
COMBINED_SHARE = 0.5

States = tuple[np.ndarray, np.ndarray, np.ndarray]  # pid, end, d (int32 when stored, else int64)
_STATS = ("support", "completions", "failing_with", "control_with", "sig_sessions", "sig_failing",
          "sig_completions")


def _nbits(x: int) -> int:
    return max(int(x), 1).bit_length()


def _empty() -> States:
    e = np.zeros(0, np.int32)
    return e, e, e


class _Rows:
    """Per-row arrays shared by every level."""

    def __init__(self, sess, code, ts, *, V: int, max_gap: int, span_us: int, max_len: int):
        n = len(code)
        self.n, self.V = n, V
        self.step = max_gap + 1
        pad = np.zeros(self.step, dtype=np.int64)  # rows past the end are never live (sess_end)
        self.code = np.r_[code.astype(np.int64, copy=False), pad]
        self.ts = np.r_[ts.astype(np.int64, copy=False), pad]
        self.sess = sess.astype(np.int32)
        # index one past the last row of each row's session
        ends = np.r_[np.flatnonzero(sess[1:] != sess[:-1]) + 1, n] if n else np.zeros(0, np.int64)
        lens = np.diff(np.r_[0, ends])
        self.sess_end = np.repeat(ends, lens).astype(np.int32)
        self.open = OPEN_GAPS and n > 0 and self.step >= lens.max()  # the gap rule never binds
        self.span_us = span_us
        self.span_free = n == 0 or span_us >= int(ts.max()) - int(ts.min())  # the span rule never binds
        self.ebits = _nbits(n)
        self.table = kernels.row_table(self.ts, self.code, self.sess_end, self.sess)


Lookup = tuple[int, np.ndarray, np.ndarray]  # (kernels mode, dense table, sorted keys)
_NO_LOOKUP: Lookup = (kernels.IDENTITY, np.zeros(1, np.int32), np.zeros(1, np.int64))


def _step(r: _Rows, st: States, lookup: Lookup = _NO_LOOKUP) -> States:
    """Extend states by one action and merge duplicates: one state per (new
    pattern, end), the latest start (smallest ``d``), sorted by (pattern,
    end) (:func:`.kernels.extend`)."""
    pid, end, d = st
    if len(pid) == 0:
        return _empty()
    mode, table, keys = lookup
    return kernels.extend(pid, end, d, r.table, r.V, r.step, r.span_us, r.span_free, r.open, mode, table, keys)


def _lookup(keys: np.ndarray, space: int) -> Lookup:
    """``key -> index`` in the sorted unique ``keys`` (-1 when absent): a
    dense table when ``space`` is small enough, else a binary search."""
    if space <= DENSE_MAX:
        table = np.full(space, -1, dtype=np.int32)
        table[keys] = np.arange(len(keys), dtype=np.int32)
        return kernels.DENSE, table, _NO_LOOKUP[2]
    return kernels.SORTED, _NO_LOOKUP[1], np.ascontiguousarray(keys, dtype=np.int64)


def _chunks(parts: list[States], size: int, keep: np.ndarray | None = None) -> Iterator[States]:
    """The states (of patterns with ``keep[pid]``), in slices of about
    ``size`` states cut only between patterns (each part is sorted by pattern)."""
    for st in parts:
        if keep is not None:
            m = keep[st[0]]
            st = st if m.all() else tuple(x[m] for x in st)
        pid = st[0]
        i, n = 0, len(pid)
        while i < n:
            j = min(i + size, n)
            if j < n:
                j = int(np.searchsorted(pid, pid[j - 1], side="right"))  # finish the last pattern
            yield tuple(x[i:j] for x in st)
            i = j


def _stats(lo: int, m: int, pid: np.ndarray, end: np.ndarray, a: dict) -> dict[str, np.ndarray]:
    """Counts of patterns ``lo .. lo+m-1`` from their states (sorted by
    pattern then end, so by session within a pattern)."""
    c = kernels.level_stats(pid, end, lo, m, a["sess"], a["elig"], a["failing"], a["control"], a["sess_hash"],
                            a["row_hash"])
    return {name: (x if x.dtype == np.int64 else x.astype(np.int64)) for name, x in zip(_STATS, c)}


class _Level:
    """One level's patterns and counts, filled chunk by chunk."""

    def __init__(self, gid0: int, rare_below: float, a: dict, keep: bool):
        self.gid0, self.rare_below, self.a, self.keep = gid0, rare_below, a, keep
        self.stats: list[tuple[int, dict]] = []
        self.compl: list[pl.DataFrame] = []
        self.states: list[States] = []

    def add(self, st: States) -> None:
        """Count one chunk of final states (contiguous pattern ids)."""
        pid, end, _ = st
        if len(pid) == 0:
            return
        lo = int(pid[0])
        c = _stats(lo, int(pid[-1]) + 1 - lo, pid, end, self.a)
        self.stats.append((lo, c))
        rare = c["support"] < self.rare_below
        # int32 ids and rows: on a large log these are ~100M rows (9 bytes each, not 17)
        if self.gid0 + int(pid[-1]) >= 2**31 or len(self.a["elig"]) >= 2**31:
            raise OverflowError("more than 2**31 patterns or action rows")
        keep = self.a["keep_rows"]
        rs = rare[pid - lo] if keep is None else rare[pid - lo] & keep[end]
        if rs.all():
            g, e = pid.astype(np.int32) + np.int32(self.gid0), end.astype(np.int32, copy=False)
        else:
            g, e = pid[rs].astype(np.int32) + np.int32(self.gid0), end[rs].astype(np.int32)
        self.compl.append(pl.DataFrame({"gid": g, "row": e, "elig": self.a["elig"][e]}))
        if self.keep:  # the next level extends them: stored compactly
            self.states.append(tuple(x.astype(np.int32) for x in st))

    def counts(self, npat: int) -> dict[str, np.ndarray]:
        out = {name: np.zeros(npat, dtype=np.int64) for name in _STATS}
        for lo, c in self.stats:
            for name in _STATS:
                out[name][lo:lo + len(c[name])] = c[name]
        return out


def _window_first(r, wparts, gparts, npat_prev, size, bounds, lv: _Level):
    """Window pass, then the counting pass restricted to its patterns."""
    V = r.V
    space = npat_prev * V
    win = list(ordered_map(lambda ch: _step(r, ch), _chunks(wparts, size)))
    wkey, wend, wd = (np.concatenate(x) for x in zip(*win)) if win else _empty()
    wkey = wkey.astype(np.int64)
    start = r.ts[wend - wd]
    ow, ew = start >= bounds[0][wend], start >= bounds[1][wend]
    w = ow | ew
    wkey, wend, wd, ow, ew = wkey[w], wend[w], wd[w], ow[w], ew[w]
    if len(wkey) == 0:
        return None
    pb = np.flatnonzero(np.r_[True, wkey[1:] != wkey[:-1]])
    ukeys = wkey[pb]
    new_w = (np.repeat(np.arange(len(ukeys), dtype=np.int32), np.diff(np.r_[pb, len(wkey)])), wend, wd)
    has_child = np.zeros(npat_prev, dtype=bool)
    has_child[ukeys // V] = True
    find = _lookup(ukeys, space)
    for st in ordered_map(lambda ch: _step(r, ch, find), _chunks(gparts, size, has_child)):
        lv.add(st)
    return ukeys, np.logical_or.reduceat(ow, pb), np.logical_or.reduceat(ew, pb), [new_w]


def _combined(r, gparts, npat_prev, size, bounds, lv: _Level):
    """Extend every state, keep the patterns with a window state."""
    keys, has_o, has_e, wnext = [], [], [], []
    offset = 0
    for key, end, d in ordered_map(lambda ch: _step(r, ch), _chunks(gparts, size)):
        if len(key) == 0:
            continue
        start = r.ts[end - d]
        ow, ew = start >= bounds[0][end], start >= bounds[1][end]
        w = ow | ew
        kb = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
        present = np.logical_or.reduceat(w, kb)
        if not present.any():
            continue
        cnt = np.diff(np.r_[kb, len(key)])
        pid = np.repeat((np.cumsum(present) - 1 + offset).astype(np.int32), cnt)
        if not present.all():
            keep = np.repeat(present, cnt)
            pid, end, d, w = pid[keep], end[keep], d[keep], w[keep]
        keys.append(key[kb][present].astype(np.int64))
        has_o.append(np.logical_or.reduceat(ow, kb)[present])
        has_e.append(np.logical_or.reduceat(ew, kb)[present])
        lv.add((pid, end, d))
        if lv.keep:
            wnext.append(lv.states[-1] if w.all() else tuple(x[w].astype(np.int32) for x in (pid, end, d)))
        offset += int(present.sum())
    if offset == 0:
        return None
    return np.concatenate(keys), np.concatenate(has_o), np.concatenate(has_e), wnext


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
    r = _Rows(sess, code, ts, V=V, max_gap=max_gap, span_us=span_us, max_len=max_len)
    size = chunk or CHUNK
    a = {"sess": r.sess, "elig": elig, "failing": failing, "control": control, "sess_hash": sess_hash,
         "row_hash": row_hash, "keep_rows": keep_rows}
    bounds = (onset_lo, err_lo)
    # level 1 (pattern id = code), sorted by (code, row): all states and window states
    v = np.sort((code.astype(np.int64) << r.ebits) | np.arange(r.n, dtype=np.int64))
    by_code = (v & ((1 << r.ebits) - 1)).astype(np.int32)
    gparts: list[States] = [((v >> r.ebits).astype(np.int32), by_code, np.zeros(r.n, dtype=np.int32))]
    del v
    win1 = ((ts >= onset_lo) | (ts >= err_lo))[by_code]
    wparts: list[States] = [tuple(x[win1] for x in gparts[0])]
    npat_prev = V
    codes_prev = np.arange(V, dtype=np.int64)[:, None]
    frames: list[pl.DataFrame] = []
    compl: list[pl.DataFrame] = []
    gid0 = 0
    for k in range(2, max_len + 1):
        n_all, n_win = (sum(len(p[0]) for p in x) for x in (gparts, wparts))
        if n_win == 0:
            break
        lv = _Level(gid0, rare_below, a, keep=k < max_len)
        if n_win >= COMBINED_SHARE * n_all:
            res = _combined(r, gparts, npat_prev, size, bounds, lv)
        else:
            res = _window_first(r, wparts, gparts, npat_prev, size, bounds, lv)
        gparts = lv.states  # (drops the previous level's states)
        if res is None:
            break  # (an empty level frame would change nothing: same schema)
        ukeys, has_o, has_e, wparts = res
        npat = len(ukeys)
        codes = np.concatenate([codes_prev[ukeys // V], (ukeys % V)[:, None]], axis=1)
        frames.append(pl.DataFrame({
            "gid": np.arange(gid0, gid0 + npat, dtype=np.int64),
            "length": np.full(npat, k, dtype=np.int32),
            "codes": pl.Series(codes).cast(pl.List(pl.Int64)),
            "onset_window": has_o,
            "error_window": has_e,
            **lv.counts(npat),
        }))
        compl.append(pl.concat(lv.compl, rechunk=False))  # no copy: it can be 100M rows
        gid0 += npat
        npat_prev, codes_prev = npat, codes
    return frames, compl
