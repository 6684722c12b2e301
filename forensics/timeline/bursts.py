"""Error bursts: error counts per bin, a robust baseline, hot bins, bursts.

Method (README, "Bursts"):

1. **Bins.**  ``bin_s`` = the data's span / 1440 rounded up to 10 s, 30 s,
   1, 2, 5, 10, 30 min, 1, 2, 6 h, 1 day (``--bin`` overrides).  Bins are
   aligned on the epoch.
2. **Baseline, per component.**  Each component's error count per bin is
   compared with its own baseline, so a service that errs at a constant high
   rate all day is never hot and does not hide a burst elsewhere.  Pass 1: a
   rolling 25 % quantile over a 6 h centred window, Poisson spread, marks
   suspect bins (and their neighbours).  Pass 2: rolling median and MAD over
   the *other* (quiet) bins give ``baseline`` and the spread
   ``max(1.4826 MAD, sqrt(baseline), 0.5)``.  A bin is **hot** for a
   component when its count reaches ``baseline + threshold_sigma * spread``
   and at least :data:`MIN_HOT_ERRORS`; **warm** at ``baseline +
   threshold_sigma / 3 * spread`` (at least one error).
3. **Runs.**  Per component, a run is a stretch of warm bins (merged across
   ``<= merge_gap_bins`` quiet bins) that holds a hot bin (hysteresis).  Runs of
   all components merged the same way are *segments*; a segment needs
   ``min_burst_errors`` errors.
4. **Onsets.**  A run's onset is its component's first error, from the bin
   before the run on, that *starts a dense run*: two more errors of the
   component follow within 12 median gaps between its errors in the run's
   first three bins (clamped to 2 s .. ``2 bin_s``; a Poisson burst misses
   this at its true onset with probability ~0.2 %), and at most the time in
   which the component's baseline would log 0.05 errors.  So a stray baseline
   error that lands before the onset does not become the onset unless it is
   closer to the burst than about ten of the burst's own gaps.  An error
   also starts the run when its kind recurs in the run and is no *trickle
   kind* (a kind its component also logs outside its runs): the burst's own
   signature, while stray baseline errors are of trickle kinds.  A segment's
   onset is the earliest onset of its runs; its end, symmetrically, the last
   error that ends a dense run.
5. **Bursts.**  Segments closer than ``fade_gap_s`` are merged (a short
   lull is no fade).  Segments closer than ``reonset_gap_s`` (quiet gap from one
   segment's end to the next's onset) are one burst with several onsets; a
   longer gap starts a new burst.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

from ..errors import UsageError
from ..schema import TS_TYPE

BIN_LADDER = (10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400)
BINS_PER_SPAN = 1440
BASELINE_WINDOW_S = 6 * 3600.0
MIN_HOT_ERRORS = 3
MAX_BINS = 5_000_000
#: An error starts (ends) a dense run when RUN_FOLLOWERS more errors of its
#: component follow (precede) it within RUN_SPAN_GAPS median gaps of the run.
RUN_FOLLOWERS = 2
RUN_SPAN_GAPS = 12
#: ... median gaps measured in the first (last) EDGE_BINS bins of the run.
EDGE_BINS = 3
#: ... and at most the time in which the component's baseline rate expects
#: this many errors (so a dense baseline trickle cannot pass for a burst).
BASELINE_RUN_LAMBDA = 0.05
_US = 1_000_000
_timedelta_us = timedelta(microseconds=1)


def choose_bin(span_s: float, override: float | None = None) -> float:
    """The bin width for a data span of ``span_s`` seconds.

    Examples
    --------
    >>> choose_bin(86400), choose_bin(3600), choose_bin(10 * 86400), choose_bin(5, 2.5)
    (60, 10, 600, 2.5)
    """
    if override is not None:
        if not override > 0:
            raise UsageError(f"--bin must be positive, got {override}")
        return override
    target = span_s / BINS_PER_SPAN
    for b in BIN_LADDER:
        if b >= target:
            return b
    return math.ceil(target / 86400) * 86400


@dataclass(frozen=True)
class Run:
    """One component's stretch of hot/warm bins (bins inclusive)."""

    component: str
    b0: int
    b1: int
    onset: datetime
    end: datetime


@dataclass(frozen=True)
class Segment:
    """Overlapping runs of several components: one onset of a burst."""

    onset: datetime
    end: datetime
    runs: tuple[Run, ...]


def bin_index(bin_s: float) -> pl.Expr:
    """Epoch-aligned bin number of ``ts``."""
    return pl.col("ts").dt.epoch("us") // int(round(bin_s * _US))


