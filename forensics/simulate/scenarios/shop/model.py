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

from ...engine.chain import Chain, Population, WalkAttr
from .vocab import A, CODE, DWELL_S, END, PROFILE_WEIGHTS, REGIONS, start_vector, transition_matrices

MAX_STEPS = 40
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
class Customers(Population):
    """Customers and their habits (see :class:`~forensics.simulate.engine.chain.Population`;
    ``profile`` indexes ``vocab.PROFILES``).

    Attributes
    ----------
    region
        Index into ``vocab.REGIONS`` (shipping region; sets the tax rules read).
    """

    region: np.ndarray


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
    return Customers(profile=profile, affinity=affinity, center_h=center_h, rate=rate, region=region)


#: Product popularity: Zipf-like over the catalogue.
_POP = 1.0 / np.arange(1, N_PRODUCTS + 1) ** 0.9
_POP_CDF = np.cumsum(_POP / _POP.sum())


def _draw_product(rng: np.random.Generator, cust: Customers, users: np.ndarray) -> np.ndarray:
    return np.searchsorted(_POP_CDF, rng.random(users.shape[0])).astype(np.int16)


def _guests(rng: np.random.Generator, sess_user: np.ndarray) -> dict[str, np.ndarray]:
    return {"guest": rng.random(sess_user.size) < GUEST_SHARE}


#: The ordinary behaviour: per step the product (redrawn on browsing);
#: sessions may be guests' (no ``customer_id``).
CHAIN = Chain(
    matrices=transition_matrices(),
    starts=start_vector()[None, :],
    start_group=lambda prof: np.zeros(prof.shape[0], np.int64),
    dwell_s=_DWELL,
    attrs=(WalkAttr("product", _draw_product, _NEW_PRODUCT),),
    max_steps=MAX_STEPS,
    min_gap_ms=300,
    start_spread_h=1.2,
    session_extras=_guests,
)
