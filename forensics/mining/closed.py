"""Redundancy collapse: keep closed patterns, list the collapsed ones under them.

A candidate ``P`` is *collapsed* into ``Q`` when ``P`` is a proper
subsequence of ``Q`` and both are supported by exactly the same set of
sessions (compared through an order-free 64-bit set hash plus the support
count).  Every non-closed candidate is collapsed into the longest closed
super-sequence of its group (ties: the smaller id); closed patterns with
identical occurrences are merged the same way.  Closed candidates are the
hypotheses that get tested, so sub-sequences that carry no extra information
do not inflate the number of tests.
"""

from __future__ import annotations

import numpy as np
import polars as pl


def is_subsequence(small: tuple[int, ...], big: tuple[int, ...]) -> bool:
    """Whether ``small`` is a (not necessarily contiguous) subsequence of ``big``.

    >>> is_subsequence((1, 3), (1, 2, 3)), is_subsequence((3, 1), (1, 2, 3))
    (True, False)
    """
    it = iter(big)
    return all(any(x == y for y in it) for x in small)


def collapse(cands: pl.DataFrame, *, signature: str = "sig_sessions", count: str = "support",
             occurrences: str = "sig_completions") -> pl.DataFrame:
    """Add ``closed_gid`` (the representative; itself when closed) to ``cands``.

    ``cands`` needs ``gid``, ``length``, ``codes`` and the ``signature`` and
    ``count`` columns (the set hash and the set size).  Only groups that
    share a signature are compared, so the work is small in practice.  When
    the ``occurrences`` column (a hash of the completion set) is present, closed
    patterns with the same sessions *and* the same completions (several
    maximal patterns over the same occurrences, none a subsequence of the
    other) are merged too: the longest (then smallest id) represents them.

    Examples
    --------
    >>> df = pl.DataFrame({"gid": [0, 1], "length": [2, 3], "codes": [[1, 2], [1, 5, 2]],
    ...                    "sig_sessions": [7, 7], "support": [1, 1]})
    >>> collapse(df)["closed_gid"].to_list()
    [1, 1]
    """
    if cands.height == 0:
        return cands.with_columns(pl.col("gid").alias("closed_gid"))
    grp = cands.select(
        "gid", "length", "codes", pl.struct(signature, count).hash().alias("_g")
    ).with_columns(pl.len().over("_g").alias("_n"))
    multi = grp.filter(pl.col("_n") > 1).sort(["_g", "length", "gid"], descending=[False, True, False])
    rep: dict[int, int] = {}
    if multi.height:
        g = multi["_g"].to_numpy()
        gids = multi["gid"].to_list()
        codes = [tuple(c) for c in multi["codes"].to_list()]
        bounds = np.flatnonzero(np.r_[True, g[1:] != g[:-1], True])
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            maximal: list[int] = []
            for i in range(lo, hi):
                c = codes[i]
                for m in maximal:
                    if len(codes[m]) > len(c) and is_subsequence(c, codes[m]):
                        rep[gids[i]] = gids[m]
                        break
                else:
                    maximal.append(i)
    if occurrences in cands.columns:  # closed patterns with identical occurrences: one hypothesis
        eq = (
            grp.select("gid", "length", "_g").join(cands.select("gid", occurrences), on="gid")
            .filter(~pl.col("gid").is_in(pl.Series(list(rep), dtype=pl.Int64).implode()))
            .with_columns(pl.struct("_g", occurrences).hash().alias("_e"))
            .filter(pl.len().over("_e") > 1)
            .sort(["_e", "length", "gid"], descending=[False, True, False])
            .with_columns(pl.col("gid").first().over("_e").alias("_rep"))
            .filter(pl.col("gid") != pl.col("_rep"))
        )
        merged = dict(zip(eq["gid"].to_list(), eq["_rep"].to_list()))
        rep = {g: merged.get(r, r) for g, r in rep.items()} | merged
    closed = pl.DataFrame({"gid": list(rep), "closed_gid": list(rep.values())},
                          schema={"gid": pl.Int64, "closed_gid": pl.Int64})
    return cands.join(closed, on="gid", how="left").with_columns(
        pl.col("closed_gid").fill_null(pl.col("gid"))
    )
