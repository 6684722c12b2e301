"""The one protocol between the engine and a scenario.

A scenario is a :class:`Scenario` value: data (formats, chain, fault
tables, time constants) plus a few functions for what is really its own
(the population's extra traits, the incident plan and its scripts, the fault
model, the derived fields, the writers and the truth document).  The engine
(:func:`forensics.simulate.engine.run.run`) calls them in a fixed order with
random streams keyed by ``(seed, *rng_salt, stage[, day])``, so a given seed
gives the same files.

What was planted is data as well: :class:`Story` (drawn per seed) names the
trigger, the decoy sequences and the poisoned resource; the plan carries it,
the repair, the scripts and the truth read it from there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from .chain import Chain, Population
from .draw import Frame
from .requests import Scripted
from .sink import FileCounts
from .stream import Injection, Layout


@dataclass(frozen=True)
class Story:
    """What a seed planted.

    Attributes
    ----------
    trigger
        The rare action sequence that poisons ``resource``.
    rare_harmless, coincidence
        Rare decoy sequences (a few times a day far from onsets; once, by
        chance, shortly before the first onset).
    common_path
        The path nearly everyone takes, failing users included.
    resource
        The poisoned entry as named in ``truth.json`` (a cache key).
    target
        The scenario's index of what the resource belongs to (e-learning: the
        course code; shop: the shipping region).
    drawn
        Whether the seed drew the story (False: the scenario's fixed story,
        the postmortem's, with its hand-set scripts).
    frames
        Drawn stories only: role (``trigger_1``, ``trigger_2``,
        ``rare_harmless``, ``coincidence``) -> the ordinary steps around the
        planted sequence in that scripted session.
    """

    trigger: tuple[str, ...]
    rare_harmless: tuple[str, ...]
    coincidence: tuple[str, ...]
    common_path: tuple[str, ...]
    resource: str
    target: int
    drawn: bool = False
    frames: tuple[tuple[str, Frame], ...] = ()

    def frame(self, role: str) -> Frame:
        """The frame of ``role``'s scripted session (empty when none)."""
        return dict(self.frames).get(role, Frame((), ()))

    @property
    def planted(self) -> tuple[tuple[str, ...], ...]:
        """The sequences kept rare outside the scripted sessions."""
        return (self.trigger, self.rare_harmless, self.coincidence)


@dataclass(frozen=True)
class IncidentPlan:
    """What every scenario's incident plan has (a scenario's ``Plan``
    extends it with its own bursts and details).

    Attributes
    ----------
    day_start
        00:00 UTC of the incident day (epoch ms).
    story
        What was planted.
    t_a, t_b
        When the first and the second trigger complete (fault onsets).
    end_1, end_2
        When each fault window ends.
    trigger_users, rare_users, coincidence_user, common_users
        The actors of the scripted sessions.
    rare_times, coincidence_time, common_times
        When their planted sequences complete.
    """

    day_start: int
    story: Story
    t_a: int
    t_b: int
    end_1: int
    end_2: int
    trigger_users: tuple[int, int]
    rare_users: tuple[int, ...]
    rare_times: tuple[int, ...]
    coincidence_user: int
    coincidence_time: int
    common_users: tuple[int, int]
    common_times: tuple[int, int]

    @property
    def episodes(self) -> tuple[tuple[int, int], tuple[int, int]]:
        return ((self.t_a, self.end_1), (self.t_b, self.end_2))

    @property
    def completions(self) -> list[int]:
        """Completion time per scripted session, in script order: the
        triggers, the rare decoys, the common paths, the coincidence."""
        return [self.t_a, self.t_b, *self.rare_times, *self.common_times, self.coincidence_time]


@dataclass(frozen=True)
class IncidentDay:
    """The incident day as the truth document needs it: the plan, the
    population, the enriched requests, the error lines with a cause per
    writer, and how many requests the repair deleted."""

    plan: IncidentPlan
    pop: Population
    reqs: pl.DataFrame
    errors: dict[str, pl.DataFrame]
    repaired: int


@dataclass(frozen=True)
class Scenario:
    """A simulated outage, as the engine runs it.

    Attributes
    ----------
    name
        Registry name (``forensics simulate --scenario NAME``).
    layout
        Writers, their files and rotation (see :class:`~.stream.Layout`).
    incident_day
        00:00 UTC of the incident day (epoch ms); earlier days precede it.
    rng_salt, day_keyed
        Random streams are ``SeedSequence([seed, *rng_salt, stage])``, plus
        the day number when ``day_keyed`` (a scenario that is not runs one
        day only).
    min_users, default_users
        Smallest population accepted; the default size.
    label
        How messages name the scenario ("unknown {label} format ...",
        "--users must be at least N{label_suffix}").
    code
        Action name -> code.
    chain
        The ordinary behaviour (see :class:`~.chain.Chain`).
    make_population
        ``(rng, users) -> Population``.
    story
        ``(rng, pop, drawn) -> Story``: the fixed story, or one drawn from
        ``rng`` (the seed's story stream) when ``drawn``.
    make_plan
        ``(rng, pop, day_start, story) -> plan`` (an :class:`IncidentPlan`).
    script
        ``(rng, plan, pop) -> (sessions, per-session columns)``.
    script_schema
        Column dtypes of the scripted rows.
    script_gap
        Session numbers skipped between the ordinary and the scripted ones.
    faults
        ``(rng, reqs, pop, plan or None) -> reqs`` with ``kind`` (and any
        per-request flags the scenario needs).
    retries
        ``(rng, reqs, plan or None) -> reqs`` with ``retry``, ``retry_of``.
    after_repair
        ``(reqs, plan or None) -> reqs``.
    enrich
        ``(rng, reqs, pop, seed=, first_number=, story=) -> reqs`` sorted by
        time with every field the writers need (and the mark of the requests
        completing a trigger).
    injections
        ``(rng_for, plan, chosen) -> [Injection]``; ``rng_for(*stage)`` gives
        the day's keyed stream.
    truth
        ``(IncidentDay, files, config) -> document``.
    summary
        One sentence for ``forensics simulate --help``.
    """

    name: str
    layout: Layout
    incident_day: int
    rng_salt: tuple[int, ...]
    day_keyed: bool
    min_users: int
    default_users: int
    label: str
    label_suffix: str
    code: Mapping[str, int]
    chain: Chain
    make_population: Callable[[np.random.Generator, int], Population]
    story: Callable[[np.random.Generator, Population, bool], Story]
    make_plan: Callable[[np.random.Generator, Population, int, Story], IncidentPlan]
    script: Callable[[np.random.Generator, Any, Population], tuple[Sequence[Scripted], Sequence[Mapping[str, object]]]]
    script_schema: Mapping[str, pl.DataType]
    script_gap: int
    faults: Callable[[np.random.Generator, pl.DataFrame, Population, Any], pl.DataFrame]
    retries: Callable[[np.random.Generator, pl.DataFrame, Any], pl.DataFrame]
    after_repair: Callable[[pl.DataFrame, Any], pl.DataFrame]
    enrich: Callable[..., pl.DataFrame]
    injections: Callable[[Callable[..., np.random.Generator], Any, tuple[str, ...]], list[Injection]]
    truth: Callable[[IncidentDay, Mapping[str, FileCounts], dict], dict]
    summary: str = ""

    def rng(self, seed: int, *key: int) -> np.random.Generator:
        """The random stream ``key`` of ``seed``."""
        return np.random.default_rng(np.random.SeedSequence([seed, *self.rng_salt, *key]))

    def day_rng(self, seed: int, day: int) -> Callable[..., np.random.Generator]:
        """``stage -> `` the random stream of that stage on ``day``."""
        suffix = (day,) if self.day_keyed else ()
        return lambda *stage: self.rng(seed, *stage, *suffix)
