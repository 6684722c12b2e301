"""Spark engine benchmark: ``forensics.spark`` on ``local[2]`` against the
local engine in the same run, with the session start cost, the time of each
stage, the peak memory of the driver and of the whole process tree (driver,
JVM, Python workers), the bytes shuffled and the bytes collected.

Usage::

    python bench/bench_spark.py                          # bench/data/scan_app_100000_d4 (4.7M events)
    python bench/bench_spark.py --data sample_logs/      # a quick check
    ... [--runs N] [--master local[2]] [--driver-memory 8g] [--partitions N] [--conf KEY=VALUE ...]

The default data is ``bench_scan.py``'s 4.7M-event day (``bench/data/
scan_app_100000_d4``: one plain and one gzip JSON-lines file, ~1.2 GB
decompressed); generate it with ``python bench/bench_scan.py`` if missing.
Each run is, each in a fresh subprocess (this script again, with ``--child``):

* session: ``spark_session(master)`` alone, the UI off as users get it,
  then a first job (``spark.range(1).count()``) and ``spark.stop()``: the
  fixed cost of Spark before any data;
* local: ``ingest`` (with ``scan``'s projection), ``timeline_of`` and
  ``mine_timeline``, the calls ``forensics.scan.run_scan`` makes with
  ``ScanSettings(ingest=IngestOptions(cache_dir=None))`` (``forensics scan
  PATH --json -q --no-cache``);
* Spark: ``spark_session(master, conf)`` (``spark.driver.memory`` is passed
  when the session is made: in local mode it becomes the JVM's ``-Xmx``,
  read back from the JVM's command line), then the calls
  ``forensics.spark.run_scan`` makes: ``spark_ingest`` (the part on Spark),
  ``timeline_of`` and ``mine_timeline`` on the driver; then ``spark.stop()``.
  Settings besides ``--driver-memory``: ``spark.ui.enabled=true`` (for the
  REST API below) and ``spark.driver.maxResultSize=0``: the parsed rows the
  driver collects are 1.2 GB at 4.7M events, over Spark's 1 GiB default,
  with which the engine fails (``--conf`` overrides both).

Both children write their ``--json`` document; the two are compared (they
should be identical, ``inputs`` included).

Time: wall time of each subprocess (Python start and imports included), and
inside it the time of each step.  Two wrappers, installed in the Spark child
only (no library code is changed), split ``spark_ingest``: around PySpark's
``DataFrame.toArrow`` (the Spark jobs and the transfer of the parsed rows to
the driver; it also records the collected Arrow table's ``nbytes``) and
around ``forensics.spark.engine._assemble`` (the driver's assembly: frames,
re-parsing cut lines, combine, dedupe, sort; inside it the calls of
``frames``, ``parse_regions``, ``file_reports`` and ``combine`` are timed
the same way).  Spark's own split comes from
its REST API (``spark.ui.enabled=true`` for the run, read at
``sc.uiWebUrl + /api/v1/applications/<id>/``): ``/jobs`` (each job's
duration), ``/stages`` (``shuffleWriteBytes``, ``resultSize``, task
times), ``/sql?details=true`` (per plan node: the two ``MapInArrow``'s time
to start and initialize the Python workers, time running Python code, data
sent to and returned from the workers; the ``Exchange``'s data size before
compression) and ``/executors`` (peak JVM heap used).
``statusTracker()`` was not used: it gives task counts, no bytes.

Memory: in local mode the JVM is a child of the Python driver and the Python
workers (``pyspark.daemon`` and its forks) are children of the JVM.  A thread
of this script samples the child's whole process tree every ``--interval``
seconds from ``/proc`` (``VmRSS``, ``VmHWM``, CPU ticks of each process; a
process that leaves the tree, e.g. reparented when the driver exits, is
still followed): "peak tree RSS" is the largest sum of the tree's RSS over
the samples (RSS, so pages a forked worker shares with the daemon count
twice), the per-role peaks the largest ``VmHWM`` of one process (and, for
the workers, the largest sum at one time), and
"driver RSS" the Python driver's own peak (``getrusage(RUSAGE_SELF)`` in
the child).  The local engine is one process: its tree peak is its own.
CPU seconds per process kind come from the same samples (a process that
exits between two samples loses its last 0.2 s); "other processes" is the
machine's busy CPU time (``/proc/stat``) minus the tree's, over the run: on
a shared machine, how much other work competed with the run.

Prints medians over ``--runs`` (peaks: the largest), the ratio Spark/local,
the split of the Spark run and the bytes moved.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
DEFAULT_DATA = DATA / "scan_app_100000_d4"
TICK = os.sysconf("SC_CLK_TCK")
GiB = 2**30
#: Spark settings of the bench besides ``spark.driver.memory`` (``--conf`` overrides them): the
#: parsed rows the driver collects pass Spark's 1 GiB default ``maxResultSize`` at 4.7M events
#: (the engine then fails: "Total size of serialized results of 4 tasks (1127.1 MiB) is bigger").
DEFAULT_CONF = {"spark.driver.maxResultSize": "0"}


# ------------------------------------------------------------------ process-tree sampling


def _stat(pid: str) -> tuple[str, int, int, int] | None:
    """(comm, ppid, cpu ticks, start time) of a process, None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            s = f.read().decode(errors="replace")
    except OSError:
        return None
    comm = s[s.find("(") + 1: s.rfind(")")]
    rest = s[s.rfind(")") + 2:].split()
    return comm, int(rest[1]), int(rest[11]) + int(rest[12]), int(rest[19])


