"""Scale benchmark: tens of millions of gzip-compressed JSON-lines events
through ``forensics scan``, against a Polars streaming baseline of the same
files.

Usage::

    python bench/bench_scale.py --users 210000 --days 4 --one-gzip   # ~10M events in one gzip file
    python bench/bench_scale.py [--users 200000] [--days 21]         # ~50M events, gzip-rotated
    ... [--memory 2G] [--warm] [--runs N]

Generates once, under bench/data/, the e-learning outage with ``--format app``
over ``--days`` days (the simulator writes all days but the last into
``app.jsonl.1.gz`` and the last into ``app.jsonl``; with ``--one-gzip`` both
are joined into one ``app.jsonl.gz``), and a gzip copy without the few
malformed lines the simulator injects (Polars' reader stops at the first one).

Then, each in a fresh subprocess so that max RSS (wait4) is per run:

* baseline: ``pl.scan_ndjson(files).group_by("session_id").agg(len, min ts)
  .sink_parquet(...)``, Polars' streaming engine over the clean copy;
* ``forensics scan DIR --json -q --no-cache`` (with ``--memory`` passed on
  when given), and with ``--warm`` a first and a second run over a fresh
  ``--cache-dir``.

Prints wall time, peak RSS and the ratio scan/baseline (issue 15's targets:
10M in one gzip <= 4x and <= 4 GB; 50M <= 4x and <= 8 GB).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"

BASELINE = """
import sys, polars as pl
lf = pl.scan_ndjson(sys.argv[2:])
lf.group_by("session_id").agg(pl.len(), pl.col("timestamp").min()).sink_parquet(sys.argv[1])
"""


def timed(cmd: list[str]) -> tuple[float, float, int, bytes]:
    """Wall seconds, max RSS in MiB, exit code, and stdout (stderr on failure)."""
    t = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t
        code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return wall, usage.ru_maxrss / 1024, code, out.read() if code in (0, 1) else err.read()


def _gzip_writer(path: Path):
    try:
        from isal import igzip

        return igzip.open(path, "wb", compresslevel=1)
    except ImportError:  # pragma: no cover - isal is a dependency
        import gzip

        return gzip.open(path, "wb", compresslevel=1)


def _open(path: Path):
    import gzip

    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def generate(users: int, days: int, one_gzip: bool) -> Path:
    """The simulated folder (written once)."""
    folder = DATA / f"scale_app_{users}_d{days}{'_onegz' if one_gzip else ''}"
    if folder.exists():
        return folder
    raw = folder.with_name(folder.name + "_tmp")
    shutil.rmtree(raw, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "forensics", "simulate", str(raw), "--users", str(users),
                    "--days", str(days), "--format", "app"], check=True)
    if one_gzip:
        files = sorted(raw.rglob("*.jsonl*"), key=lambda p: (p.suffix != ".gz", p.name))  # older days first
        (raw / "joined").mkdir()
        with _gzip_writer(raw / "joined" / "app.jsonl.gz") as dst:
            for p in files:
                with _open(p) as src:
                    shutil.copyfileobj(src, dst, 1 << 24)
                p.unlink()
    raw.rename(folder)
    return folder


def clean_copy(folder: Path) -> list[Path]:
    """Gzip copies of the JSON-lines files without the lines a bare Polars
    read cannot take (written once)."""
    clean = folder.with_name(folder.name + "_clean")
    if not clean.exists():
        tmp = clean.with_name(clean.name + "_tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        dropped = 0
        for i, p in enumerate(sorted(folder.rglob("*.jsonl*"))):
            with _open(p) as src, _gzip_writer(tmp / f"part{i}.jsonl.gz") as dst:
                for line in src:
                    try:
                        ok = isinstance(json.loads(line), dict)
                    except ValueError:
                        ok = False
                    if ok:
                        dst.write(line)
                    else:
                        dropped += 1
        tmp.rename(clean)
        print(f"clean copy for the baseline: {dropped} malformed lines left out")
    return sorted(clean.iterdir())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=200_000)
    ap.add_argument("--days", type=int, default=21)
    ap.add_argument("--one-gzip", action="store_true", help="all days in one gzip file")
    ap.add_argument("--memory", default=None, help="passed on to `forensics scan --memory`")
    ap.add_argument("--runs", type=int, default=1, help="runs of each command (medians)")
    ap.add_argument("--warm", action="store_true", help="also time a first and second run over a fresh cache")
    args = ap.parse_args(argv)
    folder = generate(args.users, args.days, args.one_gzip)
    clean = clean_copy(folder)
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "truth.json")
    size = sum(p.stat().st_size for p in files) / 1e9
    print(f"machine: {os.cpu_count()} cores, {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB;"
          f" {len(files)} files, {size:.2f} GB on disk; median of {args.runs}")
    with tempfile.TemporaryDirectory(dir=DATA) as tmp:
        base_cmd = [sys.executable, "-c", BASELINE, str(Path(tmp) / "groups.parquet"), *map(str, clean)]
        scan = [sys.executable, "-m", "forensics", "scan", str(folder), "--json", "-q"]
        if args.memory:
            scan += ["--memory", args.memory]
        runs = {"baseline (Polars streaming group_by)": [timed(base_cmd) for _ in range(args.runs)],
                "forensics scan, cold": [timed([*scan, "--no-cache"]) for _ in range(args.runs)]}
        if args.warm:
            cache = str(Path(tmp) / "cache")
            runs["  first run with cache"] = [timed([*scan, "--cache-dir", cache])]
            runs["  second run (warm)"] = [timed([*scan, "--cache-dir", cache])]
    walls = {}
    for name, rs in runs.items():
        bad = [r for r in rs if r[2] not in (0, 1)]
        if bad:
            wall, rss, code, err = bad[0]
            print(f"{name}: FAILED with exit code {code} after {wall:.0f} s, peak RSS {rss / 1024:.1f} GiB: "
                  f"{err.decode(errors='replace').strip().splitlines()[-1:]}")
            continue
        walls[name] = statistics.median(r[0] for r in rs)
        extra = ""
        if "scan" in name or "run" in name:
            doc = json.loads(rs[0][3])
            extra = f", {doc['ingest']['events']:,} events, {len(doc['bursts'])} bursts, {len(doc['suspects'])} suspects"
        print(f"{name:40s} {walls[name]:7.1f} s, peak RSS {max(r[1] for r in rs) / 1024:.2f} GiB{extra}")
    base, cold = walls.get("baseline (Polars streaming group_by)"), walls.get("forensics scan, cold")
    if base and cold:
        print(f"ratio cold scan / baseline: {cold / base:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
