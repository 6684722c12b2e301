"""The incident day's plan: when the triggers complete and the faults end,
the bad deploy, the actors, and the scripted sessions (the two triggers and
the decoys).  What was planted (trigger, decoys, the poisoned course) is the
plan's :class:`~forensics.simulate.engine.scenario.Story`: the postmortem's
(fixed, with hand-set scripts) or one drawn per seed
(:mod:`forensics.simulate.engine.draw`; the poisoned course is one of the
``TARGETS`` most popular, the trigger ends with a content read).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...engine.draw import Vocabulary, draw_sequences, framed, probe
from ...engine.requests import Scripted
from ...engine.scenario import IncidentPlan, Story
from .model import CHAIN, Population, make_population
from .vocab import CODE, COINCIDENCE, COMMON_PATH, CONTENT_READERS, COURSE_ACTIONS, RARE_HARMLESS, TRIGGER

#: Course code of the popular course whose content entry gets poisoned (fixed story).
POPULAR = 0
#: A drawn story poisons one of this many most popular courses.
TARGETS = 2
#: The default population size.
DEFAULT_USERS = 700
#: Size of the population a drawn story is checked against (the default; so a seed draws the same story at any size).
PROBE_USERS = DEFAULT_USERS
H = 3_600_000
M = 60_000

_STUDENT_STEPS = ("browse_courses", "open_course", "open_lecture", "play_video", "download_material",
                  "open_assignment", "submit_assignment", "start_quiz", "submit_quiz", "join_live_lecture",
                  "post_forum", "switch_language", "update_preferences")
#: What a drawn story is made of: student actions; the trigger ends with a
#: read of the course content (which refreshes the entry with a bad payload).
VOCABULARY = Vocabulary(
    steps=_STUDENT_STEPS,
    last=tuple(a for a in _STUDENT_STEPS if a in CONTENT_READERS),
    fillers=("browse_courses", "open_course", "open_lecture", "play_video", "download_material", "open_assignment"),
    opener="login",
    common_session=("login", *COMMON_PATH, "open_course"),
    readers=CONTENT_READERS,
)


def story(rng: np.random.Generator, pop: Population, drawn: bool) -> Story:
    """The postmortem's story, or (``drawn``) one drawn from ``rng``."""
    if not drawn:
        return Story(trigger=TRIGGER, rare_harmless=RARE_HARMLESS, coincidence=COINCIDENCE, common_path=COMMON_PATH,
                     resource=f"course:{int(pop.course_ids[POPULAR])}:content", target=POPULAR)
    walks = probe(rng, CHAIN, make_population(rng, PROBE_USERS))
    d = draw_sequences(rng, VOCABULARY, walks, CODE)
    target = int(rng.integers(0, TARGETS))
    return Story(trigger=d.trigger, rare_harmless=d.rare_harmless, coincidence=d.coincidence, common_path=COMMON_PATH,
                 resource=f"course:{int(pop.course_ids[target])}:content", target=target, drawn=True, frames=d.frames)


@dataclass(frozen=True)
class Plan(IncidentPlan):
    """Times (epoch ms) and actors of the incident day, and the bad deploy
    (proxy 502s, ``deploy`` = start, end)."""

    deploy: tuple[int, int]


def make_plan(rng: np.random.Generator, pop: Population, day_start: int, story: Story) -> Plan:
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
        story=story,
        common_users=(int(actors[7]), int(actors[8])), common_times=(t_a + 150_000, t_b + 700_000),
    )

#: When the poisoned entry is removed: the 16:20 flush and the 18:30 delete
#: (offsets from the end of each fault window, ms).
RESET_DELAY = (400, 1_600)


# ------------------------------------------------------------ scripted sessions

