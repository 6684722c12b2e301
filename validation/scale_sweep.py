"""Scale sweep (issue 14): the whole scan against the simulator's truth, 1x to 100x traffic.

For each scenario (``elearning``, ``shop``), scale (multiples of the scenario's default
users: e-learning 700, shop 1200) and seed, this generates one day with
``forensics simulate``, runs ``forensics scan OUT --json -q --no-cache`` (the shop with
``--tz Europe/Berlin``) in a subprocess under ``/usr/bin/time`` (wall time, CPU time and
peak RSS of the scan alone), scores the JSON against ``truth.json`` and deletes the day
(unless ``--keep``).  It prints one row per (scenario, scale) aggregated over the seeds,
one row per run with ``--per-run``, and the scan-time slope: the least-squares exponent
of log(scan wall time) against log(events) per scenario.

Usage (from the repository root)::

    python validation/scale_sweep.py                       # 1x-30x: seeds 1-5, 100x: seeds 1-2
    python validation/scale_sweep.py --scales 1 --seeds 1  # smoke run
    python validation/scale_sweep.py --per-run --json sweep.json --keep /tmp/days

Columns (per run):

* ``bursts`` found/expected: detected bursts vs the true bursts chained by
  ``reonset_gap_s`` (incident episodes closer than that are one burst with two onsets).
* ``onset err`` the largest absolute error (s) over all true onsets (each matched to the
  nearest detected onset; ``miss`` when none is within 120 s).
* ``noise`` detected bursts with no onset within 120 s of any true onset.
* ``trig`` rank of the trigger: the reported suspect whose sequence equals
  ``truth["trigger"]["sequence"]`` or lists it in ``collapsed`` (``-`` if none), ``q`` its q-value.
* ``wrong`` significant suspects that are wrong, defined as: credited (``burst_ids``) to
  any detected burst that is not an incident burst (the unrelated deploy / mail relay, or
  a noise burst), or - when not the trigger row - whose sequence is unrelated to the
  trigger (neither is an ordered subsequence of the other).
* ``unrel`` significant suspects credited to the unrelated (deploy / mail-relay) burst.
* ``dec`` the family that decided the trigger's q (``onset``, ``link``, ``enric``; aggregated:
  runs decided by linkage), ``effM`` its effective multiplicity: q / (strata x the deciding
  p), the number of equally weighted hypotheses it competed with (aggregated: median).
* ``cands`` candidates tested; ``wall s`` / ``cpu s`` / ``RSS MB`` of the scan subprocess.

The burst matching (true onsets, chaining by ``reonset_gap_s``, expected count, onset
errors, noise) is :func:`bursts_sweep.match`, fed with the bursts of the scan JSON
instead of an in-process timeline.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bursts_sweep as bs  # noqa: E402  (same folder: truth matching, simulate, defaults)

SCALES = "1,3,10,30,100"
TIME = "/usr/bin/time"


def _bursts(scan: dict) -> list[dict]:
    b = scan.get("bursts") or []
    return b["bursts"] if isinstance(b, dict) else b


def _seq(s) -> tuple[str, ...]:
    return tuple(x.strip() for x in s.split("->")) if isinstance(s, str) else tuple(s)


def _subseq(a: tuple, b: tuple) -> bool:
    """``a`` is an ordered (not necessarily contiguous) subsequence of ``b``."""
    it = iter(b)
    return all(x in it for x in a)


def scan(folder: Path, scenario: str) -> tuple[dict, float, float, int]:
    """Run the CLI scan; return (JSON, wall s, cpu s, peak RSS KiB)."""
    cmd = [str(Path(sys.executable).with_name("forensics")), "scan", str(folder), "--json", "-q", "--no-cache"]
    if not Path(cmd[0]).exists():
        cmd[:1] = [sys.executable, "-m", "forensics"]
    if bs.TZ[scenario] != "UTC":
        cmd += ["--tz", bs.TZ[scenario]]
    stats = folder.parent / f"{folder.name}.time"
    out = subprocess.run([TIME, "-o", str(stats), "-f", "%e %U %S %M", *cmd], check=True, capture_output=True, text=True)
    wall, user, sys_, rss = stats.read_text().split()[-4:]
    stats.unlink()
    return json.loads(out.stdout), float(wall), float(user) + float(sys_), int(rss)


def score(folder: Path, scenario: str, result: dict) -> dict:
    truth = json.loads((folder / "truth.json").read_text(encoding="utf-8"))
    found = [[bs.parse_ts(o) for o in b["onsets"]] for b in _bursts(result)]
    r = {"events": result["ingest"]["events"],
         **bs.match(truth, found, reonset_gap_s=result["parameters"]["timeline"]["reonset_gap_s"])}
    # Which true burst(s) each detected burst stands for (an onset within MATCH_S).
    true_on = [(b["kind"], bs.parse_ts(b["onset"])) for b in truth["bursts"] if b.get("onset")]
    kinds = {b["id"]: {k for k, t in true_on for o in b["onsets"]
                       if abs((bs.parse_ts(o) - t).total_seconds()) <= bs.MATCH_S} for b in _bursts(result)}
    incident = {i for i, k in kinds.items() if "incident" in k}
    unrelated = {i for i, k in kinds.items() if k and "incident" not in k}
    trig = tuple(truth["trigger"]["sequence"])
    rank = q = None
    trow: dict = {}
    wrong = unrel = 0
    for s in result.get("suspects", []):
        seq = _seq(s["sequence"])
        is_trig = seq == trig or trig in {_seq(c) for c in s.get("collapsed") or []}
        if is_trig and (rank is None or s["rank"] < rank):
            rank, q, trow = s["rank"], s["q_value"], s
        if not s.get("significant"):
            continue
        ids = set(s.get("burst_ids") or [])
        unrel += bool(ids & unrelated)
        wrong += bool(ids - incident) or (not is_trig and not (_subseq(seq, trig) or _subseq(trig, seq)))
    errs = r["onset_err"]
    return {"events": r["events"], "true": r["true"], "expect": r["expect"], "found": r["found"],
            "onset_err": errs, "onset_max": None if None in errs else max((abs(e) for e in errs), default=0.0),
            "noise": r["noise"], "extra": r["extra"], "trigger": list(trig), "trigger_rank": rank, "trigger_q": q,
            "wrong_sig": wrong, "unrelated_sig": unrel, "candidates": result.get("candidates_tested"),
            "trigger_all_incidents": bool(trow) and incident <= set(trow.get("burst_ids") or []),
            "trigger_deciding": trow.get("deciding"), "trigger_p_onset": trow.get("p_onset"),
            "trigger_p_link": trow.get("p_link"), "trigger_eff_m": _eff_m(trow, result["parameters"]["mining"])}


def _eff_m(s: dict, mining: dict) -> float | None:
    """The trigger's effective multiplicity: its q over (strata x the deciding
    family's p): the number of equally weighted hypotheses it competed with."""
    p = s.get(f"p_{s.get('deciding')}") if s else None
    if not p or s.get("q_value") is None or s["q_value"] >= 1:
        return None
    return s["q_value"] / (3 * max(mining["max_len"] - 1, 1) * p)


