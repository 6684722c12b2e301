"""The behaviour model: a population of students and instructors with
personal habits, and a day of ordinary sessions drawn from it.

Each session is a walk on a Markov chain over actions.  The chain's rows come
from one of a few habit profiles (watchers, quizzers, ...), multiplied per
user by personal action affinities, so no two users behave alike.  Session
start times follow the user's preferred hour (a mixture of regional peaks, so
the day has a realistic load curve), think times are log-normal per action.
Everything is vectorized over sessions: one NumPy step per walk position.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from .vocab import (
    A, CODE, DWELL_S, END, INSTRUCTOR, PROFILE_WEIGHTS, START_INSTRUCTOR, START_STUDENT, start_vector,
    transition_matrices,
)

N_COURSES = 120
MAX_STEPS = 60
#: Regional activity peaks (UTC hour, weight).
PEAKS = ((9.5, 0.18), (13.5, 0.22), (16.5, 0.38), (20.5, 0.22))
DAY_MS = 86_400_000

_ITEM_DRAW = np.zeros(A + 1, bool)
for _n in ("open_lecture", "open_assignment", "start_quiz", "download_material", "join_live_lecture", "grade_submission"):
    _ITEM_DRAW[CODE[_n]] = True
_DWELL = np.array([DWELL_S[a] for a in sorted(DWELL_S, key=CODE.__getitem__)] + [1.0])


@dataclass(frozen=True)
class Population:
    """Users and their habits (arrays indexed by user number).

    Attributes
    ----------
    instructor
        Bool per user.
    profile
        Habit profile index (``vocab.INSTRUCTOR`` for instructors).
    affinity
        ``(users, A + 1)`` float32 personal multipliers of transition columns.
    center_h
        Preferred hour of activity (UTC).
    rate
        Expected sessions per day.
    enroll, n_enroll
        Course codes a user is enrolled in (teaches), and how many.
    course_ids
        Public course id per course code; code 0 is the most popular course.
    """

    instructor: np.ndarray
    profile: np.ndarray
    affinity: np.ndarray
    center_h: np.ndarray
    rate: np.ndarray
    enroll: np.ndarray
    n_enroll: np.ndarray
    course_ids: np.ndarray

    @property
    def size(self) -> int:
        return int(self.instructor.shape[0])


def make_population(rng: np.random.Generator, users: int) -> Population:
    """Draw ``users`` users (about 6% instructors) with personal habits.

    Examples
    --------
    >>> pop = make_population(np.random.default_rng(1), 50)
    >>> pop.size, pop.enroll.shape
    (50, (50, 6))
    """
    instructor = rng.random(users) < 0.06
    profile = rng.choice(len(PROFILE_WEIGHTS), size=users, p=np.array(PROFILE_WEIGHTS)).astype(np.int8)
    profile[instructor] = INSTRUCTOR
    affinity = rng.lognormal(0.0, 0.35, size=(users, A + 1)).astype(np.float32)
    affinity[:, END] = rng.lognormal(0.0, 0.3, size=users)
    peak_h = np.array([p for p, _ in PEAKS])
    peak_w = np.array([w for _, w in PEAKS])
    center_h = peak_h[rng.choice(len(PEAKS), size=users, p=peak_w)] + rng.normal(0.0, 0.75, size=users)
    center_h[instructor] = rng.normal(13.0, 2.0, size=int(instructor.sum()))
    rate = rng.lognormal(0.1, 0.6, size=users)
    # Course popularity: Zipf-like; code 0 is the platform's most popular course.
    pop_w = 1.0 / np.arange(1, N_COURSES + 1) ** 0.75
    pop_w /= pop_w.sum()
    enroll = rng.choice(N_COURSES, size=(users, 6), p=pop_w).astype(np.int16)
    n_enroll = rng.integers(2, 7, size=users).astype(np.int8)
    taught = rng.choice(N_COURSES, size=(users, 6)).astype(np.int16)  # instructors teach anything
    enroll[instructor] = taught[instructor]
    n_enroll[instructor] = rng.integers(1, 4, size=int(instructor.sum()))
    course_ids = rng.permutation(np.arange(100, 1000))[:N_COURSES].astype(np.int32)
    return Population(instructor, profile, affinity, center_h, rate, enroll, n_enroll, course_ids)


def draw_course(rng: np.random.Generator, pop: Population, users: np.ndarray) -> np.ndarray:
    """One enrolled course code per given user."""
    pick = (rng.random(users.shape[0]) * pop.n_enroll[users]).astype(np.int64)
    return pop.enroll[users, pick]


def walk(rng: np.random.Generator, pop: Population, sess_user: np.ndarray) -> pl.DataFrame:
    """Walk the chain once per session.

    Returns one row per action: ``sess`` (index into ``sess_user``), ``step``,
    ``action`` (code), ``course`` (code), ``item`` (lecture/quiz/... number),
    ordered by ``sess``, ``step``.
    """
    mats = transition_matrices().astype(np.float32)
    n = sess_user.shape[0]
    prof = pop.profile[sess_user]
    is_instr = prof == INSTRUCTOR
    starts = np.where(is_instr, 1, 0)
    cdf0 = np.cumsum(np.stack([start_vector(START_STUDENT), start_vector(START_INSTRUCTOR)]), axis=1)
    cur = (rng.random(n)[:, None] > cdf0[starts]).sum(axis=1).astype(np.int8)
    course = draw_course(rng, pop, sess_user)
    item = rng.integers(1, 41, size=n).astype(np.int16)
    alive = np.arange(n)
    parts: list[tuple[np.ndarray, ...]] = []
    for step in range(MAX_STEPS):
        if alive.size == 0:
            break
        a = cur[alive]
        parts.append((alive, np.full(alive.size, step, np.int16), a, course[alive], item[alive]))
        rows = mats[prof[alive], a] * pop.affinity[sess_user[alive]]
        cdf = np.cumsum(rows, axis=1)
        u = rng.random(alive.size, dtype=np.float32) * cdf[:, -1]
        nxt = np.minimum((cdf < u[:, None]).sum(axis=1), END).astype(np.int8)
        if step == MAX_STEPS - 1:
            nxt[:] = END
        keep = nxt != END
        alive, nxt = alive[keep], nxt[keep]
        cur[alive] = nxt
        redraw = nxt == CODE["open_course"]
        if redraw.any():
            course[alive[redraw]] = draw_course(rng, pop, sess_user[alive[redraw]])
        fresh = _ITEM_DRAW[nxt]
        item[alive[fresh]] = rng.integers(1, 41, size=int(fresh.sum()))
    cols = [np.concatenate(c) for c in zip(*parts)] if parts else [np.zeros(0, np.int64)] * 5
    order = np.argsort(cols[0], kind="stable")
    return pl.DataFrame(
        {
            "sess": cols[0][order].astype(np.int64),
            "step": cols[1][order].astype(np.int16),
            "action": cols[2][order].astype(np.int8),
            "course": cols[3][order].astype(np.int16),
            "item": cols[4][order].astype(np.int16),
        }
    )


def ordinary_day(rng: np.random.Generator, pop: Population, day_start_ms: int, sess_offset: int) -> pl.DataFrame:
    """One day of ordinary sessions for the whole population.

    Returns one row per request: ``sess`` (global session number, from
    ``sess_offset``), ``user``, ``step``, ``action``, ``course``, ``item`` and
    ``t`` (request start, epoch ms), sorted by ``sess``, ``t``.  Requests that
    would fall after midnight are dropped.
    """
    n_sess = rng.poisson(pop.rate)
    sess_user = np.repeat(np.arange(pop.size, dtype=np.int32), n_sess)
    start_h = (pop.center_h[sess_user] + rng.normal(0.0, 1.4, size=sess_user.size)) % 24.0
    start_ms = (start_h * 3_600_000).astype(np.int64)
    walks = walk(rng, pop, sess_user)
    sess = walks["sess"].to_numpy()
    act = walks["action"].to_numpy().astype(np.int64)
    gap = np.rint(rng.lognormal(0.0, 0.7, size=act.size) * _DWELL[act] * 1000.0).astype(np.int64) + 400
    # Think time after an action delays the next request of the same session.
    prev_gap = np.concatenate(([0], gap[:-1]))
    first = np.concatenate(([True], sess[1:] != sess[:-1]))
    prev_gap[first] = 0
    cum = np.cumsum(prev_gap)
    seg_base = np.maximum.accumulate(np.where(first, cum, 0))
    t = day_start_ms + start_ms[sess] + (cum - seg_base) + rng.integers(0, 1000, size=act.size)
    out = walks.with_columns(
        (pl.Series(sess) + sess_offset).alias("sess"),
        pl.Series("user", sess_user[sess]),
        pl.Series("t", t),
    ).select("sess", "user", "step", "action", "course", "item", "t")
    return out.filter(pl.col("t") < day_start_ms + DAY_MS)
