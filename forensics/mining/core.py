"""One mining core: prepare -> candidates -> evidence -> multiple testing -> suspects.

An *evidence strategy* decides what the failing side is and which evidence
each candidate gets; the core does the rest once for every strategy:

1. ``strategy.prepare``: integer-coded actions (:class:`.candidates.Prepared`)
   with the strategy's failing and control sessions and eligible actions;
2. ``strategy.candidates``: the hypotheses (one row per candidate, with its
   length stratum ``level``) and their counts;
3. ``strategy.evidence``: one :class:`Evidence` per evidence family (a
   p-value, its smallest attainable value, testability and effect size per
   candidate);
4. :func:`multiple_testing` (here): Tarone + BH per family and length
   stratum, ``alpha`` split over all of them (docs/statistics.md, "Multiple
   testing"), the combined p and q and the significance rule;
5. ``strategy.rank``: which significant candidates are reported, in which
   order (credit and explaining away for onsets; risk-ratio bound and
   sub-sequences for labels), and the runners-up;
6. :func:`build_suspects` (here): occurrences, steps, example sessions and
   every :class:`~.model.Suspect` field, with ``strategy.describe`` for what
   only the strategy knows (bursts, onset leads, resources, explanation).

Strategies today: :class:`forensics.mining.onsets.OnsetStrategy` (onsets and
session errors: evidence (a) onset precedence and (b) session enrichment)
and :class:`forensics.mining.labeled.LabeledStrategy` (labeled failing
sessions: enrichment only).  A new evidence family is one more
:class:`Evidence` returned by a strategy's ``evidence``: the number of
families, the split of ``alpha`` and the ``p_value`` factor follow from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import polars as pl

from .candidates import Prepared, us_dt
from .model import BurstVerdict, MiningOptions, MiningResult, OnsetLead, ResourceLink, Suspect
from .occurrences import occurrences
from .stats import enrichment, stratified

#: Columns of ``MiningResult.steps``: one row per step of every occurrence of every suspect.
STEP_SCHEMA = {
    "rank": pl.Int32, "occurrence": pl.Int32, "session_key": pl.String, "user": pl.String,
    "step": pl.Int32, "ts": pl.Datetime("us", "UTC"), "action": pl.String, "request_id": pl.String,
    "row": pl.Int64,
}
#: Best non-significant tested candidates reported as runners-up.
RUNNERS_UP = 5


@dataclass(frozen=True)
class Evidence:
    """One evidence family's test of every candidate (arrays aligned with the candidate rows).

    Attributes
    ----------
    name
        Family name: the scored frame gets ``p_<name>``, ``q_<name>``,
        ``pmin_<name>`` and ``tested_<name>``.
    p, pmin
        The p-value and its smallest attainable value (Tarone).
    testable
        Candidates that may enter the family at all (before Tarone), e.g.
        whose best case could pass the effect-size floor.
    effect, floor
        The effect size and the floor it must reach when this family decides.
    """

    name: str
    p: np.ndarray
    pmin: np.ndarray
    testable: np.ndarray
    effect: np.ndarray
    floor: float
    #: prior weight per candidate for weighted BH (None: equal weights)
    weight: np.ndarray | None = None
    #: the multiple-testing procedure inside each length stratum: "bh"
    #: (false discovery rate) or "holm" (family-wise error rate)
    procedure: str = "bh"


@dataclass(frozen=True)
class EvidenceSet:
    """What ``strategy.evidence`` returns: the families (the first wins ties
    of q-values), extra per-candidate ``columns`` for the scored frame, and
    the strategy's own ``context`` for its ranking (e.g. onset lead times)."""

    families: tuple[Evidence, ...]
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    context: Any = None


@dataclass(frozen=True)
class Candidates:
    """What ``strategy.candidates`` returns.

    ``frame`` has one row per hypothesis: ``gid``, ``length``, ``codes``,
    ``level`` (length stratum), ``support``, ``completions``,
    ``failing_with``, ``control_with``; ``generated`` / ``rare`` are the
    counts reported in :class:`~.model.MiningResult`; ``context`` is the
    strategy's own (e.g. the counted completions); ``affected`` its
    :class:`~.model.AffectedPath` entries.
    """

    frame: pl.DataFrame
    generated: int
    rare: int
    context: Any = None
    affected: tuple = ()  # AffectedPath, when the strategy finds them


