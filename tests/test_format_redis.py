"""Redis reader: golden sample, sniffing, roles, level chars, old 2.x form and its year, banner, invariants."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forensics.ingest import formats
from forensics.ingest.formats import redis
from forensics.ingest.options import IngestOptions
from golden_util import FOREIGN_LINES, assert_golden, check_parse_invariants, golden_sample, run_golden

GOLDEN = Path(__file__).parent / "golden"
HERE = GOLDEN / "redis"


def _events(texts: list[str], **opts) -> list[dict]:
    res = check_parse_invariants(redis, texts, IngestOptions(**opts))
    rows = res.events.sort("line").to_dicts()
    for row in rows:
        row["attrs"] = json.loads(row["attrs"]) if row["attrs"] else {}
    return rows


def test_golden_sample_matches_expected_events_and_rejects():
    assert_golden("redis", HERE)


def test_golden_sample_line_accounting_balances():
    rep = run_golden("redis", HERE).accounting.files[0]
    assert rep.lines == rep.events + rep.continuation_lines + rep.blank_lines + rep.malformed
    assert (rep.events, rep.continuation_lines, rep.blank_lines, rep.malformed) == (20, 16, 2, 3)


def test_sniff_picks_redis_for_golden_sample():
    assert formats.sniff(golden_sample(HERE)) == "redis"


@pytest.mark.parametrize("other", ["jsonl", "java", "access", "logfmt", "syslog"])
def test_sniff_does_not_claim_other_formats(other):
    assert redis.sniff(FOREIGN_LINES[other]) < 0.5


@pytest.mark.parametrize("other", ["plain", "plain_python", "postgres", "access", "logfmt", "syslog"])
def test_sniff_does_not_claim_other_golden_samples(other):
    assert redis.sniff(golden_sample(GOLDEN / other)) < 0.5


@pytest.mark.parametrize(
    ("role", "name"), [("M", "master"), ("S", "replica"), ("C", "child"), ("X", "sentinel")]
)
def test_role_char_becomes_role_attr_with_pid(role, name):
    row = _events([f"12345:{role} 14 Mar 2026 11:02:33.158 * Ready to accept connections tcp"])[0]
    assert row["attrs"] == {"pid": 12345, "role": name}
    assert row["message"] == "Ready to accept connections tcp"
    assert row["ts"].isoformat() == "2026-03-14T11:02:33.158000+00:00"


@pytest.mark.parametrize(("char", "level"), [(".", "debug"), ("-", "debug"), ("*", "info"), ("#", "warn")])
def test_level_chars_map_to_levels(char, level):
    assert _events([f"1:M 14 Mar 2026 11:02:33.158 {char} x"])[0]["level"] == level


def test_local_time_is_read_in_options_tz():
    row = _events(["1:M 14 Mar 2026 12:02:33.158 * x"], tz="Europe/Berlin")[0]
    assert row["ts"].isoformat() == "2026-03-14T11:02:33.158000+00:00"


def test_old_form_uses_default_year_and_has_no_role():
    rows = _events(["[4242] 14 Mar 11:08:00.123 * DB loaded", "[4242] 14 Mar 11:08:01 # no millis"], default_year=2023)
    assert [r["ts"].isoformat() for r in rows] == ["2023-03-14T11:08:00.123000+00:00", "2023-03-14T11:08:01+00:00"]
    assert rows[0]["attrs"] == {"pid": 4242}


def test_old_form_without_year_moves_future_dates_back_one_year():
    now = datetime.now(timezone.utc)
    past = now - timedelta(days=3)
    future = now + timedelta(days=3)
    texts = [f"[1] {d.day} {d.strftime('%b')} {d.strftime('%H:%M:%S')} * x" for d in (past, future)]
    got = [r["ts"] for r in _events(texts)]
    assert got[0].date() == past.date()
    assert got[1].year == future.year - 1 and (got[1].month, got[1].day) == (future.month, future.day)


def test_banner_and_stack_lines_continue_the_event_above():
    res = check_parse_invariants(redis, [
        "1:M 14 Mar 2026 11:02:30.003 * Running mode=standalone, port=6379.",
        "                _._                                                  ",
        " |    `-._   `._    /     _.-'    |     PID: 12345     ",
        "/usr/bin/redis-server *:6379(lookupKey+0x1a)[0x55d4c1a2b3c4]",
    ], IngestOptions())
    assert res.continuation_lines == 3
    row = res.events.row(0, named=True)
    assert row["message"].split("\n") == [
        "Running mode=standalone, port=6379.",
        "                _._",
        " |    `-._   `._    /     _.-'    |     PID: 12345",
        "/usr/bin/redis-server *:6379(lookupKey+0x1a)[0x55d4c1a2b3c4]",
    ]
    assert json.loads(row["attrs"]) == {"pid": 1, "role": "master", "mode": "standalone", "port": "6379"}


def test_header_less_lines_before_first_event_and_broken_headers_are_malformed():
    res = check_parse_invariants(redis, [
        "           _.-``__ ''-._",
        "1:M 14 Mar 2026 11:07 * truncated header",
        "1:M 14 Mar 2026 11:07:00.000 * ok",
    ], IngestOptions())
    assert res.rejects["reason"].to_list() == ["continuation line with no event before it", "malformed Redis log header"]
    assert res.events.height == 1


def test_key_values_in_message_fill_user_and_key():
    row = _events(["1:M 14 Mar 2026 11:07:00.000 # evicted user=u42 key=lecture:17"])[0]
    assert (row["user"], row["key"]) == ("u42", "lecture:17")


_FRAGMENTS = st.sampled_from([
    "12345:M 14 Mar 2026 11:02:33.158 *", "[1] 14 Mar 11:02:33 #", "1:S 29 Feb 2025 00:00:00.000 .",
    "  _._  ", "x=1,", "pid=3", "line=2", "role=z", "#", "*", "-", "é", "\x1b[0m",
])
_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n"), max_size=80)
_LINE = st.one_of(_TEXT, st.lists(_FRAGMENTS, max_size=6).map(" ".join))


@settings(max_examples=150, deadline=None)
@given(st.lists(_LINE, max_size=25), st.sampled_from([None, 2024]))
def test_any_lines_parse_without_error_and_every_line_is_accounted_for(texts, year):
    check_parse_invariants(redis, texts, IngestOptions(default_year=year))
