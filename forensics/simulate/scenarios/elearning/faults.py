"""The e-learning fault model (what fails, when and how), its background
fault rates, and how its users retry.

The fault model, per request of the last day (``t`` = request start):

* a read of the popular course's content key (the plan's ``story.target``) after a trigger completes
  (until 16:20:00 for the first episode, 18:30:00 for the second) fails in
  the cache; in the first ``SLOW_S`` seconds the database fallback is only
  slow (``inc_slow``), after that it times out (``inc_content``);
* from ``AUTH_DELAY_S`` after a trigger, a token refresh or login fails
  (``inc_auth``) for the users whose token lives on the overloaded cache
  node (``TOKEN_SHARD_SHARE`` of them);
* a bad deploy makes the proxy answer 502 for a few morning minutes
  (``deploy_502``); background faults happen at small per-request rates
  all day (so they grow with the traffic), except close to the true onsets
  (:func:`~forensics.simulate.engine.requests.quiet_windows`).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from ...engine.requests import abandon, no_retries, quiet_windows, repeat_failed, trickle
from .model import Population
from .plan import DEFAULT_USERS, RESET_DELAY, Plan
from .vocab import CODE, CONTENT_READERS, DB_WRITERS, INVALIDATORS

SLOW_S = 25.0
AUTH_DELAY_S = 85.0
#: Share of users whose token lives on the cache node that holds ``K``: their
#: token refreshes and logins fail while the node evicts clients.
TOKEN_SHARD_SHARE = 0.07
M = 60_000

#: Background fault rates: kind -> (probability, eligible actions or None for all).
_TRICKLE: dict[str, tuple[float, tuple[str, ...] | None]] = {
    "app_500": (0.0015, None),
    "app_422": (0.006, ("submit_assignment", "post_forum", "update_preferences", "upload_material")),
    "db_conflict": (0.008, DB_WRITERS),
    "cache_timeout": (0.0012, CONTENT_READERS),
    "auth_badpw": (0.03, ("login",)),
    "auth_jwt": (0.0008, None),
    "slow_db": (0.004, CONTENT_READERS + DB_WRITERS),
}
#: The same with action codes.
TRICKLE = {kind: (p, None if names is None else [CODE[n] for n in names]) for kind, (p, names) in _TRICKLE.items()}
#: Kinds whose user sees an error page (and may retry).
USER_FAILURES = ("app_500", "db_conflict", "auth_badpw", "auth_jwt", "deploy_502", "inc_content", "inc_auth")
AUTH_FAILURES = ("auth_badpw", "auth_jwt", "inc_auth")
INCIDENT_KINDS = ("inc_slow", "inc_content", "inc_auth")


def _codes(names: tuple[str, ...]) -> list[int]:
    return [CODE[n] for n in names]


def incident(rng: np.random.Generator, reqs: pl.DataFrame, plan: Plan | None) -> pl.DataFrame:
    """Overwrite ``kind`` with the deploy and incident faults of the last day."""
    if plan is None:
        return reqs
    t = pl.col("t")
    kind = pl.col("kind")
    readers = _codes(CONTENT_READERS)
    popular = plan.story.target
    for start, end in plan.episodes:
        k_read = pl.col("action").is_in(readers) & (pl.col("course") == popular) & (t > start) & (t < end)
        auth = (
            ((pl.col("token")) | (pl.col("action") == CODE["login"]))
            & (t >= start + AUTH_DELAY_S * 1000) & (t < end) & pl.col("shard")
        )
        kind = (
            pl.when(auth).then(pl.lit("inc_auth"))
            .when(k_read & (t < start + SLOW_S * 1000)).then(pl.lit("inc_slow"))
            .when(k_read).then(pl.lit("inc_content"))
            .otherwise(kind)
        )
    d0, d1 = plan.deploy
    kind = pl.when((t >= d0) & (t <= d1)).then(pl.lit("deploy_502")).otherwise(kind)
    return reqs.with_columns(kind.alias("kind"))


def faults(rng: np.random.Generator, reqs: pl.DataFrame, pop: Population, plan: Plan | None) -> pl.DataFrame:
    """Add per-request flags (``token``, ``hit``, ``shard``) and fault kinds."""
    n = reqs.height
    shard = rng.random(pop.size) < TOKEN_SHARD_SHARE
    reqs = reqs.with_columns(
        pl.Series("token", (rng.random(n) < 0.15)) & ~pl.col("action").is_in([CODE["login"], CODE["logout"]]),
        pl.Series("hit", rng.random(n) > 0.03),
        pl.lit(pl.Series(shard)).gather(pl.col("user")).alias("shard"),
    )
    if plan is not None:
        # Instructors do not touch the popular course while it is broken
        # (their invalidations would hide the fault).
        busy = pl.col("action").is_in(_codes(INVALIDATORS)) & (pl.col("course") == plan.story.target) & pl.col("t").is_between(
            plan.t_a - 10 * M, plan.end_2 + 10 * M)
        reqs = reqs.with_columns(pl.when(busy).then(pl.lit(7, pl.Int16)).otherwise(pl.col("course")).alias("course"))
    quiet = [] if plan is None else quiet_windows([o for o, _ in plan.episodes], pop.size, DEFAULT_USERS)
    reqs = reqs.with_columns(trickle(rng, reqs, quiet, TRICKLE))
    return incident(rng, reqs, plan)


# ------------------------------------------------------------ retries, abandon

def retries(rng: np.random.Generator, reqs: pl.DataFrame, plan: Plan | None) -> pl.DataFrame:
    """Users who hit an error retry: a refresh of the same request (1-3 times,
    seconds apart) or, after an auth failure, a new login.  Incident failures
    make half of the sessions give up afterwards."""
    failed = reqs.filter(pl.col("kind").is_in(USER_FAILURES))
    if failed.height == 0:
        return no_retries(reqs)
    is_auth = failed["kind"].is_in(AUTH_FAILURES).to_numpy()
    times = np.where(is_auth, 1, rng.integers(1, 4, size=failed.height))
    rep = repeat_failed(failed, times, rng.integers(2_000, 12_000, size=int(times.sum())))
    rep = rep.with_columns(
        pl.when(pl.Series(np.repeat(is_auth, times))).then(pl.lit(CODE["login"], pl.Int8)).otherwise(pl.col("action")).alias("action"),
        pl.Series("token", np.zeros(rep.height, bool)),
    )
    return abandon(rng, reqs, incident(rng, rep, plan), failed, INCIDENT_KINDS)


def miss_after_reset(reqs: pl.DataFrame, plan: Plan | None) -> pl.DataFrame:
    """After the 16:20 flush and the 18:30 delete, the next read of the
    popular course's content misses (and refills the entry)."""
    if plan is None:
        return reqs
    reqs = reqs.with_row_index("_r")
    k_reads = reqs.filter(pl.col("action").is_in(_codes(CONTENT_READERS)) & (pl.col("course") == plan.story.target)
                           & (pl.col("kind") == "ok"))
    marks = []
    for (_, end), delay in zip(plan.episodes, RESET_DELAY):
        after = k_reads.filter(pl.col("t") > end + delay).sort("t")
        if after.height:
            marks.append(after["_r"][0])
    return reqs.with_columns(pl.when(pl.col("_r").is_in(marks)).then(False).otherwise(pl.col("hit")).alias("hit")).drop("_r")
