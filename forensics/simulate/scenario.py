"""The incident day: scripted sessions (the two triggers and the decoys), the
fault model (what fails, when and how), background noise, retries after
errors, and the repair that keeps the rare sequences rare.

The fault model, per request of the last day (``t`` = request start):

* a read of the popular course's content key ``K`` after a trigger completes
  (until 16:20:00 for the first episode, 18:30:00 for the second) fails in
  the cache; in the first ``SLOW_S`` seconds the database fallback is only
  slow (``inc_slow``), after that it times out (``inc_content``);
* from ``AUTH_DELAY_S`` after a trigger, a token refresh or login fails
  (``inc_auth``) for the users whose token lives on the overloaded cache
  node (``TOKEN_SHARD_SHARE`` of them);
* a bad deploy makes the proxy answer 502 for a few morning minutes
  (``deploy_502``); background faults happen at small rates all day.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from .model import DAY_MS, Population
from .vocab import (
    CODE, COINCIDENCE, CONTENT_READERS, DB_WRITERS, INVALIDATORS, RARE_HARMLESS, TRIGGER,
)

P = 0  # course code of the popular course whose content entry gets poisoned
SLOW_S = 25.0
AUTH_DELAY_S = 85.0
#: Share of users whose token lives on the cache node that holds ``K``: their
#: token refreshes and logins fail while the node evicts clients.
TOKEN_SHARD_SHARE = 0.07
H = 3_600_000
M = 60_000

#: Background fault rates: kind -> (probability, eligible actions or None for all).
TRICKLE: dict[str, tuple[float, tuple[str, ...] | None]] = {
    "app_500": (0.0015, None),
    "app_422": (0.006, ("submit_assignment", "post_forum", "update_preferences", "upload_material")),
    "db_conflict": (0.008, DB_WRITERS),
    "cache_timeout": (0.0012, CONTENT_READERS),
    "auth_badpw": (0.03, ("login",)),
    "auth_jwt": (0.0008, None),
    "slow_db": (0.004, CONTENT_READERS + DB_WRITERS),
}
#: Kinds whose user sees an error page (and may retry).
USER_FAILURES = ("app_500", "db_conflict", "auth_badpw", "auth_jwt", "deploy_502", "inc_content", "inc_auth")
AUTH_FAILURES = ("auth_badpw", "auth_jwt", "inc_auth")
INCIDENT_KINDS = ("inc_slow", "inc_content", "inc_auth")


@dataclass(frozen=True)
class Plan:
    """Times (epoch ms) and actors of the incident day."""

    day_start: int
    t_a: int
    t_b: int
    end_1: int
    end_2: int
    deploy: tuple[int, int]
    trigger_users: tuple[int, int]
    rare_users: tuple[int, ...]
    rare_times: tuple[int, ...]
    coincidence_user: int
    coincidence_time: int
    k_id: int
    common_users: tuple[int, int]
    common_times: tuple[int, int]

    @property
    def episodes(self) -> tuple[tuple[int, int], tuple[int, int]]:
        return ((self.t_a, self.end_1), (self.t_b, self.end_2))


def make_plan(rng: np.random.Generator, pop: Population, day_start: int) -> Plan:
    """Draw the incident day's times and actors (seconds of jitter around the
    postmortem's timeline)."""
    t_a = day_start + 16 * H + 14 * M + int(rng.integers(40_000, 56_000))
    t_b = day_start + 16 * H + 44 * M + int(rng.integers(35_000, 58_000))
    d0 = day_start + int(rng.integers(9 * 60, 11 * 60)) * M + int(rng.integers(0, 60_000))
    deploy = (d0, d0 + int(rng.integers(130_000, 175_000)))
    students = np.flatnonzero(~pop.instructor)
    actors = rng.choice(students, size=9, replace=False)
    # Rare harmless sequence: far from the deploy and outside the incident
    # (40 minutes before the first trigger to 20 minutes after the fix).
    cand = day_start + rng.integers(7 * H, 23 * H, size=200)
    incident = (cand > t_a - 40 * M) & (cand < day_start + 18 * H + 50 * M)
    cand = cand[~incident & (np.abs(cand - d0) > 40 * M)]
    rare = np.sort(cand[:4])
    coincidence = t_a - int(rng.integers(100_000, 200_000))
    return Plan(
        day_start=day_start, t_a=t_a, t_b=t_b,
        end_1=day_start + 16 * H + 20 * M, end_2=day_start + 18 * H + 30 * M, deploy=deploy,
        trigger_users=(int(actors[0]), int(actors[1])), rare_users=tuple(int(u) for u in actors[2:6]),
        rare_times=tuple(int(t) for t in rare), coincidence_user=int(actors[6]), coincidence_time=coincidence,
        k_id=int(pop.course_ids[P]),
        common_users=(int(actors[7]), int(actors[8])), common_times=(t_a + 150_000, t_b + 700_000),
    )

