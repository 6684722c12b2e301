"""Columns set aside on disk while a stage runs without them.

The miner reads seven columns of the timeline's events (:data:`forensics.mining.EVENT_COLUMNS`);
the others (the message, the source and line, levels, statuses, latencies...)
are read again only by the reports, after it.  :func:`set_aside` writes such
columns to an Arrow IPC file and returns the frame without them, so they are
not in memory while the stage runs; :meth:`Aside.read` brings them back,
row for row, and deletes the file.

The file goes to a ``spill`` folder under the cache folder
(``--cache-dir``), or to the system's temporary folder with ``--no-cache``.
A folder that cannot be written is not an error, and a folder in memory
(tmpfs: a file there would take the memory it was to free) is not used: the
columns then stay in memory.

>>> import polars as pl, tempfile
>>> frame = pl.DataFrame({"ts": [1, 2], "message": ["a", "b"], "level": ["info", None]})
>>> light, aside = set_aside({"events": frame}, {"events": ["message", "level"]}, folder=tempfile.gettempdir())
>>> light["events"].columns
['ts']
>>> aside.read()["events"].equals(frame.select("message", "level"))
True
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from .errors import DataError
from .ingest.combine import one_chunk

__all__ = ["Aside", "set_aside", "spill_folder", "in_memory_fs"]

_SEP = "\x1f"  # frame name / column name in the file's column names


def spill_folder(cache_dir: str | os.PathLike | None) -> Path:
    """Where spilled columns go: ``<cache_dir>/spill``, or the system's
    temporary folder without a cache folder."""
    return Path(cache_dir) / "spill" if cache_dir else Path(tempfile.gettempdir())


@dataclass(frozen=True)
class Aside:
    """Columns of one or more frames waiting in an Arrow IPC file."""

    path: Path
    #: per frame, the names of its columns in the file
    names: Mapping[str, tuple[str, ...]]

    def read(self) -> dict[str, pl.DataFrame]:
        """Per frame, its columns read back in their row order (a constant
        column held once again, as ingest holds it); the file is deleted.

        Raises
        ------
        DataError
            The file is gone or unreadable (it was deleted by something
            else while the stage ran).
        """
        out = {}
        try:
            for name, cols in self.names.items():
                # a column at a time: the peak is the frames plus one column
                out[name] = pl.concat([
                    one_chunk(pl.read_ipc(self.path, columns=[f"{name}{_SEP}{c}"])).rename({f"{name}{_SEP}{c}": c})
                    for c in cols], how="horizontal")
        except (OSError, pl.exceptions.PolarsError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc).splitlines()[0]
            raise DataError(f"{self.path}: the columns set aside cannot be read back: {reason}") from None
        finally:
            self.discard()
        return out

    def discard(self) -> None:
        """Delete the file (nothing happens when it is gone)."""
        try:
            self.path.unlink()
        except OSError:
            pass


def set_aside(frames: Mapping[str, pl.DataFrame], columns: Mapping[str, Sequence[str]], *,
              folder: str | os.PathLike) -> tuple[dict[str, pl.DataFrame], Aside | None]:
    """``frames`` without ``columns`` (per frame name), and the handle to
    read those columns back; ``(frames, None)`` unchanged when there is
    nothing to set aside or the folder cannot be written.

    Every frame with a column set aside must have the same height (they are
    written as one table).
    """
    names = {name: tuple(c for c in columns.get(name, ()) if c in frame.columns) for name, frame in frames.items()}
    names = {name: cols for name, cols in names.items() if cols}
    if not names:
        return dict(frames), None
    table = pl.concat([frames[name].select(pl.col(c).alias(f"{name}{_SEP}{c}") for c in cols)
                       for name, cols in names.items()], how="horizontal")
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        if in_memory_fs(folder):
            return dict(frames), None
        fd, path = tempfile.mkstemp(prefix="forensics-columns-", suffix=".arrow", dir=folder)
        os.close(fd)
    except OSError:
        return dict(frames), None
    aside = Aside(Path(path), names)
    try:
        # one record batch: each column reads back as one chunk (no copy to join chunks)
        table.write_ipc(path, compression="uncompressed", compat_level=pl.CompatLevel.newest(),
                        record_batch_size=max(table.height, 1))
    except (OSError, pl.exceptions.PolarsError):  # a full disk: the columns stay in memory
        aside.discard()
        return dict(frames), None
    del table
    light = {name: frame.drop(names.get(name, ())) for name, frame in frames.items()}
    return light, aside



def in_memory_fs(folder: str | os.PathLike, *, mounts: str = "/proc/self/mounts") -> bool:
    """Whether ``folder`` is on a file system held in memory (tmpfs, ramfs),
    by the longest mount point above it in ``mounts`` (Linux; elsewhere
    False).

    >>> in_memory_fs("/x/y", mounts="/nonexistent")
    False
    """
    try:
        with open(mounts, encoding="utf-8", errors="replace") as f:
            table = [line.split() for line in f]
    except OSError:
        return False
    where = str(Path(folder).resolve())
    best, kind = "", ""
    for fields in table:
        if len(fields) < 3:
            continue
        point = fields[1].replace("\\040", " ")
        inside = where == point or where.startswith(point.rstrip("/") + "/")
        if inside and len(point) > len(best):
            best, kind = point, fields[2]
    return kind in ("tmpfs", "ramfs")
