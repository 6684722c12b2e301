"""Error bursts: error rates against traffic per bin, hot bins, onsets, bursts.

Method (README, "Bursts"):

1. **Bins.**  ``bin_s`` = the data's span / 1440 rounded up to 10 s, 30 s,
   1, 2, 5, 10, 30 min, 1, 2, 6 h, 1 day (``--bin`` overrides).  Bins are
   aligned on the epoch.
2. **Rates against traffic, per component** (:mod:`forensics.timeline.exposure`).
   Each component's errors ``e`` in a bin are judged as a rate per unit of
   its exposure ``n`` (its events in the bin, all levels; seconds for a
   component that logs mostly errors) against its own baseline rate ``E /
   N`` in the quiet bins of a rolling 6 h window (time of day).  Exact
   conditional test ``P = P(X >= e), X ~ Binomial(e + E, n / (n + N))``;
   **hot** when, for the bin or a block of 5 or 15 bins centred on it, ``P
   <= alpha / (3 T)`` (Bonferroni over the ``T`` component-bin tests and the
   3 block sizes, ``alpha`` = ``TimelineOptions.burst_alpha``, default 0.01:
   at most 0.01 expected false hot bins per noise-only data set) and ``e >=
   3 e0``, ``e - e0 >= 3`` (``e0 = n E / N``) on the block (a bin hot by its
   block only needs 2 errors at ``P <= 0.001`` itself, half the block's bins
   warm and no hot single bin in the block); **warm** when ``P <= 0.02`` and ``e >= 1.5 e0``.
   Nothing depends on the traffic level.
3. **Runs.**  Per component, a run is a stretch of warm bins (merged across
   ``<= merge_gap_bins`` quiet bins) that holds a hot bin (hysteresis).  Runs of
   all components merged the same way are *segments*; a segment needs
   ``min_burst_errors`` errors of its own components.
4. **Onsets.**  A Page CUSUM over the component's errors from the bin before
   the run to its first hot bin, in baseline-exposure time ``L`` (expected
   baseline errors): ``C_i = i log r - (r - 1) L_i``, ``r`` = the highest
   rate ratio of the run's first three hot bins.  The onset is the error
   after ``C``'s last minimum before ``C - min C`` peaks: where the error *rate
   relative to exposure* changes.  Baseline errors only drift ``C`` down, so
   a steady trickle never starts an onset however dense it is; a stray one
   becomes the onset only when it falls within ``log r / (r - 1)`` baseline
   gaps of the burst, and never when the run holds errors of kinds that are
   no *trickle kind* (a kind its component also logs outside its runs).
   An error also starts the run when its kind recurs in the run and is no
   trickle kind: the burst's own signature (for a segment, such an error of
   any component from the bin before it on).  Before that signature, a run's
   errors must each carry a likelihood ratio of :data:`ONSET_LR` to start it
   (:func:`confirmed_onset`; else they are strays).  A segment's
   onset is the earliest onset of its runs; its end, symmetrically (CUSUM
   in reverse time from the last hot bin).
5. **Bursts.**  Segments closer than ``fade_gap_s`` that share a component
   are merged (a short lull is no fade).  Segments closer than ``reonset_gap_s`` (quiet gap from one
   segment's end to the next's onset) are one burst with several onsets; a
   longer gap starts a new burst.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import polars as pl

from ..errors import UsageError
from ..schema import TS_TYPE
from .exposure import component_rates, run_edges, with_exposure

__all__ = ["choose_bin", "component_rates", "component_runs", "run_edges", "with_exposure", "segments",
           "chain_segments", "build_window_runs", "mark_trickle"]

BIN_LADDER = (10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400)
BINS_PER_SPAN = 1440
#: Smallest hot-bin threshold shown in the error-rate table of bins without errors.
MIN_HOT_ERRORS = 3
MAX_BINS = 5_000_000
#: A burst kind must recur more than this often in a run to mark its onset.
RUN_FOLLOWERS = 2
#: Likelihood ratio a run's error before the segment's first burst-kind error
#: must carry to be its component's first error of the episode rather than a
#: stray background error (:func:`confirmed_onset`): 20, "strong evidence" on
#: the Kass-Raftery scale, whatever the traffic.
ONSET_LR = 20.0
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
    #: the CUSUM's post-change rate ratio and the baseline error rate per unit of exposure
    r: float = 10.0
    p0: float = 0.0


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


def _merge_intervals(frame: pl.DataFrame, gap: int, by: list[str]) -> pl.DataFrame:
    """Merge ``[b0, b1]`` intervals (per ``by``) separated by <= ``gap`` bins."""
    over = by or None
    f = frame.sort([*by, "b0"])
    prev_end = pl.col("b1").cum_max().shift(1)
    brk = (pl.col("b0") > prev_end + gap + 1).fill_null(True)
    f = f.with_columns((brk.cum_sum().over(over) if over else brk.cum_sum()).alias("_g"))
    return f.group_by([*by, "_g"]).agg(pl.col("b0").min(), pl.col("b1").max()).drop("_g").sort([*by, "b0"])


def component_runs(rates: pl.DataFrame, *, merge_gap_bins: int) -> pl.DataFrame:
    """Per component: ``b0``, ``b1`` of warm stretches holding a hot bin, merged,
    with ``h0``, ``h1`` (first and last hot bin) and ``r`` (the highest rate
    ratio of its first three hot bins: the CUSUM's post-change rate)."""
    warm = rates.filter(pl.col("warm")).select("_comp", pl.col("_bin").alias("b0"), pl.col("_bin").alias("b1"))
    if warm.height == 0:
        return warm
    runs = _merge_intervals(warm, merge_gap_bins, ["_comp"])
    hot = rates.filter(pl.col("hot")).select("_comp", "_bin", "ratio").sort("_bin")
    has_hot = (
        hot.join_asof(runs.sort("b0"), left_on="_bin", right_on="b0", by="_comp", strategy="backward",
                      check_sortedness=False)
        .filter(pl.col("_bin") <= pl.col("b1"))
        .group_by("_comp", "b0").agg(pl.col("_bin").min().alias("h0"), pl.col("_bin").max().alias("h1"),
                                     pl.col("ratio").sort_by("_bin").head(3).max().alias("r"))
    )
    return runs.join(has_hot, on=["_comp", "b0"], how="inner").sort("_comp", "b0")


def mark_trickle(errors: pl.DataFrame, runs: pl.DataFrame, *, gap_bins: int = 0, lead_bins: int = 1) -> pl.DataFrame:
    """Add ``_trickle``: the error's kind is one its component also logs
    outside every run of every component: a baseline kind, not a burst kind.

    Runs are widened by ``lead_bins`` before (the leading edge: a component
    too sparse to be hot may err first, see :func:`lead_in`) and a bin after,
    and runs at most ``gap_bins`` apart are one stretch (a lull shorter than
    the fade gap is no fade, so a sparse component's errors in it are still
    the incident's)."""
    if runs.height == 0:
        return errors.with_columns(pl.lit(True).alias("_trickle"))
    r = _merge_intervals(runs.select("b0", "b1"), gap_bins, [])
    r = r.select((pl.col("b0") - lead_bins).alias("_lo"), (pl.col("b1") + 1).alias("_hi")).sort("_lo")
    j = errors.with_row_index("_i").sort("_bin").join_asof(r, left_on="_bin", right_on="_lo", strategy="backward")
    outside = pl.col("_lo").is_null() | (pl.col("_bin") > pl.col("_hi"))
    j = j.with_columns(outside.any().over("_comp", "error_kind").alias("_trickle")).sort("_i")
    return errors.with_columns(j["_trickle"])


def segments(runs: pl.DataFrame, *, merge_gap_bins: int) -> list[Segment]:
    """Group component runs into segments (runs overlapping or close in bins)."""
    if runs.height == 0:
        return []
    f = runs.sort("b0", "_comp")
    prev_end = pl.col("b1").cum_max().shift(1)
    f = f.with_columns((pl.col("b0") > prev_end + merge_gap_bins + 1).fill_null(True).cum_sum().alias("_s"))
    out = []
    for part in f.partition_by("_s", maintain_order=True):  # a handful of segments
        extra = [c for c in ("r", "p0") if c in part.columns]
        rs = tuple(Run(*row) for row in part.select("_comp", "b0", "b1", "onset", "end", *extra).iter_rows())
        out.append(Segment(onset=min(r.onset for r in rs), end=max(r.end for r in rs), runs=rs))
    return out


def lead_in(segs: list[Segment], errors: pl.DataFrame, *, bin_s: float, lead_bins: int = 1) -> list[Segment]:
    """Pull each segment's onset back to the first error of a *burst kind*
    (recurring more than :data:`RUN_FOLLOWERS` times in the segment, no
    trickle kind) of any component, from ``lead_bins`` bins before the
    segment's first run on (the gap that merges runs, plus one): a component too sparse to be hot on its own (a crashing worker
    logging every 20 s) can still be the first to fail.

    A run whose onset comes before that signature keeps it only when its
    first error is no stray (:func:`confirmed_onset`).

    ``errors``: ``ts``, ``error_kind``, ``_trickle`` (and ``_comp``, ``_x``
    for the strays), sorted by ``ts``.
    """
    out = []
    for seg in segs:  # a handful of segments
        lo = bin_start(pl.lit(min(r.b0 for r in seg.runs) - lead_bins), bin_s)
        own = (
            errors.filter(pl.col("ts").is_between(lo, pl.lit(seg.end)) & ~pl.col("_trickle"))
            .filter(pl.len().over("error_kind") > RUN_FOLLOWERS)
            .select(pl.col("ts").min()).item()
        )
        if own is None:
            out.append(seg)
            continue
        runs = tuple(replace(r, onset=confirmed_onset(r, errors, own)) if r.onset < own else r for r in seg.runs)
        out.append(Segment(onset=min(own, *(r.onset for r in runs)), end=seg.end, runs=runs))
    return out


def confirmed_onset(run: Run, errors: pl.DataFrame, own: datetime) -> datetime:
    """The run's onset, moved past stray errors that come before the
    segment's signature ``own`` (its first error of a burst kind).

    Before ``own``, an error of the run starts its component's episode only
    on strong evidence: starting the episode there rather than at the
    component's next error must raise the likelihood at least ``ONSET_LR``
    times, whatever the episode's rate ``r``: ``max_r log r - (r - 1) L =
    -log L - 1 + L >= log ONSET_LR``, with ``L = p0 dx`` the baseline errors
    expected between the two (``dx`` their exposure).  That is, the next
    error must follow within about 1/55 of a baseline gap.  A background error
    that happened to fall seconds before the burst (likelier the more traffic
    there is) does not qualify; the first errors of a sparse ramp (one every
    11 s where the baseline has one every 5 min) do.

    >>> round(_stray_gain(0.04), 2), round(_stray_gain(0.011), 2), round(math.log(ONSET_LR), 2)
    (2.26, 3.52, 3.0)
    """
    if "_x" not in errors.columns:
        return run.onset
    mine = errors.filter((pl.col("_comp") == run.component) & pl.col("ts").is_between(run.onset, run.end))
    ts, x = mine["ts"].to_list(), mine["_x"].to_list()
    need = math.log(ONSET_LR)
    for i in range(len(ts) - 1):  # the few errors before the signature
        if ts[i] >= own or _stray_gain(run.p0 * (x[i + 1] - x[i])) >= need:
            return ts[i]
    return ts[-1] if ts else run.onset


def _stray_gain(expected: float) -> float:
    """Profile log-likelihood ratio of one error starting an episode when
    ``expected`` baseline errors fall before the next one (see :func:`confirmed_onset`)."""
    return math.inf if expected <= 0 else -math.log(expected) - 1 + expected


def count_between(sorted_ts: pl.Series, start: datetime, end: datetime) -> int:
    """Number of values of ``sorted_ts`` in ``[start, end]``."""
    lo = sorted_ts.search_sorted(start, side="left")
    hi = sorted_ts.search_sorted(end, side="right")
    return int(hi - lo)


def _segment_errors(errors: pl.Series | pl.DataFrame, seg: Segment) -> int:
    """Errors of the segment's own components (``errors``: ``ts``, ``_comp``)
    between its onset and end; with a plain series of times, all errors."""
    if isinstance(errors, pl.Series):
        return count_between(errors, seg.onset, seg.end)
    comps = sorted({r.component for r in seg.runs})
    return errors.filter(pl.col("_comp").is_in(comps) & pl.col("ts").is_between(seg.onset, seg.end)).height


def _shared(a: Segment, b: Segment) -> bool:
    """Whether two segments have a component in common (a lull of the same
    components, not a new episode of others)."""
    return bool({r.component for r in a.runs} & {r.component for r in b.runs})


def chain_segments(segs: list[Segment], errors: pl.Series | pl.DataFrame, *, min_errors: int, fade_gap_s: float,
                   reonset_gap_s: float) -> list[list[Segment]]:
    """Merge segments closer than ``fade_gap_s`` that share a component (a
    lull, no fade: no new onset; other components erring next is a new
    onset), drop
    those with fewer than ``min_errors`` errors of their own components (so
    that other components' background errors, many at high traffic, do not
    count) and chain the rest into bursts (a quiet gap shorter than
    ``reonset_gap_s`` keeps one burst)."""
    merged: list[Segment] = []
    for s in sorted(segs, key=lambda s: s.onset):  # a handful of segments
        if merged and (s.onset - merged[-1].end).total_seconds() < fade_gap_s and _shared(merged[-1], s):
            m = merged[-1]
            merged[-1] = Segment(onset=min(m.onset, s.onset), end=max(m.end, s.end), runs=m.runs + s.runs)
        else:
            merged.append(s)
    kept = [s for s in merged if _segment_errors(errors, s) >= min_errors]
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
    edges = run_edges(errors, runs, rates, clip=(start, end))
    return tuple(Run(c, b0, b1, on, en) for c, on, en in edges.select("_comp", "onset", "end").iter_rows())
