"""Evidence (c), resource linkage: a tested family with its own null.

"This sequence's requests touched resource R, and R's first error in the
burst followed within ``Delta`` seconds" (docs/statistics.md, "Evidence (c):
resource linkage").

For onset ``j`` let ``W_j`` be every touch ``(tau, R)`` in its pre-onset
window: an eligible action row at ``tau`` in ``[window_lo_j, onset_j +
slack)`` whose request touched ``R`` (``actions.resources``), and ``f_R`` the
first error with key ``R`` in ``[onset_j, end of its burst]`` for the
resources that erred first (:func:`leading`: within ``slack`` of the first
keyed error; a resource that only erred later in the cascade links nothing).  The
candidate's closest completion before onset ``j`` (the occurrence evidence
(a) uses) has ``k`` touches inside the window; ``Delta_obs`` is the smallest
``f_R - tau >= -slack`` over them (the same slack as the windows: an action
line is often logged just after the error its request caused).  Then

    u_j = 1 - C(|W_j| - x, k) / C(|W_j|, k),   x = #{touches of W_j with -slack <= f_R - tau <= Delta_obs}

the chance that ``k`` touches drawn at random from the window (without
replacement) include one at least that close to its resource's first error.
Ties and the candidate's own touches are counted in ``x``, so ``u_j`` is
super-uniform.  ``u_j = 1`` when none of its touches erred afterwards (or
nothing in the window did).  Onsets are combined by the order statistic of
evidence (a) (:func:`.stats.minp_order`); the smallest attainable p uses
``x = k = 1`` at every onset with a completion in its window and an erring
touch (a lower bound of the attainable p, hence valid for Tarone).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from .candidates import Prepared
from .core import Evidence
from .occurrences import embeddings_many
from .stats import closeness_ratio, kstar_onsets, minp_order, prob_hit

#: ``OnsetTouches.first`` of a resource without an error in that onset's burst.
NONE = np.iinfo(np.int64).min


@dataclass(frozen=True)
class OnsetTouches:
    """The touches of every onset's window (the linkage null's population).

    ``size``: (m,) touches in each window; ``deltas``: per onset, the sorted
    ``f_R - tau`` (us) of its touches whose resource erred in the burst,
    ``>= -slack``; ``first_error``: per onset, resource -> ``f_R`` (us);
    ``resources``: action row -> resources its request touched (window rows).
    The same as arrays: ``start`` / ``count`` per action row into
    ``resource_id`` (one entry per touch of a window row), and ``first``
    (m, resources) ``f_R`` per onset (:data:`NONE`: no error).
    """

    size: np.ndarray
    deltas: tuple[np.ndarray, ...]
    first_error: tuple[dict[str, int], ...]
    resources: dict[int, list[str]]
    start: np.ndarray
    count: np.ndarray
    resource_id: np.ndarray
    first: np.ndarray

    @property
    def linkable(self) -> np.ndarray:
        """(m,) onsets whose window holds a touch of a resource that then erred."""
        return np.array([len(d) > 0 for d in self.deltas], dtype=bool)


def onset_touches(p: Prepared) -> OnsetTouches:
    """The :class:`OnsetTouches` of ``p`` (empty without keys, errors or onsets)."""
    m = len(p.onsets)
    zeros = np.zeros(len(p.ts), dtype=np.int64)
    empty = OnsetTouches(size=np.zeros(m, dtype=np.int64), deltas=tuple(np.zeros(0) for _ in range(m)),
                         first_error=tuple({} for _ in range(m)), resources={}, start=zeros, count=zeros,
                         resource_id=np.zeros(0, dtype=np.int64), first=np.full((m, 0), NONE))
    if m == 0 or p.errors is None or p.errors.height == 0 or p.onset_end is None or "resources" not in p.rows.columns:
        return empty
    err = p.errors.select("key", pl.col("ts").dt.epoch("us").alias("t"))
    touch = (
        pl.DataFrame({"row": np.arange(len(p.ts), dtype=np.int64), "ts": p.ts, "elig": p.elig,
                      "resource": p.rows.get_column("resources")})
        .filter("elig").explode("resource").drop_nulls("resource").select("row", "ts", "resource")
    )
    sizes, deltas, firsts, res, windows = [], [], [], {}, []
    for j in range(m):  # a handful of onsets
        f = leading(err.filter((pl.col("t") >= int(p.onsets[j])) & (pl.col("t") <= int(p.onset_end[j]))),
                    slack_us=p.onset_slack_us)
        w = touch.filter((pl.col("ts") >= int(p.window_lo[j])) & (pl.col("ts") < int(p.horizon[j])))
        d = w.join(f, left_on="resource", right_on="key", how="inner").select(pl.col("f") - pl.col("ts"))
        d = np.sort(d.to_series().to_numpy())
        sizes.append(w.height)
        deltas.append(d[d >= -p.onset_slack_us])
        firsts.append(dict(zip(f["key"].to_list(), f["f"].to_list())))
        for r, rs in w.group_by("row").agg("resource").iter_rows():  # window rows only
            res[int(r)] = rs
        windows.append(w)
    allw = pl.concat(windows).sort("row")  # windows are disjoint: each row once
    names = sorted(set(allw["resource"].to_list()) | {k for f in firsts for k in f})
    rid = {k: i for i, k in enumerate(names)}
    first = np.full((m, len(names)), NONE, dtype=np.int64)
    for j, f in enumerate(firsts):  # m onsets x a few erring resources
        for k, t in f.items():
            first[j, rid[k]] = t
    rows = allw["row"].to_numpy()
    count = np.bincount(rows, minlength=len(p.ts)).astype(np.int64)
    return OnsetTouches(size=np.array(sizes, dtype=np.int64), deltas=tuple(deltas), first_error=tuple(firsts),
                        resources=res, start=np.cumsum(count) - count, count=count,
                        resource_id=np.array([rid[k] for k in allw["resource"].to_list()], dtype=np.int64),
                        first=first)


def leading(errors: pl.DataFrame, *, slack_us: int) -> pl.DataFrame:
    """``key``, ``f``: the resources that erred first in a burst (``errors``:
    ``key``, ``t`` in us) and their first error: those whose first error is
    within ``slack_us`` of the burst's first keyed error.

    >>> e = pl.DataFrame({"key": ["a", "b", "a", "c"], "t": [5, 5_400_000, 9, 800_000]})
    >>> leading(e, slack_us=1_000_000).sort("key").rows()
    [('a', 5), ('c', 800000)]
    """
    f = errors.group_by("key").agg(pl.col("t").min().alias("f"))
    return f.filter(pl.col("f") <= pl.col("f").min() + slack_us)


def closest_link(p: Prepared, touches: OnsetTouches, rows: np.ndarray, j: int) -> tuple[int, int]:
    """(k, Delta_obs) of one occurrence (its action ``rows``) before onset
    ``j``: its touches inside the window, and the smallest ``f_R - tau >=
    -slack`` over them (-1 when none erred afterwards)."""
    k, best = 0, None
    first = touches.first_error[j]
    for r in rows:  # the k steps
        tau = int(p.ts[r])
        if tau < p.window_lo[j]:
            continue
        for key in touches.resources.get(int(r), ()):
            k += 1
            f = first.get(key)
            if f is not None and f - tau >= -p.onset_slack_us and (best is None or f - tau < best):
                best = f - tau
    return k, (-1 if best is None else best)


def link_u_one(deltas: np.ndarray, size: int, k: int, delta: int) -> float:
    """``u`` of one occurrence: ``k`` touches, the closest ``delta`` (us) to
    its resource's first error, in a window of ``size`` touches whose sorted
    ``f_R - tau`` (``>= -slack``) are ``deltas``; ties count (super-uniform).

    >>> round(link_u_one(np.array([0, 5, 9]), 10, 1, 5), 3)
    0.2
    """
    x = int(np.searchsorted(deltas, delta, side="right"))
    return float(prob_hit(size, np.array([x]), np.array([k]))[0])


def link_u(p: Prepared, touches: OnsetTouches, codes: list[tuple[int, ...]], row: np.ndarray, *, max_gap: int,
           max_span_s: float) -> np.ndarray:
    """(C, m) linkage ``u_j`` of each candidate's closest completion (``row``,
    -1: none in the window) before each onset; 1 where nothing links.

    Vectorized over all (candidate, onset) cells of one sequence length at a
    time (:func:`.occurrences.embeddings_many`); :func:`closest_link` is the
    same rule for one occurrence.
    """
    C, m = row.shape
    u = np.ones((C, m))
    if C == 0 or m == 0:
        return u
    length = np.array([len(c) for c in codes])
    ci, cj = np.nonzero((row >= 0) & touches.linkable[None, :])
    for L in np.unique(length[ci]):  # max_len lengths at most
        sel = length[ci] == L
        i, j = ci[sel], cj[sel]
        cc = np.array([codes[x] for x in i], dtype=np.int64).reshape(len(i), L)
        occ = embeddings_many(p, cc, row[i, j], max_gap=max_gap, max_span_s=max_span_s)
        k, best = _closest_links(p, touches, occ, j)
        ok = best > NONE
        x = np.zeros(len(i), dtype=np.int64)
        for jj in np.unique(j[ok]):  # m onsets at most
            at = ok & (j == jj)
            x[at] = np.searchsorted(touches.deltas[jj], best[at], side="right")
        u[i[ok], j[ok]] = prob_hit(touches.size[j[ok]], x[ok], k[ok])
    return u


def _closest_links(p: Prepared, touches: OnsetTouches, occ: np.ndarray,
                   j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`closest_link` of many occurrences (``occ``: (n, L) rows, -1:
    none; ``j``: their onsets): (k, Delta_obs), Delta_obs :data:`NONE` when
    nothing links."""
    n, L = occ.shape
    rows = np.maximum(occ.reshape(-1), 0)
    cell = np.repeat(np.arange(n), L)
    jc = j[cell]
    cnt = np.where((occ.reshape(-1) >= 0) & (p.ts[rows] >= p.window_lo[jc]), touches.count[rows], 0)
    k = np.bincount(cell, weights=cnt, minlength=n).astype(np.int64)
    offs = np.arange(int(cnt.sum())) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    t_cell, t_row = np.repeat(cell, cnt), np.repeat(rows, cnt)
    res = touches.resource_id[np.repeat(touches.start[rows], cnt) + offs]
    f = touches.first[j[t_cell], res]
    d = f - p.ts[t_row]
    valid = (f != NONE) & (d >= -p.onset_slack_us)
    best = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(best, t_cell[valid], d[valid])
    return k, np.where(best == np.iinfo(np.int64).max, NONE, best)


