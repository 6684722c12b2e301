"""Evidence strategy "onsets and session errors" (``forensics scan`` without ``--failing``).

Candidates are grown from the pre-onset and pre-error windows (``--lookback``)
and counted over the whole log (:mod:`.candidates`); those rarer than
``max_support`` are collapsed to closed patterns (:mod:`.closed`), each in
the length stratum of the shortest member with the same completions.  Three
evidence families: (a) onset precedence (:mod:`.score`, docs/statistics.md,
"Evidence (a): onset precedence"), (b) session enrichment of the
sessions that erred in a burst against the never-erring ones
(docs/statistics.md, "Evidence (b): session enrichment") and (c) resource
linkage (:mod:`.resource_evidence`).  The significant
ones are credited with onsets and bursts, explained away and ranked by
:mod:`.credit`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import polars as pl

from .candidates import Counted, Prepared, dt_us, evidence_rows, grow, prepare, us_dt
from .closed import collapse
from .core import (
    RUNNERS_UP,
    Candidates,
    Description,
    EvidenceSet,
    Ranking,
    SuspectRow,
    enrichment_evidence,
)
from .credit import Attribution, attribute
from .linkage import explanation, resource_links
from .model import AffectedPath, MiningOptions, OnsetLead
from .resource_evidence import link_evidence, onset_touches
from .score import closest_completions, onset_precedence
from .stats import tarone_strata

#: Evidence families of this strategy: (a) onset precedence, (b) session
#: enrichment, (c) resource linkage (``alpha`` is split over them x length strata).
FAMILIES = 3
#: Multiple testing inside each family and stratum: weighted Holm (family-wise
#: error).  The hypotheses are highly redundant (hundreds of sequences share
#: the one session that completed before an onset), so BH's count of
#: discoveries counts copies of one finding and lets chance ones through.
PROCEDURE = "holm"


@dataclass(frozen=True)
class _Grown:
    """The strategy's context between its steps."""

    counted: Counted
    members: dict[int, list]  # closed gid -> codes collapsed into it (longest first)


@dataclass(frozen=True)
class _Evidence:
    """Per-candidate (C, m) arrays the ranking needs: lead times of the onsets
    carrying evidence (a), and the linkage ``u`` of evidence (c)."""

    lead: np.ndarray
    link_u: np.ndarray


@dataclass(frozen=True)
class _Ranked:
    attribution: Attribution
    lead_of: dict[int, np.ndarray]  # stage-1 lead times per gid (runners-up)
    codes_of: dict[int, list]
    members: dict[int, list]
    errors: pl.DataFrame


