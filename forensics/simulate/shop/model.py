"""The shop's behaviour model: customers with habits and a day of ordinary
sessions drawn from them.

Each session is a walk on a Markov chain over storefront activities whose
rows come from the customer's habit profile (browser, buyer, bargain hunter,
returning, international), multiplied by personal affinities.  Session start
times follow the customer's preferred hour (European shopping peaks; US
customers six hours later); think times are log-normal per activity.
Vectorized over sessions: one NumPy step per walk position.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from .vocab import A, CODE, DWELL_S, END, PROFILE_WEIGHTS, REGIONS, start_vector, transition_matrices

MAX_STEPS = 40
DAY_MS = 86_400_000
#: Shopping peaks (UTC hour, weight) of European customers.
PEAKS = ((7.3, 0.15), (11.5, 0.27), (14.5, 0.18), (19.2, 0.40))
N_PRODUCTS = 400
N_CATEGORIES = 24
#: Share of sessions that never sign in (no ``customer_id``).
GUEST_SHARE = 0.1

_DWELL = np.array([DWELL_S[a] for a in sorted(DWELL_S, key=CODE.__getitem__)] + [1.0])
_NEW_PRODUCT = np.zeros(A + 1, bool)
_NEW_PRODUCT[[CODE["view_product"], CODE["search"], CODE["browse_catalog"]]] = True


@dataclass(frozen=True)
class Customers:
    """Customers and their habits (arrays indexed by customer number).

    Attributes
    ----------
    profile
        Habit profile index into ``vocab.PROFILES``.
    affinity
        ``(customers, A + 1)`` float32 personal multipliers of transition columns.
    center_h
        Preferred hour of activity (UTC).
    rate
        Expected sessions per day.
    region
        Index into ``vocab.REGIONS`` (shipping region; sets the tax rules read).
    """

    profile: np.ndarray
    affinity: np.ndarray
    center_h: np.ndarray
    rate: np.ndarray
    region: np.ndarray

    @property
    def size(self) -> int:
        return int(self.profile.shape[0])


def make_customers(rng: np.random.Generator, n: int) -> Customers:
    """Draw ``n`` customers with personal habits.

    Examples
    --------
    >>> c = make_customers(np.random.default_rng(1), 50)
    >>> c.size, c.affinity.shape
    (50, (50, 17))
    """
    profile = rng.choice(len(PROFILE_WEIGHTS), size=n, p=np.array(PROFILE_WEIGHTS)).astype(np.int8)
    affinity = rng.lognormal(0.0, 0.35, size=(n, A + 1)).astype(np.float32)
    affinity[:, END] = rng.lognormal(0.0, 0.3, size=n)
    shares = np.array([r[2] for r in REGIONS])
    region = rng.choice(len(REGIONS), size=n, p=shares / shares.sum()).astype(np.int8)
    peak_h = np.array([p for p, _ in PEAKS])
    peak_w = np.array([w for _, w in PEAKS])
    center_h = peak_h[rng.choice(len(PEAKS), size=n, p=peak_w)] + rng.normal(0.0, 0.8, size=n)
    us = region == [r[0] for r in REGIONS].index("US")
    center_h[us] = (center_h[us] + 6.0) % 24.0
    rate = rng.lognormal(-0.25, 0.6, size=n)
    return Customers(profile, affinity, center_h, rate, region)


def walk(rng: np.random.Generator, cust: Customers, sess_cust: np.ndarray) -> pl.DataFrame:
    """Walk the chain once per session: one row per activity with ``sess``
    (index into ``sess_cust``), ``step``, ``action`` (code) and ``product``
    (SKU number, redrawn on browsing), ordered by ``sess``, ``step``."""
    mats = transition_matrices().astype(np.float32)
    n = sess_cust.shape[0]
    prof = cust.profile[sess_cust]
    cdf0 = np.cumsum(start_vector())
    cur = (rng.random(n)[:, None] > cdf0[None, :]).sum(axis=1).astype(np.int8)
    # Product popularity: Zipf-like over the catalogue.
    pop = 1.0 / np.arange(1, N_PRODUCTS + 1) ** 0.9
    pop_cdf = np.cumsum(pop / pop.sum())
    product = np.searchsorted(pop_cdf, rng.random(n)).astype(np.int16)
    alive = np.arange(n)
    parts: list[tuple[np.ndarray, ...]] = []
    for step in range(MAX_STEPS):
        if alive.size == 0:
            break
        a = cur[alive]
        parts.append((alive, np.full(alive.size, step, np.int16), a, product[alive]))
        rows = mats[prof[alive], a] * cust.affinity[sess_cust[alive]]
        cdf = np.cumsum(rows, axis=1)
        u = rng.random(alive.size, dtype=np.float32) * cdf[:, -1]
        nxt = np.minimum((cdf < u[:, None]).sum(axis=1), END).astype(np.int8)
        if step == MAX_STEPS - 1:
            nxt[:] = END
        keep = nxt != END
        alive, nxt = alive[keep], nxt[keep]
        cur[alive] = nxt
        fresh = _NEW_PRODUCT[nxt]
        product[alive[fresh]] = np.searchsorted(pop_cdf, rng.random(int(fresh.sum()))).astype(np.int16)
    cols = [np.concatenate(c) for c in zip(*parts)] if parts else [np.zeros(0, np.int64)] * 4
    order = np.argsort(cols[0], kind="stable")
    return pl.DataFrame({
        "sess": cols[0][order].astype(np.int64),
        "step": cols[1][order].astype(np.int16),
        "action": cols[2][order].astype(np.int8),
        "product": cols[3][order].astype(np.int16),
    })


def ordinary_day(rng: np.random.Generator, cust: Customers, day_start_ms: int) -> pl.DataFrame:
    """One day of ordinary sessions.

    Returns one row per request: ``sess``, ``cust``, ``guest`` (Bool),
    ``step``, ``action``, ``product``, ``t`` (request start, epoch ms), sorted
    by ``sess``, ``t``; requests after midnight are dropped.
    """
    n_sess = rng.poisson(cust.rate)
    sess_cust = np.repeat(np.arange(cust.size, dtype=np.int32), n_sess)
    start_h = (cust.center_h[sess_cust] + rng.normal(0.0, 1.2, size=sess_cust.size)) % 24.0
    start_ms = (start_h * 3_600_000).astype(np.int64)
    guest = rng.random(sess_cust.size) < GUEST_SHARE
    walks = walk(rng, cust, sess_cust)
    sess = walks["sess"].to_numpy()
    act = walks["action"].to_numpy().astype(np.int64)
    gap = np.rint(rng.lognormal(0.0, 0.7, size=act.size) * _DWELL[act] * 1000.0).astype(np.int64) + 300
    prev_gap = np.concatenate(([0], gap[:-1]))
    first = np.concatenate(([True], sess[1:] != sess[:-1]))
    prev_gap[first] = 0
    cum = np.cumsum(prev_gap)
    seg_base = np.maximum.accumulate(np.where(first, cum, 0))
    t = day_start_ms + start_ms[sess] + (cum - seg_base) + rng.integers(0, 1000, size=act.size)
    out = walks.with_columns(
        pl.Series("cust", sess_cust[sess]),
        pl.Series("guest", guest[sess]),
        pl.Series("t", t),
    ).select("sess", "cust", "guest", "step", "action", "product", "t")
    return out.filter(pl.col("t") < day_start_ms + DAY_MS)
