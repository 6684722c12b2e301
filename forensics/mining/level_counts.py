"""A level's counts in the growth of :mod:`.growth`: support, completions,
failing and control sessions and the set signatures of every pattern
(``kernels.count``), and the completions the evidence reads back.

Counters filled from disjoint chunks of whole sessions add up to the
counts of the whole (every count and signature is an integer sum), so each
thread of the growth counts its chunks into counters of its own.
"""

from __future__ import annotations

import numpy as np
import polars as pl

__all__ = ["Counts", "LevelCounts", "kernels", "STATS"]

#: the count columns, in the order of ``Counts.acc`` then ``Counts.sig``
STATS = ("support", "completions", "failing_with", "control_with", "sig_sessions", "sig_failing",
         "sig_completions")


def kernels():
    """:mod:`.kernels`, imported on first use: Numba costs ~0.2 s of
    start-up, which every command would pay."""
    from . import kernels as compiled

    return compiled


class Counts:
    """A level's counters (``kernels.count``): support, completions,
    failing_with, control_with and the set signatures.  Sessions are never
    split between chunks, so counters filled from disjoint chunks (one per
    thread) add up to the counts of the whole: every count and signature is
    an integer sum.

    ``r`` in the methods is the growth's per-row arrays (``sess``, ``elig``,
    ``failing``, ``control``, the hashes, ``keep_rows``); ``st`` a level's
    states ``(pattern id, end row, d)`` sorted by end row, whole sessions.
    """

    def __init__(self, npat: int):
        self.stamp = np.full((npat, 2), -1, dtype=np.int64)
        self.acc = np.zeros((npat, 4), dtype=np.int64)
        self.sig = np.zeros((npat, 3), dtype=np.int64)

    def count(self, r, st) -> None:
        pid, end, _ = st
        kernels().count(pid, end, r.sess, r.elig, r.failing, r.control, r.sess_hash, r.row_hash, self.stamp,
                         self.acc, self.sig)

    def absorb(self, other: Counts) -> None:
        self.acc += other.acc
        self.sig += other.sig


class LevelCounts:
    """One level's counts, filled chunk by chunk in row order, and the
    completions kept for the evidence."""

    def __init__(self, r, npat: int):
        self.r = r
        self.counted = Counts(npat)
        self.compl: list[tuple[np.ndarray, np.ndarray]] = []

    @property
    def acc(self) -> np.ndarray:
        return self.counted.acc

    def kept(self, st) -> tuple[np.ndarray, np.ndarray]:
        """The completions of ``st`` that :meth:`completions` may return."""
        pid, end, _ = st
        if self.r.keep_rows is None:
            return pid, end
        keep = self.r.keep_rows[end]
        return pid[keep], end[keep]

    def add(self, st) -> None:
        self.counted.count(self.r, st)
        self.compl.append(self.kept(st))

    def counts(self) -> dict[str, np.ndarray]:
        c = self.counted
        cols = [c.acc[:, i] for i in range(4)] + [c.sig[:, i] for i in range(3)]
        return dict(zip(STATS, (np.ascontiguousarray(x) for x in cols)))

    def completions(self, gid0: int, rare_below: float) -> pl.DataFrame:
        """Completions of the rare patterns (support below ``rare_below``), by (gid, row)."""
        pid = np.concatenate([p for p, _ in self.compl]) if self.compl else np.zeros(0, np.int32)
        end = np.concatenate([e for _, e in self.compl]) if self.compl else np.zeros(0, np.int32)
        rare = (self.acc[:, 0] < rare_below)[pid]
        pid, end = pid[rare], end[rare]
        order = kernels().group_order(pid, len(self.acc))  # by pattern, rows kept in order
        g = (pid[order] + np.int32(gid0)).astype(np.int32)
        e = end[order].astype(np.int32)
        return pl.DataFrame({"gid": g, "row": e, "elig": self.r.elig[e]})
