"""MySQL error-log reader: golden samples (8.0, 5.7, 5.5/5.6/MariaDB), sniffing
against syslog and plain text, level brackets, thread ids, error codes,
subsystems, continuation lines (InnoDB dumps, crash reports), invariants and a
scan over an ERROR burst.

Shapes follow the MySQL manual, "The Error Log" and "Error Log Output Format"
(https://dev.mysql.com/doc/refman/8.0/en/error-log-format.html,
https://dev.mysql.com/doc/refman/5.7/en/error-log.html), the InnoDB monitor
output (https://dev.mysql.com/doc/refman/8.0/en/innodb-standard-monitor.html)
and MariaDB's error log (https://mariadb.com/kb/en/error-log/).
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forensics.ingest import formats
from forensics.ingest.formats import mysql
from forensics.ingest.options import IngestOptions
from forensics.scan import run_timeline
from golden_util import FOREIGN_LINES, check_parse_invariants, golden_sample, run_golden

GOLDEN = Path(__file__).parent / "golden"


def _rows(texts: list[str], **opts) -> list[dict]:
    res = check_parse_invariants(mysql, texts, IngestOptions(**opts))
    rows = res.events.sort("line").to_dicts()
    for row in rows:
        row["attrs"] = json.loads(row["attrs"]) if row["attrs"] else {}
    return rows


@pytest.mark.parametrize(("folder", "counts"), [
    ("mysql", (18, 15, 2, 2)), ("mysql_57", (15, 19, 1, 0)), ("mysql_55", (19, 1, 1, 1)),
])
def test_golden_line_accounting_balances(folder, counts):
    rep = run_golden("mysql", GOLDEN / folder).accounting.files[0]
    assert rep.lines == rep.events + rep.continuation_lines + rep.blank_lines + rep.malformed
    assert (rep.events, rep.continuation_lines, rep.blank_lines, rep.malformed) == counts


@pytest.mark.parametrize("other", sorted(FOREIGN_LINES))
def test_sniff_does_not_claim_other_formats(other):
    assert mysql.sniff(FOREIGN_LINES[other]) < 0.5


@pytest.mark.parametrize("other", sorted(p.name for p in GOLDEN.iterdir()
                                         if (p / "input.log").exists() and not p.name.startswith("mysql")))
def test_sniff_does_not_claim_other_golden_samples(other):
    assert mysql.sniff(golden_sample(GOLDEN / other)) < 0.5


def test_mysql8_header_fills_thread_code_subsystem_and_level():
    row = _rows(["2026-03-14T11:02:17.123456Z 12 [ERROR] [MY-013183] [InnoDB] Assertion failure: x"])[0]
    assert row["ts"].isoformat() == "2026-03-14T11:02:17.123456+00:00"
    assert (row["level"], row["message"], row["key"]) == ("error", "Assertion failure: x", None)
    assert row["attrs"] == {"thread": "12", "code": "MY-013183", "subsystem": "InnoDB"}


@pytest.mark.parametrize(("word", "level"), [("System", "info"), ("Note", "info"), ("Warning", "warn"),
                                             ("ERROR", "error"), ("Error", "error")])
def test_level_brackets_map_to_levels(word, level):
    assert _rows([f"2026-03-14T11:02:17.000001Z 0 [{word}] x"])[0]["level"] == level


def test_mysql57_time_with_offset_and_innodb_prefix_as_subsystem():
    row = _rows(["2026-03-14T12:02:17.5+01:00 0 [Note] InnoDB: Buffer pool(s) load completed"])[0]
    assert row["ts"].isoformat() == "2026-03-14T11:02:17.500000+00:00"
    assert row["message"] == "InnoDB: Buffer pool(s) load completed" and row["attrs"]["subsystem"] == "InnoDB"


def test_old_headers_read_in_the_given_zone_with_padded_hour():
    rows = _rows(["160314  9:02:17 [ERROR] Can't open table", "2016-03-14 09:02:18 140234 [Warning] w"],
                 tz="Europe/Berlin")
    assert [r["ts"].isoformat() for r in rows] == ["2016-03-14T08:02:17+00:00", "2016-03-14T08:02:18+00:00"]
    assert [r["level"] for r in rows] == ["error", "warn"] and rows[1]["attrs"] == {"thread": "140234"}


def test_user_db_and_host_come_from_connection_messages():
    rows = _rows([
        "2026-03-14T11:04:02.711903Z 16 [Note] [MY-010914] [Server] Aborted connection 16 to db: 'shop' "
        "user: 'app' host: '10.0.3.8' (Got an error reading communication packets).",
        "2026-03-14T11:04:03.000000Z 17 [Note] [MY-010926] [Server] Access denied for user 'root'@'localhost' "
        "(using password: YES)",
    ])
    assert [(r["user"], r["attrs"].get("db"), r["attrs"]["host"]) for r in rows] == [
        ("app", "shop", "10.0.3.8"), ("root", None, "localhost")]


def test_crash_report_continues_the_assertion_and_makes_it_fatal():
    res = check_parse_invariants(mysql, [
        "2026-03-14 11:09:01 0x7f3a2c0f9700  InnoDB: Assertion failure in thread 139887 in file ut0ut.cc line 916",
        "InnoDB: We intentionally generate a memory trap.   ",
        "10:09:01 UTC - mysqld got signal 6 ;",
        "/usr/sbin/mysqld(my_print_stacktrace+0x3b)[0xf0b34b]",
    ], IngestOptions())
    row = res.events.row(0, named=True)
    assert res.continuation_lines == 3 and row["level"] == "fatal"
    assert row["message"].split("\n")[1] == "InnoDB: We intentionally generate a memory trap."
    assert json.loads(row["attrs"]) == {"thread": "0x7f3a2c0f9700", "subsystem": "InnoDB"}


def test_monitor_dump_lines_and_bare_time_lines_continue_the_event():
    res = check_parse_invariants(mysql, [
        "2026-03-14 11:07:31 0x7f3a2c0f9700 INNODB MONITOR OUTPUT",
        "=====================================",
        "LATEST DETECTED DEADLOCK",
        "2026-03-14 11:07:02 0x7f3a2c0b8700",
        "*** (1) TRANSACTION:",
    ], IngestOptions())
    assert (res.events.height, res.continuation_lines, res.rejects.height) == (1, 4, 0)
    assert res.events["level"].to_list() == ["info"]


@pytest.mark.parametrize(("message", "level"), [
    ("mysqld_safe Starting mysqld daemon", "info"), ("InnoDB: Error: unable to create temporary file", "error"),
    ("InnoDB: Warning: io_setup() failed", "warn"), ("UTC - mysqld got signal 11 ;", "fatal"),
])
def test_lines_without_a_level_bracket_get_a_level_from_their_words(message, level):
    assert _rows([f"160314 11:02:17  {message}"])[0]["level"] == level


def test_header_less_lines_first_and_broken_headers_are_malformed():
    res = check_parse_invariants(mysql, [
        "stack_bottom = 7f3a8c0f8d80 thread_stack 0x100000",
        "2026-03-14T11:02:17.000001Z 0 [Note] ok",
        "2026-03-14T11:05:5 1 [ERROR] truncated time",
    ], IngestOptions())
    assert res.rejects["reason"].to_list() == [
        "continuation line with no event before it",
        "malformed MySQL log header (expected <time> [<thread>] [<level>] <message>)"]


def test_sniff_beats_syslog_on_mysql57_lines_with_a_zero_thread_id():
    lines = ["2026-03-14T11:02:17.126310Z 0 [Note] InnoDB: PUNCH HOLE support available"] * 5
    assert formats.sniff(lines) == "mysql"


_FRAGMENTS = st.sampled_from([
    "2026-03-14T11:02:17.123456Z", "160314 11:02:17", "2026-03-14 11:02:17", "0", "12", "0x7f3a2c0f9700",
    "[ERROR]", "[Note]", "[System]", "[MY-013183]", "[InnoDB]", "InnoDB:", "user: 'a'", "'@'", "=====", "é",
    "mysqld got signal 6 ;",
])
_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n"), max_size=80)
_LINE = st.one_of(_TEXT, st.lists(_FRAGMENTS, max_size=7).map(" ".join))


@settings(max_examples=200, deadline=None)
@given(st.lists(_LINE, max_size=25), st.sampled_from(["UTC", "Europe/Berlin"]))
def test_arbitrary_lines_never_raise_and_accounting_holds(texts, tz):
    check_parse_invariants(mysql, texts, IngestOptions(tz=tz))


def _error_log(path: Path, start: datetime, outage: tuple[datetime, datetime]) -> None:
    """About 2,000 events over two hours: connection notes, and InnoDB errors
    during the outage (some with a dump below them)."""
    rnd = random.Random(16)
    lines = []
    for i in range(2000):
        t = start + timedelta(seconds=3.6 * i + rnd.random())
        stamp = t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        thread = rnd.randrange(8, 400)
        if outage[0] <= t < outage[1] and rnd.random() < 0.7:
            lines.append(f"{stamp} {thread} [ERROR] [MY-012592] [InnoDB] Operating system error number 28 "
                         "in a file operation.")
            if rnd.random() < 0.2:
                lines += ["InnoDB: Some operating system error numbers are described at", "InnoDB: http://x/y.html"]
        elif rnd.random() < 0.8:
            lines.append(f"{stamp} {thread} [Note] [MY-010914] [Server] Aborted connection {thread} to db: 'shop' "
                         f"user: 'u{rnd.randrange(50)}' host: '10.0.3.{rnd.randrange(250)}' "
                         "(Got an error reading communication packets).")
        else:
            lines.append(f"{stamp} {thread} [Warning] [MY-010055] [Server] IP address '10.0.4.{rnd.randrange(250)}' "
                         "could not be resolved: Name or service not known")
    path.write_text("\n".join(lines) + "\n")


def test_scan_finds_the_error_burst_of_a_mysql_log_and_nothing_else(tmp_path):
    start = datetime(2026, 3, 14, 10, 0, tzinfo=timezone.utc)
    outage = (start + timedelta(minutes=60), start + timedelta(minutes=70))
    folder = tmp_path / "mysql"
    folder.mkdir()
    _error_log(folder / "error.log", start, outage)
    run = run_timeline([str(folder)])
    rep = run.ingest.accounting.files[0]
    assert (rep.format, rep.events, rep.malformed) == ("mysql", 2000, 0)
    bursts = run.timeline.bursts
    assert bursts, "no burst found"
    assert all(b.start < outage[1] and b.end > outage[0] for b in bursts)
    assert any(b.start <= outage[0] + timedelta(minutes=2) for b in bursts)