class OnsetStrategy:
    """Onsets and session errors: evidence (a) and (b), credit and explaining away."""

    lookback_applies = True
    extra_families = 0
    explained_note = "burst {burst} is preceded by suspect #{rank}: {sequence}"
    unexplained_note = "no user-action sequence stands out before burst {burst}; likely a deploy/infrastructure cause"

    def levels(self, options: MiningOptions) -> int:
        """Length strata: lengths 2 .. max_len."""
        return max(options.max_len - 1, 1)

    def prepare(self, timeline, options: MiningOptions) -> Prepared:
        """Integer-coded actions, plus the keyed errors and each onset's burst end (evidence (c))."""
        p = prepare(timeline, options=options)
        end = {b.id: dt_us(b.end) for b in timeline.bursts}
        return replace(p, errors=_keyed_errors(timeline),
                       onset_end=np.array([end[int(b)] for b in p.onset_burst], dtype=np.int64))

    def candidates(self, p: Prepared, options: MiningOptions) -> Candidates:
        """Rare closed candidates (sorted by gid) with their length stratum."""
        counted = grow(p, options=options, keep_rows=evidence_rows(p))
        pats = counted.patterns
        thr = options.max_support * counted.n_sessions
        rare = collapse(pats.filter(pl.col("support") < thr))
        closed = rare.filter(pl.col("gid") == pl.col("closed_gid")).join(_levels(rare), on="gid", how="left")
        closed = closed.with_columns(pl.col("level").fill_null(pl.col("length"))).sort("gid")
        # only closed patterns are scored, credited or reported: drop the other
        # completions now (on a large log they are most of the rows)
        counted = replace(counted, completions=counted.completions.filter(
            pl.col("gid").is_in(closed.get_column("gid").implode())))
        members = rare.filter(pl.col("gid") != pl.col("closed_gid")).group_by("closed_gid").agg(
            pl.col("codes").sort_by("length", descending=True))
        return Candidates(
            frame=closed, generated=pats.height, rare=rare.height,
            context=_Grown(counted, dict(zip(members["closed_gid"].to_list(), members["codes"].to_list()))),
            affected=_affected(pats, thr, counted.n_failing, p.vocab, options.top))

    def evidence(self, p: Prepared, cands: Candidates, options: MiningOptions) -> EvidenceSet:
        """(a) onset precedence, (b) session enrichment, (c) resource linkage.

        p-values of (a) and (c) are computed only for the hypotheses Tarone's
        rule will test (it depends on ``pmin`` alone), at ``alpha`` split over
        :data:`FAMILIES` x length strata as :func:`.core.run` does.
        """
        counted, frame = cands.context.counted, cands.frame
        alpha_s = options.alpha / (FAMILIES * self.levels(options) + self.extra_families)
        level = frame["level"].to_numpy()
        closest = closest_completions(p, counted, frame["gid"].to_numpy())
        onset, cols, lead = onset_precedence(p, frame, closest, alpha_s=alpha_s, options=options)
        enr = enrichment_evidence(frame["failing_with"].to_numpy(), frame["control_with"].to_numpy(),
                                  counted.n_failing, counted.n_control, min_risk_ratio=options.min_risk_ratio)
        link, u = link_evidence(
            p, onset_touches(p), [tuple(c) for c in frame["codes"].to_list()], closest[2], onset.testable,
            lambda pmin, ok: tarone_strata(pmin, ok, level, alpha_s=alpha_s), min_ratio=options.min_rate_ratio,
            max_gap=options.max_gap, max_span_s=options.max_span_s)
        cols |= {"risk_ratio": enr.effect, "link_ratio": link.effect}
        prior = rarity_weight(frame["completions"].to_numpy())
        onset, link = replace(onset, weight=prior), replace(link, weight=prior)
        fams = tuple(replace(f, procedure=PROCEDURE) for f in (onset, enr, link))
        return EvidenceSet(families=fams, columns=cols, context=_Evidence(lead=lead, link_u=u))

    def rank(self, p: Prepared, cands: Candidates, scored: pl.DataFrame, ev: EvidenceSet, *, timeline,
             strata: int, options: MiningOptions) -> Ranking:
        """Credit, explaining away and order (:func:`.credit.attribute`); runners-up by q then p."""
        errors = p.errors if p.errors is not None else _keyed_errors(timeline)
        sig = scored.filter("significant")
        at = np.searchsorted(scored["gid"].to_numpy(), sig["gid"].to_numpy())
        att = attribute(p, cands.context.counted, sig, burst_end={b.id: b.end for b in timeline.bursts},
                        session_errors=timeline.session_errors, errors=errors, link_u=ev.context.link_u[at],
                        options=options)
        override = ["p_onset", "p_link", "p_value", "q_value", "rate_ratio", "deciding"]
        reported = att.frame.join(scored.drop(override), on="gid", how="left", maintain_order="left")
        near = scored.filter(pl.col("tested") & ~pl.col("significant")).sort("q_value", "p_value").head(RUNNERS_UP)
        gids = scored["gid"].to_list()
        ctx = _Ranked(attribution=att, lead_of={g: ev.context.lead[i] for i, g in enumerate(gids)},
                      codes_of=dict(zip(gids, scored["codes"].to_list())), members=cands.context.members,
                      errors=errors)
        return Ranking(reported=reported, runners_up=near, explained_away=att.explained_away, context=ctx)

    def describe(self, p: Prepared, s: SuspectRow, ranking: Ranking, *, options: MiningOptions) -> Description:
        """Onset leads, credited bursts, linked resources and the onset explanation."""
        ctx: _Ranked = ranking.context
        att, gid = ctx.attribution, s.row["gid"]
        lv = att.lead[gid] if s.reported else ctx.lead_of[gid]
        leads = tuple(OnsetLead(burst_id=int(p.onset_burst[j]), onset=us_dt(p.onsets[j]), lead_s=float(lv[j]))
                      for j in range(len(p.onsets)) if not np.isnan(lv[j]))
        links = resource_links(p, s.steps, ctx.errors, until=att.evidence_until.get(gid, {}) if s.reported else {})
        bursts = att.bursts.get(gid, ()) if s.reported else tuple({x.burst_id for x in leads})
        collapsed = [tuple(p.vocab[x] for x in m) for m in ctx.members.get(gid, [])]
        for f in att.folded.get(gid, []) if s.reported else []:  # same occurrences, other sequences
            collapsed.append(tuple(p.vocab[x] for x in ctx.codes_of[f]))
            collapsed += [tuple(p.vocab[x] for x in m) for m in ctx.members.get(f, [])]
        return Description(burst_ids=tuple(bursts), leads=leads, resources=links, collapsed=tuple(collapsed),
                           explanation=explanation(s.sequence, links, leads, int(s.row["completions"]),
                                                   s.rate_per_hour))


