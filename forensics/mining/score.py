"""Attach evidence (a) and (b), testability and q-values to rare candidates."""

from __future__ import annotations

import numpy as np
import polars as pl

from .candidates import Counted, Prepared
from .model import MiningOptions
from .stats import bh_qvalues, enrichment, onset_evidence, prob_hit, tarone_family


def onset_distances(p: Prepared, counted: Counted, gids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(C, m) operational distances r and (C, m) lead times in seconds of the
    closest completion inside each onset's window (0 / nan when none)."""
    r, lead, _ = closest_completions(p, counted, gids)
    return r, lead


def closest_completions(p: Prepared, counted: Counted,
                        gids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """As :func:`onset_distances` (``gids`` sorted), plus the (C, m) row of
    that closest completion (-1 when none): the occurrence that carries the
    evidence for that onset."""
    m = len(p.onsets)
    C = len(gids)
    r = np.zeros((C, m), dtype=np.int64)
    lead = np.full((C, m), np.nan)
    row = np.full((C, m), -1, dtype=np.int64)
    if m == 0 or C == 0:
        return r, lead, row
    comp = counted.completions.filter(pl.col("elig") & pl.col("gid").is_in(pl.Series(gids).implode()))
    rows = comp["row"].to_numpy()
    ts = p.ts[rows]
    j = np.searchsorted(p.horizon, ts, side="right")
    jj = np.minimum(j, m - 1)
    inside = (j < m) & (ts >= p.window_lo[jj])
    closest = (
        pl.DataFrame({"gid": comp["gid"].to_numpy()[inside], "j": jj[inside], "ts": ts[inside],
                      "row": rows[inside]})
        .sort("ts", "row")
        .group_by("gid", "j").agg(pl.col("ts").last(), pl.col("row").last())
    )
    idx = np.searchsorted(gids, closest["gid"].to_numpy())
    cj = closest["j"].to_numpy()
    cts = closest["ts"].to_numpy()
    elig_ts = np.sort(p.ts[p.elig])
    pos_c = np.searchsorted(elig_ts, cts, side="left")
    pos_o = np.searchsorted(elig_ts, p.horizon[cj], side="left")
    r[idx, cj] = np.maximum(pos_o - pos_c, 1)
    lead[idx, cj] = (p.onsets[cj] - cts) / 1e6
    row[idx, cj] = closest["row"].to_numpy()
    return r, lead, row


def window_sizes(p: Prepared) -> np.ndarray:
    """Eligible actions inside each onset's window."""
    elig_ts = np.sort(p.ts[p.elig])
    return np.searchsorted(elig_ts, p.horizon, side="left") - np.searchsorted(elig_ts, p.window_lo, side="left")


def _stratified(p: np.ndarray, pmin: np.ndarray, testable: np.ndarray, level: np.ndarray, alpha_s: float,
                strata: int) -> tuple[np.ndarray, np.ndarray]:
    """Tarone + BH inside each length stratum at ``alpha_s``; returns the
    tested mask and q-values scaled by the number of strata."""
    tested = np.zeros(len(p), dtype=bool)
    q = np.ones(len(p))
    for lv in np.unique(level[testable]):
        idx = np.flatnonzero(testable & (level == lv))
        t = tarone_family(pmin[idx], alpha_s)
        idx = idx[t]
        tested[idx] = True
        q[idx] = np.minimum(1.0, strata * bh_qvalues(p[idx]))
    return tested, q


def score(p: Prepared, counted: Counted, cands: pl.DataFrame, *, options: MiningOptions) -> tuple[pl.DataFrame, np.ndarray]:
    """Evidence columns for ``cands`` (rare, closed candidates sorted by gid,
    with a ``level`` column: the length stratum of each hypothesis).

    Adds ``p_onset``, ``p_enrichment``, ``p_value``, ``q_value`` (and the
    per-family ``q_onset`` / ``q_enrichment``), ``rate_ratio``,
    ``risk_ratio``, ``tested_onset`` / ``tested_enrichment`` / ``tested``,
    ``deciding`` ('onset' / 'enrichment'), ``effect_ok`` and
    ``significant``; returns also the (C, m) lead times in seconds of the
    onsets that carry the evidence (the k* closest in the order-statistic
    combination; nan elsewhere).

    The error budget ``alpha`` is split equally over 2 families (onset,
    enrichment) x (max_len - 1) length strata; inside each stratum only
    Tarone-testable hypotheses are tested and get BH q-values; reported
    q-values are multiplied by the number of strata, so ``q <= alpha`` is the
    discovery rule (docs/statistics.md, "Multiple testing").
    """
    C = cands.height
    gids = cands["gid"].to_numpy()
    n = int(p.elig.sum())
    N = cands["completions"].to_numpy()
    level = cands["level"].to_numpy()
    strata = 2 * max(options.max_len - 1, 1)
    alpha_s = options.alpha / strata
    # (a) only where it can matter: onset-window candidates whose best case
    # could pass the rate-ratio floor
    m = len(p.onsets)
    win = window_sizes(p)
    kmax = np.minimum(N, m)
    expected = (prob_hit(n, win[None, :], N[:, None]).sum(axis=1) if m else np.zeros(C))
    rr_max = np.where(expected > 0, kmax / np.maximum(expected, 1e-300), 0.0)
    ta = cands["onset_window"].to_numpy() & (N >= 1) & (m > 0) & (rr_max >= options.min_rate_ratio)
    ia = np.flatnonzero(ta)
    pa_all = np.ones(C)
    pmin_a = np.ones(C)
    rate_ratio = np.zeros(C)
    preceded = np.zeros(C, dtype=np.int64)
    lead = np.full((C, m), np.nan)
    if len(ia):
        r, lead_a = onset_distances(p, counted, gids[ia])
        a = onset_evidence(r, N[ia], n, win)
        pa_all[ia], pmin_a[ia], rate_ratio[ia] = a["p"], a["pmin"], a["rate_ratio"]
        preceded[ia] = (r > 0).sum(axis=1)
        lead[ia] = np.where(a["contrib"], lead_a, np.nan)  # only onsets that carry the evidence
    b = enrichment(cands["failing_with"].to_numpy(), cands["control_with"].to_numpy(),
                   counted.n_failing, counted.n_control)
    tb = b["testable"] & (b["rr_max"] >= options.min_risk_ratio)
    ta, qa = _stratified(pa_all, pmin_a, ta, level, alpha_s, strata)
    tb, qb = _stratified(b["p"], b["pmin"], tb, level, alpha_s, strata)
    pa = np.where(ta, pa_all, 1.0)
    pb = np.where(tb, b["p"], 1.0)
    deciding_onset = qa <= qb
    effect_ok = np.where(deciding_onset, rate_ratio >= options.min_rate_ratio,
                         b["risk_ratio"] >= options.min_risk_ratio)
    out = cands.with_columns(
        p_onset=pa, p_enrichment=pb, p_value=np.minimum(1.0, 2 * np.minimum(pa, pb)),
        q_value=np.minimum(qa, qb), q_onset=qa, q_enrichment=qb,
        pmin_onset=pmin_a, pmin_enrichment=b["pmin"], rate_ratio=rate_ratio,
        expected_onsets=expected, risk_ratio=b["risk_ratio"], tested_onset=ta, tested_enrichment=tb,
        deciding=np.where(deciding_onset, "onset", "enrichment"), effect_ok=effect_ok,
        onsets_preceded=preceded,
    ).with_columns(
        tested=pl.col("tested_onset") | pl.col("tested_enrichment"),
    ).with_columns(
        significant=pl.col("tested") & (pl.col("q_value") <= options.alpha) & pl.col("effect_ok"),
    )
    return out, lead