def link_pmin(hit: np.ndarray, touches: OnsetTouches) -> np.ndarray:
    """Smallest attainable linkage p: ``x = k = 1`` (``u = 1/|W_j|``) at every
    onset with a completion in its window (``hit``, (C, m)) and an erring touch."""
    C, m = hit.shape
    if m == 0 or C == 0:
        return np.ones(C)
    best = np.where(hit & touches.linkable[None, :], 1.0 / np.maximum(touches.size, 1)[None, :], 1.0)
    out = np.ones(C)
    some = (best < 1).any(axis=1)
    if some.any():  # one combination per distinct pattern of best values
        pat, inv = np.unique(best[some], axis=0, return_inverse=True)
        out[some] = minp_order(pat)[inv.reshape(-1)]
    return out


def link_evidence(p: Prepared, touches: OnsetTouches, codes: list[tuple[int, ...]], row: np.ndarray,
                  testable: np.ndarray, admitted, *, min_ratio: float, max_gap: int,
                  max_span_s: float) -> tuple[Evidence, np.ndarray]:
    """Evidence (c) for C candidates.

    ``row``: (C, m) closest completion rows (-1: none in the window);
    ``testable``: candidates that may enter the family; ``admitted``: a
    function of the pmin array returning the mask Tarone's rule tests (only
    those get a p-value).  Returns the :class:`~.core.Evidence` (effect: the
    closeness ratio of the linked onsets, floor ``min_ratio``) and the (C, m)
    ``u`` (1 where not computed).
    """
    C, m = row.shape
    pmin = np.where(testable, link_pmin(row >= 0, touches), 1.0)
    ok = testable & (pmin < 1)
    idx = np.flatnonzero(admitted(pmin, ok))
    u = np.ones((C, m))
    p_val, effect = np.ones(C), np.zeros(C)
    if len(idx):
        u[idx] = link_u(p, touches, [codes[i] for i in idx], row[idx], max_gap=max_gap, max_span_s=max_span_s)
        p_val[idx] = minp_order(u[idx])
        effect[idx] = closeness_ratio(u[idx], (u[idx] < 1) & kstar_onsets(u[idx]))
    return Evidence(name="link", p=p_val, pmin=pmin, testable=ok, effect=effect, floor=min_ratio), u
