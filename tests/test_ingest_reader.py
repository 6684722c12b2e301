"""Reading physical lines: compression by content, damage, encodings."""

from __future__ import annotations

import bz2
import gzip

import zstandard

from forensics.ingest.reader import read_lines

TEXT = b"".join(b"line %d\n" % i for i in range(1, 2001))


def test_gzip_is_detected_by_content_not_name(write):
    p = write("rotated.log.2", gzip.compress(TEXT))
    raw = read_lines(p)
    assert raw.compression == "gzip"
    assert raw.lines.height == 2000
    assert raw.lines["text"][0] == "line 1"


def test_bzip2_and_zstd_are_read(write):
    for name, data, kind in (("a.log.bz2", bz2.compress(TEXT), "bzip2"), ("a.log.zst", zstandard.compress(TEXT), "zstd")):
        raw = read_lines(write(name, data))
        assert raw.compression == kind
        assert raw.lines["text"].to_list()[-1] == "line 2000"


def test_truncated_gzip_keeps_readable_lines(write):
    blob = gzip.compress(TEXT * 20)
    p = write("cut.log.gz", blob[: len(blob) // 2])
    raw = read_lines(p)
    assert raw.damage is not None and "gzip" in raw.damage
    assert 0 < raw.lines.height < 40000
    # Every kept line is whole.
    assert raw.lines["text"].str.contains(r"^line \d+$").all()


def test_invalid_utf8_is_replaced_and_counted(write):
    p = write("bad.log", b"ok\n\xff\xfe broken\nfine \xe2\x82\xac\n")
    raw = read_lines(p)
    assert raw.invalid_utf8_lines == 1
    assert raw.lines["text"].to_list() == ["ok", "\ufffd\ufffd broken", "fine €"]


def test_crlf_and_missing_final_newline(write):
    raw = read_lines(write("w.log", b"a\r\nb\r\nc"))
    assert raw.lines["text"].to_list() == ["a", "b", "c"]
    assert raw.lines["line"].to_list() == [1, 2, 3]


def test_binary_file_is_flagged(write):
    raw = read_lines(write("core", b"\x7fELF\x00\x00\x01" + bytes(range(256))))
    assert raw.binary
    assert raw.lines.height == 0


def test_max_bytes_stops_a_gzip_bomb(write):
    bomb = gzip.compress(b"A" * (50 * 1024 * 1024))
    raw = read_lines(write("bomb.gz", bomb), max_bytes=1024 * 1024)
    assert raw.truncated_at_limit
    assert sum(len(t) for t in raw.lines["text"].to_list()) <= 1024 * 1024


def test_empty_file_has_no_lines(write):
    assert read_lines(write("empty.log", b"")).lines.height == 0


def test_isal_and_zlib_inflate_read_every_gzip_case_alike(write, monkeypatch):
    # ISA-L is used when installed; zlib is the fallback: same lines, same damage
    import zlib

    import forensics.ingest.decompress as dec

    blob = gzip.compress(TEXT * 20)
    cases = {
        "clean.gz": blob,
        "members.gz": gzip.compress(TEXT) + gzip.compress(b"second member\n"),
        "cut.gz": blob[: len(blob) // 2],
        "garbage.gz": gzip.compress(TEXT) + b"not gzip at all",
        "padded.gz": gzip.compress(TEXT) + b"\x00" * 100,
        "bomb.gz": gzip.compress(b"A\n" * (4 * 1024 * 1024)),
    }
    assert dec.INFLATE is not zlib  # isal is a dependency: the fast path is the one under test
    seen = {}
    for backend in (dec.INFLATE, zlib):
        monkeypatch.setattr(dec, "INFLATE", backend)
        for name, data in cases.items():
            raw = read_lines(write(name, data), max_bytes=1024 * 1024)
            seen.setdefault(name, []).append((raw.lines["text"].to_list(), raw.damage, raw.truncated_at_limit))
    for name, (fast, slow) in seen.items():
        assert fast == slow, name
    assert seen["cut.gz"][0][1] and seen["garbage.gz"][0][1] and seen["bomb.gz"][0][2]
