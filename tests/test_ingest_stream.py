"""Large files are read and parsed in chunks: same result as reading whole."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

import forensics.ingest as ingest_mod
from forensics.ingest import IngestOptions, ingest

SAMPLE = Path(__file__).resolve().parents[1] / "sample_logs"


def _same(a, b) -> None:
    assert a.accounting.to_json() == b.accounting.to_json()
    assert a.events.equals(b.events)
    assert a.rejects.equals(b.rejects)


@pytest.fixture
def per_file(monkeypatch):
    """Every file takes the large-file path (no batching of small files)."""
    monkeypatch.setattr(ingest_mod, "SMALL_FILE", -1)
    return monkeypatch


@pytest.mark.parametrize("chunk", [16_384, 50_000])
def test_chunked_ingest_matches_whole_files_on_every_sample_log(per_file, chunk):
    whole = ingest([SAMPLE], options=IngestOptions(cache_dir=None))
    per_file.setattr(ingest_mod, "STREAM_CHUNK", chunk)
    chunked = ingest([SAMPLE], options=IngestOptions(cache_dir=None))
    _same(chunked, whole)


def test_stack_trace_cut_by_a_chunk_boundary_stays_folded(per_file, tmp_path):
    lines = []
    for i in range(300):
        lines.append(f"2023-11-02 16:{i // 60:02d}:{i % 60:02d},000 ERROR [main] c.e.Svc - failed {i}")
        lines.append("java.lang.IllegalStateException: boom")
        lines += [f"\tat com.example.Svc.call{j}(Svc.java:{j})" for j in range(12)]
    p = tmp_path / "svc.log"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    whole = ingest([p], options=IngestOptions(cache_dir=None))
    per_file.setattr(ingest_mod, "STREAM_CHUNK", 3000)  # many boundaries inside traces
    chunked = ingest([p], options=IngestOptions(cache_dir=None))
    _same(chunked, whole)
    rep = chunked.accounting.files[0]
    assert (rep.events, rep.continuation_lines) == (300, 300 * 13)
    assert chunked.events["message"].str.contains("Svc.call11").all()


def test_truncated_gzip_streamed_keeps_lines_before_the_damage(per_file, tmp_path):
    rows = [f'{{"ts": {1698941698 + i}, "user_id": "u{i % 9}", "action": "a{i % 5}"}}' for i in range(20_000)]
    blob = gzip.compress(("\n".join(rows) + "\n").encode())
    p = tmp_path / "app.jsonl.gz"
    p.write_bytes(blob[: len(blob) * 2 // 3])
    per_file.setattr(ingest_mod, "STREAM_CHUNK", 64 * 1024)
    res = ingest([p], options=IngestOptions(cache_dir=None))
    rep = res.accounting.files[0]
    assert rep.damage and "truncated" in rep.damage
    assert rep.balanced() and 5_000 < rep.events < 20_000
    assert res.events["line"].to_list() == list(range(1, rep.events + 1))


def test_streamed_file_is_cached_in_parts_and_reloaded(per_file, tmp_path):
    rows = [f'{{"ts": {1698941698 + i}, "user_id": "u{i % 9}", "action": "a{i % 5}", "n": {i}}}' for i in range(20_000)]
    p = tmp_path / "app.jsonl"
    p.write_text("\n".join(rows) + "\nnot json\n", encoding="utf-8")
    per_file.setattr(ingest_mod, "STREAM_CHUNK", 100_000)
    opts = IngestOptions(cache_dir=str(tmp_path / "cache"))
    first = ingest([p], options=opts)
    assert len(list((tmp_path / "cache").glob("*.events.*.parquet"))) > 3
    per_file.setattr(ingest_mod, "load_file", lambda *a, **k: (_ for _ in ()).throw(AssertionError("not cached")))
    second = ingest([p], options=opts)
    _same(second, first)
    assert first.accounting.files[0].malformed == 1


def test_projection_keeps_only_the_requested_columns(tmp_path):
    import polars as pl

    p = tmp_path / "app.jsonl"
    p.write_text('{"ts": 1698941698, "user_id": "u1", "extra": 1}\n', encoding="utf-8")
    res = ingest([p], options=IngestOptions(cache_dir=None), project=[pl.col("ts"), pl.col("user")])
    assert res.events.columns == ["ts", "user", "line"]
    assert res.events["user"].to_list() == ["u1"]


def test_events_come_out_in_time_order_whether_or_not_the_files_overlap(tmp_path):
    import json as _json

    def log(name, stamps):
        p = tmp_path / name
        p.write_text("".join(_json.dumps({"ts": T0 + t, "user_id": name, "n": i}) + "\n" for i, t in enumerate(stamps)))
        return p

    a = log("a.jsonl", [100, 200, 300])
    b = log("b.jsonl", [10, 20, 30])  # wholly earlier: parts reordered, no sort needed
    c = log("c.jsonl", [150, 150, 250])  # interleaved: sorted (ties by file, then line)
    res = ingest([a, b, c], options=IngestOptions(cache_dir=None))
    got = res.events.select(pl_col_ts_epoch(), "user", "line").rows()
    assert got == [(10, "b.jsonl", 1), (20, "b.jsonl", 2), (30, "b.jsonl", 3), (100, "a.jsonl", 1),
                   (150, "c.jsonl", 1), (150, "c.jsonl", 2), (200, "a.jsonl", 2), (250, "c.jsonl", 3),
                   (300, "a.jsonl", 3)]


def pl_col_ts_epoch():
    import polars as pl

    return (pl.col("ts").dt.epoch("s") - T0).alias("t")


T0 = 1698941698


def _progress_of(paths, **kw):
    calls = []
    res = ingest(paths, options=IngestOptions(cache_dir=None, **kw), progress=lambda *a: calls.append(a))
    return res, calls


@pytest.mark.parametrize("compress", [False, True])
def test_progress_advances_in_bytes_read_while_a_large_file_is_streamed(per_file, tmp_path, compress):
    # a hash per row: the gzip stays large enough to be read in several blocks
    rows = "".join(f'{{"ts": {1698941698 + i}, "user_id": "u{i % 9}", "h": "{hashlib.sha256(str(i).encode()).hexdigest()}"}}\n'
                   for i in range(20_000))
    p = tmp_path / ("app.jsonl.gz" if compress else "app.jsonl")
    p.write_bytes(gzip.compress(rows.encode()) if compress else rows.encode())
    per_file.setattr(ingest_mod, "STREAM_CHUNK", 64 * 1024)  # ~30 chunks of the decompressed text
    res, calls = _progress_of([p])
    size = p.stat().st_size  # on disk: the compressed size of the .gz
    assert res.events.height == 20_000
    assert {stage for stage, _, _ in calls} == {"ingest"} and {total for _, _, total in calls} == {size}
    done = [d for _, d, _ in calls]
    assert done == sorted(set(done)) and done[-1] == size
    assert len([d for d in done if 0 < d < size]) >= 5


def test_progress_counts_every_file_once_and_ends_at_the_total_size(tmp_path):
    small = tmp_path / "small.jsonl"
    small.write_text('{"ts": 1698941698, "user_id": "u1"}\n')
    empty = tmp_path / "empty.log"
    empty.write_text("")
    big = tmp_path / "big.log"
    big.write_text("".join(f"2023-11-02 10:00:{i % 60:02d},000 INFO app: n={i}\n" for i in range(5000)))
    _, calls = _progress_of([small, empty, big, tmp_path / "missing.log"])
    total = small.stat().st_size + big.stat().st_size
    assert calls == [("ingest", small.stat().st_size, total), ("ingest", total, total)]


def test_a_per_file_format_is_parsed_whole_not_in_chunks_nor_batches(monkeypatch, tmp_path):
    """A format that reads a file-level header (PER_FILE) sees each file whole
    and alone: one parse per file, however large the file and however small."""
    from forensics.ingest import formats
    from forensics.ingest import group as group_mod

    rows = [f'{{"ts": {1698941698 + i}, "user_id": "u{i % 9}"}}' for i in range(5_000)]
    (tmp_path / "big.jsonl").write_text("\n".join(rows) + "\n")
    for k in range(3):
        (tmp_path / f"small{k}.jsonl").write_text("\n".join(rows[:5]) + "\n")
    calls = []
    real = group_mod._parse  # every parse of a file, a chunk or a batch goes through it

    def counting(fmt, lines, *a, **kw):
        calls.append(lines.height)
        return real(fmt, lines, *a, **kw)

    monkeypatch.setattr(group_mod, "_parse", counting)
    monkeypatch.setattr(ingest_mod, "STREAM_CHUNK", 16 * 1024)
    monkeypatch.setattr(ingest_mod, "SMALL_FILE", 1024)
    chunked = ingest([tmp_path], options=IngestOptions(cache_dir=None))
    assert max(calls) < 5_000 and calls.count(15) == 1  # chunks; the three small files in one batch
    calls.clear()
    monkeypatch.setattr(formats, "per_file", lambda name: True)
    whole = ingest([tmp_path], options=IngestOptions(cache_dir=None))
    assert sorted(calls) == [5, 5, 5, 5_000]
    _same(whole, chunked)


def _chunks_by_one_join(first: bytes, pieces: list[bytes], chunk_bytes: int) -> list[tuple[bytes, bool]]:
    """The reference cut: join what was read, cut after its last newline."""
    out, parts, size = [], [first], len(first)
    for piece in pieces:
        parts.append(piece)
        size += len(piece)
        if size >= chunk_bytes:
            data = b"".join(parts)
            cut = data.rfind(b"\n") + 1
            if cut:
                out.append((data[:cut], False))
            parts, size = [data[cut:]], len(data) - cut
    out.append((b"".join(parts), True))
    return out


@given(st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")), max_size=30),
       st.lists(st.integers(1, 25), min_size=1, max_size=8), st.integers(1, 90), st.integers(0, 30))
@settings(max_examples=300, deadline=None)
def test_whole_line_chunks_cut_after_the_last_newline_read(lines, sizes, chunk_bytes, first_len):
    """Chunks are whole lines that join back to the data, cut where a join of
    everything read so far would cut (whether the newline is in the last
    piece read or only in an earlier one)."""
    from forensics.ingest.reader import ReadState
    from forensics.ingest.stream import Streamed, whole_line_chunks

    data = b"\n".join(lines)
    first, rest = data[:first_len], data[first_len:]
    pieces, i, k = [], 0, 0
    while i < len(rest):
        pieces.append(rest[i:i + sizes[k % len(sizes)]])
        i += sizes[k % len(sizes)]
        k += 1
    got = list(whole_line_chunks(Streamed(0, "f", "f", first, iter(pieces), ReadState()), chunk_bytes))
    assert got == _chunks_by_one_join(first, pieces, chunk_bytes)
    assert b"".join(c for c, _ in got) == data
    assert all(c.endswith(b"\n") for c, last in got if not last)
