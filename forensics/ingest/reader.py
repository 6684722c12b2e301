"""Read one file into a frame of physical lines, whatever its compression.

Compression is detected by magic bytes (gzip, bzip2, zstd), not by name, so
``app.log.2.gz``, ``app.log.1`` and a gzip without an extension all work.  A
truncated or damaged compressed file keeps every line decoded before the
damage; the damage is reported in :attr:`RawLines.damage`.
"""

from __future__ import annotations

import io
import os
import re
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import polars as pl

from .decompress import BZIP2_MAGIC, GZIP_MAGIC, ZSTD_MAGIC, iter_decompress

#: Default ceiling on decompressed bytes per file (guards against gzip bombs;
#: large files are streamed, so this bounds time and events, not a buffer).
DEFAULT_MAX_BYTES = 32 * 1024**3



@dataclass(frozen=True)
class RawLines:
    """The physical lines of one file.

    Attributes
    ----------
    lines
        Frame with ``line`` (Int64, 1-based) and ``text`` (String, without the
        line terminator).
    compression
        ``"gzip"``, ``"bzip2"``, ``"zstd"`` or ``None``.
    damage
        A one-line description of unreadable compressed data, else ``None``.
    invalid_utf8_lines
        Lines that held bytes which are not UTF-8 (decoded with U+FFFD).
    binary
        True when the content looks binary (see :func:`binary_reason`).
    truncated_at_limit
        True when the decompressed size hit ``max_bytes`` and reading stopped.
    data
        The decoded bytes (whole lines only), for formats with a native
        whole-buffer fast path (JSON lines).
    binary_reason
        Why the file was taken for binary (``"binary content"``, ...).
    """

    lines: pl.DataFrame
    compression: str | None
    damage: str | None = None
    invalid_utf8_lines: int = 0
    binary: bool = False
    truncated_at_limit: bool = False
    data: bytes = b""
    binary_reason: str | None = None


