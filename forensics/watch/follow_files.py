"""The pieces of the follower (:mod:`forensics.watch.follow`): generations,
and reading one open file in whole lines.

A *generation* is the content one display path held from its line 1: a file
until it is truncated, or a rotated file that keeps its lines under the name
it had.  A *tail* is one open file descriptor reading one generation.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from ..ingest.reader import DEFAULT_MAX_BYTES, ReadState, detect_compression, iter_bytes

#: Bytes at the start of a file that identify its content (the fingerprint).
HEAD = 1024
#: A copy or a compressed rotation is recognized only when the generation's
#: fingerprint covers at least this many bytes (shorter heads are too
#: likely to be shared by unrelated files).
MIN_MATCH = 64
#: Block of a line count over existing content.
_BLOCK = 1024 * 1024


def fingerprint(head: bytes) -> str:
    """The hash a state file keeps of a file's first bytes."""
    return hashlib.blake2b(head, digest_size=16).hexdigest()


class Generation:
    """The lines of one generation of a display path, and how far they were read.

    Attributes
    ----------
    display, relative
        The names its lines are reported under (those of the path it was
        first followed at, even after it was renamed).
    seq
        Creation order (an older generation of a path sorts first).
    offset
        Bytes consumed (decompressed bytes for a compressed file): always
        the end of a line delivered.
    line
        Number of the next line.
    head_len, head_hash
        The fingerprint: length and :func:`fingerprint` of its first bytes
        (up to :data:`HEAD`).
    head
        Those bytes, when known (not for a generation loaded from a state file).
    complete
        Its whole content was read (a copy of it holds nothing new).
    count_to
        For a file followed from its end: its size at the start.  Lines
        ending before it are counted, not delivered, the first time there is
        more to read (most such files never grow).
    """

    def __init__(self, display: str, relative: str, seq: int, *, offset: int = 0, line: int = 1,
                 head_len: int = 0, head_hash: str = "", complete: bool = False,
                 count_to: int | None = None) -> None:
        self.display, self.relative, self.seq = display, relative, seq
        self.offset, self.line, self.count_to = offset, line, count_to
        self.head_len, self.head_hash = head_len, head_hash
        self.head: bytes | None = None
        self.complete = complete

    def set_head(self, head: bytes) -> None:
        """Record the first bytes (up to :data:`HEAD`) and their fingerprint."""
        self.head = head
        self.head_len, self.head_hash = len(head), fingerprint(head)

    def matches(self, head: bytes) -> bool:
        """Whether a file starting with ``head`` holds this generation's start
        or is held by it (a copy taken before the last lines were added):
        the shorter of the two is a prefix of the other and is at least
        :data:`MIN_MATCH` bytes long.  With only the fingerprint (a generation
        loaded from a state file), ``head`` must cover all of it."""
        if self.head is not None:
            m = min(len(head), len(self.head))
            return m >= MIN_MATCH and head[:m] == self.head[:m]
        n = self.head_len
        return n >= MIN_MATCH and len(head) >= n and fingerprint(head[:n]) == self.head_hash

    def __repr__(self) -> str:
        return f"Generation({self.display!r}, seq={self.seq}, offset={self.offset}, line={self.line})"


def pread_all(fd: int, n: int, pos: int) -> bytes:
    """Up to ``n`` bytes at ``pos`` (fewer only at the end of the file)."""
    parts = []
    while n > 0:
        block = os.pread(fd, min(n, 16 * 1024 * 1024), pos)
        if not block:
            break
        parts.append(block)
        n -= len(block)
        pos += len(block)
    return b"".join(parts)


