"""Timeline: errors, request linking, sessions, bursts and their cascades.

>>> from forensics.ingest import ingest
>>> from forensics.timeline import build_timeline, TimelineOptions
>>> tl = build_timeline(ingest(["sample_logs/"]).events, options=TimelineOptions())
>>> [(f"{b.start:%H:%M}", [s.component for s in b.cascade][:2]) for b in tl.bursts]
[('10:45', ['nginx']), ('16:15', ['content-cache', 'db'])]
"""

from __future__ import annotations

from dataclasses import replace

from datetime import datetime, timedelta

import polars as pl

from ..errors import UsageError
from ..ingest.projection import thin_attrs
from ..schema import TS_TYPE, conform
from .bursts import (
    MAX_BINS, MIN_HOT_ERRORS, RUN_FOLLOWERS, Segment, bin_index, bin_of, bin_start, build_window_runs,
    chain_segments, choose_bin, component_rates, component_runs, lead_in, mark_trickle, run_edges, segments,
    with_exposure,
)
from .cascade import build_cascade
from .errors import ATTRS_READ, mark_errors
from .linking import link_requests
from .templates import free_text_events, template_table
from .model import Burst, CascadeStep, Timeline, TimelineOptions
from .sessions import assign_sessions, build_actions, build_sessions, session_index

__all__ = ["build_timeline", "Timeline", "TimelineOptions", "Burst", "CascadeStep", "CHANGED_COLUMNS"]

#: The canonical columns :func:`build_timeline` rewrites in place: request
#: linking fills ``user`` and ``session``, message templates fill ``action``.
#: It copies no other canonical column and keeps the events' order when they
#: come sorted by ``ts, source, line`` (as ingest sorts them), so its other
#: columns are the input's, row for row.
CHANGED_COLUMNS = ("user", "session", "action")

_RATE_SCHEMA = {
    "bin_start": TS_TYPE, "events": pl.UInt32(), "errors": pl.UInt32(), "baseline": pl.Float64(),
    "threshold": pl.Float64(), "hot": pl.Boolean(), "burst_id": pl.Int32(),
}


def _error_rate(ev: pl.DataFrame, rates: pl.DataFrame, b_lo: int, b_hi: int, bin_s: float) -> pl.DataFrame:
    bins = pl.DataFrame({"_bin": pl.int_range(b_lo, b_hi + 1, eager=True, dtype=pl.Int64)})
    counts = ev.group_by("_bin").agg(pl.len().alias("events"), pl.col("is_error").sum().alias("errors"))
    if rates.height:
        tot = rates.group_by("_bin").agg(
            pl.col("baseline").sum(),
            (pl.col("threshold") - pl.col("baseline")).min().alias("_margin"),
            pl.col("hot").any(),
        )
    else:
        tot = bins.with_columns(pl.lit(0.0).alias("baseline"), pl.lit(float(MIN_HOT_ERRORS)).alias("_margin"),
                                pl.lit(False).alias("hot"))
    return (
        bins.join(counts, on="_bin", how="left").join(tot, on="_bin", how="left")
        .with_columns(pl.col("events", "errors").fill_null(0), pl.col("hot").fill_null(False),
                      pl.col("baseline").fill_null(0.0), pl.col("_margin").fill_null(float(MIN_HOT_ERRORS)))
        .sort("_bin")
        .select(
            bin_start(pl.col("_bin"), bin_s).alias("bin_start"), "events", "errors", "baseline",
            (pl.col("baseline") + pl.col("_margin")).alias("threshold"), "hot", "_bin",
        )
    )


