"""The follower's state file (``forensics watch --state FILE``): where each
followed file was left, so that a restarted watch neither reads a line twice
nor skips one.

One JSON object, written atomically (:func:`forensics.io.write_text`)::

    {"version": 1,
     "roots": ["/abs/logs", ...],                 # the watched paths
     "order": ["logs/app.log", ...],              # display paths, in report order
     "files": [{"path": "logs/app.log", "relative": "app.log", "seq": 3,
                "dev": 64769, "ino": 1234, "offset": 5120, "line": 81,
                "head_len": 1024, "head": "<blake2b-128 hex>",
                "count_to": null, "compression": null, "once": false,
                "rotated": false}, ...],          # the files followed now
     "past": [{"path": ..., "relative": ..., "seq": 1, "offset": ..., "line": ...,
               "head_len": ..., "head": ..., "count_to": null,
               "complete": true}, ...],
     "done": [[dev, ino, size, mtime_ns], ...]}   # files not to read while unchanged

``offset`` counts bytes of whole lines delivered (decompressed bytes for a
compressed file) and ``line`` is the next line's number; ``head`` is the hash
of the first ``head_len`` bytes (up to 1 KiB), checked before a file is
resumed: a file replaced by another one under the same inode (or a file that
was empty, which has no fingerprint) is taken in as a new file.  ``past``
holds generations no longer open (rotated away, truncated), so that a copy
or compressed rotation of one is recognized and read from its ``offset``;
``count_to`` is set for a file followed from its end whose lines were not
counted yet (its size at the start: lines before it are not delivered).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from ..io import write_text
from .follow_files import Generation

STATE_VERSION = 1


@dataclass
class SavedFile:
    """A file followed when the state was saved."""

    key: tuple[int, int]
    gen: Generation
    compression: str | None = None
    once: bool = False
    rotated: bool = False
    #: Identity known from this run's listing (a file followed from its end
    #: since the start): resumed without a fingerprint check.
    verified: bool = False


@dataclass
class Saved:
    """A loaded state file."""

    roots: list[str] = field(default_factory=list)
    order: list[str] = field(default_factory=list)
    files: dict[tuple[int, int], SavedFile] = field(default_factory=dict)
    past: list[Generation] = field(default_factory=list)
    done: dict[tuple[int, int], tuple[int, int]] = field(default_factory=dict)


def _gen_json(gen: Generation) -> dict:
    """A generation as the state file records it."""
    return {"path": gen.display, "relative": gen.relative, "seq": gen.seq, "offset": gen.offset,
            "line": gen.line, "head_len": gen.head_len, "head": gen.head_hash, "count_to": gen.count_to}


def _gen(doc: dict) -> Generation:
    """A generation back from the state file."""
    count_to = doc.get("count_to")
    return Generation(str(doc["path"]), str(doc["relative"]), int(doc["seq"]), offset=int(doc["offset"]),
                      line=int(doc["line"]), head_len=int(doc["head_len"]), head_hash=str(doc["head"]),
                      complete=bool(doc.get("complete", False)),
                      count_to=None if count_to is None else int(count_to))


def state_json(roots: list[str], order: list[str], files: list[SavedFile], past: list[Generation],
               done: dict[tuple[int, int], tuple[int, int]]) -> dict:
    """The state document of a follower (see the module docstring)."""
    live = {id(f.gen) for f in files}
    return {
        "version": STATE_VERSION,
        "roots": roots,
        "order": order,
        "files": [{**_gen_json(f.gen), "dev": f.key[0], "ino": f.key[1], "compression": f.compression,
                   "once": f.once, "rotated": f.rotated} for f in files],
        "past": [{**_gen_json(g), "complete": g.complete} for g in past if id(g) not in live],
        "done": [[k[0], k[1], s[0], s[1]] for k, s in done.items()],
    }


def save_state(path: str | os.PathLike, doc: dict) -> None:
    """Write the state document atomically (raises ``OutputError``)."""
    write_text(json.dumps(doc, indent=1) + "\n", path)


def load_state(path: str | os.PathLike) -> Saved | None:
    """The state saved in ``path``; ``None`` when there is no such file.

    Raises
    ------
    InputError
        The file cannot be read or is not a watch state file.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"--state {path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        doc = json.loads(text)
        if doc.get("version") != STATE_VERSION:
            raise ValueError(f"version {doc.get('version')!r}, expected {STATE_VERSION}")
        saved = Saved(roots=[str(r) for r in doc["roots"]], order=[str(o) for o in doc["order"]])
        for f in doc["files"]:
            key = (int(f["dev"]), int(f["ino"]))
            saved.files[key] = SavedFile(key, _gen(f), f.get("compression"), bool(f.get("once")),
                                         bool(f.get("rotated")))
        saved.past = [_gen(g) for g in doc["past"]]
        saved.done = {(int(d[0]), int(d[1])): (int(d[2]), int(d[3])) for d in doc["done"]}
    except (ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        raise InputError(f"--state {path}: not a watch state file ({exc})") from None
    return saved
