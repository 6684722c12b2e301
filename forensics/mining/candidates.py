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

Growth is level-wise: a level-k state is one ``(pattern, completion row)``
with the latest possible start of an embedding ending there (enough for the
gap and span rules).  A state extends to the rows ``end+1 .. end+1+max_gap``
of the same session; only patterns with a window occurrence are kept and
extended (a window occurrence of ``P+a`` contains one of ``P``).  The engine
(:mod:`.growth`) finds each level's patterns from the window states alone,
then counts them over every session in chunks; all work is numpy and Polars
over arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np
import polars as pl

from ..timeline.sessions import action_rows
from .growth import grow_arrays
from .model import MiningOptions

#: ``Prepared.cut`` of a session that never erred (every action is eligible)
NO_CUT = np.iinfo(np.int64).max
#: Set hashes keep 36 bits of :func:`set_hash`; their sums are int64 (exact,
#: in any order, below 2**27 terms; wrapping, still order-free, beyond).
SET_HASH_MASK = (1 << 36) - 1
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Prepared:
    """Integer-coded actions and the windows, ready for growth."""

    sess: np.ndarray  # int64 session index per row (rows sorted by session, ts, seq)
    code: np.ndarray  # int64 action code per row
    ts: np.ndarray  # int64 microseconds per row
    elig: np.ndarray  # bool: strictly before the session's first error
    vocab: tuple[str, ...]
    session_keys: tuple[str, ...]
    users: pl.Series  # user per session index (String, may be null)
    cut: np.ndarray  # int64 per session: first error (or max int)
    failing: np.ndarray  # bool per session: erred in a burst
    control: np.ndarray  # bool per session: never erred
    onsets: np.ndarray  # int64 sorted onsets (us)
    onset_burst: np.ndarray  # int64 burst id per onset
    window_lo: np.ndarray  # int64 lower bound of each onset's window
    event_row: pl.Series  # per row, its action's row in the timeline's events
    event_request_id: pl.Series  # the events' request ids (read through event_row)
    rows: pl.DataFrame  # the sorted actions' ``resources`` (for linkage; no column when none were linked)
    #: a completion up to this long after an onset still counts as before it
    #: (timestamp precision, clock skew between logs): windows end at
    #: ``onset + onset_slack_us``
    onset_slack_us: int = 0
    #: ``key`` and ``ts`` of the error events that carry a resource key, and
    #: the end (us) of each onset's burst: evidence (c), resource linkage
    #: (None: not prepared, the family is untestable)
    errors: pl.DataFrame | None = None
    onset_end: np.ndarray | None = None

    def request_ids(self, rows: np.ndarray) -> pl.Series:
        """The request id of each of ``rows`` (String, may be null)."""
        return self.event_request_id.gather(self.event_row.gather(rows))

    @property
    def horizon(self) -> np.ndarray:
        """Where each onset's pre-onset window ends (``onsets + slack``)."""
        return self.onsets + self.onset_slack_us


@dataclass(frozen=True)
class Counted:
    """Every candidate pattern with its counts, and completions of rare ones."""

    patterns: pl.DataFrame  # gid, length, codes(list), support, completions, failing_with, control_with, ...
    completions: pl.DataFrame  # gid, row (Int32), elig: every completion of the rare candidates
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


#: The action columns mining reads (``resources`` when the timeline linked any).
_ROW_COLUMNS = ("session_key", "ts", "seq", "action", "resources", "row")


def _us(col: str) -> pl.Expr:
    return pl.col(col).dt.replace_time_zone("UTC").dt.epoch("us")


def _coded_actions(actions: pl.DataFrame, events: pl.DataFrame) -> pl.DataFrame:
    """The actions mining reads: :data:`_ROW_COLUMNS` (``session_key``,
    ``ts`` and ``action`` read from ``events`` by ``row`` unless the table
    has them), rows with a session and an action (a filter copies every
    column: skipped when it keeps all)."""
    acts = action_rows(actions.select([c for c in _ROW_COLUMNS if c in actions.columns]), events,
                       ["session_key", "ts", "action"])
    acts = acts.select([c for c in _ROW_COLUMNS if c in acts.columns])
    keep = pl.col("session_key").is_not_null() & pl.col("action").is_not_null()
    return acts if acts.select(keep.all()).item() else acts.filter(keep)


