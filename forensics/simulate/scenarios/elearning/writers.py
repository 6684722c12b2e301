"""One writer per request-driven log format: the app's JSON lines, the nginx
access log, the JSON cache access log and the auth service's logback text.

Every writer takes a :class:`~forensics.simulate.engine.render.Ctx` and the
part's requests and returns a render frame (see
:mod:`forensics.simulate.engine.render`); ``cause`` is ``incident``,
``deploy``, ``background`` or null.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from ...engine.render import Ctx, hex_ids, iso_ms, render
from .faults import AUTH_DELAY_S, INCIDENT_KINDS
from .plan import RESET_DELAY, Plan
from .vocab import CONTENT_READERS, INVALIDATORS

HOST = "https://learn.example.edu"
AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:119.0) Gecko/20100101 Firefox/119.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Mobile Safari/537.36",
    "ELearnApp/4.2.1 (Android 13; SM-A536B)",
)


def clf(col: str = "t") -> pl.Expr:
    return pl.from_epoch(pl.col(col), time_unit="ms").dt.strftime("%d/%b/%Y:%H:%M:%S +0000")


def logback(col: str = "t") -> pl.Expr:
    return pl.from_epoch(pl.col(col), time_unit="ms").dt.strftime("%Y-%m-%d %H:%M:%S,%3f")


def cause_of(plan: Plan | None) -> tuple[pl.Expr, pl.Expr]:
    """``cause`` and ``ep`` expressions from a request's fault kind."""
    kind = pl.col("kind")
    cause = (
        pl.when(kind.is_in(INCIDENT_KINDS)).then(pl.lit("incident"))
        .when(kind == "deploy_502").then(pl.lit("deploy"))
        .when(kind.is_in(["ok", "slow_db"])).then(pl.lit(None, pl.String))
        .otherwise(pl.lit("background"))
    )
    if plan is None:
        return cause, pl.lit(None, pl.Int8)
    ep = pl.when(kind.is_in(INCIDENT_KINDS)).then(pl.when(pl.col("t") >= plan.t_b).then(2).otherwise(1))
    return cause, ep


def _json(fields: dict[str, pl.Expr]) -> pl.Expr:
    """JSON object text with null members left out."""
    enc = pl.struct([e.alias(k) for k, e in fields.items()]).struct.json_encode()
    return enc.str.replace_all(r',"[a-z_]+":null', "")


# --------------------------------------------------------------------- app

def app(ctx: Ctx, reqs: pl.DataFrame) -> pl.DataFrame:
    """``app/app.jsonl``: one JSON line per request the app served (not the
    proxy's 502s), logged when the response is sent, plus lines without a
    user (deploys, reconnects)."""
    plan = ctx.plan
    cause, ep = cause_of(plan)
    served = reqs.filter(pl.col("kind") != "deploy_502")
    line = _json({
        "timestamp": iso_ms("end"), "level": pl.col("level"), "service": pl.lit("web"), "user_id": pl.col("uid"),
        "session_id": pl.col("sid"), "request_id": pl.col("rid"), "event": pl.col("name"), "course_id": pl.col("cid"),
        "status": pl.col("status"), "latency_ms": pl.col("lat"), "msg": pl.col("msg"),
    })
    main = render(served, pl.col("end"), line, err=pl.col("level") == "error", cause=cause, ep=ep, svc="web")
    infra = app_infra(plan).filter(pl.col("t").is_between(*ctx.window, closed="left"))
    if infra.height == 0:
        return main
    extra = render(
        infra,
        pl.col("t"),
        _json({"timestamp": iso_ms("t"), "level": pl.col("level"), "service": pl.lit("web"), "event": pl.col("event"),
               "msg": pl.col("msg")}),
        err=pl.col("level") == "error",
        cause=pl.col("cause"),
        svc="web",
    )
    return pl.concat([main, extra])


