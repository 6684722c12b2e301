"""Error rates judged against traffic: exposure, baseline rate, hot bins, onsets.

Method (documented in the burst stage, :mod:`forensics.timeline.bursts`):

* **Exposure.**  A component's exposure in a bin is its number of events
  there (all levels): its errors are judged as a rate per event.  A
  component with too few other events (fewer than :data:`EXPOSURE_RATIO`
  times its errors: mostly error lines) is judged per second instead.
* **Baseline rate.**  ``p0 = E / N``: the component's errors ``E`` over its
  exposure ``N`` in the *quiet* bins of a rolling :data:`BASELINE_WINDOW_S`
  window centred on the bin (the bin itself excluded), so the rate follows
  the time of day.  Quiet bins: not suspect in the previous of
  :data:`PASSES` passes.  Suspect: a bin with ``P <= SUSPECT_P`` and ``e >=
  2 e0`` (and its neighbours), or the centre of a block of 5, 15 or 60 bins
  that passes the same test (a long, moderate rise must not raise its own
  baseline).
* **Test.**  Given ``e`` errors on exposure ``n`` in the bin and ``E`` on
  ``N`` in the reference, the exact conditional test of two Poisson rates:
  ``P = P(X >= e)`` for ``X ~ Binomial(e + E, n / (n + N))``.  Hot when,
  for the bin or a block of 5 or 15 bins centred on it (:data:`HOT_SCALES`),
  ``P <= alpha / (3 T)`` (Bonferroni over the ``T`` component-bin tests of
  the data and the 3 block sizes) **and** the effect is one a human calls a
  burst: ``e >= RATE_RATIO * e0`` and ``e - e0 >= MIN_EXCESS`` with ``e0 = n
  E / N`` (on the block); a bin hot by its block only must itself hold two
  errors or more at ``P <= SUSPECT_P``, in a block with half its bins warm
  and no hot single bin (blocks find sustained moderate rises, not a
  strong burst's fringe).
  Warm (extends a run) when ``P <= WARM_P`` and ``e >=
  WARM_RATIO * e0`` (the bin).
* **Onsets.**  A Page CUSUM on the component's errors in baseline-exposure
  time ``L`` (expected baseline errors: ``p0`` times events, or seconds):
  ``C_i = i log r - (r - 1) L_i`` with ``r`` the highest rate ratio of the
  run's first three hot bins; the onset is the error after which ``C`` last
  hit its running minimum before Page's statistic ``S = C - min C`` peaks in
  the first hot bin.  A trickle at the baseline rate
  only drifts ``C`` down, so it never starts an onset at any traffic level.
  Ends: the same in reverse time from the last hot bin.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl

BASELINE_WINDOW_S = 6 * 3600.0
#: A component is judged per event when its non-error events are at least this many times its errors.
EXPOSURE_RATIO = 2.0
#: Baseline passes (each drops the bins suspect in the previous one).
PASSES = 3
SUSPECT_P = 1e-3
#: Effect-size floor of a hot bin: rate at least RATE_RATIO times baseline, and MIN_EXCESS errors above it.
RATE_RATIO = 3.0
MIN_EXCESS = 3.0
#: Block sizes (bins) tested when cleaning the baseline: a long, moderate rise is suspect too.
SCALES = (1, 5, 15, 60)
#: Block sizes (bins, centred on the bin) of the hot test: a sustained moderate rise is a burst too.
HOT_SCALES = (1, 5, 15)
WARM_P = 0.02
WARM_RATIO = 1.5
#: Bounds of the CUSUM's post-change rate ratio.
R_MIN, R_MAX = 2.0, 1000.0


def _stats():
    """``scipy.stats``, imported on first use (it costs ~1.5 s of start-up,
    which every command would pay)."""
    from scipy import stats

    return stats


def with_exposure(timed: pl.DataFrame) -> pl.DataFrame:
    """Add ``_comp``, ``_has_exp`` (judged per event) and ``_x``, the exposure
    clock: the event's ordinal among its component's events, or its epoch
    seconds for components judged per second.  ``timed`` is sorted by ``ts``."""
    f = timed.with_columns(pl.col("component").fill_null("?").alias("_comp"))
    err = pl.col("is_error").sum().over("_comp")
    ok = (~pl.col("is_error")).sum().over("_comp")
    has = (ok >= EXPOSURE_RATIO * err) & (ok > 0)
    secs = pl.col("ts").dt.epoch("us").cast(pl.Float64) / 1e6
    return f.with_columns(has.alias("_has_exp")).with_columns(
        pl.when(pl.col("_has_exp")).then(pl.int_range(pl.len()).over("_comp").cast(pl.Float64)).otherwise(secs).alias("_x")
    )


def _grid(timed: pl.DataFrame, b_lo: int, b_hi: int, bin_s: float) -> pl.DataFrame:
    """Dense grid of components with errors x bins: ``e`` errors, ``n`` exposure."""
    comps = timed.filter(pl.col("is_error")).group_by("_comp").agg(pl.col("_has_exp").first())
    # grouped first, then kept for the components with errors: the same
    # counts, without a copy of three columns of every event for the join
    counts = (
        timed.group_by("_comp", "_bin").agg(pl.len().cast(pl.Float64).alias("_n"), pl.col("is_error").sum().cast(pl.Float64).alias("e"))
        .join(comps.select("_comp"), on="_comp", how="semi")
    )
    bins = pl.DataFrame({"_bin": pl.int_range(b_lo, b_hi + 1, eager=True, dtype=pl.Int64)})
    return (
        comps.join(bins, how="cross").join(counts, on=["_comp", "_bin"], how="left")
        .with_columns(pl.col("_n", "e").fill_null(0.0))
        .with_columns(pl.when(pl.col("_has_exp")).then(pl.col("_n")).otherwise(pl.lit(float(bin_s))).alias("n"))
        .drop("_n").sort("_comp", "_bin")
    )


def _tail(e: np.ndarray, n: np.ndarray, E: np.ndarray, N: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Conditional binomial tail ``P``, expected errors ``e0`` and rate ratio of ``e`` on ``n`` vs ``E`` on ``N``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(N > 0, n / (n + N), 1.0)
        p = np.where(e > 0, _stats().binom.sf(e - 1, e + E, q), 1.0)
        e0 = np.where(N > 0, n * E / N, 0.0)
        ratio = e / (n * (E + 0.5) / np.maximum(N, 1e-12))
    return p, e0, np.nan_to_num(ratio, nan=0.0, posinf=1e12)


def _roll(c: str, k: int) -> pl.Expr:
    return pl.col(c).rolling_sum(window_size=k, center=True, min_samples=1).over("_comp") if k > 1 else pl.col(c)


def _scale_test(grid: pl.DataFrame, w: int, s: int) -> pl.DataFrame:
    """Test blocks of ``s`` bins centred on each bin against the quiet
    reference (``_eq``, ``_nq``) of the rolling window minus the block:
    ``es`` (block errors), ``E``, ``N``, ``p``, ``e0``, ``ratio``."""
    g = grid.select(
        _roll("e", s).alias("es"), _roll("n", s).alias("ns"),
        (_roll("_eq", w) - _roll("_eq", s)).alias("_E"), (_roll("_nq", w) - _roll("_nq", s)).alias("_N"),
        (pl.col("_eq").sum().over("_comp") - _roll("_eq", s)).alias("_Ew"),
        (pl.col("_nq").sum().over("_comp") - _roll("_nq", s)).alias("_Nw"),
    )
    thin = pl.col("_N") <= 0
    g = g.select("es", "ns", pl.when(thin).then(pl.col("_Ew")).otherwise(pl.col("_E")).alias("E"),
                 pl.when(thin).then(pl.col("_Nw")).otherwise(pl.col("_N")).alias("N"))
    p, e0, ratio = _tail(*(g[c].to_numpy() for c in ("es", "ns", "E", "N")))
    return g.with_columns(pl.Series("p", p), pl.Series("e0", e0), pl.Series("ratio", ratio))


def _suspects(grid: pl.DataFrame, w: int) -> pl.Series:
    """Suspect bins: a bin with ``P <= SUSPECT_P`` and twice its expected
    errors, and its neighbours; or the centre of a block of 5, 15 or 60 bins
    (:data:`SCALES`) that passes the same test (whatever the centre's own
    count, so that the cleaning does not select bins by their count)."""
    flags = []
    for k in (k for k in SCALES if k < w):
        t = _scale_test(grid, w, k)
        f = (t["p"] <= SUSPECT_P) & (t["es"] >= 2 * t["e0"]) & (t["es"] >= 2)
        if k == 1:
            f = f.cast(pl.Float64).to_frame("_f").with_columns(grid["_comp"]).select(
                pl.col("_f").rolling_max(window_size=3, center=True, min_samples=1).over("_comp") > 0).to_series()
        flags.append(f.to_numpy())
    return pl.Series("_sus", np.logical_or.reduce(flags))


def component_rates(timed: pl.DataFrame, *, b_lo: int, b_hi: int, bin_s: float, alpha: float) -> pl.DataFrame:
    """Per component and bin: ``n`` (errors), ``exposure``, ``p0``, ``baseline``,
    ``threshold``, ``p``, ``ratio``, ``hot``, ``warm`` (see module docstring).

    ``timed`` has ``_comp``, ``_bin``, ``is_error``, ``_has_exp`` (:func:`with_exposure`).
    """
    return rate_table(_grid(timed, b_lo, b_hi, bin_s), bin_s=bin_s, alpha=alpha)


def rate_table(grid: pl.DataFrame, *, bin_s: float, alpha: float) -> pl.DataFrame:
    """:func:`component_rates` from a dense grid of counts: ``_comp``, ``_bin``
    (consecutive per component, sorted), ``e`` (errors), ``n`` (exposure)."""
    w = max(31, int(round(BASELINE_WINDOW_S / bin_s)))
    w += 1 - w % 2
    sus = pl.Series("_sus", np.zeros(grid.height, dtype=bool))
    for step in range(PASSES + 1):
        grid = grid.with_columns(pl.when(sus).then(0.0).otherwise(pl.col(c)).alias(f"_{c}q") for c in ("e", "n"))
        if step < PASSES:
            sus = _suspects(grid, w)
    t = _scale_test(grid, w, 1)
    scales = [k for k in HOT_SCALES if k < w]
    level = alpha / max(grid.height * len(scales), 1)
    hot = np.zeros(grid.height, dtype=bool)
    # A bin inside a hot block is hot only when itself suspect: two errors or more at P <= SUSPECT_P.
    own = ((t["p"] <= SUSPECT_P) & (t["es"] >= 2)).to_numpy()
    warm = ((t["p"] <= WARM_P) & (t["ratio"] >= WARM_RATIO) & (t["es"] >= 1)).to_numpy()
    single = None
    for k in scales:
        b = t if k == 1 else _scale_test(grid, w, k)
        ok = ((b["p"] <= level) & (b["ratio"] >= RATE_RATIO) & (b["es"] - b["e0"] >= MIN_EXCESS)).to_numpy()
        if single is None:
            single = ok
            hot |= ok
            continue
        # A block counts when the rise is sustained (half its bins warm) and holds no single hot
        # bin: the fringe of a strong burst is no burst.
        f = pl.DataFrame({"_h": single.astype(float), "_w": warm.astype(float), "_comp": grid["_comp"]}).select(
            pl.col("_h").rolling_max(window_size=k, center=True, min_samples=1).over("_comp").alias("_near"),
            pl.col("_w").rolling_sum(window_size=k, center=True, min_samples=1).over("_comp").alias("_warm"))
        hot |= ok & own & (f["_near"].to_numpy() == 0) & (f["_warm"].to_numpy() >= k / 2)

    mu = t["e0"].to_numpy()
    thr = np.maximum.reduce([_stats().poisson.isf(level, mu) + 1, RATE_RATIO * mu, mu + MIN_EXCESS])
    g = grid.select("_comp", "_bin", "e", "n").with_columns(t.select("p", "e0", "ratio", "E", "N"))
    return g.select(
        "_comp", "_bin", pl.col("e").alias("n"), pl.col("n").alias("exposure"),
        (pl.col("E") / pl.col("N")).fill_nan(0.0).fill_null(0.0).alias("p0"),
        pl.col("e0").alias("baseline"), pl.Series("threshold", thr), "p", "ratio",
        pl.Series("hot", hot),
        pl.Series("warm", warm),
    )


def _cusum(j: pl.DataFrame, key: list[str], *, forward: bool) -> pl.DataFrame:
    """Per ``key``: the change-point error (``edge``) of a Page CUSUM run
    forward (onsets) or backward (ends) over the errors in ``j``; ``_lim``
    marks the errors where the CUSUM's maximum is sought."""
    j = j.sort([*key, "ts"], descending=[False] * len(key) + [not forward])
    logr = pl.col("_r").log()
    j = j.with_columns(pl.col("_x").diff().abs().over(key).fill_null(0.0).alias("_dx"),
                       pl.int_range(1, pl.len() + 1).over(key).alias("_i"))
    j = j.with_columns((pl.col("_p0") * pl.col("_dx")).cum_sum().over(key).alias("_lam"))
    j = j.with_columns((pl.col("_i") * logr - (pl.col("_r") - 1) * pl.col("_lam")).alias("_C"))
    # Page's statistic: C above its running minimum (just before each error).
    j = j.with_columns((pl.col("_C") - (pl.col("_C") - logr).cum_min().over(key)).alias("_S"))
    top = j.group_by(key).agg(
        pl.col("_i").get(pl.when(pl.col("_lim")).then(pl.col("_S")).otherwise(-math.inf).arg_max()).alias("_top"))
    j = j.join(top, on=key, how="left")
    # A trickle-kind error is no candidate when the run holds errors of its own kinds.
    cand = (pl.col("_i") <= pl.col("_top")) & (~pl.col("_trickle") | pl.col("_trickle").all().over(key))
    j = j.with_columns(pl.when(cand).then(pl.col("_C") - logr).otherwise(math.inf).alias("_pre"))
    # The last minimum: reversed order so arg_min's first hit is the latest error.
    return j.group_by(key).agg(pl.col("ts").reverse().get(pl.col("_pre").reverse().arg_min()).alias("edge"))