def _burst(bid: int, segs: list[Segment], ev: pl.DataFrame, errs: pl.DataFrame, *, user_given: bool = False) -> Burst:
    start = min(s.onset for s in segs)
    end = max(s.end for s in segs)
    lo, hi = ev["ts"].search_sorted(start, side="left"), ev["ts"].search_sorted(end, side="right")
    w = ev.slice(lo, hi - lo)
    we = w.filter(pl.col("is_error"))
    first: dict[str, datetime] = {}
    for s in segs:
        for r in s.runs:
            if r.onset is not None and (r.component not in first or r.onset < first[r.component]):
                first[r.component] = max(r.onset, start)
    elo, ehi = errs["ts"].search_sorted(start, side="left"), errs["ts"].search_sorted(end, side="right")
    werrs = errs.slice(elo, ehi - elo)
    # A component's first error of a burst kind (recurring, not a trickle
    # kind) counts even before its own run started (it erred, not yet hot).
    if first and "_trickle" in werrs.columns:
        early = (
            werrs.filter(~pl.col("_trickle") & pl.col("_comp").is_in(list(first)))
            .filter(pl.len().over("_comp", "error_kind") > RUN_FOLLOWERS)
            .group_by("_comp").agg(pl.col("ts").min())
        )
        for comp, ts in early.iter_rows():  # one row per component
            first[comp] = min(first[comp], ts)
    cascade = build_cascade(werrs, first)
    users = w["user"].drop_nulls().n_unique()
    users_hit = we["user"].drop_nulls().n_unique()
    sess = w["session_key"].drop_nulls().n_unique()
    sess_hit = we["session_key"].drop_nulls().n_unique()
    peak = we.group_by(pl.col("ts").dt.truncate("1m")).len()["len"].max() if we.height else 0
    return Burst(
        id=bid, start=start, end=end, errors=we.height, peak_per_min=float(peak or 0),
        users_affected=users_hit, users_affected_share=users_hit / users if users else 0.0,
        sessions_affected=sess_hit, sessions_affected_share=sess_hit / sess if sess else 0.0,
        onsets=tuple(sorted(s.onset for s in segs)), cascade=cascade, user_given=user_given,
    )



