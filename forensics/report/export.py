"""``forensics scan --export DIR``: the results as Parquet files analysts keep.

Files (columns and types are a public contract, documented in
``docs/contracts.md``, "Parquet export"; add columns, never rename or remove):

``suspects.parquet``
    One row per suspect, best first.
``evidence.parquet``
    Every event of every suspect occurrence (web, app, cache, db lines
    reached through the steps' request ids).
``bursts.parquet``
    One row per burst, with its verdict.
``cascade.parquet``
    One row per component per burst, in order of first error.
``error_rate.parquet``
    The error-rate bins the bursts were found in.
``events.parquet``
    With ``events=True``: every normalized event plus the timeline columns.

Every file carries key-value metadata ``forensics.version``,
``forensics.inputs``, ``forensics.parameters`` (every setting, JSON) and
``forensics.table``.  Each file is written atomically (temporary file, then
rename), so an interrupted run leaves no half-written file.

>>> import tempfile
>>> from forensics.scan import run_scan
>>> from forensics.report.export import export_scan
>>> names = {p.name for p in export_scan(run_scan(["sample_logs/"]), tempfile.mkdtemp())}
>>> {"suspects.parquet", "evidence.parquet", "bursts.parquet"} <= names
True
"""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl

from .. import __version__
from ..io import write_parquet
from ..mining import evidence_frame

TS = pl.Datetime("us", "UTC")

RESOURCE_TYPE = pl.Struct({
    "resource": pl.String, "touched_at": TS, "step": pl.String, "step_index": pl.Int32,
    "errors_after": pl.Int64, "first_error_after": TS,
})

SUSPECT_SCHEMA: dict[str, pl.DataType] = {
    "rank": pl.Int32, "sequence": pl.List(pl.String), "sequence_text": pl.String, "length": pl.Int32,
    "burst_ids": pl.List(pl.Int32), "onsets": pl.List(TS), "lead_s": pl.List(pl.Float64),
    "min_lead_s": pl.Float64, "sessions": pl.Int64, "users": pl.Int64, "completions": pl.Int64,
    "baseline_rate_per_hour": pl.Float64, "p_onset": pl.Float64, "p_enrichment": pl.Float64,
    "p_value": pl.Float64, "q_value": pl.Float64, "risk_ratio": pl.Float64, "rate_ratio": pl.Float64,
    "failing_with": pl.Int64, "control_with": pl.Int64, "significant": pl.Boolean,
    "resources": pl.List(RESOURCE_TYPE), "linked_resources": pl.List(pl.String),
    "explanation": pl.String, "example_sessions": pl.List(pl.String), "collapsed": pl.List(pl.String),
    # added in 0.2 (issue 14), at the end: evidence (c) and the deciding family
    "p_link": pl.Float64, "deciding": pl.String,
}

EVIDENCE_SCHEMA: dict[str, pl.DataType] = {
    "rank": pl.Int32, "session": pl.String, "user": pl.String, "ts": TS, "action": pl.String,
    "component": pl.String, "source": pl.String, "line": pl.Int64, "step": pl.Int32,
    "level": pl.String, "status": pl.Int32, "request_id": pl.String, "key": pl.String,
    "is_error": pl.Boolean, "message": pl.String,
}

BURST_SCHEMA: dict[str, pl.DataType] = {
    "burst_id": pl.Int32, "start": TS, "end": TS, "errors": pl.Int64, "peak_per_min": pl.Float64,
    "users_affected": pl.Int64, "users_affected_share": pl.Float64, "sessions_affected": pl.Int64,
    "sessions_affected_share": pl.Float64, "onsets": pl.List(TS), "user_given": pl.Boolean,
    "explained": pl.Boolean, "suspect_ranks": pl.List(pl.Int32), "verdict": pl.String,
}

CASCADE_SCHEMA: dict[str, pl.DataType] = {
    "burst_id": pl.Int32, "order": pl.Int32, "component": pl.String, "first_error": TS,
    "offset_s": pl.Float64, "errors": pl.Int64, "error_kinds": pl.List(pl.String), "lead_s": pl.Float64,
}

ERROR_RATE_SCHEMA: dict[str, pl.DataType] = {
    "bin_start": TS, "bin_s": pl.Float64, "events": pl.Int64, "errors": pl.Int64, "baseline": pl.Float64,
    "threshold": pl.Float64, "hot": pl.Boolean, "burst_id": pl.Int32,
}


def _frame(rows: list[dict], schema: dict[str, pl.DataType]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)


