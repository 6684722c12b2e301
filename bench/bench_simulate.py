"""Simulator benchmark: events written per second by ``forensics simulate``.

Usage::

    python bench/bench_simulate.py [--scenario elearning] [--users 200000] [--days 1] [--story drawn] [--runs 3] [--keep]

Runs :func:`forensics.simulate.simulate_scenario` into ``bench/out/simulate`` (ignored
by git; removed afterwards unless ``--keep``) and prints, per run and as the
median, the events and physical lines written, the wall time, events/s, the
bytes on disk and the peak resident memory.  Target: >= 200k events/s.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import sys
from pathlib import Path

from forensics.simulate import SCENARIOS, STORIES, simulate_scenario

HERE = Path(__file__).resolve().parent
OUT = HERE / "out" / "simulate"
TARGET = 200_000


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", choices=list(SCENARIOS), default="elearning")
    ap.add_argument("--story", choices=list(STORIES), default=None, help="default: fixed for seed 7, drawn otherwise")
    ap.add_argument("--users", type=int, default=200_000)
    ap.add_argument("--days", type=int, default=1)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--keep", action="store_true", help="keep the last run's output")
    args = ap.parse_args(argv)
    rates = []
    for run in range(args.runs):
        shutil.rmtree(OUT, ignore_errors=True)
        result = simulate_scenario(args.scenario, OUT, seed=args.seed, users=args.users, days=args.days, story=args.story)
        size = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
        rate = result.events / result.seconds
        rates.append(rate)
        print(f"run {run + 1}: {result.events:,} events, {result.lines:,} lines, {size / 1e6:,.0f} MB "
              f"in {result.seconds:.1f} s = {rate:,.0f} events/s")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    med = statistics.median(rates)
    print(f"median: {med:,.0f} events/s (target {TARGET:,}); peak RSS {peak_mb:,.0f} MB; "
          f"scenario={args.scenario} users={args.users} days={args.days}")
    if not args.keep:
        shutil.rmtree(OUT, ignore_errors=True)
    return 0 if med >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
