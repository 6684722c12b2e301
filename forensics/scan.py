"""The whole pipeline in one call: ``ingest -> timeline -> mining``.

>>> from forensics.scan import run_scan, ScanSettings
>>> result = run_scan(["sample_logs/"], settings=ScanSettings())
>>> result.mining.suspects[0].sequence
('start_quiz', 'switch_language', 'download_material', 'submit_quiz')
"""

from __future__ import annotations

import os
from pathlib import Path
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

import polars as pl

from . import __version__
from .errors import DataError
from .sanitize import terminal_safe
from . import scan_cache
from .scan_aside import Plan as AsidePlan, put_back, set_aside_for_mining
from .spill import spill_folder
from .ingest import IngestOptions, IngestResult, discover, ingest
from .mining import mine, mining_to_json
from .mining.labeled import FailingLabels, LabeledResult, mine_labeled, read_failing
from .mining.missing import missing_to_json
from .mining.model import MiningOptions, MiningResult
from .timeline import analysis_columns, build_timeline
from .timeline.export import bursts_to_json
from .timeline.incident import parse_incident
from .timeline.model import Timeline, TimelineOptions
from .timeline.sessions import session_pattern_group

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class FailingSettings:
    """``--failing FILE`` and its options: labeled failing sessions.

    Attributes
    ----------
    path
        CSV of session ids with a label column (HDFS ``anomaly_label.csv``).
    id_column, label_column
        Column names; ``None``: the first column / the first column named
        like label, status, outcome (:func:`forensics.mining.labeled.read_failing`).
    values
        Label values that mean failing (case-insensitive); ``None``: Anomaly,
        failed, fail, error, 1, true and similar.
    scope
        ``before_error`` (a failing session's actions before its first
        error) or ``whole`` (all its actions).
    min_control_share
        A "never reached" step is reached by at least this share of the
        other sessions.
    """

    path: str
    id_column: str | None = None
    label_column: str | None = None
    values: tuple[str, ...] | None = None
    scope: str = "before_error"
    min_control_share: float = 0.9


@dataclass(frozen=True)
class ScanSettings:
    """Every setting of a scan, built once from CLI options."""

    ingest: IngestOptions = field(default_factory=IngestOptions)
    timeline: TimelineOptions = field(default_factory=TimelineOptions)
    mining: MiningOptions = field(default_factory=MiningOptions)
    #: ``--incident`` as typed (``16:10..16:30``); resolved against the data's
    #: dates after ingest into ``timeline.incident``.
    incident_spec: str | None = None
    #: ``--failing``: mine against labeled failing sessions instead of bursts.
    failing: FailingSettings | None = None
    #: Keep every column of every event (``--export-events``).  By default
    #: events are reduced while ingesting to what the analysis reads
    #: (:func:`forensics.timeline.analysis_columns`: ``attrs`` only where it
    #: is looked into), which bounds memory on large inputs.
    full_events: bool = False

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
            "failing": clean(asdict(self.failing)) if self.failing else None,
        }


@dataclass(frozen=True)
class ScanResult:
    """Typed results of every stage."""

    inputs: tuple[str, ...]
    settings: ScanSettings
    ingest: IngestResult
    timeline: Timeline
    mining: MiningResult
    #: With ``--failing``: labeled mining (its ``mining`` is ``self.mining``)
    #: and the missing steps.
    labeled: LabeledResult | None = None

    def to_json(self) -> dict[str, Any]:
        """The ``forensics scan --json`` document (stable keys, additive only).

        Every ``suspects`` entry has a ``kind``: ``sequence``, or with
        ``--failing`` also ``missing_step`` ("never reached: X", ranked after
        the sequences); ``labels`` summarizes the labeled sessions (``null``
        without ``--failing``).
        """
        bursts = bursts_to_json(self.timeline)
        mined = mining_to_json(self.mining)
        if self.labeled is not None:
            suspects = _labeled_suspects(self.labeled, mined["suspects"])
        else:
            suspects = [{**x, "kind": x.get("kind", "sequence")} for x in mined["suspects"]]
        return {
            "tool": {"name": "forensics", "version": __version__},
            "inputs": list(self.inputs),
            "ingest": self.ingest.accounting.to_json(),
            "bursts": bursts["bursts"],
            "suspects": suspects,
            "affected_paths": mined["affected_paths"],
            "burst_verdicts": mined.get("burst_verdicts", []),
            "candidates_tested": mined.get("candidates_tested"),
            "error_control": mined.get("error_control"),
            "bin_s": bursts.get("bin_s"),
            "parameters": self.settings.to_json(),
            "labels": _labels_summary(self.labeled) if self.labeled is not None else None,
        }


