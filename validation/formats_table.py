"""Per-format table of the golden samples (issue 16's closing table).

Usage::

    python validation/formats_table.py

Reads every golden sample under ``tests/golden/`` on its own (sniffed, with
the sample's ``options.json`` when it has one) and prints, per sample: the
format it was sniffed as, lines, events, malformed lines, and the share of
events with a level, a status and a request id.  The samples are small and
written to the formats' public documentation (bad lines mixed in on
purpose); the table shows what each format yields, not a benchmark.
"""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from golden_util import FORMAT_GOLDENS, GOLDEN, golden_options  # noqa: E402

from forensics.ingest import ingest  # noqa: E402


def row(name: str) -> dict:
    folder = GOLDEN / name
    res = ingest([folder / "input.log"], options=golden_options(folder, None))
    rep = res.accounting.files[0]
    ev = res.events
    share = (lambda c: ev.get_column(c).is_not_null().mean() if ev.height else 0.0)  # noqa: E731
    return {"sample": name, "sniffed": rep.format, "lines": rep.lines, "events": rep.events,
            "malformed": rep.malformed, "level": share("level"), "status": share("status"),
            "request_id": share("request_id")}


def main() -> int:
    rows = pl.DataFrame([row(n) for n in sorted(FORMAT_GOLDENS)])
    print("| sample | sniffed as | lines | events | malformed | with level | with status | with request id |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows.iter_rows(named=True):
        print(f"| {r['sample']} | {r['sniffed']} | {r['lines']} | {r['events']} | {r['malformed']} | "
              f"{r['level']:.0%} | {r['status']:.0%} | {r['request_id']:.0%} |")
    tot = rows.select(pl.col("lines", "events", "malformed").sum()).row(0)
    print(f"| total | | {tot[0]} | {tot[1]} | {tot[2]} | | | |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
