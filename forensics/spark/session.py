"""A SparkSession for the Spark engine, with one-line errors instead of JVM
stack traces: PySpark missing, no Java 17+, an unreachable master."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
from collections.abc import Sequence
from pathlib import Path

from ..errors import InputError, UsageError

#: PySpark 4 runs on Java 17 or newer.
MIN_JAVA = 17
#: Seconds to wait for a ``spark://`` master to accept a connection.
CONNECT_TIMEOUT_S = 5.0
#: Spark's JVM logs errors only (when this process starts the JVM).
LOG4J_CONF = Path(__file__).with_name("log4j2.properties")


def require_pyspark():
    """The ``pyspark`` module, or a :class:`UsageError` saying how to install it."""
    try:
        import pyspark
    except ImportError:
        raise UsageError("the Spark engine needs PySpark 4: pip install 'forensics[spark]'") from None
    major = int(pyspark.__version__.split(".")[0])
    if major < 4:
        raise UsageError(f"the Spark engine needs PySpark 4 or newer, found {pyspark.__version__}: "
                         "pip install 'forensics[spark]'")
    return pyspark


def java_problem() -> str | None:
    """Why Java cannot run Spark here (no ``java``, or older than 17), else None."""
    home = os.environ.get("JAVA_HOME")
    java = os.path.join(home, "bin", "java") if home else shutil.which("java")
    if not java or not os.path.exists(java):
        where = f"JAVA_HOME={home} has no bin/java" if home else "no `java` on PATH and JAVA_HOME is not set"
        return f"Spark needs Java {MIN_JAVA} or newer: {where}"
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"Spark needs Java {MIN_JAVA} or newer: {java} -version failed: {exc}"
    m = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not m:
        return None  # an unusual banner: let Spark try
    major = int(m.group(1))
    if major == 1 and m.group(2):  # 1.8 is Java 8
        major = int(m.group(2))
    if major < MIN_JAVA:
        return f"Spark needs Java {MIN_JAVA} or newer; {java} is Java {major} (set JAVA_HOME to a newer one)"
    return None


def master_problem(master: str | None) -> str | None:
    """Why a ``spark://host:port`` master cannot be reached, else None
    (other masters, ``local``, ``yarn``, ``k8s://``, are left to Spark)."""
    if not master or not master.startswith("spark://"):
        return None
    for hostport in master[len("spark://"):].split(","):
        host, _, port = hostport.rpartition(":")
        try:
            with socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S):
                return None
        except (OSError, ValueError) as exc:
            last = f"{hostport}: {exc}"
    return f"cannot reach the Spark master {master} ({last})"


def spark_session(master: str | None = None, conf: Sequence[tuple[str, str]] = (), *, app_name: str = "forensics"):
    """Get or create a SparkSession (``master``: ``local[2]``, ``spark://host:7077``,
    ``yarn``, ...; None: what ``spark-submit`` or the defaults say).

    Raises
    ------
    UsageError
        PySpark or Java is missing or too old.
    InputError
        The master cannot be reached, or Spark does not start.
    """
    require_pyspark()
    problem = java_problem()
    if problem:
        raise UsageError(problem)
    problem = master_problem(master)
    if problem:
        raise InputError(problem)
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name)
    if master:
        builder = builder.master(master)
    given = {key for key, _ in conf}
    # the driver collects the parsed events (docs/spark.md): Spark's 1 GiB cap on
    # collected results would stop a scan of about 4M events
    defaults = {"spark.ui.showConsoleProgress": "false", "spark.driver.maxResultSize": "0",
                "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile={LOG4J_CONF}"}
    if master is None or master.startswith("local"):
        defaults["spark.ui.enabled"] = "false"
    for key, value in [*((k, v) for k, v in defaults.items() if k not in given), *conf]:
        builder = builder.config(key, value)
    try:
        spark = builder.getOrCreate()
    except Exception as exc:  # noqa: BLE001 - Py4J / JVM start-up failures
        from .engine import one_line

        raise InputError(f"cannot start Spark{f' on {master}' if master else ''}: {one_line(exc)}") from None
    spark.sparkContext.setLogLevel("ERROR")
    return spark