def _sorted_by_session(acts: pl.DataFrame) -> bool:
    """Whether ``acts`` is sorted by ``sidx, ts, seq`` (no null ``ts``)."""
    if acts.height < 2 or acts["ts"].null_count():
        return acts.height < 2
    s, t, q = pl.col("sidx"), pl.col("ts"), pl.col("seq")
    ns, nt, nq = s.shift(-1), t.shift(-1), q.shift(-1)
    ok = (s < ns) | ((s == ns) & ((t < nt) | ((t == nt) & (q < nq))))
    return bool(acts.select(ok.head(acts.height - 1).all()).item())


def _session_codes(keys: pl.Series, session_keys: pl.Series) -> tuple[pl.DataFrame, pl.Series]:
    """The sorted distinct keys of both series with their index (``sidx``,
    UInt32), and ``sidx`` of every row of ``keys``.  Consecutive rows of one
    session (the actions come in session order) are looked up once: only the
    first key of each run is joined, a join of one row per session instead
    of one per action."""
    start = keys.ne_missing(keys.shift(1))
    run_keys = keys.filter(start).to_frame("session_key")
    table = (pl.concat([run_keys, session_keys.to_frame("session_key")]).unique().sort("session_key")
             .with_row_index("sidx"))
    run_sidx = run_keys.join(table, on="session_key", how="left", maintain_order="left").get_column("sidx")
    return table, run_sidx.gather(start.cum_sum() - 1).alias("sidx")