#: When the poisoned entry is removed: the 16:20 flush and the 18:30 delete
#: (offsets from the end of each fault window, ms).
RESET_DELAY = (400, 1_600)


# ------------------------------------------------------------ scripted sessions

def _script(rng: np.random.Generator, plan: Plan, pop: Population) -> list[tuple[str, int, list[tuple[str, int, int]]]]:
    """(role, user, [(action, course code, offset ms from completion)]) per scripted session."""
    other = int(rng.integers(1, 40))
    # The two trigger sessions share nothing but the trigger: no action of
    # one's prefix (or suffix) appears in the other's, so no longer pattern
    # is as well supported as the trigger itself.
    out = [
        ("trigger", plan.trigger_users[0], [
            ("login", -1, -330_000), ("browse_courses", -1, -318_000), ("open_course", P, -300_000),
            ("start_quiz", P, -240_000), ("switch_language", -1, -95_000), ("download_material", P, -70_000),
            ("submit_quiz", P, 0), ("play_video", P, 6_500), ("open_lecture", P, 41_000)]),
        ("trigger", plan.trigger_users[1], [
            ("open_lecture", P, -420_000), ("play_video", P, -400_000),
            ("start_quiz", P, -150_000), ("switch_language", -1, -100_000), ("download_material", P, -60_000),
            ("submit_quiz", P, 0), ("open_course", P, 9_000), ("download_material", P, 31_000)]),
    ]
    for user in plan.rare_users:
        c = int(pop.enroll[user, 0]) or other
        gaps = np.cumsum(rng.integers(20_000, 90_000, size=5))[::-1]
        out.append(("rare_harmless", user, [
            ("login", -1, -int(gaps[0]) - 30_000), ("open_course", c, -int(gaps[0])),
            ("join_live_lecture", c, -int(gaps[1])), ("switch_language", -1, -int(gaps[2])),
            ("post_forum", c, -int(gaps[3])), ("update_preferences", -1, 0), ("browse_courses", -1, 25_000)]))
    # Sessions that take the common path and then fail (one per episode).
    for user in plan.common_users:
        out.append(("common_path", user, [
            ("login", -1, -200_000), ("open_course", other, -170_000), ("open_lecture", other, -150_000),
            ("play_video", other, -120_000), ("open_course", P, 0)]))
    out.append(("coincidence", plan.coincidence_user, [
        ("open_course", other, -260_000), ("open_assignment", other, -200_000), ("update_preferences", -1, -150_000),
        ("play_video", other, -95_000), ("post_forum", other, 0)]))
    return out


def scripted_sessions(rng: np.random.Generator, plan: Plan, pop: Population, sess_offset: int) -> pl.DataFrame:
    """The scripted sessions as request rows (same columns as ordinary ones,
    plus ``role``)."""
    completion = [plan.t_a, plan.t_b, *plan.rare_times, *plan.common_times, plan.coincidence_time]
    rows: dict[str, list] = {k: [] for k in ("sess", "user", "step", "action", "course", "item", "t", "role")}
    for i, ((role, user, steps), done) in enumerate(zip(_script(rng, plan, pop), completion)):
        item = int(rng.integers(1, 41))
        for j, (action, course, off) in enumerate(steps):
            rows["sess"].append(sess_offset + i)
            rows["user"].append(user)
            rows["step"].append(j)
            rows["action"].append(CODE[action])
            rows["course"].append(course if course >= 0 else P)
            rows["item"].append(item)
            rows["t"].append(done + off)
            rows["role"].append(role)
    return pl.DataFrame(rows).cast(
        {"sess": pl.Int64, "user": pl.Int32, "step": pl.Int16, "action": pl.Int8, "course": pl.Int16,
         "item": pl.Int16, "t": pl.Int64}
    )


# ---------------------------------------------------------------- classification

def _codes(names: tuple[str, ...] | None) -> list[int] | None:
    return None if names is None else [CODE[n] for n in names]


