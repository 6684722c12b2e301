"""Atomic output: write to a temporary file (or folder) beside the target, then rename;
and :func:`is_url`, whether a path names another file system."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import polars as pl

from .errors import OutputError


@contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it over the target
    on success, delete it on any failure (including Ctrl-C)."""
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
    except OSError as exc:
        raise OutputError(f"{target}: cannot write: {exc.strerror or exc}") from None
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates 0600; give the result the mode a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, target)
    except OSError as exc:
        tmp_path.unlink(missing_ok=True)
        raise OutputError(f"{target}: cannot write: {exc.strerror or exc}") from None
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def write_parquet(frame: pl.DataFrame, target: str | os.PathLike, *, metadata: dict[str, Any] | None = None) -> None:
    """Write ``frame`` atomically as Parquet, with optional key-value metadata
    (values JSON-encoded unless already strings)."""
    import pyarrow.parquet as pq

    table = frame.to_arrow()
    if metadata:
        meta = dict(table.schema.metadata or {})
        for k, v in metadata.items():
            meta[str(k).encode()] = (v if isinstance(v, str) else json.dumps(v, default=str)).encode()
        table = table.replace_schema_metadata(meta)
    with atomic_path(target) as tmp:
        pq.write_table(table, tmp)


def write_text(text: str, target: str | os.PathLike) -> None:
    """Write text atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_with(target: str | os.PathLike, writer: Callable[[Path], None]) -> None:
    """Call ``writer(tmp_path)`` and move the result into place atomically."""
    with atomic_path(target) as tmp:
        writer(tmp)


@contextmanager
def atomic_dir(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a new empty folder beside ``target``; on success it replaces
    ``target`` (an older ``target`` folder is removed first), on any failure
    (including Ctrl-C) it is deleted.

    Raises
    ------
    OutputError
        The folder cannot be created or moved into place.
    """
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    except OSError as exc:
        raise OutputError(f"{target}: cannot write: {exc.strerror or exc}") from None
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp creates 0700
        if target.exists():
            shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise OutputError(f"{target}: cannot write: {exc.strerror or exc}") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise

def is_url(path: str | os.PathLike) -> bool:
    """Whether ``path`` names a file system by scheme (``s3a://``, ``hdfs://``), not a local path.

    >>> is_url("s3a://logs/day/"), is_url("logs/day"), is_url("file:///tmp/x")
    (True, False, False)
    """
    text = str(path)
    scheme, sep, _ = text.partition("://")
    return bool(sep) and scheme.isalnum() and scheme.lower() != "file"