def _rss(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) in bytes; zeros when the process is gone."""
    rss = hwm = 0
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmRSS:"):
                    rss = int(line.split()[1]) * 1024
                elif line.startswith(b"VmHWM:"):
                    hwm = int(line.split()[1]) * 1024
    except OSError:
        pass
    return rss, hwm


def _busy_ticks() -> int:
    """Busy CPU ticks of the whole machine (``/proc/stat``: all but idle and iowait)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v) - v[3] - v[4]


class TreeWatch(threading.Thread):
    """Samples the RSS and CPU time of a process and of all its descendants."""

    def __init__(self, root: int, interval: float):
        super().__init__(daemon=True)
        self.root, self.interval = root, interval
        self.known: dict[tuple[int, int], dict] = {}  # (pid, start) -> role, cpu, hwm
        self.series: list[tuple[float, int, dict[str, float]]] = []  # (time, tree RSS, cpu s by role)
        self.peak = (0, 0.0)  # (tree RSS, time)
        self.role_peak: dict[str, int] = {}  # the largest sum of RSS of each role's processes at one time
        self.done = threading.Event()
        self.busy0 = _busy_ticks()
        self.busy1 = self.busy0

    def role(self, pid: int, comm: str) -> str:
        """``driver`` (the child), ``jvm``, ``workers`` (Python processes
        under the driver: PySpark's daemon and its forks) or ``launcher``
        (``spark-submit``'s shell scripts, before one of them execs java)."""
        if pid == self.root:
            return "driver"
        if comm == "java":
            return "jvm"
        return "workers" if comm.startswith("python") else "launcher"

    def sample(self) -> bool:
        now = time.time()
        procs, children = {}, {}
        for name in os.listdir("/proc"):
            if name.isdigit():
                st = _stat(name)
                if st:
                    procs[int(name)] = st
                    children.setdefault(st[1], []).append(int(name))
        tree, todo = set(), [self.root] if self.root in procs else []
        while todo:
            pid = todo.pop()
            tree.add(pid)
            todo += children.get(pid, [])
        # processes seen in the tree before stay followed (reparented when the driver exits)
        tree |= {pid for pid, start in self.known if pid in procs and procs[pid][3] == start}
        total, by_role = 0, {}
        for pid in tree:
            comm, _, cpu, start = procs[pid]
            rss, hwm = _rss(pid)
            info = self.known.setdefault((pid, start), {"cpu": 0, "hwm": 0})
            info["role"] = self.role(pid, comm)  # again each time: a launcher script becomes the JVM
            info["cpu"] = max(info["cpu"], cpu)
            info["hwm"] = max(info["hwm"], hwm)
            total += rss
            by_role[info["role"]] = by_role.get(info["role"], 0) + rss
        for role, rss in by_role.items():
            self.role_peak[role] = max(self.role_peak.get(role, 0), rss)
        cpu_by_role: dict[str, float] = {}
        for info in self.known.values():
            cpu_by_role[info["role"]] = cpu_by_role.get(info["role"], 0.0) + info["cpu"] / TICK
        self.series.append((now, total, cpu_by_role))
        if total > self.peak[0]:
            self.peak = (total, now)
        self.busy1 = _busy_ticks()
        return bool(tree)

    def run(self) -> None:
        while not self.done.is_set():
            self.sample()
            self.done.wait(self.interval)
        deadline = time.time() + 30  # let a JVM or worker that outlives the driver finish
        while self.sample() and time.time() < deadline:
            time.sleep(self.interval)

    def peaks_by_role(self) -> dict[str, int]:
        """Per role: the largest ``VmHWM`` of one process (``jvm``, ...), the
        largest sum over its processes at one time (``workers_sum``, ...),
        and how many processes it had (``workers_count``, ...)."""
        out: dict[str, int] = {f"{r}_sum": v for r, v in self.role_peak.items()}
        for info in self.known.values():
            r = info["role"]
            out[r] = max(out.get(r, 0), info["hwm"])
            out[f"{r}_count"] = out.get(f"{r}_count", 0) + 1
        return out

    def cpu_between(self, t0: float, t1: float) -> dict[str, float]:
        """CPU seconds by role between two times (nearest samples)."""
        if not self.series:
            return {}

        def at(t: float) -> dict[str, float]:
            best = self.series[0]
            for s in self.series:
                if s[0] <= t:
                    best = s
            return best[2]
        a, b = at(t0), at(t1)
        return {r: b.get(r, 0.0) - a.get(r, 0.0) for r in b}

    def peak_between(self, t0: float, t1: float) -> int:
        return max((rss for t, rss, _ in self.series if t0 <= t <= t1), default=0)


