"""The day's requests, whatever the scenario: scripted sessions mixed into
the ordinary ones, background faults (the trickle), retries after errors and
abandoned sessions, and the repair that keeps the planted rare sequences
rare.  The scenario supplies the data (scripts, fault tables, sequences) and
its own fault model; these functions do the shared bookkeeping.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

M = 60_000
#: Quiet time on each side of a true onset at a scenario's default size (ms).
QUIET_MS = 2 * M
#: Shortest quiet time at larger sizes (ms): the tolerance within which a
#: validation matches a detected onset to the truth's.
QUIET_FLOOR_MS = 5_000


@dataclass(frozen=True)
class Scripted:
    """One scripted session of the incident day.

    Attributes
    ----------
    role
        ``trigger``, ``rare_harmless``, ``coincidence``, ``common_path``, ...
    user
        The actor (user number).
    done
        When the session's key step completes (epoch ms).
    steps
        ``(action code, offset ms from done, {column: value})`` per request;
        the per-step columns override the session's drawn ones.
    """

    role: str
    user: int
    done: int
    steps: tuple[tuple[int, int, Mapping[str, int]], ...]


def scripted_rows(sessions: Sequence[Scripted], per_session: Sequence[Mapping[str, object]], sess_offset: int,
                  schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
    """The scripted sessions as request rows: ``sess`` (from ``sess_offset``),
    ``user``, ``step``, ``action``, ``t``, ``role`` plus the columns of
    ``per_session`` (one mapping per session) and of the steps, cast to
    ``schema``."""
    rows: dict[str, list] = {k: [] for k in ("sess", "user", "step", "action", "t", "role")}
    for i, (s, fixed) in enumerate(zip(sessions, per_session)):
        for j, (action, off, cols) in enumerate(s.steps):
            values = {"sess": sess_offset + i, "user": s.user, "step": j, "action": action, "t": s.done + off,
                      "role": s.role, **fixed, **cols}
            for k, v in values.items():
                rows.setdefault(k, []).append(v)
    return pl.DataFrame(rows).cast(dict(schema))


def mix_in(reqs: pl.DataFrame, script: pl.DataFrame, day_end: int) -> pl.DataFrame:
    """Add the scripted rows (``scripted`` True) to the ordinary ones
    (``scripted`` False, ``role`` null); the scripted users' own ordinary
    sessions within 15 minutes of their scripted ones are dropped, and so is
    anything after ``day_end``."""
    span = script.group_by("user").agg((pl.col("t").min() - 15 * M).alias("_lo"), (pl.col("t").max() + 15 * M).alias("_hi"))
    clash = reqs.join(span, on="user").filter(pl.col("t").is_between(pl.col("_lo"), pl.col("_hi"))).select("sess").unique()
    reqs = reqs.join(clash, on="sess", how="anti")
    script = script.with_columns(pl.lit(True).alias("scripted")).select(reqs.columns)
    return pl.concat([reqs, script], how="vertical_relaxed").filter(pl.col("t") < day_end)


def quiet_windows(onsets: Sequence[int], users: int, default_users: int) -> list[tuple[int, int]]:
    """Windows around the true onsets without background faults, so each
    onset is the incident's own first error.

    Up to the default size ``QUIET_MS`` on each side (as always, so the
    default outputs stay the same); above it the window shrinks with the
    traffic (``QUIET_MS * default_users / users``: it suppresses about as
    many background errors as at the default size) down to
    ``QUIET_FLOOR_MS``.  At 100x traffic background errors then keep arriving
    every few seconds right up to an onset, as they would in real logs; only
    the onset itself (within the 5 s a validation allows) stays the
    incident's.

    >>> [hi - lo for lo, hi in quiet_windows([600_000], 7_000, 700)]
    [24000]
    """
    half = QUIET_MS if users <= default_users else max(QUIET_FLOOR_MS, QUIET_MS * default_users // users)
    return [(o - half, o + half) for o in onsets]


def trickle(rng: np.random.Generator, reqs: pl.DataFrame, quiet: Sequence[tuple[int, int]],
            table: Mapping[str, tuple[float, Sequence[int] | None]]) -> pl.Series:
    """Background fault kind per request ("ok" when none), from ``table``
    (kind -> (probability, eligible action codes or None for all)); none
    inside ``quiet`` windows (so each true onset is the incident's own first
    error) and none in scripted sessions."""
    n = reqs.height
    kind = np.full(n, "ok", dtype=object)
    action = reqs["action"].to_numpy()
    t = reqs["t"].to_numpy()
    calm = ~reqs["scripted"].to_numpy()
    for lo, hi in quiet:
        calm &= (t < lo) | (t > hi)
    for name, (p, codes) in table.items():
        ok = calm & (kind == "ok") & (rng.random(n) < p)
        if codes is not None:
            ok &= np.isin(action, list(codes))
        kind[ok] = name
    return pl.Series("kind", kind.astype(str))


def no_retries(reqs: pl.DataFrame) -> pl.DataFrame:
    """``reqs`` with ``retry`` False and ``retry_of`` null."""
    return reqs.with_columns(pl.lit(False).alias("retry"), pl.lit(None, pl.Int8).alias("retry_of"))


def repeat_failed(failed: pl.DataFrame, times: np.ndarray, gaps: np.ndarray, wait: np.ndarray | int = 0) -> pl.DataFrame:
    """Each failed request ``times`` times, as retries: ``t`` moved by the
    cumulative ``gaps`` (one per retry) plus ``wait``; ``retry`` True,
    ``retry_of`` the failed action, ``kind`` "ok" (the scenario decides
    which retries fail again)."""
    rep = failed.select(pl.all().repeat_by(pl.Series(times)).explode())
    first_of = np.repeat(np.cumsum(times) - times, times)
    offset = np.cumsum(gaps) - np.cumsum(gaps)[first_of] + gaps[first_of] + wait
    return rep.with_columns(pl.col("action").alias("retry_of")).with_columns(
        (pl.col("t") + pl.Series(offset)).alias("t"), pl.lit("ok").alias("kind"), pl.lit(True).alias("retry"),
    )


def abandon(rng: np.random.Generator, reqs: pl.DataFrame, rep: pl.DataFrame, failed: pl.DataFrame,
            incident_kinds: Sequence[str]) -> pl.DataFrame:
    """Join the retries ``rep`` to ``reqs``; after an incident failure half
    of the ordinary sessions end (their later requests are dropped)."""
    base = no_retries(reqs)
    out = pl.concat([base, rep.select(base.columns)], how="vertical")
    inc = failed.filter(pl.col("kind").is_in(list(incident_kinds)) & ~pl.col("scripted"))
    gone = inc.group_by("sess").agg(pl.col("t").min().alias("_fail")).sort("sess")
    gone = gone.filter(pl.Series(rng.random(gone.height) < 0.5))
    out = out.join(gone, on="sess", how="left").filter(
        pl.col("_fail").is_null() | pl.col("retry") | (pl.col("t") <= pl.col("_fail"))
    ).drop("_fail")
    return out.sort("sess", "t", "retry", maintain_order=True)


def first_completion(reqs: pl.DataFrame, codes: Sequence[int]) -> pl.DataFrame:
    """Per session, the row position ``pos`` where ``codes`` first completes
    as a subsequence (any gaps), sorted by session.  ``reqs`` needs ``sess``,
    ``pos``, ``action``.

    Examples
    --------
    >>> df = pl.DataFrame({"sess": [1, 1, 1, 2], "pos": [0, 1, 2, 3], "action": [7, 3, 7, 7]})
    >>> first_completion(df, [7, 7]).rows()
    [(1, 2)]
    """
    found = reqs.filter(pl.col("action") == codes[0]).group_by("sess").agg(pl.col("pos").min())
    for c in codes[1:]:
        nxt = reqs.filter(pl.col("action") == c).join(found.rename({"pos": "_prev"}), on="sess")
        found = nxt.filter(pl.col("pos") > pl.col("_prev")).group_by("sess").agg(pl.col("pos").min())
    return found.sort("sess")


def repair(reqs: pl.DataFrame, sequences: Sequence[Sequence[int]]) -> tuple[pl.DataFrame, int]:
    """Delete, outside the scripted sessions, the request completing any of
    the planted ``sequences`` (action codes), until none is left.  Returns
    the rows and how many were deleted."""
    deleted = 0
    reqs = reqs.sort("sess", "t", maintain_order=True).with_row_index("pos").with_columns(pl.col("pos").cast(pl.Int64))
    while True:
        free = reqs.filter(~pl.col("scripted"))
        hits = pl.concat([first_completion(free, s) for s in sequences])
        if hits.height == 0:
            return reqs.drop("pos"), deleted
        deleted += hits["pos"].n_unique()
        reqs = reqs.join(hits.select("pos").unique(), on="pos", how="anti")
