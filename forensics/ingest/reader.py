"""Read one file into a frame of physical lines, whatever its compression.

Compression is detected by magic bytes (gzip, bzip2, zstd), not by name, so
``app.log.2.gz``, ``app.log.1`` and a gzip without an extension all work.  A
truncated or damaged compressed file keeps every line decoded before the
damage; the damage is reported in :attr:`RawLines.damage`.
"""

from __future__ import annotations

import bz2
import gzip
import io
import zlib
from dataclasses import dataclass
from pathlib import Path

import polars as pl

GZIP_MAGIC = b"\x1f\x8b"
BZIP2_MAGIC = b"BZh"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"

#: Default ceiling on decompressed bytes per file (guards against gzip bombs).
DEFAULT_MAX_BYTES = 8 * 1024**3

_CHUNK = 4 * 1024 * 1024


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
        True when the content looks binary (NUL bytes in the first block).
    truncated_at_limit
        True when the decompressed size hit ``max_bytes`` and reading stopped.
    data
        The decoded bytes (whole lines only), for formats with a native
        whole-buffer fast path (JSON lines).
    """

    lines: pl.DataFrame
    compression: str | None
    damage: str | None = None
    invalid_utf8_lines: int = 0
    binary: bool = False
    truncated_at_limit: bool = False
    data: bytes = b""


def detect_compression(head: bytes) -> str | None:
    """Name the compression of a file from its first bytes."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(BZIP2_MAGIC) and len(head) >= 4 and head[3:4].isdigit():
        return "bzip2"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    return None


class _Decomp:
    """One incremental decompressor with a common interface over zlib/bz2/zstd."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.new()

    def new(self) -> None:
        if self.kind == "gzip":
            self.obj = zlib.decompressobj(wbits=47)
        elif self.kind == "bzip2":
            self.obj = bz2.BZ2Decompressor()
        else:
            import zstandard

            self.obj = zstandard.ZstdDecompressor().decompressobj()

    def feed(self, data: bytes) -> bytes:
        return self.obj.decompress(data)

    @property
    def eof(self) -> bool:
        return bool(getattr(self.obj, "eof", False))

    @property
    def unused(self) -> bytes:
        return getattr(self.obj, "unused_data", b"") or b""


def _stream_decompress(raw: io.BufferedReader, kind: str, max_bytes: int) -> tuple[bytes, str | None, bool]:
    """Decompress as far as the data allows; return (data, damage, hit_limit).

    Input is fed in small blocks so that a bomb stops at ``max_bytes`` without
    inflating much past it; concatenated members/frames are all read.
    """
    out = bytearray()
    dec = _Decomp(kind)
    pending = b""
    try:
        while True:
            block = pending or raw.read(64 * 1024)
            pending = b""
            if not block:
                break
            if dec.eof:
                dec.new()
            if kind == "gzip":
                # Bound each step's output (bomb guard).
                chunk = dec.obj.decompress(block, 1024 * 1024)
                out += chunk
                tail = dec.obj.unconsumed_tail
                while tail and len(out) < max_bytes:
                    chunk = dec.obj.decompress(tail, 1024 * 1024)
                    out += chunk
                    tail = dec.obj.unconsumed_tail
            else:
                out += dec.feed(block)
            if len(out) >= max_bytes:
                del out[max_bytes:]
                return bytes(out), None, True
            if dec.eof and dec.unused:
                pending = dec.unused
                if kind == "gzip" and not pending.startswith(GZIP_MAGIC):
                    break  # trailing garbage after the last member
        if not dec.eof:
            return bytes(out), f"{kind} stream truncated after {len(out)} decompressed bytes", False
    except (EOFError, OSError, zlib.error, ValueError) as exc:
        return bytes(out), f"{kind} stream damaged after {len(out)} decompressed bytes: {exc}", False
    except Exception as exc:  # zstandard.ZstdError and friends
        return bytes(out), f"{kind} stream damaged after {len(out)} decompressed bytes: {exc}", False
    return bytes(out), None, False


def read_bytes(path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> tuple[bytes, str | None, str | None, bool]:
    """Return (content, compression, damage, hit_limit) for ``path``."""
    with open(path, "rb") as fh:
        head = fh.read(4)
        fh.seek(0)
        kind = detect_compression(head)
        if kind is None:
            data = fh.read(max_bytes + 1)
            hit = len(data) > max_bytes
            return (data[:max_bytes] if hit else data), None, None, hit
        data, damage, hit = _stream_decompress(fh, kind, max_bytes)
        return data, kind, damage, hit


def split_lines(data: bytes) -> tuple[pl.DataFrame, int]:
    """Split bytes into a lines frame; return it and the invalid-UTF-8 line count.

    ``\n`` ends a line; a trailing ``\r`` is dropped.  A final line without a
    newline is still a line; empty lines are kept (as empty strings) so that
    line numbers stay true.  Bytes that are not UTF-8 become U+FFFD.  Uses
    Polars' native CSV reader with NUL as the separator (binary content is
    detected before this), which is many times faster than splitting in Python.
    """
    if not data:
        return pl.DataFrame(schema={"line": pl.Int64, "text": pl.String}), 0
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
        pl.col("text").fill_null("").str.strip_suffix("\r"),
    )
    return lines, invalid


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
    if damage and data:
        # Keep only whole lines before the damage point.
        cut = data.rfind(b"\n")
        data = data[: cut + 1] if cut >= 0 else b""
    binary = b"\x00" in data[:8192]
    if binary:
        return RawLines(pl.DataFrame({"line": [], "text": []}, schema={"line": pl.Int64, "text": pl.String}), kind, damage, 0, True, hit)
    lines, invalid = split_lines(data)
    return RawLines(lines, kind, damage, invalid, False, hit, data)
