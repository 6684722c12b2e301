"""Suspect mining: rank the rare action sequences that set off each burst.

>>> from forensics.mining import mine, mining_to_json, MiningOptions  # doctest: +SKIP
>>> result = mine(timeline, options=MiningOptions(lookback_s=300))     # doctest: +SKIP
>>> mining_to_json(result)["suspects"][0]["sequence"]                  # doctest: +SKIP
['edit_profile', 'change_language', 'upload_avatar', 'save_settings']

Pipeline (docs/statistics.md has every formula): integer-coded actions ->
candidates grown from the pre-onset and pre-error windows and counted over
the whole log (:mod:`.candidates`) -> rare ones collapsed to closed patterns
(:mod:`.closed`) -> evidence (a) onset precedence and (b) session enrichment,
Tarone-testable families, BH q-values (:mod:`.score`, :mod:`.stats`) ->
per-burst credit, explaining away and the final order (:mod:`.credit`) ->
occurrences, resources and explanations (:mod:`.linkage`).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import polars as pl

from .candidates import grow, prepare, us_dt
from .closed import collapse
from .credit import attribute
from .linkage import STEP_SCHEMA, evidence_frame, explanation, occurrence_steps, resource_links
from .model import (AffectedPath, BurstVerdict, MiningOptions, MiningResult, OnsetLead, ResourceLink,
                    Suspect)
from .score import score

__all__ = ["MiningOptions", "MiningResult", "Suspect", "AffectedPath", "BurstVerdict", "ResourceLink",
           "OnsetLead", "mine", "mining_to_json", "evidence_frame"]

RUNNERS_UP = 5


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
    p = prepare(timeline, options=options)
    counted = grow(p, options=options)
    pats = counted.patterns
    thr = options.max_support * counted.n_sessions
    rare = collapse(pats.filter(pl.col("support") < thr))
    closed = rare.filter(pl.col("gid") == pl.col("closed_gid")).join(_levels(rare), on="gid", how="left")
    closed = closed.with_columns(pl.col("level").fill_null(pl.col("length"))).sort("gid")
    # only closed patterns are scored, credited or reported: drop the other
    # completions now (on a large log they are most of the rows)
    counted = replace(counted, completions=counted.completions.filter(
        pl.col("gid").is_in(closed.get_column("gid").implode())))
    scored, lead = score(p, counted, closed, options=options)
    lead_of = {g: lead[i] for i, g in enumerate(scored["gid"].to_list())}

    errors = timeline.events.filter(pl.col("is_error") & pl.col("key").is_not_null()).select("key", "ts")
    att = attribute(p, counted, scored.filter("significant"), burst_end={b.id: b.end for b in timeline.bursts},
                    session_errors=timeline.session_errors, errors=errors, options=options)
    override = ["p_onset", "p_value", "q_value", "rate_ratio", "deciding"]
    sig = att.frame.join(scored.drop(override), on="gid", how="left", maintain_order="left")
    near = scored.filter(pl.col("tested") & ~pl.col("significant")).sort("q_value", "p_value").head(RUNNERS_UP)
    comp = counted.completions
    members = rare.filter(pl.col("gid") != pl.col("closed_gid")).group_by("closed_gid").agg(
        pl.col("codes").sort_by("length", descending=True))
    members = dict(zip(members["closed_gid"].to_list(), members["codes"].to_list()))
    codes_of = dict(zip(scored["gid"].to_list(), scored["codes"].to_list()))
    span_h = max((p.ts.max() - p.ts.min()) / 3.6e9, 1e-9) if len(p.ts) else 1e-9

    def build(frame: pl.DataFrame, first_rank: int, reported: bool) -> tuple[list[Suspect], list[pl.DataFrame]]:
        out, all_steps = [], []
        for i, row in enumerate(frame.iter_rows(named=True)):
            rank = first_rank + i
            gid = row["gid"]
            codes = tuple(row["codes"])
            seq = tuple(p.vocab[c] for c in codes)
            c = comp.filter(pl.col("gid") == gid)
            ends = c.filter("elig")["row"].to_numpy()
            steps = occurrence_steps(p, rank, codes, ends, options=options)
            lv = att.lead[gid] if reported else lead_of[gid]
            leads = tuple(
                OnsetLead(burst_id=int(p.onset_burst[j]), onset=us_dt(p.onsets[j]), lead_s=float(lv[j]))
                for j in range(len(p.onsets)) if not np.isnan(lv[j])
            )
            links = resource_links(p, steps, errors, until=att.evidence_until.get(gid, {}) if reported else {})
            sess_idx = np.unique(p.sess[c["row"].to_numpy()])
            bursts = att.bursts.get(gid, ()) if reported else tuple({x.burst_id for x in leads})
            near_first = steps.group_by("session_key").agg(pl.col("ts").max()).sort("ts", descending=True)
            examples = tuple(near_first["session_key"].head(options.examples).to_list())
            rate = row["completions"] / span_h
            collapsed = [tuple(p.vocab[x] for x in m) for m in members.get(gid, [])]
            for f in att.folded.get(gid, []) if reported else []:  # same occurrences, other sequences
                collapsed.append(tuple(p.vocab[x] for x in codes_of[f]))
                collapsed += [tuple(p.vocab[x] for x in m) for m in members.get(f, [])]
            out.append(Suspect(
                rank=rank, sequence=seq, burst_ids=tuple(sorted(int(x) for x in bursts)),
                lead_time_s=leads, sessions=int(row["support"]),
                users=len({u for u in p.users[sess_idx] if u is not None}),
                completions=int(row["completions"]), baseline_rate_per_hour=float(rate),
                p_onset=float(row["p_onset"]), p_enrichment=float(row["p_enrichment"]),
                p_value=float(row["p_value"]), q_value=float(row["q_value"]), risk_ratio=float(row["risk_ratio"]),
                rate_ratio=float(row["rate_ratio"]), failing_with=int(row["failing_with"]),
                control_with=int(row["control_with"]), significant=reported, resources=links,
                explanation=explanation(seq, links, leads, int(row["completions"]), rate),
                example_sessions=examples, collapsed=tuple(dict.fromkeys(x for x in collapsed if x != seq)),
            ))
            all_steps.append(steps)
        return out, all_steps

    suspects, steps = build(sig, 1, True)
    runners, _ = build(near, len(suspects) + 1, False)

    verdicts = []
    for b in timeline.bursts:
        ranks = tuple(s.rank for s in suspects if b.id in s.burst_ids)
        note = (f"burst {b.id} is preceded by suspect #{ranks[0]}: {' -> '.join(suspects[ranks[0] - 1].sequence)}"
                if ranks else
                f"no user-action sequence stands out before burst {b.id}; likely a deploy/infrastructure cause")
        verdicts.append(BurstVerdict(burst_id=int(b.id), explained=bool(ranks), suspect_ranks=ranks, note=note))

    return MiningResult(
        suspects=tuple(suspects), runners_up=tuple(runners),
        affected_paths=_affected(pats, thr, counted.n_failing, p.vocab, options.top),
        burst_verdicts=tuple(verdicts), candidates=pats.height, candidates_rare=rare.height,
        candidates_tested=int(scored["tested"].sum()), options=options,
        explained_away=att.explained_away,
        steps=pl.concat(steps) if steps else pl.DataFrame(schema={**STEP_SCHEMA, "row": pl.Int64}),
    )


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
    }
