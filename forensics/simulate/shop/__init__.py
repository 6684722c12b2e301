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

>>> from forensics.simulate.shop import simulate_shop          # doctest: +SKIP
>>> r = simulate_shop("shop_logs", seed=7, users=1200)         # doctest: +SKIP
>>> r.truth["trigger"]["sequence"][-1]                          # doctest: +SKIP
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
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import polars as pl

from ...errors import UsageError
from .. import SimulationResult
from ..sink import extra_lines, open_sinks, truncated_copies
from . import services, writers
from .fields import enrich
from .model import make_customers, ordinary_day
from .scenario import day_requests, make_plan
from .truth import build_truth

__all__ = ["simulate_shop", "SHOP_FORMATS", "DEFAULT_SHOP_USERS", "DAY_START_MS"]

DEFAULT_SHOP_USERS = 1200
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


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, 101, *key]))


def _render(name: str, plan, reqs: pl.DataFrame, seed: int) -> pl.DataFrame:
    if name == "storefront":
        return writers.storefront(plan, reqs)
    if name == "edge":
        return writers.edge(plan, reqs, seed)
    if name == "pricing":
        return writers.pricing(plan, reqs)
    if name == "cache":
        return writers.cache(plan, reqs)
    if name == "payments":
        return services.payments(plan, reqs, _rng(seed, 7))
    return services.mail(plan, reqs)


def _damage(name: str, frame: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """A few malformed lines, as real files have: a gunicorn line in the
    logfmt log, a torn access line, a torn JSON line."""
    day = DAY_START_MS
    h = 3_600_000
    if name == "storefront":
        t = day + 5 * 60_000
        return pl.concat([frame, extra_lines(frame, [(t, "[2024-03-15 01:05:00 +0100] [1] [INFO] Booting worker with pid: 27")])])
    if name in ("edge", "payments"):
        torn = truncated_copies(frame, int(rng.integers(day + 13 * h, day + 20 * h)), access=name == "edge")
        return pl.concat([frame, torn])
    return frame


def simulate_shop(
    out_dir: str | os.PathLike,
    *,
    seed: int = 7,
    users: int = DEFAULT_SHOP_USERS,
    formats: tuple[str, ...] | list[str] | None = None,
) -> SimulationResult:
    """Write the shop outage's logs and ``truth.json`` to ``out_dir``.

    Parameters
    ----------
    out_dir
        Folder to write into (created).
    seed
        Random seed: the same seed and options give byte-identical files.
    users
        Number of customers (about 0.8 sessions each on the day).
    formats
        Writers to run (see :data:`SHOP_FORMATS`); default all.

    Returns
    -------
    SimulationResult

    Examples
    --------
    >>> import tempfile
    >>> r = simulate_shop(tempfile.mkdtemp(), users=200, formats=["storefront"])
    >>> r.truth["trigger"]["sequence"]
    ['apply_coupon', 'change_currency', 'remove_item', 'apply_coupon', 'checkout']
    """
    started = time.perf_counter()
    if users < 100:
        raise UsageError("--users must be at least 100 for the shop scenario")
    out = Path(out_dir)
    chosen, sinks = open_sinks(out, SHOP_FORMATS, formats, scenario="shop")
    cust = make_customers(_rng(seed, 0), users)
    plan = make_plan(_rng(seed, 1), cust, DAY_START_MS)
    ordinary = ordinary_day(_rng(seed, 2), cust, DAY_START_MS)
    reqs, repaired = day_requests(_rng(seed, 3), ordinary, cust, plan)
    reqs = enrich(_rng(seed, 4), reqs, seed=seed)
    frames: dict[str, pl.DataFrame] = {}
    try:
        for k, name in enumerate(chosen):
            frame = _render(name, plan, reqs, seed).with_row_index("_i").with_columns(
                pl.col("_i").cast(pl.Float64), pl.lit(False).alias("mal"))
            frame = _damage(name, frame, _rng(seed, 5, k)).sort("t", "_i")
            frames[name] = frame
            paths = SHOP_FORMATS[name][0]
            if len(paths) == 2:
                sinks[paths[0]].write(frame.filter(pl.col("t") < EDGE_ROTATE_MS))
                sinks[paths[1]].write(frame.filter(pl.col("t") >= EDGE_ROTATE_MS))
            else:
                sinks[paths[0]].write(frame)
    finally:
        for sink in sinks.values():
            sink.close()
    files = {rel: sink.counts for rel, sink in sinks.items()}
    doc = build_truth(plan=plan, reqs=reqs, frames=frames, files=files, repaired=repaired,
                      config={"seed": seed, "users": users, "formats": list(chosen)})
    (out / "truth.json").write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return SimulationResult(out, files, doc, time.perf_counter() - started)