def detect_compression(head: bytes) -> str | None:
    """Name the compression of a file from its first bytes."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(BZIP2_MAGIC) and len(head) >= 4 and head[3:4].isdigit():
        return "bzip2"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    return None


@dataclass
class ReadState:
    """How reading one file went; filled in while :func:`iter_bytes` runs.

    ``kind`` is the compression, ``damage`` a one-line description of
    unreadable compressed data, ``hit`` whether ``max_bytes`` stopped it.
    """

    kind: str | None = None
    damage: str | None = None
    hit: bool = False
    #: A hashlib object fed the bytes of an uncompressed file as they are
    #: read (set it before reading; the warm cache uses it to recognize an
    #: appended file), and how many bytes that was.
    digest: Any = None
    size: int = 0
    #: Bytes read from disk so far (compressed bytes for a compressed file),
    #: for progress reports.
    consumed: int = 0


def iter_bytes(path: Path | BinaryIO, state: ReadState, *, max_bytes: int = DEFAULT_MAX_BYTES,
               block: int = 16 * 1024 * 1024):
    """Yield the (decompressed) content of ``path`` in pieces; ``state`` is
    filled in as reading goes (compression first, damage and limit at the end).
    One file descriptor, open while the generator runs.  ``path`` may also be
    a seekable binary file object (a file's bytes handed over by Spark), read
    from its start and left open."""
    opened = open(path, "rb") if isinstance(path, (str, os.PathLike)) else nullcontext(path)
    with opened as fh:
        head = fh.read(4)
        fh.seek(0)
        state.kind = detect_compression(head)
        if state.kind is not None:
            for piece in iter_decompress(fh, state, max_bytes):
                state.consumed = fh.tell()
                yield piece
            state.consumed = fh.tell()
            return
        total = 0
        while True:
            piece = fh.read(min(block, max_bytes + 1 - total))
            if not piece:
                return
            total += len(piece)
            state.consumed = total
            if total > max_bytes:
                state.hit = True
                piece = piece[: len(piece) - (total - max_bytes)]
                if piece:
                    yield piece
                return
            if state.digest is not None:
                state.digest.update(piece)
            state.size = total
            yield piece


def read_bytes(path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> tuple[bytes, str | None, str | None, bool]:
    """Return (content, compression, damage, hit_limit) for ``path``."""
    state = ReadState()
    data = b"".join(iter_bytes(path, state, max_bytes=max_bytes))
    return data, state.kind, state.damage, state.hit


def split_lines(data: bytes) -> tuple[pl.DataFrame, int]:
    """Split bytes into a lines frame; return it and the invalid-UTF-8 line count.

    ``\n`` ends a line; trailing ``\r`` characters are dropped, as is a
    byte-order mark at the start.  A final line without a
    newline is still a line; empty lines are kept (as empty strings) so that
    line numbers stay true.  Bytes that are not UTF-8 become U+FFFD.  Uses
    Polars' native CSV reader with NUL as the separator (binary content is
    detected before this), which is many times faster than splitting in Python.
    """
    if not data:
        return pl.DataFrame(schema={"line": pl.Int64, "text": pl.String}), 0
    if data.startswith(_POLARS_SNIFFED):
        # Polars' CSV reader would take these bytes for compressed input (a
        # .gz holding another archive, or text that starts like a zlib header).
        texts, invalid = split_lines_py(data)
        line = pl.int_range(1, len(texts) + 1, dtype=pl.Int64, eager=True)
        return pl.DataFrame({"line": line, "text": texts}, schema={"line": pl.Int64, "text": pl.String}), invalid
    kw = dict(has_header=False, separator="\x00", quote_char=None, schema={"text": pl.String},
              truncate_ragged_lines=True, comment_prefix=None)
    invalid = 0
    try:
        lines = pl.read_csv(io.BytesIO(data), encoding="utf8", **kw)
    except pl.exceptions.ComputeError:
        lines = pl.read_csv(io.BytesIO(data), encoding="utf8-lossy", **kw)
        invalid = int(lines.select(pl.col("text").str.contains("\ufffd", literal=True).sum()).item())
    lines = lines.select(
        pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("line"),
        pl.col("text").fill_null("").str.strip_chars_end("\r"),
    )
    return lines, invalid


_BOM = b"\xef\xbb\xbf"
#: Leading bytes that make Polars' CSV reader decompress (gzip, zstd, zlib).
_POLARS_SNIFFED = (GZIP_MAGIC, ZSTD_MAGIC, b"\x78\x01", b"\x78\x5e", b"\x78\x9c", b"\x78\xda")


def split_lines_py(data: bytes) -> tuple[list[str], int]:
    """The same split as :func:`split_lines`, in Python, for small inputs (no
    frame is built, which is what costs on a file of a few lines).

    Examples
    --------
    >>> split_lines_py(b"a\\r\\nb\\xff\\nc")
    (['a', 'b\ufffd', 'c'], 1)
    """
    if data.startswith(_BOM):
        data = data[3:]
    if not data:
        return [], 0
    invalid = 0
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("utf-8", "replace")
        invalid = -1
    texts = text.split("\n")
    if text.endswith("\n"):
        texts.pop()
    texts = [t.rstrip("\r") for t in texts]
    if invalid:
        invalid = sum(1 for t in texts if "\ufffd" in t)
    return texts, invalid


#: C0 control bytes that do not occur in text logs (tab, newline, CR, form
#: feed, vertical tab and ESC do).
_CONTROL_BYTES = bytes([*range(1, 9), 14, 15, *range(16, 27), 28, 29, 30, 31])
#: Share of odd bytes (controls, invalid UTF-8) above which a file is binary;
#: lower when it also holds NUL bytes.
BINARY_SHARE = 0.30
BINARY_SHARE_WITH_NUL = 0.05
_NUL_RUN = re.compile(rb"\x00+")


def binary_reason(head: bytes) -> str | None:
    r"""Why the first block of a file says "not a text log", else ``None``.

    A core dump or image is mostly control bytes and invalid UTF-8.  A text
    log with a zero-filled region (a crash before the file system wrote the
    data) is still text once the NUL bytes are set aside.

    Examples
    --------
    >>> binary_reason(b"\x7fELF\x02\x01\x01\x00" + bytes(range(64)))
    'binary content'
    >>> binary_reason(b"2023-11-02 10:00:00 ok\n" + b"\x00" * 4096) is None
    True
    """
    if not head:
        return None
    nul = b"\x00" in head
    rest = head.replace(b"\x00", b"") if nul else head
    if not rest:
        return "only NUL bytes (zero-filled)"
    ctrl = len(rest) - len(rest.translate(None, _CONTROL_BYTES))
    bad = rest.decode("utf-8", "replace").count("\ufffd") if not rest.isascii() else 0
    share = (ctrl + bad) / len(rest)
    if share > (BINARY_SHARE_WITH_NUL if nul else BINARY_SHARE):
        return "binary content"
    return None


def replace_nul_runs(data: bytes) -> tuple[bytes, int]:
    """Replace each run of NUL bytes with one U+FFFD; return the data and the
    number of NUL bytes (0 and the same object when there are none)."""
    if b"\x00" not in data:
        return data, 0
    n = data.count(b"\x00")
    return _NUL_RUN.sub("\ufffd".encode(), data), n


def read_lines(path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> RawLines:
    """Read ``path`` (any supported compression) into physical lines.

    Examples
    --------
    >>> from pathlib import Path
    >>> import tempfile, gzip
    >>> p = Path(tempfile.mkdtemp()) / "a.log.gz"
    >>> _ = p.write_bytes(gzip.compress(b"one\\ntwo\\n"))
    >>> read_lines(p).lines["text"].to_list()
    ['one', 'two']
    """
    data, kind, damage, hit = read_bytes(path, max_bytes=max_bytes)
    return decode_lines(data, kind, damage, hit)


def _prepare(data: bytes, damage: str | None) -> tuple[bytes, str | None, str | None]:
    """Cut damaged data to whole lines, detect binary content, replace NUL runs;
    return ``(data, damage, binary_reason)``."""
    if damage and data:
        # Keep only whole lines before the damage point.
        cut = data.rfind(b"\n")
        data = data[: cut + 1] if cut >= 0 else b""
    why = binary_reason(data[:8192])
    if why:
        return b"", damage, why
    data, nul = replace_nul_runs(data)
    if nul:
        note = f"{nul} NUL bytes (a zero-filled region); each run read as U+FFFD"
        damage = f"{damage}; {note}" if damage else note
    return data, damage, None


def decode_lines(data: bytes, kind: str | None = None, damage: str | None = None, hit: bool = False) -> RawLines:
    """Turn (decompressed) bytes into :class:`RawLines`: whole lines before
    any damage, binary detection, NUL runs, UTF-8 with replacement."""
    data, damage, why = _prepare(data, damage)
    if why:
        empty = pl.DataFrame(schema={"line": pl.Int64, "text": pl.String})
        return RawLines(empty, kind, damage, 0, True, hit, b"", why)
    lines, invalid = split_lines(data)
    return RawLines(lines, kind, damage, invalid, False, hit, data)


@dataclass(frozen=True)
class RawTexts:
    """A small file's lines as a Python list (see :func:`decode_texts`)."""

    texts: list[str]
    data: bytes
    damage: str | None = None
    invalid_utf8_lines: int = 0
    binary_reason: str | None = None


def decode_texts(data: bytes, damage: str | None = None) -> RawTexts:
    """Like :func:`decode_lines` but without building a frame (small files are
    parsed in batches; see :func:`forensics.ingest.ingest`)."""
    data, damage, why = _prepare(data, damage)
    if why:
        return RawTexts([], b"", damage, 0, why)
    texts, invalid = split_lines_py(data)
    return RawTexts(texts, data, damage, invalid)
