"""Derived request fields shared by the shop's writers: trace and session
ids, customer ids, routes, latencies, statuses, levels and messages.
Vectorized over the day's request table.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from ...engine.render import hex_ids
from ...engine.scenario import Story
from .faults import PAY_TIMEOUT_MS
from .model import N_CATEGORIES, Customers
from .plan import CHECKOUT_MS
from .vocab import ACTIONS, CODE, LISTING, MESSAGES, PRODUCT_ACTIONS, REGIONS, ROUTES

CATEGORIES = (
    "running-shoes", "trail-shoes", "rain-jackets", "down-jackets", "fleeces", "base-layers", "hiking-pants",
    "shorts", "socks", "backpacks", "daypacks", "tents", "sleeping-bags", "mats", "stoves", "cookware",
    "headlamps", "poles", "gloves", "hats", "sunglasses", "bottles", "maps", "gift-cards",
)
QUERIES = ("gore-tex+jacket", "merino+socks", "40l+backpack", "trail+runners", "down+vest", "kids+boots",
           "headlamp", "tent+2+person", "waterproof+gloves", "sale")

#: kind -> (status, level, message; None = the activity's ordinary message).
KINDS: dict[str, tuple[int, str, str | None]] = {
    "ok": (200, "info", None),
    "cache_timeout": (200, "info", None),
    "bad_coupon": (422, "warn", "coupon rejected: code expired or not applicable"),
    "declined": (402, "warn", "payment declined by issuer"),
    "psp_502": (502, "error", "payment failed: payment provider unavailable"),
    "web_500": (500, "error", "unhandled exception while rendering response"),
    "tax_db_timeout": (503, "error", "price quote failed: pricing timed out"),
    "inc_listing": (200, "warn", "prices unavailable: pricing error; showing list prices"),
    "inc_quote": (500, "error", "price quote failed: pricing returned an error"),
    "inc_pay": (502, "error", "order confirmation failed: payment authorization timed out"),
}
_CREATED = ("add_to_cart", "write_review", "add_to_wishlist", "pay")
_BASE_MS = {"checkout": 180.0, "pay": 420.0, "search": 90.0}


def customer_ids(cust: np.ndarray) -> pl.Series:
    """``c00042``-style customer ids."""
    return pl.select(pl.lit("c") + pl.lit(pl.Series(cust.astype(np.int64))).cast(pl.String).str.zfill(5)).to_series()


def enrich(rng: np.random.Generator, reqs: pl.DataFrame, cust: Customers, *, seed: int, first_number: int,
           story: Story) -> pl.DataFrame:
    """Sort the day's requests by time and add ``trace`` (32 hex), ``sid``,
    ``customer`` (null for guests), ``name``, ``sku``, ``order``, ``currency``,
    ``region_code``, ``method``, ``path``, ``lat``, ``end``, ``status``,
    ``level``, ``msg``, ``poison`` (the trigger's checkout), ``pid``, ``bytes``,
    ``ip``."""
    reqs = reqs.sort("t", "sess", maintain_order=True)
    n = reqs.height
    num = np.arange(first_number, first_number + n, dtype=np.uint64)
    action = reqs["action"].to_numpy().astype(np.int64)
    kind = reqs["kind"].to_numpy().astype(str)
    base = np.array([_BASE_MS.get(a, 45.0) for a in ACTIONS])[action]
    lat = rng.lognormal(0.0, 0.5, size=n) * base
    lat = np.select(
        [kind == "inc_pay", kind == "psp_502", kind == "tax_db_timeout", kind == "cache_timeout",
         np.isin(kind, ["inc_listing", "inc_quote"])],
        [PAY_TIMEOUT_MS + lat / 10, 5_000.0 + lat, 2_000.0 + lat, 250.0 + lat, 12.0 + lat / 4],
        lat,
    )
    poison = ((reqs["role"] == "trigger") & (reqs["action"] == CODE[story.trigger[-1]]) & ~reqs["retry"]).fill_null(False)
    lat = np.where(poison.to_numpy(), CHECKOUT_MS + 5.0, lat)
    ordinary = pl.col("name").replace_strict(MESSAGES, return_dtype=pl.String)
    special = pl.col("kind").replace_strict({k: v[2] for k, v in KINDS.items()}, return_dtype=pl.String)
    status = pl.col("kind").replace_strict({k: v[0] for k, v in KINDS.items()}, return_dtype=pl.Int32)
    listing_timeout = (pl.col("kind") == "tax_db_timeout") & pl.col("name").is_in(list(LISTING))
    out = reqs.with_columns(
        hex_ids(num, seed, name="trace"),
        hex_ids(reqs["sess"].to_numpy(), seed + 1, words=1, name="sid"),
        pl.when(~pl.col("guest")).then(customer_ids(reqs["user"].to_numpy())).alias("customer"),
        pl.Series("name", np.array(ACTIONS)[action]),
        pl.Series("lat", np.round(lat, 1)),
        pl.Series("poison", poison),
        pl.Series("pid", rng.integers(20, 29, size=n).astype(np.int32)),
        pl.Series("bytes", rng.integers(2_000, 90_000, size=n).astype(np.int32)),
        pl.Series("_q", rng.integers(0, len(QUERIES), size=n)),
        pl.Series("_line", rng.integers(1, 9, size=n)),
        pl.Series("_order", rng.integers(1_000_000, 9_999_999, size=n)),
    )
    region = pl.col("region").cast(pl.Int64)
    out = out.with_columns(
        pl.format("SKU-{}", (pl.col("product").cast(pl.Int64) * 37 % 9000 + 10_000)).alias("sku"),
        pl.lit(pl.Series([r[0] for r in REGIONS])).gather(region).alias("region_code"),
        pl.lit(pl.Series([r[1] for r in REGIONS])).gather(region).alias("currency"),
        pl.format("ORD-{}", pl.col("_order")).alias("order"),
        (pl.col("t") + pl.col("lat").round(0).cast(pl.Int64)).alias("end"),
        pl.when(pl.col("kind").is_in(["ok", "cache_timeout"]) & pl.col("name").is_in(list(_CREATED)))
        .then(pl.lit(201, pl.Int32))
        .when(listing_timeout).then(pl.lit(200, pl.Int32))
        .otherwise(status).alias("status"),
        pl.when(listing_timeout).then(pl.lit("warn"))
        .otherwise(pl.col("kind").replace_strict({k: v[1] for k, v in KINDS.items()}, return_dtype=pl.String)).alias("level"),
        pl.when(listing_timeout).then(pl.lit("prices unavailable: pricing timed out; showing list prices"))
        .otherwise(pl.coalesce(special, ordinary)).alias("msg"),
        pl.format("{}.{}.{}.{}", (pl.col("user") % 3 * 50 + 100).cast(pl.String), (pl.col("user") // 250 % 250 + 1).cast(pl.String),
                  (pl.col("user") // 7 % 250 + 1).cast(pl.String), (pl.col("user") % 250 + 2).cast(pl.String)).alias("ip"),
    )
    tmpl = pl.col("name").replace_strict({a: ROUTES[a][1] for a in ACTIONS}, return_dtype=pl.String)
    path = (
        tmpl.str.replace("{c}", pl.lit(pl.Series(CATEGORIES)).gather(pl.col("product").cast(pl.Int64) % N_CATEGORIES), literal=True)
        .str.replace("{q}", pl.lit(pl.Series(QUERIES)).gather(pl.col("_q")), literal=True)
        .str.replace("{p}", pl.col("sku"), literal=True)
        .str.replace("{l}", pl.col("_line").cast(pl.String), literal=True)
        .str.replace("{o}", pl.col("order"), literal=True)
    )
    return out.with_columns(
        pl.col("name").replace_strict({a: ROUTES[a][0] for a in ACTIONS}, return_dtype=pl.String).alias("method"),
        path.alias("path"),
        pl.when(pl.col("name").is_in(list(PRODUCT_ACTIONS))).then(pl.col("sku")).alias("sku"),
        pl.when(pl.col("name").is_in(["pay", "track_order"])).then(pl.col("order")).alias("order"),
    ).drop("_q", "_line", "_order")
