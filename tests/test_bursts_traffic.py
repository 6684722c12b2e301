"""Bursts judged against traffic: scale-free, with a controlled false-alarm rate.

Synthetic days built here, vectorized: a daily load curve (night at 15 % of
the afternoon peak), three components sharing the traffic (``web``, ``db``,
``auth``) whose background errors are a fixed *fraction* of their events (so
they grow with traffic), at 1x (20 events/min on average), 10x and 100x
(2,000 events/min, ~2.9 M events a day).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import polars as pl
import pytest

from forensics.timeline import TimelineOptions, build_timeline
from forensics.timeline.exposure import rate_table

DAY = datetime(2023, 11, 2, tzinfo=timezone.utc)
DAY_US = 86_400_000_000
BASE_US = int(DAY.timestamp() * 1_000_000)
#: name, share of traffic, background error fraction.
COMPONENTS = (("web", 10, 0.005), ("db", 6, 0.02), ("auth", 4, 0.10))
PER_MIN = 20.0
SCALES = (1, 10, 100)


def load(t_us: np.ndarray) -> np.ndarray:
    """Relative load over the day: 0.15 at night, 1.0 at 14:00."""
    h = t_us / 3.6e9
    return 0.15 + 0.85 * np.exp(-0.5 * ((h - 14) / 3.5) ** 2)


def _frame(t_us: np.ndarray, comp: np.ndarray, err: np.ndarray, kind: np.ndarray | None = None) -> pl.DataFrame:
    msg = kind if kind is not None else np.char.add(comp.astype(str), " timeout")
    return pl.DataFrame({
        "ts": pl.Series(t_us + BASE_US, dtype=pl.Int64).cast(pl.Datetime("us", "UTC")),
        "component": comp, "level": np.where(err, "error", "info"), "message": np.where(err, msg, "ok"),
    })


def noise_day(scale: float, seed: int, components=COMPONENTS) -> pl.DataFrame:
    """A day of traffic with background errors only (inhomogeneous Poisson by thinning)."""
    rng = np.random.default_rng(seed)
    peak = PER_MIN * scale / 0.55
    n = rng.poisson(peak * 1440)
    t = rng.integers(0, DAY_US, n)
    t = t[rng.random(n) < load(t)]
    share = np.array([c[1] for c in components], dtype=float)
    frac = np.array([c[2] for c in components])
    ci = rng.choice(len(components), t.size, p=share / share.sum())
    names = np.array([c[0] for c in components])
    return _frame(t, names[ci], rng.random(t.size) < frac[ci])


def episode(scale: float, seed: int, start: datetime, minutes: float, comp: str = "db",
            per_min_at_1x: float = 6.0, kind: str | None = None) -> tuple[pl.DataFrame, datetime]:
    """Extra errors of ``comp`` (failed requests: events that are errors) from
    ``start`` on; returns them and the first one's time."""
    rng = np.random.default_rng(10_000 + seed)
    span = int(minutes * 60e6)
    n = rng.poisson(per_min_at_1x * scale * minutes)
    t0 = int((start - DAY).total_seconds() * 1e6)
    t = np.sort(t0 + rng.integers(0, span, n))
    t[0] = t0
    kinds = np.full(n, kind or f"{comp} timeout")
    return _frame(t, np.full(n, comp), np.ones(n, bool), kinds), start


def assemble(*frames: pl.DataFrame) -> pl.DataFrame:
    df = pl.concat(frames).sort("ts")
    return df.with_columns((pl.col("component") + ".log").alias("source")).with_columns(
        pl.int_range(1, pl.len() + 1).over("source").cast(pl.Int64).alias("line"))


# --------------------------------------------------------------------------- (1)

@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_noise_only_days_have_no_burst_at_any_traffic_level(scale, seed):
    tl = build_timeline(assemble(noise_day(scale, seed)))
    assert tl.bursts == ()
    assert not tl.error_rate["hot"].any()


# --------------------------------------------------------------------------- (2)

def _baseline_gap_s(scale: float, comp: str = "db", hour: float = 14.0) -> float:
    """Mean seconds between ``comp``'s background errors at ``hour``."""
    share, frac = next((c[1], c[2]) for c in COMPONENTS if c[0] == comp)
    per_min = PER_MIN * scale / 0.55 * share / sum(c[1] for c in COMPONENTS) * load(np.array([hour * 3.6e9]))[0]
    return 60.0 / (per_min * frac)


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_onset_is_the_first_planted_error_of_a_new_kind(scale, seed):
    """The trickle never starts the onset: within 3 s of the first planted
    error at every level, although background errors of the same component
    arrive every ~3 s at 100x."""
    extra, first = episode(scale, seed, DAY + timedelta(hours=14, minutes=3, seconds=17.5), 20, kind="db: pool exhausted")
    tl = build_timeline(assemble(noise_day(scale, seed), extra))
    assert [len(b.onsets) for b in tl.bursts] == [1]
    assert abs((tl.bursts[0].onsets[0] - first).total_seconds()) <= 3.0


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_onset_without_kind_help_is_where_the_rate_changes(scale, seed):
    """Planted errors of the *same kind* as the trickle: only the rate against
    traffic tells them apart.  The change point is then exact up to stray
    background errors within ``log r / (r - 1)`` (here ~0.15) baseline gaps
    before the first planted error (Poisson traffic: up to ~0.4 baseline
    gaps in seconds): never later than it, and not earlier than that."""
    extra, first = episode(scale, seed, DAY + timedelta(hours=14, minutes=3, seconds=17.5), 20)
    tl = build_timeline(assemble(noise_day(scale, seed), extra))
    assert [len(b.onsets) for b in tl.bursts] == [1]
    d = (tl.bursts[0].onsets[0] - first).total_seconds()
    assert -max(3.0, 0.4 * _baseline_gap_s(scale)) <= d <= 0.0, (scale, d)


