"""The Spark engine's driver: list the inputs, let Spark read and parse them
(stages one and two of :mod:`forensics.spark.rows`), assemble the ingest
result and run the same timeline and mining as ``forensics scan``.

>>> from forensics.spark import run_scan, spark_session   # doctest: +SKIP
>>> result = run_scan(spark_session("local[2]"), ["s3a://logs/2023-11-02/"])  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

import pyarrow as pa

from ..errors import InputError
from ..io import is_url
from ..ingest import STREAM_CHUNK, IngestResult
from ..ingest.accounting import FileReport
from ..ingest.discover import IGNORED_NAMES, IGNORED_SUFFIXES, find_files
from ..ingest.options import IngestOptions
from ..scan import ScanResult, ScanSettings, mine_timeline, read_labels, timeline_of
from ..timeline.sessions import session_pattern_group
from .assemble import assemble
from .rows import CHUNK_FIELDS, frames, normal_path, parse_batches, result_fields, spark_ddl, split_batches

Progress = Callable[[str, int, int], None]


@dataclass
class Listing:
    """The input files: ``(url, display, relative)`` each, in the order
    ``ingest`` would read them, with one-line errors and skipped reports."""

    files: list[tuple[str, str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    skipped: list[FileReport] = field(default_factory=list)


def list_inputs(spark, paths: Sequence[str | os.PathLike], *, strict: bool = False) -> Listing:
    """Local paths are walked as ``ingest`` walks them (same names, order and
    errors); URLs are listed through Spark's Hadoop file system (recursively,
    in sorted order, passing over hidden files and what ``ingest`` passes over)."""
    out = Listing()
    for raw in paths:
        text = str(raw)
        if is_url(text):
            _list_url(spark, text, out, strict=strict)
            continue
        if text.startswith("file://"):
            raw = text[len("file://"):]
        found = find_files([raw], strict=strict)
        out.files += [(Path(p).resolve().as_uri(), display, relative) for p, display, relative in found.files]
        out.errors += found.errors
        out.skipped += found.skipped
    return out


def _list_url(spark, url: str, out: Listing, *, strict: bool) -> None:
    jvm = spark.sparkContext._jvm
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    path = jvm.org.apache.hadoop.fs.Path(url)
    try:
        fs = path.getFileSystem(conf)
        status = fs.getFileStatus(path)
    except Exception as exc:  # noqa: BLE001 - Py4J wraps the Hadoop exception
        msg = f"{url}: {one_line(exc)}"
        if strict:
            raise InputError(msg) from None
        out.errors.append(msg)
        return
    if status.isFile():
        out.files.append((status.getPath().toString(), url, status.getPath().getName()))
        return
    root = status.getPath().toString().rstrip("/") + "/"
    found = []
    it = fs.listFiles(path, True)
    while it.hasNext():
        st = it.next()
        full = st.getPath().toString()
        rel = full[len(root):] if full.startswith(root) else st.getPath().getName()
        parts = rel.split("/")
        name = parts[-1]
        if any(p.startswith(".") or p.startswith("_") for p in parts) or name in IGNORED_NAMES \
                or name.lower().endswith(IGNORED_SUFFIXES):
            continue
        found.append((full, full, rel))
    if not found:
        msg = f"{url}: no log files in folder"
        if strict:
            raise InputError(msg)
        out.errors.append(msg)
    out.files += sorted(found)


#: Causes worth naming from deep inside a JVM stack trace, with what to do.
_KNOWN_CAUSES = (
    ("spark.driver.maxResultSize", "the parsed events are larger than spark.driver.maxResultSize; "
                                   "raise it (--spark-conf spark.driver.maxResultSize=0 lifts the cap)"),
    ("java.lang.OutOfMemoryError", "a JVM ran out of memory; raise spark.driver.memory or spark.executor.memory"),
)


def one_line(exc: BaseException) -> str:
    """The first meaningful line of a (Java or Python) exception's message,
    or the known cause found deeper in it (:data:`_KNOWN_CAUSES`).

    >>> one_line(RuntimeError("An error occurred while calling o92.getResult.\\n"
    ...     "Caused by: SparkException: Total size of serialized results (1127 MiB) is bigger than "
    ...     "spark.driver.maxResultSize (1024.0 MiB)"))
    'the parsed events are larger than spark.driver.maxResultSize; raise it (--spark-conf spark.driver.maxResultSize=0 lifts the cap)'
    """
    text = str(exc).strip()
    for needle, says in _KNOWN_CAUSES:
        if needle in text:
            return says
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("at ", "Traceback", "File ", "---", "JVM stacktrace")):
            return line[:300]
    return type(exc).__name__


@dataclass(frozen=True)
class SparkPlan:
    """How the inputs are cut: ``parts_per_file`` pieces per file read whole
    (None: one per ``chunk_bytes``), ``chunk_bytes`` per chunk of a large file,
    ``partitions`` Spark partitions for the parse (None: twice the default
    parallelism)."""

    parts_per_file: int | None = None
    chunk_bytes: int = STREAM_CHUNK
    partitions: int | None = None


def _maps(listing: Listing):
    by_path = {normal_path(url): (fi, display, relative) for fi, (url, display, relative) in enumerate(listing.files)}
    names = {fi: (display, relative) for fi, (_, display, relative) in enumerate(listing.files)}
    return by_path, names


def spark_ingest(spark, paths: Sequence[str | os.PathLike], *, options: IngestOptions, full_events: bool = False,
                 plan: SparkPlan = SparkPlan()) -> IngestResult:
    """``ingest`` on Spark: every file read and parsed on the executors, the
    result assembled on the driver (:mod:`forensics.spark.assemble`).  The
    warm cache is not used (see docs/spark.md)."""
    listing = list_inputs(spark, paths, strict=options.strict)
    if not listing.files:
        return _nothing(listing)
    by_path, names = _maps(listing)
    now = datetime.now(timezone.utc)
    raw = spark.read.format("binaryFile").load([url for url, _, _ in listing.files]).select("path", "content")
    split = raw.mapInArrow(partial(split_batches, files=by_path, options=options, parts=plan.parts_per_file,
                                   chunk_bytes=plan.chunk_bytes), spark_ddl(CHUNK_FIELDS))
    n = plan.partitions or 2 * max(1, spark.sparkContext.defaultParallelism)
    parsed = split.repartition(n).mapInArrow(
        partial(parse_batches, files=names, options=options, now=now, full_events=full_events),
        spark_ddl(result_fields(full_events)))
    table = parsed.toArrow()
    batches = table.to_batches()
    del table  # the batches alone hold the collected rows: each is freed once converted
    return _assemble(batches, listing, options=options, now=now, full_events=full_events)


def ingest_in_process(paths: Sequence[str | os.PathLike], *, options: IngestOptions, full_events: bool = False,
                      plan: SparkPlan = SparkPlan(), batch_rows: int | None = None) -> IngestResult:
    """The same two stages and assembly as :func:`spark_ingest`, run in this
    process without Spark (one file and one chunk after the other): the
    reference that shows a result does not depend on how Spark ran them.

    ``batch_rows`` re-cuts the parsed rows into batches of that many rows
    before the assembly, as Spark's collect does whatever the chunks were
    (``spark.sql.execution.arrow.maxRecordsPerBatch``); None keeps one batch
    per chunk."""
    listing = list_inputs(None, [p for p in paths if not is_url(p)], strict=options.strict)
    if not listing.files:
        return _nothing(listing)
    by_path, names = _maps(listing)
    now = datetime.now(timezone.utc)

    def files() -> Iterator[pa.RecordBatch]:
        for url, _, _ in listing.files:
            content = Path(url.removeprefix("file://")).read_bytes()
            yield pa.RecordBatch.from_pydict({"path": [url], "content": [content]})

    chunks = split_batches(files(), files=by_path, options=options, parts=plan.parts_per_file,
                           chunk_bytes=plan.chunk_bytes)
    parsed = list(parse_batches(chunks, files=names, options=options, now=now, full_events=full_events))
    if batch_rows is not None:
        table = pa.Table.from_batches(parsed, schema=result_fields(full_events)).combine_chunks()
        parsed = table.to_batches(max_chunksize=batch_rows)
        del table
    return _assemble(parsed, listing, options=options, now=now, full_events=full_events)


def _nothing(listing: Listing) -> IngestResult:
    errors = listing.errors or ["no input files"]
    raise InputError(errors[0] if len(errors) == 1 else f"{errors[0]} (and {len(errors) - 1} more errors)")


def _assemble(batches: list[pa.RecordBatch], listing: Listing, *, options: IngestOptions, now: datetime,
              full_events: bool) -> IngestResult:
    """``batches`` is emptied (see :func:`frames`)."""
    events, rejects, boundary, stats, facts = frames(batches, full_events=full_events)
    files = [(display, relative) for _, display, relative in listing.files]
    return assemble(files, events, rejects, boundary, stats, facts, options=options, now=now,
                    full_events=full_events, skipped=listing.skipped, errors=listing.errors)


def run_scan(spark, paths: Sequence[str | os.PathLike], settings: ScanSettings | None = None, *,
             plan: SparkPlan = SparkPlan(), progress: Progress | None = None) -> ScanResult:
    """``forensics scan`` with ingest on Spark: the same :class:`ScanResult`
    (and ``to_json()`` document) as :func:`forensics.scan.run_scan`.

    Parameters
    ----------
    spark
        A ``pyspark.sql.SparkSession`` (:func:`forensics.spark.spark_session`
        builds one; a notebook's own works too).
    paths
        Local paths and URLs Spark reads (``s3a://``, ``hdfs://``, ``gs://``, ``abfss://``).
    settings
        The scan's settings; ``settings.ingest.cache_dir`` is not used.
    plan
        How inputs are cut into tasks (:class:`SparkPlan`).

    Raises
    ------
    InputError
        Nothing could be read, or Spark failed (its message in one line).
    DataError
        The inputs hold no events with a readable time.
    """
    settings = settings or ScanSettings()
    if settings.timeline.session_pattern:
        session_pattern_group(settings.timeline.session_pattern)
    labels = read_labels(settings)
    if progress:
        progress("ingest (Spark)", 0, 1)
    try:
        ing = spark_ingest(spark, paths, options=settings.ingest, full_events=settings.full_events, plan=plan)
    except InputError:
        raise
    except Exception as exc:
        if _is_spark_error(exc):
            raise InputError(f"Spark: {one_line(exc)}") from exc
        raise
    if progress:
        progress("ingest (Spark)", 1, 1)
    run = timeline_of(ing, settings=settings, progress=progress, aside=True)
    del ing  # the columns set aside while mining are then held by nothing
    return mine_timeline(run, tuple(str(p) for p in paths), settings=settings, labels=labels, progress=progress)


def _is_spark_error(exc: BaseException) -> bool:
    mod = type(exc).__module__ or ""
    return mod.startswith(("pyspark", "py4j"))


__all__ = ["run_scan", "spark_ingest", "ingest_in_process", "SparkPlan", "list_inputs", "is_url"]
