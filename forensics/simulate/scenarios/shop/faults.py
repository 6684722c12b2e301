"""The shop's fault model, its background fault rates, and how customers
retry.

Fault model, per request (``t`` = request start):

* the trigger's checkout writes a NaN tax rate into the plan's ``story.resource`` (``taxrules:GB``) at
  ``Plan.t_a`` (and again at ``Plan.t_b``); every priced request of a GB
  customer until the next tax-sync run (every 30 minutes, at :15 and :45)
  overwrites the entry fails: the cache client cannot decode the entry, the
  pricing service errors; listings degrade to "price unavailable"
  (``inc_listing``), cart and checkout requests fail (``inc_quote``), and a
  payment waits 30 s for the amount check before the gateway times out and the
  order confirmation fails (``inc_pay``);
* the mail relay's TLS certificate expires for a few minutes around noon:
  the order-mail worker fails with no user cause (``Plan.mail``);
* background faults happen at small per-request rates all day (so they
  grow with the traffic), except close to the true onsets
  (:func:`~forensics.simulate.engine.requests.quiet_windows`).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from ...engine.requests import abandon, no_retries, quiet_windows, repeat_failed, trickle
from .model import Customers
from .plan import DEFAULT_SHOP_USERS, Plan
from .vocab import CODE, LISTING, PRICED

#: A payment waits this long for the pricing check before the gateway gives up.
PAY_TIMEOUT_MS = 30_000

#: Background fault rates: kind -> (probability, eligible activities or None for all).
_TRICKLE: dict[str, tuple[float, tuple[str, ...] | None]] = {
    "web_500": (0.0015, None),
    "tax_db_timeout": (0.002, PRICED),
    "cache_timeout": (0.0015, PRICED),
    "declined": (0.05, ("pay",)),
    "psp_502": (0.008, ("pay",)),
    "bad_coupon": (0.2, ("apply_coupon",)),
}
#: The same with activity codes.
TRICKLE = {kind: (p, None if names is None else [CODE[n] for n in names]) for kind, (p, names) in _TRICKLE.items()}
#: Kinds after which the customer sees an error (and may try again).
USER_FAILURES = ("web_500", "tax_db_timeout", "declined", "psp_502", "inc_quote", "inc_pay")
INCIDENT_KINDS = ("inc_listing", "inc_quote", "inc_pay")


def _codes(names) -> list[int]:
    return [CODE[n] for n in names]


def faults(rng: np.random.Generator, reqs: pl.DataFrame, cust: Customers, plan: Plan | None) -> pl.DataFrame:
    """Add the customer's ``region`` and the fault ``kind`` per request."""
    reqs = reqs.with_columns(pl.lit(pl.Series(cust.region)).gather(pl.col("user")).alias("region"))
    quiet = [] if plan is None else quiet_windows([s for s, _ in plan.episodes], cust.size, DEFAULT_SHOP_USERS)
    return incident(reqs.with_columns(trickle(rng, reqs, quiet, TRICKLE)), plan)


def incident(reqs: pl.DataFrame, plan: Plan | None) -> pl.DataFrame:
    """Overwrite ``kind`` for the GB customers' priced requests while the
    tax-rules entry is poisoned."""
    if plan is None:
        return reqs
    t, act = pl.col("t"), pl.col("action")
    kind = pl.col("kind")
    for start, end in plan.episodes:
        hit = (pl.col("region") == plan.story.target) & act.is_in(_codes(PRICED)) & (t > start) & (t < end)
        kind = (
            pl.when(hit & act.is_in(_codes(LISTING))).then(pl.lit("inc_listing"))
            .when(hit & (act == CODE["pay"])).then(pl.lit("inc_pay"))
            .when(hit).then(pl.lit("inc_quote"))
            .otherwise(kind)
        )
    return reqs.with_columns(kind.alias("kind"))


def retries(rng: np.random.Generator, reqs: pl.DataFrame, plan: Plan | None) -> pl.DataFrame:
    """After a failure the customer repeats the request (1-2 times, seconds
    after the error page); after an incident failure half of the ordinary
    sessions are abandoned."""
    failed = reqs.filter(pl.col("kind").is_in(USER_FAILURES))
    if failed.height == 0:
        return no_retries(reqs)
    times = rng.integers(1, 3, size=failed.height)
    wait = np.repeat(np.where(failed["kind"].to_numpy() == "inc_pay", PAY_TIMEOUT_MS, 400), times)
    rep = repeat_failed(failed, times, rng.integers(3_000, 15_000, size=int(times.sum())), wait)
    # A retry fails the same way as long as the cause lasts.
    keep = {"declined": 0.5, "psp_502": 0.3}
    again = pl.Series(rng.random(rep.height))
    prev = failed.select(pl.col("kind").repeat_by(pl.Series(times)).explode())["kind"]
    redo = pl.select(pl.when(prev.is_in(list(keep)) & (again < prev.replace_strict(keep, default=0.0)))
                     .then(prev).otherwise(pl.lit("ok"))).to_series()
    rep = incident(rep.with_columns(redo.alias("kind")), plan)
    return abandon(rng, reqs, rep, failed, INCIDENT_KINDS)
