"""JSON form of a timeline's bursts (``forensics bursts --json``, reused by
``forensics scan --json``).  Timestamps are ISO-8601 UTC with ``Z``."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from .model import Burst, CascadeStep, Timeline


def iso(dt: datetime | None) -> str | None:
    """``2023-11-02T16:14:58Z`` (microseconds only when non-zero).

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> iso(datetime(2023, 11, 2, 16, 14, 58, 1500, tzinfo=timezone.utc))
    '2023-11-02T16:14:58.001500Z'
    """
    if dt is None:
        return None
    if dt.tzinfo is not None:
        dt = dt.astimezone(timezone.utc).replace(tzinfo=None)
    return dt.isoformat(timespec="microseconds" if dt.microsecond else "seconds") + "Z"


def step_to_json(step: CascadeStep) -> dict[str, Any]:
    """One cascade step as a JSON object."""
    return {
        "component": step.component,
        "first_error": iso(step.first_error),
        "errors": step.errors,
        "error_kinds": list(step.error_kinds),
        "lead_s": None if step.lead_s is None else round(step.lead_s, 6),
    }


def burst_to_json(burst: Burst) -> dict[str, Any]:
    """One burst as a JSON object."""
    return {
        "id": burst.id,
        "start": iso(burst.start),
        "end": iso(burst.end),
        "errors": burst.errors,
        "peak_per_min": burst.peak_per_min,
        "users_affected": burst.users_affected,
        "users_affected_share": round(burst.users_affected_share, 6),
        "sessions_affected": burst.sessions_affected,
        "sessions_affected_share": round(burst.sessions_affected_share, 6),
        "onsets": [iso(o) for o in burst.onsets],
        "user_given": burst.user_given,
        "cascade": [step_to_json(s) for s in burst.cascade],
    }


def bursts_to_json(timeline: Timeline) -> dict[str, Any]:
    """The ``forensics bursts --json`` document.

    Examples
    --------
    >>> from forensics.schema import empty_events
    >>> from forensics.timeline import build_timeline
    >>> bursts_to_json(build_timeline(empty_events()))
    {'bursts': [], 'bin_s': 10.0, 'error_rate': []}
    """
    rate = timeline.error_rate
    rows = [
        {"bin_start": iso(b), "events": int(n), "errors": int(e), "hot": bool(h), "burst_id": bid}
        for b, n, e, h, bid in rate.select("bin_start", "events", "errors", "hot", "burst_id").iter_rows()
    ]
    return {"bursts": [burst_to_json(b) for b in timeline.bursts], "bin_s": timeline.bin_s, "error_rate": rows}