def run_scan(
    paths: Sequence[str | os.PathLike],
    *,
    settings: ScanSettings | None = None,
    progress: Progress | None = None,
) -> ScanResult:
    """Run ingest, timeline and mining over ``paths``.

    With a cache folder (``settings.ingest.cache_dir``), a scan that was run
    before over the same unchanged files with the same settings and code is
    loaded from :mod:`forensics.scan_cache` instead of computed, and new
    results are stored there.

    Raises
    ------
    InputError
        Nothing could be read.
    DataError
        The inputs hold no events with a readable time.
    """
    settings = settings or ScanSettings()
    if settings.timeline.session_pattern:
        session_pattern_group(settings.timeline.session_pattern)  # a bad regex fails before the long ingest
    key = _result_key(paths, settings)
    if key is not None:
        cached = scan_cache.load(Path(settings.ingest.cache_dir), key, ScanResult, settings)
        if cached is not None:
            if progress:
                progress("cached result", 1, 1)
            return cached
    result = _run(paths, settings, progress)
    if key is not None:
        scan_cache.save(Path(settings.ingest.cache_dir), key, result)
    return result


def _result_key(paths: Sequence[str | os.PathLike], settings: ScanSettings) -> str | None:
    """The whole-result cache key (:mod:`forensics.scan_cache`), or None when
    caching is off or an input path has a problem (that run is not cached)."""
    if not settings.ingest.cache_dir:
        return None
    try:
        files, errors, _ = discover(paths)
    except Exception:  # noqa: BLE001 - the run itself reports input problems
        return None
    if errors:
        return None
    extra = [Path(settings.failing.path)] if settings.failing else []
    doc = {**settings.to_json(), "full_events": settings.full_events}
    if settings.failing:
        try:
            doc["failing_sha256"] = scan_cache.file_digest(settings.failing.path)
        except OSError:
            return None  # the run reports the unreadable labels file
    return scan_cache.scan_key([f for f, _, _ in files], [str(p) for p in paths], doc, extra)


@dataclass(frozen=True)
class TimelineRun:
    """What :func:`run_timeline` returns: the ingest and timeline results."""

    ingest: IngestResult
    timeline: Timeline
    #: the event columns set aside until mining is done (:func:`timeline_of`
    #: with ``aside=True``); :meth:`whole` reads them back
    aside: AsidePlan | None = None

    def whole(self) -> TimelineRun:
        """This run with the columns set aside read back (itself when none were)."""
        if self.aside is None:
            return self
        return TimelineRun(*put_back(self.ingest, self.timeline, self.aside))


def run_timeline(
    paths: Sequence[str | os.PathLike],
    *,
    settings: ScanSettings | None = None,
    progress: Progress | None = None,
    aside: bool = False,
) -> TimelineRun:
    """Run ``ingest -> timeline`` over ``paths`` exactly as :func:`run_scan`
    does (same settings, same ``--incident`` resolution); ``forensics bursts``.
    ``aside``: as :func:`timeline_of` (the ingest's frames are freed when this
    returns).

    Raises
    ------
    InputError
        Nothing could be read.
    DataError
        The inputs hold no events with a readable time.
    UsageError
        A bad ``--session-pattern`` or ``--incident``.
    """
    settings = settings or ScanSettings()
    if settings.timeline.session_pattern:
        session_pattern_group(settings.timeline.session_pattern)  # a bad regex fails before the long ingest
    project = None if settings.full_events else analysis_columns()
    ing = ingest(paths, options=settings.ingest, progress=progress, project=project)
    return timeline_of(ing, settings=settings, progress=progress, aside=aside)


def timeline_of(ing: IngestResult, *, settings: ScanSettings, progress: Progress | None = None,
                aside: bool = False) -> TimelineRun:
    """The timeline stage of :func:`run_timeline` over events ingested
    already (by ``ingest`` with ``scan``'s projection, or by another engine:
    :mod:`forensics.spark`).  With ``aside``, on a large input the event
    columns mining does not read wait on disk until :func:`mine_timeline`
    reads them back (:mod:`forensics.scan_aside`): the caller must then hold
    no other reference to ``ing``, or they stay in memory too."""
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
    # The timeline adds columns and puts linked users and sessions into
    # theirs in place: every column it leaves unchanged is the ingest's, one
    # copy in memory for both frames (a check by content materialized the
    # constant columns of both: 10 s and 1.7 GB at 49M events).
    if not aside:
        return TimelineRun(ing, tl)
    ing, tl, plan = set_aside_for_mining(ing, tl, folder=spill_folder(settings.ingest.cache_dir))
    return TimelineRun(ing, tl, plan)


