"""Warm cache, second level: a whole scan's result, for a re-run of the same
scan over unchanged files.

The per-file cache (:mod:`forensics.ingest.cache`) saves parsing; timeline and
mining still run on every scan.  When the same scan is run again (same
inputs, each with the same size and modification time, same settings, same
tool code), its result is loaded from here instead: the frames as Parquet,
everything else as JSON.  Any change to a file, an option or the code gives
another key, so a stale result is never used; changing only the mining
options still reuses the per-file cache.

Entries live in ``<cache dir>/scans/<key>/`` and are written atomically
(:func:`forensics.io.atomic_dir`); a damaged entry is ignored.  A scan with
``--failing`` is cached too: its key holds the labels file's content hash
and every ``--failing`` setting.

>>> from pathlib import Path
>>> log = Path("sample_logs/db/postgresql.log")
>>> k = scan_key([log], ["sample_logs/"], {"mining": {"alpha": 0.05}})
>>> k == scan_key([log], ["sample_logs/"], {"mining": {"alpha": 0.05}}), k == scan_key([log], ["sample_logs/"], {})
(True, False)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import types
import typing
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from . import __version__
from .fingerprint import code_fingerprint
from .io import atomic_dir

#: Bump when the layout of an entry changes.
LAYOUT = 2

#: frames stored without the columns they share with another frame of the
#: result (the ingest events share every column the timeline left unchanged):
#: loaded, they share them again
SHARED = {"ingest.events": "timeline.events"}

def _stat(path: Path) -> list:
    st = path.stat()
    return [str(path.resolve()), st.st_size, st.st_mtime_ns]


def file_digest(path: str | os.PathLike) -> str:
    """SHA-256 of a file's content (the ``--failing`` labels are part of a
    scan's key by content, not only by size and time)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def scan_key(files: list[Path], paths: list[str], settings_doc: dict, extra: list[Path] = ()) -> str | None:
    """The key of a scan: every input file's identity and stat, the paths as
    given, every setting and the code.  ``None`` when a file cannot be stat'ed
    (then nothing is cached)."""
    try:
        stats = [_stat(p) for p in files] + [_stat(Path(p)) for p in extra]
    except OSError:
        return None
    doc = [LAYOUT, __version__, code_fingerprint(), paths, stats, settings_doc]
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:32]


# ----------------------------------------------------------------- encoding


def _encode(value: Any, frames: dict[str, pl.DataFrame], where: str) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, pl.DataFrame):
        frames[where] = value
        return {"$frame": where}
    if dataclasses.is_dataclass(value):
        return {f.name: _encode(getattr(value, f.name), frames, f"{where}.{f.name}")
                for f in dataclasses.fields(value)}
    if isinstance(value, (tuple, list)):
        return [_encode(v, frames, f"{where}.{i}") for i, v in enumerate(value)]
    if isinstance(value, (set, frozenset)):
        return {"$set": [_encode(v, frames, f"{where}.{i}") for i, v in enumerate(sorted(value))]}
    if isinstance(value, dict):
        return {str(k): _encode(v, frames, f"{where}.{k}") for k, v in value.items()}
    raise TypeError(f"cannot cache a {type(value).__name__} at {where}")


def _decode(value: Any, hint: Any, frames: dict[str, pl.DataFrame]) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return _decode(value, args[0], frames) if len(args) == 1 else value
    if value is None:
        return None
    if isinstance(value, dict) and "$frame" in value:
        return frames[value["$frame"]]
    if isinstance(value, dict) and "$dt" in value:
        return datetime.fromisoformat(value["$dt"])
    if isinstance(value, dict) and "$set" in value:
        (arg,) = typing.get_args(hint) or (Any,)
        return frozenset(_decode(v, arg, frames) for v in value["$set"])
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        hints = typing.get_type_hints(hint)
        kw = {f.name: _decode(value[f.name], hints[f.name], frames)
              for f in dataclasses.fields(hint) if f.name in value}
        return hint(**kw)
    if origin is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_decode(v, args[0], frames) for v in value)
        return tuple(_decode(v, a, frames) for v, a in zip(value, args))
    if origin is dict:
        _, vt = typing.get_args(hint)
        return {k: _decode(v, vt, frames) for k, v in value.items()}
    if hint is float:
        return float(value)
    return value


# ----------------------------------------------------------------- store / load


def _split_shared(frames: dict[str, pl.DataFrame]) -> dict[str, dict]:
    """Drop from each frame of :data:`SHARED` the columns equal to its
    partner's (in place); returns, per frame, the partner and the column
    order to put it back together (:func:`_join_shared`)."""
    out = {}
    for where, partner in SHARED.items():
        frame, other = frames.get(where), frames.get(partner)
        if frame is None or other is None or frame.height != other.height:
            continue
        same = [c for c in frame.columns if c in other.columns
                and frame.get_column(c).equals(other.get_column(c), check_dtypes=True, check_names=True)]
        if same:
            frames[where] = frame.drop(same)
            out[where] = {"partner": partner, "columns": frame.columns, "shared": same}
    return out


def _join_shared(frames: dict[str, pl.DataFrame], shared: dict[str, dict]) -> None:
    """Put back the columns :func:`_split_shared` dropped (in place), taken
    from the partner frame: one copy of each in memory."""
    for where, how in shared.items():
        own, other = frames[where], frames[how["partner"]]
        taken = set(how["shared"])
        frames[where] = pl.DataFrame([other.get_column(c) if c in taken else own.get_column(c)
                                      for c in how["columns"]])


def save(directory: Path, key: str, result: Any) -> None:
    """Write ``result`` (a :class:`forensics.scan.ScanResult`; its settings are
    not stored, the key covers them) as entry ``key``, atomically
    (:func:`forensics.io.atomic_dir`); best effort."""
    try:
        with atomic_dir(Path(directory) / "scans" / key) as tmp:
            frames: dict[str, pl.DataFrame] = {}
            doc = {f.name: _encode(getattr(result, f.name), frames, f.name)
                   for f in dataclasses.fields(result) if f.name != "settings"}
            shared = _split_shared(frames)
            names = {}
            for i, (where, frame) in enumerate(frames.items()):
                names[where] = f"f{i}.parquet"
                frame.write_parquet(tmp / names[where], compression="lz4", statistics=False)
            (tmp / "result.json").write_text(json.dumps({"frames": names, "result": doc, "shared": shared}),
                                             encoding="utf-8")
    except Exception:  # noqa: BLE001 - the cache must never fail a run
        return


def load(directory: Path, key: str, result_type: type, settings: Any) -> Any | None:
    """The cached result of ``key`` (with ``settings`` put back), or None."""
    base = Path(directory) / "scans" / key
    try:
        doc = json.loads((base / "result.json").read_text(encoding="utf-8"))
        frames = {where: pl.read_parquet(base / name) for where, name in doc["frames"].items()}
        _join_shared(frames, doc.get("shared", {}))
        hints = typing.get_type_hints(result_type)
        kw = {f.name: _decode(doc["result"][f.name], hints[f.name], frames)
              for f in dataclasses.fields(result_type) if f.name in doc["result"]}
        return result_type(settings=settings, **kw)
    except (OSError, ValueError, TypeError, KeyError, AttributeError, pl.exceptions.PolarsError):
        return None
