"""The guard: a previous scan's suspects, watched for their next completion.

``forensics scan ... --export out/`` writes ``out/suspects.parquet``;
``forensics watch logs/ --guard out/suspects.parquet`` raises a ``guard``
alert the moment one of those sequences completes again, in any session,
before any error follows.  A completion is found by the miner's own rule
(:func:`forensics.mining.occurrences.occurrences`: at most ``max_gap``
other actions between two steps, the whole within ``max_span_s``), over the
actions of the watch's window.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import polars as pl

from ..errors import InputError
from ..mining.occurrences import occurrences
from ..timeline.sessions import action_rows


@dataclass(frozen=True)
class GuardSequence:
    """One guarded sequence: its rank in the scan it came from, its steps,
    and the resources that scan linked to the errors that followed."""

    rank: int
    sequence: tuple[str, ...]
    linked_resources: tuple[str, ...] = ()


@dataclass(frozen=True)
class Completion:
    """A guarded sequence completed: where, by whom, through which requests
    and resources (one entry per step, in order)."""

    guard: GuardSequence
    session: str
    user: str | None
    completed_at: datetime
    started_at: datetime
    steps: tuple[dict, ...]


def load_guard(path: str | os.PathLike, *, significant_only: bool = True) -> tuple[GuardSequence, ...]:
    """The sequences of a ``suspects.parquet`` export (``--guard``): the
    significant suspects (all rows with ``significant_only=False``).

    Raises
    ------
    InputError
        The file cannot be read or is not a suspects export.
    """
    try:
        frame = pl.read_parquet(path)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise InputError(f"--guard {path}: cannot read it as Parquet: {str(exc).splitlines()[0]}") from None
    missing = {"rank", "sequence"} - set(frame.columns)
    if missing:
        raise InputError(f"--guard {path}: not a suspects.parquet export (no {', '.join(sorted(missing))} column)")
    if significant_only and "significant" in frame.columns:
        frame = frame.filter(pl.col("significant"))
    linked = frame["linked_resources"].to_list() if "linked_resources" in frame.columns else [[]] * frame.height
    out = []
    for rank, seq, res in zip(frame["rank"].to_list(), frame["sequence"].to_list(), linked):  # a handful of suspects
        if seq:
            out.append(GuardSequence(int(rank), tuple(seq), tuple(res or ())))
    if not out:
        raise InputError(f"--guard {path}: no {'significant ' if significant_only else ''}suspect sequence in it")
    return tuple(out)


def _us(ts: pl.Series) -> np.ndarray:
    return ts.dt.epoch("us").to_numpy()


def completions(guards: tuple[GuardSequence, ...], actions: pl.DataFrame, events: pl.DataFrame, *,
                after: datetime | None, max_gap: int, max_span_s: float) -> list[Completion]:
    """The completions of ``guards`` in ``actions`` (the timeline's actions
    table, sorted by session, then time) whose last step is later than
    ``after`` (all with None), in completion order; a step's ``user`` and
    ``request_id`` are read from its row of ``events`` (the timeline's)."""
    if not guards or actions.height == 0:
        return []
    vocab = {a: i for i, a in enumerate(sorted({a for g in guards for a in g.sequence}))}
    acts = action_rows(actions, events, ["session_key", "ts", "action"]).filter(pl.col("session_key").is_not_null())
    code = acts["action"].replace_strict(vocab, default=-1, return_dtype=pl.Int64).to_numpy()
    keys = acts["session_key"]
    sess = keys.rle_id().to_numpy()
    ts = _us(acts["ts"])
    p = _Rows(code, sess, ts)
    cut = None if after is None else int(after.timestamp() * 1e6)
    found = []
    for g in guards:  # a handful of guarded sequences
        occ = occurrences(p, tuple(vocab[a] for a in g.sequence), max_gap=max_gap, max_span_s=max_span_s)
        if cut is not None:
            occ = occ[ts[occ[:, -1]] > cut]
        for rows in occ:  # completions are rare: that is why they were suspects
            found.append(_completion(g, acts, events, rows))
    return sorted(found, key=lambda c: (c.completed_at, c.session, c.guard.rank))


@dataclass(frozen=True)
class _Rows:
    code: np.ndarray
    sess: np.ndarray
    ts: np.ndarray


def _completion(g: GuardSequence, acts: pl.DataFrame, events: pl.DataFrame, rows: np.ndarray) -> Completion:
    steps = action_rows(acts[rows.tolist()], events, ["user", "request_id"])
    out = []
    for i, r in enumerate(steps.iter_rows(named=True)):  # the k steps of one completion
        out.append({"step": i + 1, "action": r["action"], "ts": _iso(r["ts"]), "request_id": r["request_id"],
                    "resources": list(r["resources"] or [])})
    return Completion(guard=g, session=steps["session_key"][0], user=steps["user"].drop_nulls().first() if
                      steps["user"].null_count() < steps.height else None,
                      completed_at=steps["ts"][-1], started_at=steps["ts"][0], steps=tuple(out))


def _iso(t: datetime | None) -> str | None:
    if t is None:
        return None
    return t.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
