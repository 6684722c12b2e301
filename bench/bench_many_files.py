"""Many-small-files benchmark: ``ingest`` over a folder of N tiny logs.

Usage::

    python bench/bench_many_files.py [--files 100000] [--lines 5] [--no-batch]

Generates (once, under bench/data/many_<N>/) N files of ``--lines`` lines each,
spread over 100 sub-folders and four formats (JSON lines, access log,
timestamped text, logfmt), then times one ``forensics.ingest.ingest`` call and
prints the time per file and the most file descriptors open at once (read
from /proc/self/fd at every progress callback).  ``--no-batch`` parses each
file on its own (the path taken by files above ``SMALL_FILE`` bytes), for
comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"


def _line(kind: int, i: int, j: int) -> str:
    mm, ss = (i // 60) % 60, (i + j) % 60
    if kind == 0:
        return json.dumps({"ts": f"2023-11-02T16:{mm:02d}:{ss:02d}Z", "user": f"u{i % 997}", "action": "open_course",
                           "level": "info", "n": i * 10 + j})
    if kind == 1:
        return (f'10.0.{i % 250}.{j} - u{i % 997} [02/Nov/2023:16:{mm:02d}:{ss:02d} +0000] '
                f'"GET /courses/{i}/{j} HTTP/1.1" 200 {100 + j} "-" "curl/8"')
    if kind == 2:
        return f"2023-11-02 16:{mm:02d}:{ss:02d},{j:03d} INFO app: user=u{i % 997} action=open_course n={i * 10 + j}"
    return f'ts=2023-11-02T16:{mm:02d}:{ss:02d}Z level=info user=u{i % 997} action=open_course n={i * 10 + j} msg="ok"'


def generate(n: int, lines: int) -> Path:
    root = DATA / f"many_{n}_{lines}"
    done = root / ".complete"
    if done.exists():
        return root
    for i in range(n):
        kind = i % 4
        sub = root / f"host{i % 100:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        ext = ("jsonl", "access.log", "app.log", "logfmt.log")[kind]
        (sub / f"f{i:06d}.{ext}").write_text("".join(_line(kind, i, j) + "\n" for j in range(lines)))
    done.write_text("ok\n")
    return root


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=100_000)
    ap.add_argument("--lines", type=int, default=5)
    ap.add_argument("--no-batch", action="store_true", help="Parse every file on its own.")
    args = ap.parse_args()
    t0 = time.perf_counter()
    root = generate(args.files, args.lines)
    print(f"data: {root} ({time.perf_counter() - t0:.1f} s to generate or find)")

    import forensics.ingest as ingest_mod

    if args.no_batch:
        ingest_mod.SMALL_FILE = -1
    peak = {"fds": 0, "calls": 0}

    def progress(stage: str, done: int, total: int) -> None:
        # progress comes in bytes now (one call per file or chunk): sample every 97th call
        peak["calls"] += 1
        if peak["calls"] % 97 == 0:
            peak["fds"] = max(peak["fds"], len(os.listdir("/proc/self/fd")))

    base_fds = len(os.listdir("/proc/self/fd"))
    t0 = time.perf_counter()
    res = ingest_mod.ingest([root], progress=progress)
    dt = time.perf_counter() - t0
    doc = res.accounting.to_json()
    print(f"files={doc['files']} lines={doc['lines']} events={doc['events']} errors={len(doc['errors'])}")
    print(f"ingest: {dt:.1f} s, {dt / args.files * 1000:.2f} ms per file; "
          f"open fds: {base_fds} before, at most {peak['fds']} during")


if __name__ == "__main__":
    main()