def run_child(args: argparse.Namespace, engine: str) -> dict:
    """One measured run in a fresh subprocess: its report (see ``child``)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", engine, "--out", str(out),
               "--data", str(args.data), "--master", args.master, "--driver-memory", args.driver_memory]
        if args.partitions:
            cmd += ["--partitions", str(args.partitions)]
        for c in args.conf:
            cmd += ["--conf", c]
        env = dict(os.environ)
        env.setdefault("PYSPARK_PYTHON", sys.executable)  # the workers run this interpreter
        t0 = time.time()
        with tempfile.TemporaryFile() as err:
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env)
            watch = TreeWatch(proc.pid, args.interval)
            watch.start()
            _, status, usage = os.wait4(proc.pid, 0)
            t1 = time.time()
            watch.done.set()
            watch.join()
            err.seek(0)
            stderr = err.read().decode(errors="replace")
        code = os.waitstatus_to_exitcode(status)
        rep = json.loads(out.read_text()) if out.exists() else {}
    rep.update(engine=engine, code=code, wall=t1 - t0, popen=t0, wait4_maxrss=usage.ru_maxrss * 1024,
               tree_peak=watch.peak[0], tree_peak_at=watch.peak[1], roles=watch.peaks_by_role(),
               cpu=watch.series[-1][2] if watch.series else {}, other_cpu=(watch.busy1 - watch.busy0) / TICK)
    rep["other_cpu"] -= sum(rep["cpu"].values())
    if code != 0 or "error" in rep:
        lines = [x for x in stderr.strip().splitlines() if x.strip()]
        rep["error"] = rep.get("error") or (lines[-1] if lines else f"exit code {code}")
        return rep
    marks = rep["marks"]
    phases = list(zip(["start"] + list(marks), list(marks)))
    rep["phase_cpu"] = {b: watch.cpu_between(marks.get(a, t0), marks[b]) for a, b in phases}
    rep["phase_peak"] = {b: watch.peak_between(marks.get(a, t0), marks[b]) for a, b in phases}
    rep["peak_phase"] = next((b for a, b in phases if marks.get(a, t0) <= watch.peak[1] <= marks[b]), "exit")
    return rep


# ------------------------------------------------------------------ the children


def _settings():
    from forensics.ingest import IngestOptions
    from forensics.scan import ScanSettings

    return ScanSettings(ingest=IngestOptions(cache_dir=None))


def child_local(args: argparse.Namespace, marks: dict, rep: dict) -> dict:
    from forensics.ingest import ingest
    from forensics.scan import read_labels
    from forensics.timeline import analysis_columns

    settings = _settings()
    paths = [str(args.data)]
    marks["imports"] = time.time()
    labels = read_labels(settings)
    project = None if settings.full_events else analysis_columns()
    ing = ingest(paths, options=settings.ingest, project=project)
    marks["ingest"] = time.time()
    _analyse(ing, paths, settings, labels, rep, marks)
    return rep


_SIZE = {"B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}
_TIME = {"ns": 1e-9, "ms": 1e-3, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}


def metric_value(text: str) -> float | None:
    """A Spark SQL metric as shown by the REST API (``7.4 MiB``, ``2.2 s``,
    ``35,354``, or ``total (min, med, max ...)\\n7.5 s (...)``): the total in
    bytes, seconds or units."""
    line = text.strip().splitlines()[-1].split(" (")[0].strip()
    m = re.fullmatch(r"([\d,.]+)\s*([A-Za-z]*)", line)
    if not m:
        return None
    value, unit = float(m.group(1).replace(",", "")), m.group(2)
    if unit in _SIZE:
        return value * _SIZE[unit]
    if unit in _TIME:
        return value * _TIME[unit]
    return value if not unit else None


def _gmt(text: str | None) -> float | None:
    if not text:
        return None
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%Z").replace(tzinfo=timezone.utc).timestamp()


def spark_metrics(spark) -> dict:
    """What Spark's REST API says about the run (see the module docstring)."""
    import urllib.request

    sc = spark.sparkContext
    base = f"{sc.uiWebUrl}/api/v1/applications/{sc.applicationId}"

    def get(path: str):
        with urllib.request.urlopen(base + path, timeout=60) as r:
            return json.load(r)

    for _ in range(50):  # the status store is fed by a listener: wait until nothing runs
        if all(s["status"] not in ("ACTIVE", "PENDING") for s in get("/stages")):
            break
        time.sleep(0.1)
    stages = [s for s in get("/stages") if s["status"] == "COMPLETE"]
    out: dict = {"jobs": [], "stages": [], "nodes": {}}
    for j in sorted(get("/jobs"), key=lambda j: j["jobId"]):
        out["jobs"].append({"id": j["jobId"], "stages": j["stageIds"], "start": _gmt(j.get("submissionTime")),
                            "end": _gmt(j.get("completionTime")), "status": j["status"]})
    for s in sorted(stages, key=lambda s: s["stageId"]):
        out["stages"].append({k: s.get(k) for k in (
            "stageId", "numTasks", "executorRunTime", "executorCpuTime", "jvmGcTime", "resultSize",
            "resultSerializationTime", "inputBytes", "shuffleWriteBytes", "shuffleWriteRecords", "shuffleWriteTime",
            "shuffleReadBytes", "shuffleFetchWaitTime", "memoryBytesSpilled", "diskBytesSpilled",
            "peakExecutionMemory")} | {"start": _gmt(s.get("submissionTime")), "end": _gmt(s.get("completionTime"))})
    out["shuffle_write_bytes"] = sum(s["shuffleWriteBytes"] for s in stages)
    out["result_bytes"] = sum(s["resultSize"] for s in stages)
    # plan nodes: MapInArrow below the Exchange is stage one (split), above it stage two (parse)
    for q in get("/sql?details=true&planDescription=false"):
        nodes = q.get("nodes", [])
        exchange = next((n["nodeId"] for n in nodes if n["nodeName"] == "Exchange"), None)
        for n in nodes:
            name = n["nodeName"]
            if name == "MapInArrow" and exchange is not None:
                name = "split" if n["nodeId"] > exchange else "parse"
            if name in ("split", "parse", "Exchange", "Scan binaryFile"):
                out["nodes"][name] = {m["name"]: metric_value(m["value"]) for m in n["metrics"]}
    ex = get("/executors")
    out["jvm_heap_peak"] = max(((e.get("peakMemoryMetrics") or {}).get("JVMHeapMemory", 0) for e in ex), default=0)
    out["jvm_heap_max"] = max((e.get("maxMemory", 0) for e in ex), default=0)
    return out


