"""The alerts of ``forensics watch``: one JSON object each (a public contract,
docs/watch.md), printed as JSON lines with ``--json`` and handed to
``--exec`` hooks on stdin.

Every alert has ``kind`` (``onset``, ``suspects`` or ``guard``),
``raised_at`` (the watch's clock when it was raised) and ``at`` (when what
it reports happened: the onset, or the guarded sequence's completion);
``delay_s`` is ``raised_at - at``.  Times are ISO-8601 UTC with ``Z``.
Log content inside (action names, resources, session ids) is data: a
terminal view escapes it (:func:`forensics.sanitize.terminal_safe`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ..mining.model import MiningResult, Suspect
from ..timeline.model import Burst
from .guard import Completion

#: Order of kinds raised in one evaluation.
_KIND_ORDER = {"onset": 0, "suspects": 1, "guard": 2}


def iso(t: datetime | None) -> str | None:
    """``t`` as ISO-8601 UTC with ``Z`` (None stays None)."""
    if t is None:
        return None
    return t.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Alert:
    """One alert: its kind, when it was raised, when what it reports
    happened, and the kind's own fields (``data``)."""

    kind: str
    raised_at: datetime
    at: datetime
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def order(self) -> tuple:
        return (self.at, _KIND_ORDER[self.kind])

    def to_json(self) -> dict[str, Any]:
        """The alert's JSON object (see the module docstring)."""
        return {"kind": self.kind, "raised_at": iso(self.raised_at), "at": iso(self.at),
                "delay_s": round((self.raised_at - self.at).total_seconds(), 3), **self.data}


def _cascade(b: Burst, onset: datetime) -> list[dict]:
    return [{"component": s.component, "first_error": iso(s.first_error),
             "offset_s": round((s.first_error - onset).total_seconds(), 3), "errors": s.errors,
             "error_kinds": list(s.error_kinds)} for s in b.cascade]


def onset_alert(b: Burst, onset: datetime, *, raised_at: datetime) -> Alert:
    """A burst onset (``reonset``: a later onset of the same burst)."""
    first = b.cascade[0].component if b.cascade else None
    return Alert("onset", raised_at, onset, {
        "reonset": onset != min(b.onsets, default=onset),
        "component": first,
        "errors_so_far": b.errors,
        "users_affected": b.users_affected,
        "sessions_affected": b.sessions_affected,
        "cascade": _cascade(b, onset),
    })


def _suspect(s: Suspect, onset: datetime) -> dict:
    lead = next((x.lead_s for x in s.lead_time_s if x.onset == onset), None)
    return {
        "rank": s.rank, "sequence": list(s.sequence), "significant": s.significant,
        "p_value": s.p_value, "q_value": s.q_value, "lead_s": None if lead is None else round(lead, 3),
        "sessions": s.sessions, "completions": s.completions, "example_sessions": list(s.example_sessions),
        "resources": [{"resource": r.resource, "touched_at": iso(r.touched_at), "step": r.step,
                       "errors_after": r.errors_after, "first_error_after": iso(r.first_error_after)}
                      for r in s.resources],
        "erring_resources": sorted({r.resource for r in s.resources if r.errors_after > 0}),
        "explanation": s.explanation,
    }


def suspects_alert(b: Burst, onset: datetime, mined: MiningResult, *, raised_at: datetime,
                   top: int = 5) -> Alert:
    """The ranked sequences before ``onset``: the significant suspects
    credited with its burst, else the best runners-up (``significant``
    false: too little data yet to be sure)."""
    ranked = [s for s in mined.suspects if b.id in s.burst_ids]
    if not ranked:
        ranked = list(mined.runners_up)
    return Alert("suspects", raised_at, onset, {
        "suspects": [_suspect(s, onset) for s in ranked[:top]],
        "candidates_tested": mined.candidates_tested,
    })


def guard_alert(c: Completion, *, raised_at: datetime) -> Alert:
    """A guarded sequence completed again."""
    request_ids = [s["request_id"] for s in c.steps if s["request_id"]]
    resources = sorted({r for s in c.steps for r in s["resources"]})
    return Alert("guard", raised_at, c.completed_at, {
        "sequence": list(c.guard.sequence),
        "guard_rank": c.guard.rank,
        "session": c.session,
        "user": c.user,
        "started_at": iso(c.started_at),
        "request_ids": request_ids,
        "resources": resources,
        "watched_resources": sorted(set(resources) & set(c.guard.linked_resources)),
        "steps": list(c.steps),
    })
