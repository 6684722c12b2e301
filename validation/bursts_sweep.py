"""Burst detection against the simulator's truth at several traffic levels.

Runs ``forensics simulate`` (both scenarios) at multiples of the default
number of users and several seeds, runs only the timeline stage (ingest +
:func:`forensics.timeline.build_timeline`) and prints, per run: true bursts
and onsets, the bursts expected (true bursts chained by ``reonset_gap_s``), bursts found, the onset error in seconds of each true onset
(nearest detected onset; ``miss`` beyond 120 s), noise bursts (detected
bursts matching no true burst) and extra onsets, and the time taken.

Usage::

    PYTHONPATH=$PWD python validation/bursts_sweep.py --seeds 4-8 --scales 1,3,10,30 [--keep DIR]

Truth: ``truth.json``'s ``bursts`` (each incident episode and the unrelated
deploy).  Incident episodes closer than ``reonset_gap_s`` are one detected
burst with two onsets.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from forensics.ingest import IngestOptions, ingest
from forensics.timeline import build_timeline

DEFAULT_USERS = {"elearning": 700, "shop": 1200}
TZ = {"elearning": "UTC", "shop": "Europe/Berlin"}
#: A detected onset farther than this from every true onset is an extra onset.
MATCH_S = 120.0


def parse_ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _range(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        a, _, b = part.partition("-")
        out += list(range(int(a), int(b or a) + 1))
    return out


def simulate(out: Path, scenario: str, users: int, seed: int) -> None:
    cmd = [sys.executable, "-m", "forensics", "simulate", str(out), "--users", str(users), "--seed", str(seed),
           "--scenario", scenario]
    subprocess.run(cmd, check=True, capture_output=True)


def evaluate(folder: Path, scenario: str) -> dict:
    """Ingest and build the timeline of one simulated day, and match its bursts against truth."""
    truth = json.loads((folder / "truth.json").read_text(encoding="utf-8"))
    t0 = time.perf_counter()
    events = ingest([folder], options=IngestOptions(tz=TZ[scenario], cache_dir=None)).events
    t1 = time.perf_counter()
    tl = build_timeline(events)
    t2 = time.perf_counter()
    found = [list(b.onsets) for b in tl.bursts]
    return {"events": events.height, **match(truth, found, reonset_gap_s=tl.options.reonset_gap_s),
            "ingest_s": t1 - t0, "timeline_s": t2 - t1}


def match(truth: dict, found: list[list[datetime]], *, reonset_gap_s: float) -> dict:
    """Detected bursts (their onsets, one list per burst) against ``truth.json``:
    true and expected burst counts, the error of each true onset (None when
    missed), noise bursts and extra onsets."""
    true_on = [parse_ts(b["onset"]) for b in truth["bursts"] if b.get("onset")]
    spans = sorted((parse_ts(b["onset"]), parse_ts(b["end"])) for b in truth["bursts"] if b.get("onset") and b.get("end"))
    expect, last_end = 0, None
    for on, end in spans:  # true bursts chained as the detector should (reonset_gap_s)
        if last_end is None or (on - last_end).total_seconds() >= reonset_gap_s:
            expect += 1
        last_end = end if last_end is None else max(last_end, end)
    onsets = [o for b in found for o in b]
    errs = []
    for t in true_on:
        d = min((abs((o - t).total_seconds()) for o in onsets), default=None)
        errs.append(None if d is None or d > MATCH_S else (min(onsets, key=lambda o: abs((o - t).total_seconds())) - t).total_seconds())
    extra = [o for o in onsets if all(abs((o - t).total_seconds()) > MATCH_S for t in true_on)]
    noise = [b for b in found if all(abs((o - t).total_seconds()) > MATCH_S for o in b for t in true_on)]
    return {"true": len(truth["bursts"]), "expect": expect, "found": len(found), "onset_err": errs,
            "noise": len(noise), "extra": len(extra), "extra_at": [o.strftime("%H:%M:%S") for o in extra]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="4-8")
    ap.add_argument("--scales", default="1,3,10,30")
    ap.add_argument("--scenarios", default="elearning,shop")
    ap.add_argument("--keep", type=Path, help="keep simulated folders here (reused when present)")
    args = ap.parse_args(argv)
    root = args.keep or Path(tempfile.mkdtemp(prefix="bursts_sweep_"))
    print(f"{'scenario':<10} {'x':>4} {'seed':>4} {'events':>9} {'true':>4} {'expect':>6} {'found':>5} {'noise':>5} {'extra':>5}  "
          f"{'onset error s (per true onset)':<34} {'timeline s':>10}")
    bad = 0
    for scenario in args.scenarios.split(","):
        for scale in [int(s) for s in args.scales.split(",")]:
            for seed in _range(args.seeds):
                folder = root / f"{scenario}-x{scale}-s{seed}"
                if not (folder / "truth.json").exists():
                    simulate(folder, scenario, DEFAULT_USERS[scenario] * scale, seed)
                r = evaluate(folder, scenario)
                errs = " ".join("miss" if e is None else f"{e:+.1f}" for e in r["onset_err"])
                bad += abs(r["found"] - r["expect"]) + r["noise"] + r["extra"] + sum(e is None or abs(e) > 5 for e in r["onset_err"])
                print(f"{scenario:<10} {scale:>4} {seed:>4} {r['events']:>9} {r['true']:>4} {r['expect']:>6} {r['found']:>5} {r['noise']:>5} "
                      f"{r['extra']:>5}  {errs:<34} {r['timeline_s']:>10.1f}  {' '.join(r['extra_at'])}", flush=True)
                if not args.keep:
                    shutil.rmtree(folder, ignore_errors=True)
    print(f"problems (burst count off + noise bursts + extra onsets + onsets missed or off by > 5 s): {bad}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
