"""Request-driven logs of the shop: the storefront (logfmt, local time with
offset), the edge proxy (Apache combined, local offset, ``trace_id=``/``ms=``
extras), the pricing service (RFC 5424 syslog with structured data, UTC) and
the price cache's access log (logfmt, epoch-seconds ``ts``).

Every writer takes a :class:`~forensics.simulate.engine.render.Ctx` (the
whole day is one part) and the requests, and returns a render frame (see
:mod:`forensics.simulate.engine.render`).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from ...engine.render import Ctx, hex_ids, iso_ms, render
from .faults import INCIDENT_KINDS
from .plan import SYNC_MINUTES, Plan
from .vocab import CART_WRITES, LISTING, PRICED, REGIONS

TZ = "Europe/Berlin"
HOST = "https://shop.example.com"
AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_3) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "Mozilla/5.0 (Linux; Android 14; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:123.0) Gecko/20100101 Firefox/123.0",
)
#: Bytes of a healthy tax-rules entry, and of the corrupt one.
RULES_BYTES, POISON_BYTES = 18_234, 23


def local(col: str, fmt: str) -> pl.Expr:
    """Epoch-ms column as Europe/Berlin local time text."""
    return pl.from_epoch(pl.col(col), time_unit="ms").dt.replace_time_zone("UTC").dt.convert_time_zone(TZ).dt.strftime(fmt)


def cause_of(plan: Plan) -> tuple[pl.Expr, pl.Expr]:
    """``cause`` and ``ep`` expressions from a request's fault kind."""
    kind = pl.col("kind")
    cause = (pl.when(kind.is_in(INCIDENT_KINDS)).then(pl.lit("incident"))
             .when(kind == "ok").then(pl.lit(None, pl.String)).otherwise(pl.lit("background")))
    ep = pl.when(kind.is_in(INCIDENT_KINDS)).then(pl.when(pl.col("t") >= plan.t_b).then(2).otherwise(1))
    return cause, ep


def logfmt(pairs: list[tuple[str, pl.Expr, bool]]) -> pl.Expr:
    """``k=v`` text; quoted values get ``"..."``; null values are left out."""
    parts = []
    for k, v, quoted in pairs:
        val = pl.format(f'{k}="{{}}"', v) if quoted else pl.format(f"{k}={{}}", v)
        parts.append(val)
    return pl.concat_str(parts, separator=" ", ignore_nulls=True)


# ---------------------------------------------------------------- storefront

_ERR = {"web_500": "KeyError: 'variant_id'", "psp_502": "PaymentProviderError: 502 Bad Gateway",
        "tax_db_timeout": "PricingTimeout: pricing did not answer within 2000 ms",
        "inc_quote": "PricingError: 500 from pricing /v2/quote", "inc_pay": "GatewayTimeout: payment-gateway 504"}


def storefront(ctx: Ctx, reqs: pl.DataFrame) -> pl.DataFrame:
    """``storefront/storefront.log``: one logfmt line per request (when the
    response is sent), plus a few lines of its own."""
    plan: Plan = ctx.plan
    cause, ep = cause_of(plan)
    err_text = pl.col("kind").replace_strict(_ERR, default=None, return_dtype=pl.String)
    line = logfmt([
        ("time", local("end", "%Y-%m-%dT%H:%M:%S%.3f%:z"), False), ("level", pl.col("level"), False),
        ("customer_id", pl.col("customer"), False), ("sid", pl.col("sid"), False), ("trace_id", pl.col("trace"), False),
        ("activity", pl.col("name"), False), ("method", pl.col("method"), False), ("path", pl.col("path"), False),
        ("status", pl.col("status").cast(pl.String), False), ("duration_ms", pl.col("lat").cast(pl.String), False),
        ("sku", pl.col("sku"), False), ("order_id", pl.when(pl.col("name") == "pay").then(pl.col("order")), False),
        ("currency", pl.when(pl.col("name").is_in(list(PRICED))).then(pl.col("currency")), False),
        ("msg", pl.col("msg"), True), ("err", err_text, True),
    ])
    main = render(reqs, pl.col("end"), line, err=pl.col("level") == "error", cause=cause, ep=ep)
    own = pl.DataFrame({
        "t": [plan.day_start + 4 * 60_000 + 311, plan.day_start + 15 * 3_600_000 + 20 * 60_000 + 5_120],
        "msg": ["worker booted (release 2024.03.15-1, 8 threads)",
                "worker booted (release 2024.03.15-2, hotfix: validate tax rules before caching)"],
    })
    extra = render(own, pl.col("t"), logfmt([("time", local("t", "%Y-%m-%dT%H:%M:%S%.3f%:z"), False),
                                             ("level", pl.lit("info"), False), ("msg", pl.col("msg"), True)]))
    return pl.concat([main, extra])


