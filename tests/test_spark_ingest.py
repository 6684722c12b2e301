"""The Spark engine's ingest stages, run in this process without Spark
(``forensics.spark.ingest_in_process``: the same split, parse and assembly
code the executors and the driver run): however the files are cut into
chunks, the result is the local engine's."""

from __future__ import annotations

import gzip
from datetime import datetime, timezone
import json
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import forensics.ingest as ingest_mod
from forensics.ingest import IngestOptions, ingest
from forensics.spark import SparkPlan, ingest_in_process
from forensics.spark.chunks import split_at_lines
from forensics.timeline import analysis_columns
from golden_util import FORMAT_GOLDENS, GOLDEN

SAMPLE = Path(__file__).resolve().parents[1] / "sample_logs"
OPTS = IngestOptions(cache_dir=None)
#: JSON lines infer each field's type from the lines parsed together: a field
#: that is a number on some lines and text on others is written into ``attrs``
#: as its chunk's type (``101`` or ``"101"``), as the local streaming reader
#: writes it for a file cut into 64 MiB chunks.  Every other column is equal.
TYPED_PER_CHUNK = {"jsonl", "jsonl_gelf", "jsonl_mongodb", "jsonl_pino"}
#: CloudFront names its fields once, in the file's ``#Fields:`` header: a
#: data line of a later chunk is read with the default fields, and a line
#: that does not fit is rejected with another reason (the same line).
HEADER_ONCE = {"alb_cloudfront"}


def _same(local, other, *, attrs: bool = True, reasons: bool = True) -> None:
    assert other.accounting.to_json() == local.accounting.to_json()
    cols = [c for c in local.events.columns if attrs or c != "attrs"]
    assert other.events.select(cols).equals(local.events.select(cols))
    rcols = [c for c in local.rejects.columns if reasons or c != "reason"]
    assert other.rejects.select(rcols).equals(local.rejects.select(rcols))


def _golden_options(name: str) -> IngestOptions:
    opt = GOLDEN / name / "options.json"
    return IngestOptions(cache_dir=None, **(json.loads(opt.read_text()) if opt.exists() else {}))


@pytest.mark.parametrize("parts", [1, 2, 5])
@pytest.mark.parametrize("name", sorted(FORMAT_GOLDENS))
def test_every_golden_sample_cut_into_parts_reads_as_the_local_engine_reads_it(name, parts):
    options = _golden_options(name)
    path = GOLDEN / name / "input.log"
    local = ingest([path], options=options)
    spark = ingest_in_process([path], options=options, full_events=True, plan=SparkPlan(parts_per_file=parts))
    _same(local, spark, attrs=name not in TYPED_PER_CHUNK, reasons=name not in HEADER_ONCE)


@pytest.mark.parametrize("parts", [None, 1, 4])
def test_sample_logs_give_the_scan_projection_of_the_local_engine(parts):
    local = ingest([SAMPLE], options=OPTS, project=analysis_columns())
    spark = ingest_in_process([SAMPLE], options=OPTS, plan=SparkPlan(parts_per_file=parts))
    _same(local, spark)
    assert spark.events.columns == local.events.columns


@pytest.mark.parametrize("group", [1, 5, None])
@pytest.mark.parametrize("rows", [1, 2, 7])
@pytest.mark.parametrize("name", ["otlp", "jsonl", "access"])
def test_rows_collected_in_batches_of_any_size_assemble_as_the_local_engine(monkeypatch, name, rows, group):
    """Spark's collect re-cuts the chunks' rows into batches of its own size,
    and the driver converts them a group of rows at a time; it puts the
    pieces in order without sorting rows (the OTLP sample has a line whose
    two events share one time: they stay in the parser's order)."""
    if group is not None:
        monkeypatch.setattr("forensics.spark.rows.GROUP_ROWS", group)
    options = _golden_options(name)
    path = GOLDEN / name / "input.log"
    local = ingest([path], options=options)
    spark = ingest_in_process([path], options=options, full_events=True, plan=SparkPlan(parts_per_file=3),
                              batch_rows=rows)
    _same(local, spark, attrs=name not in TYPED_PER_CHUNK)


