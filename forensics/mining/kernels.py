"""Compiled inner loops of the growth engine (:mod:`.growth`).

States are kept in row order (sorted by end row, then pattern), so both
loops sweep the log's rows once, in order, and touch per-pattern arrays
only (small enough to stay in cache):

* :func:`extend` grows the states of a run of whole sessions by one action.
  For each target row ``t`` it gathers the states ending in the ``max_gap +
  1`` rows before it (same session), keeps per parent pattern the latest
  start (which also decides the span rule) and emits one state per new
  pattern, in pattern order: the output stays sorted by (end, pattern) and
  has no duplicates to merge.
  :func:`extend_open` does the same when the gap never binds, keeping the
  parents seen so far in the session instead of a window of rows.
* :func:`count` adds a run of states to a level's per-pattern counts:
  sessions (the first state of a pattern in a session is its earliest),
  eligible completions, failing/control sessions and the set signatures,
  summed in float64 in row order (the order ``np.bincount`` used before, so
  the sums are bit-identical).

``tests/test_mining_grow.py`` checks the engine against the previous
algorithm on every path.
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: ``extend``'s key modes: the key itself, a dense table, or a sorted key array.
IDENTITY, DENSE, SORTED = 0, 1, 2


@njit(cache=True, nogil=True, inline="always")
def _lookup(key, mode, table, keys):
    if mode == IDENTITY:
        return key
    if mode == DENSE:
        return np.int64(table[key])
    lo, hi = 0, len(keys)
    while lo < hi:
        mid = (lo + hi) >> 1
        if keys[mid] < key:
            lo = mid + 1
        else:
            hi = mid
    return np.int64(lo) if lo < len(keys) and keys[lo] == key else np.int64(-1)


@njit(cache=True, nogil=True)
def _join(p, st, mark, stamp, best, lst, m):
    """Parent ``p`` with start row ``st`` joins the sorted parent list
    ``lst[:m]`` of the current target (``mark``), keeping its latest start;
    returns the new length."""
    if stamp[p] != mark:
        stamp[p] = mark
        best[p] = st
        x = m
        while x > 0 and lst[x - 1] > p:
            lst[x] = lst[x - 1]
            x -= 1
        lst[x] = p
        return m + 1
    if st > best[p]:
        best[p] = st
    return m


@njit(cache=True, nogil=True)
def _emit(t, lst, m, best, code, ts, V, span_us, span_free, mode, table, keys, oq, ot, od, out):
    """Extend each parent of ``lst[:m]`` to row ``t`` (span rule on its
    latest start; the key lookup); returns the new output length."""
    c = code[t]
    for x in range(m):
        p = lst[x]
        st = best[p]
        if not span_free and ts[t] - ts[st] > span_us:
            continue
        q = _lookup(p * V + c, mode, table, keys)
        if q < 0:
            continue
        oq[out], ot[out], od[out] = q, t, t - st
        out += 1
    return out


@njit(cache=True, nogil=True)
def extend(pid, end, d, code, ts, sess_start, V, npat, step, span_us, span_free, mode, table, keys, parent_ok):
    """Extend states (sorted by end row, then pattern; whole sessions) by one action.

    Returns ``(new id, end, d)`` sorted by (end, new id): for each new
    pattern and end row, the embedding with the latest start (smallest
    ``d``).  ``mode``: :data:`IDENTITY` (new id = ``pattern * V + code``),
    :data:`DENSE` (``table[key]``) or :data:`SORTED` (index of the key in
    ``keys``); a negative id drops the extension.  Parents with
    ``parent_ok`` false are skipped.  The arrays are right-sized copies.
    """
    n = len(pid)
    nrows = len(sess_start)
    bound = n * step
    oq = np.empty(bound, np.int64)
    ot = np.empty(bound, np.int32)
    od = np.empty(bound, np.int32)
    stamp = np.full(npat, -1, np.int64)
    best = np.zeros(npat, np.int64)
    lst = np.empty(max(n, 1), np.int64)
    out = 0
    a = 0  # first state ending at or after t - step
    b = 0  # first state ending at or after t
    t = end[0] + 1 if n else nrows
    while t < nrows:
        while b < n and end[b] < t:
            b += 1
        while a < b and end[a] < t - step:
            a += 1
        if a == b:  # no state ends in the gap before t: jump to the next end
            if b == n:
                break
            t = end[b] + 1
            continue
        lo = a
        while lo < b and end[lo] < sess_start[t]:  # only this session's states
            lo += 1
        m = 0
        for s in range(lo, b):
            if parent_ok[pid[s]]:
                m = _join(pid[s], end[s] - d[s], t, stamp, best, lst, m)
        out = _emit(t, lst, m, best, code, ts, V, span_us, span_free, mode, table, keys, oq, ot, od, out)
        t += 1
    return oq[:out].copy(), ot[:out].copy(), od[:out].copy()


@njit(cache=True, nogil=True)
def extend_open(pid, end, d, code, ts, sess_start, sess_end, V, npat, span_us, span_free, mode, table, keys,
                parent_ok):
    """:func:`extend` when the gap rule never binds (``max_gap`` at least the
    longest session): every state extends to every later row of its
    session, so per session the parents seen so far and their latest start
    are kept, and each row extends all of them (linear in the output)."""
    n = len(pid)
    stamp = np.full(npat, -1, np.int64)
    best = np.zeros(npat, np.int64)
    bound = 0  # targets of each (parent, session) from its first end on
    for s in range(n):
        p = pid[s]
        if parent_ok[p] and stamp[p] != sess_start[end[s]]:
            stamp[p] = sess_start[end[s]]
            bound += sess_end[end[s]] - 1 - end[s]
    stamp[:] = -1
    oq = np.empty(bound, np.int64)
    ot = np.empty(bound, np.int32)
    od = np.empty(bound, np.int32)
    lst = np.empty(max(n, 1), np.int64)
    out = 0
    i = 0
    while i < n:
        s0 = sess_start[end[i]]
        s1 = sess_end[end[i]]
        m = 0
        for t in range(end[i] + 1, s1):
            while i < n and end[i] < t:  # the states ending before t join the parents seen so far
                if parent_ok[pid[i]]:
                    m = _join(pid[i], end[i] - d[i], s0, stamp, best, lst, m)
                i += 1
            out = _emit(t, lst, m, best, code, ts, V, span_us, span_free, mode, table, keys, oq, ot, od, out)
        while i < n and end[i] < s1:  # states on the session's last row extend nowhere
            i += 1
    return oq[:out].copy(), ot[:out].copy(), od[:out].copy()


@njit(cache=True, nogil=True)
def count(pid, end, sess, elig, failing, control, sess_hash, row_hash, stamp, acc, sig):
    """Add states (sorted by end row; whole sessions, after the previous
    call's) to a level's counts.  ``acc`` (npat, 4) int64: support,
    completions, failing_with (a failing session with an eligible
    completion), control_with; ``sig`` (npat, 3) int64: sig_sessions,
    sig_failing, sig_completions; ``stamp`` (npat, 2) int64: the last
    session counted per pattern, for support and for failing_with (start
    at -1)."""
    for i in range(len(pid)):
        p = pid[i]
        e = end[i]
        s = sess[e]
        if stamp[p, 0] != s:  # the pattern's first completion in this session
            stamp[p, 0] = s
            acc[p, 0] += 1
            sig[p, 0] += sess_hash[s]
            if control[s]:
                acc[p, 3] += 1
        if failing[s] and elig[e] and stamp[p, 1] != s:
            stamp[p, 1] = s
            acc[p, 2] += 1
            sig[p, 1] += sess_hash[s]
        if elig[e]:
            acc[p, 1] += 1
            sig[p, 2] += row_hash[e]


@njit(cache=True, nogil=True)
def group_order(pid, npat):
    """The stable order that groups ``pid`` by value (a counting sort)."""
    start = np.zeros(npat + 1, np.int64)
    for i in range(len(pid)):
        start[pid[i] + 1] += 1
    for p in range(npat):
        start[p + 1] += start[p]
    out = np.empty(len(pid), np.int64)
    for i in range(len(pid)):
        p = pid[i]
        out[start[p]] = i
        start[p] += 1
    return out


@njit(cache=True, nogil=True)
def window_flags(key, end, d, ts, onset_lo, err_lo, has_o, has_e):
    """Mark in ``has_o`` / ``has_e`` (indexed by key) the keys with a state
    inside a pre-onset / pre-error window; returns the window mask."""
    w = np.empty(len(key), np.bool_)
    for i in range(len(key)):
        st = ts[end[i] - d[i]]
        o = st >= onset_lo[end[i]]
        e = st >= err_lo[end[i]]
        w[i] = o or e
        if o:
            has_o[key[i]] = True
        if e:
            has_e[key[i]] = True
    return w


@njit(cache=True, nogil=True)
def remap(key, end, d, mode, table, keys, w, window_only):
    """States with their keys mapped to ids (:func:`_lookup`; absent keys
    dropped), only the window ones (mask ``w``) when ``window_only``."""
    ids = np.empty(len(key), np.int64)
    n = 0
    for i in range(len(key)):
        ids[i] = _lookup(key[i], mode, table, keys) if (w[i] or not window_only) else -1
        if ids[i] >= 0:
            n += 1
    oq = np.empty(n, np.int32)
    ot = np.empty(n, np.int32)
    od = np.empty(n, np.int32)
    j = 0
    for i in range(len(key)):
        if ids[i] >= 0:
            oq[j], ot[j], od[j] = ids[i], end[i], d[i]
            j += 1
    return oq, ot, od