def trickle(rng: np.random.Generator, reqs: pl.DataFrame, quiet: list[tuple[int, int]]) -> pl.Series:
    """Background fault kind per request ("ok" when none); none inside ``quiet``
    windows and none in scripted sessions."""
    n = reqs.height
    kind = np.full(n, "ok", dtype=object)
    action = reqs["action"].to_numpy()
    t = reqs["t"].to_numpy()
    calm = ~reqs["scripted"].to_numpy()
    for lo, hi in quiet:
        calm &= (t < lo) | (t > hi)
    for name, (p, names) in TRICKLE.items():
        u = rng.random(n)
        ok = calm & (kind == "ok") & (u < p)
        codes = _codes(names)
        if codes is not None:
            ok &= np.isin(action, codes)
        kind[ok] = name
    return pl.Series("kind", kind.astype(str))


def incident(rng: np.random.Generator, reqs: pl.DataFrame, plan: Plan | None) -> pl.DataFrame:
    """Overwrite ``kind`` with the deploy and incident faults of the last day."""
    if plan is None:
        return reqs
    t = pl.col("t")
    kind = pl.col("kind")
    readers = _codes(CONTENT_READERS)
    for start, end in plan.episodes:
        k_read = pl.col("action").is_in(readers) & (pl.col("course") == P) & (t > start) & (t < end)
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


def prepare(rng: np.random.Generator, reqs: pl.DataFrame, pop: Population, plan: Plan | None) -> pl.DataFrame:
    """Add per-request flags (``token``, ``hit``) and fault kinds."""
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
        busy = pl.col("action").is_in(_codes(INVALIDATORS)) & (pl.col("course") == P) & pl.col("t").is_between(
            plan.t_a - 10 * M, plan.end_2 + 10 * M)
        reqs = reqs.with_columns(pl.when(busy).then(pl.lit(7, pl.Int16)).otherwise(pl.col("course")).alias("course"))
    quiet = [] if plan is None else [(o - 2 * M, o + 2 * M) for o, _ in plan.episodes]
    reqs = reqs.with_columns(trickle(rng, reqs, quiet))
    return incident(rng, reqs, plan)


# ------------------------------------------------------------ retries, abandon

def retries(rng: np.random.Generator, reqs: pl.DataFrame, plan: Plan | None) -> pl.DataFrame:
    """Users who hit an error retry: a refresh of the same request (1-3 times,
    seconds apart) or, after an auth failure, a new login.  Incident failures
    make half of the sessions give up afterwards."""
    failed = reqs.filter(pl.col("kind").is_in(USER_FAILURES))
    if failed.height == 0:
        return reqs.with_columns(pl.lit(False).alias("retry"), pl.lit(None, pl.Int8).alias("retry_of"))
    n = failed.height
    is_auth = failed["kind"].is_in(AUTH_FAILURES).to_numpy()
    times = np.where(is_auth, 1, rng.integers(1, 4, size=n))
    rep = failed.select(pl.all().repeat_by(pl.Series(times)).explode())
    gaps = rng.integers(2_000, 12_000, size=rep.height)
    first_of = np.repeat(np.cumsum(times) - times, times)
    offset = np.cumsum(gaps) - np.cumsum(gaps)[first_of] + gaps[first_of]
    rep = rep.with_columns(pl.col("action").alias("retry_of")).with_columns(
        (pl.col("t") + pl.Series(offset)).alias("t"),
        pl.when(pl.Series(np.repeat(is_auth, times))).then(pl.lit(CODE["login"], pl.Int8)).otherwise(pl.col("action")).alias("action"),
        pl.lit(True).alias("retry"),
        pl.lit("ok").alias("kind"),
        pl.Series("token", np.zeros(rep.height, bool)),
    )
    rep = incident(rng, rep, plan)
    out = pl.concat([reqs.with_columns(pl.lit(False).alias("retry"), pl.lit(None, pl.Int8).alias("retry_of")),
                     rep.select(reqs.columns + ["retry", "retry_of"])], how="vertical")
    # Abandonment: after an incident failure, half of the ordinary sessions end.
    inc = failed.filter(pl.col("kind").is_in(INCIDENT_KINDS) & ~pl.col("scripted"))
    gone = inc.group_by("sess").agg(pl.col("t").min().alias("_fail")).sort("sess")
    gone = gone.filter(pl.Series(rng.random(gone.height) < 0.5))
    out = out.join(gone, on="sess", how="left").filter(
        pl.col("_fail").is_null() | pl.col("retry") | (pl.col("t") <= pl.col("_fail"))
    ).drop("_fail")
    return out.sort("sess", "t", "retry", maintain_order=True)


