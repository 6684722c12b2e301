"""Plain-text reader: golden samples, layouts, stack traces, gzip rotation, real Hadoop/HDFS logs, invariants."""

from __future__ import annotations

import gzip
import json
import shutil
import time
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shared_data import dataset

from forensics.ingest import formats, ingest
from forensics.ingest.formats import plain
from forensics.ingest.options import IngestOptions
from golden_util import FOREIGN_LINES, assert_golden, check_parse_invariants, golden_sample, run_golden

GOLDEN = Path(__file__).parent / "golden"
HERE = GOLDEN / "plain"
HERE_PY = GOLDEN / "plain_python"
DATA = dataset()
HADOOP = DATA / "loghub_2k" / "Hadoop_2k.log"
HDFS = DATA / "hdfs_loglead_2pct" / "HDFS_2pct.log"


def _events(texts: list[str], **opts) -> list[dict]:
    res = check_parse_invariants(plain, texts, IngestOptions(**opts))
    rows = res.events.sort("line").to_dicts()
    for row in rows:
        row["attrs"] = json.loads(row["attrs"]) if row["attrs"] else {}
    return rows


@pytest.mark.parametrize("folder", [HERE, HERE_PY], ids=["java_mix", "python"])
def test_golden_sample_matches_expected_events_and_rejects(folder):
    assert_golden("plain", folder)


@pytest.mark.parametrize(
    ("folder", "counts"), [(HERE, (14, 7, 2, 2)), (HERE_PY, (6, 4, 1, 0))], ids=["java_mix", "python"]
)
def test_golden_sample_line_accounting_balances(folder, counts):
    rep = run_golden("plain", folder).accounting.files[0]
    assert rep.lines == rep.events + rep.continuation_lines + rep.blank_lines + rep.malformed
    assert (rep.events, rep.continuation_lines, rep.blank_lines, rep.malformed) == counts


@pytest.mark.parametrize("folder", [HERE, HERE_PY], ids=["java_mix", "python"])
def test_sniff_falls_back_to_plain_for_golden_samples(folder):
    assert formats.sniff(golden_sample(folder)) == "plain"
    assert plain.sniff(golden_sample(folder)) > 0.5


@pytest.mark.parametrize("other", ["jsonl", "access", "logfmt", "syslog", "redis"])
def test_sniff_does_not_claim_other_formats(other):
    assert plain.sniff(FOREIGN_LINES[other]) < 0.5


@pytest.mark.parametrize("other", ["access", "logfmt", "syslog", "redis"])
def test_sniff_does_not_claim_other_golden_samples(other):
    assert plain.sniff(golden_sample(GOLDEN / other)) < 0.5


def test_sniff_is_the_fraction_of_timestamped_lines():
    assert plain.sniff(["2026-03-14 11:00:00 INFO a", "\tat x", "081109 203615 148 INFO b", "nope"]) == 0.5
    assert plain.sniff([]) == 0.0