@dataclass(frozen=True)
class Ranking:
    """What ``strategy.rank`` returns: the reported rows (best first, with the
    scored columns), the runners-up, extra tests made (added to
    ``candidates_tested``), and the strategy's context for ``describe``."""

    reported: pl.DataFrame
    runners_up: pl.DataFrame
    extra_tested: int = 0
    explained_away: int = 0
    context: Any = None


@dataclass(frozen=True)
class Description:
    """What only the strategy knows about one suspect (``strategy.describe``)."""

    burst_ids: tuple[int, ...]
    explanation: str
    collapsed: tuple[tuple[str, ...], ...] = ()
    leads: tuple[OnsetLead, ...] = ()
    resources: tuple[ResourceLink, ...] = ()
    #: bool per session: sessions that may be shown as examples (None: any)
    example_pool: np.ndarray | None = None


@dataclass(frozen=True)
class SuspectRow:
    """One candidate being turned into a suspect, as ``describe`` sees it."""

    row: dict  # the scored (and ranked) row
    sequence: tuple[str, ...]
    rank: int
    reported: bool  # False: a runner-up
    occurrences: np.ndarray  # (n, k) rows of its eligible occurrences
    steps: pl.DataFrame  # one row per step of them (STEP_SCHEMA)
    rate_per_hour: float


class EvidenceStrategy(Protocol):
    """Where the failing side and the evidence come from (see the module docstring)."""

    #: whether ``--lookback`` shapes the candidate windows
    lookback_applies: bool
    #: families ``alpha`` is split over besides the evidence x length strata
    extra_families: int
    #: burst verdict notes (``{burst}``, ``{rank}``, ``{sequence}``)
    explained_note: str
    unexplained_note: str

    def levels(self, options: MiningOptions) -> int: ...
    def prepare(self, timeline, options: MiningOptions) -> Prepared: ...
    def candidates(self, p: Prepared, options: MiningOptions) -> Candidates: ...
    def evidence(self, p: Prepared, cands: Candidates, options: MiningOptions) -> EvidenceSet: ...
    def rank(self, p: Prepared, cands: Candidates, scored: pl.DataFrame, ev: EvidenceSet, *, timeline,
             strata: int, options: MiningOptions) -> Ranking: ...
    def describe(self, p: Prepared, s: SuspectRow, ranking: Ranking, *, options: MiningOptions) -> Description: ...


@dataclass(frozen=True)
class Run:
    """The mining result and what the strategy produced on the way."""

    mining: MiningResult
    prepared: Prepared
    candidates: Candidates
    ranking: Ranking
    strata: int


def run(timeline, strategy: EvidenceStrategy, *, options: MiningOptions) -> Run:
    """Mine ``timeline`` with ``strategy`` (the whole pipeline of the module docstring)."""
    p = strategy.prepare(timeline, options)
    cands = strategy.candidates(p, options)
    ev = strategy.evidence(p, cands, options)
    strata = len(ev.families) * strategy.levels(options) + strategy.extra_families
    scored = multiple_testing(cands.frame.with_columns(**ev.columns), ev.families, alpha=options.alpha,
                              strata=strata)
    ranking = strategy.rank(p, cands, scored, ev, timeline=timeline, strata=strata, options=options)
    suspects, steps = build_suspects(p, ranking.reported, strategy, ranking, first_rank=1, reported=True,
                                     options=options)
    runners, _ = build_suspects(p, ranking.runners_up, strategy, ranking, first_rank=len(suspects) + 1,
                                reported=False, options=options)
    mined = MiningResult(
        suspects=tuple(suspects), runners_up=tuple(runners), affected_paths=cands.affected,
        burst_verdicts=burst_verdicts(timeline.bursts, suspects, strategy.explained_note,
                                      strategy.unexplained_note),
        candidates=cands.generated, candidates_rare=cands.rare,
        candidates_tested=int(scored["tested"].sum()) + ranking.extra_tested, options=options,
        explained_away=ranking.explained_away,
        error_control="FWER" if ev.families and all(f.procedure == "holm" for f in ev.families) else "FDR",
        steps=pl.concat(steps) if steps else pl.DataFrame(schema=STEP_SCHEMA),
    )
    return Run(mining=mined, prepared=p, candidates=cands, ranking=ranking, strata=strata)


