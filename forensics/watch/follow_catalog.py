"""What the follower (:mod:`forensics.watch.follow`) knows about files: the
watched files listed now, and the :class:`Catalog` of files followed, passed
over and waited for, with the rules that take a file in (resume it, follow it
from its end, or read it from line 1 unless it is a copy of a generation
already read).
"""

from __future__ import annotations

import os
import stat
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..ingest.discover import log_files_below
from ..ingest.reader import binary_reason
from .follow_files import HEAD, MIN_MATCH, Generation, Tail, compression, fingerprint, open_regular, pread_all
from .follow_state import Saved, SavedFile

#: Generations no longer open that are remembered (to recognize copies).
PAST_KEPT = 256
#: Bytes at a file's start that tell binary content (as ingest does).
BINARY_PROBE = 8192
#: ``Catalog.done`` value of a file passed over for as long as it exists (binary).
FOREVER = (-1, -1)


@dataclass(frozen=True)
class Entry:
    """One regular file found under the watched paths: its path, display
    name and ``relative`` (as :func:`forensics.ingest.discover.find_files`
    gives them), the watched path it came from, identity and size."""

    path: Path
    display: str
    relative: str
    root: int
    key: tuple[int, int]
    size: int
    mtime_ns: int

    @property
    def seen(self) -> tuple[int, int]:
        """``(size, mtime_ns)``: what tells that a file changed."""
        return (self.size, self.mtime_ns)


def _entry(path: Path, display: str, relative: str, root: int) -> Entry | None:
    """The entry of ``path`` if it is a regular file (following symlinks), else None."""
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        return None
    return Entry(path, display, relative, root, (st.st_dev, st.st_ino), st.st_size, st.st_mtime_ns)


def list_files(roots: Sequence[str], *, exclude: str | None = None) -> tuple[list[Entry], list[str]]:
    """The regular files under ``roots`` in the order and with the names of
    :func:`forensics.ingest.discover.find_files` (folders recursively, hidden
    files and folders, ``*.md``, ``*.parquet``, ``truth.json``... passed
    over), each file once (the first name of a file with several), and the
    one-line problems.  ``exclude`` is an absolute path never listed (the
    state file).  FIFOs, sockets and devices are never opened."""
    entries: list[Entry] = []
    problems: list[str] = []
    for index, raw in enumerate(roots):
        p = Path(raw)
        try:
            st = os.stat(p)
        except FileNotFoundError:
            problems.append(f"{raw}: no such file or folder")
            continue
        except OSError as exc:
            problems.append(f"{raw}: cannot read: {exc.strerror or exc}")
            continue
        if stat.S_ISDIR(st.st_mode):
            _walk(p, raw, index, entries, problems)
        elif stat.S_ISREG(st.st_mode):
            entries.append(Entry(p, str(raw), p.name, index, (st.st_dev, st.st_ino), st.st_size, st.st_mtime_ns))
        else:
            problems.append(f"{raw}: not a regular file")
    seen: set[tuple[int, int]] = set()
    unique = []
    for e in entries:
        if e.key not in seen and (exclude is None or os.path.abspath(e.path) != exclude):
            seen.add(e.key)
            unique.append(e)
    return unique, problems


def _walk(p: Path, raw: str, index: int, entries: list[Entry], problems: list[str]) -> None:
    """Add the files below folder ``p`` (see :func:`list_files`)."""
    if not os.access(p, os.R_OK | os.X_OK):
        problems.append(f"{raw}: permission denied")
        return
    errors: list[OSError] = []
    for fp in log_files_below(p, onerror=errors.append):
        try:
            e = _entry(fp, str(fp), str(fp.relative_to(p)), index)
        except OSError:  # gone since it was listed, or a dangling link
            continue
        if e is not None:
            entries.append(e)
    problems.extend(f"{exc.filename or raw}: cannot list folder: {exc.strerror or exc}" for exc in errors)


