"""Suspect mining: rank the rare action sequences that set off each burst.

>>> from forensics.mining import mine, mining_to_json, MiningOptions  # doctest: +SKIP
>>> result = mine(timeline, options=MiningOptions(lookback_s=300))     # doctest: +SKIP
>>> mining_to_json(result)["suspects"][0]["sequence"]                  # doctest: +SKIP
['edit_profile', 'change_language', 'upload_avatar', 'save_settings']

One core (:mod:`.core`: prepare -> candidates -> evidence -> multiple
testing -> suspects) with two evidence strategies: onsets and session
errors (:mod:`.onsets`, this module's :func:`mine`) and labeled failing
sessions (:mod:`.labeled`, ``--failing``).  docs/statistics.md has every
formula.  Modules: integer-coded actions and candidate growth
(:mod:`.candidates`, :mod:`.growth`), where sequences occur
(:mod:`.occurrences`), closed patterns (:mod:`.closed`), the tests
(:mod:`.stats`), evidence (a) (:mod:`.score`), credit and explaining away
(:mod:`.credit`), resources and explanations (:mod:`.linkage`), missing
steps (:mod:`.missing`).
"""

from __future__ import annotations

from .core import run
from .linkage import evidence_frame
from .model import (AffectedPath, BurstVerdict, MiningOptions, MiningResult, OnsetLead, ResourceLink,
                    Suspect)
from .onsets import OnsetStrategy

__all__ = ["MiningOptions", "MiningResult", "Suspect", "AffectedPath", "BurstVerdict", "ResourceLink",
           "OnsetLead", "mine", "mining_to_json", "evidence_frame", "EVENT_COLUMNS"]

#: The columns of ``Timeline.events`` that mining reads (both strategies);
#: a scan sets the others aside on a large input while it mines
#: (:mod:`forensics.scan_aside`).
EVENT_COLUMNS = ("ts", "session_key", "action", "user", "request_id", "key", "is_error")


def mine(timeline, *, options: MiningOptions = MiningOptions()) -> MiningResult:
    """Mine and rank suspect sequences in a :class:`forensics.timeline.model.Timeline`.

    Parameters
    ----------
    timeline
        The timeline stage's result.
    options
        Mining settings.

    Returns
    -------
    MiningResult
        Significant suspects (best first), runners-up, affected paths, one
        verdict per burst and the counts of candidates generated and tested.
    """
    return run(timeline, OnsetStrategy(), options=options).mining


def _iso(t) -> str | None:
    return None if t is None else t.isoformat().replace("+00:00", "Z")


def _suspect_json(s: Suspect) -> dict:
    return {
        "rank": s.rank,
        "sequence": list(s.sequence),
        "burst_ids": list(s.burst_ids),
        "lead_time_s": [{"burst_id": x.burst_id, "onset": _iso(x.onset), "lead_s": round(x.lead_s, 3)}
                        for x in s.lead_time_s],
        "sessions": s.sessions,
        "users": s.users,
        "baseline_rate_per_hour": s.baseline_rate_per_hour,
        "p_value": s.p_value,
        "q_value": s.q_value,
        "risk_ratio": s.risk_ratio,
        "resources": [{"resource": r.resource, "touched_at": _iso(r.touched_at), "step": r.step,
                       "step_index": r.step_index, "errors_after": r.errors_after,
                       "first_error_after": _iso(r.first_error_after)} for r in s.resources],
        "explanation": s.explanation,
        "example_sessions": list(s.example_sessions),
        "p_onset": s.p_onset,
        "p_enrichment": s.p_enrichment,
        "p_link": s.p_link,
        "deciding": s.deciding,
        "rate_ratio": s.rate_ratio,
        "completions": s.completions,
        "failing_with": s.failing_with,
        "control_with": s.control_with,
        "significant": s.significant,
        "collapsed": [list(c) for c in s.collapsed],
    }


def mining_to_json(result: MiningResult) -> dict:
    """The JSON-ready dict of a :class:`MiningResult` (stable keys; see README).

    >>> mining_to_json(MiningResult((), (), (), (), 0, 0, 0))["suspects"]
    []
    """
    return {
        "suspects": [_suspect_json(s) for s in result.suspects],
        "runners_up": [_suspect_json(s) for s in result.runners_up],
        "affected_paths": [{"sequence": list(a.sequence), "failing_sessions": a.failing_sessions,
                            "share": a.share, "sessions": a.sessions} for a in result.affected_paths],
        "burst_verdicts": [{"burst_id": v.burst_id, "explained": v.explained,
                            "suspect_ranks": list(v.suspect_ranks), "note": v.note} for v in result.burst_verdicts],
        "candidates_tested": result.candidates_tested,
        "candidates": result.candidates,
        "candidates_rare": result.candidates_rare,
        "explained_away": result.explained_away,
        "error_control": result.error_control,
    }
