"""Syslog reader: RFC 5424 / RFC 3164 golden sample, year rule, PRI, invariants."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forensics.ingest import formats
from forensics.ingest.formats import syslog
from forensics.ingest.options import IngestOptions
from golden_util import FOREIGN_LINES, assert_golden, check_parse_invariants, golden_sample, run_golden

GOLDEN = Path(__file__).parent / "golden"
HERE = GOLDEN / "syslog"


def _one(text: str, **opts) -> dict:
    res = check_parse_invariants(syslog, [text], IngestOptions(**opts))
    assert res.events.height == 1, res.rejects
    row = res.events.row(0, named=True)
    row["attrs"] = json.loads(row["attrs"]) if row["attrs"] else {}
    return row


def test_golden_sample_matches_expected_events_and_rejects():
    assert_golden("syslog", HERE)


def test_golden_sample_line_accounting_balances():
    rep = run_golden("syslog", HERE).accounting.files[0]
    assert rep.lines == rep.events + rep.continuation_lines + rep.blank_lines + rep.malformed
    assert rep.blank_lines == 2 and rep.continuation_lines == 0 and rep.malformed >= 4


def test_sniff_picks_syslog_for_golden_sample():
    assert formats.sniff(golden_sample(HERE)) == "syslog"


@pytest.mark.parametrize("other", ["jsonl", "java", "redis", "logfmt", "access"])
def test_sniff_does_not_claim_other_formats(other):
    assert syslog.sniff(FOREIGN_LINES[other]) < 0.5


@pytest.mark.parametrize("other", ["logfmt", "access"])
def test_sniff_does_not_claim_other_golden_samples(other):
    assert syslog.sniff(golden_sample(GOLDEN / other)) < 0.5


def test_iso_app_log_with_level_word_is_not_sniffed_as_syslog():
    assert syslog.sniff(["2026-03-14T11:02:33Z ERROR api: boom"] * 3) == 0.0


def test_rfc5424_header_fields_and_structured_data():
    row = _one('<165>1 2003-10-11T22:14:15.003Z host app 1234 ID47 [exampleSDID@32473 iut="3" eventSource="App" uid="u1"] hi')
    assert row["ts"].isoformat() == "2003-10-11T22:14:15.003000+00:00"
    assert (row["component"], row["level"], row["user"], row["message"]) == ("app", "info", "u1", "hi")
    assert row["attrs"] == {"host": "host", "pid": "1234", "msgid": "ID47", "facility": "local4", "iut": "3", "eventSource": "App"}


def test_rfc5424_nil_values_become_null():
    row = _one("<14>1 2003-10-11T22:14:15Z - - - - -")
    assert (row["component"], row["message"]) == (None, None)
    assert row["attrs"] == {"facility": "user"}


@pytest.mark.parametrize(("pri", "level"), [(0, "fatal"), (2, "fatal"), (3, "error"), (4, "warn"), (5, "info"), (6, "info"), (7, "debug"), (191, "debug")])
def test_level_comes_from_pri_severity(pri, level):
    assert _one(f"<{pri}>Oct 11 22:14:15 h app: x", default_year=2023)["level"] == level


def test_no_pri_means_null_level_unless_message_says():
    assert _one("Oct 11 22:14:15 h app: x", default_year=2023)["level"] is None
    assert _one("Oct 11 22:14:15 h app: x level=warning", default_year=2023)["level"] == "warn"


def test_pri_above_191_is_rejected():
    res = check_parse_invariants(syslog, ["<192>Oct 11 22:14:15 h app: x"])
    assert res.rejects["reason"].to_list() == ["invalid PRI (above 191)"]


def test_bsd_time_uses_default_year_and_zone():
    row = _one("Jul  1 12:00:00 h app[9]: x", default_year=2021, tz="Europe/Berlin")
    assert row["ts"].isoformat() == "2021-07-01T10:00:00+00:00"
    assert (row["component"], row["attrs"]["pid"], row["attrs"]["host"]) == ("app", "9", "h")


def test_bsd_time_without_year_is_not_more_than_a_day_in_the_future():
    now = datetime.now(timezone.utc)
    for month in ("Jan", "Jun", "Dec"):
        ts = _one(f"{month} 15 00:00:00 h app: x")["ts"]
        assert ts.year in (now.year, now.year - 1)
        assert (ts - now).total_seconds() <= 86400 * 2


def test_tag_without_host_and_message_pairs():
    row = _one("Nov  2 16:15:08 CRON[5]: job done user_id=u1 request_id=r1 (uid=0)", default_year=2023)
    assert (row["component"], row["user"], row["request_id"]) == ("CRON", "u1", "r1")
    assert row["attrs"] == {"pid": "5", "uid": "0"}


def test_lines_without_header_are_malformed_not_continuations():
    res = check_parse_invariants(syslog, ["Oct 11 22:14:15 h app: x", "  at Foo.bar(Foo.java:1)", "", "junk"], IngestOptions(default_year=2023))
    assert res.continuation_lines == 0 and res.blank_lines == 1
    assert res.rejects.select("line", "reason").rows() == [(2, "no syslog header"), (4, "no syslog header")]


def test_apps_using_different_alias_names_in_one_stream_each_fill_user():
    res = check_parse_invariants(
        syslog, ["Oct 11 22:14:15 h a: x user_id=u1", "Oct 11 22:14:16 h b: y uid=u2"], IngestOptions(default_year=2023)
    )
    assert res.events["user"].to_list() == ["u1", "u2"]


_FRAGMENTS = st.sampled_from(
    ["<34>", "<999>", "<165>1", "Oct 11 22:14:15", "Feb 29 10:00:00", "2003-10-11T22:14:15.003Z", "-", "host", "su[123]:",
     "app:", '[id@1 a="b"]', '[x a="\\]"]', "[", "]", "user_id=u1", "(uid=0)", "\ufeff", "\x1b[31m", ":", "ü"]
)
_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n"), max_size=80)
_LINE = st.one_of(_TEXT, st.lists(_FRAGMENTS, max_size=10).map(" ".join))


@settings(max_examples=150, deadline=None)
@given(st.lists(_LINE, max_size=25))
def test_arbitrary_lines_never_raise_and_accounting_holds(texts):
    check_parse_invariants(syslog, texts)
