"""Coverage-guided fuzz job for the ingest stage (atheris; not part of pytest).

Each input is arbitrary bytes.  The first byte picks a target (modulo the
number of targets given with ``--targets``):

* a format parser (``jsonl``, ``logfmt``, ``access``, ``postgres``, ``redis``,
  ``syslog``, ``plain``): the rest is decoded exactly as the reader does
  (:func:`forensics.ingest.reader.decode_lines`), split into lines and parsed;
* ``file``: the rest is written to a file, raw or wrapped as (possibly
  truncated or bit-flipped) gzip / bzip2 / zstd, and read through the whole
  :func:`forensics.ingest.ingest_file` path (sniffing included).

A crash is any exception, or a broken line accounting
(``lines == events + continuation_lines + blank_lines + malformed``).

Run (README, "Reliability and security", "Fuzzing"), one process per target group::

    python fuzz/make_seeds.py            # seeds from sample_logs/ into fuzz/corpus_*
    python fuzz/fuzz_ingest.py --targets=jsonl,logfmt,access,syslog,file -runs=600000 \
        -max_len=4096 -rss_limit_mb=8000 fuzz/corpus_a
    python fuzz/fuzz_ingest.py --targets=plain,postgres,redis -runs=400000 \
        -max_len=4096 -rss_limit_mb=8000 fuzz/corpus_b

``--targets`` is read by this script; the other flags are libFuzzer's, which
prints ``Done N runs in S second(s)`` at the end (and writes any crashing
input as ``crash-*``).
"""

from __future__ import annotations

import bz2
import gzip
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("POLARS_MAX_THREADS", "1")  # one core per fuzz process

import atheris

with atheris.instrument_imports(include=["forensics"]):
    from forensics.ingest import ingest_file
    from forensics.ingest import formats
    from forensics.ingest.options import IngestOptions
    from forensics.ingest.formats.base import check_accounting
    from forensics.ingest.reader import decode_lines

import zstandard

ALL_TARGETS = (*formats.names(), "file")
OPTIONS = IngestOptions(max_bytes=1 << 20)
_TMP = Path(tempfile.mkdtemp(prefix="fuzz_ingest."))


def _targets(argv: list[str]) -> tuple[tuple[str, ...], list[str]]:
    chosen, rest = ALL_TARGETS, []
    for arg in argv:
        if arg.startswith("--targets="):
            chosen = tuple(t for t in arg.split("=", 1)[1].split(",") if t)
            unknown = set(chosen) - set(ALL_TARGETS)
            if unknown:
                raise SystemExit(f"unknown targets: {sorted(unknown)}; known: {', '.join(ALL_TARGETS)}")
        else:
            rest.append(arg)
    return chosen, rest


TARGETS, LIBFUZZER_ARGV = _targets(sys.argv)


def _wrap(kind: int, body: bytes, cut: int, flip: int) -> bytes:
    if kind == 0:
        return body
    blob = (gzip.compress, bz2.compress, zstandard.compress)[(kind - 1) % 3](body)
    if cut and len(blob) > 4:
        blob = blob[: 4 + cut % (len(blob) - 4)]
    if flip and len(blob) > 4:
        i = 4 + flip % (len(blob) - 4)
        blob = blob[:i] + bytes([blob[i] ^ (1 + flip % 255)]) + blob[i + 1 :]
    return blob


def test_one_input(data: bytes) -> None:
    """Byte 0 picks the target; for ``file`` byte 1 picks raw/gzip/bzip2/zstd
    and bytes 2-5 a truncation point and a bit flip; the rest is the body."""
    if not data:
        return
    target = TARGETS[data[0] % len(TARGETS)]
    if target == "file":
        kind = data[1] % 4 if len(data) > 1 else 0
        cut = int.from_bytes(data[2:4], "big")
        flip = int.from_bytes(data[4:6], "big")
        path = _TMP / "input"
        path.write_bytes(_wrap(kind, data[6:], cut, flip))
        _, _, report = ingest_file(path, "input", options=OPTIONS)  # raises on unbalanced accounting
        assert report.balanced()
        return
    raw = decode_lines(data[1:])
    if raw.binary:
        return
    check_accounting(formats.get(target), raw, options=OPTIONS)


def main() -> None:
    atheris.Setup(LIBFUZZER_ARGV, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