def _jvm_pid() -> tuple[int | None, str]:
    """The JVM this process started, and its -Xmx."""
    me = os.getpid()
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = _stat(name)
            if st and st[1] == me and st[0] == "java":
                with open(f"/proc/{name}/cmdline", "rb") as f:
                    argv = f.read().decode(errors="replace").split("\0")
                xmx = next((a for a in argv if a.startswith("-Xmx")), "(no -Xmx: JVM default)")
                return int(name), xmx
    return None, "(no JVM child: a session of another process?)"


def _time_calls(module, name: str, into: dict) -> None:
    """Wrap ``module.name`` to add the seconds of its calls to ``into[name]`` (nothing if it is gone)."""
    fn = getattr(module, name, None)
    if fn is None:
        return

    def timed(*a, **k):
        t = time.perf_counter()
        try:
            return fn(*a, **k)
        finally:
            into[name] = into.get(name, 0.0) + time.perf_counter() - t

    setattr(module, name, timed)


def _analyse(ing, paths, settings, labels, rep: dict, marks: dict) -> None:
    """The driver's part after ingest, the same for both engines: timeline,
    mining and the JSON document, each step's end time in ``marks``."""
    from forensics.scan import mine_timeline, timeline_of

    rep["frame"] = _frame_facts(ing)
    run = timeline_of(ing, settings=settings)
    marks["timeline"] = time.time()
    result = mine_timeline(run, tuple(paths), settings=settings, labels=labels)
    marks["mining"] = time.time()
    rep["doc"] = result.to_json()
    rep["events"] = result.ingest.events.height
    marks["json"] = time.time()