def rarity_weight(completions: np.ndarray) -> np.ndarray:
    """Prior weight of a hypothesis in the onset and linkage families:
    ``1 / N**2`` for ``N`` eligible completions (an Occam prior on rarity,
    fixed before the test and a function of a conditioned count, so weighted
    BH stays valid): a trigger is rare, and a sequence completed N times has
    about N times the chances to fall close before an onset by chance."""
    return 1.0 / np.maximum(np.asarray(completions, dtype=float), 1.0) ** 2


def _keyed_errors(timeline) -> pl.DataFrame:
    """``key`` and ``ts`` of the error events that carry a resource key."""
    return timeline.events.filter(pl.col("is_error") & pl.col("key").is_not_null()).select("key", "ts")


def _levels(rare: pl.DataFrame) -> pl.DataFrame:
    """Length stratum of each closed pattern: the shortest member of its
    collapse group with exactly the same completions (the same hypothesis)."""
    reps = rare.filter(pl.col("gid") == pl.col("closed_gid")).select(
        "gid", pl.col("sig_completions").alias("rep_sig"), pl.col("completions").alias("rep_n"))
    lv = (
        rare.join(reps, left_on="closed_gid", right_on="gid", how="inner")
        .filter((pl.col("sig_completions") == pl.col("rep_sig")) & (pl.col("completions") == pl.col("rep_n")))
        .group_by("closed_gid").agg(pl.col("length").min().alias("level"))
    )
    return lv.rename({"closed_gid": "gid"})


def _affected(pats: pl.DataFrame, thr: float, n_failing: int, vocab, top: int) -> tuple[AffectedPath, ...]:
    """Frequent paths of failing sessions (before their first error), closed
    over the set of failing sessions that took them."""
    if n_failing == 0:
        return ()
    freq = pats.filter((pl.col("support") >= thr) & (pl.col("failing_with") > 0))
    freq = collapse(freq, signature="sig_failing", count="failing_with")
    freq = freq.filter(pl.col("gid") == pl.col("closed_gid")).sort(
        ["failing_with", "length", "gid"], descending=[True, True, False]).head(top)
    return tuple(
        AffectedPath(sequence=tuple(vocab[c] for c in r["codes"]), failing_sessions=int(r["failing_with"]),
                     share=r["failing_with"] / n_failing, sessions=int(r["support"]))
        for r in freq.iter_rows(named=True)
    )