def run_edges(errors: pl.DataFrame, runs: pl.DataFrame, rates: pl.DataFrame, *, clip=None) -> pl.DataFrame:
    """Onset and end of each component run (CUSUM, module docstring).

    ``errors``: ``ts``, ``_comp``, ``_bin``, ``_x``, ``error_kind``, ``_trickle``;
    ``runs``: ``_comp``, ``b0``, ``b1`` and optionally ``h0``, ``h1`` (first
    and last hot bin) and ``r`` (rate ratio).  With ``clip``, only errors
    inside that window can be onsets and ends.  Returns ``runs`` plus ``onset``, ``end``
    and ``p0`` (the baseline rate at the run's first bin).
    """
    for c, src in (("h0", "b1"), ("h1", "b0")):
        if c not in runs.columns:
            runs = runs.with_columns(pl.col(src).alias(c))
    if "r" not in runs.columns:
        runs = runs.with_columns(pl.lit(None, dtype=pl.Float64).alias("r"))
    runs = runs.with_columns(pl.col("r").fill_null(10.0).fill_nan(10.0).clip(R_MIN, R_MAX),
                             (pl.col("b0") - 1).alias("_lo")).sort("_lo")
    e = (errors.select("ts", "_comp", "_bin", "_x", "error_kind", "_trickle")
         .join(rates.select("_comp", "_bin", pl.col("p0").alias("_p0")), on=["_comp", "_bin"], how="left")
         .with_columns(pl.col("_p0").fill_null(0.0)).sort("_bin"))
    j = e.join_asof(runs.select("_comp", "_lo", "b0", "b1", "h0", "h1", pl.col("r").alias("_r")), left_on="_bin",
                    right_on="_lo", by="_comp", strategy="backward", check_sortedness=False)
    inside = pl.col("_lo").is_not_null() & (pl.col("_bin") <= pl.col("b1") + 1)
    if clip is not None:
        inside = inside & pl.col("ts").is_between(*clip)
    j = j.filter(inside)
    key = ["_comp", "_lo"]
    on = _cusum(j.filter(pl.col("_bin") <= pl.col("h0")).with_columns((pl.col("_bin") <= pl.col("h0")).alias("_lim")),
                key, forward=True)
    en = _cusum(j.filter(pl.col("_bin") >= pl.col("h1")).with_columns((pl.col("_bin") >= pl.col("h1")).alias("_lim")),
                key, forward=False)
    # The burst's own kind (recurring, never logged outside runs) marks the onset even when sparse.
    own = (j.filter(~pl.col("_trickle") & (pl.len().over([*key, "error_kind"]) > 2))
           .filter(pl.col("_bin") <= pl.col("h0")).group_by(key).agg(pl.col("ts").min().alias("_own")))
    edges = (on.join(en.rename({"edge": "end"}), on=key, how="full", coalesce=True)
             .join(own, on=key, how="left")
             .select(*key, pl.min_horizontal("edge", "_own").alias("onset"), "end"))
    p0 = rates.select("_comp", pl.col("_bin").alias("b0"), "p0")
    return (runs.join(edges, on=key, how="left").drop("_lo")
            .join(p0, on=["_comp", "b0"], how="left").with_columns(pl.col("p0").fill_null(0.0))
            .sort("b0", "_comp"))
