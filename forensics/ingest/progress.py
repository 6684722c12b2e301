"""Ingest progress in bytes read from disk, over all files.

:func:`forensics.ingest.ingest` reports ``progress("ingest", done, total)``
where ``total`` is the size on disk of every file found (compressed size for
a compressed file) and ``done`` the bytes read so far: it advances as each
chunk of a large streamed file is read, and by a file's whole size when that
file is done (read, loaded from the cache, skipped or unreadable).  ``done``
only grows and the last report is ``(total, total)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import accumulate

__all__ = ["Progress", "ByteProgress"]

#: ``progress(stage, done, total)``; any callable of that shape.
Progress = Callable[[str, int, int], None]

STAGE = "ingest"


class ByteProgress:
    """Turns "file ``i`` read up to byte ``n``" into increasing reports.

    Parameters
    ----------
    progress
        The callback, or ``None`` (then every method does nothing).
    sizes
        Each file's size on disk, in the order the files are read.
    """

    def __init__(self, progress: Progress | None, sizes: Sequence[int]) -> None:
        self._progress = progress
        self._sizes = list(sizes)
        self._starts = [0, *accumulate(self._sizes)]
        self.total = self._starts[-1]
        self._last: int | None = None

    def reading(self, index: int, consumed: int) -> None:
        """File ``index`` has been read up to byte ``consumed`` (a file that
        grew since it was listed counts at most its listed size)."""
        self._report(self._starts[index] + min(consumed, self._sizes[index]))

    def file_done(self, index: int) -> None:
        """File ``index`` is done, however it went."""
        self._report(self._starts[index + 1])

    def finish(self) -> None:
        """Report ``(total, total)`` unless that was the last report."""
        if self._progress is not None and self._last != self.total:
            self._last = self.total
            self._progress(STAGE, self.total, self.total)

    def _report(self, done: int) -> None:
        if self._progress is not None and (self._last is None or done > self._last):
            self._last = done
            self._progress(STAGE, done, self.total)