def _frame_facts(ing) -> dict:
    ev = ing.events
    return {"event_chunks": max(ev.n_chunks("all"), default=0), "event_bytes": ev.estimated_size()}


def child_spark(args: argparse.Namespace, marks: dict, rep: dict) -> dict:
    import pyarrow  # noqa: F401 - imported by the engine anyway; not counted as session start

    import forensics.spark.engine as engine
    from forensics.scan import read_labels
    from forensics.spark import SparkPlan, spark_ingest, spark_session
    from forensics.spark.session import java_problem

    settings = _settings()
    paths = [str(args.data)]
    conf = {"spark.driver.memory": args.driver_memory, "spark.ui.enabled": "true", **DEFAULT_CONF}
    conf.update(tuple(c.split("=", 1)) for c in args.conf)
    rep["conf"] = conf
    marks["imports"] = time.time()
    spark = spark_session(args.master, conf=list(conf.items()))
    marks["session"] = time.time()
    t = time.perf_counter()
    java_problem()
    rep["java_check_s"] = time.perf_counter() - t
    jvm, rep["xmx"] = _jvm_pid()
    rep["conf_driver_memory"] = spark.sparkContext.getConf().get("spark.driver.memory", None)
    rep["parallelism"] = spark.sparkContext.defaultParallelism

    # wrappers around the two calls inside spark_ingest (timing and the collected bytes only)
    try:
        from pyspark.sql.classic.dataframe import DataFrame
    except ImportError:  # pragma: no cover - PySpark without the classic/connect split
        from pyspark.sql import DataFrame
    to_arrow, assemble = DataFrame.toArrow, engine._assemble

    def timed_to_arrow(self, *a, **k):
        marks.setdefault("plan", time.time())
        table = to_arrow(self, *a, **k)
        marks.setdefault("collect", time.time())
        rep["arrow_bytes"], rep["arrow_rows"] = table.nbytes, table.num_rows
        return table

    def timed_assemble(table, *a, **k):
        marks.setdefault("collect", time.time())
        out = assemble(table, *a, **k)
        marks.setdefault("assemble", time.time())
        return out

    DataFrame.toArrow, engine._assemble = timed_to_arrow, timed_assemble
    import forensics.spark.assemble as assembly

    for mod, name in ((engine, "frames"), (assembly, "parse_regions"), (assembly, "file_reports"),
                      (assembly, "combine")):
        _time_calls(mod, name, rep.setdefault("assembly", {}))
    labels = read_labels(settings)
    plan = SparkPlan(partitions=args.partitions)
    ing = spark_ingest(spark, paths, options=settings.ingest, full_events=settings.full_events, plan=plan)
    marks["ingest"] = time.time()
    _analyse(ing, paths, settings, labels, rep, marks)
    rep["spark"] = spark_metrics(spark)
    if jvm:
        rep["jvm_hwm"] = _rss(jvm)[1]
    marks["metrics"] = time.time()
    spark.stop()
    marks["stop"] = time.time()
    return rep


def _cause(exc: BaseException) -> str:
    """The line of a (Py4J) exception that says what went wrong: the first
    ``Caused by:`` of the Java trace, else the first line."""
    lines = [x.strip() for x in str(exc).strip().splitlines() if x.strip()]
    return next((x for x in lines if x.startswith("Caused by:")), lines[0] if lines else "")


