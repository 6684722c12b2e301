"""``forensics simulate --scenario shop``: a second, independent outage in
another domain (an online shop), with other log formats, field names and
time zones than the e-learning scenario, plus its ``truth.json``.

The story (2024-03-15, times UTC): at about 10:02 a customer applies a
coupon, switches the display currency, removes an item, re-applies the
coupon and checks out.  That checkout writes a NaN tax rate into the price
cache entry ``taxrules:GB``; every priced request of GB customers then fails
(cache client, pricing service), checkouts fail and payments time out.  The
tax-sync job overwrites the entry at 10:15 and the errors stop.  At about
14:31 a second customer repeats the sequence; the 14:45 sync ends it again.
Around 12:18 the mail relay's certificate expires for ~12 minutes (no user
cause).  Noise: background errors, retries after errors, a harmless rare
sequence, a coincidence shortly before the first onset, a common path.

>>> import tempfile
>>> from forensics.simulate import simulate_scenario
>>> r = simulate_scenario("shop", tempfile.mkdtemp(), seed=7, users=200, formats=["storefront"])
>>> r.truth["trigger"]["sequence"][-1]
'checkout'

Logs (folder = component): ``storefront/storefront.log`` (logfmt,
``customer_id``/``sid``/``trace_id``/``activity``, local time +01:00),
``edge/access.log.1.gz`` + ``edge/access.log`` (Apache combined, +0100,
``trace_id=``/``ms=`` extras), ``pricing/pricing.log`` (RFC 5424 syslog with
structured data, UTC), ``cache/price-cache.log`` (logfmt, epoch seconds,
``cache_key``/``cmd``/``result``), ``payments/gateway.jsonl`` (ECS-style
nested JSON: ``@timestamp``, ``log.level``, ``trace.id``,
``http.response.status_code``), ``mail/notifier.log`` (Python logging,
naive Europe/Berlin time, tracebacks).

Modules as in the e-learning scenario: :mod:`.vocab`, :mod:`.model`,
:mod:`.plan`, :mod:`.faults`, :mod:`.fields`, :mod:`.writers` and
:mod:`.services` (the writers), :mod:`.truth`.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from ...engine.scenario import Scenario
from ...engine.stream import Injection, Layout
from . import services, truth, writers
from .faults import faults, retries
from .fields import enrich
from .model import CHAIN, make_customers
from .plan import DEFAULT_SHOP_USERS, RNG_SALT, Plan, make_plan, script, story
from .vocab import CODE

__all__ = ["SCENARIO", "SHOP_FORMATS", "DEFAULT_SHOP_USERS", "DAY_START_MS"]

#: 2024-03-15T00:00:00Z in epoch ms.
DAY_START_MS = 1_710_460_800_000
#: The edge log rotates at local noon (11:00 UTC): the morning goes to ``access.log.1.gz``.
EDGE_ROTATE_MS = DAY_START_MS + 11 * 3_600_000

#: Writer -> (files, format the ingest reader should sniff).
SHOP_FORMATS: dict[str, tuple[tuple[str, ...], str]] = {
    "storefront": (("storefront/storefront.log",), "logfmt"),
    "edge": (("edge/access.log.1.gz", "edge/access.log"), "access"),
    "pricing": (("pricing/pricing.log",), "syslog"),
    "cache": (("cache/price-cache.log",), "logfmt"),
    "payments": (("payments/gateway.jsonl",), "jsonl"),
    "mail": (("mail/notifier.log",), "plain"),
}


def injections(rng_for, plan: Plan, chosen: tuple[str, ...]) -> list[Injection]:
    """A few malformed lines, as real files have: a gunicorn line in the
    logfmt log, a torn access line, a torn JSON line."""
    day = plan.day_start
    h = 3_600_000
    out = []
    for k, name in enumerate(chosen):
        if name == "storefront":
            out.append(Injection(name, day + 5 * 60_000, "[2024-03-15 01:05:00 +0100] [1] [INFO] Booting worker with pid: 27"))
        elif name in ("edge", "payments"):
            rng: np.random.Generator = rng_for(5, k)
            out.append(Injection(name, int(rng.integers(day + 13 * h, day + 20 * h)), access=name == "edge"))
    return out


SCENARIO = Scenario(
    name="shop",
    layout=Layout(
        formats=SHOP_FORMATS,
        writers={"storefront": writers.storefront, "edge": writers.edge, "pricing": writers.pricing,
                 "cache": writers.cache, "payments": services.payments, "mail": services.mail},
        rotate_at=EDGE_ROTATE_MS,
        part_requests=None,
    ),
    incident_day=DAY_START_MS,
    rng_salt=RNG_SALT,
    day_keyed=False,
    min_users=100,
    default_users=DEFAULT_SHOP_USERS,
    label="shop",
    label_suffix=" for the shop scenario",
    code=CODE,
    chain=CHAIN,
    make_population=make_customers,
    story=story,
    make_plan=make_plan,
    script=script,
    script_schema={"sess": pl.Int64, "user": pl.Int32, "step": pl.Int16, "action": pl.Int8, "product": pl.Int16,
                   "t": pl.Int64},
    script_gap=16,
    faults=faults,
    retries=retries,
    after_repair=lambda reqs, plan: reqs,
    enrich=enrich,
    injections=injections,
    truth=truth.document,
    summary="an online shop's outage with other formats, field names and time zones (2024-03-15, one day; "
            "scan it with --tz Europe/Berlin)",
)