# ------------------------------------------------------------------- repair

def first_completion(reqs: pl.DataFrame, seq: tuple[str, ...]) -> pl.DataFrame:
    """Per session, the row position (``pos``) where ``seq`` first completes
    as a subsequence (gaps allowed).  ``reqs`` needs ``sess``, ``pos``, ``action``.

    Examples
    --------
    >>> df = pl.DataFrame({"sess": [1, 1, 1, 2, 2], "pos": [0, 1, 2, 3, 4],
    ...                    "action": [CODE["login"], CODE["logout"], CODE["open_course"], CODE["open_course"], CODE["login"]]})
    >>> first_completion(df, ("login", "open_course")).rows()
    [(1, 2)]
    """
    codes = [CODE[a] for a in seq]
    found = reqs.filter(pl.col("action") == codes[0]).group_by("sess").agg(pl.col("pos").min())
    for c in codes[1:]:
        nxt = reqs.filter(pl.col("action") == c).join(found.rename({"pos": "_prev"}), on="sess")
        found = nxt.filter(pl.col("pos") > pl.col("_prev")).group_by("sess").agg(pl.col("pos").min())
    return found


def repair(reqs: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """Delete, in unscripted sessions, the request completing any of the rare
    sequences, until none is left.  Returns the rows and how many were deleted."""
    deleted = 0
    reqs = reqs.sort("sess", "t", maintain_order=True).with_row_index("pos").with_columns(pl.col("pos").cast(pl.Int64))
    while True:
        free = reqs.filter(~pl.col("scripted"))
        hits = pl.concat([first_completion(free, s) for s in (TRIGGER, RARE_HARMLESS, COINCIDENCE)])
        if hits.height == 0:
            return reqs.drop("pos"), deleted
        deleted += hits["pos"].n_unique()
        reqs = reqs.join(hits.select("pos").unique(), on="pos", how="anti")


def day_requests(rng: np.random.Generator, ordinary: pl.DataFrame, pop: Population, plan: Plan | None,
                 sess_offset: int) -> tuple[pl.DataFrame, int]:
    """All requests of one day, with fault kinds, retries, and the rare
    sequences repaired away outside the scripted sessions."""
    reqs = ordinary.with_columns(pl.lit(False).alias("scripted"), pl.lit(None, pl.String).alias("role"))
    if plan is not None:
        script = scripted_sessions(rng, plan, pop, sess_offset)
        # The scripted users' own ordinary sessions around their scripted ones are dropped.
        span = script.group_by("user").agg((pl.col("t").min() - 15 * M).alias("_lo"), (pl.col("t").max() + 15 * M).alias("_hi"))
        clash = reqs.join(span, on="user").filter(pl.col("t").is_between(pl.col("_lo"), pl.col("_hi"))).select("sess").unique()
        reqs = reqs.join(clash, on="sess", how="anti")
        script = script.with_columns(pl.lit(True).alias("scripted")).select(reqs.columns)
        reqs = pl.concat([reqs, script], how="vertical_relaxed")
        reqs = reqs.filter(pl.col("t") < plan.day_start + DAY_MS)
    reqs = prepare(rng, reqs.sort("sess", "t"), pop, plan)
    reqs = retries(rng, reqs, plan)
    reqs, deleted = repair(reqs)
    if plan is not None:
        reqs = _miss_after_reset(reqs, plan)
    return reqs, deleted


def _miss_after_reset(reqs: pl.DataFrame, plan: Plan) -> pl.DataFrame:
    """After the 16:20 flush and the 18:30 delete, the next read of the
    popular course's content misses (and refills the entry)."""
    reqs = reqs.with_row_index("_r")
    k_reads = reqs.filter(pl.col("action").is_in(_codes(CONTENT_READERS)) & (pl.col("course") == P) & (pl.col("kind") == "ok"))
    marks = []
    for (_, end), delay in zip(plan.episodes, RESET_DELAY):
        after = k_reads.filter(pl.col("t") > end + delay).sort("t")
        if after.height:
            marks.append(after["_r"][0])
    return reqs.with_columns(pl.when(pl.col("_r").is_in(marks)).then(False).otherwise(pl.col("hit")).alias("hit")).drop("_r")
