"""Derived request fields shared by the writers: ids, routes, latencies,
statuses, levels and messages.  Vectorized over the day's request table.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from ...engine.render import hex_ids
from ...engine.scenario import Story
from .model import Population
from .vocab import ACTIONS, CODE, COURSE_ACTIONS, MESSAGES, ROUTES

#: Fault kind -> (HTTP status, app level, app message template; None: ordinary message).
KINDS: dict[str, tuple[int, str, str | None]] = {
    "ok": (200, "info", None),
    "slow_db": (200, "info", None),
    "cache_timeout": (200, "warn", "content cache timeout; served from database"),
    "app_500": (500, "error", "unhandled exception: KeyError: 'locale'"),
    "app_422": (422, "warn", "validation failed: request body rejected"),
    "db_conflict": (500, "error", "database error: duplicate key value violates unique constraint"),
    "auth_badpw": (401, "warn", "login failed: invalid credentials"),
    "auth_jwt": (401, "warn", "session rejected: token signature invalid"),
    "deploy_502": (502, "error", None),
    "inc_slow": (200, "warn", "content cache read failed (payload decode error); served from database"),
    "inc_content": (504, "error", "content delivery failed: database timeout loading course:{c}:content"),
    "inc_auth": (503, "error", "authentication unavailable: token refresh failed"),
}


def user_ids(users: np.ndarray, n_users: int) -> pl.Series:
    """``u0042``-style ids, zero-padded to the population size."""
    width = max(4, len(str(max(n_users - 1, 0))))
    digits = pl.Series(users.astype(np.int64)).cast(pl.String).str.zfill(width)
    return pl.select(pl.concat_str(pl.lit("u"), pl.lit(digits))).to_series()


def _route(which: int) -> pl.Expr:
    """The action's HTTP method (``which=0``) or route template (``1``)."""
    return pl.col("name").replace_strict({a: ROUTES[a][which] for a in ACTIONS}, return_dtype=pl.String)


def enrich(rng: np.random.Generator, reqs: pl.DataFrame, pop: Population, *, seed: int, first_number: int,
           story: Story) -> pl.DataFrame:
    """Sort the day's requests by time and add ``rid``, ``sid``, ``uid``,
    ``name``, ``cid`` (public course id, null for course-less actions),
    ``method``, ``path``, ``lat`` (ms), ``end`` (ms), ``db_ms``, ``status``,
    ``level``, ``msg``, ``trigger_done``, ``pid``, ``thread``, ``bytes``.
    """
    reqs = reqs.sort("t", "sess", maintain_order=True)
    n = reqs.height
    num = np.arange(first_number, first_number + n, dtype=np.uint64)
    action = reqs["action"].to_numpy().astype(np.int64)
    base_ms = np.where(np.isin(action, [CODE["download_material"], CODE["upload_material"]]), 90.0, 35.0)
    lat = rng.lognormal(0.0, 0.5, size=n) * base_ms
    db_ms = rng.uniform(520.0, 1800.0, size=n)
    slow_inc = rng.uniform(900.0, 2900.0, size=n)
    kind = reqs["kind"]
    lat = np.select(
        [kind == "slow_db", kind == "inc_slow", kind == "inc_content", kind == "inc_auth", kind == "cache_timeout",
         kind == "deploy_502"],
        [db_ms + lat, slow_inc + 12.0, 6012.0 + lat / 10, 2010.0 + lat / 10, lat + 250.0, rng.uniform(0.5, 4.0, size=n)],
        lat,
    )
    db_ms = np.where(kind == "inc_slow", slow_inc, db_ms)
    status = pl.col("kind").replace_strict({k: v[0] for k, v in KINDS.items()}, return_dtype=pl.Int32)
    level = pl.col("kind").replace_strict({k: v[1] for k, v in KINDS.items()}, return_dtype=pl.String)
    special = pl.col("kind").replace_strict({k: v[2] for k, v in KINDS.items()}, return_dtype=pl.String)
    ordinary = pl.col("name").replace_strict(MESSAGES, return_dtype=pl.String)
    login_fail = (pl.col("kind") == "inc_auth") & (pl.col("name") == "login")
    course_ok = pl.col("action").is_in([CODE[a] for a in COURSE_ACTIONS])
    out = reqs.with_columns(
        hex_ids(num, seed, name="rid"),
        hex_ids(reqs["sess"].to_numpy(), seed + 1, words=1, prefix="s-", name="sid").str.slice(0, 14),
        user_ids(reqs["user"].to_numpy(), pop.size).alias("uid"),
        pl.Series("name", np.array(ACTIONS)[action]),
        pl.Series("lat", np.round(lat, 1)),
        pl.Series("db_ms", np.round(db_ms, 3)),
        pl.Series("pid", rng.integers(2000, 32000, size=n).astype(np.int32)),
        pl.Series("thread", rng.integers(1, 41, size=n).astype(np.int32)),
        pl.Series("bytes", rng.integers(900, 48000, size=n).astype(np.int32)),
    ).with_columns(
        pl.when(course_ok).then(pl.lit(pl.Series(pop.course_ids)).gather(pl.col("course").cast(pl.Int64))).alias("cid"),
        (pl.col("t") + pl.col("lat").round(0).cast(pl.Int64)).alias("end"),
        status.alias("status"),
        level.alias("level"),
        pl.when(login_fail).then(pl.lit("login failed: session store unavailable"))
        .otherwise(pl.coalesce(special, ordinary)).alias("msg"),
        ((pl.col("role") == "trigger") & (pl.col("name") == story.trigger[-1]) & ~pl.col("retry")).fill_null(False).alias("trigger_done"),
    )
    method = _route(0)
    tmpl = _route(1)
    path = (
        tmpl.str.replace("{c}", pl.col("cid").cast(pl.String).fill_null("0"), literal=True)
        .str.replace("{x}", pl.col("item").cast(pl.String), literal=True)
    )
    out = out.with_columns(method.alias("method"), path.alias("path"))
    return out.with_columns(
        pl.col("msg").str.replace("{c}", pl.col("cid").cast(pl.String).fill_null(""), literal=True),
        pl.when(pl.col("status").is_in([200]) & (pl.col("method") == "POST") & pl.col("name").is_in(
            ["submit_assignment", "post_forum", "upload_material"])).then(pl.lit(201, pl.Int32))
        .when((pl.col("status") == 200) & (pl.col("name") == "play_video")).then(pl.lit(206, pl.Int32))
        .otherwise(pl.col("status")).alias("status"),
    )
