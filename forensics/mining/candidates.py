"""Candidate generation and support counting.

Occurrence semantics (see docs/statistics.md, "Occurrences"): a sequence
``(a1..ak)`` occurs in a session at action positions ``p1 < ... < pk`` when
``action[pi] == ai``, ``p(i+1) - pi - 1 <= max_gap`` and
``ts[pk] - ts[p1] <= max_span_s``.  Its *completion* is the position ``pk``;
several embeddings ending at the same position are one completion.

Candidates are the sequences with at least one occurrence lying wholly inside
a window: a pre-onset window ``[max(onset - lookback, previous onset),
onset)`` or a failing session's pre-error window ``[cut - lookback, cut)``.
Only *eligible* actions count (strictly before the session's first error),
so what users did after an error is never a precursor.  Candidates are then
counted over every session of the log.

Growth is Apriori-style and level-wise: a level-k state is one
``(pattern, completion row)`` with the latest possible start time of an
embedding ending there (enough for the gap and span rules).  A state extends
to the rows ``end+1 .. end+1+max_gap`` of the same session; only patterns
with a window occurrence are kept and extended (a window occurrence of
``P+a`` contains one of ``P`` and of ``suffix(P)+a``).  All work is numpy and
Polars over arrays; the only Python loops are over k and over the gap.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np
import polars as pl

from .model import MiningOptions

_NO_CUT = np.iinfo(np.int64).max
_MASK = (1 << 36) - 1  # set hashes: sums of 36-bit hashes stay exact in float64
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Prepared:
    """Integer-coded actions and the windows, ready for growth."""

    sess: np.ndarray  # int64 session index per row (rows sorted by session, seq)
    code: np.ndarray  # int64 action code per row
    ts: np.ndarray  # int64 microseconds per row
    elig: np.ndarray  # bool: strictly before the session's first error
    vocab: tuple[str, ...]
    session_keys: tuple[str, ...]
    users: np.ndarray  # object: user per session index
    cut: np.ndarray  # int64 per session: first error (or max int)
    failing: np.ndarray  # bool per session: erred in a burst
    control: np.ndarray  # bool per session: never erred
    onsets: np.ndarray  # int64 sorted onsets (us)
    onset_burst: np.ndarray  # int64 burst id per onset
    window_lo: np.ndarray  # int64 lower bound of each onset's window
    request_id: np.ndarray  # object per row
    rows: pl.DataFrame  # the sorted actions frame (for linkage)
    #: a completion up to this long after an onset still counts as before it
    #: (timestamp precision, clock skew between logs): windows end at
    #: ``onset + onset_slack_us``
    onset_slack_us: int = 0

    @property
    def horizon(self) -> np.ndarray:
        """Where each onset's pre-onset window ends (``onsets + slack``)."""
        return self.onsets + self.onset_slack_us


@dataclass(frozen=True)
class Counted:
    """Every candidate pattern with its counts, and completions of rare ones."""

    patterns: pl.DataFrame  # gid, length, codes(list), support, completions, failing_with, control_with, ...
    completions: pl.DataFrame  # gid, row, elig: every completion of the rare candidates
    n_sessions: int
    n_failing: int
    n_control: int