def _run(paths: Sequence[str | os.PathLike], settings: ScanSettings, progress: Progress | None) -> ScanResult:
    labels = read_labels(settings)
    run = run_timeline(paths, settings=settings, progress=progress, aside=True)
    return mine_timeline(run, tuple(str(p) for p in paths), settings=settings, labels=labels, progress=progress)


def read_labels(settings: ScanSettings) -> FailingLabels | None:
    """The ``--failing`` labels of ``settings`` (None without), read before
    the long ingest so that a bad labels file fails first."""
    fs = settings.failing
    return (read_failing(fs.path, id_column=fs.id_column, label_column=fs.label_column, failing_values=fs.values)
            if fs else None)


def mine_timeline(run: TimelineRun, inputs: tuple[str, ...], *, settings: ScanSettings,
                  labels: FailingLabels | None = None, progress: Progress | None = None) -> ScanResult:
    """The mining stage of :func:`run_scan` over a :class:`TimelineRun`
    (``labels``: from :func:`read_labels`), and the :class:`ScanResult`
    (with the columns the run set aside read back)."""
    tl, fs = run.timeline, settings.failing
    if progress:
        progress("mining", 0, 1)
    labeled = None
    try:
        if labels is not None:
            check_failing_matches(labels, tl)
            labeled = mine_labeled(tl, labels, options=settings.mining, scope=fs.scope,
                                   min_control_share=fs.min_control_share)
            mined = labeled.mining
        else:
            mined = mine(tl, options=settings.mining)
    except BaseException:
        if run.aside is not None:
            run.aside.discard()
        raise
    if progress:
        progress("mining", 1, 1)
    run = run.whole()
    return ScanResult(inputs, settings, run.ingest, run.timeline, mined, labeled)


def check_failing_matches(labels: FailingLabels, timeline: Timeline, *, examples: int = 2) -> int:
    """The number of ``labels``' failing ids that are sessions of ``timeline``.

    Raises
    ------
    DataError
        The file marks no id as failing, or none of its failing ids is a
        session (wrong file, or sessions not keyed like the ids: see
        ``--session-pattern``); the message shows what both look like.
    """
    where = f"--failing {labels.path}"
    if not labels.failing:
        raise DataError(f"{where}: none of its {labels.listed:,} ids is labeled failing "
                        f"(label column {labels.label_column!r}, failing values {', '.join(labels.failing_values)})")
    ids = pl.Series("id", sorted(labels.failing), dtype=pl.String)
    keys = timeline.sessions.get_column("session_key").drop_nulls()
    matched = int(ids.is_in(keys.implode()).sum())
    if matched == 0:
        def show(values: list) -> str:
            return ", ".join(repr(terminal_safe(v, max_len=20)) for v in values) or "none"

        raise DataError(f"{where}: none of its {len(ids):,} failing ids matched a session "
                        f"(ids look like {show(ids.head(examples).to_list())}; "
                        f"sessions like {show(keys.head(examples).to_list())}); check the file and --session-pattern")
    return matched


def _labeled_suspects(result: LabeledResult, sequence_json: list[dict]) -> list[dict]:
    """``suspects`` of ``scan --json`` with ``--failing``: the sequence
    suspects (``sequence_json``, as :func:`forensics.mining.mining_to_json`
    wrote them, ranks unchanged so they match ``MiningResult.steps`` and the
    export) with ``kind`` = ``sequence``, then the missing steps with
    ``kind`` = ``missing_step``, ranked after them."""
    entries = [{**s, "kind": s.get("kind", "sequence")} for s in sequence_json]
    start = max((s["rank"] for s in entries), default=0)
    for m in result.missing:
        entries.append({**missing_to_json(m), "rank": start + m.rank})
    return entries


def _labels_summary(result: LabeledResult) -> dict:
    """The ``labels`` key of ``scan --json``."""
    out = {"failing_sessions": result.n_failing, "control_sessions": result.n_control,
           "unmatched_failing_ids": result.unmatched, "scope": result.scope,
           "missing_steps_tested": result.missing_tested, "window": result.window}
    if result.labels is not None:
        out["file"] = result.labels.to_json()
    return out
