"""Where a sequence occurs: the gap/span rule, stated once.

docs/statistics.md, "Occurrences": a sequence ``(a1..ak)`` occurs in a
session at action rows ``r1 < ... < rk`` when ``code[ri] == ai``, at most
``max_gap`` other actions lie between two consecutive steps
(``r(i+1) - ri - 1 <= max_gap``) and ``ts[rk] - ts[r1] <= max_span_s``.
Its *completion* is ``rk``; several embeddings ending at one row are one
completion, represented by the embedding with the **latest start** (then
the latest second-to-last step, then the latest step before it, ...).

The counting engine (:mod:`.growth`) applies the same rule to every
candidate at once, for counts; this module locates the occurrences of a
few sequences (suspects, evidence occurrences, classification), and
``tests/test_mining_occurrences.py`` checks that both find the same
completions.
"""

from __future__ import annotations

import numpy as np

__all__ = ["occurrences", "embeddings", "embeddings_many", "embedding", "sessions_with"]


def occurrences(p, codes: tuple[int, ...], *, max_gap: int, max_span_s: float) -> np.ndarray:
    """Rows of every occurrence of ``codes``: one per completion row (sorted),
    the latest-start embedding, shape ``(n, len(codes))``.

    ``p`` needs ``code``, ``sess`` and ``ts`` (int64 us) per row, rows sorted
    by session then time (a :class:`~forensics.mining.candidates.Prepared`).

    >>> from types import SimpleNamespace as NS
    >>> p = NS(code=np.array([0, 1, 0, 1, 1]), sess=np.array([0, 0, 0, 0, 1]), ts=np.arange(5) * 1_000_000)
    >>> occurrences(p, (0, 1), max_gap=1, max_span_s=60).tolist()
    [[0, 1], [2, 3]]
    """
    n = len(p.code)
    paths = np.flatnonzero(p.code == codes[0])[:, None]
    span = int(max_span_s * 1e6)
    for c in codes[1:]:
        ext = []
        for g in range(max_gap + 1):  # a handful of gaps
            nxt = paths[:, -1] + 1 + g
            ok = nxt < n
            nx = np.where(ok, nxt, 0)
            ok &= (p.sess[nx] == p.sess[paths[:, -1]]) & (p.code[nx] == c) & (p.ts[nx] - p.ts[paths[:, 0]] <= span)
            ext.append(np.hstack([paths[ok], nx[ok, None]]))
        paths = np.vstack(ext)
        if len(paths) == 0:
            return np.zeros((0, len(codes)), dtype=np.int64)
        # one path per end row: the latest start, then (stable) the smallest last gap
        order = np.lexsort((-paths[:, 0], paths[:, -1]))
        paths = paths[order]
        paths = paths[np.r_[True, paths[1:, -1] != paths[:-1, -1]]]
    return paths.astype(np.int64)


def embeddings(p, codes: tuple[int, ...], ends: np.ndarray, *, max_gap: int,
               max_span_s: float) -> np.ndarray:
    """The latest-start embedding of ``codes`` ending at each row of ``ends``,
    shape ``(len(ends), len(codes))``; a row of -1 where none satisfies the
    gap and span rules.

    Searches backwards from the given rows only (at most
    ``(max_gap + 1) ** (k - 1)`` paths per row), so it is cheap for a few
    completions of a large log.
    """
    ends = np.asarray(ends, dtype=np.int64)
    tiled = np.broadcast_to(np.asarray(codes, dtype=np.int64), (len(ends), len(codes)))
    return embeddings_many(p, tiled, ends, max_gap=max_gap, max_span_s=max_span_s)


def embeddings_many(p, codes: np.ndarray, ends: np.ndarray, *, max_gap: int, max_span_s: float) -> np.ndarray:
    """As :func:`embeddings`, for many sequences of one length at once: row
    ``i`` is the latest-start embedding of ``codes[i]`` ((n, k) array) ending
    at ``ends[i]`` (-1 where none satisfies the gap and span rules)."""
    ends = np.asarray(ends, dtype=np.int64)
    n, k = codes.shape
    out = np.full((n, k), -1, dtype=np.int64)
    if n == 0:
        return out
    idx = np.flatnonzero(p.code[ends] == codes[:, -1])
    paths = ends[idx][:, None]
    for s in range(k - 2, -1, -1):  # backwards, one step at a time
        ext, owner = [], []
        for g in range(max_gap + 1):
            prev = paths[:, 0] - 1 - g
            ok = prev >= 0
            pv = np.where(ok, prev, 0)
            ok &= (p.sess[pv] == p.sess[paths[:, 0]]) & (p.code[pv] == codes[idx, s])
            ext.append(np.hstack([pv[ok, None], paths[ok]]))
            owner.append(idx[ok])
        paths, idx = np.vstack(ext), np.concatenate(owner)
        if len(paths) == 0:
            return out
    if len(paths) == 0:
        return out
    keys = [paths[:, j] for j in range(1, k - 1)] + [paths[:, 0], idx]
    order = np.lexsort(keys)
    last = np.r_[idx[order][1:] != idx[order][:-1], True]
    best, who = paths[order][last], idx[order][last]
    ok = p.ts[best[:, -1]] - p.ts[best[:, 0]] <= int(max_span_s * 1e6)
    out[who[ok]] = best[ok]
    return out


def embedding(p, codes: tuple[int, ...], end: int, *, max_gap: int, max_span_s: float) -> tuple[int, ...] | None:
    """Rows of the latest-start embedding of ``codes`` ending at row ``end``
    (None when none satisfies the gap and span rules)."""
    rows = embeddings(p, codes, np.array([end]), max_gap=max_gap, max_span_s=max_span_s)[0]
    return None if rows[0] < 0 else tuple(int(r) for r in rows)


def sessions_with(p, codes: tuple[int, ...], *, max_gap: int, max_span_s: float) -> np.ndarray:
    """Boolean per session index: the sequence occurs in it (anywhere)."""
    out = np.zeros(len(p.session_keys), dtype=bool)
    occ = occurrences(p, codes, max_gap=max_gap, max_span_s=max_span_s)
    out[p.sess[occ[:, -1]]] = True
    return out
