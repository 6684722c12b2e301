"""Row-wise work over slices of a frame, run in parallel by Polars.

The in-order thread map lives in :mod:`forensics.concurrency`."""

from __future__ import annotations

from collections.abc import Callable

import polars as pl


def select_rows(
    frame: pl.DataFrame,
    *exprs: pl.Expr | str,
    then: Callable[[pl.LazyFrame], pl.LazyFrame] | None = None,
    min_rows: int = 65_536,
) -> pl.DataFrame:
    """``frame.select(*exprs)`` (then ``then`` on the result) for row-wise
    work (no aggregation, no sort), run on slices of a large frame in
    parallel: Polars runs one string expression (a regex extract, a strptime,
    a JSON encode) on one thread.

    Examples
    --------
    >>> import polars as pl
    >>> select_rows(pl.DataFrame({"a": ["x1", "y2"]}), pl.col("a").str.slice(1)).to_series().to_list()
    ['1', '2']
    """
    then = then or (lambda lf: lf)
    k = min(pl.thread_pool_size(), frame.height // min_rows)
    if k < 2:
        return then(frame.lazy().select(*exprs)).collect()
    step = -(-frame.height // k)
    parts = [then(frame.slice(i * step, step).lazy().select(*exprs)) for i in range(k)]
    return pl.concat(parts, parallel=True).collect()