def bin_start(index: pl.Expr, bin_s: float) -> pl.Expr:
    """The start time of bin number ``index``."""
    return (index * int(round(bin_s * _US))).cast(pl.Datetime("us")).dt.replace_time_zone("UTC").cast(TS_TYPE)


def component_rates(errors: pl.DataFrame, *, b_lo: int, b_hi: int, bin_s: float,
                    threshold_sigma: float) -> pl.DataFrame:
    """Per component and bin: ``n``, ``baseline``, ``threshold``, ``hot``, ``warm``.

    ``errors`` has ``_comp`` and ``_bin``.  The grid is dense: every component
    with an error times every bin from ``b_lo`` to ``b_hi``.
    """
    counts = errors.group_by("_comp", "_bin").agg(pl.len().cast(pl.Float64).alias("n"))
    comps = counts.select("_comp").unique()
    bins = pl.DataFrame({"_bin": pl.int_range(b_lo, b_hi + 1, eager=True, dtype=pl.Int64)})
    grid = (
        comps.join(bins, how="cross")
        .join(counts, on=["_comp", "_bin"], how="left")
        .with_columns(pl.col("n").fill_null(0.0))
        .sort("_comp", "_bin")
    )
    w = max(31, int(round(BASELINE_WINDOW_S / bin_s)))
    w += 1 - w % 2
    k = threshold_sigma
    x = pl.col("n")
    q = x.rolling_quantile(0.25, window_size=w, center=True, min_samples=1, interpolation="linear").over("_comp")
    grid = grid.with_columns(q.alias("_q"))
    thr1 = pl.max_horizontal(pl.col("_q") + k * pl.max_horizontal(pl.col("_q").sqrt(), pl.lit(0.5)), pl.lit(MIN_HOT_ERRORS))
    grid = grid.with_columns((x >= thr1).alias("_sus"))
    sus = (pl.col("_sus") | pl.col("_sus").shift(1).fill_null(False) | pl.col("_sus").shift(-1).fill_null(False)).over("_comp")
    grid = grid.with_columns(pl.when(~sus).then(x).alias("_quiet"))
    med = pl.col("_quiet").rolling_median(window_size=w, center=True, min_samples=1).over("_comp")
    grid = grid.with_columns(
        med.fill_null(pl.col("_quiet").median().over("_comp")).fill_null(pl.col("_q")).fill_null(0.0).alias("baseline")
    )
    dev = (pl.col("_quiet") - pl.col("baseline")).abs()
    mad = dev.rolling_median(window_size=w, center=True, min_samples=1).over("_comp").fill_null(0.0)
    spread = pl.max_horizontal(1.4826 * mad, pl.col("baseline").sqrt(), pl.lit(0.5))
    grid = grid.with_columns(spread.alias("_spread"))
    b, s = pl.col("baseline"), pl.col("_spread")
    return grid.select(
        "_comp", "_bin", "n", "baseline",
        pl.max_horizontal(b + k * s, pl.lit(float(MIN_HOT_ERRORS))).alias("threshold"),
        (x >= pl.max_horizontal(b + k * s, pl.lit(float(MIN_HOT_ERRORS)))).alias("hot"),
        (x >= pl.max_horizontal(b + (k / 3) * s, pl.lit(1.0))).alias("warm"),
    )


def _merge_intervals(frame: pl.DataFrame, gap: int, by: list[str]) -> pl.DataFrame:
    """Merge ``[b0, b1]`` intervals (per ``by``) separated by <= ``gap`` bins."""
    over = by or None
    f = frame.sort([*by, "b0"])
    prev_end = pl.col("b1").cum_max().shift(1)
    brk = (pl.col("b0") > prev_end + gap + 1).fill_null(True)
    f = f.with_columns((brk.cum_sum().over(over) if over else brk.cum_sum()).alias("_g"))
    return f.group_by([*by, "_g"]).agg(pl.col("b0").min(), pl.col("b1").max()).drop("_g").sort([*by, "b0"])


