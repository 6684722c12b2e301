"""The Spark engine on a local[2] SparkSession: the same ``scan --json`` as
the local engine on the sample logs, the shop scenario, a 10x day and HDFS,
whatever the cut into tasks; and one-line errors.

These tests run in CI (Java 17 and PySpark are there); where PySpark or
Java 17 is missing they are skipped with the reason.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from forensics.cli import cli
from forensics.errors import InputError, UsageError
from forensics.ingest import IngestOptions
from forensics.scan import FailingSettings, ScanSettings, run_scan
from forensics.simulate import SCENARIOS, simulate_scenario
from forensics.spark import SparkPlan, run_scan as spark_scan, spark_session
from forensics.spark.session import java_problem, master_problem
from forensics.timeline.model import TimelineOptions
from shared_data import dataset

SAMPLE = Path(__file__).resolve().parents[1] / "sample_logs"
NO_CACHE = IngestOptions(cache_dir=None)


def _why_skip() -> str | None:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "PySpark is not installed (pip install -e '.[test]' installs it)"
    return java_problem()


SKIP = _why_skip()
pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def spark():
    if SKIP is not None:
        pytest.skip(f"Spark tests need PySpark and Java 17+: {SKIP}")
    session = spark_session("local[2]", [("spark.sql.shuffle.partitions", "4")])
    yield session
    session.stop()


def _close(a, b, path="") -> list[str]:
    """Where two JSON documents differ; floats equal to 1e-9 relative."""
    if isinstance(a, float) and isinstance(b, (int, float)):
        return [] if math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-300) else [f"{path}: {a} != {b}"]
    if type(a) is not type(b):
        return [f"{path}: {a!r} != {b!r}"]
    if isinstance(a, dict):
        if a.keys() != b.keys():
            return [f"{path}: keys {sorted(a)} != {sorted(b)}"]
        return [d for k in a for d in _close(a[k], b[k], f"{path}.{k}")]
    if isinstance(a, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} items != {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in _close(x, y, f"{path}[{i}]")]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def _assert_same_scan(spark, paths, settings: ScanSettings, plans) -> dict:
    local = run_scan(paths, settings=settings).to_json()
    for plan in plans:
        other = spark_scan(spark, paths, settings, plan=plan).to_json()
        diffs = _close(local, other)
        assert not diffs, f"{plan}: {diffs[:5]}"
    return local


PLANS = [SparkPlan(), SparkPlan(parts_per_file=1), SparkPlan(parts_per_file=4, partitions=7)]


def test_sample_logs_scan_is_the_local_scan_whatever_the_cut(spark):
    doc = _assert_same_scan(spark, [str(SAMPLE)], ScanSettings(ingest=NO_CACHE), PLANS)
    assert doc["suspects"][0]["sequence"] == ["start_quiz", "switch_language", "download_material", "submit_quiz"]


def test_shop_scenario_scan_is_the_local_scan(spark, tmp_path):
    simulate_scenario("shop", tmp_path)
    settings = ScanSettings(ingest=IngestOptions(cache_dir=None, tz="Europe/Berlin"))  # the mail worker's clock
    doc = _assert_same_scan(spark, [str(tmp_path)], settings, [SparkPlan(), SparkPlan(parts_per_file=4)])
    assert doc["suspects"] and doc["ingest"]["events"] > 10_000


def test_a_ten_times_day_scan_is_the_local_scan(spark, tmp_path):
    simulate_scenario("elearning", tmp_path, seed=5, users=10 * SCENARIOS["elearning"].default_users)
    doc = _assert_same_scan(spark, [str(tmp_path)], ScanSettings(ingest=NO_CACHE), [SparkPlan(parts_per_file=4)])
    assert doc["ingest"]["events"] > 250_000 and doc["suspects"]


def test_hdfs_with_session_pattern_and_failing_labels_is_the_local_scan(spark, tmp_path):
    data = dataset("hdfs_loglead_2pct")
    if not data.exists():
        pytest.skip(f"HDFS dataset not found at {data}")
    log = tmp_path / "hdfs.log"
    with open(data / "HDFS_2pct.log", "rb") as src:
        log.write_bytes(src.read(3_000_000).rsplit(b"\n", 1)[0] + b"\n")
    settings = ScanSettings(ingest=NO_CACHE, timeline=TimelineOptions(session_pattern=r"blk_-?\d+"),
                            failing=FailingSettings(path=str(data / "anomaly_label.csv"), scope="whole"))
    doc = _assert_same_scan(spark, [str(log)], settings, [SparkPlan(), SparkPlan(parts_per_file=4)])
    assert doc["labels"]["failing_sessions"] > 0


def test_stack_traces_cut_by_spark_chunks_stay_folded(spark, tmp_path):
    lines = []
    for i in range(120):
        lines.append(f"2023-11-02 16:{i // 60:02d}:{i % 60:02d},000 ERROR [main] c.e.Svc - failed {i}")
        lines += [f"\tat com.example.Svc.call{j}(Svc.java:{j})" for j in range(12)]
    (tmp_path / "svc.log").write_text("\n".join(lines) + "\n", encoding="utf-8")
    settings = ScanSettings(ingest=NO_CACHE)
    local = run_scan([str(tmp_path)], settings=settings)
    other = spark_scan(spark, [str(tmp_path)], settings, plan=SparkPlan(chunk_bytes=2000))
    assert other.ingest.accounting.to_json() == local.ingest.accounting.to_json()
    assert other.ingest.events.equals(local.ingest.events)
    assert other.ingest.accounting.files[0].continuation_lines == 120 * 12


def test_cli_engine_spark_prints_the_local_json(spark):
    args = ["scan", str(SAMPLE), "--json", "-q", "--no-cache"]
    local = CliRunner().invoke(cli, args)
    other = CliRunner().invoke(cli, [*args, "--engine", "spark", "--spark-master", "local[2]"])
    assert other.exit_code == local.exit_code == 0, other.output
    assert not _close(json.loads(local.stdout), json.loads(other.stdout))


def test_missing_and_unlisted_inputs_are_one_line_errors(spark, tmp_path):
    with pytest.raises(InputError, match=r"nope: no such file or folder$"):
        spark_scan(spark, [str(tmp_path / "nope")], ScanSettings(ingest=NO_CACHE))
    with pytest.raises(InputError) as err:
        spark_scan(spark, ["s3a://no-such-bucket/logs/"], ScanSettings(ingest=NO_CACHE))
    assert "\n" not in str(err.value) and str(err.value).startswith("s3a://no-such-bucket/logs/: ")


def test_an_unreachable_master_is_a_one_line_error_without_starting_spark():
    res = CliRunner().invoke(cli, ["scan", str(SAMPLE), "--engine", "spark", "--spark-master", "spark://127.0.0.1:9"])
    assert res.exit_code == InputError.exit_code
    assert res.stderr.strip().splitlines() == [
        "forensics: cannot reach the Spark master spark://127.0.0.1:9 (127.0.0.1:9: [Errno 111] Connection refused)"]
    assert master_problem("local[2]") is None


def test_missing_pyspark_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyspark", None)
    res = CliRunner().invoke(cli, ["scan", str(SAMPLE), "--engine", "spark"])
    assert res.exit_code == UsageError.exit_code
    assert res.stderr.strip() == "forensics: the Spark engine needs PySpark 4: pip install 'forensics[spark]'"


def test_missing_java_is_named_before_spark_starts(monkeypatch, tmp_path):
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-jdk"))
    assert java_problem() == f"Spark needs Java 17 or newer: JAVA_HOME={tmp_path / 'no-jdk'} has no bin/java"
    if SKIP and "PySpark" in SKIP:
        pytest.skip(SKIP)
    res = CliRunner().invoke(cli, ["scan", str(SAMPLE), "--engine", "spark", "--spark-master", "local[1]"])
    assert res.exit_code == UsageError.exit_code
    assert res.stderr.strip().splitlines() == [f"forensics: {java_problem()}"]


def test_spark_options_without_the_spark_engine_are_a_usage_error():
    res = CliRunner().invoke(cli, ["scan", str(SAMPLE), "--spark-conf", "spark.x=1"])
    assert res.exit_code == UsageError.exit_code and "need --engine spark" in res.stderr
    res = CliRunner().invoke(cli, ["scan", str(SAMPLE), "--engine", "spark", "--spark-conf", "nokey"])
    assert res.exit_code == UsageError.exit_code and "expected KEY=VALUE" in res.stderr


def _read_events(folder: Path) -> "pl.DataFrame":
    import polars as pl

    return pl.read_parquet(str(folder / "**" / "*.parquet"), hive_partitioning=True)


def test_export_writes_the_events_partitioned_by_day_and_the_tables_as_the_local_engine(spark, tmp_path):
    import polars as pl
    from forensics.report.export import TABLES
    from forensics.spark.export import export_through_spark

    settings = ScanSettings(ingest=NO_CACHE, full_events=True)
    result = spark_scan(spark, [str(SAMPLE)], settings)
    written = export_through_spark(spark, result, str(tmp_path / "out"), events=True)
    assert [Path(w).name for w in written] == [f"{t}.parquet" for t in TABLES] + ["events"]
    for table in TABLES:  # the same files as the local engine's, with their metadata
        meta = pl.read_parquet_metadata(tmp_path / "out" / f"{table}.parquet")
        assert meta["forensics.table"] == table
    days = sorted(p.name for p in (tmp_path / "out" / "events").iterdir() if p.name.startswith("date="))
    events = result.timeline.events
    assert days == sorted(f"date={d}" for d in events["ts"].dt.date().unique().cast(pl.String).to_list())
    back = _read_events(tmp_path / "out" / "events")
    assert back.height == events.height
    assert set(events.columns) | {"date"} == set(back.columns)
    key = ["source", "line", "ts", "message", "session_key", "is_error", "attrs"]
    want = events.select(key).sort("source", "line", "message")
    got = back.select(key).with_columns(pl.col("ts").dt.convert_time_zone("UTC")).sort("source", "line", "message")
    assert got.equals(want)


def test_export_to_a_url_writes_every_table_through_spark(spark, tmp_path, monkeypatch):
    import polars as pl
    import forensics.spark.export as spark_export
    from forensics.report.export import TABLES

    result = spark_scan(spark, [str(SAMPLE)], ScanSettings(ingest=NO_CACHE))
    monkeypatch.setattr(spark_export, "is_url", lambda _: True)  # a local folder taken as a URL Spark writes
    out = tmp_path / "bucket"
    spark_export.export_through_spark(spark, result, str(out), events=False)
    for table, build in TABLES.items():
        back = pl.read_parquet(str(out / f"{table}.parquet" / "*.parquet"))
        assert back.height == build(result).height, table
    assert not (out / "events").exists()


def test_cli_export_to_a_url_without_spark_is_a_usage_error(tmp_path):
    res = CliRunner().invoke(cli, ["scan", str(SAMPLE), "--no-cache", "--export", "s3a://bucket/out"])
    assert res.exit_code == 2 and "needs --engine spark" in res.output


def test_cli_engine_spark_export_events_writes_the_day_partitions(spark, tmp_path):
    args = ["scan", str(SAMPLE), "-q", "--no-cache", "--engine", "spark", "--spark-master", "local[2]",
            "--export", str(tmp_path / "out"), "--export-events"]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    assert (tmp_path / "out" / "suspects.parquet").is_file()
    assert [p.name for p in (tmp_path / "out" / "events").glob("date=*")] == ["date=2023-11-02"]
