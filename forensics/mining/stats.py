"""The two tests, their effect sizes, testability and the q-values.

Every formula is written out, with a worked example, in docs/statistics.md
("Evidence (a): onset precedence", "Evidence (b): session enrichment",
"Multiple testing").
All functions are vectorized over candidates (numpy/scipy); the only Python
loops are over onsets and order-statistic ranks (a handful).
"""

from __future__ import annotations

import numpy as np
from types import ModuleType


def _scipy(name: str) -> ModuleType:
    """``scipy.special`` / ``scipy.stats``, imported on first use: scipy.stats
    costs about a second to import, which every CLI command would pay."""
    import importlib

    return importlib.import_module(f"scipy.{name}")


def prob_hit(n: int, r: np.ndarray, N: np.ndarray) -> np.ndarray:
    """P(at least one of N positions drawn without replacement from n falls
    among r given positions) = 1 - C(n-r, N) / C(n, N).

    >>> round(float(prob_hit(100, np.array([1]), np.array([2]))[0]), 6)
    0.02
    """
    r = np.asarray(r, dtype=float)
    N = np.asarray(N, dtype=float)
    none = np.where(
        N > n - r,
        -np.inf,
        _scipy('special').gammaln(np.maximum(n - r + 1, 1)) - _scipy('special').gammaln(np.maximum(n - r - N + 1, 1))
        - _scipy('special').gammaln(n + 1) + _scipy('special').gammaln(n - N + 1),
    )
    return np.clip(-np.expm1(none), 0.0, 1.0)


def minp_order(u: np.ndarray) -> np.ndarray:
    """Order-statistic combination of per-onset uniforms (rows = candidates).

    Statistic ``t = min_k P(U_(k) <= u_(k))`` where ``U_(k)`` is the k-th
    smallest of m independent uniforms (``P = BinomSF(k-1; m, u)``); returns
    the exact ``P(T <= t)`` under the null, by the non-crossing recursion
    for uniform order statistics.  Censored onsets carry ``u = 1``.

    >>> round(float(minp_order(np.array([[0.01, 1.0]]))[0]), 4)  # t = 0.0199, two ranks
    0.0371
    """
    u = np.sort(np.atleast_2d(np.asarray(u, dtype=float)), axis=1)
    C, m = u.shape
    if m == 0:
        return np.ones(C)
    ks = np.arange(1, m + 1)
    F = _scipy('stats').binom.sf(ks[None, :] - 1, m, u)  # P(U_(k) <= u_(k))
    t = np.clip(F.min(axis=1), 0.0, 1.0)
    # boundaries b_k = F_k^{-1}(t): the k-th order statistic's t-quantile
    b = _scipy('stats').beta.ppf(t[:, None], ks[None, :], m - ks[None, :] + 1)
    b = np.nan_to_num(b, nan=1.0)
    prob = np.zeros((C, m + 1))
    prob[:, 0] = 1.0
    prev = np.zeros(C)
    for k in range(1, m + 1):
        bk = np.maximum(b[:, k - 1], prev)
        frac = np.where(prev < 1, (bk - prev) / np.where(prev < 1, 1 - prev, 1), 0.0)
        new = np.zeros_like(prob)
        for c in range(k):  # states alive: c <= k-1 points below the previous bound
            rest = m - c
            j = np.arange(rest + 1)
            pm = _scipy('stats').binom.pmf(j[None, :], rest, frac[:, None])
            new[:, c: c + rest + 1] += prob[:, c: c + 1] * pm
        new[:, k:] = 0.0  # crossing: k or more points below b_k
        prob, prev = new, bk
    p = 1.0 - prob.sum(axis=1)
    upper = np.minimum(1.0, m * t)  # Bonferroni over ranks: always valid
    return np.where(p < 1e-9, upper, np.clip(p, t, upper))


def kstar_onsets(u: np.ndarray) -> np.ndarray:
    """The onsets that carry the order-statistic evidence of each row of
    ``u`` (C, m): the k* smallest ``u``, k* the rank that attains the
    minimum in :func:`minp_order` (ties included).

    >>> kstar_onsets(np.array([[0.001, 0.5, 1.0]])).tolist()
    [[True, False, False]]
    """
    if u.shape[1] == 0:
        return np.zeros(u.shape, dtype=bool)
    us = np.sort(u, axis=1)
    ks = np.arange(1, u.shape[1] + 1)
    F = _scipy('stats').binom.sf(ks[None, :] - 1, u.shape[1], us)
    kstar = F.argmin(axis=1)
    return u <= us[np.arange(len(u)), kstar][:, None]


