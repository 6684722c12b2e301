"""Evidence strategy "labeled sessions": mine against sessions the user labeled as failing.

``--failing FILE`` names the failing sessions (HDFS's ``anomaly_label.csv``
as it is; :mod:`.labels`).  Those sessions are the failing side of the
session-enrichment evidence (docs/statistics.md, "Labeled failures"); every
other session is the control.  There is no onset evidence: the labels
replace the bursts, so the mining works with or without bursts.  The core
(:mod:`.core`) does the multiple testing and builds the suspects.

* **Scope and window** (``scope``): ``before_error`` (default) looks at a
  failing session's actions strictly before its first error (all of them
  when it has none), so the symptoms are not their own precursors;
  ``whole`` looks at every action (a detector that classifies whole
  sessions, as on HDFS where the exceptions *are* how a block fails).
  Either way the window is the *whole* session (or its before-error part):
  ``--lookback`` does not apply (:attr:`LabeledStrategy.lookback_applies`,
  recorded in :attr:`LabeledResult.window`); the options object is used as
  given.
* **Candidates**: every action (length 1) and every gapped sequence
  (length 2..``max_len``, ``max_gap``, ``max_span_s``; docs/statistics.md,
  "Occurrences") that a failing session did inside its scope, counted over
  all sessions.  No rarity filter: the labels, not rarity, separate cause
  from background.  A candidate has at least one failing session
  (``a >= 1``): the test is one-sided enrichment, and what failing sessions
  do *less* is the missing steps' depletion test (:mod:`.missing`), so a
  sequence no failing session did is never a suspect and never shown with
  a risk ratio (which for ``a = 0`` would only restate the group sizes).
* **One hypothesis per session set**: candidates with exactly the same
  supporting sessions (same 2x2 table, same p-value) are one hypothesis;
  the *shortest* (then most completed, then first found) represents it and
  the others are listed in ``collapsed``.
* **Ranking**: significant suspects are ranked by the lower 95 % bound of
  their risk ratio (:func:`risk_ratio_low`); the q-value decides
  significance, not the order.  A sequence is reported only when it ranks
  above each of its sub-sequences (:func:`productive`).
* **Tests** (docs/statistics.md, "Multiple testing"): one-sided Fisher
  enrichment with the Haldane-Anscombe risk ratio, Tarone-testable families
  per length stratum (``max_len``) plus one family of missing steps,
  ``alpha`` split equally over the ``max_len + 1`` families.  Reported
  ``p_value`` is the enrichment p (one evidence, no factor 2).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field, replace

import numpy as np
import polars as pl

from ..errors import UsageError
from .candidates import NO_CUT, Prepared, grow, prepare, session_hashes
from .closed import is_subsequence
from .core import (RUNNERS_UP, Candidates, Description, EvidenceSet, Ranking, SuspectRow, enrichment_evidence,
                   run)
from .labels import FAILING_VALUES, LABEL_NAMES, FailingLabels, read_failing
from .missing import MIN_CONTROL_SHARE, MissingStep, missing_steps
from .model import MiningOptions, MiningResult
from .occurrences import sessions_with

__all__ = ["FAILING_VALUES", "LABEL_NAMES", "SCOPES", "FailingLabels", "LabeledResult", "LabeledStrategy",
           "classify_sessions", "labeled_explanation", "mine_labeled", "productive", "read_failing",
           "risk_ratio_low"]

SCOPES = ("before_error", "whole")
#: Members of a hypothesis listed in a suspect's ``collapsed``.
COLLAPSED_SHOWN = 5
_CANDIDATE_SCHEMA = {"gid": pl.UInt32, "length": pl.Int32, "codes": pl.List(pl.Int64), "support": pl.Int64,
                     "completions": pl.Int64, "failing_with": pl.Int64, "control_with": pl.Int64,
                     "members": pl.List(pl.List(pl.Int64))}


@dataclass(frozen=True)
class LabeledResult:
    """Everything labeled mining found."""

    mining: MiningResult  # suspects (sequences, ``kind`` = sequence), runners-up, verdicts
    missing: tuple[MissingStep, ...]
    n_failing: int  # labeled failing sessions found in the timeline
    n_control: int
    unmatched: int  # failing ids of the labels that are no session of the timeline
    scope: str
    missing_tested: int = 0
    labels: FailingLabels | None = None
    vocab: tuple[str, ...] = field(default=(), repr=False)
    #: what the candidate windows were: the whole session, or its part
    #: before the first error; ``--lookback`` does not apply
    window: str = "whole session"


def window_of(scope: str) -> str:
    """The labeled candidate window of ``scope``, in words (:attr:`LabeledResult.window`)."""
    return "whole session" if scope == "whole" else "session before its first error"


@dataclass(frozen=True)
class _Ranked:
    missing: tuple[MissingStep, ...]
    missing_tested: int
    session_errors: pl.DataFrame


class LabeledStrategy:
    """Labeled failing sessions against the others: enrichment only (module docstring)."""

    #: the window is the whole session (or its before-error part), never ``--lookback``
    lookback_applies = False
    extra_families = 1  # the missing steps
    explained_note = "failing sessions that erred in burst {burst} share suspect #{rank}: {sequence}"
    unexplained_note = "no suspect of the labeled failing sessions erred in burst {burst}"

    def __init__(self, failing: Collection[str], *, scope: str = "before_error",
                 min_control_share: float = MIN_CONTROL_SHARE):
        if scope not in SCOPES:
            raise UsageError(f"--failing-scope must be one of {', '.join(SCOPES)}, got {scope!r}")
        self.failing, self.scope, self.min_control_share = frozenset(failing), scope, min_control_share

    def levels(self, options: MiningOptions) -> int:
        """Length strata: lengths 1 .. max_len."""
        return options.max_len

    def prepare(self, timeline, options: MiningOptions) -> Prepared:
        return labeled_prepare(timeline, self.failing, options=options, scope=self.scope)

    def candidates(self, p: Prepared, options: MiningOptions) -> Candidates:
        frame = (labeled_candidates(p, options) if p.failing.any() else pl.DataFrame(schema=_CANDIDATE_SCHEMA))
        frame = frame.with_columns(pl.col("length").alias("level"))
        return Candidates(frame=frame, generated=frame.height, rare=frame.height)

    def evidence(self, p: Prepared, cands: Candidates, options: MiningOptions) -> EvidenceSet:
        a, c = cands.frame["failing_with"].to_numpy(), cands.frame["control_with"].to_numpy()
        n1, n0 = int(p.failing.sum()), int(p.control.sum())
        enr = enrichment_evidence(a, c, n1, n0, min_risk_ratio=options.min_risk_ratio)
        return EvidenceSet(families=(enr,), columns={"risk_ratio": enr.effect,
                                                     "rr_low": risk_ratio_low(a, c, n1, n0)})

    def rank(self, p: Prepared, cands: Candidates, scored: pl.DataFrame, ev: EvidenceSet, *, timeline,
             strata: int, options: MiningOptions) -> Ranking:
        """Risk-ratio bound order, sub-sequences first; the missing steps are tested here (one more family)."""
        scored = scored.sort(["significant", "rr_low", "q_value", "failing_with", "length", "gid"],
                             descending=[True, True, False, True, False, False])
        missing, m_tested = missing_steps(p, options=options, strata=strata,
                                          min_control_share=self.min_control_share)
        return Ranking(
            reported=productive(scored.filter("significant"), options.top),
            runners_up=scored.filter(pl.col("tested") & ~pl.col("significant")).head(RUNNERS_UP),
            extra_tested=m_tested, context=_Ranked(missing, m_tested, timeline.session_errors))

    def describe(self, p: Prepared, s: SuspectRow, ranking: Ranking, *, options: MiningOptions) -> Description:
        """Bursts the failing sessions with it erred in, and the 2x2 table in words."""
        row = s.row
        sidx = np.unique(p.sess[s.occurrences[:, -1]])
        fkeys = [p.session_keys[j] for j in sidx[p.failing[sidx]]]
        errs = ranking.context.session_errors
        bursts = set(errs.filter(pl.col("session_key").is_in(fkeys))["burst_id"].drop_nulls().to_list())
        text = labeled_explanation(int(row["failing_with"]), int(p.failing.sum()), int(row["control_with"]),
                                   int(p.control.sum()), float(row["risk_ratio"]))
        collapsed = tuple(tuple(p.vocab[x] for x in m) for m in (row["members"] or [])[:COLLAPSED_SHOWN])
        return Description(burst_ids=tuple(bursts), explanation=text, collapsed=collapsed, example_pool=p.failing)


def labeled_prepare(timeline, failing: Collection[str], *, options: MiningOptions,
                    scope: str = "before_error") -> Prepared:
    """Integer-coded actions with the labeled failing sessions as the failing
    side, every other session as the control, and eligibility by ``scope``
    (module docstring).  No onsets."""
    p = prepare(timeline, options=options)
    keys = pl.Series("k", p.session_keys, dtype=pl.String)
    fail = keys.is_in(pl.Series(list(failing), dtype=pl.String).implode()).to_numpy()
    ns = len(p.session_keys)
    last = np.full(ns, np.iinfo(np.int64).min + 1, dtype=np.int64)
    if len(p.ts):
        np.maximum.at(last, p.sess, p.ts)
    err_cut = p.cut if scope == "before_error" else np.full(ns, NO_CUT, dtype=np.int64)
    cut = np.where(fail & (err_cut == NO_CUT), last + 1, err_cut)
    empty = np.zeros(0, dtype=np.int64)
    return replace(p, failing=fail, control=~fail, cut=cut, elig=p.ts < cut[p.sess],
                   onsets=empty, onset_burst=empty, window_lo=empty)


def whole_session_bounds(p: Prepared) -> tuple[np.ndarray, np.ndarray]:
    """Candidate windows for :func:`.candidates.grow`: every eligible action
    of a failing session, from the session's start (no lookback); no
    pre-onset windows."""
    big, small = np.iinfo(np.int64).max, np.iinfo(np.int64).min
    return np.full(len(p.ts), big, dtype=np.int64), np.where(p.elig & p.failing[p.sess], small, big)


def _int_bincount(index: np.ndarray, weights: np.ndarray, n: int) -> np.ndarray:
    """``np.bincount(index, weights, minlength=n)`` in int64 (exact: the float
    version rounds sums above 2**53, and then depends on their order)."""
    out = np.zeros(n, dtype=np.int64)
    np.add.at(out, index, weights.astype(np.int64))
    return out


def _singles(p: Prepared) -> pl.DataFrame:
    """Length-1 candidates (actions failing sessions did in scope) with the
    same counts as :func:`.candidates.grow`."""
    V = len(p.vocab)
    sess_hash = session_hashes(len(p.session_keys))
    f = pl.DataFrame({"code": p.code, "sess": p.sess, "elig": p.elig})
    per = f.group_by("code", "sess").agg(pl.col("elig").any())
    sess = per["sess"].to_numpy()
    code = per["code"].to_numpy()
    fail = p.failing[sess] & per["elig"].to_numpy()
    out = pl.DataFrame({
        "code": np.arange(V, dtype=np.int64),
        "support": np.bincount(code, minlength=V).astype(np.int64),
        "completions": np.bincount(p.code[p.elig], minlength=V).astype(np.int64),
        "failing_with": np.bincount(code, weights=fail, minlength=V).astype(np.int64),
        "control_with": np.bincount(code, weights=p.control[sess], minlength=V).astype(np.int64),
        "sig_sessions": _int_bincount(code, sess_hash[sess], V),
    })
    return out.filter(pl.col("failing_with") > 0).select(
        pl.lit(1, dtype=pl.Int32).alias("length"), pl.concat_list(pl.col("code")).alias("codes"),
        "support", "completions", "failing_with", "control_with", "sig_sessions")


def labeled_candidates(p: Prepared, options: MiningOptions) -> pl.DataFrame:
    """All candidates (length 1..max_len) with a failing occurrence in scope
    (``failing_with >= 1``), one row per hypothesis (same supporting
    sessions), shortest first, with ``members`` (the other patterns of the
    group, longest first)."""
    cols = ["length", "codes", "support", "completions", "failing_with", "control_with", "sig_sessions"]
    parts = [_singles(p)]
    if options.max_len >= 2:
        pats = grow(p, options=options, bounds=whole_session_bounds(p)).patterns
        parts.append(pats.filter(pl.col("failing_with") > 0).select(cols))
    allc = pl.concat([x.select(cols) for x in parts], how="vertical_relaxed").with_row_index("gid")
    group = ["sig_sessions", "support", "failing_with", "control_with"]
    ranked = allc.sort(["length", "completions", "gid"], descending=[False, True, False])
    return (
        ranked.group_by(group, maintain_order=True)
        .agg(pl.all().first(), pl.col("codes").slice(1).reverse().alias("members"), pl.len().alias("n_members"))
        .select("gid", "length", "codes", "support", "completions", "failing_with", "control_with", "members")
    )


def risk_ratio_low(a: np.ndarray, c: np.ndarray, n1: int, n0: int, z: float = 1.959964) -> np.ndarray:
    """Lower 95 % confidence bound of the (Haldane-Anscombe) risk ratio, Katz's log method.

    >>> risk_ratio_low(np.array([59, 54]), np.array([0, 26]), 350, 11151).round(0).tolist()
    [234.0, 42.0]
    """
    a = np.asarray(a, dtype=float)
    c = np.asarray(c, dtype=float)
    if n1 == 0 or n0 == 0:
        return np.zeros(len(a))
    rr = ((a + 0.5) / (n1 + 1)) / ((c + 0.5) / (n0 + 1))
    se = np.sqrt(np.maximum(1 / (a + 0.5) - 1 / (n1 + 1) + 1 / (c + 0.5) - 1 / (n0 + 1), 0.0))
    return rr * np.exp(-z * se)


def productive(ranked: pl.DataFrame, top: int) -> pl.DataFrame:
    """The first ``top`` rows of ``ranked`` (best first) that are more
    significant than each of their sub-sequences: a row is dropped when a
    better-ranked row is a proper subsequence of it (the shorter pattern
    already says it all; the longer one is listed in its ``collapsed``)."""
    seen: list[tuple[int, ...]] = []
    keep: list[int] = []
    absorbed: dict[int, list] = {}
    for i, codes in enumerate(ranked["codes"].to_list()):  # stops after `top` kept rows
        codes = tuple(codes)
        owner = next((j for j, prev in zip(keep, (tuple(ranked["codes"][k]) for k in keep))
                      if len(prev) < len(codes) and is_subsequence(prev, codes)), None)
        if owner is None and any(len(prev) < len(codes) and is_subsequence(prev, codes) for prev in seen):
            owner = -1  # a better sub-sequence that was itself dropped
        if owner is None:
            keep.append(i)
            if len(keep) == top:
                break
        elif owner >= 0:
            absorbed.setdefault(owner, []).append(list(codes))
        seen.append(codes)
    out = ranked[keep]
    extra = [absorbed.get(i, []) for i in keep]
    members = [(m or []) + x for m, x in zip(out["members"].to_list(), extra)]
    return out.with_columns(pl.Series("members", members, dtype=pl.List(pl.List(pl.Int64))))


def labeled_explanation(a: int, n1: int, c: int, n0: int, rr: float) -> str:
    """The 2x2 table of a labeled suspect in words.

    A risk ratio is claimed only when failing sessions did it (``a >= 1``):
    for ``a = 0`` the corrected ratio only restates the group sizes.

    >>> labeled_explanation(2, 10, 1, 100, 14.3)
    'done by 2 of 10 failing sessions (20.0%) and 1 of 100 other sessions (1.0%); risk ratio 14.3'
    >>> labeled_explanation(0, 10, 0, 3400, 340.0)
    'done by none of the 10 failing sessions and 0 of 3,400 other sessions (0.0%): no enrichment'
    """
    others = f"{c:,} of {n0:,} other sessions ({c / n0:.1%})" if n0 else f"{c:,} other sessions"
    if a == 0:
        return f"done by none of the {n1:,} failing sessions and {others}: no enrichment"
    return f"done by {a:,} of {n1:,} failing sessions ({a / n1:.1%}) and {others}; risk ratio {rr:.1f}"


def mine_labeled(timeline, failing: Collection[str] | FailingLabels, *, options: MiningOptions = MiningOptions(),
                 scope: str = "before_error", min_control_share: float = MIN_CONTROL_SHARE) -> LabeledResult:
    """Enriched sequences and missing steps of labeled failing sessions.

    Parameters
    ----------
    timeline
        A :class:`~forensics.timeline.model.Timeline`.
    failing
        Failing session keys (or :func:`read_failing`'s result).
    options
        ``max_len``, ``max_gap``, ``max_span_s``, ``alpha``,
        ``min_risk_ratio``, ``top`` and ``examples`` are used;
        ``lookback_s`` does not apply (the window is the session, see
        ``scope``) and is kept as given in the result.
    scope
        ``before_error`` or ``whole`` (module docstring).
    min_control_share
        A missing step is reached by at least this share of control sessions.

    Examples
    --------
    >>> from tests.test_labeled import small_timeline   # doctest: +SKIP
    >>> mine_labeled(small_timeline(), {"s1", "s2"}).mining.suspects[0].sequence  # doctest: +SKIP
    ('poison',)
    """
    labels = failing if isinstance(failing, FailingLabels) else None
    fail_ids = labels.failing if labels else frozenset(failing)
    done = run(timeline, LabeledStrategy(fail_ids, scope=scope, min_control_share=min_control_share),
               options=options)
    p, ctx = done.prepared, done.ranking.context
    n1, n0 = int(p.failing.sum()), int(p.control.sum())
    return LabeledResult(mining=done.mining, missing=ctx.missing, n_failing=n1, n_control=n0,
                         unmatched=len(fail_ids) - n1, scope=scope, missing_tested=ctx.missing_tested,
                         labels=labels, vocab=p.vocab, window=window_of(scope))


def classify_sessions(timeline, result: LabeledResult, *, top_k: int | None = None, missing: bool = True,
                      options: MiningOptions | None = None) -> pl.DataFrame:
    """Flag the sessions of ``timeline`` that contain any of the ``top_k``
    suspect sequences or miss a "never reached" step of ``result``.

    The timeline may be another one than the mined one (a later period):
    sequences are matched by action name.  Every action counts (the whole
    session).  A session misses a step only when it started at least the
    step's ``delay_s`` before the last action of ``timeline`` (censoring, as
    in :mod:`.missing`).  Returns ``session_key``, ``flagged``, ``suspect_rank`` (the
    best rank found, or null) and ``missing_step`` (the first missing step, or
    null).

    Examples
    --------
    >>> flags = classify_sessions(second_half, mine_labeled(first_half, failing), top_k=10)  # doctest: +SKIP
    """
    opts = options or result.mining.options
    p = prepare(timeline, options=opts)
    index = {a: i for i, a in enumerate(p.vocab)}
    ns = len(p.session_keys)
    best = np.full(ns, np.iinfo(np.int32).max, dtype=np.int64)
    suspects = result.mining.suspects[: top_k if top_k is not None else len(result.mining.suspects)]
    for s in suspects:  # top-k suspects
        if not all(a in index for a in s.sequence):
            continue
        hit = sessions_with(p, tuple(index[a] for a in s.sequence), max_gap=opts.max_gap,
                            max_span_s=opts.max_span_s)
        best = np.where(hit, np.minimum(best, s.rank), best)
    miss = np.full(ns, None, dtype=object)
    if missing and len(p.ts):
        start = np.full(ns, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(start, p.sess, p.ts)
        age = np.where(start == np.iinfo(np.int64).max, -1, int(p.ts.max()) - start)
        for m in reversed(result.missing):  # a handful of steps; the best-ranked one wins
            has = np.zeros(ns, dtype=bool)
            if m.step in index:
                has[p.sess[p.code == index[m.step]]] = True
            judged = age >= int(m.delay_s * 1e6)
            miss = np.where(~has & judged, m.step, miss)
    rank = pl.Series("suspect_rank", best, dtype=pl.Int64)
    frame = pl.DataFrame({"session_key": list(p.session_keys), "suspect_rank": rank,
                          "missing_step": pl.Series(list(miss), dtype=pl.String)})
    frame = frame.with_columns(pl.when(pl.col("suspect_rank") < np.iinfo(np.int32).max)
                               .then(pl.col("suspect_rank")).alias("suspect_rank"))
    return frame.with_columns(
        (pl.col("suspect_rank").is_not_null() | pl.col("missing_step").is_not_null()).alias("flagged")
    ).select("session_key", "flagged", "suspect_rank", "missing_step")
