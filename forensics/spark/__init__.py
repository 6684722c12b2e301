"""The same scan on Apache Spark (``pip install 'forensics[spark]'``).

Spark reads the files where they are (any URL it reads) and runs the
project's own parsers on the executors, a chunk of whole lines per task
(:mod:`.chunks`, :mod:`.rows`); the driver assembles the ingest result
(:mod:`.assemble`) and runs the same timeline and mining as ``forensics
scan`` (:mod:`.engine`).  ``docs/spark.md`` says what moves where.

The core of ``forensics`` never imports this package; PySpark is imported
only when a session is made.
"""

from __future__ import annotations

from .engine import SparkPlan, ingest_in_process, run_scan, spark_ingest
from .session import spark_session

__all__ = ["run_scan", "spark_ingest", "ingest_in_process", "spark_session", "SparkPlan"]