def app_infra(plan: Plan | None) -> pl.DataFrame:
    """Lines the app writes without a user: the bad deploy and its rollback,
    the reconnect after the 16:20 database restart, the 18:30 hotfix."""
    rows: list[tuple[int, str, str, str, str | None]] = []
    if plan is not None:
        d0, d1 = plan.deploy
        rows.append((d0 - 1_800, "info", "shutdown", "received SIGTERM; draining workers for release 2023.11.02-2", "deploy"))
        for k, t in enumerate(range(d0 + 3_000, d1 - 10_000, 21_000)):
            rows.append((t + 37 * k, "error", "startup",
                         "worker failed to boot: ImportError: cannot import name 'LocaleMiddleware' from 'elearn.i18n'", "deploy"))
        rows.append((d1 + 900, "info", "startup", "web worker started (release 2023.11.02-1, rollback)", "deploy"))
        rows.append((plan.end_1 + 5_300, "info", "db_pool", "database connection pool re-established (12 connections)", None))
        rows.append((plan.end_2 - 2_000, "info", "shutdown", "received SIGTERM; draining workers for release 2023.11.02-3", None))
        rows.append((plan.end_2 + 1_100, "info", "startup",
                     "web worker started (release 2023.11.02-3, hotfix: validate course content payload before caching)", None))
    return pl.DataFrame(rows, schema={"t": pl.Int64, "level": pl.String, "event": pl.String, "msg": pl.String,
                                      "cause": pl.String}, orient="row")


# ------------------------------------------------------------------- nginx

def _access(df: pl.DataFrame, *, ip: pl.Expr, method: pl.Expr, path: pl.Expr, status: pl.Expr, size: pl.Expr,
            referer: pl.Expr, agent: pl.Expr, rt: pl.Expr, rid: pl.Expr, t: str) -> pl.Expr:
    return pl.format(
        '{} - - [{}] "{} {} HTTP/1.1" {} {} "{}" "{}" rt={} rid={}',
        ip, clf(t), method, path, status, size, referer, agent, rt, rid,
    )