def enrichment_evidence(a: np.ndarray, c: np.ndarray, n1: int, n0: int, *, min_risk_ratio: float) -> Evidence:
    """Evidence (b), session enrichment (docs/statistics.md, "Evidence (b):
    session enrichment"): one-sided Fisher test of ``a`` of ``n1`` failing
    against ``c`` of ``n0`` control sessions, testable when the best case
    could reach the risk-ratio floor."""
    e = enrichment(a, c, n1, n0)
    return Evidence(name="enrichment", p=e["p"], pmin=e["pmin"],
                    testable=e["testable"] & (e["rr_max"] >= min_risk_ratio), effect=e["risk_ratio"],
                    floor=min_risk_ratio)


def multiple_testing(frame: pl.DataFrame, families: Sequence[Evidence], *, alpha: float,
                     strata: int) -> pl.DataFrame:
    """Test every family in every length stratum (``frame["level"]``) at
    ``alpha / strata`` (docs/statistics.md, "Multiple testing").

    Adds per family ``p_<name>`` (1 where untested), ``q_<name>``,
    ``pmin_<name>`` and ``tested_<name>``; then ``p_value`` (``E`` families:
    ``min(1, E * min p)``), ``q_value`` (the smallest), ``deciding`` (the
    family with it; the first wins ties), ``effect_ok`` (the deciding
    family's effect reaches its floor), ``tested`` and ``significant``
    (``tested``, ``q_value <= alpha`` and ``effect_ok``).
    """
    level = frame["level"].to_numpy()
    cols: dict[str, Any] = {}
    ps, qs, effect_ok = [], [], []
    for ev in families:  # three families at most today
        tested, q = stratified(ev.p, ev.pmin, ev.testable, level, alpha_s=alpha / strata, strata=strata,
                               weight=ev.weight, procedure=ev.procedure)
        ps.append(np.where(tested, ev.p, 1.0))
        qs.append(q)
        effect_ok.append(ev.effect >= ev.floor)
        cols |= {f"p_{ev.name}": ps[-1], f"q_{ev.name}": q, f"pmin_{ev.name}": ev.pmin, f"tested_{ev.name}": tested}
    n = frame.height
    q_all = np.vstack(qs) if qs else np.ones((1, n))
    deciding = q_all.argmin(axis=0)
    names = np.array([ev.name for ev in families] or [""])
    out = frame.with_columns(
        **cols,
        p_value=np.minimum(1.0, len(ps) * np.vstack(ps).min(axis=0)) if ps else np.ones(n),
        q_value=q_all.min(axis=0),
        deciding=names[deciding],
        effect_ok=np.vstack(effect_ok)[deciding, np.arange(n)] if ps else np.zeros(n, dtype=bool),
    )
    tested = pl.any_horizontal([pl.col(f"tested_{ev.name}") for ev in families]) if families else pl.lit(False)
    return out.with_columns(tested=tested).with_columns(
        significant=pl.col("tested") & (pl.col("q_value") <= alpha) & pl.col("effect_ok"))


