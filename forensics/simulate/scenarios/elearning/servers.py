"""Writers for the two server logs: PostgreSQL (stderr, ``%m [%p] ``) and
Redis.  Both mix request-linked lines with the server's own housekeeping.
Render frames as in :mod:`forensics.simulate.engine.render`.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from .faults import AUTH_DELAY_S
from .plan import Plan
from .vocab import CONTENT_READERS, SQL
from ...engine.render import Ctx, empty, render
from .writers import cause_of

_CONSTRAINT = {
    "submit_assignment": ("submissions_assignment_id_user_id_key", "Key (assignment_id, user_id)=({x}, {u}) already exists."),
    "post_forum": ("forum_posts_client_token_key", "Key (client_token)=(ft-{c}-{x}-{u}) already exists."),
    "submit_quiz": ("quiz_attempts_quiz_id_user_id_key", "Key (quiz_id, user_id)=({x}, {u}) already exists."),
    "grade_submission": ("grades_submission_id_key", "Key (submission_id)=({x}) already exists."),
    "upload_material": ("materials_course_id_name_key", "Key (course_id, name)=({c}, week-{x}.pdf) already exists."),
}


def pg_ts(col: str) -> pl.Expr:
    return pl.from_epoch(pl.col(col), time_unit="ms").dt.strftime("%Y-%m-%d %H:%M:%S%.3f UTC")


def _fill(template: pl.Expr) -> pl.Expr:
    return (
        template.str.replace_all("{c}", pl.col("cid").cast(pl.String).fill_null("0"), literal=True)
        .str.replace_all("{x}", pl.col("item").cast(pl.String), literal=True)
        .str.replace_all("{u}", pl.col("uid"), literal=True)
    )


def _sql() -> pl.Expr:
    per_action = {a: SQL[a] for a in SQL if a != "content"}
    tmpl = pl.when(pl.col("name").is_in(list(CONTENT_READERS)) & ~pl.col("name").is_in(list(per_action))).then(
        pl.lit(SQL["content"])).otherwise(pl.col("name").replace_strict(per_action, default=SQL["content"]))
    return pl.concat_str([_fill(tmpl), pl.lit(" /*application='web',request_id='"), pl.col("rid"), pl.lit("'*/")])


def postgres(ctx: Ctx, reqs: pl.DataFrame) -> pl.DataFrame:
    """``db/postgresql.log``: slow statements, timeouts with their STATEMENT,
    unique violations with DETAIL and STATEMENT, checkpoints, and the 16:20
    restart."""
    plan = ctx.plan
    cause, ep = cause_of(plan)
    kind = pl.col("kind")
    prefix = pl.format("{} [{}] ", pg_ts("_at"), pl.col("pid"))
    parts: list[pl.DataFrame] = []
    slow = reqs.filter(kind.is_in(["slow_db", "inc_slow"])).with_columns((pl.col("t") + 5 + pl.col("db_ms").cast(pl.Int64)).alias("_at"))
    parts.append(render(slow, pl.col("_at"), pl.format("{}LOG:  duration: {} ms  statement: {}", prefix,
                                                        pl.col("db_ms").round(3).cast(pl.String), _sql())))
    timeout = reqs.filter(kind == "inc_content")
    for dt in (3_005, 6_008):
        tt = timeout.with_columns((pl.col("t") + dt).alias("_at"))
        text = pl.format("{}ERROR:  canceling statement due to statement timeout\n{}STATEMENT:  {}", prefix, prefix, _sql())
        parts.append(render(tt, pl.col("_at"), text, cont=1, err=True, cause=cause, ep=ep))
    dup = reqs.filter(kind == "db_conflict").with_columns((pl.col("t") + 15).alias("_at"))
    cname = pl.col("name").replace_strict({a: v[0] for a, v in _CONSTRAINT.items()}, default=_CONSTRAINT["post_forum"][0])
    detail = _fill(pl.col("name").replace_strict({a: v[1] for a, v in _CONSTRAINT.items()}, default=_CONSTRAINT["post_forum"][1]))
    text = pl.format('{}ERROR:  duplicate key value violates unique constraint "{}"\n{}DETAIL:  {}\n{}STATEMENT:  {}',
                     prefix, cname, prefix, detail, prefix, _sql())
    parts.append(render(dup, pl.col("_at"), text, cont=2, err=True, cause=cause, ep=ep))
    parts.append(ctx.keep(_pg_housekeeping(ctx.rng(4, daily=True), plan, ctx.day_start)))
    return pl.concat(parts)


def _pg_housekeeping(rng: np.random.Generator, plan: Plan | None, day_start: int) -> pl.DataFrame:
    rows: list[tuple[int, str, bool, str | None]] = []
    starts = np.arange(day_start + 91_000, day_start + 86_400_000, 300_000)
    for k, t in enumerate(starts):
        t = int(t + rng.integers(0, 400))
        buf = int(rng.integers(300, 4200))
        write = float(rng.uniform(20.0, 240.0))
        rows.append((t, "[61] LOG:  checkpoint starting: time", False, None))
        rows.append((t + int(write * 1000) + 40,
                     f"[61] LOG:  checkpoint complete: wrote {buf} buffers ({buf / 163.84:.1f}%); 0 WAL file(s) added, "
                     f"0 removed, {1 + k % 3} recycled; write={write:.3f} s, sync=0.0{k % 9 + 1}1 s, total={write + 0.05:.3f} s; "
                     f"sync files={buf // 90 + 3}, longest=0.004 s, average=0.001 s; distance={buf * 9} kB, estimate={buf * 9 + 812} kB",
                     False, None))
    for t in np.sort(rng.integers(day_start, day_start + 86_400_000, size=8)):
        rows.append((int(t), f"[{int(rng.integers(2000, 32000))}] LOG:  could not receive data from client: Connection reset by peer",
                     False, None))
    if plan is not None:
        r = plan.end_1
        for dt, text, err in (
            (112, "[1] LOG:  received fast shutdown request", False),
            (113, "[1] LOG:  aborting any active transactions", False),
            (118, "[8812] FATAL:  terminating connection due to administrator command", True),
            (118, "[9105] FATAL:  terminating connection due to administrator command", True),
            (131, '[1] LOG:  background worker "logical replication launcher" (PID 70) exited with exit code 1', False),
            (140, "[64] LOG:  shutting down", False),
            (402, "[64] LOG:  checkpoint starting: shutdown immediate", False),
            (967, "[64] LOG:  checkpoint complete: wrote 3021 buffers (18.4%); 0 WAL file(s) added, 0 removed, 0 recycled; "
                  "write=0.498 s, sync=0.041 s, total=0.565 s; sync files=61, longest=0.009 s, average=0.001 s; "
                  "distance=27187 kB, estimate=27187 kB", False),
            (1012, "[1] LOG:  database system is shut down", False),
            (3501, "[1] LOG:  starting PostgreSQL 15.4 (Debian 15.4-2.pgdg120+1) on x86_64-pc-linux-gnu, compiled by gcc "
                   "(Debian 12.2.0-14) 12.2.0, 64-bit", False),
            (3502, '[1] LOG:  listening on IPv4 address "0.0.0.0", port 5432', False),
            (3510, '[1] LOG:  listening on Unix socket "/var/run/postgresql/.s.PGSQL.5432"', False),
            (3520, "[12] LOG:  database system was shut down at 2023-11-02 16:20:01 UTC", False),
            (3531, "[1] LOG:  database system is ready to accept connections", False),
        ):
            rows.append((r + dt, text, err, "restart" if err else None))
    df = pl.DataFrame(rows, schema={"_at": pl.Int64, "body": pl.String, "e": pl.Boolean, "c": pl.String}, orient="row")
    return render(df, pl.col("_at"), pl.format("{} {}", pg_ts("_at"), pl.col("body")), err=pl.col("e"), cause=pl.col("c"))


def redis_ts(col: str) -> pl.Expr:
    return pl.from_epoch(pl.col(col), time_unit="ms").dt.strftime("%d %b %Y %H:%M:%S%.3f")


def redis(ctx: Ctx, reqs: pl.DataFrame) -> pl.DataFrame:
    """``cache/redis.log``: background saves every five minutes, and client
    eviction warnings while the token store is overloaded."""
    rng, plan, day_start, day_index = ctx.rng(3, daily=True), ctx.plan, ctx.day_start, ctx.day
    rows: list[tuple[int, str, str | None, int | None]] = []
    child = 20_000 + 3_000 * day_index
    for t in np.arange(day_start + 37_000, day_start + 86_400_000, 300_000):
        t = int(t + rng.integers(0, 900))
        child += int(rng.integers(1, 40))
        changes = int(rng.integers(100, 9000))
        mb = int(rng.integers(1, 6))
        rows += [
            (t, f"1:M {{ts}} * {changes} changes in 300 seconds. Saving...", None, None),
            (t + 1, f"1:M {{ts}} * Background saving started by pid {child}", None, None),
            (t + 98, f"{child}:C {{ts}} * DB saved on disk", None, None),
            (t + 99, f"{child}:C {{ts}} * Fork CoW for RDB: current {mb} MB, peak {mb} MB, average {max(1, mb - 1)} MB", None, None),
            (t + 190, "1:M {ts} * Background saving terminated with success", None, None),
        ]
    if plan is not None:
        for n_ep, (start, end) in enumerate(plan.episodes, start=1):
            t = start + int(AUTH_DELAY_S * 1000) - 6_000
            while t < end:
                cid = int(rng.integers(40_000, 90_000))
                port = int(rng.integers(32_768, 60_999))
                rows.append((t, f"1:M {{ts}} # Client id={cid} addr=10.0.2.31:{port} laddr=10.0.1.5:6379 fd={cid % 900 + 20} "
                                f"name=auth-svc age=2 idle=0 flags=N db=1 cmd=get user=default omem=16777216 "
                                f"scheduled to be closed ASAP for overcoming of output buffer limits.", "incident", n_ep))
                t += int(rng.integers(15_000, 45_000))
    df = pl.DataFrame(rows, schema={"_at": pl.Int64, "body": pl.String, "c": pl.String, "e": pl.Int8}, orient="row")
    if df.height == 0:
        return empty()
    text = pl.col("body").str.replace("{ts}", redis_ts("_at"), literal=True)
    return ctx.keep(render(df, pl.col("_at"), text, cause=pl.col("c"), ep=pl.col("e")))
