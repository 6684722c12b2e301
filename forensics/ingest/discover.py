"""Finding the log files under the paths given to :func:`forensics.ingest.ingest`."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from .accounting import FileReport

__all__ = ["Found", "discover", "find_files", "IGNORED_SUFFIXES", "IGNORED_NAMES"]

#: Files never read as logs when a folder is walked (documented in docs/formats.md).
IGNORED_SUFFIXES = (".md", ".parquet", ".png", ".jpg", ".jpeg", ".gif", ".html", ".pdf")
IGNORED_NAMES = ("truth.json",)
#: The files Docker keeps beside a container's ``<id>-json.log``: its
#: configuration, not logs (passed over in a folder that holds such a log).
DOCKER_METADATA = ("config.v2.json", "hostconfig.json", "hosts", "hostname", "resolv.conf", "resolv.conf.hash")


@dataclass(frozen=True)
class Found:
    """What :func:`find_files` found: ``(path, display, relative)`` per file,
    each file's size on disk (bytes, at the time it was listed), one-line
    errors, and reports of special files passed over."""

    files: list[tuple[Path, str, str]]
    sizes: list[int]
    errors: list[str]
    skipped: list[FileReport]


def ignored(path: Path) -> bool:
    """Whether a file inside a walked folder is not a log (hidden, ``*.md``,
    ``*.parquet``, ``truth.json``, Docker's metadata beside a container log, ...)."""
    name = path.name
    if name in DOCKER_METADATA and (path.parent / f"{path.parent.name}-json.log").exists():
        return True
    return name.startswith(".") or name in IGNORED_NAMES or name.lower().endswith(IGNORED_SUFFIXES)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:  # gone since it was listed: read (and reported) later
        return 0


def discover(
    paths: Sequence[str | os.PathLike], *, strict: bool = False
) -> tuple[list[tuple[Path, str, str]], list[str], list[FileReport]]:
    """Expand files and folders (recursively) into ``(path, display, relative)``
    triples, one-line errors and skipped reports (see :func:`find_files`)."""
    found = find_files(paths, strict=strict)
    return found.files, found.errors, found.skipped


def find_files(paths: Sequence[str | os.PathLike], *, strict: bool = False) -> Found:
    """Expand files and folders (recursively) into ``(path, display, relative)``
    triples and their sizes; ``relative`` is the path below the folder that was
    walked (just the file name for a file given directly), used to guess the
    component.

    Missing or unreadable paths, sub-folders that cannot be listed and folders
    without any log file are reported as one-line errors (or raised as
    :class:`InputError` with ``strict``).  Special files (FIFOs, sockets,
    devices) inside a folder are never opened; they are returned as skipped
    reports.  Files inside folders are listed in sorted order.
    """
    found = Found([], [], [], [])

    def fail(msg: str) -> None:
        if strict:
            raise InputError(msg)
        found.errors.append(msg)

    for raw in paths:
        p = Path(raw)
        if not p.exists():
            fail(f"{raw}: no such file or folder")
        elif p.is_dir():
            _walk(p, raw, found, fail)
        elif p.is_file():
            found.files.append((p, str(raw), p.name))
            found.sizes.append(_size(p))
        else:
            fail(f"{raw}: not a regular file")
    return found


def _walk(p: Path, raw: str | os.PathLike, found: Found, fail) -> None:
    """Add the log files below folder ``p`` to ``found``."""
    if not os.access(p, os.R_OK | os.X_OK):
        fail(f"{raw}: permission denied")
        return
    walk_errors: list[OSError] = []
    below = log_files_below(p, onerror=walk_errors.append)
    for exc in walk_errors:
        fail(f"{exc.filename or raw}: cannot list folder: {exc.strerror or exc}")
    before = len(found.files)
    for fp in below:
        if not fp.is_file():
            found.skipped.append(FileReport(str(fp), None, skipped="not a regular file"))
            continue
        found.files.append((fp, str(fp), str(fp.relative_to(p))))
        found.sizes.append(_size(fp))
    if len(found.files) == before and not walk_errors:
        fail(f"{raw}: no log files in folder")


def log_files_below(p: Path, *, onerror=None) -> list[Path]:
    """The log files below folder ``p``, in sorted order: hidden folders and
    :func:`ignored` files passed over (``onerror`` gets each listing error,
    as :func:`os.walk` passes it)."""
    out = []
    for root, _dirs, files in sorted(os.walk(p, onerror=onerror)):
        if any(part.startswith(".") for part in Path(root).relative_to(p).parts):
            continue
        out.extend(fp for fp in (Path(root) / name for name in sorted(files)) if not ignored(fp))
    return out