def _embed(seq: tuple[str, ...], course: int, offsets: tuple[int, ...], others: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    """A planted sequence (its actions at ``offsets``, about ``course`` when
    they have a course context) among other steps, in time order."""
    steps = [(a, course if a in COURSE_ACTIONS or a == "join_live_lecture" else -1, off) for a, off in zip(seq, offsets)]
    return sorted(steps + others, key=lambda s: s[2])


def _script(rng: np.random.Generator, plan: Plan, pop: Population) -> list[tuple[str, int, list[tuple[str, int, int]]]]:
    """(role, user, [(action, course code or -1 for the popular one, offset ms from completion)]) per
    scripted session; the planted sequences come from ``plan.story``."""
    story = plan.story
    P = story.target  # noqa: N806 (the popular course, as in the postmortem)
    other = int(rng.integers(1, 40))
    # The two trigger sessions share nothing but the trigger: no action of
    # one's prefix (or suffix) appears in the other's, so no longer pattern
    # is as well supported as the trigger itself.
    out = [
        ("trigger", plan.trigger_users[0], _embed(story.trigger, P, (-240_000, -95_000, -70_000, 0), [
            ("login", -1, -330_000), ("browse_courses", -1, -318_000), ("open_course", P, -300_000),
            ("play_video", P, 6_500), ("open_lecture", P, 41_000)])),
        ("trigger", plan.trigger_users[1], _embed(story.trigger, P, (-150_000, -100_000, -60_000, 0), [
            ("open_lecture", P, -420_000), ("play_video", P, -400_000),
            ("open_course", P, 9_000), ("download_material", P, 31_000)])),
    ]
    for user in plan.rare_users:
        c = int(pop.enroll[user, 0]) or other
        gaps = np.cumsum(rng.integers(20_000, 90_000, size=5))[::-1]
        out.append(("rare_harmless", user, _embed(story.rare_harmless, c, (-int(gaps[1]), -int(gaps[2]), -int(gaps[3]), 0), [
            ("login", -1, -int(gaps[0]) - 30_000), ("open_course", c, -int(gaps[0])), ("browse_courses", -1, 25_000)])))
    # Sessions that take the common path and then fail (one per episode).
    for user in plan.common_users:
        out.append(("common_path", user, _embed(story.common_path, other, (-170_000, -150_000, -120_000), [
            ("login", -1, -200_000), ("open_course", P, 0)])))
    out.append(("coincidence", plan.coincidence_user, _embed(story.coincidence, other, (-200_000, -150_000, -95_000, 0), [
        ("open_course", other, -260_000)])))
    return out


def _drawn_script(rng: np.random.Generator, plan: Plan, pop: Population) -> list[tuple[str, int, list[tuple[str, int, int]]]]:
    """As :func:`_script` for a drawn story: each planted sequence inside its
    frame, timings drawn for its length (the common-path sessions as in the
    fixed story)."""
    story = plan.story
    P = story.target  # noqa: N806
    other = int(rng.integers(1, 40))

    def on(course: int, steps: list[tuple[str, int]]) -> list[tuple[str, int, int]]:
        return [(a, course if a in COURSE_ACTIONS or a == "join_live_lecture" else -1, off) for a, off in steps]

    # As in the fixed story, the trigger's user reads the course again within
    # seconds (the cache error) and once more after SLOW_S (the database timeout).
    out = [("trigger", user, on(P, framed(rng, story.trigger, story.frame(f"trigger_{k}"),
                                          after=((5_000, 9_000), (20_000, 24_000)))))
           for k, user in enumerate(plan.trigger_users, start=1)]
    for user in plan.rare_users:
        c = int(pop.enroll[user, 0]) or other
        out.append(("rare_harmless", user, on(c, framed(rng, story.rare_harmless, story.frame("rare_harmless")))))
    for user in plan.common_users:
        out.append(("common_path", user, _embed(story.common_path, other, (-170_000, -150_000, -120_000), [
            ("login", -1, -200_000), ("open_course", P, 0)])))
    out.append(("coincidence", plan.coincidence_user, on(other, framed(rng, story.coincidence, story.frame("coincidence")))))
    return out


def script(rng: np.random.Generator, plan: Plan, pop: Population) -> tuple[list[Scripted], list[dict[str, int]]]:
    """The scripted sessions (unset courses are the poisoned one) and, per
    session, its item number."""
    steps_of = _drawn_script if plan.story.drawn else _script
    sessions = [
        Scripted(role, user, done, tuple((CODE[a], off, {"course": c if c >= 0 else plan.story.target}) for a, c, off in steps))
        for (role, user, steps), done in zip(steps_of(rng, plan, pop), plan.completions)
    ]
    return sessions, [{"item": int(rng.integers(1, 41))} for _ in sessions]