def detect_bursts(timed: pl.DataFrame, *, bin_s: float, options: TimelineOptions) -> tuple[list[Burst], pl.DataFrame]:
    """The burst stage: per-component rates against traffic, runs, onsets,
    segments chained into bursts (or the user's ``--incident`` window), and the
    error-rate frame by bin (docs/timeline.md, "Bursts").

    ``timed``: events with a time, ``_bin`` and exposure columns, sorted by ``ts``.
    """
    errs = timed.filter(pl.col("is_error"))
    bursts: list[Burst] = []
    b_lo, b_hi = int(timed["_bin"][0]), int(timed["_bin"][-1])
    if b_hi - b_lo + 1 > MAX_BINS:
        raise UsageError(f"--bin {bin_s} s makes {b_hi - b_lo + 1} bins; choose a wider bin")
    rates = (component_rates(timed, b_lo=b_lo, b_hi=b_hi, bin_s=bin_s, alpha=options.burst_alpha)
             if errs.height else pl.DataFrame())
    runs = component_runs(rates, merge_gap_bins=options.merge_gap_bins) if errs.height else pl.DataFrame()
    if errs.height:
        errs = mark_trickle(errs, runs, gap_bins=int(options.fade_gap_s // bin_s),
                            lead_bins=options.merge_gap_bins + 1)
    if options.incident:
        a, b = options.incident
        wruns = build_window_runs(errs, rates, a, b, bin_s=bin_s)
        ons = [r.onset for r in wruns if r.onset is not None]
        ends = [r.end for r in wruns if r.end is not None]
        seg = Segment(onset=min(ons, default=a), end=max(ends, default=b), runs=wruns)
        bursts.append(_burst(1, [seg], timed, errs, user_given=True))
    elif runs.height:
        runs = run_edges(errs, runs, rates)
        segs = lead_in(segments(runs, merge_gap_bins=options.merge_gap_bins), errs, bin_s=bin_s,
                       lead_bins=options.merge_gap_bins + 1)
        groups = chain_segments(segs, errs.select("ts", "_comp"),
                                min_errors=options.min_burst_errors, fade_gap_s=options.fade_gap_s,
                                reonset_gap_s=options.reonset_gap_s)
        # Burst kinds for the cascade: kinds a component logs only inside bursts.
        in_burst = pl.lit(False)
        for g in groups:  # a handful of bursts
            in_burst = in_burst | pl.col("ts").is_between(min(x.onset for x in g) - timedelta(seconds=bin_s),
                                                          max(x.end for x in g) + timedelta(seconds=bin_s))
        errs = errs.with_columns((~in_burst).any().over("_comp", "error_kind").alias("_trickle"))
        bursts = [_burst(i + 1, g, timed, errs) for i, g in enumerate(groups)]
    rate = _error_rate(timed, rates, b_lo, b_hi, bin_s)
    return bursts, rate


def _in_time_order(ev: pl.DataFrame) -> bool:
    """Whether ``ev`` is already sorted by ``ts, source, line`` (no nulls)."""
    if ev.height < 2 or any(ev.get_column(c).null_count() for c in ("ts", "source", "line")):
        return ev.height < 2
    ts, src, ln = pl.col("ts"), pl.col("source"), pl.col("line")
    nts, nsrc, nln = ts.shift(-1), src.shift(-1), ln.shift(-1)
    ok = (ts < nts) | ((ts == nts) & ((src < nsrc) | ((src == nsrc) & (ln <= nln))))
    return bool(ev.select(ok.head(ev.height - 1).all()).item())


def analysis_columns() -> list[pl.Expr]:
    """The canonical columns as the timeline and the miner read them: every
    column, but ``attrs`` only on the events where the analysis looks into it
    (outcome fields, an access log's client address and user agent).

    Built with :func:`forensics.ingest.projection.thin_attrs`, so the cross-file
    dedupe of ``ingest`` still compares the full ``attrs`` (by the hash column
    that function adds and ingest drops).  ``forensics scan`` reduces events to
    these while ingesting (the ``attrs`` JSON is the largest column), unless
    the full events are exported.

    Examples
    --------
    >>> from forensics.ingest.projection import ATTRS_HASH
    >>> from forensics.schema import empty_events
    >>> empty_events().select(analysis_columns()).columns[-1] == ATTRS_HASH
    True
    """
    return thin_attrs(pl.col("attrs").str.contains(ATTRS_READ))


def build_timeline(events: pl.DataFrame, *, options: TimelineOptions = TimelineOptions()) -> Timeline:
    """Build the incident timeline from canonical events.

    Parameters
    ----------
    events
        Canonical events (:mod:`forensics.schema`); extra columns are dropped.
    options
        See :class:`TimelineOptions`.

    Returns
    -------
    Timeline
        Events with error/session/action/burst columns, actions, sessions,
        bursts with cascades, and the error rate per bin.

    Examples
    --------
    >>> from forensics.schema import empty_events
    >>> build_timeline(empty_events()).bursts
    ()
    """
    if options.session_gap_s <= 0:
        raise UsageError(f"--session-gap must be positive, got {options.session_gap_s}")
    conformed = conform(events)
    ev = free_text_events(conformed, session_pattern=options.session_pattern,
                          template_actions=options.template_actions)
    templated = options.template_actions and ev["action"].null_count() < conformed["action"].null_count()
    if not _in_time_order(ev):  # ingest already sorts; a second sort copies every column
        ev = ev.sort("ts", "source", "line", nulls_last=True)
    ev = mark_errors(ev, client_errors=options.client_errors)
    ev = link_requests(ev)
    ev = assign_sessions(ev, session_gap_s=options.session_gap_s)
    timed = ev.filter(pl.col("ts").is_not_null()) if ev["ts"].null_count() else ev  # a filter copies every column
    if timed.height:
        t0, t1 = timed["ts"][0], timed["ts"][-1]
        bin_s = choose_bin((t1 - t0).total_seconds(), options.bin_s)
    else:
        t0 = t1 = None
        bin_s = choose_bin(0.0, options.bin_s)
    timed = with_exposure(timed.with_columns(bin_index(bin_s).alias("_bin")))
    if timed.height:
        bursts, rate = detect_bursts(timed, bin_s=bin_s, options=options)
    else:
        bursts, rate = [], pl.DataFrame(schema={**_RATE_SCHEMA, "_bin": pl.Int64()})
    del timed  # its bin and exposure columns are not needed beyond the bursts
    burst_id = pl.lit(None, dtype=pl.Int32)
    bin_burst = pl.lit(None, dtype=pl.Int32)
    for bu in reversed(bursts):  # a handful of bursts
        burst_id = pl.when(pl.col("ts").is_between(bu.start, bu.end)).then(pl.lit(bu.id, dtype=pl.Int32)).otherwise(burst_id)
        blo, bhi = bin_of(bu.start, bin_s), bin_of(bu.end, bin_s)
        bin_burst = pl.when(pl.col("_bin").is_between(blo, bhi)).then(pl.lit(bu.id, dtype=pl.Int32)).otherwise(bin_burst)
    ev = ev.with_columns(burst_id.alias("burst_id"))
    rate = rate.with_columns(bin_burst.alias("burst_id")).drop("_bin").cast(_RATE_SCHEMA)
    sidx = session_index(ev.get_column("session_key"))
    actions = build_actions(ev, sidx=sidx)
    sessions = build_sessions(ev, sidx=sidx)
    del sidx
    session_errors = (
        ev.filter(pl.col("is_error") & pl.col("session_key").is_not_null() & pl.col("burst_id").is_not_null())
        .group_by("session_key", "burst_id").agg(pl.col("ts").min().alias("first_error"))
        .sort("burst_id", "first_error", "session_key")
    )
    ev = ev.drop("_own_id", "_req_failed", "_resource")
    tl = Timeline(events=ev, actions=actions, sessions=sessions, session_errors=session_errors,
                  bursts=tuple(bursts), error_rate=rate, bin_s=float(bin_s), options=options)
    if templated:
        tl = replace(tl, templates=template_table(tl))
    return tl