def onset_pmin(N: np.ndarray, n: int, m: int) -> np.ndarray:
    """Smallest attainable evidence (a) p-value of sequences with ``N``
    eligible completions (Tarone): each of ``min(N, m)`` onsets preceded at
    operational distance 1.  Computed once per distinct ``N``.

    >>> bool(onset_pmin(np.array([2]), 1000, 4)[0] < 1e-4)
    True
    """
    N = np.asarray(N, dtype=np.int64)
    if m == 0 or len(N) == 0:
        return np.ones(len(N))
    uN, inv = np.unique(N, return_inverse=True)
    best = np.where(np.arange(m)[None, :] < np.minimum(uN, m)[:, None],
                    prob_hit(n, np.ones((1, 1)), uN[:, None]), 1.0)
    return minp_order(best)[inv.reshape(-1)]


def closeness_ratio(u: np.ndarray, contrib: np.ndarray) -> np.ndarray:
    """Effect size on the observed lead: the onsets that carry the evidence
    (``contrib``, the k* of the order statistic) over the number expected to
    have a completion (or a link) at least that close, ``sum u_j`` over them;
    0 where none carries evidence.

    >>> closeness_ratio(np.array([[0.01, 0.04, 1.0]]), np.array([[True, True, False]])).round(1).tolist()
    [40.0]
    """
    k = contrib.sum(axis=1)
    expected = np.where(contrib, u, 0.0).sum(axis=1)
    return np.where(k > 0, k / np.maximum(expected, 1e-300), 0.0)


def onset_evidence(r: np.ndarray, N: np.ndarray, n: int) -> dict[str, np.ndarray]:
    """Evidence (a) for C candidates and m onsets.

    Parameters
    ----------
    r
        (C, m) operational distance: eligible actions in ``[completion,
        onset)`` for the closest completion inside the onset's window; 0 when
        no completion fell inside the window (censored).
    N
        (C,) eligible completions over the whole log.
    n
        Eligible actions in the log.

    Returns ``u`` (per onset), ``p`` (order-statistic combination),
    ``contrib`` (the onsets that carry the evidence), ``expected`` (sum of
    their ``u``), ``rate_ratio`` (:func:`closeness_ratio`) and ``pmin``.
    """
    N = np.asarray(N, dtype=float)
    m = r.shape[1]
    hit = r > 0
    u = np.where(hit, prob_hit(n, np.maximum(r, 1), N[:, None]), 1.0)
    p = minp_order(u) if m else np.ones(len(N))
    # the onsets that carry the evidence: the k* smallest u, k* the rank
    # that attains the order-statistic minimum
    contrib = hit & kstar_onsets(u)
    return {"u": u, "p": p, "contrib": contrib, "expected": np.where(contrib, u, 0.0).sum(axis=1),
            "rate_ratio": closeness_ratio(u, contrib), "pmin": onset_pmin(N.astype(np.int64), n, m)}


def _hyper_sf(a: np.ndarray, s: np.ndarray, total: int, n1: int) -> np.ndarray:
    """P(X >= a), X ~ Hypergeom(total, n1, s), evaluated once per distinct (a, s)."""
    if len(a) == 0:
        return np.zeros(0)
    pair = a.astype(np.int64) * (total + 1) + s
    u, inv = np.unique(pair, return_inverse=True)
    ua, us = u // (total + 1), u % (total + 1)
    return _scipy('stats').hypergeom.sf(ua - 1, total, n1, us)[inv.reshape(-1)]


def enrichment(a: np.ndarray, c: np.ndarray, n1: int, n0: int) -> dict[str, np.ndarray]:
    """Evidence (b): one-sided Fisher exact test on the 2x2 table
    (failing with / without, never-erring with / without), risk ratio with
    the Haldane-Anscombe 0.5 correction, and the smallest attainable p.

    >>> e = enrichment(np.array([5]), np.array([0]), 50, 950)
    >>> float(e["p"][0]) < 1e-5, round(float(e["risk_ratio"][0]), 1)
    (True, 205.1)
    """
    a = np.asarray(a, dtype=np.int64)
    c = np.asarray(c, dtype=np.int64)
    total, s = n1 + n0, a + c
    if n1 == 0 or n0 == 0:
        ones = np.ones(len(a))
        return {"p": ones, "risk_ratio": ones, "pmin": ones, "testable": np.zeros(len(a), bool), "rr_max": ones}
    rr = ((a + 0.5) / (n1 + 1)) / ((c + 0.5) / (n0 + 1))
    a_best = np.minimum(s, n1)
    p = _hyper_sf(a, s, total, n1)
    pmin = _hyper_sf(a_best, s, total, n1)
    rr_max = ((a_best + 0.5) / (n1 + 1)) / ((s - a_best + 0.5) / (n0 + 1))
    return {"p": np.clip(p, 0, 1), "risk_ratio": rr, "pmin": pmin, "testable": s >= 1, "rr_max": rr_max}


def tarone_family(pmin: np.ndarray, alpha: float) -> np.ndarray:
    """Tarone's testable set: the smallest k with #{pmin <= alpha/k} <= k;
    returns the boolean mask of the testable hypotheses (size of the family).

    >>> tarone_family(np.array([1e-6, 1e-6, 0.5]), 0.05).tolist()
    [True, True, False]
    """
    pm = np.sort(pmin)
    ks = np.arange(1, len(pm) + 2)
    counts = np.searchsorted(pm, alpha / ks, side="right")
    k = ks[np.argmax(counts <= ks)]
    return pmin <= alpha / k


