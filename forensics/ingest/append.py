"""Appended files: parse only the new part when that is safe.

A log that is still being written grows between two runs.  Its cache entry
(:mod:`forensics.ingest.cache`) no longer matches (size and time changed),
but when

* the file is not compressed and was read whole last time (no byte limit),
* its format has no continuation lines (``CONTINUATION_LINES`` in the format
  module: a new line could otherwise belong to the last cached event),
* it is longer than before, the old content ended with a newline, and
* the first ``size`` bytes still hash (BLAKE2b) to what was parsed,

only the bytes after the old end are read and parsed, their lines numbered on
from the old last line, and the new entry is the old entry's Parquet parts
plus one part for the new lines.  Anything else (rotated, truncated, rewritten,
compressed) is read again in full.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

import polars as pl

from . import cache, formats
from .accounting import FileReport
from .group import Loaded, parse_group
from .options import IngestOptions
from .reader import decode_lines

_BLOCK = 16 * 1024 * 1024


def new_digest():
    """The hash object a cache entry records of an uncompressed file."""
    return hashlib.blake2b(digest_size=16)


def extend_entry(path: Path, display: str, relative: str, *, options: IngestOptions, now: datetime,
                 key: str, max_tail: int) -> bool:
    """Write cache entry ``key`` for ``path`` from its latest entry plus the
    appended lines; ``True`` when done, ``False`` when the file must be read
    again in full (see the module docstring).  Never raises ``OSError``."""
    directory = Path(options.cache_dir)
    stem = cache.stem_key(path, display, relative, options=options)
    latest = cache.read_latest(directory, stem)
    if (latest is None or latest.get("compression") is not None or formats.continued(latest["format"])
            or formats.per_file(latest["format"])):
        return False
    old = int(latest["size"])
    try:
        size = path.stat().st_size
        if not old < size <= options.max_bytes or size - old > max_tail:
            return False
        h = new_digest()
        with open(path, "rb") as fh:
            last = b""
            left = old
            while left:
                block = fh.read(min(_BLOCK, left))
                if not block:
                    return False
                h.update(block)
                left -= len(block)
                last = block[-1:]
            if last != b"\n" or h.hexdigest() != latest["digest"]:
                return False
            tail = fh.read(size - old)
    except OSError:
        return False
    if len(tail) != size - old:
        return False
    h.update(tail)
    raw = decode_lines(tail)
    prior = cache.load_for_append(directory, latest["key"])
    if raw.binary_reason or raw.lines.height == 0 or prior is None:
        return False
    parts, old_rejects, old_rep = prior
    fmt = latest["format"]
    loaded = Loaded(0, display, relative, fmt, None, None, raw.invalid_utf8_lines, raw.data, raw.lines)
    ev, rej, ((_, rep),) = parse_group([loaded], fmt, options=options, now=now)
    offset = int(latest["lines"])
    ev = ev.with_columns(pl.col("line") + offset)
    rej = rej.with_columns(pl.col("line") + offset)
    report = FileReport(
        path=old_rep.path, format=fmt, compression=None,
        lines=old_rep.lines + rep.lines, events=old_rep.events + rep.events,
        extra_events=old_rep.extra_events + rep.extra_events,
        continuation_lines=old_rep.continuation_lines + rep.continuation_lines,
        blank_lines=old_rep.blank_lines + rep.blank_lines, malformed=old_rep.malformed + rep.malformed,
        invalid_utf8_lines=old_rep.invalid_utf8_lines + rep.invalid_utf8_lines,
    )
    writer = cache.EntryWriter(directory, key, parts=parts)
    writer.add(ev)
    rejects = pl.concat([old_rejects, rej.drop("_fi").select(old_rejects.columns).cast(old_rejects.schema)])
    writer.commit(rejects, report, latest={"stem": stem, "size": size, "digest": h.hexdigest()})
    return writer.ok
