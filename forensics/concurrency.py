"""Concurrency shared by every stage: an in-order map over threads.

Ingest parses chunks with it and the miner extends pattern states with it;
both rely on NumPy and Polars releasing the GIL in their kernels.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

#: Work items run at the same time by :func:`ordered_map` (NumPy and Polars
#: release the GIL in their kernels).
THREADS = min(2, os.cpu_count() or 1)


def ordered_map(fn: Callable, items: Iterable, ahead: int = THREADS) -> Iterator:
    """``map(fn, items)`` with up to ``ahead`` calls running in threads, in
    order, holding at most ``ahead`` results (memory stays bounded)."""
    if ahead <= 1:
        yield from map(fn, items)
        return
    with ThreadPoolExecutor(max_workers=ahead) as pool:
        pending: deque = deque()
        for it in items:
            pending.append(pool.submit(fn, it))
            if len(pending) >= ahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
