"""Known failures: mine against sessions the user labeled as failing.

``--failing FILE`` names the failing sessions (HDFS's ``anomaly_label.csv``
as it is).  Those sessions are the failing side of the session-enrichment
evidence (docs/statistics.md, evidence (b)); every other session is the
control.  There is no onset evidence: the labels replace the bursts, so the
mining works with or without bursts.

* **Scope** (``scope``): ``before_error`` (default) counts a failing
  session's actions strictly before its first error (all of them when it
  has none), so the symptoms are not their own precursors; ``whole`` counts
  every action (a detector that classifies whole sessions, as on HDFS where
  the exceptions *are* how a block fails).
* **Candidates**: every action (length 1) and every gapped sequence
  (length 2..``max_len``, ``max_gap``, ``max_span_s``; same occurrence rules
  as :mod:`.candidates`) that a failing session did inside its scope,
  counted over all sessions.  No rarity filter: the labels, not rarity,
  separate cause from background.
* **One hypothesis per session set**: candidates with exactly the same
  supporting sessions (same 2x2 table, same p-value) are one hypothesis;
  the *shortest* (then most completed, then first found) represents it and
  the others are listed in ``collapsed``.  The shortest is the most general
  pattern with that evidence (for HDFS: the template itself rather than the
  template with the steps every block takes before it).
* **Ranking**: significant suspects are ranked by the lower 95 % bound of
  their risk ratio (:func:`risk_ratio_low`): how strongly, at least, the
  pattern goes with failure.  A pattern only failing sessions have ranks
  above a more frequent one that some succeeding sessions share; the
  q-value decides significance, not the order.
* **Non-redundant**: a sequence is reported only when it ranks above each
  of its sub-sequences; otherwise the shorter pattern already carries the
  evidence and the longer one is listed in its ``collapsed``.
* **Tests**: one-sided Fisher enrichment with the Haldane-Anscombe risk
  ratio (:func:`.stats.enrichment`), Tarone-testable families per length
  stratum plus one family of missing steps (:mod:`.missing`), BH inside
  each, ``alpha`` split equally over the ``max_len + 1`` families; q-values
  are multiplied by that number, so ``q <= alpha`` is the rule.  Reported
  ``p_value`` is the enrichment p (one evidence, no factor 2).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field, replace

import numpy as np
import polars as pl

from ..errors import DataError, InputError, UsageError
from .candidates import _MASK, _NO_CUT, Prepared, _set_hash, grow, prepare, us_dt
from .missing import MissingStep, missing_steps
from .model import BurstVerdict, MiningOptions, MiningResult, Suspect
from .stats import bh_qvalues, enrichment, tarone_family

#: Label values that mean "failing" (case-insensitive, trimmed).
FAILING_VALUES = ("anomaly", "anomalous", "abnormal", "failed", "fail", "failure", "failing", "error", "err",
                  "1", "true", "yes", "bad")
#: A label column is the first (after the id) whose name contains one of these.
LABEL_NAMES = ("label", "status", "outcome", "result", "verdict", "class", "state", "anomal", "fail")
SCOPES = ("before_error", "whole")
RUNNERS_UP = 5
#: Members of a hypothesis listed in a suspect's ``collapsed``.
COLLAPSED_SHOWN = 5

#: Same columns as forensics.mining.linkage.STEP_SCHEMA (plus ``row``).
STEP_SCHEMA = {
    "rank": pl.Int32, "occurrence": pl.Int32, "session_key": pl.String, "user": pl.String,
    "step": pl.Int32, "ts": pl.Datetime("us", "UTC"), "action": pl.String, "request_id": pl.String,
    "row": pl.Int64,
}


@dataclass(frozen=True)
class FailingLabels:
    """Failing session ids read from a labels file."""

    failing: frozenset[str]
    listed: int  # distinct ids in the file
    id_column: str
    label_column: str | None  # None: a plain list of failing ids
    failing_values: tuple[str, ...]
    path: str = ""

    def to_json(self) -> dict:
        return {"path": self.path, "listed": self.listed, "failing": len(self.failing),
                "id_column": self.id_column, "label_column": self.label_column,
                "failing_values": list(self.failing_values)}


def read_failing(path, *, id_column: str | None = None, label_column: str | None = None,
                 failing_values: Collection[str] | None = None) -> FailingLabels:
    """Read a CSV of session ids with a label column.

    Defaults read HDFS's ``anomaly_label.csv`` as it is: the id is the first
    column; the label is the first other column named like one of
    :data:`LABEL_NAMES`; values in :data:`FAILING_VALUES` mean failing
    (case-insensitive).  A one-column file is a plain list of failing ids.

    Raises
    ------
    InputError
        The file cannot be read.
    UsageError
        A named column does not exist, or no label column can be found.

    Examples
    --------
    >>> import tempfile, os
    >>> d = tempfile.mkdtemp(); f = os.path.join(d, "l.csv")
    >>> _ = open(f, "w").write("BlockId,Label\\nblk_1,Normal\\nblk_2,Anomaly\\nblk_3,anomaly\\n")
    >>> sorted(read_failing(f).failing)
    ['blk_2', 'blk_3']
    """
    try:
        frame = pl.read_csv(path, infer_schema=False, truncate_ragged_lines=True)
    except FileNotFoundError:
        raise InputError(f"--failing: no such file: {path}") from None
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise InputError(f"--failing: cannot read {path}: {str(exc).splitlines()[0]}") from None
    if not frame.columns:
        raise DataError(f"--failing: {path} has no columns")
    cols = frame.columns
    lower = {c.lower().strip(): c for c in cols}

    def pick(name: str, option: str) -> str:
        if name in cols:
            return name
        if name.lower().strip() in lower:
            return lower[name.lower().strip()]
        raise UsageError(f"{option}: no column {name!r} in {path} (columns: {', '.join(cols)})")

    idc = pick(id_column, "--failing-id-column") if id_column else cols[0]
    if label_column:
        lab = pick(label_column, "--failing-label-column")
    else:
        others = [c for c in cols if c != idc]
        named = [c for c in others if any(k in c.lower() for k in LABEL_NAMES)]
        if not others:
            lab = None
        elif named:
            lab = named[0]
        else:
            raise UsageError(f"--failing: no label column in {path} (columns: {', '.join(cols)}); "
                             "name it with --failing-label-column")
    values = tuple(v.strip().lower() for v in (failing_values or FAILING_VALUES))
    ids = pl.col(idc).str.strip_chars()
    frame = frame.filter(ids.is_not_null() & (ids != ""))
    is_fail = pl.lit(True) if lab is None else pl.col(lab).str.strip_chars().str.to_lowercase().is_in(values)
    failing = frame.filter(is_fail.fill_null(False)).select(ids).to_series()
    return FailingLabels(failing=frozenset(failing.to_list()), listed=frame.select(ids).n_unique(),
                         id_column=idc, label_column=lab, failing_values=values, path=str(path))


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


def labeled_prepare(timeline, failing: Collection[str], *, options: MiningOptions,
                    scope: str = "before_error") -> tuple[Prepared, MiningOptions]:
    """Integer-coded actions with the labeled failing sessions and their
    scope as the only candidate windows (see module docstring).

    Returns the :class:`Prepared` arrays and the mining options to grow
    candidates with (a lookback long enough to cover every failing session).
    """
    if scope not in SCOPES:
        raise UsageError(f"--failing-scope must be one of {', '.join(SCOPES)}, got {scope!r}")
    p = prepare(timeline, options=options)
    keys = pl.Series("k", p.session_keys, dtype=pl.String)
    fail = keys.is_in(pl.Series(list(failing), dtype=pl.String).implode()).to_numpy()
    ns = len(p.session_keys)
    last = np.full(ns, np.iinfo(np.int64).min + 1, dtype=np.int64)
    if len(p.ts):
        np.maximum.at(last, p.sess, p.ts)
    err_cut = p.cut if scope == "before_error" else np.full(ns, _NO_CUT, dtype=np.int64)
    cut = np.where(fail & (err_cut == _NO_CUT), last + 1, err_cut)
    span = int(p.ts.max() - p.ts.min()) if len(p.ts) else 0
    empty = np.zeros(0, dtype=np.int64)
    lp = replace(p, failing=fail, control=~fail, cut=cut, elig=p.ts < cut[p.sess],
                 onsets=empty, onset_burst=empty, window_lo=empty)
    return lp, replace(options, lookback_s=(span + 2_000_000) / 1e6)


def _singles(p: Prepared) -> pl.DataFrame:
    """Length-1 candidates (actions failing sessions did in scope) with the
    same counts as :func:`.candidates.grow`."""
    V = len(p.vocab)
    sess_hash = (_set_hash(np.arange(len(p.session_keys))) & np.uint64(_MASK)).astype(np.float64)
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
        "sig_sessions": np.bincount(code, weights=sess_hash[sess], minlength=V).astype(np.int64),
    })
    return out.filter(pl.col("failing_with") > 0).select(
        pl.lit(1, dtype=pl.Int32).alias("length"), pl.concat_list(pl.col("code")).alias("codes"),
        "support", "completions", "failing_with", "control_with", "sig_sessions")


def labeled_candidates(p: Prepared, grow_options: MiningOptions) -> pl.DataFrame:
    """All candidates (length 1..max_len) with a failing occurrence in scope,
    one row per hypothesis (same supporting sessions), shortest first, with
    ``members`` (the other patterns of the group, longest first)."""
    cols = ["length", "codes", "support", "completions", "failing_with", "control_with", "sig_sessions"]
    parts = [_singles(p)]
    if grow_options.max_len >= 2:
        pats = grow(p, options=grow_options).patterns
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


def _stratified(p: np.ndarray, pmin: np.ndarray, testable: np.ndarray, level: np.ndarray, alpha_s: float,
                strata: int) -> tuple[np.ndarray, np.ndarray]:
    """Tarone + BH inside each length stratum (as :mod:`.score` does)."""
    tested = np.zeros(len(p), dtype=bool)
    q = np.ones(len(p))
    for lv in np.unique(level[testable]):  # max_len strata
        idx = np.flatnonzero(testable & (level == lv))
        idx = idx[tarone_family(pmin[idx], alpha_s)]
        tested[idx] = True
        q[idx] = np.minimum(1.0, strata * bh_qvalues(p[idx]))
    return tested, q


def is_subsequence(small: tuple[int, ...], big: tuple[int, ...]) -> bool:
    """Whether ``small`` is a (not necessarily contiguous) subsequence of ``big``.

    >>> is_subsequence((1, 3), (1, 2, 3)), is_subsequence((3, 1), (1, 2, 3))
    (True, False)
    """
    it = iter(big)
    return all(any(x == y for y in it) for x in small)


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


def occurrences(p: Prepared, codes: tuple[int, ...], *, max_gap: int, max_span_s: float) -> np.ndarray:
    """Rows of every occurrence of ``codes``: one per completion row, the
    embedding with the latest start, shape ``(n, len(codes))``.

    >>> from types import SimpleNamespace as NS
    >>> p = NS(code=np.array([0, 1, 0, 1, 1]), sess=np.array([0, 0, 0, 0, 1]), ts=np.arange(5) * 1_000_000)
    >>> occurrences(p, (0, 1), max_gap=1, max_span_s=60).tolist()
    [[0, 1], [2, 3]]
    """
    n = len(p.code)
    paths = np.flatnonzero(p.code == codes[0])[:, None]
    span = int(max_span_s * 1e6)
    for c in codes[1:]:
        ext = []
        for g in range(max_gap + 1):  # a handful of gaps
            nxt = paths[:, -1] + 1 + g
            ok = nxt < n
            nx = np.where(ok, nxt, 0)
            ok &= (p.sess[nx] == p.sess[paths[:, -1]]) & (p.code[nx] == c) & (p.ts[nx] - p.ts[paths[:, 0]] <= span)
            ext.append(np.hstack([paths[ok], nx[ok, None]]))
        paths = np.vstack(ext) if ext else paths[:0]
        if len(paths) == 0:
            return np.zeros((0, len(codes)), dtype=np.int64)
        # one path per end row: the latest start
        order = np.lexsort((-paths[:, 0], paths[:, -1]))
        paths = paths[order]
        paths = paths[np.r_[True, paths[1:, -1] != paths[:-1, -1]]]
    return paths.astype(np.int64)


def sessions_with(p: Prepared, codes: tuple[int, ...], *, max_gap: int, max_span_s: float) -> np.ndarray:
    """Boolean per session index: the sequence occurs in it (anywhere)."""
    out = np.zeros(len(p.session_keys), dtype=bool)
    occ = occurrences(p, codes, max_gap=max_gap, max_span_s=max_span_s)
    out[p.sess[occ[:, -1]]] = True
    return out


def _explain(a: int, n1: int, c: int, n0: int, rr: float) -> str:
    return (f"done by {a:,} of {n1:,} failing sessions ({a / n1:.1%}) and {c:,} of {n0:,} other "
            f"sessions ({c / n0:.1%}); risk ratio {rr:.1f}")


def mine_labeled(timeline, failing: Collection[str] | FailingLabels, *, options: MiningOptions = MiningOptions(),
                 scope: str = "before_error", min_control_share: float = 0.9) -> LabeledResult:
    """Enriched sequences and missing steps of labeled failing sessions.

    Parameters
    ----------
    timeline
        A :class:`~forensics.timeline.model.Timeline`.
    failing
        Failing session keys (or :func:`read_failing`'s result).
    options
        ``max_len``, ``max_gap``, ``max_span_s``, ``alpha``,
        ``min_risk_ratio``, ``top`` and ``examples`` are used.
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
    p, gopts = labeled_prepare(timeline, fail_ids, options=options, scope=scope)
    n1, n0 = int(p.failing.sum()), int(p.control.sum())
    unmatched = len(fail_ids) - n1
    strata = options.max_len + 1
    alpha_s = options.alpha / strata
    cands = labeled_candidates(p, gopts) if n1 else pl.DataFrame(
        schema={"gid": pl.UInt32, "length": pl.Int32, "codes": pl.List(pl.Int64), "support": pl.Int64,
                "completions": pl.Int64, "failing_with": pl.Int64, "control_with": pl.Int64,
                "members": pl.List(pl.List(pl.Int64))})
    a, c = cands["failing_with"].to_numpy(), cands["control_with"].to_numpy()
    e = enrichment(a, c, n1, n0)
    testable = e["testable"] & (e["rr_max"] >= options.min_risk_ratio)
    tested, q = _stratified(e["p"], e["pmin"], testable, cands["length"].to_numpy(), alpha_s, strata)
    scored = cands.with_columns(
        p_value=np.where(tested, e["p"], 1.0), q_value=q, risk_ratio=e["risk_ratio"], tested=tested,
        rr_low=risk_ratio_low(a, c, n1, n0),
    ).with_columns(
        significant=pl.col("tested") & (pl.col("q_value") <= options.alpha)
        & (pl.col("risk_ratio") >= options.min_risk_ratio),
    ).sort(["significant", "rr_low", "q_value", "failing_with", "length", "gid"],
           descending=[True, True, False, True, False, False])
    missing, m_tested = missing_steps(
        p.code, p.sess, p.vocab, p.session_keys, p.failing, p.control, ts=p.ts, alpha=options.alpha, strata=strata,
        min_risk_ratio=options.min_risk_ratio, min_control_share=min_control_share, top=options.top,
        examples=options.examples)

    sig = productive(scored.filter("significant"), options.top)
    near = scored.filter(pl.col("tested") & ~pl.col("significant")).head(RUNNERS_UP)
    span_h = max((p.ts.max() - p.ts.min()) / 3.6e9, 1e-9) if len(p.ts) else 1e-9
    errs = timeline.session_errors

    def build(frame: pl.DataFrame, first: int) -> tuple[list[Suspect], list[pl.DataFrame]]:
        out, steps = [], []
        for i, row in enumerate(frame.iter_rows(named=True)):  # at most top + 5 suspects
            codes = tuple(row["codes"])
            seq = tuple(p.vocab[x] for x in codes)
            occ = occurrences(p, codes, max_gap=options.max_gap, max_span_s=options.max_span_s)
            occ = occ[p.elig[occ[:, -1]]]
            sidx = np.unique(p.sess[occ[:, -1]])
            fail_s = sidx[p.failing[sidx]]
            last_ts = np.zeros(len(p.session_keys), dtype=np.int64)
            np.maximum.at(last_ts, p.sess[occ[:, -1]], p.ts[occ[:, -1]])
            ex = fail_s[np.argsort(-last_ts[fail_s], kind="stable")][: options.examples]
            fkeys = [p.session_keys[j] for j in fail_s]
            bursts = sorted(set(errs.filter(pl.col("session_key").is_in(fkeys))["burst_id"].drop_nulls().to_list()))
            rank = first + i
            out.append(Suspect(
                rank=rank, sequence=seq, burst_ids=tuple(int(b) for b in bursts), lead_time_s=(),
                sessions=int(row["support"]), users=len({u for u in p.users[sidx] if u is not None}),
                completions=int(row["completions"]), baseline_rate_per_hour=row["completions"] / span_h,
                p_onset=1.0, p_enrichment=float(row["p_value"]), p_value=float(row["p_value"]),
                q_value=float(row["q_value"]), risk_ratio=float(row["risk_ratio"]), rate_ratio=0.0,
                failing_with=int(row["failing_with"]), control_with=int(row["control_with"]),
                significant=bool(row["significant"]), resources=(),
                explanation=_explain(int(row["failing_with"]), n1, int(row["control_with"]), n0,
                                     float(row["risk_ratio"])),
                example_sessions=tuple(p.session_keys[j] for j in ex),
                collapsed=tuple(tuple(p.vocab[x] for x in m) for m in (row["members"] or [])[:COLLAPSED_SHOWN]),
            ))
            steps.append(_steps_frame(p, rank, occ))
        return out, steps

    suspects, steps = build(sig, 1)
    runners, _ = build(near, len(suspects) + 1)
    verdicts = []
    for b in timeline.bursts:  # a handful of bursts
        ranks = tuple(s.rank for s in suspects if b.id in s.burst_ids)
        note = (f"failing sessions that erred in burst {b.id} share suspect #{ranks[0]}: "
                f"{' -> '.join(suspects[ranks[0] - 1].sequence)}" if ranks else
                f"no suspect of the labeled failing sessions erred in burst {b.id}")
        verdicts.append(BurstVerdict(burst_id=int(b.id), explained=bool(ranks), suspect_ranks=ranks, note=note))
    mined = MiningResult(
        suspects=tuple(suspects), runners_up=tuple(runners), affected_paths=(), burst_verdicts=tuple(verdicts),
        candidates=cands.height, candidates_rare=cands.height, candidates_tested=int(tested.sum()) + m_tested,
        options=options, steps=pl.concat(steps) if steps else pl.DataFrame(schema=STEP_SCHEMA),
    )
    return LabeledResult(mining=mined, missing=missing, n_failing=n1, n_control=n0, unmatched=unmatched,
                         scope=scope, missing_tested=m_tested, labels=labels, vocab=p.vocab)


def _steps_frame(p: Prepared, rank: int, occ: np.ndarray) -> pl.DataFrame:
    """One row per step of every occurrence (the schema of ``MiningResult.steps``)."""
    if len(occ) == 0:
        return pl.DataFrame(schema=STEP_SCHEMA)
    k = occ.shape[1]
    rows = occ.reshape(-1)
    sidx = p.sess[rows]
    return pl.DataFrame({
        "rank": np.full(len(rows), rank, dtype=np.int32),
        "occurrence": np.repeat(np.arange(1, len(occ) + 1, dtype=np.int32), k),
        "session_key": [p.session_keys[j] for j in sidx],
        "user": [p.users[j] for j in sidx],
        "step": np.tile(np.arange(1, k + 1, dtype=np.int32), len(occ)),
        "ts": [us_dt(t) for t in p.ts[rows]],
        "action": [p.vocab[x] for x in p.code[rows]],
        "request_id": list(p.request_id[rows]),
        "row": rows,
    }, schema=STEP_SCHEMA)


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
        hit = sessions_with(p, tuple(index[a] for a in s.sequence), max_gap=opts.max_gap, max_span_s=opts.max_span_s)
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