def component_runs(rates: pl.DataFrame, *, merge_gap_bins: int) -> pl.DataFrame:
    """Per component: ``b0``, ``b1`` of warm stretches holding a hot bin, merged."""
    warm = rates.filter(pl.col("warm")).select("_comp", pl.col("_bin").alias("b0"), pl.col("_bin").alias("b1"))
    if warm.height == 0:
        return warm
    runs = _merge_intervals(warm, merge_gap_bins, ["_comp"])
    hot = rates.filter(pl.col("hot")).select("_comp", "_bin").sort("_bin")
    has_hot = (
        hot.join_asof(runs.sort("b0"), left_on="_bin", right_on="b0", by="_comp", strategy="backward",
                      check_sortedness=False)
        .filter(pl.col("_bin") <= pl.col("b1"))
        .select("_comp", "b0").unique()
    )
    runs = runs.join(has_hot, on=["_comp", "b0"], how="semi")
    # The component's baseline where the run starts (caps the dense-run span).
    base = rates.select("_comp", pl.col("_bin").alias("b0"), pl.col("baseline").alias("base"))
    return runs.join(base, on=["_comp", "b0"], how="left").sort("_comp", "b0")


def mark_trickle(errors: pl.DataFrame, runs: pl.DataFrame) -> pl.DataFrame:
    """Add ``_trickle``: the error's kind is one its component also logs
    outside every run of every component (runs widened by a bin on both
    sides): a baseline kind, not a burst kind."""
    if runs.height == 0:
        return errors.with_columns(pl.lit(True).alias("_trickle"))
    r = _merge_intervals(runs.select("b0", "b1"), 0, [])
    r = r.select((pl.col("b0") - 1).alias("_lo"), (pl.col("b1") + 1).alias("_hi")).sort("_lo")
    j = errors.with_row_index("_i").sort("_bin").join_asof(r, left_on="_bin", right_on="_lo", strategy="backward")
    outside = pl.col("_lo").is_null() | (pl.col("_bin") > pl.col("_hi"))
    j = j.with_columns(outside.any().over("_comp", "error_kind").alias("_trickle")).sort("_i")
    return errors.with_columns(j["_trickle"])


def run_edges(errors: pl.DataFrame, runs: pl.DataFrame, *, bin_s: float,
              clip: tuple[datetime, datetime] | None = None) -> pl.DataFrame:
    """Onset and end of each component run (see module docstring, step 4).

    ``errors``: ``ts``, ``_comp``, ``_bin``; ``runs``: ``_comp``, ``b0``, ``b1``.
    Returns ``runs`` plus ``onset`` and ``end``.  With ``clip``, only errors
    inside that window can be onsets and ends.
    """
    if "_trickle" not in errors.columns:
        errors = mark_trickle(errors, runs)
    runs = runs.with_columns((pl.col("b0") - 1).alias("_lo")).sort("_lo")
    e = errors.select("ts", "_comp", "_bin", "error_kind", "_trickle").sort("_bin")
    j = e.join_asof(runs, left_on="_bin", right_on="_lo", by="_comp", strategy="backward", check_sortedness=False)
    inside = pl.col("_lo").is_not_null() & (pl.col("_bin") <= pl.col("b1") + 1)
    if clip is not None:
        inside = inside & pl.col("ts").is_between(*clip)
    j = j.filter(inside).sort("_comp", "_lo", "ts")
    key = ["_comp", "_lo"]
    gap_us = pl.col("ts").diff().dt.total_microseconds().over(key)
    j = j.with_columns(gap_us.alias("_gap"))
    # Density near each edge: median gap in the run's first (last) EDGE_BINS bins.
    gap = pl.col("_gap")
    whole = gap.median().over(key)
    near_on = gap.filter(pl.col("_bin") < pl.col("b0") + EDGE_BINS).median().over(key)
    near_end = gap.filter(pl.col("_bin") > pl.col("b1") - EDGE_BINS).median().over(key)
    default = float(bin_s * _US)

    # ... and short enough that the baseline rate alone would rarely fill it.
    if "base" in j.columns:
        cap = BASELINE_RUN_LAMBDA * bin_s * _US / pl.col("base").fill_null(0.0).clip(lower_bound=1e-9)
    else:
        cap = pl.lit(float("inf"))

    def span(med: pl.Expr) -> pl.Expr:
        return pl.min_horizontal(
            (RUN_SPAN_GAPS * med.fill_null(whole).fill_null(default)).clip(2 * _US, 2 * bin_s * _US), cap
        )

    nxt = (pl.col("ts").shift(-RUN_FOLLOWERS).over(key) - pl.col("ts")).dt.total_microseconds()
    prv = (pl.col("ts") - pl.col("ts").shift(RUN_FOLLOWERS).over(key)).dt.total_microseconds()
    # A new kind of error that recurs in the run marks the onset even when
    # the burst's first seconds are sparse.
    recurs = pl.len().over([*key, "error_kind"]) > RUN_FOLLOWERS
    # A baseline (trickle) kind only starts a run when the run holds nothing else.
    own_kind = ~pl.col("_trickle") | ~(~pl.col("_trickle")).any().over(key)
    j = j.with_columns(
        (((nxt <= span(near_on)).fill_null(False) & own_kind) | (~pl.col("_trickle") & recurs)).alias("_starts"),
        (prv <= span(near_end)).fill_null(False).alias("_ends"),
    )
    edges = j.group_by(key).agg(
        pl.coalesce(
            pl.col("ts").filter(pl.col("_starts")).min(),
            pl.col("ts").filter(pl.col("_bin") >= pl.col("b0")).min(),
        ).alias("onset"),
        pl.coalesce(
            pl.col("ts").filter(pl.col("_ends")).max(),
            pl.col("ts").filter(pl.col("_bin") <= pl.col("b1")).max(),
        ).alias("end"),
    )
    return runs.join(edges, on=key, how="left").drop("_lo").sort("b0", "_comp")