def _fmt_m(m) -> str:
    return "-" if m is None else f"{m:.0f}"


def _fmt_q(q) -> str:
    return "-" if q is None else f"{q:.1e}"


HEAD = (f"{'scenario':<10} {'x':>4} {'seed':>5} {'events':>9} {'bursts f/e':>10} {'onset err':>9} {'noise':>5} "
        f"{'trig':>5} {'q':>14} {'dec':>5} {'effM':>7} {'wrong':>5} {'unrel':>5} {'cands':>7} {'wall s':>10} {'cpu s':>7} "
        f"{'RSS MB':>7}")


def run_row(r: dict) -> str:
    on = "miss" if r["onset_max"] is None else f"{r['onset_max']:.1f}"
    return (f"{r['scenario']:<10} {r['scale']:>4} {r['seed']:>5} {r['events']:>9} {r['found']:>5}/{r['expect']:<4} {on:>9} "
            f"{r['noise']:>5} {r['trigger_rank'] or '-':>5} {_fmt_q(r['trigger_q']):>14} "
            f"{(r.get('trigger_deciding') or '-')[:5]:>5} {_fmt_m(r.get('trigger_eff_m')):>7} {r['wrong_sig']:>5} "
            f"{r['unrelated_sig']:>5} {r['candidates']:>7} {r['wall_s']:>10.1f} {r['cpu_s']:>7.1f} {r['rss_kib'] / 1024:>7.0f}")


def agg_row(rows: list[dict]) -> str:
    n = len(rows)
    r0 = rows[0]
    ok_b = sum(r["found"] == r["expect"] for r in rows)
    ons = [r["onset_max"] for r in rows]
    on = "miss" if None in ons else f"{max(ons):.1f}"
    rank1 = sum(r["trigger_rank"] == 1 for r in rows)
    qs = [r["trigger_q"] for r in rows if r["trigger_q"] is not None]
    qtxt = f"{min(qs):.0e}..{max(qs):.0e}" if qs else "-"
    wall = [r["wall_s"] for r in rows]
    link = sum(r.get("trigger_deciding") == "link" for r in rows)
    effm = [r["trigger_eff_m"] for r in rows if r.get("trigger_eff_m")]
    return (f"{r0['scenario']:<10} {r0['scale']:>4} {'n=' + str(n):>5} {round(statistics.mean(r['events'] for r in rows)):>9} "
            f"{str(ok_b) + '/' + str(n) + ' ok':>10} {on:>9} {sum(r['noise'] > 0 for r in rows):>5} "
            f"{str(rank1) + '/' + str(n):>5} {qtxt:>14} {str(link) + 'L':>5} "
            f"{_fmt_m(statistics.median(effm) if effm else None):>7} {sum(r['wrong_sig'] > 0 for r in rows):>5} "
            f"{sum(r['unrelated_sig'] > 0 for r in rows):>5} {round(statistics.mean(r['candidates'] for r in rows)):>7} "
            f"{statistics.mean(wall):>5.1f}/{max(wall):<4.0f} {statistics.mean(r['cpu_s'] for r in rows):>7.1f} "
            f"{max(r['rss_kib'] for r in rows) / 1024:>7.0f}")