def build_suspects(p: Prepared, frame: pl.DataFrame, strategy: EvidenceStrategy, ranking: Ranking, *,
                   first_rank: int, reported: bool, options: MiningOptions) -> tuple[list[Suspect], list[pl.DataFrame]]:
    """One :class:`~.model.Suspect` per row of ``frame`` (ranks from
    ``first_rank``) and its steps frame.

    Occurrences follow :mod:`.occurrences`; steps and example sessions use
    the eligible ones (``example_sessions``: the sessions whose last
    eligible completion is latest, ties by session order); ``sessions`` and
    ``users`` count every session with a completion.
    """
    span_h = max((p.ts.max() - p.ts.min()) / 3.6e9, 1e-9) if len(p.ts) else 1e-9
    out, all_steps = [], []
    for i, row in enumerate(frame.iter_rows(named=True)):  # top + runners-up rows
        rank = first_rank + i
        codes = tuple(row["codes"])
        occ = occurrences(p, codes, max_gap=options.max_gap, max_span_s=options.max_span_s)
        elig = occ[p.elig[occ[:, -1]]]
        steps = steps_frame(p, rank, elig)
        s = SuspectRow(row=row, sequence=tuple(p.vocab[c] for c in codes), rank=rank, reported=reported,
                       occurrences=elig, steps=steps, rate_per_hour=row["completions"] / span_h)
        d = strategy.describe(p, s, ranking, options=options)
        sess_all = np.unique(p.sess[occ[:, -1]])
        out.append(Suspect(
            rank=rank, sequence=s.sequence, burst_ids=tuple(sorted(int(b) for b in d.burst_ids)),
            lead_time_s=d.leads, sessions=int(row["support"]),
            users=p.users.gather(sess_all).drop_nulls().n_unique(),
            completions=int(row["completions"]), baseline_rate_per_hour=float(s.rate_per_hour),
            p_onset=float(row.get("p_onset", 1.0)), p_enrichment=float(row["p_enrichment"]),
            p_link=float(row.get("p_link", 1.0)), deciding=str(row.get("deciding") or "") if reported else "",
            p_value=float(row["p_value"]), q_value=float(row["q_value"]), risk_ratio=float(row["risk_ratio"]),
            rate_ratio=float(row.get("rate_ratio", 0.0)), failing_with=int(row["failing_with"]),
            control_with=int(row["control_with"]), significant=reported, resources=d.resources,
            explanation=d.explanation, example_sessions=recent_sessions(p, elig, d.example_pool, options.examples),
            collapsed=tuple(dict.fromkeys(x for x in d.collapsed if x != s.sequence)),
        ))
        all_steps.append(steps)
    return out, all_steps


def recent_sessions(p: Prepared, occ: np.ndarray, pool: np.ndarray | None, n: int) -> tuple[str, ...]:
    """Keys of the ``n`` sessions (of ``pool``) whose last occurrence in
    ``occ`` completed latest (ties: session order)."""
    if len(occ) == 0:
        return ()
    sidx = np.unique(p.sess[occ[:, -1]])
    if pool is not None:
        sidx = sidx[pool[sidx]]
    last = np.full(len(p.session_keys), np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(last, p.sess[occ[:, -1]], p.ts[occ[:, -1]])
    best = sidx[np.argsort(-last[sidx], kind="stable")][:n]
    return tuple(p.session_keys[j] for j in best)


def steps_frame(p: Prepared, rank: int, occ: np.ndarray) -> pl.DataFrame:
    """One row per step of every occurrence (``occ``: (n, k) rows), numbered from 1 (:data:`STEP_SCHEMA`)."""
    if len(occ) == 0:
        return pl.DataFrame(schema=STEP_SCHEMA)
    k = occ.shape[1]
    rows = occ.reshape(-1)
    sidx = p.sess[rows]
    return pl.DataFrame({
        "rank": np.full(len(rows), rank, dtype=np.int32),
        "occurrence": np.repeat(np.arange(1, len(occ) + 1, dtype=np.int32), k),
        "session_key": [p.session_keys[j] for j in sidx],
        "user": p.users.gather(sidx),
        "step": np.tile(np.arange(1, k + 1, dtype=np.int32), len(occ)),
        "ts": [us_dt(t) for t in p.ts[rows]],
        "action": [p.vocab[x] for x in p.code[rows]],
        "request_id": p.request_ids(rows),
        "row": rows,
    }, schema=STEP_SCHEMA)


def burst_verdicts(bursts, suspects: Sequence[Suspect], explained: str, unexplained: str) -> tuple[BurstVerdict, ...]:
    """One verdict per burst: the best suspect credited with it, if any."""
    out = []
    for b in bursts:  # a handful of bursts
        ranks = tuple(s.rank for s in suspects if b.id in s.burst_ids)
        note = (explained.format(burst=b.id, rank=ranks[0], sequence=" -> ".join(suspects[ranks[0] - 1].sequence))
                if ranks else unexplained.format(burst=b.id))
        out.append(BurstVerdict(burst_id=int(b.id), explained=bool(ranks), suspect_ranks=ranks, note=note))
    return tuple(out)
