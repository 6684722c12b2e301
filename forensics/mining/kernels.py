"""Compiled inner loops of the growth engine (:mod:`.growth`).

Two loops over the states of one chunk, compiled with Numba (``nogil``, so
the chunks of :func:`forensics.concurrency.ordered_map` run on both cores):

* :func:`extend` grows each ``(pattern, end, d)`` state by one action and
  merges duplicate ``(new pattern, end)`` extensions, keeping the smallest
  ``d`` (the latest start).  Within one parent pattern the new patterns are
  ordered by the action's code, so a counting sort into one bucket per code
  puts the output in ``(new pattern, end)`` order without a comparison sort,
  and a duplicate can only be one of the last ``max_gap + 1`` entries of
  its bucket.
* :func:`level_stats` counts each pattern's sessions, eligible
  completions, failing/control sessions and set signatures in one pass over
  its states (sorted by pattern, then end, hence by session).

Both replace NumPy pipelines (gathers, a packed ``np.sort``, ``bincount``)
that gave the same arrays; ``tests/test_mining_grow.py`` checks every
engine path against the previous algorithm.  Signatures are summed in
float64 in the order ``np.bincount`` used, so they are bit-identical.
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
def extend(pid, end, d, rows, V, step, span_us, span_free, open_gaps, mode, table, keys):
    """Extend states (sorted by pattern, then end) by one action.

    ``rows`` is the (n, 4) int64 table of :func:`row_table` (time, code,
    session end, session per row: one cache line per lookup).  Returns
    ``(new id, end, d)`` sorted by (new id, end), one per (new id, end) with
    the smallest ``d``.  ``mode``: :data:`IDENTITY` (new id =
    ``pattern * V + code``), :data:`DENSE` (``table[key]``) or
    :data:`SORTED` (index of the key in ``keys``); a negative id drops the
    extension.  ``open_gaps``: the gap rule never binds, so a state extends
    to every row up to the next state's end of its (pattern, session), from
    the latest start so far.
    """
    n = len(pid)
    bound = 0
    if open_gaps:
        for s in range(n):
            e = end[s]
            if s + 1 < n and pid[s + 1] == pid[s] and rows[end[s + 1], 3] == rows[e, 3]:
                bound += end[s + 1] - e
            else:
                bound += rows[e, 2] - 1 - e
    else:
        bound = n * step
    # every extension once, in state order (code, row, d, new id), then a
    # counting sort of each parent pattern's extensions into code buckets
    bc = np.empty(bound, np.int64)
    bt = np.empty(bound, np.int64)
    bd = np.empty(bound, np.int64)
    bq = np.empty(bound, np.int64)
    oq = np.empty(bound, np.int64)
    ot = np.empty(bound, np.int64)
    od = np.empty(bound, np.int64)
    cnt = np.zeros(V, np.int64)
    last = np.full(V, -1, np.int64)
    pos = np.zeros(V, np.int64)
    first = np.zeros(V, np.int64)
    touched = np.empty(V, np.int64)
    out = 0
    i = 0
    while i < n:
        j = i
        while j < n and pid[j] == pid[i]:
            j += 1
        base = pid[i] * V
        k0 = out  # this pattern's extensions go to the buffers from here
        k = k0
        nt = 0
        best = -1
        for s in range(i, j):
            e = end[s]
            if open_gaps:
                if s == i or rows[e, 3] != rows[end[s - 1], 3]:
                    best = e - d[s]
                else:
                    best = max(best, e - d[s])
                if s + 1 < j and rows[end[s + 1], 3] == rows[e, 3]:
                    stop = end[s + 1]
                else:
                    stop = rows[e, 2] - 1
                lo_t, hi_t, latest = e + 1, stop, rows[best, 0] + span_us
            else:
                lo_t, hi_t, latest = e + 1, min(e + step, rows[e, 2] - 1), rows[e - d[s], 0] + span_us
            for t in range(lo_t, hi_t + 1):
                if not span_free and rows[t, 0] > latest:
                    break
                c = rows[t, 1]
                q = _lookup(base + c, mode, table, keys)
                if q < 0:
                    continue
                if cnt[c] == 0:
                    touched[nt] = c
                    nt += 1
                if t > last[c]:
                    cnt[c] += 1
                    last[c] = t
                bc[k], bt[k], bq[k] = c, t, q
                bd[k] = t - best if open_gaps else d[s] + t - e
                k += 1
        tc = np.sort(touched[:nt])  # new ids grow with the code within a parent
        for x in range(nt):
            c = tc[x]
            first[c] = out
            pos[c] = out
            out += cnt[c]
            last[c] = -1
        for x in range(k0, k):  # fill each code's bucket in row order, merging duplicates
            c, t = bc[x], bt[x]
            if t > last[c]:
                p = pos[c]
                oq[p], ot[p], od[p] = bq[x], t, bd[x]
                pos[c] = p + 1
                last[c] = t
            else:  # the same row reached again: one of the bucket's last entries
                p = pos[c] - 1
                while p > first[c] and ot[p] != t:
                    p -= 1
                if bd[x] < od[p]:
                    od[p] = bd[x]
        for x in range(nt):
            cnt[touched[x]] = 0
            last[touched[x]] = -1
        i = j
    return oq[:out], ot[:out], od[:out]


def row_table(ts: np.ndarray, code: np.ndarray, sess_end: np.ndarray, sess: np.ndarray) -> np.ndarray:
    """The (n, 4) int64 per-row table :func:`extend` reads: time, code,
    session end (one past the session's last row), session."""
    return np.ascontiguousarray(np.stack([ts[:len(sess)], code[:len(sess)], sess_end, sess], axis=1), dtype=np.int64)


@njit(cache=True, nogil=True)
def level_stats(pid, end, lo, m, sess, elig, failing, control, sess_hash, row_hash):
    """Counts of patterns ``lo .. lo+m-1`` from their states (sorted by
    pattern, then end): support, completions (eligible), failing_with (a
    failing session with an eligible completion), control_with and the
    float64 sums of session / row hashes (sig_sessions, sig_failing,
    sig_completions)."""
    support = np.zeros(m, np.int64)
    completions = np.zeros(m, np.int64)
    failing_with = np.zeros(m, np.int64)
    control_with = np.zeros(m, np.int64)
    sig_s = np.zeros(m, np.float64)
    sig_f = np.zeros(m, np.float64)
    sig_c = np.zeros(m, np.float64)
    n = len(pid)
    i = 0
    while i < n:
        p = pid[i] - lo
        s = sess[end[i]]
        any_el = False
        j = i
        while j < n and pid[j] == pid[i] and sess[end[j]] == s:
            if elig[end[j]]:
                completions[p] += 1
                sig_c[p] += row_hash[end[j]]
                any_el = True
            j += 1
        support[p] += 1
        sig_s[p] += sess_hash[s]
        if failing[s] and any_el:
            failing_with[p] += 1
            sig_f[p] += sess_hash[s]
        if control[s]:
            control_with[p] += 1
        i = j
    return support, completions, failing_with, control_with, sig_s, sig_f, sig_c