def child_session(args: argparse.Namespace, marks: dict, rep: dict) -> dict:
    """The session start alone, as a user gets it (the UI off, ``spark_session``'s defaults)."""
    import pyarrow  # noqa: F401

    import forensics.spark.engine  # noqa: F401
    from forensics.spark import spark_session

    conf = {"spark.driver.memory": args.driver_memory, **DEFAULT_CONF}
    conf.update(tuple(c.split("=", 1)) for c in args.conf)
    conf.pop("spark.ui.enabled", None)
    marks["imports"] = time.time()
    spark = spark_session(args.master, conf=list(conf.items()))
    marks["session"] = time.time()
    spark.range(1).count()  # the first job (the executor's first task)
    marks["first_job"] = time.time()
    spark.stop()
    marks["stop"] = time.time()
    return rep


def child(args: argparse.Namespace) -> int:
    marks: dict[str, float] = {}
    rep: dict = {"marks": marks}
    try:
        {"local": child_local, "spark": child_spark, "session": child_session}[args.child](args, marks, rep)
    except BaseException as exc:  # noqa: BLE001 - reported by the parent
        rep["error"] = f"{type(exc).__name__}: {_cause(exc)}"[:600]
        Path(args.out).write_text(json.dumps(rep))
        raise
    rep["driver_maxrss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    Path(args.out).write_text(json.dumps(rep))
    return 0


# ------------------------------------------------------------------ report


def _gib(n: float) -> str:
    return f"{n / GiB:.2f} GiB"


def _mb(n: float | None) -> str:
    return "?" if n is None else f"{n / 1e6:,.0f} MB"


#: The steps of each child, by the mark that ends them: (label, mark before, mark).
LOCAL_STEPS = (("Python start + imports", None, "imports"), ("ingest", "imports", "ingest"),
               ("timeline", "ingest", "timeline"), ("mining", "timeline", "mining"), ("to_json", "mining", "json"))
SPARK_STEPS = (("Python start + imports", None, "imports"),
               ("session start (spark_session)", "imports", "session"),
               ("spark_ingest: listing + plan (driver)", "session", "plan"),
               ("spark_ingest: Spark jobs + collect (toArrow)", "plan", "collect"),
               ("spark_ingest: assembly (driver)", "collect", "assemble"),
               ("timeline (driver)", "assemble", "timeline"),
               ("mining (driver)", "timeline", "mining"),
               ("to_json", "mining", "json"),
               ("reading the REST API (bench only)", "json", "metrics"),
               ("spark.stop() and exit", "metrics", "stop"))


def report(args: argparse.Namespace, local: list[dict], spark: list[dict], session: list[dict]) -> None:
    med = lambda xs: statistics.median(xs) if xs else float("nan")  # noqa: E731

    def step(reps: list[dict], a: str | None, b: str) -> float:
        return med([r["marks"][b] - (r["marks"][a] if a else r["popen"]) for r in reps
                    if b in r["marks"] and (a is None or a in r["marks"])])

    lw, sw = med([r["wall"] for r in local]), med([r["wall"] for r in spark])
    lt, st = max(r["tree_peak"] for r in local), max(r["tree_peak"] for r in spark)
    ld, sd = max(r["driver_maxrss"] for r in local), max(r["driver_maxrss"] for r in spark)
    s0, sm = spark[0], spark[0]["spark"]
    role = lambda k: max(r["roles"].get(k, 0) for r in spark)  # noqa: E731
    labels = {b: name for name, _, b in SPARK_STEPS}
    print(f"{'engine':34s} {'wall s':>8s} {'peak tree RSS':>14s} {'driver RSS':>11s}")
    print(f"{'local (ingest+timeline+mining)':34s} {lw:8.1f} {_gib(lt):>14s} {_gib(ld):>11s}")
    print(f"{'Spark ' + args.master:34s} {sw:8.1f} {_gib(st):>14s} {_gib(sd):>11s}")
    print(f"{'ratio Spark/local':34s} {sw / lw:7.2f}x {st / lt:13.2f}x {sd / ld:10.2f}x")
    print(f"Spark tree peak during: {labels.get(s0['peak_phase'], s0['peak_phase'])}.  Peaks by process: "
          f"driver {_gib(sd)}; JVM {_gib(role('jvm'))} (heap used at most "
          f"{_gib(sm['jvm_heap_peak']) if sm['jvm_heap_peak'] else '? (not reported yet)'}, "
          f"{s0['xmx']}); Python workers {_gib(role('workers_sum'))} together, {_gib(role('workers'))} the largest "
          f"({s0['roles'].get('workers_count', 0)} processes: the daemon and its forks)")
    print(f"Spark settings: {s0['conf']} (read back: spark.driver.memory={s0['conf_driver_memory']}); "
          f"defaultParallelism {s0['parallelism']}")

    print("\nlocal engine, per step (median s; in the first run: CPU s, tree peak):")
    for name, a, b in LOCAL_STEPS:
        peak = local[0]["phase_peak"].get(b, 0)
        cpu = local[0]["phase_cpu"].get(b, {}).get("driver", 0)
        print(f"  {name:44s} {step(local, a, b):7.1f}   cpu {cpu:5.1f}   peak {_gib(peak) if peak else '-'}")
    print("\nSpark engine, per step (median s; in the first run: CPU s of driver / JVM / workers, tree peak):")
    for name, a, b in SPARK_STEPS:
        cpu = s0["phase_cpu"].get(b, {})
        peak = s0["phase_peak"].get(b, 0)
        print(f"  {name:44s} {step(spark, a, b):7.1f}   cpu {cpu.get('driver', 0):5.1f} / {cpu.get('jvm', 0):5.1f} / "
              f"{cpu.get('workers', 0):5.1f}   peak {_gib(peak) if peak else '-'}")
    print(f"  {'= spark_ingest (Spark part)':44s} {step(spark, 'session', 'ingest'):7.1f}")
    print(f"  {'= timeline + mining on the driver':44s} {step(spark, 'ingest', 'mining'):7.1f}")
    print(f"  {'= total (subprocess wall)':44s} {sw:7.1f}   "
          f"(without the bench's REST reading: {sw - step(spark, 'json', 'metrics'):.1f})")
    print(f"  (the `java -version` check inside spark_session: {s0['java_check_s']:.2f} s)")
    asm = s0.get("assembly", {})
    print("  assembly, first run: " + ", ".join(f"{k} {v:.1f} s" for k, v in asm.items())
          + f", the rest (sorts, casts, concat) {step(spark[:1], 'collect', 'assemble') - sum(asm.values()):.1f} s")
    for name, reps in (("local", local), ("Spark", spark)):
        f = reps[0]["frame"]
        print(f"  events handed to the timeline ({name}): {f['event_chunks']} chunks at most per column, "
              f"{_gib(f['event_bytes'])} estimated")
    print(f"session alone (UI off, fresh process; median s): imports {step(session, None, 'imports'):.1f}, "
          f"spark_session {step(session, 'imports', 'session'):.1f}, first job (spark.range(1).count()) "
          f"{step(session, 'session', 'first_job'):.1f}, stop {step(session, 'first_job', 'stop'):.1f}, "
          f"process {med([r['wall'] for r in session]):.1f}; tree peak {_gib(max(r['tree_peak'] for r in session))}; "
          f"CPU s {', '.join(f'{k} {v:.1f}' for k, v in sorted(session[0]['cpu'].items()))}, "
          f"other processes meanwhile {session[0]['other_cpu']:.1f}")

    print("\nSpark jobs (first run):")
    jobs = [j for j in sm["jobs"] if j["start"] and j["end"]]
    for j in jobs:
        print(f"  job {j['id']} (stages {j['stages']}): {j['end'] - j['start']:.1f} s")
    if jobs:
        print(f"  toArrow: {jobs[0]['start'] - s0['marks']['plan']:.1f} s before the first job; "
              f"{s0['marks']['collect'] - jobs[-1]['end']:.1f} s after the last one (rows to the Python driver)")
    for s in sm["stages"]:
        print(f"  stage {s['stageId']}: {s['numTasks']} tasks, {(s['end'] or 0) - (s['start'] or 0):.1f} s wall, "
              f"task time {s['executorRunTime'] / 1e3:.1f} s (JVM CPU {s['executorCpuTime'] / 1e9:.1f} s, "
              f"GC {s['jvmGcTime'] / 1e3:.1f} s), shuffle write {_mb(s['shuffleWriteBytes'])} "
              f"({s['shuffleWriteTime'] / 1e9:.1f} s), shuffle read {_mb(s['shuffleReadBytes'])} "
              f"(wait {s['shuffleFetchWaitTime'] / 1e3:.1f} s), results {_mb(s['resultSize'])}, "
              f"spilled {_mb(s['diskBytesSpilled'])}")
    for name in ("split", "parse"):
        n = sm["nodes"].get(name, {})
        sec = lambda k: n.get(f"time to {k}") or 0.0  # noqa: E731
        print(f"  {name} (mapInArrow), summed over tasks: Python workers start {sec('start Python workers'):.1f} s, "
              f"initialize {sec('initialize Python workers'):.1f} s, run {sec('run Python workers'):.1f} s "
              f"(Python code {sec('execute Python code'):.1f} s); sent to them "
              f"{_mb(n.get('data sent to Python workers'))}, "
              f"returned {_mb(n.get('data returned from Python workers'))}")

    ev = s0["events"]
    ex = sm["nodes"].get("Exchange", {})
    default = "over" if sm["result_bytes"] > GiB else "under"
    print(f"\nbytes moved ({ev:,} events): shuffle write {_mb(sm['shuffle_write_bytes'])} "
          f"({sm['shuffle_write_bytes'] / ev:.0f} B/event; {_mb(ex.get('data size'))} before compression); "
          f"collected Arrow table {_mb(s0['arrow_bytes'])} ({s0['arrow_bytes'] / ev:.0f} B/event, "
          f"{s0['arrow_rows']:,} rows); serialized task results {_mb(sm['result_bytes'])} "
          f"({default} the 1 GiB default spark.driver.maxResultSize)")
    for name, reps in (("local", local), ("Spark", spark)):
        cpu = reps[0]["cpu"]
        print(f"CPU s, {name} run: " + ", ".join(f"{k} {v:.1f}" for k, v in sorted(cpu.items()))
              + f"; other processes on the machine meanwhile {reps[0]['other_cpu']:.1f}")
    same = all(r["doc"] == local[0]["doc"] for r in local + spark)
    diff = [k for k in local[0]["doc"] if any(r["doc"].get(k) != local[0]["doc"][k] for r in spark)]
    print(f"--json of the two engines: {'identical' if same else 'DIFFERENT in ' + ', '.join(diff)}; "
          f"{local[0]['events']:,} events, {len(local[0]['doc']['bursts'])} bursts, "
          f"{len(local[0]['doc']['suspects'])} suspects")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder or file to scan (default: %(default)s)")
    ap.add_argument("--runs", type=int, default=1, help="runs of each engine (medians; default 1)")
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--driver-memory", default="8g", help="spark.driver.memory (the JVM's -Xmx in local mode)")
    ap.add_argument("--partitions", type=int, default=None, help="SparkPlan.partitions (default: the engine's)")
    ap.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE", help="more Spark settings")
    ap.add_argument("--interval", type=float, default=0.2, help="seconds between memory samples")
    ap.add_argument("--child", choices=("local", "spark", "session"), help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return child(args)
    if not args.data.exists():
        raise SystemExit(f"{args.data} does not exist (python bench/bench_scan.py generates the default data)")
    files = [p for p in ([args.data] if args.data.is_file() else sorted(args.data.rglob("*"))) if p.is_file()]
    size = sum(p.stat().st_size for p in files) / 1e6
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GiB
    print(f"{datetime.now():%Y-%m-%d %H:%M}; machine: {os.cpu_count()} cores, {mem:.0f} GiB, load "
          f"{os.getloadavg()[0]:.1f}; {args.data}: {len(files)} files, {size:,.0f} MB on disk; "
          f"median of {args.runs}")
    local, spark, session = [], [], []
    for _ in range(args.runs):
        for engine, reps in (("session", session), ("local", local), ("spark", spark)):
            rep = run_child(args, engine)
            if "error" in rep:
                print(f"{engine}: FAILED after {rep['wall']:.0f} s (tree peak {_gib(rep['tree_peak'])}, "
                      f"steps done: {', '.join(rep.get('marks', {}))}): {rep['error']}")
                return 1
            reps.append(rep)
    print(f"load at the end {os.getloadavg()[0]:.1f}\n")
    report(args, local, spark, session)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