def segments(runs: pl.DataFrame, *, merge_gap_bins: int) -> list[Segment]:
    """Group component runs into segments (runs overlapping or close in bins)."""
    if runs.height == 0:
        return []
    f = runs.sort("b0", "_comp")
    prev_end = pl.col("b1").cum_max().shift(1)
    f = f.with_columns((pl.col("b0") > prev_end + merge_gap_bins + 1).fill_null(True).cum_sum().alias("_s"))
    out = []
    for part in f.partition_by("_s", maintain_order=True):  # a handful of segments
        rs = tuple(Run(c, b0, b1, on, en) for c, b0, b1, on, en in part.select("_comp", "b0", "b1", "onset", "end").iter_rows())
        out.append(Segment(onset=min(r.onset for r in rs), end=max(r.end for r in rs), runs=rs))
    return out


def count_between(sorted_ts: pl.Series, start: datetime, end: datetime) -> int:
    """Number of values of ``sorted_ts`` in ``[start, end]``."""
    lo = sorted_ts.search_sorted(start, side="left")
    hi = sorted_ts.search_sorted(end, side="right")
    return int(hi - lo)


def chain_segments(segs: list[Segment], error_ts: pl.Series, *, min_errors: int, fade_gap_s: float,
                   reonset_gap_s: float) -> list[list[Segment]]:
    """Merge segments closer than ``fade_gap_s`` (no fade: no new onset), drop
    those with fewer than ``min_errors`` errors and chain the rest into
    bursts (a quiet gap shorter than ``reonset_gap_s`` keeps one burst)."""
    merged: list[Segment] = []
    for s in sorted(segs, key=lambda s: s.onset):  # a handful of segments
        if merged and (s.onset - merged[-1].end).total_seconds() < fade_gap_s:
            m = merged[-1]
            merged[-1] = Segment(onset=min(m.onset, s.onset), end=max(m.end, s.end), runs=m.runs + s.runs)
        else:
            merged.append(s)
    kept = [s for s in merged if count_between(error_ts, s.onset, s.end) >= min_errors]
    bursts: list[list[Segment]] = []
    for s in kept:
        if bursts and (s.onset - max(x.end for x in bursts[-1])).total_seconds() < reonset_gap_s:
            bursts[-1].append(s)
        else:
            bursts.append([s])
    return bursts


def bin_of(dt: datetime, bin_s: float) -> int:
    """Bin number of one datetime (as :func:`bin_index`)."""
    us = (dt - datetime(1970, 1, 1, tzinfo=dt.tzinfo)) // _timedelta_us
    return us // int(round(bin_s * _US))


def build_window_runs(errors: pl.DataFrame, rates: pl.DataFrame, start: datetime, end: datetime,
                      *, bin_s: float) -> tuple[Run, ...]:
    """Runs for a user-given window: one per component hot inside it (every
    component with errors there when none is hot), onsets and ends found
    among the window's errors only."""
    b0, b1 = bin_of(start, bin_s), bin_of(end, bin_s)
    inside = errors.filter(pl.col("ts").is_between(start, end))
    if inside.height == 0:
        return ()
    hot = rates.filter(pl.col("_bin").is_between(b0, b1) & pl.col("hot"))["_comp"].unique()
    comps = hot if hot.len() else inside["_comp"].unique()
    runs = pl.DataFrame({"_comp": comps}).with_columns(pl.lit(b0).alias("b0"), pl.lit(b1).alias("b1"))
    edges = run_edges(errors, runs, bin_s=bin_s, clip=(start, end))
    return tuple(Run(c, b0, b1, on, en) for c, on, en in edges.select("_comp", "onset", "end").iter_rows())
