"""``forensics simulate``: the postmortem's outage as raw multi-format logs
plus a ground-truth file.

>>> from forensics.simulate import simulate                # doctest: +SKIP
>>> result = simulate("sample_logs", seed=7)                # doctest: +SKIP
>>> sorted(result.files)[:2]                                # doctest: +SKIP
['app/app.jsonl', 'app/app.jsonl.1.gz']

The day is 2023-11-02 (with ``days > 1`` the incident is on the last day and
the earlier days are ordinary).  Generation is vectorized with NumPy/Polars
and streamed one day at a time; the same seed gives byte-identical files.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from ..errors import UsageError
from . import servers, writers
from .fields import enrich
from .model import DAY_MS, make_population, ordinary_day
from .scenario import day_requests, make_plan
from .sink import FileCounts, Sink, extra_lines, open_sinks, truncated_copies
from .truth import TruthBuilder

__all__ = ["simulate", "SimulationResult", "FORMATS", "DEFAULT_USERS", "DEFAULT_SEED"]

DEFAULT_SEED = 7
DEFAULT_USERS = 700
#: 2023-11-02T00:00:00Z in epoch ms: the incident day.
INCIDENT_DAY_MS = 1_698_883_200_000
#: The app log is rotated at noon: the older half goes to ``app.jsonl.1.gz``.
ROTATE_AT_MS = 12 * 3_600_000

#: Writer name -> (files, format name the ingest reader should sniff).
FORMATS: dict[str, tuple[tuple[str, ...], str]] = {
    "app": (("app/app.jsonl.1.gz", "app/app.jsonl"), "jsonl"),
    "nginx": (("nginx/access.log",), "access"),
    "cache": (("cache/cache.jsonl",), "jsonl"),
    "redis": (("cache/redis.log",), "redis"),
    "postgres": (("db/postgresql.log",), "postgres"),
    "auth": (("auth/auth.log",), "plain"),
}


@dataclass(frozen=True)
class SimulationResult:
    """What :func:`simulate` wrote.

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


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, *key]))


def simulate(
    out_dir: str | os.PathLike,
    *,
    seed: int = DEFAULT_SEED,
    users: int = DEFAULT_USERS,
    days: int = 1,
    formats: tuple[str, ...] | list[str] | None = None,
) -> SimulationResult:
    """Write a simulated outage of an e-learning platform to ``out_dir``.

    Parameters
    ----------
    out_dir
        Folder to write into (created; existing files of the same names are
        replaced).
    seed
        Random seed: the same seed and options give byte-identical files.
    users
        Population size (students and about 6% instructors).
    days
        Days of traffic; the incident is on the last day, 2023-11-02.
    formats
        Writers to run (see :data:`FORMATS`); default all.  ``truth.json`` is
        always written.

    Returns
    -------
    SimulationResult

    Examples
    --------
    >>> import tempfile
    >>> r = simulate(tempfile.mkdtemp(), users=60, formats=["app"])
    >>> r.truth["trigger"]["sequence"]
    ['start_quiz', 'switch_language', 'download_material', 'submit_quiz']
    """
    started = time.perf_counter()
    if users < 20:
        raise UsageError("--users must be at least 20")
    if days < 1:
        raise UsageError("--days must be at least 1")
    out = Path(out_dir)
    chosen, sinks = open_sinks(out, FORMATS, formats, scenario="simulate")
    pop = make_population(_rng(seed, 0), users)
    truth = TruthBuilder(seed=seed, users=users, days=days, formats=chosen, pop=pop)
    stream = _Stream(sinks, chosen)
    number = 0
    sess_offset = 0
    try:
        for d in range(days):
            day_start = INCIDENT_DAY_MS - (days - 1 - d) * DAY_MS
            last = d == days - 1
            plan = make_plan(_rng(seed, 1, d), pop, day_start) if last else None
            ordinary = ordinary_day(_rng(seed, 2, d), pop, day_start, sess_offset)
            n_ord = int(ordinary["sess"].max() or sess_offset) + 1
            reqs, repaired = day_requests(_rng(seed, 3, d), ordinary, pop, plan, n_ord)
            sess_offset = n_ord + 16
            reqs = enrich(_rng(seed, 4, d), reqs, pop, seed=seed, first_number=number)
            number += reqs.height
            if plan is not None:
                stream.injections = _injections(_rng(seed, 6, d), plan, chosen)
            errors = stream.day(reqs, seed=seed, day=d, day_start=day_start, plan=plan,
                                until=None if last else day_start + DAY_MS - MARGIN_MS)
            if plan is not None:
                truth.incident_day(plan, reqs, errors, repaired)
    finally:
        for sink in sinks.values():
            sink.close()
    files = {rel: sink.counts for rel, sink in sinks.items()}
    doc = truth.document(files)
    (out / "truth.json").write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return SimulationResult(out, files, doc, time.perf_counter() - started)


#: Requests rendered per part (bounds memory on big runs).
PART_REQUESTS = 250_000
#: No line of a later part is earlier than the part's first request minus this.
MARGIN_MS = 2_000
WRITERS = {"app": writers.app, "nginx": writers.nginx, "cache": writers.cache, "redis": servers.redis,
           "postgres": servers.postgres, "auth": writers.auth}


