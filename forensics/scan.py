"""The whole pipeline in one call: ``ingest -> timeline -> mining``.

>>> from forensics.scan import run_scan, ScanSettings   # doctest: +SKIP
>>> result = run_scan(["sample_logs/"], settings=ScanSettings())  # doctest: +SKIP
>>> result.mining.suspects[0].sequence  # doctest: +SKIP
('switch_language', ...)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

from . import __version__
from .errors import DataError
from .ingest import IngestOptions, IngestResult, ingest
from .mining import mine, mining_to_json
from .mining.model import MiningOptions, MiningResult
from .timeline import build_timeline
from .timeline.export import bursts_to_json
from .timeline.incident import parse_incident
from .timeline.model import Timeline, TimelineOptions

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class ScanSettings:
    """Every setting of a scan, built once from CLI options."""

    ingest: IngestOptions = field(default_factory=IngestOptions)
    timeline: TimelineOptions = field(default_factory=TimelineOptions)
    mining: MiningOptions = field(default_factory=MiningOptions)
    #: ``--incident`` as typed (``16:10..16:30``); resolved against the data's
    #: dates after ingest into ``timeline.incident``.
    incident_spec: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Every parameter, JSON-ready (the ``parameters`` key of ``scan --json``)."""

        def clean(d: dict[str, Any]) -> dict[str, Any]:
            out = {}
            for k, v in d.items():
                if isinstance(v, datetime):
                    v = v.isoformat().replace("+00:00", "Z")
                elif isinstance(v, tuple):
                    v = [x.isoformat().replace("+00:00", "Z") if isinstance(x, datetime) else x for x in v]
                out[k] = v
            return out

        return {
            "ingest": clean(asdict(self.ingest)),
            "timeline": clean(asdict(self.timeline)),
            "mining": clean(asdict(self.mining)),
            "incident": self.incident_spec,
        }


@dataclass(frozen=True)
class ScanResult:
    """Typed results of every stage."""

    inputs: tuple[str, ...]
    settings: ScanSettings
    ingest: IngestResult
    timeline: Timeline
    mining: MiningResult

    def to_json(self) -> dict[str, Any]:
        """The ``forensics scan --json`` document (stable keys, additive only)."""
        bursts = bursts_to_json(self.timeline)
        mined = mining_to_json(self.mining)
        return {
            "tool": {"name": "forensics", "version": __version__},
            "inputs": list(self.inputs),
            "ingest": self.ingest.accounting.to_json(),
            "bursts": bursts["bursts"],
            "suspects": mined["suspects"],
            "affected_paths": mined["affected_paths"],
            "burst_verdicts": mined.get("burst_verdicts", []),
            "candidates_tested": mined.get("candidates_tested"),
            "bin_s": bursts.get("bin_s"),
            "parameters": self.settings.to_json(),
        }


def run_scan(
    paths: Sequence[str | os.PathLike],
    *,
    settings: ScanSettings | None = None,
    progress: Progress | None = None,
) -> ScanResult:
    """Run ingest, timeline and mining over ``paths``.

    Raises
    ------
    InputError
        Nothing could be read.
    DataError
        The inputs hold no events with a readable time.
    """
    settings = settings or ScanSettings()
    ing = ingest(paths, options=settings.ingest, progress=progress)
    if ing.events.height == 0:
        raise DataError("no events with a readable timestamp in the input (see `forensics ingest` for the accounting)")
    if progress:
        progress("timeline", 0, 1)
    tl_options = settings.timeline
    if settings.incident_spec:
        ts = ing.events.get_column("ts")
        window = parse_incident(settings.incident_spec, first=ts.min(), last=ts.max())
        tl_options = replace(tl_options, incident=window)
    tl = build_timeline(ing.events, options=tl_options)
    if progress:
        progress("timeline", 1, 1)
        progress("mining", 0, 1)
    mined = mine(tl, options=settings.mining)
    if progress:
        progress("mining", 1, 1)
    return ScanResult(tuple(str(p) for p in paths), settings, ing, tl, mined)