def suspects_frame(result) -> pl.DataFrame:
    """One row per suspect of a :class:`forensics.scan.ScanResult`, best first."""
    rows = []
    for s in result.mining.suspects:
        leads = s.lead_time_s
        rows.append({
            "rank": s.rank, "sequence": list(s.sequence), "sequence_text": " -> ".join(s.sequence),
            "length": len(s.sequence), "burst_ids": list(s.burst_ids),
            "onsets": [x.onset for x in leads], "lead_s": [x.lead_s for x in leads],
            "min_lead_s": min((x.lead_s for x in leads), default=None),
            "sessions": s.sessions, "users": s.users, "completions": s.completions,
            "baseline_rate_per_hour": s.baseline_rate_per_hour, "p_onset": s.p_onset,
            "p_enrichment": s.p_enrichment, "p_value": s.p_value, "q_value": s.q_value,
            "risk_ratio": s.risk_ratio, "rate_ratio": s.rate_ratio, "failing_with": s.failing_with,
            "control_with": s.control_with, "significant": s.significant,
            "p_link": s.p_link, "deciding": s.deciding,
            "resources": [{"resource": r.resource, "touched_at": r.touched_at, "step": r.step,
                           "step_index": r.step_index, "errors_after": r.errors_after,
                           "first_error_after": r.first_error_after} for r in s.resources],
            "linked_resources": [r.resource for r in s.resources if r.errors_after > 0],
            "explanation": s.explanation, "example_sessions": list(s.example_sessions),
            "collapsed": [" -> ".join(c) for c in s.collapsed],
        })
    return _frame(rows, SUSPECT_SCHEMA)


def evidence_table(result) -> pl.DataFrame:
    """Every event of every suspect occurrence, with the event's level,
    status, request id, key and message joined back from the timeline."""
    ev = evidence_frame(result.mining, result.timeline)
    # (source, line, ts) names an event; one line may hold several (an OTLP
    # request), and those at the same time are taken as one (never duplicated)
    extra = result.timeline.events.select("source", "line", "ts", "level", "status", "request_id", "key", "is_error",
                                          "message").unique(["source", "line", "ts"], keep="first", maintain_order=True)
    out = ev.join(extra, on=["source", "line", "ts"], how="left", maintain_order="left")
    return out.select(list(EVIDENCE_SCHEMA)).cast(EVIDENCE_SCHEMA)


def bursts_frame(result) -> pl.DataFrame:
    """One row per burst, with the mining verdict."""
    verdicts = {v.burst_id: v for v in result.mining.burst_verdicts}
    rows = []
    for b in result.timeline.bursts:
        v = verdicts.get(b.id)
        rows.append({
            "burst_id": b.id, "start": b.start, "end": b.end, "errors": b.errors, "peak_per_min": b.peak_per_min,
            "users_affected": b.users_affected, "users_affected_share": b.users_affected_share,
            "sessions_affected": b.sessions_affected, "sessions_affected_share": b.sessions_affected_share,
            "onsets": list(b.onsets), "user_given": b.user_given,
            "explained": None if v is None else v.explained,
            "suspect_ranks": [] if v is None else list(v.suspect_ranks), "verdict": None if v is None else v.note,
        })
    return _frame(rows, BURST_SCHEMA)


def cascade_frame(result) -> pl.DataFrame:
    """One row per component per burst, in order of first error."""
    rows = []
    for b in result.timeline.bursts:
        for i, c in enumerate(b.cascade, start=1):
            rows.append({
                "burst_id": b.id, "order": i, "component": c.component, "first_error": c.first_error,
                "offset_s": (c.first_error - b.start).total_seconds(), "errors": c.errors,
                "error_kinds": list(c.error_kinds), "lead_s": c.lead_s,
            })
    return _frame(rows, CASCADE_SCHEMA)


def error_rate_frame(result) -> pl.DataFrame:
    """The error-rate bins, with the bin width as a column."""
    rate = result.timeline.error_rate.with_columns(pl.lit(result.timeline.bin_s).alias("bin_s"))
    return rate.select(list(ERROR_RATE_SCHEMA)).cast(ERROR_RATE_SCHEMA)


def events_frame(result) -> pl.DataFrame:
    """Every normalized event (canonical columns first) plus the timeline's
    ``is_error``, ``is_client_error``, ``error_kind``, ``is_action``,
    ``session_key``, ``burst_id``."""
    return result.timeline.events


TABLES = {
    "suspects": suspects_frame,
    "evidence": evidence_table,
    "bursts": bursts_frame,
    "cascade": cascade_frame,
    "error_rate": error_rate_frame,
}


def export_metadata(result, table: str) -> dict[str, object]:
    """The key-value metadata written into every exported Parquet file."""
    return {
        "forensics.version": __version__,
        "forensics.table": table,
        "forensics.inputs": list(result.inputs),
        "forensics.parameters": result.settings.to_json(),
    }


def export_scan(result, directory: str | os.PathLike, *, events: bool = False) -> list[Path]:
    """Write the scan's tables as Parquet files into ``directory``.

    Parameters
    ----------
    result
        A :class:`forensics.scan.ScanResult`.
    directory
        Output folder (created if missing).
    events
        Also write the full ``events.parquet``.

    Returns
    -------
    list of Path
        The files written, in order.

    Raises
    ------
    OutputError
        A file could not be written (the previous file of that name, if any,
        is left untouched).
    """
    directory = Path(directory)
    tables = dict(TABLES)
    if events:
        tables["events"] = events_frame
    written = []
    for name, build in tables.items():
        path = directory / f"{name}.parquet"
        write_parquet(build(result), path, metadata=export_metadata(result, name))
        written.append(path)
    return written
