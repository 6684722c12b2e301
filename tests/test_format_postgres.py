"""PostgreSQL stderr reader: golden sample, sniffing, secondary lines, zones, sqlcommenter, invariants."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forensics.ingest import formats
from forensics.ingest.formats import postgres
from forensics.ingest.options import IngestOptions
from golden_util import FOREIGN_LINES, assert_golden, check_parse_invariants, golden_sample, run_golden

GOLDEN = Path(__file__).parent / "golden"
HERE = GOLDEN / "postgres"


def _events(texts: list[str], **opts) -> list[dict]:
    res = check_parse_invariants(postgres, texts, IngestOptions(**opts))
    rows = res.events.sort("line").to_dicts()
    for row in rows:
        row["attrs"] = json.loads(row["attrs"]) if row["attrs"] else {}
    return rows


def test_golden_sample_matches_expected_events_and_rejects():
    assert_golden("postgres", HERE)


def test_golden_sample_line_accounting_balances():
    rep = run_golden("postgres", HERE).accounting.files[0]
    assert rep.lines == rep.events + rep.continuation_lines + rep.blank_lines + rep.malformed
    assert (rep.events, rep.continuation_lines, rep.blank_lines, rep.malformed) == (18, 8, 2, 5)


def test_sniff_picks_postgres_for_golden_sample():
    assert formats.sniff(golden_sample(HERE)) == "postgres"


@pytest.mark.parametrize("other", ["jsonl", "java", "redis", "access", "logfmt", "syslog"])
def test_sniff_does_not_claim_other_formats(other):
    assert postgres.sniff(FOREIGN_LINES[other]) < 0.5


@pytest.mark.parametrize("other", ["plain", "plain_python", "redis", "access", "logfmt", "syslog"])
def test_sniff_does_not_claim_other_golden_samples(other):
    assert postgres.sniff(golden_sample(GOLDEN / other)) < 0.5


def test_plain_line_with_error_colon_is_not_postgres():
    # PostgreSQL always prints the zone after %m/%t; a bare timestamp is not enough.
    assert postgres.sniff(["2026-03-14 11:03:23 ERROR: disk full"]) == 0.0


def test_secondary_lines_attach_to_latest_event_of_same_pid():
    rows = _events([
        "2026-03-14 11:02:36.500 UTC [7] ERROR:  relation \"quizz\" does not exist",
        "2026-03-14 11:02:36.500 UTC [8] WARNING:  there is no transaction in progress",
        "2026-03-14 11:02:36.500 UTC [7] STATEMENT:  SELECT * FROM quizz",
        "2026-03-14 11:02:36.501 UTC [9] HINT:  pid 9 has no event: goes to the previous event",
    ])
    assert rows[0]["attrs"] == {"pid": 7, "statement": "SELECT * FROM quizz"}
    assert rows[1]["attrs"] == {"pid": 8, "hint": "pid 9 has no event: goes to the previous event"}


def test_tab_indented_lines_extend_the_line_above_with_tab_removed():
    rows = _events([
        "2026-03-14 11:02:35.250 UTC [5] LOG:  statement: SELECT a,",
        "\t  b FROM t",
        "2026-03-14 11:02:35.250 UTC [5] DETAIL:  first",
        "\tsecond",
    ])
    assert rows[0]["message"] == "statement: SELECT a,\n  b FROM t"
    assert rows[0]["attrs"]["detail"] == "first\nsecond"


def test_unindented_line_without_prefix_is_malformed_not_continuation():
    res = check_parse_invariants(postgres, ["2026-03-14 11:02:35 UTC [5] LOG:  ok", "cp: cannot stat 'x'"], IngestOptions())
    assert res.continuation_lines == 0
    assert res.rejects["reason"].to_list() == ["no PostgreSQL log prefix"]


def test_secondary_line_before_any_event_is_malformed():
    res = check_parse_invariants(postgres, ["2026-03-14 11:02:35 UTC [5] DETAIL:  orphan", "\tmore"], IngestOptions())
    assert res.events.height == 0
    assert res.rejects["reason"].to_list() == ["continuation line with no event before it"] * 2


def test_sqlcommenter_request_id_and_user_id_link_the_query_to_the_request():
    row = _events([
        "2026-03-14 11:02:35 UTC [5] ERROR:  deadlock detected",
        "2026-03-14 11:02:35 UTC [5] STATEMENT:  UPDATE t SET x=1 /*request_id='abc123',user_id='u42',action='open_lecture',route='%2Fcourse%2F17'*/",
    ])[0]
    assert (row["request_id"], row["user"], row["action"]) == ("abc123", "u42", "open_lecture")
    assert row["attrs"]["route"] == "/course/17"


def test_key_values_in_sql_text_are_not_extracted():
    row = _events(["2026-03-14 11:02:35 UTC [5] LOG:  duration: 3.5 ms  statement: SELECT * FROM u WHERE user_id=42 AND key='k'"])[0]
    assert row["user"] is None and row["key"] is None
    assert row["latency_ms"] == pytest.approx(3.5)


def test_database_role_goes_to_attrs_not_canonical_user():
    row = _events([
        "2026-03-14 11:02:37 UTC [12349]: [3-1] user=lms_app,db=lms,app=lms web,client=10.0.4.21 LOG:  connection authorized: user=lms_app database=lms"
    ])[0]
    assert row["user"] is None
    assert row["attrs"] == {"pid": 12349, "db_user": "lms_app", "database": "lms", "application": "lms web", "client": "10.0.4.21"}


def test_user_at_db_prefix_and_unknown_placeholders():
    rows = _events([
        "2026-03-14 11:02:38 UTC [1] app@lms FATAL:  password authentication failed",
        "2026-03-14 11:02:39 UTC [2] [unknown]@[unknown] LOG:  connection received: host=10.0.4.22 port=51522",
        "2026-03-14 11:02:40 UTC:10.0.4.23(5432):rds@lms:[3]:LOG:  rds prefix",
    ])
    assert rows[0]["attrs"] == {"pid": 1, "db_user": "app", "database": "lms"}
    assert rows[1]["attrs"] == {"pid": 2, "client": "10.0.4.22", "port": "51522"}
    assert rows[2]["attrs"] == {"pid": 3, "db_user": "rds", "database": "lms", "client": "10.0.4.23"}


@pytest.mark.parametrize(
    ("stamp", "want"),
    [
        ("2026-03-14 11:02:33.158 UTC", "2026-03-14T11:02:33.158000+00:00"),
        ("2026-03-14 12:02:33 CET", "2026-03-14T11:02:33+00:00"),
        ("2026-07-14 13:02:33 CEST", "2026-07-14T11:02:33+00:00"),
        ("2026-03-14 12:02:33 +01", "2026-03-14T11:02:33+00:00"),
        ("2026-03-14 16:32:33 +0530", "2026-03-14T11:02:33+00:00"),
        ("2026-03-14 07:02:33 EDT", "2026-03-14T11:02:33+00:00"),
        ("2026-03-14 12:02:33 QQQ", "2026-03-14T11:02:33+00:00"),  # unknown zone: options.tz
    ],
)
def test_zone_words_and_offsets_become_utc(stamp, want):
    row = _events([f"{stamp} [1] LOG:  x"], tz="Europe/Paris")[0]
    assert row["ts"].isoformat() == want


@pytest.mark.parametrize(("sev", "level"), [("DEBUG3", "debug"), ("LOG", "info"), ("NOTICE", "info"), ("WARNING", "warn"), ("PANIC", "fatal")])
def test_severities_map_to_levels(sev, level):
    assert _events([f"2026-03-14 11:02:33 UTC [1] {sev}:  x"])[0]["level"] == level


_FRAGMENTS = st.sampled_from([
    "2026-03-14 11:02:33.158 UTC [1] LOG:  x", "2026-03-14 11:02:33 CET [2] ERROR:  y",
    "2026-03-14 11:02:33 +01 [2] STATEMENT:  SELECT /*request_id='r',user_id='u'*/", "\tmore", "DETAIL:",
    "user=a,db=b", "[unknown]@x", "duration: 1 ms", "line=3", "pid=4", "=", "'", "/*", "*/", "\x1b[31m", "é",
])
_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n"), max_size=80)
_LINE = st.one_of(_TEXT, st.lists(_FRAGMENTS, max_size=6).map(" ".join), st.lists(_FRAGMENTS, max_size=4).map("".join))


@settings(max_examples=150, deadline=None)
@given(st.lists(_LINE, max_size=25))
def test_any_lines_parse_without_error_and_every_line_is_accounted_for(texts):
    check_parse_invariants(postgres, texts, IngestOptions())
