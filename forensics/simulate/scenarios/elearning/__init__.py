"""The e-learning scenario (the default, as in ``sample_logs/``): the
postmortem's outage of 2023-11-02.

A rare four-step sequence of user actions poisons the cached content of the
most popular course at about 16:14 UTC; errors cascade through cache,
database, content delivery and auth; a restart at 16:20 seems to help until
a second user repeats the sequence at about 16:45; fixed at 18:30.  A bad
morning deploy, background errors, retries and decoy sequences fill the
rest of the day.  With ``days > 1`` the earlier days are ordinary.

Modules: :mod:`.vocab` (actions, routes, messages, transition weights),
:mod:`.model` (population and chain), :mod:`.plan` (times, actors, scripts),
:mod:`.faults` (fault model, retries), :mod:`.fields` (derived request
fields), :mod:`.writers` and :mod:`.servers` (one writer per log),
:mod:`.truth` (``truth.json``).
"""

from __future__ import annotations

import time

import numpy as np
import polars as pl

from ...engine.scenario import Scenario
from ...engine.stream import Injection, Layout
from . import faults, servers, truth, writers
from .fields import enrich
from .model import CHAIN, make_population
from .plan import DEFAULT_USERS, Plan, make_plan, script, story
from .vocab import CODE

__all__ = ["SCENARIO", "FORMATS", "DEFAULT_USERS", "INCIDENT_DAY_MS"]

#: 2023-11-02T00:00:00Z in epoch ms: the incident day.
INCIDENT_DAY_MS = 1_698_883_200_000
#: The app log is rotated at noon: the older half goes to ``app.jsonl.1.gz``.
ROTATE_AT_MS = 12 * 3_600_000

#: Writer name -> (files, format name the ingest reader should sniff).
FORMATS: dict[str, tuple[tuple[str, ...], str]] = {
    "app": (("app/app.jsonl.1.gz", "app/app.jsonl"), "jsonl"),
    "nginx": (("nginx/access.log",), "access"),
    "cache": (("cache/cache.jsonl",), "jsonl"),
    "redis": (("cache/redis.log",), "redis"),
    "postgres": (("db/postgresql.log",), "postgres"),
    "auth": (("auth/auth.log",), "plain"),
}


def injections(rng_for, plan: Plan, chosen: tuple[str, ...]) -> list[Injection]:
    """Malformed lines of the incident day: torn app lines (one just before
    the deploy) and a gunicorn line in the app log, a torn access line and an
    nginx error line in the access log, a torn cache line."""
    rng: np.random.Generator = rng_for(6)
    d0 = plan.deploy[0]
    day = plan.day_start
    h = 3_600_000
    out: list[Injection] = []
    if "app" in chosen:
        out += [Injection("app", d0 - 60_000),
                Injection("app", d0 - 1_500, f"[{_clock(d0 - 1_500)} +0000] [7] [INFO] Handling signal: term")]
        out += [Injection("app", int(t)) for t in np.sort(rng.integers(day + 13 * h, day + 23 * h, size=2))]
    if "nginx" in chosen:
        t = d0 + 4_200
        out += [
            Injection("nginx", int(rng.integers(day + 12 * h, day + 23 * h)), access=True),
            Injection("nginx", t, f"{_clock(t, '%Y/%m/%d %H:%M:%S')} [error] 31#31: *88213 connect() failed (111: "
                                  "Connection refused) while connecting to upstream, client: 10.64.3.17, server: "
                                  'learn.example.edu, request: "GET /courses HTTP/1.1", upstream: '
                                  '"http://10.0.1.20:8000/courses", host: "learn.example.edu"'),
        ]
    if "cache" in chosen:
        out.append(Injection("cache", int(rng.integers(day + 1 * h, day + 23 * h))))
    return out


def _clock(t_ms: int, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    return time.strftime(fmt, time.gmtime(t_ms / 1000))


SCENARIO = Scenario(
    name="elearning",
    layout=Layout(
        formats=FORMATS,
        writers={"app": writers.app, "nginx": writers.nginx, "cache": writers.cache, "redis": servers.redis,
                 "postgres": servers.postgres, "auth": writers.auth},
        rotate_at=INCIDENT_DAY_MS + ROTATE_AT_MS,
        part_requests=250_000,
    ),
    incident_day=INCIDENT_DAY_MS,
    rng_salt=(),
    day_keyed=True,
    min_users=20,
    default_users=DEFAULT_USERS,
    label="simulate",
    label_suffix="",
    code=CODE,
    chain=CHAIN,
    make_population=make_population,
    story=story,
    make_plan=make_plan,
    script=script,
    script_schema={"sess": pl.Int64, "user": pl.Int32, "step": pl.Int16, "action": pl.Int8, "course": pl.Int16,
                   "item": pl.Int16, "t": pl.Int64},
    script_gap=0,
    faults=faults.faults,
    retries=faults.retries,
    after_repair=faults.miss_after_reset,
    enrich=enrich,
    injections=injections,
    truth=truth.document,
    summary="the postmortem's outage of an e-learning platform (2023-11-02; the default, as in sample_logs/)",
)