def open_regular(path: Path) -> tuple[int, os.stat_result]:
    """Open ``path`` for reading without blocking on a FIFO; the descriptor
    and its ``fstat``.  Raises ``OSError`` (``EINVAL`` when it is not a
    regular file)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
    except OSError:
        os.close(fd)
        raise
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise OSError(22, "not a regular file")
    return fd, st


def compression(fd: int) -> str | None:
    """The compression of an open file, by its magic bytes."""
    return detect_compression(os.pread(fd, 4, 0))


class Tail:
    """One open file read in whole lines for one :class:`Generation`.

    A plain file is read with ``pread`` from ``gen.offset`` plus the
    held-back partial line; a compressed one through
    :func:`forensics.ingest.reader.iter_bytes`, once, from its start, the
    bytes before ``gen.offset`` dropped.  Either way the lines before
    ``gen.count_to`` are counted, not delivered.
    """

    def __init__(self, key: tuple[int, int], fd: int, gen: Generation, *, kind: str | None = None,
                 once: bool = False) -> None:
        self.key, self.fd, self.gen, self.kind, self.once = key, fd, gen, kind, once
        self.pending = b""
        self.head = b""
        self.rotated = False
        self.seen: tuple[int, int] | None = None
        self.links = 1
        self.idle = 0
        self.at_end = False
        self.cutting = False
        self.carry = b""
        self.spos = 0
        self.stream: Iterator[bytes] | None = None
        self.read_state: ReadState | None = None
        self._file = None

    # -------------------------------------------------------------- opening

    def start_stream(self) -> bytes:
        """Start decompressing (compressed files); return the first
        decompressed bytes (up to :data:`HEAD`, fewer only for a short file),
        which stay queued for reading."""
        self._file = os.fdopen(os.dup(self.fd), "rb")
        self.read_state = ReadState()
        self.stream = iter_bytes(self._file, self.read_state, max_bytes=DEFAULT_MAX_BYTES)
        got = []
        size = 0
        while size < HEAD:
            piece = next(self.stream, None)
            if piece is None:
                break
            got.append(piece)
            size += len(piece)
        self.carry = b"".join(got)
        return self.carry[:HEAD]

    def read_head(self) -> bytes:
        """The first bytes of a plain file (up to :data:`HEAD`), remembered."""
        self.head = pread_all(self.fd, HEAD, 0)
        self.gen.set_head(self.head)
        return self.head

    def close(self) -> None:
        """Release the descriptor (and the decompressor)."""
        if self.stream is not None:
            self.stream.close()
            self.stream = None
        if self._file is not None:
            self._file.close()
            self._file = None
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    # -------------------------------------------------------------- reading

    def changed(self) -> bool:
        """Whether a plain file was truncated or rewritten since the last
        look: shorter than what was read, or its first bytes differ.  Checked
        only when its size or modification time changed."""
        st = os.fstat(self.fd)
        self.links = st.st_nlink
        seen = (st.st_size, st.st_mtime_ns)
        if seen == self.seen or self.once:
            return False
        self.seen = seen
        if st.st_size < max(self.gen.offset + len(self.pending), self.gen.count_to or 0):
            return True
        cur = pread_all(self.fd, HEAD, 0)
        if not cur.startswith(self.head):
            return True
        if len(cur) > len(self.head):  # a short head grows with the file
            self.head = cur
            self.gen.set_head(cur)
        return False

    def restart(self, gen: Generation) -> None:
        """Read the file again from line 1 as generation ``gen`` (truncated)."""
        self.gen = gen
        self.pending = b""
        self.rotated = True
        self.read_head()

    def count_lines(self) -> None:
        """Number the lines before ``gen.count_to`` without delivering them:
        the read goes on after the last newline before it (a line still being
        written when the watch started is delivered whole)."""
        end = min(self.gen.count_to, os.fstat(self.fd).st_size)
        pos = self.gen.offset
        lines, last = 0, -1
        while pos < end:
            block = os.pread(self.fd, min(_BLOCK, end - pos), pos)
            if not block:
                break
            n = block.count(b"\n")
            if n:
                lines += n
                last = pos + block.rindex(b"\n")
            pos += len(block)
        if last >= 0:
            self.gen.offset = last + 1
            self.gen.line += lines
        self.gen.count_to = None

    def read(self, max_read: int) -> bytes:
        """The next bytes, at most ``max_read`` minus the held-back partial
        line; sets ``at_end`` when nothing more is there now."""
        if self.stream is not None:
            return self._read_stream(max_read)
        budget = max(0, max_read - len(self.pending))
        size = os.fstat(self.fd).st_size
        if self.gen.count_to is not None:
            if size <= self.gen.count_to:  # nothing new: the count can wait
                self.at_end = True
                return b""
            self.count_lines()
        pos = self.gen.offset + len(self.pending)
        data = pread_all(self.fd, min(budget, size - pos), pos) if budget and size > pos else b""
        self.at_end = pos + len(data) >= size
        return data

    def _read_stream(self, max_read: int) -> bytes:
        """:meth:`read` for a compressed file: decompressed pieces, what was
        delivered before dropped and the lines before ``count_to`` counted."""
        parts: list[bytes] = []
        got = 0
        self.at_end = False
        while got < max_read - len(self.pending):
            start = self.spos
            piece = self.carry or next(self.stream, None)
            if piece is None:
                self.at_end = True
                break
            self.carry = b""
            self.spos += len(piece)
            piece = self._quiet(piece, start)
            take = piece[: max(0, max_read - len(self.pending) - got)]
            self.carry = piece[len(take):]
            self.spos -= len(self.carry)
            parts.append(take)
            got += len(take)
        if not self.at_end and not self.carry:
            # Peek: a compressed file read exactly to its end is finished now.
            nxt = next(self.stream, None)
            if nxt is None:
                self.at_end = True
            else:
                self.carry = nxt
        return b"".join(parts)

    def _quiet(self, piece: bytes, start: int) -> bytes:
        """Drop what ``piece`` (decompressed bytes from ``start``) has before
        ``gen.offset``, count the lines it has before ``gen.count_to``
        (keeping the last one, unfinished, as the held-back partial line);
        return the rest."""
        gen = self.gen
        if start < gen.offset:
            drop = min(len(piece), gen.offset - start)
            piece, start = piece[drop:], start + drop
        if gen.count_to is None or not piece:
            return piece
        quiet = piece[: max(0, gen.count_to - start)]
        n = quiet.count(b"\n")
        if n:
            cut = quiet.rindex(b"\n") + 1
            gen.line += n
            gen.offset = start + cut
            self.pending = quiet[cut:]
        else:
            self.pending += quiet
        if start + len(quiet) >= gen.count_to:
            gen.count_to = None
        return piece[len(quiet):]

    def take(self, data: bytes, max_read: int, *, final: bool) -> tuple[int, bytes, bool]:
        """Cut ``data`` after the held-back partial line into whole lines;
        advance the generation.  Return ``(first_line, lines, forced)``:
        ``forced`` when a line reached ``max_read`` bytes without a newline
        and was delivered as a line of its own (a newline added).  With
        ``final`` (nothing more will come) a last line without a newline is
        delivered with one added."""
        buf = self.pending + data
        forced = False
        if final:
            self.pending = b""
            out, consumed = (buf + b"\n" if buf and not buf.endswith(b"\n") else buf), len(buf)
        else:
            cut = buf.rfind(b"\n") + 1
            if cut == 0 and len(buf) >= max_read:
                out, consumed, forced = buf[:max_read] + b"\n", max_read, True
                self.pending = buf[max_read:]
            else:
                out, consumed = buf[:cut], cut
                self.pending = buf[cut:]
        first = self.gen.line
        self.gen.offset += consumed
        self.gen.line += out.count(b"\n")
        return first, out, forced