def dt_us(value: datetime) -> int:
    """Microseconds since the epoch (naive datetimes are taken as UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return (value - _EPOCH) // timedelta(microseconds=1)


def us_dt(value: int) -> datetime:
    """Inverse of :func:`dt_us` (an aware UTC datetime)."""
    return _EPOCH + timedelta(microseconds=int(value))


def _us(col: str) -> pl.Expr:
    return pl.col(col).dt.replace_time_zone("UTC").dt.epoch("us")


def prepare(timeline, *, options: MiningOptions = MiningOptions()) -> Prepared:
    """Integer-code a :class:`~forensics.timeline.model.Timeline` for mining.

    Examples
    --------
    >>> from tests.mining_fixtures import tiny_timeline  # doctest: +SKIP
    >>> prepare(tiny_timeline()).vocab                    # doctest: +SKIP
    ('a', 'b')
    """
    acts = (
        timeline.actions.filter(pl.col("session_key").is_not_null() & pl.col("action").is_not_null())
        .sort(["session_key", "seq"])
    )
    sessions = timeline.sessions.select("session_key", "user", "first_error")
    keys = (
        pl.concat([acts.select("session_key"), sessions.select("session_key")])
        .unique()
        .sort("session_key")
        .with_row_index("sidx")
    )
    vocab = acts.select(pl.col("action").unique().sort()).to_series()
    vmap = pl.DataFrame({"action": vocab, "code": np.arange(len(vocab), dtype=np.int64)})
    acts = acts.join(keys, on="session_key", how="left").join(vmap, on="action", how="left")

    burst_err = timeline.session_errors.group_by("session_key").agg(
        _us("first_error").min().alias("burst_first")
    )
    per_sess = (
        keys.join(sessions.with_columns(_us("first_error").alias("first")), on="session_key", how="left")
        .join(burst_err, on="session_key", how="left")
        .join(acts.group_by("session_key").agg(pl.col("user").drop_nulls().first().alias("auser")),
              on="session_key", how="left")
        .sort("sidx")
        .with_columns(
            pl.min_horizontal("first", "burst_first").fill_null(_NO_CUT).alias("cut"),
            pl.col("burst_first").is_not_null().alias("failing"),
            (pl.col("first").is_null() & pl.col("burst_first").is_null()).alias("control"),
            pl.coalesce("user", "auser").alias("u"),
        )
    )
    cut = per_sess["cut"].to_numpy().astype(np.int64)
    sess = acts["sidx"].to_numpy().astype(np.int64)
    ts = acts.select(_us("ts")).to_series().to_numpy().astype(np.int64)

    pairs = sorted({(dt_us(o), int(b.id)) for b in timeline.bursts for o in b.onsets})
    onsets = np.array([p[0] for p in pairs], dtype=np.int64)
    onset_burst = np.array([p[1] for p in pairs], dtype=np.int64)
    look = int(options.lookback_s * 1e6)
    slack = int(options.onset_slack_s * 1e6)
    horizon = onsets + slack
    prev = np.concatenate([[np.iinfo(np.int64).min], horizon[:-1]]) if len(onsets) else onsets
    window_lo = np.maximum(horizon - look, prev)

    return Prepared(
        sess=sess,
        code=acts["code"].to_numpy().astype(np.int64),
        ts=ts,
        elig=ts < cut[sess],
        vocab=tuple(vocab.to_list()),
        session_keys=tuple(per_sess["session_key"].to_list()),
        users=np.array(per_sess["u"].to_list(), dtype=object),
        cut=cut,
        failing=per_sess["failing"].to_numpy(),
        control=per_sess["control"].to_numpy(),
        onsets=onsets,
        onset_burst=onset_burst,
        window_lo=window_lo,
        request_id=np.array(acts["request_id"].to_list(), dtype=object),
        rows=acts,
        onset_slack_us=slack,
    )


def _row_bounds(p: Prepared, look_us: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the earliest start that puts an occurrence ending there inside
    a pre-onset window / its session's pre-error window (int64 max: none)."""
    big = np.iinfo(np.int64).max
    onset_lo = np.full(len(p.ts), big, dtype=np.int64)
    if len(p.onsets):
        j = np.searchsorted(p.horizon, p.ts, side="right")
        inside = p.elig & (j < len(p.onsets))
        onset_lo[inside] = p.window_lo[j[inside]]
    err_lo = np.where(p.elig & p.failing[p.sess], p.cut[p.sess] - look_us, big)
    return onset_lo, err_lo