# ---------------------------------------------------------------------- edge

def _clf(col: str) -> pl.Expr:
    return local(col, "%d/%b/%Y:%H:%M:%S %z")


def edge(ctx: Ctx, reqs: pl.DataFrame) -> pl.DataFrame:
    """``edge/access.log``: Apache combined plus ``trace_id=`` and ``ms=``
    for every request, static assets when a session starts, and the load
    balancer's health checks every 30 s."""
    plan: Plan = ctx.plan
    seed = ctx.seed
    cause, ep = cause_of(plan)
    agent = pl.lit(pl.Series(AGENTS)).gather(pl.col("user") % len(AGENTS))
    referer = pl.when(pl.col("sku").is_not_null()).then(pl.format(HOST + "/p/{}", pl.col("sku"))).otherwise(pl.lit(HOST + "/"))
    size = pl.when(pl.col("status") >= 500).then(pl.lit(312)).otherwise(pl.col("bytes")).cast(pl.String)
    ms = (pl.col("lat") + 2).round(0).cast(pl.Int64).cast(pl.String)
    text = pl.format('{} - - [{}] "{} {} HTTP/1.1" {} {} "{}" "{}" trace_id={} ms={}', pl.col("ip"), _clf("_e"),
                     pl.col("method"), pl.col("path"), pl.col("status").cast(pl.String), size, referer, agent,
                     pl.col("trace"), ms)
    df = reqs.with_columns((pl.col("end") + 2).alias("_e"))
    main = render(df, pl.col("_e"), text, err=pl.col("status") >= 500, cause=cause, ep=ep)
    first = df.filter((pl.col("step") == 0) & ~pl.col("retry")).select("user", "t", "ip")
    static = pl.concat([
        first.with_columns((pl.col("t") - 600 + 120 * k).alias("_e"), pl.lit(asset).alias("p"))
        for k, asset in enumerate(("/assets/app.3f9a1c.js", "/assets/app.77be02.css"))
    ]).sort("_e", "user")
    static = static.with_columns(hex_ids(np.arange(static.height, dtype=np.uint64), seed + 17, name="tr"))
    static_lines = render(static, pl.col("_e"), pl.format(
        '{} - - [{}] "GET {} HTTP/1.1" 200 48213 "{}/" "{}" trace_id={} ms=1', pl.col("ip"), _clf("_e"), pl.col("p"),
        pl.lit(HOST), agent, pl.col("tr")))
    ht = np.arange(plan.day_start + 4_000, plan.day_start + 86_400_000, 30_000, dtype=np.int64)
    health = pl.DataFrame({"_e": ht}).with_columns(hex_ids(ht.astype(np.uint64), seed + 23, name="tr"))
    health_lines = render(health, pl.col("_e"), pl.format(
        '10.20.0.5 - - [{}] "GET /healthz HTTP/1.1" 200 2 "-" "ELB-HealthChecker/2.0" trace_id={} ms=1', _clf("_e"),
        pl.col("tr")))
    return pl.concat([main, static_lines, health_lines])


# ------------------------------------------------------------------- pricing

_PRICING_MSG = {
    "ok": "quote computed",
    "cache_timeout": "tax rules cache read timed out; loaded from tax-db",
    "tax_db_timeout": "tax rules lookup timed out after 2000 ms (tax-db)",
    "inc_listing": "tax computation failed: tax rate is NaN (cached tax rules corrupt)",
    "inc_quote": "tax computation failed: tax rate is NaN (cached tax rules corrupt)",
    "inc_pay": "amount verification failed: tax rate is NaN (cached tax rules corrupt)",
}
#: RFC 5424 PRI (facility local0) per level.
_PRI = {"info": 134, "warn": 132, "error": 131}