def test_the_driver_frees_each_collected_batch_as_it_converts_it():
    from forensics.spark.chunks import Chunk, parse_chunk
    from forensics.spark.rows import frames, parse_frame, result_fields, to_batch

    data = (GOLDEN / "access" / "input.log").read_bytes()
    part = parse_chunk(Chunk(0, 0, True, "access", 1, data, None), display="a.log", relative="a.log",
                       options=OPTS, now=datetime.now(timezone.utc), full_events=True)
    batches = [to_batch(parse_frame(part), result_fields(True))]
    n = batches[0].num_rows
    pieces, rejects, *_ = frames(batches, full_events=True)
    assert batches == []
    assert n > 0 and sum(frame.height for _, frame in pieces) == part.events.height > 0


def _trace_log(path: Path, n: int = 200) -> Path:
    lines = []
    for i in range(n):
        lines.append(f"2023-11-02 16:{i // 60:02d}:{i % 60:02d},000 ERROR [main] c.e.Svc - failed {i}")
        lines.append("java.lang.IllegalStateException: boom")
        lines += [f"\tat com.example.Svc.call{j}(Svc.java:{j})" for j in range(12)]
        if i % 17 == 0:
            lines.append("")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("chunk", [700, 3000, 20_000])
def test_stack_trace_cut_by_a_chunk_boundary_stays_folded(tmp_path, chunk):
    p = _trace_log(tmp_path / "svc.log")
    local = ingest([p], options=OPTS)
    spark = ingest_in_process([p], options=OPTS, full_events=True, plan=SparkPlan(chunk_bytes=chunk))
    _same(local, spark)
    rep = spark.accounting.files[0]
    assert (rep.events, rep.continuation_lines) == (200, 200 * 13)
    assert spark.events["message"].str.contains("Svc.call11").all()


def test_a_trace_longer_than_a_chunk_is_still_one_event(tmp_path):
    lines = ["2023-11-02 16:00:00,000 ERROR [main] c.e.Svc - first"]
    lines += [f"\tat com.example.Deep.f{j}(Deep.java:{j})" for j in range(400)]
    lines += ["2023-11-02 16:00:01,000 INFO [main] c.e.Svc - next"]
    p = tmp_path / "deep.log"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    spark = ingest_in_process([p], options=OPTS, full_events=True, plan=SparkPlan(chunk_bytes=1000))
    _same(ingest([p], options=OPTS), spark)
    assert spark.events.height == 2 and "Deep.f399" in spark.events["message"][0]


