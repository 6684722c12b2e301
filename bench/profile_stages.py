"""Peak memory and start time of each stage of one scan (no target: a profile).

Usage::

    python bench/profile_stages.py DIR

Runs ``run_scan`` over ``DIR`` (no cache) in this process, samples RSS every
50 ms in a thread and labels the samples with the stage running: the scan's
progress stages, the timeline's steps and the miner's strategy steps (each
wrapped for the run).  Prints each stage as it starts (stderr, with the RSS
then), and at the end, per stage in order, its peak RSS and when it started.
The RSS of a stage includes what earlier stages still hold.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time

import forensics.mining.onsets as onsets
import forensics.timeline as timeline
from forensics.ingest import IngestOptions
from forensics.scan import ScanSettings, run_scan

TIMELINE_STEPS = ("free_text_events", "mark_errors", "link_requests", "assign_sessions", "with_exposure",
                  "detect_bursts", "session_index", "build_actions", "build_sessions")
MINING_STEPS = ("prepare", "candidates", "evidence", "rank", "describe")


def _rss_gb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1e6
    return 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("path")
    args = ap.parse_args()
    stage, peaks, order, t0 = ["start"], {}, [], time.perf_counter()

    def enter(name: str) -> None:
        if name != stage[0]:  # printed as it happens: a run killed for memory still shows where
            print(f"  {time.perf_counter() - t0:7.1f} s  {_rss_gb():6.2f} GB  -> {name}", file=sys.stderr, flush=True)
        stage[0] = name

    def sample() -> None:
        while True:
            rss, name = _rss_gb(), stage[0]
            if name not in peaks:
                peaks[name] = [rss, time.perf_counter() - t0]
                order.append(name)
            peaks[name][0] = max(peaks[name][0], rss)
            time.sleep(0.05)

    def labelled(owner, attr: str, label: str) -> None:
        inner = getattr(owner, attr)

        def run(*a, **k):
            enter(label)
            return inner(*a, **k)

        setattr(owner, attr, run)

    for step in TIMELINE_STEPS:
        labelled(timeline, step, f"timeline.{step}")
    for step in MINING_STEPS:
        labelled(onsets.OnsetStrategy, step, f"mining.{step}")
    threading.Thread(target=sample, daemon=True).start()
    run_scan([args.path], settings=ScanSettings(ingest=IngestOptions(cache_dir=None)),
             progress=lambda name, done, total: enter(name))
    enter("end")
    time.sleep(0.2)
    for name in order:
        print(f"{name:32s} peak {peaks[name][0]:.2f} GB, from t={peaks[name][1]:.1f} s")


if __name__ == "__main__":
    main()
