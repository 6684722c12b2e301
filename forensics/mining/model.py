"""Settings and typed results of the mining stage.

The JSON produced from these by :func:`forensics.mining.mining_to_json` is a
public contract: keys may be added, never renamed or removed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import polars as pl


@dataclass(frozen=True)
class MiningOptions:
    """How suspects are mined and tested (built once from CLI options).

    Attributes
    ----------
    lookback_s
        Pre-onset window length: actions in ``[onset - lookback, onset)``
        (``--lookback``).  The window of a re-onset never reaches back past
        the previous onset, so one completion is never credited twice.
    max_len
        Longest sequence, in actions (``--max-len``).
    max_gap
        Other actions allowed between two consecutive steps (``--max-gap``).
    max_span_s
        Longest time from first to last step of one occurrence.
    max_support
        A suspect's session support over the whole log must be below this
        share of sessions (``--max-support``); more frequent sequences of
        failing sessions are reported as ``affected_paths``.
    alpha
        False discovery rate for Benjamini-Hochberg q-values.
    min_risk_ratio
        Effect-size floor for session enrichment (evidence b).
    min_rate_ratio
        Effect-size floor for onset precedence (evidence a): completions
        inside the pre-onset windows over the number expected from the
        sequence's baseline rate.
    onset_slack_s
        A completion up to this long *after* an onset still counts as before
        it (timestamp precision and clock skew between logs; a request's
        action line is often logged when it ends, after the error it
        caused).  Only other sessions' errors define onsets; a session's own
        actions after its first error never count.
    top
        Most suspects (and affected paths) reported.
    examples
        Example sessions listed per suspect.

    Examples
    --------
    >>> MiningOptions(lookback_s=300).max_len
    6
    """

    lookback_s: float = 600.0
    max_len: int = 6
    max_gap: int = 2
    max_span_s: float = 1800.0
    max_support: float = 0.01
    alpha: float = 0.05
    min_risk_ratio: float = 2.0
    min_rate_ratio: float = 10.0
    onset_slack_s: float = 1.0
    top: int = 10
    examples: int = 3


@dataclass(frozen=True)
class ResourceLink:
    """A resource one suspect occurrence touched, and what happened to it later."""

    resource: str
    touched_at: datetime
    step: str  # the action whose request touched it
    step_index: int  # 1-based step of the sequence
    errors_after: int  # error events with this key after the completion
    first_error_after: datetime | None


@dataclass(frozen=True)
class OnsetLead:
    """How long before one onset the closest completion fell."""

    burst_id: int
    onset: datetime
    lead_s: float


@dataclass(frozen=True)
class Suspect:
    """One ranked suspect sequence (a closed pattern) with its evidence."""

    rank: int
    sequence: tuple[str, ...]
    burst_ids: tuple[int, ...]
    lead_time_s: tuple[OnsetLead, ...]
    sessions: int  # session support over the whole log
    users: int
    completions: int  # eligible completions (docs/statistics.md, "Occurrences")
    baseline_rate_per_hour: float
    p_onset: float  # evidence (a)
    p_enrichment: float  # evidence (b)
    p_value: float  # 2 * min(p_onset, p_enrichment), capped at 1
    q_value: float
    risk_ratio: float
    rate_ratio: float
    failing_with: int
    control_with: int
    significant: bool
    resources: tuple[ResourceLink, ...]
    explanation: str
    example_sessions: tuple[str, ...]
    #: evidence (c), resource linkage (docs/statistics.md); 1 when untested
    p_link: float = 1.0
    #: the family that decided significance: onset, link or enrichment ("" for runners-up)
    deciding: str = ""
    #: sub-sequences with the same supporting sessions, then the candidates
    #: dropped in stage 2 because their evidence is this suspect's occurrences
    collapsed: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True)
class AffectedPath:
    """A frequent path that failing sessions passed through before their error."""

    sequence: tuple[str, ...]
    failing_sessions: int
    share: float  # of failing sessions
    sessions: int  # session support over the whole log


@dataclass(frozen=True)
class BurstVerdict:
    """Whether any significant suspect explains one burst."""

    burst_id: int
    explained: bool
    suspect_ranks: tuple[int, ...]
    note: str


@dataclass(frozen=True)
class MiningResult:
    """Everything the report and export need from mining."""

    suspects: tuple[Suspect, ...]
    runners_up: tuple[Suspect, ...]  # best non-significant candidates, for transparency
    affected_paths: tuple[AffectedPath, ...]
    burst_verdicts: tuple[BurstVerdict, ...]
    candidates: int  # distinct patterns (length >= 2) generated from the windows
    candidates_rare: int
    candidates_tested: int  # size of the tested family (after collapse and Tarone)
    options: MiningOptions = field(default_factory=MiningOptions)
    #: one row per step of every occurrence of every suspect: rank, occurrence,
    #: session_key, user, step, ts, action, request_id, row
    steps: pl.DataFrame | None = None
    #: significant (stage 1) candidates dropped because a higher-ranked
    #: suspect explains their onsets and the rest was not significant
    #: (docs/statistics.md, "Credit, explaining away and ranking")
    explained_away: int = 0
    #: what ``alpha`` bounds: "FWER" (family-wise error: weighted Holm, onset
    #: mode) or "FDR" (false discovery rate: BH, labeled mode)
    error_control: str = "FDR"