def nginx(ctx: Ctx, reqs: pl.DataFrame) -> pl.DataFrame:
    """``nginx/access.log``: every request (same request id as the app), plus
    static assets at session start, health checks every 30 s, and the deploy's
    502s."""
    plan, day_start = ctx.plan, ctx.day_start
    rng = ctx.rng(1, daily=False)
    salt = (ctx.seed * 1000 + ctx.day) * 1000 + ctx.part
    cause, ep = cause_of(plan)
    u = pl.col("user")
    ip = pl.format("10.{}.{}.{}", (u // 65536 % 64 + 64).cast(pl.String), (u // 256 % 256).cast(pl.String),
                   (u % 256).cast(pl.String))
    agent = pl.lit(pl.Series(AGENTS)).gather(u % len(AGENTS))
    rt = (pl.col("lat") / 1000.0).round(3).cast(pl.String).str.replace(r"^(\d+\.\d)$", "${1}00").str.replace(r"^(\d+\.\d\d)$", "${1}0")
    size = pl.when(pl.col("status") >= 500).then(pl.lit(157)).otherwise(pl.col("bytes")).cast(pl.String)
    referer = pl.when(pl.col("cid").is_not_null()).then(pl.format(HOST + "/courses/{}", pl.col("cid"))).otherwise(pl.lit(HOST + "/"))
    main = render(
        reqs, pl.col("end"),
        _access(reqs, ip=ip, method=pl.col("method"), path=pl.col("path"), status=pl.col("status").cast(pl.String),
                size=size, referer=referer, agent=agent, rt=rt, rid=pl.col("rid"), t="end"),
        err=pl.col("status") >= 500, cause=cause, ep=ep,
    )
    # Static assets when a session starts (served by nginx itself, own request ids).
    first = reqs.filter(pl.col("step") == 0, ~pl.col("retry")).select("user", "t", "sess")
    assets = ("/static/js/app.4f2a9c1e.js", "/static/css/main.9b1d77aa.css")
    parts = []
    for k, asset in enumerate(assets):
        st = first.with_columns((pl.col("t") - 700 + 150 * k).alias("ts"), pl.lit(asset).alias("p"),
                                pl.Series("s", np.where(rng.random(first.height) < 0.6, 304, 200)).cast(pl.Int32))
        parts.append(st)
    fav = first.filter(pl.Series(rng.random(first.height) < 0.02)).with_columns(
        (pl.col("t") - 300).alias("ts"), pl.lit("/favicon.ico").alias("p"), pl.lit(404, pl.Int32).alias("s"))
    static = pl.concat(parts + [fav])
    static = static.with_columns(hex_ids(np.arange(static.height) + salt * 1_000_003, 99, name="srid"))
    static_lines = render(
        static, pl.col("ts"),
        _access(static, ip=ip, method=pl.lit("GET"), path=pl.col("p"), status=pl.col("s").cast(pl.String),
                size=pl.when(pl.col("s") == 200).then(pl.lit("48213")).otherwise(pl.lit("0")),
                referer=pl.lit(HOST + "/"), agent=agent, rt=pl.lit("0.000"), rid=pl.col("srid"), t="ts"),
    )
    # Health checks from the load balancer.
    ht = np.arange(day_start + 7_000, day_start + 86_400_000, 30_000, dtype=np.int64)
    ht = ht[(ht >= ctx.window[0]) & (ht < ctx.window[1])]
    health = pl.DataFrame({"ts": ht}).with_columns(hex_ids(ht.astype(np.uint64), ctx.seed + 5, name="hrid"))
    if plan is not None:
        d0, d1 = plan.deploy
        bad = pl.col("ts").is_between(d0, d1)
    else:
        bad = pl.lit(False)
    health_lines = render(
        health, pl.col("ts"),
        pl.format('10.0.0.2 - - [{}] "GET /healthz HTTP/1.1" {} {} "-" "kube-probe/1.27" rt={} rid={}', clf("ts"),
                  pl.when(bad).then(pl.lit("502")).otherwise(pl.lit("200")),
                  pl.when(bad).then(pl.lit("157")).otherwise(pl.lit("2")),
                  pl.when(bad).then(pl.lit("0.001")).otherwise(pl.lit("0.002")), pl.col("hrid")),
        err=bad, cause=pl.when(bad).then(pl.lit("deploy")),
    )
    return pl.concat([main, static_lines, health_lines])


# ------------------------------------------------------------------- cache

def cache(ctx: Ctx, reqs: pl.DataFrame) -> pl.DataFrame:
    """``cache/cache.jsonl``: the cache clients' access log (epoch-ms ``ts``)."""
    plan = ctx.plan
    cause, ep = cause_of(plan)
    served = reqs.filter(pl.col("kind") != "deploy_502")
    kind, name = pl.col("kind"), pl.col("name")
    ckey = pl.format("course:{}:content", pl.col("cid"))
    cerr = kind.is_in(["inc_slow", "inc_content", "cache_timeout"])
    ops: list[pl.DataFrame] = []

    def add(df: pl.DataFrame, dt: pl.Expr, svc: str, op: str, key: pl.Expr, result: pl.Expr, *,
            msg: pl.Expr | None = None, ttl: pl.Expr | None = None, size: pl.Expr | None = None,
            lat: pl.Expr | None = None) -> None:
        is_err = result == "error"
        ops.append(df.select(
            (pl.col("t") + dt).alias("ts"),
            pl.when(is_err).then(pl.lit("error")).otherwise(pl.lit("info")).alias("level"),
            pl.lit(svc).alias("svc"), pl.lit(op).alias("op"), key.alias("key"), result.alias("result"),
            pl.col("rid"),
            pl.coalesce(lat if lat is not None else pl.lit(None, pl.Float64), (pl.col("lat") % 1.7 + 0.2).round(2))
            .cast(pl.Float64).alias("latency_ms"),
            (ttl if ttl is not None else pl.lit(None)).cast(pl.Int32).alias("ttl_s"),
            (size if size is not None else pl.lit(None)).cast(pl.Int32).alias("bytes"),
            (msg if msg is not None else pl.lit(None)).cast(pl.String).alias("msg"),
            is_err.alias("_err"),
            pl.when(is_err).then(cause).alias("_cause"), pl.when(is_err).then(ep).alias("_ep"),
        ))

    readers = served.filter(name.is_in(CONTENT_READERS))
    get_result = pl.when(cerr).then(pl.lit("error")).when(pl.col("hit")).then(pl.lit("hit")).otherwise(pl.lit("miss"))
    get_msg = (pl.when(kind == "cache_timeout").then(pl.lit("timeout after 250 ms"))
               .when(cerr).then(pl.lit("payload decode failed: unexpected end of data")))
    add(readers, pl.lit(2), "content-cache", "GET", ckey, get_result, msg=get_msg,
        lat=pl.when(kind == "cache_timeout").then(pl.lit(250.0)))
    refill = readers.filter(~pl.col("hit") & ~cerr & ~kind.is_in(["inc_auth"]))
    add(refill, (pl.col("lat") - 3).cast(pl.Int64), "content-cache", "SET", ckey, pl.lit("ok"), ttl=pl.lit(3600),
        size=pl.col("bytes") + 40_000)
    # A quiz submission refreshes the course content entry (it embeds quiz
    # statistics), and so does the trigger's last step (whatever action a
    # drawn story ends with): the trigger's refresh writes a truncated payload.
    quiz = served.filter(((name == "submit_quiz") | pl.col("trigger_done")) & ~kind.is_in(list(INCIDENT_KINDS)))
    add(quiz, (pl.col("lat") - 2).cast(pl.Int64), "content-cache", "SET", ckey, pl.lit("ok"), ttl=pl.lit(3600),
        size=pl.when(pl.col("trigger_done")).then(pl.lit(17)).otherwise(pl.col("bytes") + 40_000))
    add(served.filter(name.is_in(INVALIDATORS)), pl.lit(5), "content-cache", "DEL", ckey, pl.lit("ok"))
    add(served.filter(name == "browse_courses"), pl.lit(2), "content-cache", "GET",
        pl.format("catalog:page:{}", (pl.col("item") % 3 + 1)), pl.lit("hit"))
    auth_err = pl.when(kind == "inc_auth").then(pl.lit("error")).otherwise(pl.lit("ok"))
    auth_msg = pl.when(kind == "inc_auth").then(pl.lit("timeout after 2000 ms"))
    auth_lat = pl.when(kind == "inc_auth").then(pl.lit(2000.0))
    add(served.filter((name == "login") & (kind != "auth_badpw")), pl.lit(4), "session-cache", "SET",
        pl.format("session:{}", pl.col("sid")), auth_err, msg=auth_msg, ttl=pl.lit(86400), lat=auth_lat)
    tok = served.filter(pl.col("token") & (name != "login"))
    add(tok, pl.lit(1), "session-cache", "GET", pl.format("token:{}", pl.col("uid")),
        pl.when(kind == "inc_auth").then(pl.lit("error")).otherwise(pl.lit("hit")), msg=auth_msg, lat=auth_lat)
    add(served.filter(name == "logout"), pl.lit(3), "session-cache", "DEL", pl.format("session:{}", pl.col("sid")), pl.lit("ok"))
    add(served.filter(name.is_in(["switch_language", "update_preferences"])), pl.lit(6), "session-cache", "SET",
        pl.format("prefs:{}", pl.col("uid")), pl.lit("ok"), ttl=pl.lit(2592000))
    frame = pl.concat(ops)
    if plan is not None:
        ops_rows = pl.DataFrame({
            "ts": [plan.end_1 + RESET_DELAY[0], plan.end_2 + RESET_DELAY[1]], "level": ["info", "info"],
            "svc": ["content-cache", "content-cache"], "op": ["FLUSHDB", "DEL"], "key": [None, plan.story.resource],
            "result": ["ok", "ok"], "rid": ["ops-runbook-restart", "deploy-hook-2023.11.02-3"],
            "latency_ms": [3.1, 0.3], "ttl_s": [None, None], "bytes": [None, None], "msg": [None, None],
            "_err": [False, False], "_cause": [None, None], "_ep": [None, None],
        }, schema=frame.schema)
        frame = pl.concat([frame, ops_rows.filter(pl.col("ts").is_between(*ctx.window, closed="left"))])
    line = _json({c: pl.col(c) for c in ("ts", "level", "svc", "op", "key", "result", "rid", "latency_ms", "ttl_s", "bytes", "msg")})
    return render(frame, pl.col("ts"), line, err=pl.col("_err"), cause=pl.col("_cause"), ep=pl.col("_ep"), svc=pl.col("svc"))


# -------------------------------------------------------------------- auth

_TRACES = {
    "inc_auth": (
        "java.lang.IllegalStateException: token store unavailable\n"
        "\tat com.elearn.auth.TokenService.refresh(TokenService.java:142)\n"
        "\tat com.elearn.auth.TokenController.refresh(TokenController.java:57)\n"
        "\tat java.base/jdk.internal.reflect.DirectMethodHandleAccessor.invoke(DirectMethodHandleAccessor.java:103)\n"
        "\tat org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:885)\n"
        "Caused by: io.lettuce.core.RedisCommandTimeoutException: Command timed out after 2 second(s)\n"
        "\tat io.lettuce.core.internal.ExceptionFactory.createTimeoutException(ExceptionFactory.java:59)\n"
        "\tat io.lettuce.core.internal.Futures.awaitOrCancel(Futures.java:246)\n"
        "\tat io.lettuce.core.FutureSyncInvocationHandler.handleInvocation(FutureSyncInvocationHandler.java:75)\n"
        "\t... 12 more"
    ),
    "inc_login": (
        "java.lang.IllegalStateException: session store unavailable\n"
        "\tat com.elearn.auth.SessionStore.create(SessionStore.java:88)\n"
        "\tat com.elearn.auth.LoginController.login(LoginController.java:64)\n"
        "Caused by: io.lettuce.core.RedisCommandTimeoutException: Command timed out after 2 second(s)\n"
        "\tat io.lettuce.core.internal.ExceptionFactory.createTimeoutException(ExceptionFactory.java:59)\n"
        "\t... 9 more"
    ),
    "health": (
        "io.lettuce.core.RedisCommandTimeoutException: Command timed out after 2 second(s)\n"
        "\tat io.lettuce.core.internal.ExceptionFactory.createTimeoutException(ExceptionFactory.java:59)\n"
        "\tat com.elearn.auth.TokenStoreHealthIndicator.health(TokenStoreHealthIndicator.java:31)"
    ),
    "auth_jwt": (
        "io.jsonwebtoken.security.SignatureException: JWT signature does not match locally computed signature.\n"
        "\tat io.jsonwebtoken.impl.DefaultJwtParser.parse(DefaultJwtParser.java:411)\n"
        "\tat com.elearn.auth.JwtAuthFilter.doFilterInternal(JwtAuthFilter.java:48)\n"
        "\tat org.springframework.web.filter.OncePerRequestFilter.doFilter(OncePerRequestFilter.java:116)"
    ),
}


def auth(ctx: Ctx, reqs: pl.DataFrame) -> pl.DataFrame:
    """``auth/auth.log``: logback text; errors carry Java stack traces."""
    cause, ep = cause_of(ctx.plan)
    served = reqs.filter(pl.col("kind") != "deploy_502")
    kind, name = pl.col("kind"), pl.col("name")
    rel = (name == "login") | pl.col("token") | (kind == "auth_jwt")
    df = served.filter(rel)
    inc_login = (kind == "inc_auth") & (name == "login")
    level = (pl.when(kind.is_in(["inc_auth", "auth_jwt"])).then(pl.lit("ERROR"))
             .when(kind == "auth_badpw").then(pl.lit("WARN ")).otherwise(pl.lit("INFO ")))
    logger = (pl.when(kind == "auth_jwt").then(pl.lit("c.e.auth.JwtAuthFilter"))
              .when(name == "login").then(pl.lit("c.e.auth.LoginController")).otherwise(pl.lit("c.e.auth.TokenService")))
    msg = (pl.when(kind == "auth_jwt").then(pl.lit("token validation failed"))
           .when(inc_login).then(pl.lit("login failed: session store unavailable"))
           .when(kind == "inc_auth").then(pl.lit("token refresh failed"))
           .when(kind == "auth_badpw").then(pl.lit("login failed: invalid credentials"))
           .when(name == "login").then(pl.lit("login succeeded"))
           .otherwise(pl.lit("token refreshed")))
    trace = (pl.when(kind == "auth_jwt").then(pl.lit(_TRACES["auth_jwt"]))
             .when(inc_login).then(pl.lit(_TRACES["inc_login"]))
             .when(kind == "inc_auth").then(pl.lit(_TRACES["inc_auth"])))
    at = pl.col("t") + pl.when(kind == "inc_auth").then(pl.lit(2003)).otherwise(pl.lit(3))
    head = pl.format("{} {} [http-nio-8080-exec-{}] {} - {} user={} session={} rid={}",
                     logback("_at"), level, pl.col("thread"), logger, msg, pl.col("uid"), pl.col("sid"), pl.col("rid"))
    df = df.with_columns(at.alias("_at"))
    text = pl.when(trace.is_not_null()).then(pl.concat_str([head, pl.lit("\n"), trace])).otherwise(head)
    cont = pl.when(trace.is_not_null()).then(trace.str.count_matches("\n") + 1).otherwise(0)
    main = render(df, pl.col("_at"), text, cont=cont, err=kind.is_in(["inc_auth", "auth_jwt"]), cause=cause, ep=ep)
    if ctx.plan is None:
        return main
    # The token store's health check runs every 15 s and logs only failures.
    rows = [(t, n) for n, (start, end) in enumerate(ctx.plan.episodes, start=1)
            for t in range(start + int(AUTH_DELAY_S * 1000) + 2_003, end, 15_000)]
    health = pl.DataFrame(rows, schema={"_at": pl.Int64, "ep": pl.Int8}, orient="row").filter(
        pl.col("_at").is_between(*ctx.window, closed="left"))
    trace = _TRACES["health"]
    text = pl.format("{} ERROR [scheduling-1] c.e.auth.TokenStoreHealthIndicator - token store health check failed\n{}",
                     logback("_at"), pl.lit(trace))
    checks = render(health, pl.col("_at"), text, cont=trace.count("\n") + 1, err=True, cause=pl.lit("incident"),
                    ep=pl.col("ep"))
    return pl.concat([main, checks])
