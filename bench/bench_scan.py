"""End-to-end benchmark: `forensics scan` on simulated JSON-lines logs against a
bare `polars.read_ndjson` of the same files, with peak memory.

Usage::

    python bench/bench_scan.py [--users 100000] [--runs 3]

Generates (once, under bench/data/) the e-learning outage with ``--format app``
(JSON lines only; the morning part is gzip-rotated and is decompressed once for
the baseline), then, each in a fresh subprocess so max RSS is per run:

* baseline: ``polars.read_ndjson`` of every JSON-lines file;
* ``forensics scan DIR --json -q`` (ingest, timeline, mining).

Prints the medians, the ratio (target <= 2.5x) and the peak RSS of the scan
(target <= 3 GB).  ``--users 100000`` gives about 5M events (~1 GB).
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"

BASELINE = """
import sys, polars as pl
n = 0
for p in sys.argv[1:]:
    n += pl.read_ndjson(p).height
print(n)
"""


def _timed(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and max RSS in MiB, measured with wait4."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        raise SystemExit(f"{' '.join(cmd[:4])} ... failed with exit code {code}")
    return wall, usage.ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args(argv)
    folder = DATA / f"scan_app_{args.users}"
    if not folder.exists():
        subprocess.run([sys.executable, "-m", "forensics", "simulate", str(folder), "--users", str(args.users),
                        "--format", "app"], check=True)
    plain = DATA / f"scan_app_{args.users}_plain"
    if not plain.exists():
        plain.mkdir(parents=True)
        for p in sorted(folder.rglob("*.jsonl*")):
            target = plain / (p.name.removesuffix(".gz") if p.suffix == ".gz" else p.name)
            with (gzip.open(p, "rb") if p.suffix == ".gz" else open(p, "rb")) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
    files = [str(p) for p in sorted(plain.iterdir())]
    size = sum(os.path.getsize(f) for f in files) / 1e6
    base_cmd = [sys.executable, "-c", BASELINE, *files]
    scan_cmd = [sys.executable, "-m", "forensics", "scan", str(folder), "--json", "-q"]
    base = [_timed(base_cmd) for _ in range(args.runs)]
    scan = [_timed(scan_cmd) for _ in range(args.runs)]
    tb = statistics.median(t for t, _ in base)
    ts = statistics.median(t for t, _ in scan)
    rss = max(m for _, m in scan)
    print(f"machine: {os.cpu_count()} cores; {size:.0f} MB of JSON lines ({len(files)} files)")
    print(f"baseline read_ndjson  {tb:7.2f} s  (max RSS {max(m for _, m in base):,.0f} MiB)")
    print(f"forensics scan        {ts:7.2f} s  (max RSS {rss:,.0f} MiB)")
    print(f"ratio {ts / tb:.2f}x (target <= 2.5x); peak RSS {rss / 1024:.2f} GiB (target <= 3 GiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