def bh_qvalues(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg q-values (family = all of ``p``).

    >>> bh_qvalues(np.array([0.01, 0.04, 0.03])).round(3).tolist()
    [0.03, 0.04, 0.04]
    """
    p = np.asarray(p, dtype=float)
    M = len(p)
    if M == 0:
        return p
    order = np.argsort(p, kind="stable")
    q = p[order] * M / np.arange(1, M + 1)
    q = np.minimum.accumulate(q[::-1])[::-1]
    out = np.empty(M)
    out[order] = np.minimum(q, 1.0)
    return out


def holm_adjusted(p: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """Weighted Holm adjusted p-values (family = all of ``p``; weights
    ``w`` > 0, equal when None): at each step the hypothesis with the
    smallest ``p / w`` among those left is rejected when ``p <= alpha w /
    sum(w left)``; the adjusted value is the smallest ``alpha`` that rejects
    it (Holm 1979, weighted).  Controls the family-wise error rate, whatever
    the dependence between the hypotheses.

    >>> holm_adjusted(np.array([0.01, 0.04, 0.03])).round(3).tolist()
    [0.03, 0.06, 0.06]
    >>> holm_adjusted(np.array([0.01, 0.01]), np.array([3.0, 1.0])).round(4).tolist()
    [0.0133, 0.0133]
    """
    p = np.asarray(p, dtype=float)
    M = len(p)
    if M == 0:
        return p
    w = np.ones(M) if w is None else np.maximum(np.asarray(w, dtype=float), 1e-300)
    order = np.lexsort((np.arange(M), p / w))
    left = np.cumsum(w[order][::-1])[::-1]  # weight of the hypotheses not yet rejected
    adj = np.maximum.accumulate(np.minimum(1.0, p[order] * left / w[order]))
    out = np.empty(M)
    out[order] = adj
    return out


def stratified(p: np.ndarray, pmin: np.ndarray, testable: np.ndarray, level: np.ndarray, *, alpha_s: float,
               strata: int, weight: np.ndarray | None = None, procedure: str = "bh") -> tuple[np.ndarray, np.ndarray]:
    """Tarone + BH inside each length stratum (docs/statistics.md, "Multiple testing").

    Each stratum (the hypotheses of one ``level`` with ``testable`` set) gets
    ``alpha_s``; inside it only Tarone-testable hypotheses (by ``pmin``) are
    tested and get BH q-values, multiplied by ``strata`` (the number of
    families ``alpha`` is split over) so that ``q <= alpha`` is the rule.
    Returns the tested mask and the q-values (1 where untested).  With
    ``weight`` (a prior weight per hypothesis fixed before the test, e.g. a
    function of conditioned counts), BH runs on ``p / w`` with the weights
    normalised to mean 1 over each stratum's tested set (weighted BH,
    Genovese, Roeder and Wasserman 2006).  ``procedure="holm"``: weighted
    Holm (:func:`holm_adjusted`, family-wise error) instead of BH.

    >>> t, q = stratified(np.array([1e-4, 0.5]), np.array([1e-6, 1e-6]), np.array([True, True]),
    ...                   np.array([2, 3]), alpha_s=0.025, strata=2)
    >>> t.tolist(), q.round(4).tolist()
    ([True, True], [0.0002, 1.0])
    """
    tested = tarone_strata(pmin, testable, level, alpha_s=alpha_s)
    q = np.ones(len(p))
    for lv in np.unique(level[tested]):  # max_len strata at most
        idx = np.flatnonzero(tested & (level == lv))
        w = np.ones(len(idx)) if weight is None else weight[idx] * len(idx) / max(weight[idx].sum(), 1e-300)
        adj = holm_adjusted(p[idx], w) if procedure == "holm" else bh_qvalues(p[idx] / np.maximum(w, 1e-300))
        q[idx] = np.minimum(1.0, strata * adj)
    return tested, q


def tarone_strata(pmin: np.ndarray, testable: np.ndarray, level: np.ndarray, *, alpha_s: float) -> np.ndarray:
    """The hypotheses Tarone's rule tests in each length stratum at
    ``alpha_s`` (depends on ``pmin`` only: a strategy may compute p-values
    for these alone).

    >>> tarone_strata(np.array([1e-6, 0.5]), np.array([True, True]), np.array([2, 2]), alpha_s=0.01).tolist()
    [True, False]
    """
    tested = np.zeros(len(pmin), dtype=bool)
    for lv in np.unique(level[testable]):  # max_len strata at most
        idx = np.flatnonzero(testable & (level == lv))
        tested[idx[tarone_family(pmin[idx], alpha_s)]] = True
    return tested
