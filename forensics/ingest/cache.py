"""Warm cache: the parsed events of unchanged files, kept as Parquet.

A file's entry is keyed by its absolute path, size, modification time, the
tool version and a hash of the ingest code, how it was named in this run (display path and the path below
the walked folder, which the component is guessed from) and every ingest
option that changes parsing.  A changed or appended file gets a new key and is
read again; stale entries are simply never looked up again.  Entries are
written atomically, so an interrupted run leaves none half-written.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path

import polars as pl

from .. import __version__
from ..fingerprint import code_fingerprint as fingerprint
from ..io import atomic_path
from .accounting import FileReport
from .options import IngestOptions

#: Options that do not change what a file parses into.
_NEUTRAL = ("strict", "dedupe", "cache_dir")


def code_fingerprint() -> str:
    """A hash of the ingest code itself (readers, normalization, schema), so a
    development build never reuses entries parsed by older code of the same
    version."""
    return fingerprint("ingest", "schema.py")


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/forensics``, else ``~/.cache/forensics``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "forensics"


def _options_doc(options: IngestOptions) -> dict:
    return {k: v for k, v in asdict(options).items() if k not in _NEUTRAL}


def cache_key(path: Path, display: str, relative: str, *, options: IngestOptions) -> str:
    """The entry name for one file as it is now (stat) under these options."""
    st = path.stat()
    doc = [str(path.resolve()), st.st_size, st.st_mtime_ns, __version__, code_fingerprint(), display, relative,
           _options_doc(options)]
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:32]


def stem_key(path: Path, display: str, relative: str, *, options: IngestOptions) -> str:
    """The name under which the latest entry of a file is found whatever its
    size and time (see :func:`read_latest`)."""
    doc = ["latest", str(path.resolve()), __version__, code_fingerprint(), display, relative, _options_doc(options)]
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:32]


def read_latest(directory: Path, stem: str) -> dict | None:
    """What the latest entry of a file was made from: ``key``, ``size``,
    ``digest`` (BLAKE2b of those bytes), ``format``, ``lines``; or None."""
    try:
        doc = json.loads((Path(directory) / f"{stem}.latest").read_text(encoding="utf-8"))
        return doc if {"key", "size", "digest", "format", "lines"} <= doc.keys() else None
    except (OSError, ValueError):
        return None


def _apply(frame, project):
    return frame if project is None else frame.select(project)


def _entry(directory: Path, key: str) -> tuple[dict, list[str]]:
    doc = json.loads((Path(directory) / f"{key}.json").read_text(encoding="utf-8"))
    parts = doc.pop("parts")
    if isinstance(parts, int):
        parts = [f"{key}.events.{n}.parquet" for n in range(parts)]
    return doc, [str(p) for p in parts]


def load(directory: Path, key: str, *, project: list[pl.Expr] | None = None
         ) -> tuple[pl.DataFrame, pl.DataFrame, FileReport] | None:
    """The cached (events, rejects, report) of ``key``, or None.  Events are
    read lazily and reduced to ``project`` (expressions over the canonical
    columns) before they are materialized."""
    base = Path(directory) / key
    try:
        doc, parts = _entry(directory, key)
        report = FileReport(**doc)
        events = _apply(pl.scan_parquet([str(Path(directory) / p) for p in parts]), project).collect()
        rejects = pl.read_parquet(base.with_suffix(".rejects.parquet"))
    except (OSError, ValueError, TypeError, KeyError, pl.exceptions.PolarsError):
        return None
    return events, rejects, report


def load_for_append(directory: Path, key: str) -> tuple[list[str], pl.DataFrame, FileReport] | None:
    """The part files, rejects and report of entry ``key`` (events not read)."""
    try:
        doc, parts = _entry(directory, key)
        if not all((Path(directory) / p).is_file() for p in parts):
            return None
        return parts, pl.read_parquet(Path(directory) / f"{key}.rejects.parquet"), FileReport(**doc)
    except (OSError, ValueError, TypeError, KeyError, pl.exceptions.PolarsError):
        return None


class EntryWriter:
    """Writes one entry part by part (a large file's chunks as they are
    parsed), so the whole file's events never need to be in memory at once.
    :meth:`commit` makes the entry visible; until then it is never read.
    ``parts`` are part files of an earlier entry this one extends (an
    appended file: :mod:`forensics.ingest.append`)."""

    def __init__(self, directory: Path, key: str, parts: list[str] = ()) -> None:
        self.directory = Path(directory)
        self.key = key
        self.base = self.directory / key
        self.parts = list(parts)
        self.ok = True

    def add(self, events: pl.DataFrame) -> None:
        if not self.ok:
            return
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            name = f"{self.key}.events.{len(self.parts)}.parquet"
            with atomic_path(self.directory / name) as tmp:
                events.drop("_fi", strict=False).write_parquet(tmp)
            self.parts.append(name)
        except Exception:  # noqa: BLE001 - the cache must never fail a run
            self.ok = False

    def commit(self, rejects: pl.DataFrame, report: FileReport, *, latest: dict | None = None) -> None:
        """Write the rejects and the report (which marks the entry complete);
        ``latest`` (``stem``, ``size``, ``digest``) records what the entry was
        made from, so that an appended file can be extended."""
        if not self.ok:
            return
        try:
            with atomic_path(self.base.with_suffix(".rejects.parquet")) as tmp:
                rejects.drop("_fi", strict=False).write_parquet(tmp)
            # The report goes last: its presence marks a complete entry.
            with atomic_path(self.base.with_suffix(".json")) as tmp:
                tmp.write_text(json.dumps({**asdict(report), "parts": self.parts}), encoding="utf-8")
            if latest is not None:
                doc = {"key": self.key, "size": latest["size"], "digest": latest["digest"],
                       "format": report.format, "lines": report.lines, "compression": report.compression}
                with atomic_path(self.directory / f"{latest['stem']}.latest") as tmp:
                    tmp.write_text(json.dumps(doc), encoding="utf-8")
        except Exception:  # noqa: BLE001
            return


def store(directory: Path, key: str, events: pl.DataFrame, rejects: pl.DataFrame, report: FileReport,
          *, latest: dict | None = None) -> None:
    """Write one entry (best effort: a cache that cannot be written is skipped)."""
    w = EntryWriter(directory, key)
    w.add(events)
    w.commit(rejects, report, latest=latest)
