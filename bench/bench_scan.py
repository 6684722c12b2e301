"""End-to-end benchmark: `forensics scan` on simulated JSON-lines logs against a
bare `polars.read_ndjson` of the same files, with peak memory.

Usage::

    python bench/bench_scan.py [--users 100000] [--days 4] [--runs 3]

Generates (once, under bench/data/) the e-learning outage with ``--format app``
(JSON lines only; the earlier days are gzip-rotated), and a plain copy for the
baseline: decompressed, and without the few malformed lines the simulator
injects (a bare ``read_ndjson`` stops at the first one; the scan reads the
original files, bad lines included).  Then, each in a fresh subprocess so max
RSS is per run:

* baseline: ``polars.read_ndjson`` of every plain JSON-lines file (must exit 0);
* cold: ``forensics scan DIR --json -q --no-cache`` (ingest, timeline, mining);
* first and second run with a fresh ``--cache-dir`` (the warm cache).

Prints the medians, the ratio cold/baseline (target <= 2.5x), the peak RSS of
the scan (target <= 3 GB) and first/second run with the cache (target >= 5x).
``--users 100000 --days 4`` gives about 4.7M events (~1.2 GB of JSON lines).
"""

from __future__ import annotations

import argparse
import gzip
import os
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
n = 0
for p in sys.argv[1:]:
    n += pl.read_ndjson(p).height
print(n)
"""


def _timed(cmd: list[str], ok: tuple[int, ...] = (0,)) -> tuple[float, float]:
    """Wall seconds and max RSS in MiB, measured with wait4."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    code = os.waitstatus_to_exitcode(status)
    if code not in ok:
        err = proc.stderr.read().decode(errors="replace").strip().splitlines()[-1:] if proc.stderr else []
        raise SystemExit(f"{' '.join(cmd[:4])} ... failed with exit code {code}: {err}")
    return wall, usage.ru_maxrss / 1024


def _plain_copy(folder: Path, plain: Path) -> int:
    """Decompressed copies without the lines a bare read_ndjson cannot take;
    returns how many lines were left out."""
    import json

    plain.mkdir(parents=True)
    dropped = 0
    for p in sorted(folder.rglob("*.jsonl*")):
        target = plain / (p.name.removesuffix(".gz") if p.suffix == ".gz" else p.name)
        with (gzip.open(p, "rb") if p.suffix == ".gz" else open(p, "rb")) as src, open(target, "wb") as dst:
            for line in src:
                try:
                    ok = isinstance(json.loads(line), dict)
                except ValueError:
                    ok = False
                if ok:
                    dst.write(line)
                else:
                    dropped += 1
    return dropped


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--days", type=int, default=4)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args(argv)
    folder = DATA / f"scan_app_{args.users}_d{args.days}"
    if not folder.exists():
        subprocess.run([sys.executable, "-m", "forensics", "simulate", str(folder), "--users", str(args.users),
                        "--days", str(args.days), "--format", "app"], check=True)
    plain = DATA / f"scan_app_{args.users}_d{args.days}_clean"
    if not plain.exists():
        print(f"plain copy for the baseline: {_plain_copy(folder, plain)} malformed lines left out")
    files = [str(p) for p in sorted(plain.iterdir())]
    size = sum(os.path.getsize(f) for f in files) / 1e6
    base_cmd = [sys.executable, "-c", BASELINE, *files]
    scan = [sys.executable, "-m", "forensics", "scan", str(folder), "--json", "-q"]
    base = [_timed(base_cmd) for _ in range(args.runs)]
    cold = [_timed([*scan, "--no-cache"], ok=(0, 1)) for _ in range(args.runs)]
    first, second = [], []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(dir=DATA) as cache:
            first.append(_timed([*scan, "--cache-dir", cache], ok=(0, 1)))
            second.append(_timed([*scan, "--cache-dir", cache], ok=(0, 1)))
    med = lambda xs: statistics.median(t for t, _ in xs)  # noqa: E731
    tb, tc, t1, t2 = med(base), med(cold), med(first), med(second)
    rss = max(m for _, m in cold + first + second)
    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; {size:.0f} MB of JSON lines "
          f"({len(files)} files); median of {args.runs}")
    print(f"baseline read_ndjson     {tb:7.2f} s  (max RSS {max(m for _, m in base):,.0f} MiB)")
    print(f"forensics scan, cold     {tc:7.2f} s  (max RSS {max(m for _, m in cold):,.0f} MiB)")
    print(f"  first run with cache   {t1:7.2f} s  (max RSS {max(m for _, m in first):,.0f} MiB)")
    print(f"  second run (warm)      {t2:7.2f} s  (max RSS {max(m for _, m in second):,.0f} MiB)")
    print(f"ratio cold/baseline {tc / tb:.2f}x (target <= 2.5x); peak RSS {rss / 1024:.2f} GiB (target <= 3 GiB); "
          f"first/warm {t1 / t2:.1f}x (target >= 5x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
