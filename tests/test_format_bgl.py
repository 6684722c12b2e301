"""BGL / Thunderbird reader: golden samples (a loghub excerpt and Thunderbird
lines), sniffing, alert tags, epoch time with BGL's microseconds, levels,
nodes and programs, the real loghub file against its structured CSV,
invariants and a scan over a FATAL burst.

Shapes follow loghub (https://github.com/logpai/loghub, BGL and Thunderbird;
the golden BGL lines are taken from ``BGL_2k.log``, see
``tests/golden/bgl/SOURCE.md``) and the description of the logs in Oliner &
Stearley, "What Supercomputers Say" (DSN 2007,
https://www.usenix.org/cfdr-data#hpc4).
"""

from __future__ import annotations

import csv
import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forensics.ingest import ingest
from forensics.ingest.formats import bgl
from forensics.ingest.options import IngestOptions
from forensics.scan import run_timeline
from golden_util import FOREIGN_LINES, check_parse_invariants, golden_sample, run_golden
from shared_data import dataset

GOLDEN = Path(__file__).parent / "golden"
REAL = dataset("loghub_2k", "BGL_2k.log")
BGL_LINE = ("{alert} 1117838570 2005.06.03 R02-M1-N0-C:J12-U11 2005-06-03-15.42.50.675872 R02-M1-N0-C:J12-U11 "
            "RAS KERNEL {level} instruction cache parity error corrected")
TB_LINE = "- 1131566461 2005.11.09 dn228 Nov 9 12:01:01 dn228/dn228 {rest}"


def _rows(texts: list[str]) -> list[dict]:
    res = check_parse_invariants(bgl, texts, IngestOptions())
    rows = res.events.sort("line").to_dicts()
    for row in rows:
        row["attrs"] = json.loads(row["attrs"]) if row["attrs"] else {}
    return rows


@pytest.mark.parametrize(("folder", "counts"), [("bgl", (21, 0, 1, 2)), ("bgl_thunderbird", (18, 0, 1, 3))])
def test_golden_line_accounting_balances(folder, counts):
    rep = run_golden("bgl", GOLDEN / folder).accounting.files[0]
    assert rep.lines == rep.events + rep.continuation_lines + rep.blank_lines + rep.malformed
    assert (rep.events, rep.continuation_lines, rep.blank_lines, rep.malformed) == counts


def test_golden_bgl_excerpt_keeps_the_loghub_license_notice():
    assert "The above license notice shall be included" in (GOLDEN / "bgl" / "SOURCE.md").read_text()


@pytest.mark.parametrize("other", sorted(FOREIGN_LINES))
def test_sniff_does_not_claim_other_formats(other):
    assert bgl.sniff(FOREIGN_LINES[other]) < 0.5


@pytest.mark.parametrize("other", sorted(p.name for p in GOLDEN.iterdir()
                                         if (p / "input.log").exists() and not p.name.startswith("bgl")))
def test_sniff_does_not_claim_other_golden_samples(other):
    assert bgl.sniff(golden_sample(GOLDEN / other)) < 0.5


@pytest.mark.parametrize(("word", "level"), [("INFO", "info"), ("WARNING", "warn"), ("SEVERE", "error"),
                                             ("ERROR", "error"), ("FATAL", "fatal"), ("FAILURE", "fatal")])
def test_bgl_levels_map_to_levels(word, level):
    assert _rows([BGL_LINE.format(alert="-", level=word)])[0]["level"] == level


def test_epoch_is_the_time_with_the_microseconds_of_the_local_time_field():
    row = _rows([BGL_LINE.format(alert="-", level="INFO")])[0]
    assert row["ts"] == datetime(2005, 6, 3, 22, 42, 50, 675872, tzinfo=timezone.utc)
    other = BGL_LINE.format(alert="-", level="INFO").replace("15.42.50.675872", "15.42.51.675872")
    assert _rows([other])[0]["ts"] == datetime(2005, 6, 3, 22, 42, 50, tzinfo=timezone.utc)  # seconds disagree


def test_alert_tag_node_type_and_component_fields():
    row = _rows([BGL_LINE.format(alert="KERNDTLB", level="FATAL")])[0]
    assert (row["component"], row["message"]) == ("KERNEL", "instruction cache parity error corrected")
    assert row["attrs"] == {"alert": "KERNDTLB", "node": "R02-M1-N0-C:J12-U11", "type": "RAS"}
    assert _rows([BGL_LINE.format(alert="-", level="INFO")])[0]["attrs"].get("alert") is None


def test_null_node_and_type_are_left_out_and_a_differing_repeat_is_kept():
    line = "- 1123110662 2005.08.03 NULL 2005-08-03-16.11.02.839771 NULL NULL MMCS ERROR idoproxydb hit ASSERT"
    assert _rows([line])[0]["attrs"] == {}
    moved = BGL_LINE.format(alert="-", level="INFO").replace(" R02-M1-N0-C:J12-U11 RAS", " R02-M1-N0-C:J12-U01 RAS")
    assert _rows([moved])[0]["attrs"]["node_repeat"] == "R02-M1-N0-C:J12-U01"


