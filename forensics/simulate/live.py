"""Live replay: a log folder's lines written again, in event-time order, as a
clock advances (``forensics simulate --live OUT``; see docs/simulator.md,
"Live replay").

A :class:`Replay` reads a folder (the simulator's day, or any logs) once with
the project's own ingest, gives every physical line a time and then appends
lines to a mirror folder whenever :meth:`Replay.advance_to` is called: tests
drive it with explicit times, :func:`run_live` with a real (or fake) clock.

A line's time (its *due* time):

* an event line: its event's ``ts`` (the latest, when a line holds several
  events);
* a continuation line (a stack trace), a malformed or a blank line: the time
  of the line before it in its file, so a multi-line event is written whole;
* lines before a file's first event: that first event's time; every line of
  a file without any event: the replay's first time;
* then the running maximum down the file, so lines are always written in the
  file's own order (a line older than the one above it waits for it).

Compressed files are replayed decompressed, into a file named without the
compression suffix (``app.jsonl.1.gz`` -> ``app.jsonl.1``), so a follower can
tail them; :attr:`Replay.notes` says so.

>>> import tempfile, pathlib
>>> src = pathlib.Path(tempfile.mkdtemp())
>>> _ = (src / "a.log").write_text("2023-11-02 10:00:00 INFO one\\n2023-11-02 10:05:00 INFO two\\n")
>>> r = Replay(src, src.parent / (src.name + "-live"))
>>> r.advance_to(r.start), r.done(), r.advance_to(r.end), r.done()
(1, False, 1, True)
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from ..errors import InputError, OutputError, UsageError
from ..ingest import IngestOptions, ingest
from ..ingest.discover import find_files
from ..ingest.reader import detect_compression, read_bytes

__all__ = ["Replay", "replay_live", "run_live", "resolve_time", "DEFAULT_SPEED", "COMPRESSED_SUFFIXES"]

#: Replay seconds per real second of ``forensics simulate --live`` (a day in 12 minutes).
DEFAULT_SPEED = 120.0
#: Name endings dropped from a compressed file's output name.
COMPRESSED_SUFFIXES = (".gz", ".gzip", ".bz2", ".zst", ".zstd")
#: The simulator's answer key: copied to OUT when the replay starts, not replayed.
TRUTH = "truth.json"
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_US = timedelta(microseconds=1)
_TIME_OF_DAY = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")
Progress = Callable[[datetime, int, int], None]


@dataclass
class _File:
    """One replayed file: where its lines come from and go, where each line
    ends (byte offset after it) and when it is due (epoch µs, non-decreasing)."""

    source: Path
    relative: str
    out: Path
    data: bytes | None  # decompressed content; None: read from ``source``
    ends: np.ndarray
    due: np.ndarray
    pos: int = 0  # lines written (or skipped) so far

    def chunk(self, lo: int, hi: int) -> bytes:
        """The bytes of lines ``lo`` (0-based) up to, not including, ``hi``."""
        a = int(self.ends[lo - 1]) if lo else 0
        b = int(self.ends[hi - 1])
        if self.data is not None:
            return self.data[a:b]
        with open(self.source, "rb") as fh:
            fh.seek(a)
            return fh.read(b - a)


class Replay:
    """Write a simulated (or any) log folder's lines into OUT in event-time
    order, as a clock advances.

    Parameters
    ----------
    source
        A folder of logs (walked as ingest walks it) or one log file.
    out
        The mirror folder: each file keeps its path relative to ``source``
        (compressed files lose their suffix); created, and files of the same
        names are emptied.  ``truth.json`` of ``source`` is copied at once.
    start
        Time of the first line to write: a datetime (naive: in the ``tz`` of
        ``options``), ``"HH:MM[:SS]"`` or an ISO date and time (see
        :func:`resolve_time`); default the first event's time.
    prefill
        True: the lines due before ``start`` are written by the first
        :meth:`advance_to`, whatever its time; False: they are never written.
    options
        Ingest settings that give each line its time (``tz`` for timestamps
        without a zone, a forced ``format``, field names); the cache is never
        used and duplicates are never dropped.

    Attributes
    ----------
    start, end
        Replay start and the time of the last line (aware, UTC).
    notes
        One line per file replayed differently (decompressed).
    files
        The replayed files, by output path (``relative``, ``out``, ...).
    """

    def __init__(self, source: str | os.PathLike, out: str | os.PathLike, *,
                 start: datetime | str | None = None, prefill: bool = True,
                 options: IngestOptions | None = None) -> None:
        opts = dataclasses.replace(options or IngestOptions(), cache_dir=None, dedupe=False)
        self.zone = ZoneInfo(opts.tz)
        self.source, self.out = Path(source), Path(out)
        _check_paths(self.source, self.out)
        self.notes: list[str] = []
        self.files = _load(self.source, self.out, opts, self.notes)
        first = min(int(f.due[0]) for f in self.files if len(f.due))
        self.end = _from_us(max(int(f.due[-1]) for f in self.files if len(f.due)))
        if isinstance(start, str):
            start = resolve_time(start, first=_from_us(first), last=self.end, tz=opts.tz)
        self.start = _from_us(first) if start is None else self._aware(start)
        self.prefill = prefill
        begin = _to_us(self.start)
        self._before = [int(np.searchsorted(f.due, begin, side="left")) for f in self.files]
        if not prefill:
            for f, k in zip(self.files, self._before):
                f.pos = k
        _prepare_out(self.source, self.out, self.files)

    @property
    def lines_total(self) -> int:
        """Lines this replay writes in all (without the skipped ones)."""
        return sum(len(f.due) for f in self.files) - (0 if self.prefill else sum(self._before))

    @property
    def lines_written(self) -> int:
        """Lines written so far."""
        return sum(f.pos for f in self.files) - (0 if self.prefill else sum(self._before))

    def advance_to(self, t: datetime) -> int:
        """Append to OUT every line due at or before ``t`` (naive: in the
        replay's time zone) that is not written yet, in each file's line
        order, one write per file; return the number of lines written."""
        limit = _to_us(self._aware(t))
        written = 0
        for f, before in zip(self.files, self._before):
            hi = int(np.searchsorted(f.due, limit, side="right"))
            if self.prefill:
                hi = max(hi, before)
            if hi > f.pos:
                _append(f.out, f.chunk(f.pos, hi))
                written += hi - f.pos
                f.pos = hi
        return written

    def next_time(self) -> datetime | None:
        """When the next unwritten line is due (None when all are written)."""
        due = [int(f.due[f.pos]) for f in self.files if f.pos < len(f.due)]
        return _from_us(min(due)) if due else None

    def done(self) -> bool:
        """Whether every line has been written (or skipped)."""
        return all(f.pos == len(f.due) for f in self.files)

    def _aware(self, t: datetime) -> datetime:
        return (t if t.tzinfo is not None else t.replace(tzinfo=self.zone)).astimezone(timezone.utc)


def run_live(replay: Replay, *, speed: float = DEFAULT_SPEED, clock: Callable[[], float] = time.monotonic,
             sleep: Callable[[float], None] = time.sleep, progress: Progress | None = None,
             tick: float = 1.0, resolution: float = 0.05) -> None:
    """Run ``replay`` in real time divided by ``speed``: replay time is
    ``start + (clock() - clock at the start) * speed``.

    Parameters
    ----------
    replay
        A fresh :class:`Replay`.
    speed
        Replay seconds per clock second (> 0).
    clock, sleep
        The real clock and sleep (a test passes fakes: the loop never reads
        any other clock).
    progress
        Called as ``progress(replay_time, lines_written, lines_total)`` after
        every step.
    tick
        Longest sleep (clock seconds), so that progress is reported through
        quiet stretches.
    resolution
        Shortest sleep: lines due within it are written together.
    """
    if not speed > 0:
        raise UsageError("--speed must be greater than 0")
    t0 = clock()
    now = replay.start
    replay.advance_to(now)
    while True:
        if progress is not None:
            progress(now, replay.lines_written, replay.lines_total)
        due = replay.next_time()
        if due is None:
            return
        gap = (due - now).total_seconds() / speed
        sleep(min(max(gap, resolution), tick))
        now = replay.start + timedelta(seconds=(clock() - t0) * speed)
        replay.advance_to(now)


def replay_live(source: str | os.PathLike, out: str | os.PathLike, *, speed: float = DEFAULT_SPEED,
                start: datetime | str | None = None, clock: Callable[[], float] = time.monotonic,
                sleep: Callable[[float], None] = time.sleep, progress: Progress | None = None,
                prefill: bool = True, options: IngestOptions | None = None) -> None:
    """Replay ``source`` into ``out`` in real time divided by ``speed``
    (a :class:`Replay` run by :func:`run_live`; the arguments are theirs)."""
    replay = Replay(source, out, start=start, prefill=prefill, options=options)
    run_live(replay, speed=speed, clock=clock, sleep=sleep, progress=progress)


def resolve_time(text: str, *, first: datetime, last: datetime, tz: str = "UTC") -> datetime:
    """A replay start given as text, as an aware UTC datetime.

    ``HH:MM`` or ``HH:MM:SS`` is that time of day in ``tz`` on the latest
    date on which it is not after ``last`` (the simulated day's 16:10, even
    when the last lines spill past midnight), and a UsageError when that is
    before ``first``; anything else is read as an ISO date and time (naive:
    in ``tz``).

    Examples
    --------
    >>> a = datetime(2023, 11, 2, 0, 0, 1, tzinfo=timezone.utc)
    >>> b = datetime(2023, 11, 3, 0, 0, 30, tzinfo=timezone.utc)
    >>> resolve_time("16:10", first=a, last=b).isoformat()
    '2023-11-02T16:10:00+00:00'
    >>> resolve_time("2023-11-02 17:10", first=a, last=b, tz="Europe/Berlin").isoformat()
    '2023-11-02T16:10:00+00:00'
    """
    zone = ZoneInfo(tz)
    m = _TIME_OF_DAY.fullmatch(text.strip())
    if m is None:
        try:
            t = datetime.fromisoformat(text.strip())
        except ValueError:
            raise UsageError(f"replay start {text!r}: give HH:MM, HH:MM:SS or an ISO date and time") from None
        return (t if t.tzinfo is not None else t.replace(tzinfo=zone)).astimezone(timezone.utc)
    h, mi, s = int(m[1]), int(m[2]), int(m[3] or 0)
    if h > 23 or mi > 59 or s > 59:
        raise UsageError(f"replay start {text!r}: not a time of day")
    day: date = last.astimezone(zone).date()
    while (t := datetime(day.year, day.month, day.day, h, mi, s, tzinfo=zone).astimezone(timezone.utc)) > last:
        day -= timedelta(days=1)
    if t < first:
        raise UsageError(f"replay start {text!r}: the logs run from {first:%Y-%m-%d %H:%M:%S} "
                         f"to {last:%Y-%m-%d %H:%M:%S} UTC")
    return t


# ----------------------------------------------------------------------- loading


def _check_paths(source: Path, out: Path) -> None:
    """Refuse an output folder that is the source or inside it."""
    if not source.exists():
        raise InputError(f"{source}: no such file or folder")
    src, dst = source.resolve(), out.resolve()
    if dst == src or src in dst.parents:
        raise UsageError(f"{out}: the replay's output must not be {source} or inside it")


def _load(source: Path, out: Path, options: IngestOptions, notes: list[str]) -> list[_File]:
    """Every file ingest reads under ``source``, with each line's due time."""
    found = find_files([source])
    if found.errors:
        raise InputError(found.errors[0])
    result = ingest([source], options=options)
    times = (result.events.filter(pl.col("ts").is_not_null())
             .group_by("source", "line").agg(pl.col("ts").max().dt.epoch("us").alias("us")))
    by_source = times.partition_by("source", as_dict=True)
    inputs = {path.resolve() for path, _, _ in found.files}
    files, dues, names = [], [], {}
    for path, display, relative in found.files:
        data, kind = _content(path)
        rel = _out_name(relative, kind)
        if rel != relative:
            notes.append(f"{relative}: {kind}-compressed, replayed decompressed as {rel}")
        if rel in names or (out / rel).resolve() in inputs:
            raise UsageError(f"{out / rel}: would be written twice or over an input ({names.get(rel, relative)})")
        names[rel] = relative
        ends = _line_ends(path, data)
        dues.append(_due(by_source.get((display,), times.clear()), len(ends)))
        files.append(_File(path, rel, out / rel, data, ends, np.zeros(0, dtype=np.int64)))
    first = min((int(d[0]) for d in dues if d is not None), default=None)
    if first is None:
        raise InputError(f"{source}: no line with a time to replay")
    for f, d in zip(files, dues):  # a file without any event: due with the replay's first line
        f.due = d if d is not None else np.full(len(f.ends), first, dtype=np.int64)
    return sorted(files, key=lambda f: f.relative)


def _content(path: Path) -> tuple[bytes | None, str | None]:
    """``(decompressed bytes, compression)`` of a compressed file, ``(None,
    None)`` for a plain one (read from disk when written)."""
    with open(path, "rb") as fh:
        kind = detect_compression(fh.read(4))
    if kind is None:
        return None, None
    data, kind, _damage, _hit = read_bytes(path)
    return data, kind


def _out_name(relative: str, kind: str | None) -> str:
    """The output path of a file: compressed files lose their suffix."""
    if kind is None:
        return relative
    for suffix in COMPRESSED_SUFFIXES:
        if relative.lower().endswith(suffix) and len(relative) > len(suffix):
            return relative[: -len(suffix)]
    return relative


def _line_ends(path: Path, data: bytes | None, block: int = 16 * 1024 * 1024) -> np.ndarray:
    """Byte offset after each line (``\\n`` ends a line; a last line without
    one is still a line), as ingest numbers lines; ``data`` None: read ``path``."""
    parts, size = [], 0
    with open(path, "rb") if data is None else nullcontext() as fh:
        for piece in [data] if data is not None else iter(lambda: fh.read(block), b""):
            parts.append(np.flatnonzero(np.frombuffer(piece, dtype=np.uint8) == 10).astype(np.int64) + (size + 1))
            size += len(piece)
    ends = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    if size and (not len(ends) or ends[-1] != size):
        ends = np.append(ends, np.int64(size))
    return ends


def _due(lines: pl.DataFrame, n: int) -> np.ndarray | None:
    """Due times (epoch µs) of a file's ``n`` lines from its events'
    ``line`` and ``us``: filled down, then up, then a running maximum; None
    when the file has no event."""
    lines = lines.filter(pl.col("line").is_between(1, n))
    if lines.height == 0:
        return None
    idx = lines["line"].to_numpy() - 1
    us = np.zeros(n, dtype=np.int64)
    us[idx] = lines["us"].to_numpy()
    has = np.full(n, -1, dtype=np.int64)
    has[idx] = idx
    last = np.maximum.accumulate(has)
    due = np.where(last >= 0, us[np.maximum(last, 0)], us[int(idx.min())])
    return np.maximum.accumulate(due)


# ----------------------------------------------------------------------- writing


def _prepare_out(source: Path, out: Path, files: list[_File]) -> None:
    """Create OUT with every output file empty; copy ``truth.json``."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        for f in files:
            f.out.parent.mkdir(parents=True, exist_ok=True)
            f.out.write_bytes(b"")
        if source.is_dir() and (source / TRUTH).is_file():
            shutil.copyfile(source / TRUTH, out / TRUTH)
    except OSError as exc:
        raise OutputError(f"{out}: cannot write: {exc.strerror or exc}") from None


def _append(path: Path, data: bytes) -> None:
    """Append whole lines with one unbuffered write (looped if short)."""
    try:
        with open(path, "ab", buffering=0) as fh:
            view = memoryview(data)
            while view:
                view = view[fh.write(view):]
    except OSError as exc:
        raise OutputError(f"{path}: cannot write: {exc.strerror or exc}") from None


def _to_us(t: datetime) -> int:
    return (t - _EPOCH) // _US


def _from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=int(us))