@pytest.mark.parametrize(
    ("text", "level", "attrs", "message"),
    [
        ("2026-03-14 11:03:23,575 ERROR [http-nio-8080-exec-3] com.acme.auth.TokenService - token refresh failed",
         "error", {"logger": "com.acme.auth.TokenService", "thread": "http-nio-8080-exec-3"}, "token refresh failed"),
        ("2026-03-14 11:03:23.575 [main] ERROR c.a.Foo - msg", "error", {"logger": "c.a.Foo", "thread": "main"}, "msg"),
        ("2026-03-14 11:03:23,575 - auth.service - ERROR - msg - with dash", "error", {"logger": "auth.service"}, "msg - with dash"),
        ("2026-03-14 11:03:23,575 ERROR:root:msg: with colon", "error", {"logger": "root"}, "msg: with colon"),
        ("2026-03-14T11:03:23.575+01:00 WARN msg", "warn", {}, "msg"),
        ("[2026-03-14 11:03:23] [ERROR] msg", "error", {}, "msg"),
        ("2015-10-18 18:01:47,978 INFO [main] org.apache.hadoop.mapreduce.v2.app.MRAppMaster: msg", "info",
         {"logger": "org.apache.hadoop.mapreduce.v2.app.MRAppMaster", "thread": "main"}, "msg"),
        ("081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 terminating", "info",
         {"logger": "dfs.DataNode$PacketResponder", "pid": 148}, "PacketResponder 1 terminating"),
        ("2026-03-14 11:03:23 CRITICAL: disk gone", "fatal", {}, "disk gone"),
        ("2026-03-14 11:03:23 WARN retrying: attempt 3", "warn", {}, "retrying: attempt 3"),
        ("2026-03-14 11:03:23 server listening", None, {}, "server listening"),
    ],
)
def test_layouts_give_level_logger_thread_and_message(text, level, attrs, message):
    row = _events([text])[0]
    assert (row["level"], row["attrs"], row["message"]) == (level, attrs, message)


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("2026-03-14T11:03:23.575+01:00 WARN x", "2026-03-14T10:03:23.575000+00:00"),
        ("2026-03-14 11:03:23,575 INFO x", "2026-03-14T11:03:23.575000+00:00"),
        ("2026-03-14T11:03:23Z INFO x", "2026-03-14T11:03:23+00:00"),
        ("2026/03/14 11:03:23 x", "2026-03-14T11:03:23+00:00"),
        ("081109 203615 148 INFO x", "2008-11-09T20:36:15+00:00"),
        ("991231 235959 1 INFO x", "1999-12-31T23:59:59+00:00"),
    ],
)
def test_timestamp_shapes_are_read_as_utc(text, iso):
    assert _events([text])[0]["ts"].isoformat() == iso


def test_timestamps_without_offset_use_options_tz():
    row = _events(["2026-03-14 12:03:23,575 INFO x"], tz="Europe/Paris")[0]
    assert row["ts"].isoformat() == "2026-03-14T11:03:23.575000+00:00"


def test_stack_trace_is_folded_into_message_with_exception_names():
    res = check_parse_invariants(plain, [
        "2026-03-14 11:03:23,575 ERROR [main] com.acme.auth.TokenService - token refresh failed user=u42 rid=abc",
        "java.lang.IllegalStateException: token store unavailable",
        "\tat com.acme.auth.TokenService.refresh(TokenService.java:88)",
        "Caused by: redis.clients.jedis.exceptions.JedisConnectionException: Read timed out",
        "\t... 12 more",
        "2026-03-14 11:03:24,000 INFO [main] com.acme.X - next",
    ], IngestOptions())
    assert res.continuation_lines == 4 and res.events.height == 2
    first = res.events.sort("line").row(0, named=True)
    assert first["message"].split("\n")[0] == "token refresh failed user=u42 rid=abc"
    assert "JedisConnectionException" in first["message"] and first["message"].endswith("\t... 12 more")
    assert (first["user"], first["request_id"]) == ("u42", "abc")


def test_key_values_only_come_from_the_first_line():
    row = _events(["2026-03-14 11:03:23 ERROR boom", "Caused by: x user=u9"])[0]
    assert row["user"] is None


def test_different_alias_keys_on_different_lines_all_fill_the_canonical_field():
    rows = _events(["2026-03-14 11:00:00 INFO a user=u1", "2026-03-14 11:00:01 INFO b uid=u2 rid=r2", "2026-03-14 11:00:02 INFO c request_id=r3"])
    assert [r["user"] for r in rows] == ["u1", "u2", None]
    assert [r["request_id"] for r in rows] == [None, "r2", "r3"]
    assert all(r["attrs"] == {} for r in rows)


def test_continuation_before_first_event_is_malformed():
    res = check_parse_invariants(plain, ["\tat a.B(B.java:1)", "2026-03-14 11:00:00 INFO a"], IngestOptions())
    assert res.rejects.to_dicts() == [{"line": 1, "reason": "continuation line with no event before it", "text": "\tat a.B(B.java:1)"}]