@pytest.mark.parametrize(("rest", "component", "program", "pid", "message"), [
    ("crond(pam_unix)[2915]: session closed for user root", "crond", "crond(pam_unix)", 2915,
     "session closed for user root"),
    ("/apps/x86_64/system/ganglia-3.0.1/sbin/gmetad[1682]: data_thread() got not answer", "gmetad",
     "/apps/x86_64/system/ganglia-3.0.1/sbin/gmetad", 1682, "data_thread() got not answer"),
    ("kernel: EDAC k8 MC0: general bus error", "kernel", "kernel", None, "EDAC k8 MC0: general bus error"),
    ("syslogd 1.4.1: restart.", None, None, None, "syslogd 1.4.1: restart."),
])
def test_thunderbird_program_becomes_component_and_attrs(rest, component, program, pid, message):
    row = _rows([TB_LINE.format(rest=rest)])[0]
    assert (row["component"], row["message"], row["level"]) == (component, message, None)
    assert (row["attrs"].get("program"), row["attrs"].get("pid")) == (program, pid)
    assert (row["attrs"]["node"], row["attrs"]["host"]) == ("dn228", "dn228/dn228")
    assert row["ts"] == datetime(2005, 11, 9, 20, 1, 1, tzinfo=timezone.utc)


def test_lines_of_other_shapes_are_malformed_with_what_was_expected():
    res = check_parse_invariants(bgl, ["- 1117838570 2005.06.03 R02-M1-N0 2005-06-03-15.42", "hello", ""])
    assert [r.split(" (")[0] for r in res.rejects["reason"]] == [
        "BGL/Thunderbird line with a malformed record", "not a BGL/Thunderbird line"]
    assert res.blank_lines == 1


@pytest.mark.skipif(not REAL.exists(), reason="shared dataset not present")
def test_real_bgl_file_matches_loghub_structured_fields():
    res = ingest([REAL], options=IngestOptions())
    rep = res.accounting.files[0]
    assert (rep.format, rep.lines, rep.events, rep.malformed) == ("bgl", 2000, 2000, 0)
    with (REAL.parent / "BGL_2k.log_structured.csv").open(newline="") as fh:
        want = list(csv.DictReader(fh))
    ev = res.events.sort("line")
    assert ev["component"].to_list() == [w["Component"] for w in want]
    assert ev["message"].to_list() == [w["Content"] for w in want]
    assert ev["level"].to_list() == [bgl.LEVELS[w["Level"]] for w in want]
    alerts = [json.loads(a).get("alert", "-") for a in ev["attrs"].to_list()]
    assert alerts == [w["Label"] for w in want]
    assert (ev["ts"].dt.epoch("s") == pl.Series([int(w["Timestamp"]) for w in want])).all()


_FRAGMENTS = st.sampled_from([
    "-", "KERNDTLB", "1117838570", "99999999999", "2005.06.03", "R02-M1-N0-C:J12-U11",
    "2005-06-03-15.42.50.675872", "2005-06-03-15.42.50.9", "RAS", "NULL", "KERNEL", "FATAL", "FAILURE", "INFO",
    "Nov", "9", "12:01:01", "dn228/dn228", "crond(pam_unix)[2915]:", "kernel:", "é",
])
_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n"), max_size=80)
_LINE = st.one_of(_TEXT, st.lists(_FRAGMENTS, max_size=12).map(" ".join))


@settings(max_examples=200, deadline=None)
@given(st.lists(_LINE, max_size=25))
def test_arbitrary_lines_never_raise_and_accounting_holds(texts):
    check_parse_invariants(bgl, texts)


def _ras_log(path: Path, start: datetime, outage: tuple[datetime, datetime]) -> None:
    """About 2,000 RAS lines over two hours: correctable INFO events, a few
    stray FATALs, and a FATAL storm on many nodes during the outage."""
    rnd = random.Random(16)
    lines = []
    stray = {400, 1200, 1700}
    for i in range(2000):
        t = start + timedelta(seconds=3.6 * i + rnd.random())
        node = f"R{rnd.randrange(64):02d}-M{rnd.randrange(2)}-N{rnd.randrange(16):X}-C:J{rnd.randrange(2, 18):02d}-U01"
        local = (t - timedelta(hours=7)).strftime("%Y-%m-%d-%H.%M.%S.%f")
        if (outage[0] <= t < outage[1] and rnd.random() < 0.7) or i in stray:
            alert, comp, level, msg = "KERNDTLB", "KERNEL", "FATAL", "data TLB error interrupt"
        else:
            alert, comp, level, msg = "-", "KERNEL", "INFO", "instruction cache parity error corrected"
        lines.append(f"{alert} {int(t.timestamp())} {t:%Y.%m.%d} {node} {local} {node} RAS {comp} {level} {msg}")
    path.write_text("\n".join(lines) + "\n")


def test_scan_finds_the_fatal_burst_of_a_bgl_log_and_nothing_else(tmp_path):
    start = datetime(2005, 6, 11, 16, 0, tzinfo=timezone.utc)
    outage = (start + timedelta(minutes=60), start + timedelta(minutes=70))
    folder = tmp_path / "bgl"
    folder.mkdir()
    _ras_log(folder / "BGL.log", start, outage)
    run = run_timeline([str(folder)])
    rep = run.ingest.accounting.files[0]
    assert (rep.format, rep.events, rep.malformed) == ("bgl", 2000, 0)
    bursts = run.timeline.bursts
    assert bursts, "no burst found"
    assert all(b.start < outage[1] and b.end > outage[0] for b in bursts)
    assert any(b.start <= outage[0] + timedelta(minutes=2) for b in bursts)
