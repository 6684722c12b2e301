"""The shop's back-office logs: the payment gateway (ECS-style JSON lines
with nested fields, UTC) and the order-mail worker (Python ``logging`` text
in naive local time, with multi-line tracebacks).  Render frames as in
:mod:`forensics.simulate.engine.render`.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from ...engine.render import Ctx, iso_ms, render
from .faults import PAY_TIMEOUT_MS
from .plan import RNG_SALT, Plan
from .writers import cause_of, local

RELAY = "smtp-relay.internal:587"
TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/srv/notify/shop_notify/mailer.py", line 88, in send\n'
    "    smtp.starttls(context=self.tls)\n"
    '  File "/usr/lib/python3.11/smtplib.py", line 790, in starttls\n'
    "    self.sock = context.wrap_socket(self.sock,\n"
    '  File "/usr/lib/python3.11/ssl.py", line 517, in wrap_socket\n'
    "    return self.sslsocket_class._create(\n"
    "ssl.SSLCertVerificationError: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: "
    "certificate has expired (_ssl.c:1006)"
)
#: Retry interval of the mail worker after a failed send.
MAIL_RETRY_MS = 60_000
#: The worker probes the relay this often and logs only failures.
PROBE_MS = 20_000


def _strip_nulls(enc: pl.Expr) -> pl.Expr:
    return enc.str.replace_all(r',"[a-z_.]+":null', "").str.replace_all(r'"[a-z_.]+":null,', "")


def _ecs(at: str, level: pl.Expr, action: str, outcome: pl.Expr, status: pl.Expr, msg: pl.Expr,
         *, trace: pl.Expr | None, payment: bool = True) -> pl.Expr:
    fields = [
        iso_ms(at).alias("@timestamp"),
        pl.struct(level.alias("level"), pl.lit("gateway." + action).alias("logger")).alias("log"),
        pl.struct(pl.lit("payment-gateway").alias("name"), pl.lit("3.14.2").alias("version")).alias("service"),
    ]
    if trace is not None:
        fields.append(pl.struct(trace.alias("id")).alias("trace"))
    fields.append(pl.struct(pl.lit(action).alias("action"), outcome.alias("outcome"),
                            (pl.col("_dur") * 1_000_000).cast(pl.Int64).alias("duration")).alias("event"))
    fields.append(pl.struct(pl.struct(status.alias("status_code")).alias("response")).alias("http"))
    if payment:
        fields.append(pl.struct(pl.col("order").alias("order_id"), pl.col("_amount").alias("amount"),
                                pl.col("currency"), pl.lit("adyen").alias("psp")).alias("payment"))
    fields.append(msg.alias("message"))
    return _strip_nulls(pl.struct(fields).struct.json_encode())


def payments(ctx: Ctx, reqs: pl.DataFrame) -> pl.DataFrame:
    """``payments/gateway.jsonl``: one authorization line per payment (a
    warning then a 504 when the pricing check hangs), and settlement batches
    every 10 minutes."""
    plan: Plan = ctx.plan
    rng = np.random.default_rng(np.random.SeedSequence([ctx.seed, *RNG_SALT, 7]))
    cause, ep = cause_of(plan)
    pays = reqs.filter(pl.col("name") == "pay").with_columns(
        pl.Series("_amount", np.round(rng.uniform(19.0, 320.0, size=int((reqs["name"] == "pay").sum())), 2)),
    )
    kind = pl.col("kind")
    level = (pl.when(kind.is_in(["psp_502", "inc_pay"])).then(pl.lit("ERROR"))
             .when(kind == "declined").then(pl.lit("WARN")).otherwise(pl.lit("INFO")))
    status = (pl.when(kind == "psp_502").then(pl.lit(502)).when(kind == "inc_pay").then(pl.lit(504))
              .when(kind == "declined").then(pl.lit(402)).otherwise(pl.lit(200)))
    msg = (pl.when(kind == "psp_502").then(pl.lit("payment provider error: 502 Bad Gateway"))
           .when(kind == "inc_pay").then(pl.lit(f"authorization timed out after {PAY_TIMEOUT_MS} ms waiting for pricing verification"))
           .when(kind == "declined").then(pl.lit("authorization refused by issuer: insufficient funds"))
           .otherwise(pl.lit("authorization approved")))
    outcome = pl.when(kind == "ok").then(pl.lit("success")).otherwise(pl.lit("failure"))
    df = pays.with_columns((pl.col("end") - 8).alias("_at"), (pl.col("lat") - 10).alias("_dur"))
    main = render(df, pl.col("_at"), _ecs("_at", level, "authorize", outcome, status, msg, trace=pl.col("trace")),
                  err=status >= 500, cause=cause, ep=ep)
    waits = df.filter(kind == "inc_pay").with_columns((pl.col("t") + 1_000).alias("_at"), pl.lit(990.0).alias("_dur"))
    wait_lines = render(waits, pl.col("_at"), _ecs(
        "_at", pl.lit("WARN"), "authorize", pl.lit("unknown"), pl.lit(None, pl.Int64),
        pl.lit("amount verification pending: pricing has not answered"), trace=pl.col("trace")))
    st = np.arange(plan.day_start + 5 * 60_000 + 417, plan.day_start + 86_400_000, 10 * 60_000, dtype=np.int64)
    settle = pl.DataFrame({"_at": st, "_dur": np.full(st.size, 412.0)})
    settle_lines = render(settle, pl.col("_at"), _ecs(
        "_at", pl.lit("INFO"), "settle", pl.lit("success"), pl.lit(200), pl.lit("settlement batch uploaded"),
        trace=None, payment=False))
    return pl.concat([main, wait_lines, settle_lines])


def _py(at: str, level: str, thread: pl.Expr, msg: pl.Expr) -> pl.Expr:
    return pl.format("{} {} [{}] shop.notify.mailer - {}", local(at, "%Y-%m-%d %H:%M:%S,%3f"), pl.lit(level), thread, msg)


def mail(ctx: Ctx, reqs: pl.DataFrame) -> pl.DataFrame:
    """``mail/notifier.log``: the order-mail worker (naive Europe/Berlin
    time): a confirmation per placed order, failing with a traceback and
    retried every minute while the relay's certificate is expired, plus
    failed relay probes in that window.  No trace ids: it reads a queue."""
    plan: Plan = ctx.plan
    lo, hi = plan.mail
    orders = reqs.filter((pl.col("name") == "pay") & (pl.col("status") == 201)).with_columns(
        (pl.col("end") + 150).alias("_q"), (pl.col("end") + 1_200).alias("_s"),
        pl.format("notify-worker-{}", pl.col("pid") % 4 + 1).alias("_th"))
    queued = render(orders, pl.col("_q"), _py("_q", "INFO", pl.col("_th"), pl.format(
        "order confirmation queued order_id={} template=order_confirmation", pl.col("order"))))
    # Attempt k at send + k minutes; attempts inside the window fail.
    n_try = ((hi - lo) // MAIL_RETRY_MS) + 2
    tries = orders.select("order", "_s", "_th", "bytes").with_columns(pl.int_ranges(0, n_try).alias("k")).explode("k")
    tries = tries.with_columns((pl.col("_s") + pl.col("k") * MAIL_RETRY_MS).alias("_a"))
    failing = pl.col("_a").is_between(lo, hi)
    first_ok = tries.filter(~failing).group_by("order").agg(pl.col("k").min().alias("_ok"))
    tries = tries.join(first_ok, on="order").filter(pl.col("k") <= pl.col("_ok")).sort("_a", "order")
    ok = tries.filter(pl.col("k") == pl.col("_ok"))
    sent = render(ok, pl.col("_a"), pl.when(pl.col("bytes") % 100 == 0).then(
        _py("_a", "WARNING", pl.col("_th"), pl.format(
            "order confirmation bounced order_id={} relay={} reply=\"550 5.1.1 recipient address rejected\"", pl.col("order"), pl.lit(RELAY))))
        .otherwise(_py("_a", "INFO", pl.col("_th"), pl.format(
            "order confirmation sent order_id={} relay={} attempt={}", pl.col("order"), pl.lit(RELAY), (pl.col("k") + 1).cast(pl.String)))))
    bad = tries.filter(pl.col("k") < pl.col("_ok"))
    cont = TRACEBACK.count("\n") + 1
    failed = render(bad, pl.col("_a"), pl.concat_str([_py("_a", "ERROR", pl.col("_th"), pl.format(
        "order confirmation not sent order_id={} relay={} attempt={}", pl.col("order"), pl.lit(RELAY),
        (pl.col("k") + 1).cast(pl.String))), pl.lit("\n" + TRACEBACK)]), cont=cont, err=True, cause=pl.lit("mail"))
    pt = np.arange(plan.day_start + 7_300, plan.day_start + 86_400_000, PROBE_MS, dtype=np.int64)
    probes = pl.DataFrame({"_a": pt[(pt >= lo) & (pt < hi)]})
    probe_lines = render(probes, pl.col("_a"), pl.concat_str([_py("_a", "ERROR", pl.lit("relay-probe"), pl.lit(
        f"smtp relay health check failed relay={RELAY}")), pl.lit("\n" + TRACEBACK)]), cont=cont, err=True,
        cause=pl.lit("mail"))
    return pl.concat([queued, sent, failed, probe_lines])
