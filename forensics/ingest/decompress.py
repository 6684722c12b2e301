"""Decompressing gzip, bzip2 and zstd with bounded output per step.

A gzip bomb stops at ``max_bytes`` without inflating much past it;
concatenated members/frames are all read; damage ends the output where it
starts and is described in the :class:`~forensics.ingest.reader.ReadState`.
"""

from __future__ import annotations

import bz2
import io
import zlib

try:  # ISA-L's inflate, 2.6x zlib's on JSON lines (bench/README.md); same API
    from isal import isal_zlib as INFLATE
except ImportError:  # pragma: no cover - isal is a dependency; zlib is the fallback
    INFLATE = zlib

__all__ = ["GZIP_MAGIC", "BZIP2_MAGIC", "ZSTD_MAGIC", "iter_decompress"]

GZIP_MAGIC = b"\x1f\x8b"
BZIP2_MAGIC = b"BZh"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"

#: Output produced per decompression step; with the small input blocks below
#: this bounds memory when a bomb is fed in (at most one step past the limit).
_STEP = 1024 * 1024
#: Input block read from disk per step.
_BLOCK = 64 * 1024
#: zstd has no output bound per call, and one 4-byte RLE block can expand to
#: 128 KiB, so its input is fed in slices of this size (at most 64 MiB out).
_ZSTD_SLICE = 2048
_MAGIC = {"gzip": GZIP_MAGIC, "bzip2": BZIP2_MAGIC, "zstd": ZSTD_MAGIC}


class _Stream:
    """One compressed member/frame, decompressed with bounded output per step.

    ``give(data)`` hands over input; ``pull(n)`` returns at most ``n`` bytes
    (``b""`` when more input is needed or the member ended; see ``eof``).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._in = b""
        if kind == "gzip":
            self.obj = INFLATE.decompressobj(wbits=47)
        elif kind == "bzip2":
            self.obj = bz2.BZ2Decompressor()
        else:
            import zstandard

            self.obj = zstandard.ZstdDecompressor().decompressobj()

    @property
    def eof(self) -> bool:
        return bool(self.obj.eof)

    @property
    def unused(self) -> bytes:
        """Input after the end of this member (the next member, or garbage)."""
        return (self.obj.unused_data or b"") + self._in

    def needs_input(self) -> bool:
        if self.kind == "bzip2":
            return self.obj.needs_input and not self._in
        return not self._in

    def give(self, data: bytes) -> None:
        self._in += data

    def pull(self, n: int) -> bytes:
        if self.eof:
            return b""
        if self.kind == "gzip":
            out = self.obj.decompress(self._in, n)
            self._in = self.obj.unconsumed_tail
            return out
        if self.kind == "bzip2":
            data, self._in = self._in, b""
            return self.obj.decompress(data, n)
        data, self._in = self._in[:_ZSTD_SLICE], self._in[_ZSTD_SLICE:]
        return self.obj.decompress(data)


def _errors() -> tuple[type[BaseException], ...]:
    errs: list[type[BaseException]] = [EOFError, OSError, zlib.error, INFLATE.error, ValueError]
    try:
        import zstandard

        errs.append(zstandard.ZstdError)
    except ImportError:  # pragma: no cover - zstandard is a dependency
        pass
    return tuple(errs)


def iter_decompress(raw: io.BufferedReader, state, max_bytes: int):
    """Decompress as far as the data allows, yielding pieces of output;
    ``state`` (a :class:`~forensics.ingest.reader.ReadState` with ``kind``
    set) gets ``damage`` and ``hit`` (``max_bytes`` reached).

    Input is read in 64 KiB blocks and output taken at most 1 MiB per step
    (zstd: input sliced to 2 KiB), so a bomb stops at ``max_bytes`` without
    inflating much past it; concatenated members/frames are all read.
    """
    kind = state.kind
    total = 0
    stream = _Stream(kind)
    magic = _MAGIC[kind]
    try:
        while total <= max_bytes:
            if stream.eof:
                rest = stream.unused or raw.read(_BLOCK)
                if not rest:
                    return
                if len(rest) < len(magic):
                    rest += raw.read(_BLOCK)
                if not rest.startswith(magic):
                    if rest.strip(b"\x00") or raw.read(_BLOCK).strip(b"\x00"):
                        state.damage = f"data after the last {kind} stream ignored"
                    return  # else: zero padding
                stream = _Stream(kind)
                stream.give(rest)
            if stream.needs_input():
                block = raw.read(_BLOCK)
                if not block:
                    # Drain output still buffered (zlib with a bounded step).
                    chunk = stream.pull(max_bytes - total + 1)
                    if chunk:
                        total += len(chunk)
                        yield chunk[: max(0, len(chunk) - max(0, total - max_bytes))]
                        continue
                    if stream.eof:
                        continue
                    state.damage = f"{kind} stream truncated after {total} decompressed bytes"
                    return
                stream.give(block)
            chunk = stream.pull(min(_STEP, max_bytes - total + 1))
            total += len(chunk)
            if total > max_bytes:
                chunk = chunk[: len(chunk) - (total - max_bytes)]
            if chunk:
                yield chunk
    except _errors() as exc:
        state.damage = f"{kind} stream damaged after {min(total, max_bytes)} decompressed bytes: {exc}"
        return
    state.hit = True