class Catalog:
    """The files a follower knows, by identity ``(st_dev, st_ino)``.

    Attributes
    ----------
    tails
        Files open now.
    deferred
        Files to resume (or follow from their end) that could not be opened yet.
    waiting
        New files not taken in yet (compressed, or shorter than
        :data:`~forensics.watch.follow_files.MIN_MATCH` bytes) and their
        ``(size, mtime_ns)``: taken in once that stays the same over two
        polls (a plain file also as soon as it is long enough).
    done
        Files not to read again while their ``(size, mtime_ns)`` stays the same
        (:data:`FOREVER`: while they exist).
    copies
        Those of them that are copies of a generation open now: looked at
        again once it is closed (what it had not read yet may be in the copy).
    past
        Generations no longer open, newest last.
    order
        Display paths in report order (those that had a generation).
    problems
        One-line problems of the current poll.
    """

    def __init__(self) -> None:
        self.tails: dict[tuple[int, int], Tail] = {}
        self.deferred: dict[tuple[int, int], SavedFile] = {}
        self.waiting: dict[tuple[int, int], tuple[int, int]] = {}
        self.done: dict[tuple[int, int], tuple[int, int]] = {}
        self.copies: dict[tuple[int, int], Generation] = {}
        self.past: deque[Generation] = deque(maxlen=PAST_KEPT)
        self.order: dict[str, int] = {}
        self.seq = 0
        self.problems: list[str] = []

    def restore(self, saved: Saved) -> None:
        """Take over a state file's order, generations and passed-over files."""
        self.order = {d: i for i, d in enumerate(saved.order)}
        self.seq = 1 + max([f.gen.seq for f in saved.files.values()] + [g.seq for g in saved.past] + [0])
        self.past.extend(saved.past)
        self.done = dict(saved.done)

    def saved_done(self) -> dict[tuple[int, int], tuple[int, int]]:
        """The passed-over files a state file records (binary files and
        copies of open generations are looked at again after a restart)."""
        return {k: v for k, v in self.done.items() if v != FOREVER and k not in self.copies}

    def saved_files(self) -> list[SavedFile]:
        """The followed files as a state file records them."""
        files = [SavedFile(t.key, t.gen, t.kind, t.once, t.rotated) for t in self.tails.values()]
        return files + list(self.deferred.values())

    # ------------------------------------------------------------ taking files in

    def take_in(self, e: Entry, rec: SavedFile | None, *, admit: bool = True) -> bool:
        """Start following ``e``: resume ``rec`` (a saved file, or one followed
        from its end), else take it as a new file.  A file that cannot be
        opened is tried again at the next poll, the same way.  With
        ``admit=False``, a file that is no longer ``rec``'s is left for the
        caller to take in as new: ``False``."""
        try:
            if rec is None:
                self.admit(e)
            elif not self.resume(e, rec):
                if not admit:
                    return False
                self.admit(e)
        except OSError:
            if rec is not None:
                self.deferred[e.key] = rec
            raise
        return True

    def resume(self, e: Entry, rec: SavedFile) -> bool:
        """Follow ``e`` on from where ``rec`` left it, if its fingerprint
        still matches; else retire the saved generation and return ``False``
        (``e`` is another file now)."""
        fd, st = open_regular(e.path)
        if (st.st_dev, st.st_ino) != e.key:  # replaced since it was listed: the next poll sees it
            os.close(fd)
            return True
        kind = compression(fd)
        gen = rec.gen
        tail = Tail(e.key, fd, gen, kind=kind, once=rec.once or kind is not None)
        if rec.verified and kind is not None:  # compressed and present at the start: never read
            tail.close()
            self.done[e.key] = e.seen
            return True
        head = tail.start_stream() if kind else pread_all(fd, HEAD, 0)
        if rec.verified and self.binary(e, tail):
            return True
        # An empty file has no fingerprint: whatever holds its inode now is taken as new.
        same = rec.verified or (
            gen.head_len > 0 and kind == rec.compression and len(head) >= gen.head_len
            and fingerprint(head[:gen.head_len]) == gen.head_hash and (kind is not None or st.st_size >= gen.offset))
        if not same:
            tail.close()
            self.retire(gen)
            return False
        tail.rotated = rec.rotated
        if kind is None:
            tail.head = head
            gen.set_head(head)
            tail.seen = (st.st_size, st.st_mtime_ns)
        self.tails[e.key] = tail
        return True

    def admit(self, e: Entry) -> None:
        """Take ``e`` in as a file not followed before: a copy or compressed
        rotation of a known generation is that generation (read past its
        offset, or not at all); anything else is read from line 1."""
        fd, st = open_regular(e.path)
        if (st.st_dev, st.st_ino) != e.key:
            os.close(fd)
            return
        kind = compression(fd)
        if (kind is not None or st.st_size < MIN_MATCH) and self.waiting.get(e.key) != e.seen:
            self.waiting[e.key] = e.seen  # too early to tell a copy: wait until it stops changing
            os.close(fd)
            return
        self.waiting.pop(e.key, None)
        tail = Tail(e.key, fd, Generation(e.display, e.relative, -1), kind=kind, once=kind is not None)
        head = tail.start_stream() if kind else pread_all(fd, HEAD, 0)
        if self.binary(e, tail):
            return
        match, live = self.match(head, e.display)
        if match is not None:
            if live or match.complete or (kind is None and st.st_size < max(match.offset, match.count_to or 0)):
                tail.close()
                self.done[e.key] = e.seen
                if live:
                    self.copies[e.key] = match
                return
            tail.gen, tail.once = match, True  # read on from where it was left
            self.tails[e.key] = tail
            return
        tail.gen, tail.rotated = self.new_gen(e.display, e.relative)
        tail.gen.set_head(head)
        if kind is None:
            tail.head = head
            tail.seen = (st.st_size, st.st_mtime_ns)
        self.tails[e.key] = tail

    def binary(self, e: Entry, tail: Tail) -> bool:
        """Pass over (and close) a file whose start is binary (a core dump,
        ``wtmp``, a journal file), for as long as it exists; one error."""
        probe = tail.carry if tail.stream is not None else pread_all(tail.fd, BINARY_PROBE, 0)
        why = binary_reason(probe[:BINARY_PROBE])
        if why is None:
            return False
        tail.close()
        self.done[e.key] = FOREVER
        self.problems.append(f"{e.display}: not followed: {why}")
        return True

    def match(self, head: bytes, display: str) -> tuple[Generation | None, bool]:
        """The generation (of another display path) a file starting with
        ``head`` is a copy of, and whether it is open now."""
        for t in self.tails.values():
            if t.gen.display != display and t.gen.matches(head):
                return t.gen, True
        for g in reversed(self.past):
            if g.display != display and g.matches(head):
                return g, False
        return None, False

    # ------------------------------------------------------------ generations

    def new_gen(self, display: str, relative: str) -> tuple[Generation, bool]:
        """A new generation of ``display``, and whether it had one before."""
        had = display in self.order
        self.order.setdefault(display, len(self.order))
        self.seq += 1
        return Generation(display, relative, self.seq), had

    def retire(self, gen: Generation) -> None:
        """Remember a generation no longer read (to recognize its copies)."""
        if not any(g is gen for g in self.past):
            self.past.append(gen)

    def is_done(self, e: Entry) -> bool:
        """Whether ``e`` is a file not to be read again (and unchanged)."""
        seen = self.done.get(e.key)
        if seen is None:
            return False
        copy_of = self.copies.get(e.key)
        closed = copy_of is not None and not any(t.gen is copy_of for t in self.tails.values())
        if (seen == e.seen or seen == FOREVER) and not closed:
            return True
        del self.done[e.key]
        self.copies.pop(e.key, None)
        return False

    def forget(self, present: dict[tuple[int, int], Entry]) -> None:
        """Drop what is remembered of files no longer there."""
        for key in [k for k in self.done if k not in present]:
            del self.done[key]
            self.copies.pop(key, None)
        for key in [k for k in self.waiting if k not in present]:
            del self.waiting[key]
        for key in [k for k in self.deferred if k not in present]:
            self.retire(self.deferred.pop(key).gen)