def _rfc5424(at: pl.Expr, pri: pl.Expr, msgid: pl.Expr, sd: pl.Expr, msg: pl.Expr) -> pl.Expr:
    return pl.format("<{}>1 {} pricing-6d4f9b7c5-x2kqp pricing 1 {} {} {}", pri.cast(pl.String), at, msgid, sd, msg)


def pricing(ctx: Ctx, reqs: pl.DataFrame) -> pl.DataFrame:
    """``pricing/pricing.log``: one line per priced request (RFC 5424, UTC),
    trace id and cache key in structured data; the trigger's checkout also
    logs the (bad) refresh of the region's tax rules."""
    plan: Plan = ctx.plan
    cause, ep = cause_of(plan)
    df = reqs.filter(pl.col("name").is_in(list(PRICED)))
    kind = pl.col("kind")
    level = (pl.when(kind.is_in(["tax_db_timeout", *INCIDENT_KINDS])).then(pl.lit("error"))
             .when(kind == "cache_timeout").then(pl.lit("warn")).otherwise(pl.lit("info")))
    msg = kind.replace_strict(_PRICING_MSG, default="quote computed", return_dtype=pl.String)
    msgid = (pl.when(pl.col("name") == "pay").then(pl.lit("verify"))
             .when(pl.col("name").is_in(list(LISTING))).then(pl.lit("list")).otherwise(pl.lit("quote")))
    sd = pl.format('[ctx@53595 trace_id="{}" key="taxrules:{}" region="{}" currency="{}"]', pl.col("trace"),
                   pl.col("region_code"), pl.col("region_code"), pl.col("currency"))
    df = df.with_columns(level.alias("_lv"), (pl.col("t") + 6 + (kind == "tax_db_timeout").cast(pl.Int64) * 2_000).alias("_at"))
    main = render(df, pl.col("_at"), _rfc5424(iso_ms("_at"), pl.col("_lv").replace_strict(_PRI, return_dtype=pl.Int64),
                                              msgid, sd, msg),
                  err=pl.col("_lv") == "error", cause=cause, ep=ep)
    bad = reqs.filter(pl.col("poison")).with_columns((pl.col("end") - 4).alias("_at"))
    refresh = render(bad, pl.col("_at"), _rfc5424(
        iso_ms("_at"), pl.lit(134), pl.lit("refresh"),
        pl.format('[ctx@53595 trace_id="{}" key="taxrules:{}" region="{}"]', pl.col("trace"), pl.col("region_code"),
                  pl.col("region_code")),
        pl.format("tax rules refreshed from cart context source={} rate=NaN", pl.col("name"))))
    return pl.concat([main, refresh])


# --------------------------------------------------------------------- cache