def _window_flags(p: Prepared, end: np.ndarray, start: np.ndarray, look_us: int,
                  bounds: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(pre-onset window occurrence, pre-error window occurrence) per state."""
    onset_lo, err_lo = bounds if bounds is not None else _row_bounds(p, look_us)
    return start >= onset_lo[end], start >= err_lo[end]


def _set_hash(values: np.ndarray) -> np.ndarray:
    """A 64-bit mixing hash (splitmix64) per value; sums of it hash a set."""
    z = values.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _level_stats(p: Prepared, pid: np.ndarray, end: np.ndarray, npat: int, row_hash: np.ndarray,
                 sess_hash: np.ndarray) -> dict[str, np.ndarray]:
    """Per-pattern counts from deduplicated states sorted by (pid, end).

    Rows are grouped by session, so within one pattern the sessions of its
    states are sorted too: (pattern, session) pairs are found by one scan.
    """
    s = p.sess[end]
    el = p.elig[end]
    first = np.r_[True, (pid[1:] != pid[:-1]) | (s[1:] != s[:-1])] if len(pid) else np.zeros(0, bool)
    pi = np.flatnonzero(first)
    ppid, psess = pid[pi], s[pi]
    pel = np.maximum.reduceat(el.astype(np.uint8), pi).astype(bool) if len(pi) else np.zeros(0, bool)
    fail = p.failing[psess] & pel
    ctrl = p.control[psess]
    hs = sess_hash[psess]
    hc = row_hash[end[el]]

    def count(ids, w=None):
        return np.bincount(ids, weights=w, minlength=npat)

    return {
        "support": count(ppid).astype(np.int64),
        "completions": count(pid[el]).astype(np.int64),
        "failing_with": count(ppid, fail).astype(np.int64),
        "control_with": count(ppid, ctrl).astype(np.int64),
        "sig_sessions": count(ppid, hs).astype(np.int64),
        "sig_failing": count(ppid[fail], hs[fail]).astype(np.int64),
        "sig_completions": count(pid[el], hc).astype(np.int64),
    }


def _dedupe_sorted(key: np.ndarray, end: np.ndarray, start: np.ndarray, n: int):
    """One state per (key, end) with the latest start, sorted by (key, end)."""
    comb = key * np.int64(n) + end
    order = np.argsort(comb)
    cs = comb[order]
    idx = np.flatnonzero(np.r_[True, cs[1:] != cs[:-1]])
    st = np.maximum.reduceat(start[order], idx)
    u = cs[idx]
    return u // np.int64(n), u % np.int64(n), st


def grow(p: Prepared, *, options: MiningOptions = MiningOptions()) -> Counted:
    """Generate candidates from the windows and count them over the whole log.

    Returns every candidate of length >= 2 with its session support, eligible
    completions, failing/control session counts and set signatures, plus the
    completions (with an ``elig`` flag) of the rare ones (support below
    ``max_support``).
    """
    n = len(p.code)
    n_sessions = len(p.session_keys)
    look_us = int(options.lookback_s * 1e6)
    span_us = int(options.max_span_s * 1e6)
    rare_below = options.max_support * n_sessions
    V = np.int64(max(len(p.vocab), 1))

    # level 1: single actions with a window occurrence
    rows = np.arange(n, dtype=np.int64)
    bounds = _row_bounds(p, look_us)
    row_hash = (_set_hash(rows) & np.uint64(_MASK)).astype(np.float64)
    sess_hash = (_set_hash(np.arange(n_sessions)) & np.uint64(_MASK)).astype(np.float64)
    ow, ew = _window_flags(p, rows, p.ts, look_us, bounds)
    keep_code = np.zeros(int(V), dtype=bool)
    keep_code[np.unique(p.code[ow | ew])] = True
    sel = keep_code[p.code]
    pid, end, start = p.code[sel], rows[sel], p.ts[sel]
    # the previous level's patterns: suffix pid (one level down) and a dense
    # table "suffix + a is kept" indexed by suffix pid * V + a
    lvl_suffix = np.zeros(int(V), dtype=np.int64)
    kept_dense = np.ones(int(V) * int(V), dtype=bool)  # unused at k = 2
    frames: list[pl.DataFrame] = []
    compl: list[pl.DataFrame] = []
    codes_prev = np.arange(int(V), dtype=np.int64)[:, None]
    same_next = np.r_[p.sess[1:] == p.sess[:-1], False]
    gid0 = 0
    for k in range(2, options.max_len + 1):
        if len(pid) == 0:
            break
        parts_k, parts_e, parts_s = [], [], []
        alive = np.ones(len(end), dtype=bool)
        for g in range(options.max_gap + 1):
            nxt = end + 1 + g
            alive &= same_next[np.minimum(nxt - 1, n - 1)]  # row nxt exists in the same session
            nx = np.where(alive, nxt, 0)
            c = p.code[nx]
            ok = alive & (p.ts[nx] - start <= span_us) & keep_code[c]
            if k > 2:  # Apriori on the suffix: suffix(P)+a must be a kept pattern
                ok &= kept_dense[lvl_suffix[pid] * V + c]
            parts_k.append(pid[ok] * V + c[ok])
            parts_e.append(nx[ok])
            parts_s.append(start[ok])
        key = np.concatenate(parts_k)
        if len(key) == 0:
            break
        key, nend, nstart = _dedupe_sorted(key, np.concatenate(parts_e), np.concatenate(parts_s), n)
        del parts_k, parts_e, parts_s
        ow, ew = _window_flags(p, nend, nstart, look_us, bounds)
        pb = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
        has_o = np.maximum.reduceat(ow.astype(np.uint8), pb).astype(bool)
        has_e = np.maximum.reduceat(ew.astype(np.uint8), pb).astype(bool)
        present = has_o | has_e
        counts = np.diff(np.r_[pb, len(key)])
        keep = np.repeat(present, counts)
        newid = np.cumsum(present) - 1
        pid = np.repeat(newid, counts)[keep]
        end, start = nend[keep], nstart[keep]
        ukeys = key[pb][present]
        has_o, has_e = has_o[present], has_e[present]
        npat = len(ukeys)
        parent = ukeys // V
        last = ukeys % V
        if k == 2:
            suffix = last  # level-1 pid of the suffix is its code
        else:
            suffix = np.searchsorted(prev_keys, lvl_suffix[parent] * V + last)
        codes = np.concatenate([codes_prev[parent], last[:, None]], axis=1)
        stats = _level_stats(p, pid, end, npat, row_hash, sess_hash)
        frames.append(pl.DataFrame({
            "gid": np.arange(gid0, gid0 + npat, dtype=np.int64),
            "length": np.full(npat, k, dtype=np.int32),
            "codes": pl.Series(codes).cast(pl.List(pl.Int64)),
            "onset_window": has_o,
            "error_window": has_e,
            **stats,
        }))
        rare = stats["support"] < rare_below
        rs = rare[pid]
        compl.append(pl.DataFrame({"gid": pid[rs] + gid0, "row": end[rs], "elig": p.elig[end[rs]]}))
        gid0 += npat
        kept_dense = np.zeros(int(codes_prev.shape[0]) * int(V), dtype=bool)
        kept_dense[ukeys] = True
        prev_keys, lvl_suffix, codes_prev = ukeys, suffix, codes

    if frames:
        patterns = pl.concat(frames, how="vertical_relaxed")
        completions = pl.concat(compl)
    else:
        patterns = pl.DataFrame(
            schema={"gid": pl.Int64, "length": pl.Int32, "codes": pl.List(pl.Int64), "onset_window": pl.Boolean,
                    "error_window": pl.Boolean, "support": pl.Int64, "completions": pl.Int64,
                    "failing_with": pl.Int64, "control_with": pl.Int64, "sig_sessions": pl.Int64,
                    "sig_failing": pl.Int64, "sig_completions": pl.Int64}
        )
        completions = pl.DataFrame(schema={"gid": pl.Int64, "row": pl.Int64, "elig": pl.Boolean})
    return Counted(
        patterns=patterns,
        completions=completions,
        n_sessions=n_sessions,
        n_failing=int(p.failing.sum()),
        n_control=int(p.control.sum()),
    )