@pytest.mark.parametrize("scale", SCALES)
def test_a_quiet_hour_episode_is_found_too(scale):
    """At night (15 % load) a burst of a new kind, 2 errors/min at 1x."""
    extra, first = episode(scale, 5, DAY + timedelta(hours=3, minutes=41, seconds=2), 15, comp="web",
                           per_min_at_1x=2.0, kind="web: upstream reset")
    tl = build_timeline(assemble(noise_day(scale, 5), extra))
    assert [len(b.onsets) for b in tl.bursts] == [1]
    assert abs((tl.bursts[0].onsets[0] - first).total_seconds()) <= 3.0


# --------------------------------------------------------------------------- (3)

def _two(gap_min: float, scale: float = 10):
    a, fa = episode(scale, 1, DAY + timedelta(hours=12), 10, kind="db: pool exhausted")
    b, fb = episode(scale, 2, DAY + timedelta(hours=12, minutes=10 + gap_min), 10, kind="db: pool exhausted")
    return build_timeline(assemble(noise_day(scale, 4), a, b)), fa, fb


def test_two_episodes_30_min_apart_are_one_burst_with_a_reonset():
    tl, fa, fb = _two(30)
    assert len(tl.bursts) == 1
    ons = tl.bursts[0].onsets
    assert len(ons) == 2
    assert abs((ons[0] - fa).total_seconds()) <= 3 and abs((ons[1] - fb).total_seconds()) <= 3


def test_two_episodes_more_than_an_hour_apart_are_two_bursts():
    tl, fa, fb = _two(75)
    assert [len(b.onsets) for b in tl.bursts] == [1, 1]
    assert abs((tl.bursts[0].start - fa).total_seconds()) <= 3
    assert abs((tl.bursts[1].start - fb).total_seconds()) <= 3


# --------------------------------------------------------------------------- (4)

@pytest.mark.parametrize("scale", [1, 100])
def test_a_component_erring_at_a_high_constant_rate_is_never_hot(scale):
    comps = (*COMPONENTS, ("search", 5, 0.4))
    tl = build_timeline(assemble(noise_day(scale, 7, comps)))
    assert tl.bursts == ()
    assert not tl.error_rate["hot"].any()


def test_error_only_component_falls_back_to_counts_per_second():
    """A component that logs only errors (no exposure) is judged per second."""
    rng = np.random.default_rng(3)
    t = np.sort(rng.integers(0, DAY_US, 2 * 1440))  # 2 errors/min all day
    burst = np.sort(int(15.5 * 3.6e9) + rng.integers(0, int(600e6), 200))
    burst[0] = int(15.5 * 3.6e9)
    both = np.concatenate([t, burst])
    cron = _frame(both, np.full(both.size, "cron"), np.ones(both.size, bool))
    tl = build_timeline(assemble(noise_day(1, 8), cron))
    assert len(tl.bursts) == 1
    assert abs((tl.bursts[0].start - (DAY + timedelta(hours=15.5))).total_seconds()) <= 3


# --------------------------------------------------------------------------- (5)

def test_per_test_false_alarm_rate_is_at_most_alpha():
    """400 noise-only components x 1440 one-minute bins, volumes from 0.5 to
    500 events a bin following the load curve: the bin test's rejection rate
    at level a is at most a, and no bin is hot (Bonferroni, alpha 0.01)."""
    rng = np.random.default_rng(11)
    comps, bins = 400, 1440
    vol = np.exp(rng.uniform(np.log(0.5), np.log(500), comps))
    frac = np.exp(rng.uniform(np.log(0.002), np.log(0.3), comps))
    lam = vol[:, None] * load(np.arange(bins) * 60e6)[None, :]
    n = rng.poisson(lam)
    e = rng.binomial(n, frac[:, None])
    grid = pl.DataFrame({
        "_comp": np.repeat(np.arange(comps).astype(str), bins), "_bin": np.tile(np.arange(bins), comps),
        "e": e.ravel().astype(float), "n": n.ravel().astype(float),
    }).sort("_comp", "_bin")
    rates = rate_table(grid, bin_s=60.0, alpha=0.01)
    p = rates["p"].to_numpy()
    for a in (0.05, 0.01, 0.001, 1e-4):
        assert (p <= a).mean() <= a * 1.1 + 3 * np.sqrt(a / p.size), a
    assert not rates["hot"].any()


def test_alpha_is_an_option():
    assert TimelineOptions().burst_alpha == 0.01


@pytest.mark.parametrize("scale", [1, 10, 100])
def test_a_small_cluster_before_the_episode_does_not_become_its_onset(scale):
    """Three background-kind errors 2.5 min before the episode make the bin
    before it warm (one run); the onset is still the episode's first error
    (Page's statistic peaks at the burst, not at the small cluster)."""
    start = DAY + timedelta(hours=10, minutes=2, seconds=8)
    extra, first = episode(scale, 6, start, 12)
    t = np.array([int((start - DAY).total_seconds() * 1e6) - s * 1_000_000 for s in (176, 165, 156)])
    cluster = _frame(t, np.full(3, "db"), np.ones(3, bool))
    tl = build_timeline(assemble(noise_day(scale, 6), cluster, extra))
    assert [len(b.onsets) for b in tl.bursts] == [1]
    assert abs((tl.bursts[0].onsets[0] - first).total_seconds()) <= 3.0