def _cache_line(at: str, level: pl.Expr, client: pl.Expr, cmd: str, key: pl.Expr, result: pl.Expr,
                *, size: pl.Expr | None = None, ttl: int | None = None, elapsed: pl.Expr, trace: pl.Expr | None,
                err: pl.Expr | None = None) -> pl.Expr:
    """One cache access line; ``ts`` is epoch seconds with milliseconds."""
    t = pl.col(at)
    ts = pl.format("{}.{}", (t // 1000).cast(pl.String), (t % 1000).cast(pl.String).str.zfill(3))
    pairs = [("ts", ts, False), ("level", level, False), ("client", client, False), ("cmd", pl.lit(cmd), False),
             ("cache_key", key, False), ("result", result, False)]
    if size is not None:
        pairs.append(("bytes", size.cast(pl.String), False))
    if ttl is not None:
        pairs.append(("ttl_s", pl.lit(str(ttl)), False))
    pairs.append(("elapsed_ms", elapsed.cast(pl.String), False))
    if trace is not None:
        pairs.append(("trace_id", trace, False))
    if err is not None:
        pairs.append(("err", err, True))
    return logfmt(pairs)


def cache(ctx: Ctx, reqs: pl.DataFrame) -> pl.DataFrame:
    """``cache/price-cache.log``: the cache clients' access log: tax-rules
    reads (and refills after evictions) for every priced request, cart
    writes, the trigger's corrupt write, and the tax-sync job's rewrites."""
    plan: Plan = ctx.plan
    cause, ep = cause_of(plan)
    kind = pl.col("kind")
    key = pl.format("taxrules:{}", pl.col("region_code"))
    priced = reqs.filter(pl.col("name").is_in(list(PRICED))).with_columns(
        (pl.col("t") + 3).alias("_at"), (pl.col("lat") % 0.9 + 0.1).round(2).alias("_el"))
    bad = kind.is_in([*INCIDENT_KINDS, "cache_timeout"])
    evicted = (pl.col("bytes") % 97 == 0) | (kind == "tax_db_timeout")
    result = (pl.when(kind == "cache_timeout").then(pl.lit("timeout")).when(bad).then(pl.lit("error"))
              .when(evicted).then(pl.lit("miss")).otherwise(pl.lit("hit")))
    err = (pl.when(kind == "cache_timeout").then(pl.lit("read timed out after 250 ms"))
           .when(bad).then(pl.lit("decode failed: tax rate is not a finite number")))
    gets = render(priced, pl.col("_at"), _cache_line(
        "_at", pl.when(bad).then(pl.lit("error")).otherwise(pl.lit("info")), pl.lit("pricing"), "GET", key, result,
        size=pl.when(result == "hit").then(pl.lit(RULES_BYTES)), elapsed=pl.when(kind == "cache_timeout")
        .then(pl.lit(250.0)).otherwise(pl.col("_el")), trace=pl.col("trace"), err=err),
        err=bad, cause=pl.when(bad).then(cause), ep=pl.when(bad).then(ep))
    refill = priced.filter(evicted & (kind != "tax_db_timeout")).with_columns((pl.col("_at") + 9).alias("_at"))
    sets = render(refill, pl.col("_at"), _cache_line(
        "_at", pl.lit("info"), pl.lit("pricing"), "SET", key, pl.lit("ok"), size=pl.lit(RULES_BYTES), ttl=1800,
        elapsed=pl.col("_el"), trace=pl.col("trace")))
    carts = reqs.filter(pl.col("name").is_in(list(CART_WRITES)) & ~kind.is_in(["inc_quote", "web_500"])).with_columns(
        (pl.col("end") - 3).alias("_at"))
    cart_lines = render(carts, pl.col("_at"), _cache_line(
        "_at", pl.lit("info"), pl.lit("storefront"), "SET", pl.format("cart:{}", pl.col("sid")), pl.lit("ok"),
        size=pl.col("bytes") % 3000 + 400, ttl=604800, elapsed=(pl.col("lat") % 0.7 + 0.1).round(2), trace=pl.col("trace")))
    poison = reqs.filter(pl.col("poison")).with_columns((pl.col("end") - 5).alias("_at"))
    poison_lines = render(poison, pl.col("_at"), _cache_line(
        "_at", pl.lit("info"), pl.lit("pricing"), "SET", key, pl.lit("ok"), size=pl.lit(POISON_BYTES), ttl=1800,
        elapsed=pl.lit(0.31), trace=pl.col("trace")))
    sync_t = [plan.day_start + h * 3_600_000 + m * 60_000 + 800 + 40 * r
              for h in range(24) for m in SYNC_MINUTES for r in range(len(REGIONS))]
    sync = pl.DataFrame({"_at": sync_t, "region_code": [REGIONS[r][0] for _ in range(24 * len(SYNC_MINUTES))
                                                        for r in range(len(REGIONS))]})
    sync_lines = render(sync, pl.col("_at"), _cache_line(
        "_at", pl.lit("info"), pl.lit("tax-sync"), "SET", key, pl.lit("ok"), size=pl.lit(RULES_BYTES), ttl=1800,
        elapsed=pl.lit(0.44), trace=None))
    return pl.concat([gets, sets, cart_lines, poison_lines, sync_lines])
