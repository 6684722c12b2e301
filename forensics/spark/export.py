"""``forensics scan --engine spark --export DIR``: the export written where the data is.

The tables of :func:`forensics.report.export.export_scan` go to ``DIR``, which may be
any URL Spark writes (``s3a://``, ``hdfs://``, ``gs://``, ``abfss://``) as well as a
local folder:

* the result tables (``suspects``, ``evidence``, ``bursts``, ``cascade``,
  ``error_rate``): on a local folder, the same files as the local engine writes
  (``<table>.parquet``, with the ``forensics.*`` key-value metadata); on a URL, written
  through Spark as a folder ``<table>.parquet/`` of one part file (Spark's writer keeps
  no key-value metadata: the same settings are the ``parameters`` of ``scan --json``);
* the events (``--export-events``): always through Spark, partitioned by day,
  ``events/date=YYYY-MM-DD/part-*.parquet`` (``date``: the UTC day of ``ts``), the
  columns of ``events.parquet`` plus ``date``.  Readers take the folder as one table
  (``pl.scan_parquet("DIR/events/**/*.parquet", hive_partitioning=True)``, DuckDB's
  ``read_parquet('DIR/events/**/*.parquet', hive_partitioning = true)``, Spark's
  ``spark.read.parquet("DIR/events")``).

The events come from the driver, where the analysis ran (docs/spark.md): Spark spreads
the writing over its executors.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from ..report.export import TABLES, events_frame, export_scan
from ..io import is_url

__all__ = ["export_through_spark", "dated_events"]


def dated_events(result) -> pl.DataFrame:
    """The events of ``events.parquet`` with ``date``, the UTC day of ``ts``
    (``YYYY-MM-DD``; null without a time), the partition column."""
    ev = events_frame(result)
    return ev.with_columns(pl.col("ts").dt.convert_time_zone("UTC").dt.date().cast(pl.String).alias("date"))


def _write(spark, frame: pl.DataFrame, url: str, *, partition_by: Sequence[str] = (), parts: int | None = None):
    df = spark.createDataFrame(frame.to_arrow())
    if parts is not None:
        df = df.coalesce(parts)
    writer = df.write.mode("overwrite")
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    writer.parquet(url)


def export_through_spark(spark, result, directory: str, *, events: bool = False) -> list[str]:
    """Write the scan's tables into ``directory`` (a local folder or a URL; see
    the module docstring).  Returns what was written: files and folders, in order."""
    base = str(directory).rstrip("/")
    written: list[str] = []
    if base.startswith("file://"):
        base = base[len("file://"):]
    if is_url(base):
        for name, build in TABLES.items():
            _write(spark, build(result), f"{base}/{name}.parquet", parts=1)
            written.append(f"{base}/{name}.parquet")
    else:
        written += [str(p) for p in export_scan(result, base, events=False)]
    if events:
        _write(spark, dated_events(result), f"{base}/events", partition_by=("date",))
        written.append(f"{base}/events")
    return written
