"""Evidence (a), onset precedence, for the rare closed candidates.

docs/statistics.md, "Evidence (a): onset precedence": per onset, the
closest eligible completion inside its pre-onset window and its operational
distance ``r``; the order-statistic combination over the onsets
(:func:`.stats.onset_evidence`).  Every onset-window candidate is testable;
Tarone's smallest attainable p is the only testability rule, and the
effect size (the closeness ratio) is computed on the observed leads.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from .candidates import Counted, Prepared
from .core import Evidence
from .model import MiningOptions
from .stats import onset_evidence, onset_pmin, tarone_strata


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


def onset_precedence(p: Prepared, cands: pl.DataFrame, closest: tuple[np.ndarray, np.ndarray, np.ndarray], *,
                     alpha_s: float, options: MiningOptions) -> tuple[Evidence, dict[str, np.ndarray], np.ndarray]:
    """Evidence (a) for ``cands`` (rare closed candidates sorted by gid).

    ``closest`` is :func:`closest_completions` of every candidate.  Testable:
    every candidate with a completion in some onset window; p-values are
    computed only for those Tarone's rule tests at ``alpha_s`` in their length
    stratum (:func:`.stats.tarone_strata`: the same set the core tests, so
    this changes no result).

    Returns the :class:`~.core.Evidence` (effect: the closeness ratio on the
    observed leads, floor ``min_rate_ratio``), extra columns
    (``rate_ratio``, ``expected_onsets``: sum of the carrying ``u``,
    ``onsets_preceded``) and the (C, m) lead times in seconds of the onsets
    that carry the evidence (the k* closest in the order-statistic
    combination; nan elsewhere).
    """
    C = cands.height
    n = int(p.elig.sum())
    N = cands["completions"].to_numpy()
    m = len(p.onsets)
    r, lead_all, _ = closest
    ta = cands["onset_window"].to_numpy() & (N >= 1) & (m > 0)
    pmin = np.where(ta, onset_pmin(N, n, m), 1.0)
    ia = np.flatnonzero(tarone_strata(pmin, ta, cands["level"].to_numpy(), alpha_s=alpha_s))
    pa = np.ones(C)
    rate_ratio, expected = np.zeros(C), np.zeros(C)
    lead = np.full((C, m), np.nan)
    if len(ia):
        a = onset_evidence(r[ia], N[ia], n)
        pa[ia], rate_ratio[ia], expected[ia] = a["p"], a["rate_ratio"], a["expected"]
        lead[ia] = np.where(a["contrib"], lead_all[ia], np.nan)  # only onsets that carry the evidence
    ev = Evidence(name="onset", p=pa, pmin=pmin, testable=ta, effect=rate_ratio, floor=options.min_rate_ratio)
    preceded = (r > 0).sum(axis=1) if m else np.zeros(C, dtype=np.int64)
    return ev, {"rate_ratio": rate_ratio, "expected_onsets": expected, "onsets_preceded": preceded}, lead