class _Stream:
    """Renders a day in parts (by request time) and writes lines in time
    order: lines that a later part could still precede are carried over."""

    def __init__(self, sinks: dict[str, Sink], chosen: tuple[str, ...]) -> None:
        self.sinks = sinks
        self.chosen = chosen
        self.carry: dict[str, pl.DataFrame] = {}
        self.injections: list[tuple[str, int, str | None, bool]] = []
        self.serial = 0

    def day(self, reqs: pl.DataFrame, *, seed: int, day: int, day_start: int, plan, until: int | None) -> dict[str, pl.DataFrame]:
        n_parts = max(1, -(-reqs.height // PART_REQUESTS))
        cuts = [k * reqs.height // n_parts for k in range(n_parts + 1)]
        t = reqs["t"]
        errors: dict[str, list[pl.DataFrame]] = {name: [] for name in self.chosen}
        for k in range(n_parts):
            part = reqs.slice(cuts[k], cuts[k + 1] - cuts[k])
            lo = day_start if k == 0 else int(t[cuts[k]])
            hi = int(t[cuts[k + 1]]) if k + 1 < n_parts else day_start + 2 * DAY_MS
            limit = hi - MARGIN_MS if k + 1 < n_parts else until
            ctx = writers.Ctx(seed=seed, day=day, day_start=day_start, plan=plan, window=(lo, hi), part=k)
            for name in self.chosen:
                frame = WRITERS[name](ctx, part)
                self.serial += 1
                frame = frame.with_row_index("_i").with_columns(
                    (pl.col("_i").cast(pl.Float64) + self.serial * 2.0**32).alias("_i"), pl.lit(False).alias("mal"),
                ).select("t", "text", "cont", "err", "cause", "ep", "svc", "_i", "mal")
                if name in self.carry:
                    frame = pl.concat([self.carry.pop(name), frame])
                if limit is not None:
                    self.carry[name] = frame.filter(pl.col("t") >= limit)
                    frame = frame.filter(pl.col("t") < limit)
                frame = self._inject(name, frame, limit)
                if plan is not None:
                    errors[name].append(frame.filter(pl.col("err") & pl.col("cause").is_not_null() & (pl.col("t") >= day_start)))
                _write(self.sinks, name, frame)
        return {name: pl.concat(parts) for name, parts in errors.items() if parts}

    def _inject(self, name: str, frame: pl.DataFrame, limit: int | None) -> pl.DataFrame:
        """Apply the pending malformed-line injections that fall in ``frame``."""
        todo = [x for x in self.injections if x[0] == name and (limit is None or x[1] < limit)]
        added = []
        for item in todo:
            _, at, text, access = item
            if text is not None:
                added.append(extra_lines(frame, [(at, text)]))
                self.injections.remove(item)
                continue
            torn = truncated_copies(frame, at, access=access)
            if torn.height:
                added.append(torn)
                self.injections.remove(item)
        return pl.concat([frame, *added]) if added else frame


def _injections(rng: np.random.Generator, plan, chosen: tuple[str, ...]) -> list[tuple[str, int, str | None, bool]]:
    """Malformed lines of the incident day, as (writer, time, foreign text or
    None for a torn copy of the first clean line at/after time, access log)."""
    d0 = plan.deploy[0]
    day = plan.day_start
    h = 3_600_000
    out: list[tuple[str, int, str | None, bool]] = []
    if "app" in chosen:
        out += [
            ("app", d0 - 60_000, None, False),
            ("app", d0 - 1_500, f"[{_clock(d0 - 1_500)} +0000] [7] [INFO] Handling signal: term", False),
        ]
        out += [("app", int(t), None, False) for t in np.sort(rng.integers(day + 13 * h, day + 23 * h, size=2))]
    if "nginx" in chosen:
        t = d0 + 4_200
        out += [
            ("nginx", int(rng.integers(day + 12 * h, day + 23 * h)), None, True),
            ("nginx", t, f"{_clock(t, '%Y/%m/%d %H:%M:%S')} [error] 31#31: *88213 connect() failed (111: Connection refused) "
                         'while connecting to upstream, client: 10.64.3.17, server: learn.example.edu, '
                         'request: "GET /courses HTTP/1.1", upstream: "http://10.0.1.20:8000/courses", host: "learn.example.edu"',
             False),
        ]
    if "cache" in chosen:
        out.append(("cache", int(rng.integers(day + 1 * h, day + 23 * h)), None, False))
    return out


def _clock(t_ms: int, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    return time.strftime(fmt, time.gmtime(t_ms / 1000))


def _write(sinks: dict[str, Sink], name: str, frame: pl.DataFrame) -> None:
    frame = frame.sort("t", "_i")
    paths = FORMATS[name][0]
    if len(paths) == 2:
        cut = INCIDENT_DAY_MS + ROTATE_AT_MS
        sinks[paths[0]].write(frame.filter(pl.col("t") < cut))
        sinks[paths[1]].write(frame.filter(pl.col("t") >= cut))
    else:
        sinks[paths[0]].write(frame)
