"""What every writer shares: the render frame (one row per log event, the
stream's unit), the writer's context (:class:`Ctx`), random-looking ids and
ISO timestamps.

A *render frame* has ``t`` (Int64 epoch ms, the order key), ``text`` (the
event's physical lines joined by ``\\n``), ``cont`` (its continuation lines),
``err`` (an error event), ``cause`` (``incident``, ``background``, a
scenario's unrelated-burst cause, or null), ``ep`` (incident episode 1/2) and
``svc`` (the service a line itself names, if any).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

RENDER_SCHEMA = {"t": pl.Int64, "text": pl.String, "cont": pl.Int32, "err": pl.Boolean, "cause": pl.String, "ep": pl.Int8,
                 "svc": pl.String}
_HEX4 = pl.Series([f"{i:04x}" for i in range(65536)])
_MIX = (0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9)
MASK64 = (1 << 64) - 1


@dataclass(frozen=True)
class Ctx:
    """Where a writer is: the day, the incident plan (last day only) and the
    time window of this part.  Request lines come from the part's requests;
    the server's own lines are drawn for the whole day (from a per-day random
    stream, so every part draws the same ones) and kept inside ``window``."""

    seed: int
    day: int
    day_start: int
    plan: Any
    window: tuple[int, int]
    part: int

    def rng(self, writer: int, *, daily: bool) -> np.random.Generator:
        key = [self.seed, 5, self.day, writer] + ([] if daily else [1, self.part])
        return np.random.default_rng(np.random.SeedSequence(key))

    def keep(self, frame: pl.DataFrame) -> pl.DataFrame:
        lo, hi = self.window
        return frame.filter((pl.col("t") >= lo) & (pl.col("t") < hi))


def iso_ms(col: str = "t") -> pl.Expr:
    return pl.from_epoch(pl.col(col), time_unit="ms").dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ")


def render(df: pl.DataFrame, t: pl.Expr, text: pl.Expr, *, cont: pl.Expr | int = 0, err: pl.Expr | bool = False,
           cause: pl.Expr | None = None, ep: pl.Expr | None = None, svc: pl.Expr | str | None = None) -> pl.DataFrame:
    """Select the render-frame columns from ``df`` (``svc``: the service
    name a line itself carries, if any)."""
    return df.select(
        t.cast(pl.Int64).alias("t"),
        text.alias("text"),
        (cont if isinstance(cont, pl.Expr) else pl.lit(cont)).cast(pl.Int32).alias("cont"),
        (err if isinstance(err, pl.Expr) else pl.lit(err)).cast(pl.Boolean).alias("err"),
        (cause if cause is not None else pl.lit(None)).cast(pl.String).alias("cause"),
        (ep if ep is not None else pl.lit(None)).cast(pl.Int8).alias("ep"),
        (svc if isinstance(svc, pl.Expr) else pl.lit(svc)).cast(pl.String).alias("svc"),
    )


def empty() -> pl.DataFrame:
    return pl.DataFrame(schema=RENDER_SCHEMA)


def mix64(x: np.ndarray, salt: int) -> np.ndarray:
    """A bijective 64-bit mix of ``x`` (splitmix-style), salted."""
    z = (x.astype(np.uint64) + np.uint64((salt * _MIX[0]) & MASK64)) * np.uint64(_MIX[1])
    z ^= z >> np.uint64(31)
    z = z * np.uint64(_MIX[2])
    z ^= z >> np.uint64(29)
    return z


def hex_ids(x: np.ndarray, salt: int, *, words: int = 2, prefix: str = "", name: str = "id") -> pl.Series:
    """Random-looking hex ids (16 hex digits per word), distinct for distinct
    ``x`` (the first word is a bijection of ``x``).

    Examples
    --------
    >>> hex_ids(np.arange(2), 7, words=1, prefix="s-").to_list()
    ['s-dc31264ea150db95', 's-221b978fbc0bb1e1']
    """
    cols = {}
    for w in range(words):
        z = mix64(x, salt * 7919 + w)
        for i in range(4):
            cols[f"p{w}{i}"] = _HEX4.gather(pl.Series(((z >> np.uint64(48 - 16 * i)) & np.uint64(0xFFFF)).astype(np.uint32)))
    parts = [pl.lit(prefix)] if prefix else []
    return pl.DataFrame(cols).select(pl.concat_str(parts + [pl.col(c) for c in cols]).alias(name)).to_series()
