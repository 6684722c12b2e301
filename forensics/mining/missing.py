"""Missing steps: what succeeding sessions almost always reach and failing ones never do.

Failures often show as an *absence*: an HDFS block that broke never logs
``Received block ... of size ...`` or ``addStoredBlock: blockMap updated``.
For every action ``X`` (docs/statistics.md, "Missing steps", has the
formulas of the tests):

* ``a`` failing sessions reached ``X`` (anywhere in the session: a step
  reached after the first error was still reached), ``c`` control sessions
  did; ``n1`` / ``n0`` sessions in each group;
* censoring: a session is judged for ``X`` only when it started at least
  ``delay(X)`` before the end of the log, ``delay(X)`` being the 99th
  percentile, over the control sessions that reached ``X``, of the time from
  their first action to their first ``X`` (a block created minutes before
  the log ends has not been deleted *yet*; it did not fail to be);
  ``a``, ``c``, ``n1``, ``n0`` count judged sessions only;
* ``X`` is a *step* when the control sessions almost always reach it:
  ``c / n0 >= min_control_share`` (0.9);
* depletion, one-sided Fisher: ``p = P(A <= a)``, ``A ~ Hypergeom(n1 + n0,
  n1, a + c)``; the smallest attainable p (all non-reachers failing) makes it
  Tarone-testable; BH q-values over the testable steps, multiplied by the
  number of strata the caller splits ``alpha`` over;
* risk ratio of *not* reaching it, Haldane-Anscombe corrected:
  ``((n1 - a + 0.5) / (n1 + 1)) / ((n0 - c + 0.5) / (n0 + 1))``, which must
  reach ``min_risk_ratio`` (2).

Reported as ``never reached: X``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from .model import MiningOptions
from .stats import stratified

#: A step is one that at least this share of control sessions reaches.
MIN_CONTROL_SHARE = 0.9


@dataclass(frozen=True)
class MissingStep:
    """One step that failing sessions do not reach."""

    rank: int
    step: str
    failing_reached: int  # a: failing sessions that reached it
    failing_sessions: int  # n1
    control_reached: int  # c
    control_sessions: int  # n0
    p_value: float  # one-sided Fisher, depletion in failing sessions
    q_value: float
    risk_ratio: float  # of not reaching it, failing vs control
    significant: bool
    example_sessions: tuple[str, ...]  # failing sessions that never reached it
    explanation: str
    delay_s: float = 0.0  # 99th percentile of the time controls take to reach it (censoring)

    @property
    def failing_missing(self) -> int:
        """Failing sessions that never reached the step."""
        return self.failing_sessions - self.failing_reached


#: Quantile of the control sessions' time-to-step used for censoring.
DELAY_QUANTILE = 0.99


def step_table(code: np.ndarray, sess: np.ndarray, failing: np.ndarray, control: np.ndarray,
               n_codes: int, *, ts: np.ndarray | None = None, end: int | None = None) -> pl.DataFrame:
    """Per action code: ``failing_reached`` / ``control_reached`` (judged
    sessions that reached it), ``failing_judged`` / ``control_judged``
    (sessions old enough to be judged) and ``delay_us``.

    Without ``ts`` every session is judged (no censoring).

    >>> t = step_table(np.array([0, 1, 0, 0]), np.array([0, 0, 1, 2]), np.array([True, False, False]),
    ...                np.array([False, True, True]), 2)
    >>> t.select("code", "failing_reached", "control_reached", "control_judged").rows()
    [(0, 1, 2, 2), (1, 1, 0, 2)]
    """
    ns = len(failing)
    ts = np.zeros(len(code), dtype=np.int64) if ts is None else np.asarray(ts, dtype=np.int64)
    rows = pl.DataFrame({"code": code.astype(np.int64), "sess": sess.astype(np.int64), "ts": ts})
    start = rows.group_by("sess").agg(pl.col("ts").min().alias("start"))
    first = (rows.group_by("code", "sess").agg(pl.col("ts").min().alias("first"))
             .join(start, on="sess", how="left")
             .with_columns((pl.col("first") - pl.col("start")).alias("delay")))
    fcode, fsess = first["code"].to_numpy(), first["sess"].to_numpy()
    delay = np.zeros(n_codes, dtype=np.int64)
    ctrl_rows = control[fsess]
    if ctrl_rows.any():
        q = (pl.DataFrame({"code": fcode[ctrl_rows], "delay": first["delay"].to_numpy()[ctrl_rows]})
             .group_by("code").agg(pl.col("delay").quantile(DELAY_QUANTILE, "higher")))
        delay[q["code"].to_numpy()] = q["delay"].to_numpy()
    sess_start = np.full(ns, np.iinfo(np.int64).max, dtype=np.int64)
    sess_start[start["sess"].to_numpy()] = start["start"].to_numpy()
    log_end = end if end is not None else (int(ts.max()) if len(ts) else 0)
    age = np.where(sess_start == np.iinfo(np.int64).max, -1, log_end - sess_start)  # -1: no actions
    judged_row = age[fsess] >= delay[fcode]
    fr = failing[fsess] & judged_row
    cr = control[fsess] & judged_row
    # sessions judged per code: those whose age reaches the code's delay
    ages_f = np.sort(age[failing])
    ages_c = np.sort(age[control])
    judged_f = len(ages_f) - np.searchsorted(ages_f, delay, side="left")
    judged_c = len(ages_c) - np.searchsorted(ages_c, delay, side="left")
    return pl.DataFrame({
        "code": np.arange(n_codes, dtype=np.int64),
        "failing_reached": np.bincount(fcode[fr], minlength=n_codes).astype(np.int64),
        "control_reached": np.bincount(fcode[cr], minlength=n_codes).astype(np.int64),
        "failing_judged": judged_f.astype(np.int64),
        "control_judged": judged_c.astype(np.int64),
        "delay_us": delay,
    })


def depletion(a: np.ndarray, c: np.ndarray, n1, n0) -> dict[str, np.ndarray]:
    """One-sided Fisher test for *fewer* failing sessions reaching a step
    (``n1`` / ``n0``: scalars or one per step).

    >>> d = depletion(np.array([0, 47]), np.array([950, 893]), 50, 950)  # never vs 94 % like the others
    >>> bool(d["p"][0] < 1e-80), round(float(d["p"][1]), 2), round(float(d["risk_ratio"][0]), 1)
    (True, 0.59, 1883.4)
    """
    a = np.asarray(a, dtype=np.int64)
    c = np.asarray(c, dtype=np.int64)
    n1 = np.broadcast_to(np.asarray(n1, dtype=np.int64), a.shape)
    n0 = np.broadcast_to(np.asarray(n0, dtype=np.int64), a.shape)
    total, s = n1 + n0, a + c
    ok = (n1 > 0) & (n0 > 0)
    a_min = np.maximum(0, s - n0)
    with np.errstate(divide="ignore", invalid="ignore"):
        from scipy import stats as sps

        p = np.where(ok, sps.hypergeom.cdf(a, total, n1, s), 1.0)
        pmin = np.where(ok, sps.hypergeom.cdf(a_min, total, n1, s), 1.0)
        rr = np.where(ok, ((n1 - a + 0.5) / (n1 + 1)) / ((n0 - c + 0.5) / (n0 + 1)), 1.0)
        rr_max = np.where(ok, ((n1 - a_min + 0.5) / (n1 + 1)) / ((n0 - (s - a_min) + 0.5) / (n0 + 1)), 1.0)
    return {"p": np.clip(np.nan_to_num(p, nan=1.0), 0.0, 1.0), "pmin": np.nan_to_num(pmin, nan=1.0),
            "risk_ratio": rr, "rr_max": rr_max}


def _explain(step: str, a: int, n1: int, c: int, n0: int) -> str:
    miss1, miss0 = n1 - a, n0 - c
    return (f"never reached: {step}; {miss1:,} of {n1:,} failing sessions ({miss1 / n1:.1%}) never reached it, "
            f"against {miss0:,} of {n0:,} other sessions ({miss0 / n0:.1%})")


def missing_steps(p, *, options: MiningOptions = MiningOptions(), strata: int = 1,
                  min_control_share: float = MIN_CONTROL_SHARE,
                  end: int | None = None) -> tuple[tuple[MissingStep, ...], int]:
    """Rank the steps failing sessions do not reach (docs/statistics.md, "Missing steps").

    Parameters
    ----------
    p
        The actions: ``code``, ``sess`` and ``ts`` (us; None: no censoring)
        per row, ``vocab`` and ``session_keys`` (names of the codes and the
        sessions), ``failing`` and ``control`` (bool per session); a
        :class:`~forensics.mining.candidates.Prepared` has them all.
    options
        ``alpha``, ``min_risk_ratio``, ``top`` and ``examples`` are used.
    strata
        The family gets ``alpha / strata``; q-values are multiplied by
        ``strata`` so that ``q <= alpha`` is the rule.
    min_control_share
        A step is reached by at least this share of control sessions.
    end
        The end of the log for censoring (default: the last action).

    Returns
    -------
    tuple
        Significant missing steps (best first, at most ``top``) and the
        number of steps tested.

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> # 20 sessions: 0-4 failing, never reach code 1; everyone reaches code 0
    >>> fail = np.arange(20) < 5
    >>> p = NS(sess=np.r_[np.arange(20), np.arange(5, 20)], code=np.r_[np.zeros(20, int), np.ones(15, int)],
    ...        ts=None, vocab=("start", "done"), session_keys=tuple(map(str, range(20))), failing=fail, control=~fail)
    >>> found, tested = missing_steps(p)
    >>> [(m.step, m.failing_reached, m.control_reached) for m in found], tested
    ([('done', 0, 15)], 1)
    """
    code, sess, vocab, failing, control = p.code, p.sess, p.vocab, p.failing, p.control
    alpha, min_risk_ratio = options.alpha, options.min_risk_ratio
    if int(failing.sum()) == 0 or int(control.sum()) == 0 or len(vocab) == 0:
        return (), 0
    t = step_table(code, sess, failing, control, len(vocab), ts=p.ts, end=end)
    t = t.filter((pl.col("control_judged") > 0)
                 & (pl.col("control_reached") >= min_control_share * pl.col("control_judged")))
    a, c = t["failing_reached"].to_numpy(), t["control_reached"].to_numpy()
    n1, n0 = t["failing_judged"].to_numpy(), t["control_judged"].to_numpy()
    d = depletion(a, c, n1, n0)
    tested, q = stratified(d["p"], d["pmin"], d["rr_max"] >= min_risk_ratio, np.zeros(len(a), dtype=np.int64),
                           alpha_s=alpha / strata, strata=strata)  # one stratum
    sig = tested & (q <= alpha) & (d["risk_ratio"] >= min_risk_ratio)
    codes = t["code"].to_numpy()
    delay = t["delay_us"].to_numpy()
    order = sorted(np.flatnonzero(sig), key=lambda i: (q[i], d["p"][i], -d["risk_ratio"][i], vocab[codes[i]]))
    out = []
    for rank, i in enumerate(order[:options.top], start=1):  # a handful of steps
        reached = np.zeros(len(failing), dtype=bool)
        reached[sess[code == codes[i]]] = True
        never = np.flatnonzero(failing & ~reached)
        name = vocab[codes[i]]
        out.append(MissingStep(
            rank=rank, step=name, failing_reached=int(a[i]), failing_sessions=int(n1[i]),
            control_reached=int(c[i]), control_sessions=int(n0[i]), p_value=float(d["p"][i]), q_value=float(q[i]),
            risk_ratio=float(d["risk_ratio"][i]), significant=True,
            example_sessions=tuple(p.session_keys[j] for j in never[-options.examples:][::-1]),
            explanation=_explain(name, int(a[i]), int(n1[i]), int(c[i]), int(n0[i])),
            delay_s=float(delay[i]) / 1e6,
        ))
    return tuple(out), int(tested.sum())


def missing_to_json(m: MissingStep) -> dict:
    """A missing step as a ``suspects`` entry of ``scan --json`` (``kind`` = ``missing_step``).

    The documented suspect keys are all present (``sequence`` is the one
    step; onset and resource keys are empty); ``failing_with`` /
    ``control_with`` count the sessions that *reached* the step, and
    ``failing_missing`` / ``control_missing`` those that did not.
    """
    return {
        "rank": m.rank,
        "kind": "missing_step",
        "sequence": [m.step],
        "step": m.step,
        "burst_ids": [],
        "lead_time_s": [],
        "sessions": m.failing_reached + m.control_reached,
        "users": 0,
        "baseline_rate_per_hour": None,
        "p_value": m.p_value,
        "q_value": m.q_value,
        "risk_ratio": m.risk_ratio,
        "resources": [],
        "explanation": m.explanation,
        "example_sessions": list(m.example_sessions),
        "p_onset": 1.0,
        "p_enrichment": m.p_value,
        "rate_ratio": 0.0,
        "completions": m.failing_reached + m.control_reached,
        "failing_with": m.failing_reached,
        "control_with": m.control_reached,
        "failing_missing": m.failing_missing,
        "control_missing": m.control_sessions - m.control_reached,
        "delay_s": m.delay_s,
        "significant": m.significant,
        "collapsed": [],
    }