def test_a_large_gzip_is_cut_as_it_is_read_and_keeps_lines_before_its_damage(monkeypatch, tmp_path):
    rows = [f'{{"ts": {1698941698 + i}, "user_id": "u{i % 9}", "action": "a{i % 5}"}}' for i in range(20_000)]
    blob = gzip.compress(("\n".join(rows) + "\n").encode())
    p = tmp_path / "app.jsonl.gz"
    p.write_bytes(blob[: len(blob) * 2 // 3])
    whole = ingest([p], options=OPTS)
    monkeypatch.setattr(ingest_mod, "STREAM_CHUNK", 64 * 1024)  # the streamed path, in both engines
    local = ingest([p], options=OPTS)
    spark = ingest_in_process([p], options=OPTS, full_events=True, plan=SparkPlan(chunk_bytes=50_000))
    _same(local, spark)
    _same(whole, spark)
    rep = spark.accounting.files[0]
    assert rep.compression == "gzip" and "truncated" in rep.damage and 0 < rep.events < 20_000


def test_nul_runs_and_invalid_utf8_are_counted_once_across_chunks(tmp_path):
    text = b"".join(b'{"ts": %d, "user_id": "u%d", "msg": "caf\xe9"}\n' % (1698941698 + i, i % 3) for i in range(300))
    p = tmp_path / "bad.jsonl"
    p.write_bytes(text[:4000] + b"\x00" * 500 + b"\n" + text[4000:])
    local = ingest([p], options=OPTS)
    spark = ingest_in_process([p], options=OPTS, full_events=True, plan=SparkPlan(parts_per_file=6))
    _same(local, spark)
    rep = spark.accounting.files[0]
    # the 300 lines with a Latin-1 byte, and the NUL run's line (read as U+FFFD)
    assert rep.invalid_utf8_lines == 301 and "500 NUL bytes" in rep.damage


def test_binary_and_empty_files_are_passed_over_with_their_reason(tmp_path):
    (tmp_path / "core").write_bytes(bytes(range(256)) * 64)
    (tmp_path / "empty.log").write_bytes(b"")
    (tmp_path / "ok.log").write_text("2023-11-02 16:00:00,000 INFO [main] c.e.Svc - ok\n")
    local = ingest([tmp_path], options=OPTS)
    spark = ingest_in_process([tmp_path], options=OPTS, full_events=True, plan=SparkPlan(parts_per_file=3))
    _same(local, spark)
    assert {r.path.rsplit("/", 1)[-1]: r.skipped for r in spark.accounting.files} == {
        "core": "binary content", "empty.log": "empty file", "ok.log": None}


_LINE = st.sampled_from([
    "2023-11-02 16:00:{s:02d},000 ERROR [main] c.e.Svc - failed",
    "2023-11-02 16:00:{s:02d},000 INFO [web] c.e.Api - GET /x user=u{s}",
    "\tat com.example.Svc.call(Svc.java:{s})",
    "Caused by: java.io.IOException: disk {s}",
    "",
    "   ",
    "garbage line {s}",
])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(st.tuples(_LINE, st.integers(0, 59)), min_size=1, max_size=60),
       chunk=st.integers(min_value=20, max_value=400), parts=st.integers(min_value=1, max_value=6))
def test_any_cut_of_a_text_log_gives_the_local_result(tmp_path_factory, lines, chunk, parts):
    p = tmp_path_factory.mktemp("h") / "svc.log"
    p.write_text("\n".join(t.format(s=s) for t, s in lines) + "\n", encoding="utf-8")
    opts = IngestOptions(cache_dir=None, format="plain")
    local = ingest([p], options=opts)
    spark = ingest_in_process([p], options=opts, full_events=True, plan=SparkPlan(parts_per_file=parts, chunk_bytes=chunk))
    _same(local, spark)


@given(data=st.binary(max_size=300).map(lambda b: b.replace(b"\r", b"")), parts=st.integers(1, 8))
def test_pieces_are_whole_lines_that_join_back_to_the_data(data, parts):
    pieces = split_at_lines(data, parts)
    assert b"".join(pieces) == data
    assert all(p.endswith(b"\n") for p in pieces[:-1])
    assert len(pieces) <= max(parts, 1)


def test_events_and_rejects_keep_file_and_line_across_files(tmp_path):
    for i in range(3):
        rows = [json.dumps({"ts": 1698941698 + 3 * j + i, "user_id": f"u{j % 4}", "event": "e"}) for j in range(500)]
        (tmp_path / f"f{i}.jsonl").write_text("\n".join(rows[:250] + ["not json"] + rows[250:]) + "\n")
    local = ingest([tmp_path], options=OPTS)
    spark = ingest_in_process([tmp_path], options=OPTS, full_events=True, plan=SparkPlan(parts_per_file=4))
    _same(local, spark)
    assert spark.rejects.select("line").to_series().to_list() == [251, 251, 251]
    assert spark.events.group_by("source").len().height == 3
    assert pl.Series(spark.events["line"]).min() == 1
