"""HDFS benchmark: suspects of labeled failing blocks, and a chronological detector.

One command, from the repository root::

    python validation/hdfs.py            # --data ../shared/datasets/hdfs_loglead_2pct by default

1. **Scan** ``HDFS_2pct.log`` as ``forensics scan`` does with
   ``--session-pattern 'blk_-?\\d+' --failing anomaly_label.csv
   --failing-scope whole`` (timed), and list the top suspects with their
   loghub event ids (E1..E30, from ``HDFS_templates.csv``), the missing
   steps, and where the events that only failing blocks have land.
2. **Detector**: blocks sorted by their first timestamp and split into
   halves.  On the first half only: mine with its labels, and choose ``k``
   (how many top suspects flag a block) and the longest sequence mined
   (``max_len`` 1, 2 or 3) by blocked, chronological cross-validation
   (``--folds`` contiguous folds; mine on the others, score
   the held-out fold; the pooled F1 decides, ties to the smaller ``k``).
   Then mine the whole first half and flag a second-half block when it
   contains any top-``k`` suspect or misses a "never reached" step;
   precision, recall and F1 on the second half.  Nothing about the second
   half is used before that.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from hdfs_templates import truth_events  # noqa: E402

from forensics.mining.labeled import classify_sessions, mine_labeled, read_failing  # noqa: E402
from forensics.mining.model import MiningOptions  # noqa: E402
from forensics.scan import FailingSettings, ScanSettings, run_scan  # noqa: E402
from forensics.timeline.model import TimelineOptions  # noqa: E402
from forensics.timeline.sessions import session_actions  # noqa: E402
from forensics.timeline.templates import template_table  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "datasets" / "hdfs_loglead_2pct"
PATTERN = r"blk_-?\d+"
#: Events found only in anomalous blocks of this sample, and E20 (SOURCE.md).
ONLY_FAILING = ("E7", "E28", "E27", "E13", "E8", "E10", "E12", "E14", "E15", "E20")
COMPLETION = ("E9", "E11", "E26")


def restrict(tl, keys: pl.Series):
    """The timeline seen through a subset of sessions (what mining reads)."""
    keep = keys.implode()
    return replace(
        tl,
        actions=session_actions(tl.actions, tl.events, keys.to_list()),
        sessions=tl.sessions.filter(pl.col("session_key").is_in(keep)),
        session_errors=tl.session_errors.filter(pl.col("session_key").is_in(keep)),
    )


def scores(flags: pl.DataFrame, failing: frozenset[str]) -> dict[str, float]:
    """Precision, recall, F1 and the confusion counts."""
    truth = flags["session_key"].is_in(pl.Series(list(failing), dtype=pl.String).implode())
    pred = flags["flagged"]
    tp = int((pred & truth).sum())
    fp = int((pred & ~truth).sum())
    fn = int((~pred & truth).sum())
    prec = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return {"tp": tp, "fp": fp, "fn": fn, "tn": flags.height - tp - fp - fn, "precision": prec, "recall": rec,
            "f1": f1}


def f1_by_k(train_tl, test_tl, failing, *, max_k: int, scope: str, options: MiningOptions) -> list[dict]:
    """Confusion counts on ``test_tl`` for k = 0..max_k after mining ``train_tl``."""
    res = mine_labeled(train_tl, failing, options=replace(options, top=max_k), scope=scope)
    out = []
    for k in range(0, max_k + 1):  # a few dozen k
        out.append(scores(classify_sessions(test_tl, res, top_k=k), failing))
    return out


def choose_k(tl, keys: pl.Series, failing, *, folds: int, max_k: int, scope: str, options: MiningOptions,
             lengths: tuple[int, ...] = (1, 2, 3)) -> tuple[int, int, dict]:
    """Blocked chronological cross-validation inside ``keys`` (time-sorted):
    the (max_len, k) with the best pooled F1 (ties: shorter, then smaller k)."""
    n = keys.len()
    pooled = {ml: [{"tp": 0, "fp": 0, "fn": 0} for _ in range(max_k + 1)] for ml in lengths}
    for f in range(folds):  # a handful of folds
        lo, hi = n * f // folds, n * (f + 1) // folds
        test = keys.slice(lo, hi - lo)
        train = pl.concat([keys.slice(0, lo), keys.slice(hi, n - hi)])
        for ml in lengths:  # a few lengths
            for k, s in enumerate(f1_by_k(restrict(tl, train), restrict(tl, test), failing, max_k=max_k,
                                          scope=scope, options=replace(options, max_len=ml))):
                for c in ("tp", "fp", "fn"):
                    pooled[ml][k][c] += s[c]
    f1s: dict[int, list[float]] = {}
    for ml in lengths:
        f1s[ml] = []
        for c in pooled[ml]:
            p = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else 0.0
            r = c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else 0.0
            f1s[ml].append(2 * p * r / (p + r) if p + r else 0.0)
    best = max(((ml, k) for ml in lengths for k in range(max_k + 1)),
               key=lambda x: (round(f1s[x[0]][x[1]], 6), -x[0], -x[1]))
    return best[0], best[1], f1s


def event_ids(tl, data: Path) -> dict[str, str]:
    """Template text -> loghub event id (through each template's example line)."""
    table = tl.templates if tl.templates is not None else template_table(tl)
    ids = truth_events(table["example"], data / "HDFS_templates.csv")
    return dict(zip(table["template"].to_list(), ids.fill_null("?").to_list()))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="Folder with HDFS_2pct.log and the CSVs.")
    ap.add_argument("--scope", choices=["whole", "before_error"], default="whole")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--max-k", type=int, default=20)
    ap.add_argument("--top", type=int, default=20, help="Suspects listed in part 1.")
    args = ap.parse_args(argv)
    log, labels_csv = args.data / "HDFS_2pct.log", args.data / "anomaly_label.csv"
    if not log.exists() or not labels_csv.exists():
        print(f"dataset not found under {args.data} (see --data)", file=sys.stderr)
        return 2
    options = MiningOptions(top=args.top)

    # 1. the scan, as `forensics scan` runs it
    settings = ScanSettings(timeline=TimelineOptions(session_pattern=PATTERN), mining=options,
                            failing=FailingSettings(path=str(labels_csv), scope=args.scope))
    t0, c0 = time.perf_counter(), time.process_time()
    result = run_scan([log], settings=settings)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    tl, lab = result.timeline, result.labeled
    eid = event_ids(tl, args.data)
    print(f"scan: {result.ingest.events.height:,} lines, {tl.sessions.height:,} blocks "
          f"({lab.n_failing} failing, {lab.n_control:,} others), {len(eid)} templates; "
          f"{wall:.1f} s wall, {cpu:.1f} s CPU (scope {args.scope})\n")
    print("top suspects (sequence of loghub events; failing / other blocks with it; q; risk ratio):")
    first_rank: dict[str, int] = {}
    for s in result.mining.suspects:
        ids = [eid.get(a, "?") for a in s.sequence]
        for e in ids:
            first_rank.setdefault(e, s.rank)
        print(f"  #{s.rank:<2} {' -> '.join(ids):24} {s.failing_with:4d} / {s.control_with:<5d} "
              f"q={s.q_value:.1e} RR={s.risk_ratio:7.1f}  {s.sequence[-1][:70]}")
    print("missing steps:")
    for m in lab.missing:
        print(f"  never reached: {eid.get(m.step, '?'):4} {m.failing_missing} of {m.failing_sessions} failing, "
              f"{m.control_sessions - m.control_reached} of {m.control_sessions:,} others; q={m.q_value:.1e}  "
              f"{m.step[:70]}")
    print("events only failing blocks have (+E20): first suspect rank " +
          ", ".join(f"{e}={first_rank.get(e, '-')}" for e in ONLY_FAILING))
    found = sorted(eid.get(m.step, "?") for m in lab.missing)
    print(f"completion steps found missing: {found} (expected {list(COMPLETION)})\n")

    # 2. the detector, chronologically
    t0 = time.perf_counter()
    labels = read_failing(labels_csv)
    order = tl.sessions.sort("start", "session_key")["session_key"]
    half = order.len() // 2
    first, second = order.head(half), order.tail(order.len() - half)
    max_len, k, f1s = choose_k(tl, first, labels.failing, folds=args.folds, max_k=args.max_k, scope=args.scope,
                               options=options)
    print(f"first half: {first.len():,} blocks ({int(first.is_in(list(labels.failing)).sum())} failing); "
          f"{args.folds}-fold blocked cross-validated F1 by k:")
    for ml, row in f1s.items():
        print(f"  max_len {ml}: " + " ".join(f"{i}:{f:.3f}" for i, f in enumerate(row)))
    print(f"chosen: max_len {max_len}, k {k}")
    train = restrict(tl, first)
    res = mine_labeled(train, labels.failing, options=replace(options, top=max(k, 1), max_len=max_len),
                       scope=args.scope)
    flags = classify_sessions(restrict(tl, second), res, top_k=k)
    s = scores(flags, labels.failing)
    det = time.perf_counter() - t0
    print(f"second half: {second.len():,} blocks ({s['tp'] + s['fn']} failing): "
          f"TP {s['tp']} FP {s['fp']} FN {s['fn']} TN {s['tn']}")
    print(f"precision {s['precision']:.3f}  recall {s['recall']:.3f}  F1 {s['f1']:.3f}   "
          f"(loghub: PCA 0.77, Invariants Mining 0.92, Log Clustering 0.84)")
    print(f"detector used: top-{k} suspects " + ", ".join(
        " -> ".join(eid.get(a, "?") for a in x.sequence) for x in res.mining.suspects[:k]) +
        "; never reached: " + ", ".join(eid.get(m.step, "?") for m in res.missing))
    print(f"detector (cross-validation + final mining + scoring): {det:.1f} s wall")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
