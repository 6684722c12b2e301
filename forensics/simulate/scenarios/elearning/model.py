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

from ...engine.chain import Chain, WalkAttr
from ...engine.chain import Population as Habits
from .vocab import (
    A, CODE, DWELL_S, END, INSTRUCTOR, PROFILE_WEIGHTS, START_INSTRUCTOR, START_STUDENT, start_vector,
    transition_matrices,
)

N_COURSES = 120
MAX_STEPS = 60
#: Regional activity peaks (UTC hour, weight).
PEAKS = ((9.5, 0.18), (13.5, 0.22), (16.5, 0.38), (20.5, 0.22))

_ITEM_DRAW = np.zeros(A + 1, bool)
for _n in ("open_lecture", "open_assignment", "start_quiz", "download_material", "join_live_lecture", "grade_submission"):
    _ITEM_DRAW[CODE[_n]] = True
_DWELL = np.array([DWELL_S[a] for a in sorted(DWELL_S, key=CODE.__getitem__)] + [1.0])


@dataclass(frozen=True)
class Population(Habits):
    """Users and their habits (see :class:`~forensics.simulate.engine.chain.Population`;
    ``profile`` is ``vocab.INSTRUCTOR`` for instructors).

    Attributes
    ----------
    instructor
        Bool per user.
    enroll, n_enroll
        Course codes a user is enrolled in (teaches), and how many.
    course_ids
        Public course id per course code; code 0 is the most popular course.
    """

    instructor: np.ndarray
    enroll: np.ndarray
    n_enroll: np.ndarray
    course_ids: np.ndarray


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
    return Population(profile=profile, affinity=affinity, center_h=center_h, rate=rate, instructor=instructor,
                      enroll=enroll, n_enroll=n_enroll, course_ids=course_ids)


def draw_course(rng: np.random.Generator, pop: Population, users: np.ndarray) -> np.ndarray:
    """One enrolled course code per given user."""
    pick = (rng.random(users.shape[0]) * pop.n_enroll[users]).astype(np.int64)
    return pop.enroll[users, pick]


def _draw_item(rng: np.random.Generator, pop: Population, users: np.ndarray) -> np.ndarray:
    return rng.integers(1, 41, size=users.shape[0]).astype(np.int16)


#: The ordinary behaviour: per step the course (redrawn on ``open_course``)
#: and the item (lecture, quiz, ... number; redrawn on opening one).
CHAIN = Chain(
    matrices=transition_matrices(),
    starts=np.stack([start_vector(START_STUDENT), start_vector(START_INSTRUCTOR)]),
    start_group=lambda prof: np.where(prof == INSTRUCTOR, 1, 0),
    dwell_s=_DWELL,
    attrs=(WalkAttr("course", draw_course, np.arange(A + 1) == CODE["open_course"]),
           WalkAttr("item", _draw_item, _ITEM_DRAW)),
    max_steps=MAX_STEPS,
    min_gap_ms=400,
    start_spread_h=1.4,
)
