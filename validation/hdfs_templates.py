"""Template accuracy on HDFS: the vectorized masking pass against Drain3.

Ground truth: each line's event id (E1..E30) from loghub's
``HDFS_templates.csv`` (every ``<*>`` becomes ``.*``; when several match, the
longest template wins).  Measures, for the masking pass and (when the
``drain3`` package is installed) Drain3 with the loghub HDFS settings:

* **grouping accuracy** (GA, Zhu et al. ICSE-SEIP'19): share of lines whose
  template groups exactly the same lines as their true event;
* **purity**: share of lines whose template holds a single true event
  (a split event costs GA but not purity; a merge of two events costs both,
  and only merges hurt mining);
* templates found, and the time taken (wall and CPU).

Usage (from the repository root)::

    python validation/hdfs_templates.py [--data ../shared/datasets/hdfs_loglead_2pct]
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from forensics.ingest import ingest  # noqa: E402
from forensics.timeline.templates import template_expr  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "datasets" / "hdfs_loglead_2pct"


def truth_events(messages: pl.Series, templates_csv: Path) -> pl.Series:
    """True event id per message (null when none matches)."""
    tpl = pl.read_csv(templates_csv)
    # longest template first: a more specific one wins (E28 over E26)
    tpl = tpl.with_columns(pl.col("EventTemplate").str.len_chars().alias("_n")).sort("_n", descending=True)
    out = pl.Series("event", [None] * len(messages), dtype=pl.String)
    frame = pl.DataFrame({"m": messages, "event": out})
    for eid, text in tpl.select("EventId", "EventTemplate").iter_rows():  # 30 templates
        rx = "^" + ".*".join(re.escape(part) for part in text.split("<*>")) + "$"
        frame = frame.with_columns(
            pl.when(pl.col("event").is_null() & pl.col("m").str.contains(rx)).then(pl.lit(eid))
            .otherwise(pl.col("event")).alias("event"))
    return frame["event"]


def grouping_scores(pred: pl.Series, truth: pl.Series) -> dict[str, float]:
    """Grouping accuracy and purity of ``pred`` against ``truth``."""
    f = pl.DataFrame({"p": pred.cast(pl.String), "t": truth})
    f = f.with_columns(
        (pl.col("t").n_unique().over("p") == 1).alias("p_pure"),
        (pl.col("p").n_unique().over("t") == 1).alias("t_whole"),
    )
    return {
        "grouping_accuracy": float((f["p_pure"] & f["t_whole"]).mean()),
        "purity": float(f["p_pure"].mean()),
        "templates": int(f["p"].n_unique()),
        "true_events": int(f["t"].n_unique()),
    }


def drain3_templates(messages: list[str]) -> list[str] | None:
    """Drain3 cluster id per message, loghub's HDFS settings (None: not installed)."""
    try:
        from drain3 import TemplateMiner
        from drain3.masking import MaskingInstruction
        from drain3.template_miner_config import TemplateMinerConfig
    except ImportError:
        return None
    cfg = TemplateMinerConfig()
    cfg.drain_sim_th, cfg.drain_depth = 0.5, 4
    cfg.masking_instructions = [
        MaskingInstruction(r"blk_-?\d+", "BLK"),
        MaskingInstruction(r"(\d+\.){3}\d+(:\d+)?", "IP"),
        MaskingInstruction(r"(?<=[^A-Za-z0-9])(\-?\+?\d+)(?=[^A-Za-z0-9])|[0-9]+$", "NUM"),
    ]
    cfg.profiling_enabled = False
    miner = TemplateMiner(config=cfg)
    ids = [miner.add_log_message(m)["cluster_id"] for m in messages]  # Drain3 is per line by design
    return [str(i) for i in ids]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--no-drain3", action="store_true", help="Skip Drain3 even when installed.")
    args = ap.parse_args(argv)
    events = ingest([args.data / "HDFS_2pct.log"]).events
    msgs = events["message"]
    truth = truth_events(msgs, args.data / "HDFS_templates.csv")
    print(f"{len(msgs):,} lines, {truth.null_count()} without a true event")
    rows = []
    t0, c0 = time.perf_counter(), time.process_time()
    masked = events.select(template_expr("message")).to_series()
    rows.append(("masking pass", time.perf_counter() - t0, time.process_time() - c0, grouping_scores(masked, truth)))
    if not args.no_drain3:
        t0, c0 = time.perf_counter(), time.process_time()
        d = drain3_templates(msgs.to_list())
        if d is None:
            print("drain3 not installed (pip install drain3) - skipped")
        else:
            rows.append(("Drain3 0.9", time.perf_counter() - t0, time.process_time() - c0,
                         grouping_scores(pl.Series(d), truth)))
    print(f"{'method':14} {'GA':>6} {'purity':>7} {'templates':>9} {'wall s':>7} {'cpu s':>6}")
    for name, wall, cpu, s in rows:
        print(f"{name:14} {s['grouping_accuracy']:6.4f} {s['purity']:7.4f} {s['templates']:9d} {wall:7.2f} {cpu:6.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