def test_file_without_any_timestamped_line_is_all_malformed():
    res = check_parse_invariants(plain, ["hello", "", "world", "Mar 14 11:00:00 not iso"], IngestOptions())
    assert res.events.height == 0 and res.blank_lines == 1
    assert res.rejects["line"].to_list() == [1, 3, 4]


def test_gzip_rotated_file_reads_the_same_as_the_plain_file(tmp_path):
    src = HERE / "input.log"
    shutil.copy(src, tmp_path / "app.log")
    (tmp_path / "rotated").mkdir()
    (tmp_path / "rotated" / "app.log.2.gz").write_bytes(gzip.compress(src.read_bytes()))
    a = ingest([tmp_path / "app.log"], options=IngestOptions())
    b = ingest([tmp_path / "rotated" / "app.log.2.gz"], options=IngestOptions())
    assert b.accounting.files[0].compression == "gzip"
    assert b.events.drop("source", "component").equals(a.events.drop("source", "component"))
    assert b.rejects.drop("source").equals(a.rejects.drop("source"))
    assert a.events.height == 14


@pytest.mark.skipif(not HADOOP.exists(), reason="shared Hadoop sample not present")
def test_real_hadoop_log_matches_loghub_structured_fields():
    res = ingest([HADOOP], options=IngestOptions())
    rep = res.accounting.files[0]
    assert (rep.format, rep.events, rep.malformed) == ("plain", 2000, 0)
    want = pl.read_csv(HADOOP.with_name("Hadoop_2k.log_structured.csv"), infer_schema=False)
    got = res.events.sort("line").select(
        pl.col("level"),
        pl.col("attrs").str.json_path_match("$.thread").alias("thread"),
        pl.col("attrs").str.json_path_match("$.logger").alias("logger"),
        pl.col("message").str.strip_chars(),
    )
    assert got["level"].to_list() == want["Level"].str.to_lowercase().to_list()
    assert got["thread"].to_list() == want["Process"].to_list()
    assert got["logger"].to_list() == want["Component"].to_list()
    assert got["message"].to_list() == want["Content"].str.strip_chars().to_list()


@pytest.mark.slow
@pytest.mark.skipif(not HDFS.exists(), reason="shared HDFS sample not present")
def test_real_hdfs_log_reads_every_line_as_an_event():
    start = time.perf_counter()
    res = ingest([HDFS], options=IngestOptions())
    elapsed = time.perf_counter() - start
    rep = res.accounting.files[0]
    assert (rep.format, rep.lines, rep.events, rep.malformed) == ("plain", 222_579, 222_579, 0)
    assert res.events["level"].value_counts().sort("level").rows() == [("info", 215_161), ("warn", 7_418)]
    assert res.events["ts"].min().year == 2008 and res.events["attrs"].str.contains('"logger":"dfs.').all()
    assert elapsed < 30, f"HDFS ingest took {elapsed:.1f}s"


_FRAGMENTS = st.sampled_from([
    "2026-03-14 11:03:23,575", "[2026-03-14 11:03:23]", "081109 203615", "2026-03-14T11:03:23+01:00", "999999 999999",
    "ERROR", "INFO", "[main]", "com.x.Y", "-", ":", "ERROR:root:", "\tat a.B(B.java:1)", "user=u1", "uid=u2", "line=3",
    "logger=z", "k=\"v w\"", "é", "\x1b[31m",
])
_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n"), max_size=80)
_LINE = st.one_of(_TEXT, st.lists(_FRAGMENTS, max_size=6).map(" ".join))


@settings(max_examples=150, deadline=None)
@given(st.lists(_LINE, max_size=25))
def test_any_lines_parse_without_error_and_every_line_is_accounted_for(texts):
    check_parse_invariants(plain, texts, IngestOptions())