def prepare(timeline, *, options: MiningOptions = MiningOptions()) -> Prepared:
    """Integer-code a :class:`~forensics.timeline.model.Timeline` for mining.

    Examples
    --------
    >>> from tests.mining_fixtures import tiny_timeline  # doctest: +SKIP
    >>> prepare(tiny_timeline()).vocab                    # doctest: +SKIP
    ('a', 'b')
    """
    acts = _coded_actions(timeline.actions, timeline.events)
    sessions = timeline.sessions.select("session_key", "user", "first_error")
    keys, sidx = _session_codes(acts.get_column("session_key"), sessions.get_column("session_key"))
    vocab = acts.select(pl.col("action").unique().sort()).to_series()
    # codes are positions in the sorted vocabulary: an Enum of it (no join)
    code = acts.get_column("action").cast(pl.Enum(vocab.to_list())).to_physical().cast(pl.Int64).alias("code")
    acts = acts.with_columns(sidx, code)
    if not _sorted_by_session(acts):
        acts = acts.sort(["sidx", "ts", "seq"])  # time order within a session (growth relies on it); sidx follows session_key

    burst_err = timeline.session_errors.group_by("session_key").agg(
        _us("first_error").min().alias("burst_first")
    )
    per_sess = (
        keys.join(sessions.with_columns(_us("first_error").alias("first")), on="session_key", how="left")
        .join(burst_err, on="session_key", how="left")
        .join(acts.select("sidx", timeline.events.get_column("user").gather(acts.get_column("row")))
              .group_by("sidx").agg(pl.col("user").drop_nulls().first().alias("auser")),
              on="sidx", how="left")
        .sort("sidx")
        .with_columns(
            pl.min_horizontal("first", "burst_first").fill_null(NO_CUT).alias("cut"),
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
        users=per_sess["u"],
        cut=cut,
        failing=per_sess["failing"].to_numpy(),
        control=per_sess["control"].to_numpy(),
        onsets=onsets,
        onset_burst=onset_burst,
        window_lo=window_lo,
        event_row=acts["row"],
        event_request_id=timeline.events.get_column("request_id"),
        rows=acts.select([c for c in ("resources",) if c in acts.columns]),
        onset_slack_us=slack,
    )


def row_bounds(p: Prepared, look_us: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the earliest start that puts an occurrence ending there inside
    a pre-onset window / its session's pre-error window ``[cut - look_us,
    cut)`` (int64 max: none).  These are the candidate windows of
    :func:`grow` (an evidence strategy may pass its own)."""
    big = np.iinfo(np.int64).max
    onset_lo = np.full(len(p.ts), big, dtype=np.int64)
    if len(p.onsets):
        j = np.searchsorted(p.horizon, p.ts, side="right")
        inside = p.elig & (j < len(p.onsets))
        onset_lo[inside] = p.window_lo[j[inside]]
    err_lo = np.where(p.elig & p.failing[p.sess], p.cut[p.sess] - look_us, big)
    return onset_lo, err_lo


def evidence_rows(p: Prepared) -> np.ndarray:
    """Rows whose completions evidence (a) and the burst enrichment of credit
    read back: eligible rows inside a pre-onset window (the closest
    completion before each onset) or in a session that erred in a burst."""
    return (p.ts >= row_bounds(p, 0)[0]) | (p.elig & p.failing[p.sess])


def window_flags(p: Prepared, end: np.ndarray, start: np.ndarray, look_us: int,
                 bounds: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(pre-onset window occurrence, pre-error window occurrence) per state
    ``(end row, start time)``: the reference the growth tests check against."""
    onset_lo, err_lo = bounds if bounds is not None else row_bounds(p, look_us)
    return start >= onset_lo[end], start >= err_lo[end]


def set_hash(values: np.ndarray) -> np.ndarray:
    """A 64-bit mixing hash (splitmix64) per value; sums of it hash a set.

    :func:`session_hashes` keeps :data:`SET_HASH_MASK` of it.
    """
    z = values.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def session_hashes(n: int) -> np.ndarray:
    """Masked :func:`set_hash` of ``0 .. n-1`` as int64 (sums hash a set of
    sessions or rows; integer sums do not depend on the order of the terms,
    so counts summed over chunks in any order are the same)."""
    return (set_hash(np.arange(n, dtype=np.int64)) & np.uint64(SET_HASH_MASK)).astype(np.int64)


def grow(p: Prepared, *, options: MiningOptions = MiningOptions(),
         bounds: tuple[np.ndarray, np.ndarray] | None = None, keep_rows: np.ndarray | None = None) -> Counted:
    """Generate candidates from the windows and count them over the whole log.

    Returns every candidate of length >= 2 with its session support, eligible
    completions, failing/control session counts and set signatures, plus the
    completions (with an ``elig`` flag) of the rare ones (support below
    ``max_support``).  ``bounds`` are the candidate windows per row, as
    :func:`row_bounds` returns them; by default the pre-onset windows and the
    ``lookback_s`` pre-error windows.  ``keep_rows`` (bool per row) keeps
    only the completions ending on those rows (what the evidence reads back;
    on a large log the others are most of the memory); counts are unchanged.
    """
    n = len(p.code)
    n_sessions = len(p.session_keys)
    onset_lo, err_lo = bounds if bounds is not None else row_bounds(p, int(options.lookback_s * 1e6))
    frames, compl = grow_arrays(
        sess=p.sess, code=p.code, ts=p.ts, elig=p.elig, failing=p.failing, control=p.control,
        onset_lo=onset_lo, err_lo=err_lo,
        row_hash=session_hashes(n), sess_hash=session_hashes(n_sessions),
        V=max(len(p.vocab), 1), max_len=options.max_len, max_gap=options.max_gap,
        span_us=int(options.max_span_s * 1e6), rare_below=options.max_support * n_sessions, keep_rows=keep_rows,
    )
    if frames:
        patterns = pl.concat(frames, how="vertical_relaxed")
        completions = pl.concat(compl, rechunk=False)
    else:
        patterns = pl.DataFrame(
            schema={"gid": pl.Int64, "length": pl.Int32, "codes": pl.List(pl.Int64), "onset_window": pl.Boolean,
                    "error_window": pl.Boolean, "support": pl.Int64, "completions": pl.Int64,
                    "failing_with": pl.Int64, "control_with": pl.Int64, "sig_sessions": pl.Int64,
                    "sig_failing": pl.Int64, "sig_completions": pl.Int64}
        )
        completions = pl.DataFrame(schema={"gid": pl.Int32, "row": pl.Int32, "elig": pl.Boolean})
    return Counted(
        patterns=patterns,
        completions=completions,
        n_sessions=n_sessions,
        n_failing=int(p.failing.sum()),
        n_control=int(p.control.sum()),
    )
