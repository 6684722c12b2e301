"""Watch benchmark: a simulated day at 10x the sample's traffic, replayed
through the follower and the watch as fast as they keep up.

Usage::

    python bench/bench_watch.py [--users 7000] [--step 5] [--window 6h] [--start 15:00 --until 17:30]

Generates once, under ``bench/data/watch_<users>/``, the e-learning outage
day (``forensics simulate --users N``; 700 users is the sample's size, so
7000 is 10x).  Then, in a fresh subprocess (so that peak RSS is its own),
replays the day from ``--start`` to ``--until`` (the lines before ``--start``
written at once: the window's baseline) with
:class:`forensics.simulate.live.Replay`, the replay clock advancing
``--step`` seconds at a time, each step followed by a
poll of :class:`forensics.watch.follow.Follower` and a step of
:class:`forensics.watch.engine.Watch` (window evaluated as ``forensics
watch`` evaluates it).  Prints, separately, the time spent writing the
replayed lines, following them, and parsing and judging them; the events
the watch handled per second of its own time; how many times faster than
real time the day went through; the longest single evaluation; and the
peak RSS.  The alerts raised are listed, so a run also shows the onsets
found at 10x.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"


def _child(args) -> None:
    from forensics.simulate.live import Replay
    from forensics.watch.engine import Watch, WatchOptions
    from forensics.watch.follow import Follower
    from forensics.durations import parse_duration

    from forensics.simulate.live import resolve_time

    out = Path(tempfile.mkdtemp(prefix="bench_watch_"))
    probe = Replay(args.source, Path(tempfile.mkdtemp(prefix="bench_watch_probe_")))
    start = resolve_time(args.start, first=probe.start, last=probe.end) if args.start else probe.start
    until = resolve_time(args.until, first=probe.start, last=probe.end) if args.until else probe.end
    replay = Replay(args.source, out, start=start)
    follower = Follower([out], from_start=True)
    watch = Watch(options=WatchOptions(window_s=parse_duration(args.window)))
    t, step = replay.start, timedelta(seconds=args.step)
    spent = {"write": 0.0, "follow": 0.0, "watch": 0.0}
    longest, alerts = 0.0, []
    first = True
    while not replay.done() and t <= until:
        a = time.perf_counter()
        replay.advance_to(t)
        b = time.perf_counter()
        batches = follower.poll()
        c = time.perf_counter()
        alerts += watch.step(batches, now=t)
        d = time.perf_counter()
        if first:  # the prefilled baseline, read at once: reported apart
            spent["prefill"], first = d - a, False
            prefill_events = watch.counts.events
        else:
            spent["write"] += b - a
            spent["follow"] += c - b
            spent["watch"] += d - c
            longest = max(longest, d - c)
        t += step
    span = (min(until, replay.end) - start).total_seconds()
    json.dump({"span_s": span, "events_prefill": prefill_events, "spent": spent, "longest_step_s": longest, "counts": vars(watch.counts),
               "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
               "alerts": [(a.kind, a.at.isoformat(), round(a.to_json()["delay_s"], 1)) for a in alerts]},
              open(args.out, "w"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--users", type=int, default=7000)
    ap.add_argument("--step", type=float, default=5.0, help="seconds of replay clock per step")
    ap.add_argument("--window", default="6h")
    ap.add_argument("--start", default="15:00", help="replay from this time (HH:MM; before it: prefilled)")
    ap.add_argument("--until", default="17:30", help="replay until this time (HH:MM)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--source", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(args)
        return
    source = DATA / f"watch_{args.users}"
    if not source.exists():
        from forensics.simulate import simulate_scenario

        simulate_scenario("elearning", source, seed=1, users=args.users)
    out = Path(tempfile.mkdtemp()) / "report.json"
    subprocess.run([sys.executable, __file__, "--child", "--source", str(source), "--out", str(out),
                    "--step", str(args.step), "--window", args.window, "--start", args.start,
                    "--until", args.until], check=True)
    r = json.loads(out.read_text())
    c, s = r["counts"], r["spent"]
    live = c["events"] - r["events_prefill"]
    print(f"replayed {args.start}-{args.until} ({r['span_s'] / 3600:.1f} h, {args.users} users): {live:,} events "
          f"live after {r['events_prefill']:,} prefilled ({s['prefill']:.1f} s to read and judge); "
          f"step {args.step:g} s, window {args.window}")
    print(f"time: write {s['write']:.1f} s, follow {s['follow']:.1f} s, parse + judge {s['watch']:.1f} s "
          f"({c['evaluations']:,} evaluations, longest step {r['longest_step_s']:.2f} s)")
    own = s["follow"] + s["watch"]
    print(f"throughput: {live / own:,.0f} events/s of the watch's own time (follow + parse + judge); "
          f"{r['span_s'] / own:,.1f}x faster than real time; mean evaluation "
          f"{s['watch'] / max(c['evaluations'] - 1, 1):.2f} s")
    print(f"peak RSS: {r['peak_rss_mb']:,.0f} MB")
    for kind, at, delay in r["alerts"]:
        print(f"  {kind:8} at {at[11:19]}  raised {delay:+.1f} s")


if __name__ == "__main__":
    main()
