"""Typed results of the timeline stage: the contract between ``timeline`` and
``mining`` / ``report``.  Changing a field here changes public JSON and
Parquet contracts: add, never rename or remove.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import polars as pl


@dataclass(frozen=True)
class TimelineOptions:
    """Settings for the timeline stage (built once from CLI options).

    Attributes
    ----------
    session_gap_s
        Inactivity gap that splits a user's events into sessions when no
        session field exists (``--session-gap``, default 30 min).
    bin_s
        Error-rate bin width in seconds; ``None`` chooses from the data's span
        (``--bin``).
    client_errors
        Count HTTP 4xx as errors too (default: counted separately).
    incident
        A user-given burst window ``(start, end)`` in UTC (``--incident``);
        when set, burst detection is replaced by this window.
    merge_gap_bins
        Quiet bins allowed inside a burst before it splits.
    threshold_sigma
        Unused since bursts are judged as rates against traffic (see
        ``burst_alpha``); kept because it is part of the ``parameters``
        document of ``scan --json`` and the export metadata.
    min_burst_errors
        A burst needs at least this many errors.
    fade_gap_s
        A quiet gap inside a burst shorter than this is no fade: it does not
        start a new onset.
    reonset_gap_s
        Error segments separated by a quiet gap shorter than this are one
        burst with several ``onsets``; a longer gap starts a new burst.
    session_pattern
        Regex that pulls a session id out of the message of rows without a
        session (``--session-pattern``; HDFS: ``blk_-?\\d+``); the first
        capture group when it has one, else the whole match.
    template_actions
        Session rows of sources without any action field take their
        message template as action (:mod:`forensics.timeline.templates`).
    burst_alpha
        False-alarm budget of burst detection: the expected number of hot
        bins in data without any burst (Bonferroni over all component-bin
        tests; :mod:`forensics.timeline.exposure`).
    """

    session_gap_s: float = 1800.0
    bin_s: float | None = None
    client_errors: bool = False
    incident: tuple[datetime, datetime] | None = None
    merge_gap_bins: int = 2
    threshold_sigma: float = 6.0
    min_burst_errors: int = 10
    fade_gap_s: float = 600.0
    reonset_gap_s: float = 3600.0
    session_pattern: str | None = None
    template_actions: bool = True
    burst_alpha: float = 0.01


@dataclass(frozen=True)
class CascadeStep:
    """One component's part in one burst, in order of first error."""

    component: str
    first_error: datetime
    errors: int
    error_kinds: tuple[str, ...]
    lead_s: float | None  # seconds until the next component's first error; None for the last


@dataclass(frozen=True)
class Burst:
    """An error burst (or a user-given incident window)."""

    id: int
    start: datetime  # first error event of the burst (to the microsecond), not a bin edge
    end: datetime  # last error event of the burst
    errors: int
    peak_per_min: float
    users_affected: int
    users_affected_share: float  # of users active during the burst
    sessions_affected: int
    sessions_affected_share: float
    onsets: tuple[datetime, ...]  # start, then each re-onset after a fade
    cascade: tuple[CascadeStep, ...] = ()
    user_given: bool = False


@dataclass(frozen=True)
class Timeline:
    """Everything later stages need.

    Attributes
    ----------
    events
        The canonical events plus ``is_error`` (Bool), ``is_client_error``
        (Bool), ``error_kind`` (String), ``session_key`` (String, null when
        the event belongs to no user session), ``is_action`` (Bool: this row
        is the one user action of its request), ``burst_id`` (Int32, null
        outside bursts).  Sorted by ``ts``.
    actions
        One row per user action, sorted by ``session_key``, ``ts``:
        ``seq`` (0-based position in the session), ``failed`` (Bool: an
        error was linked to this action's request), ``resources``
        (List[String]: cache keys / resources touched by the request,
        through request ids), then ``row``: the action's row in ``events``
        (:func:`forensics.timeline.sessions.action_rows` adds its event
        columns, e.g. ``session_key``, ``ts``, ``action``, ``user``,
        ``request_id``; :func:`~forensics.timeline.sessions.session_actions`
        selects the actions of some sessions).
    sessions
        One row per session: ``session_key``, ``user``, ``start``, ``end``,
        ``n_actions``, ``first_error`` (Datetime or null: first error linked
        to the session).
    session_errors
        First linked error per (session, burst): ``session_key``,
        ``burst_id``, ``first_error``.
    bursts
        Detected bursts, in time order.
    error_rate
        Per bin: ``bin_start``, ``events``, ``errors``, ``baseline``,
        ``threshold``, ``hot`` (Bool), ``burst_id``.
    bin_s
        Bin width used.
    templates
        The template table (``template_id``, ``template``, ``count``,
        ``example``) when message templates were used as actions, else
        ``None``; :func:`forensics.timeline.templates.template_table`
        computes it on demand.
    """

    events: pl.DataFrame
    actions: pl.DataFrame
    sessions: pl.DataFrame
    session_errors: pl.DataFrame
    bursts: tuple[Burst, ...]
    error_rate: pl.DataFrame
    bin_s: float
    options: TimelineOptions = field(default_factory=TimelineOptions)
    templates: pl.DataFrame | None = None