def slope(rows: list[dict], key: str = "wall_s") -> float | None:
    pts = [(math.log(r["events"]), math.log(r[key])) for r in rows if r[key] > 0]
    if len(pts) < 2 or max(x for x, _ in pts) - min(x for x, _ in pts) < math.log(2):
        return None  # events must span at least a factor of 2 for a meaningful slope
    mx, my = statistics.mean(x for x, _ in pts), statistics.mean(y for _, y in pts)
    return sum((x - mx) * (y - my) for x, y in pts) / sum((x - mx) ** 2 for x, _ in pts)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenarios", default="elearning,shop")
    ap.add_argument("--scales", default=SCALES, help=f"multiples of the default users [{SCALES}]")
    ap.add_argument("--seeds", default="1-5", help="seeds below 100x [1-5]")
    ap.add_argument("--seeds-100x", default="1-2", help="seeds at 100x and above [1-2]")
    ap.add_argument("--keep", type=Path, help="keep the simulated days here (reused when present)")
    ap.add_argument("--per-run", action="store_true", help="print one row per run as it finishes")
    ap.add_argument("--json", type=Path, help="write all per-run results here")
    args = ap.parse_args(argv)
    tmp = None if args.keep else Path(tempfile.mkdtemp(prefix="scale_sweep_"))
    root = args.keep or tmp
    root.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    print("per run" if args.per_run else "runs (one row per scenario and scale at the end)", flush=True)
    print(HEAD, flush=True)
    try:
        for scenario in args.scenarios.split(","):
            for scale in [int(s) for s in args.scales.split(",")]:
                for seed in bs._range(args.seeds_100x if scale >= 100 else args.seeds):
                    folder = root / f"{scenario}-x{scale}-s{seed}"
                    if not (folder / "truth.json").exists():
                        bs.simulate(folder, scenario, bs.DEFAULT_USERS[scenario] * scale, seed)
                    result, wall, cpu, rss = scan(folder, scenario)
                    r = {"scenario": scenario, "scale": scale, "seed": seed, "users": bs.DEFAULT_USERS[scenario] * scale,
                         **score(folder, scenario, result), "wall_s": wall, "cpu_s": cpu, "rss_kib": rss}
                    rows.append(r)
                    if args.per_run:
                        print(run_row(r), flush=True)
                    else:
                        print(f"  done {scenario} x{scale} seed {seed}: {r['events']} events, {wall:.1f} s", flush=True)
                    if args.json:
                        args.json.write_text(json.dumps(rows, indent=1), encoding="utf-8")
                    if not args.keep:
                        shutil.rmtree(folder, ignore_errors=True)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    print()
    print("aggregated over seeds: bursts = runs with found == expected; onset err = max over runs (s); noise, wrong, unrel ="
          " runs with at least one; trig = runs ranking the trigger 1st; q = range; cands = mean; wall s = mean/max;"
          " cpu s = mean; RSS MB = max")
    print(HEAD)
    for key in dict.fromkeys((r["scenario"], r["scale"]) for r in rows):
        print(agg_row([r for r in rows if (r["scenario"], r["scale"]) == key]))
    print()
    for scenario in dict.fromkeys(r["scenario"] for r in rows):
        sr = [r for r in rows if r["scenario"] == scenario]
        big = [r for r in sr if r["scale"] >= 10]
        parts = [f"all scales {_num(slope(sr))}", f"cpu {_num(slope(sr, 'cpu_s'))}"]
        if big and len(big) < len(sr):
            parts += [f">=10x {_num(slope(big))}", f"cpu >=10x {_num(slope(big, 'cpu_s'))}"]
        print(f"scan-time slope {scenario}: log(wall s) vs log(events): " + ", ".join(parts))
        onset = [r for r in sr if r.get("trigger_deciding") == "onset" and r.get("trigger_eff_m")]
        print(f"family growth {scenario}: log(candidates tested) vs log(events) {_num(slope(sr, 'candidates'))}, "
              f"log(trigger's effective multiplicity) vs log(events) {_num(slope(onset, 'trigger_eff_m'))} "
              f"(onset-decided runs)")
    n = len(rows)
    if n:
        print(f"trigger ranked 1st in {sum(r['trigger_rank'] == 1 for r in rows)}/{n} runs; "
              f"runs with a significant suspect on the unrelated burst: {sum(r['unrelated_sig'] > 0 for r in rows)}; "
              f"runs without noise bursts: {sum(r['noise'] == 0 for r in rows)}/{n}; "
              f"runs with every true onset within 30 s: {sum(r['onset_max'] is not None and r['onset_max'] <= 30 for r in rows)}/{n}; "
              f"runs whose trigger is credited with every incident burst: "
              f"{sum(bool(r.get('trigger_all_incidents')) for r in rows)}/{n}")
    return 0


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


if __name__ == "__main__":
    raise SystemExit(main())
