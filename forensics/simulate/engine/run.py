"""Running a scenario: population, then per day the ordinary sessions, the
incident's scripted sessions (last day), faults, retries, repair, derived
fields, rendering and writing; then ``truth.json``."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from ...errors import UsageError
from .chain import DAY_MS, Population, ordinary_day
from .requests import mix_in, repair, scripted_rows
from .scenario import IncidentDay, Scenario
from .sink import FileCounts, open_sinks
from .stream import MARGIN_MS, Stream

#: Session numbers left free after a day's ordinary sessions (the next day's start after them).
SESSION_GAP = 16
#: The default seed: it tells the scenario's fixed story (``sample_logs/``); any other seed draws its own.
DEFAULT_SEED = 7
#: Random stream of the story draw (``SeedSequence([seed, *rng_salt, STORY_STAGE])``, never day-keyed).
STORY_STAGE = 90
#: ``story=`` values: the scenario's fixed story, or one drawn from the seed.
STORIES = ("fixed", "drawn")


@dataclass(frozen=True)
class SimulationResult:
    """What a simulation wrote.

    Attributes
    ----------
    out_dir
        The output folder.
    files
        Relative path -> counts (lines, events, continuation_lines,
        blank_lines, malformed) as also recorded in ``truth.json``.
    truth
        The ground truth document (also written to ``truth.json``).
    seconds
        Wall time of the run.
    """

    out_dir: Path
    files: dict[str, FileCounts]
    truth: dict
    seconds: float

    @property
    def events(self) -> int:
        return sum(c.events for c in self.files.values())

    @property
    def lines(self) -> int:
        return sum(c.lines for c in self.files.values())


def story_mode(seed: int, story: str | None) -> bool:
    """Whether to draw the story: ``story`` (``fixed`` or ``drawn``), or by
    default drawn for every seed but :data:`DEFAULT_SEED`."""
    if story is None:
        return seed != DEFAULT_SEED
    if story not in STORIES:
        raise UsageError(f"--story must be one of {', '.join(STORIES)}")
    return story == "drawn"


def run(sc: Scenario, out_dir: str | os.PathLike, *, seed: int, users: int, days: int = 1,
        formats: tuple[str, ...] | list[str] | None = None, story: str | None = None) -> SimulationResult:
    """Write ``sc``'s outage (``days`` days, the incident on the last) and
    ``truth.json`` to ``out_dir``; ``story`` is ``fixed``, ``drawn`` or None
    (see :func:`story_mode`).  Raises UsageError / OutputError."""
    started = time.perf_counter()
    drawn = story_mode(seed, story)
    if users < sc.min_users:
        raise UsageError(f"--users must be at least {sc.min_users}{sc.label_suffix}")
    if days < 1:
        raise UsageError("--days must be at least 1")
    if days > 1 and not sc.day_keyed:
        raise UsageError(f"--days is not supported by the {sc.name} scenario (one day)")
    out = Path(out_dir)
    chosen, sinks = open_sinks(out, dict(sc.layout.formats), formats, scenario=sc.label)
    pop = sc.make_population(sc.rng(seed, 0), users)
    plot = sc.story(sc.rng(seed, STORY_STAGE), pop, drawn)
    planted = [[sc.code[a] for a in s] for s in plot.planted]
    stream = Stream(sc.layout, sinks, chosen)
    number = 0
    sess_offset = 0
    incident: IncidentDay | None = None
    try:
        for d in range(days):
            day_start = sc.incident_day - (days - 1 - d) * DAY_MS
            last = d == days - 1
            rng_for = sc.day_rng(seed, d)
            plan = sc.make_plan(rng_for(1), pop, day_start, plot) if last else None
            ordinary = ordinary_day(rng_for(2), sc.chain, pop, day_start, sess_offset)
            n_ord = int(ordinary["sess"].max() or sess_offset) + 1
            reqs, repaired = _day_requests(sc, rng_for(3), ordinary, pop, plan, n_ord + sc.script_gap, planted)
            sess_offset = n_ord + SESSION_GAP
            reqs = sc.enrich(rng_for(4), reqs, pop, seed=seed, first_number=number, story=plot)
            number += reqs.height
            if plan is not None:
                stream.injections = sc.injections(rng_for, plan, chosen)
            errors = stream.day(reqs, seed=seed, day=d, day_start=day_start, plan=plan,
                                until=None if last else day_start + DAY_MS - MARGIN_MS)
            if plan is not None:
                incident = IncidentDay(plan, pop, reqs, errors, repaired)
    finally:
        for sink in sinks.values():
            sink.close()
    files = {rel: sink.counts for rel, sink in sinks.items()}
    config = {"seed": seed, "users": users, "days": days, "formats": list(chosen)}
    doc = sc.truth(incident, files, config)
    (out / "truth.json").write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return SimulationResult(out, files, doc, time.perf_counter() - started)


def _day_requests(sc: Scenario, rng, ordinary: pl.DataFrame, pop: Population, plan, script_offset: int,
                  planted: list[list[int]]) -> tuple[pl.DataFrame, int]:
    """All requests of one day, with fault kinds, retries, and the planted
    sequences repaired away outside the scripted sessions."""
    reqs = ordinary.with_columns(pl.lit(False).alias("scripted"), pl.lit(None, pl.String).alias("role"))
    if plan is not None:
        sessions, columns = sc.script(rng, plan, pop)
        script = scripted_rows(sessions, columns, script_offset, sc.script_schema)
        reqs = mix_in(reqs, script, plan.day_start + DAY_MS)
    reqs = sc.faults(rng, reqs.sort("sess", "t", maintain_order=True), pop, plan)
    reqs = sc.retries(rng, reqs, plan)
    reqs, deleted = repair(reqs, planted)
    return sc.after_repair(reqs, plan), deleted
