"""Access-log reader: golden sample, sniffing, extras, nil values, invariants."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forensics.ingest import formats, ingest
from forensics.ingest.formats import access
from forensics.ingest.options import IngestOptions
from golden_util import FOREIGN_LINES, assert_golden, check_parse_invariants, golden_sample, run_golden

GOLDEN = Path(__file__).parent / "golden"
HERE = GOLDEN / "access"
REAL = Path("/work/shared/datasets/web_access_apache_elastic/apache_logs")
LINE = '1.2.3.4 - {user} [10/Oct/2000:13:55:36 -0700] "{req}" {status} {size} "-" "Mozilla/5.0"{extra}'


def _one(user="-", req="GET /course/123/lecture?x=1 HTTP/1.1", status=200, size=2326, extra="", **opts) -> dict:
    text = LINE.format(user=user, req=req, status=status, size=size, extra=extra)
    res = check_parse_invariants(access, [text], IngestOptions(**opts))
    assert res.events.height == 1, res.rejects
    row = res.events.row(0, named=True)
    row["attrs"] = json.loads(row["attrs"]) if row["attrs"] else {}
    return row


def test_golden_sample_matches_expected_events_and_rejects():
    assert_golden("access", HERE)


def test_golden_sample_line_accounting_balances():
    rep = run_golden("access", HERE).accounting.files[0]
    assert rep.lines == rep.events + rep.continuation_lines + rep.blank_lines + rep.malformed
    assert rep.blank_lines == 2 and rep.malformed == 4


def test_sniff_picks_access_for_golden_sample():
    assert formats.sniff(golden_sample(HERE)) == "access"


@pytest.mark.parametrize("other", ["jsonl", "java", "redis", "logfmt", "syslog"])
def test_sniff_does_not_claim_other_formats(other):
    assert access.sniff(FOREIGN_LINES[other]) < 0.5


@pytest.mark.parametrize("other", ["logfmt", "syslog"])
def test_sniff_does_not_claim_other_golden_samples(other):
    assert access.sniff(golden_sample(GOLDEN / other)) < 0.5


def test_request_becomes_masked_route_action_and_attrs_keep_full_path():
    row = _one()
    assert row["action"] == "GET /course/{id}/lecture"
    assert row["attrs"]["path"] == "/course/123/lecture?x=1"
    assert (row["attrs"]["method"], row["attrs"]["protocol"], row["attrs"]["bytes"]) == ("GET", "HTTP/1.1", 2326)
    assert row["attrs"]["remote_addr"] == "1.2.3.4" and row["attrs"]["user_agent"] == "Mozilla/5.0"
    assert "referer" not in row["attrs"]  # "-" is null


def test_bracketed_time_with_offset_is_read_as_utc():
    assert _one()["ts"].isoformat() == "2000-10-10T20:55:36+00:00"


def test_remote_user_is_the_user_unless_dash_and_extras_alias_wins():
    assert _one(user="alice")["user"] == "alice"
    assert _one(user="-")["user"] is None
    assert _one(user="alice", extra=" uid=u7")["user"] == "u7"


@pytest.mark.parametrize(
    ("extra", "ms"), [(" rt=0.023", 23.0), (" request_time=1.5", 1500.0), (" ms=12", 12.0), (" duration_ms=7.5", 7.5)]
)
def test_latency_extras_are_converted_to_milliseconds(extra, ms):
    assert _one(extra=extra)["latency_ms"] == pytest.approx(ms)


def test_request_and_session_ids_come_from_extras_and_unknown_extras_stay_in_attrs():
    row = _one(extra=' rid=abc sid=s1 urt="0.020"')
    assert (row["request_id"], row["session"], row["attrs"]["urt"]) == ("abc", "s1", "0.020")


def test_level_follows_status_class():
    assert [_one(status=s)["level"] for s in (200, 302, 404, 503)] == ["info", "info", "warn", "error"]


def test_scanner_dash_request_is_an_event_without_action():
    row = _one(req="-", status=400, size="-")
    assert (row["status"], row["action"], row["message"]) == (400, None, None)
    assert "bytes" not in row["attrs"] and "method" not in row["attrs"]


def test_truncated_line_is_rejected():
    text = LINE.format(user="-", req="GET / HTTP/1.1", status=200, size=1, extra="")[:-5]
    res = check_parse_invariants(access, [text, "", "not a log line"])
    assert res.rejects["line"].to_list() == [1, 3] and res.blank_lines == 1


@pytest.mark.skipif(not REAL.exists(), reason="shared dataset not present")
def test_real_apache_file_reads_with_almost_no_malformed_lines():
    rep = ingest([REAL], options=IngestOptions()).accounting.files[0]
    assert rep.format == "access"
    assert rep.lines == 10_000 and rep.malformed <= 5 and rep.events == rep.lines - rep.malformed


_FRAGMENTS = st.sampled_from(
    ["1.2.3.4", "-", "alice", "[10/Oct/2000:13:55:36 -0700]", '"GET / HTTP/1.1"', '"-"', "200", "2326", '"', "\\",
     '"Mozilla/5.0"', "rt=0.1", "uid=u7", 'x="a b"', "[", "]", "line=1", "\x1b[31m", "ü"]
)
_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n"), max_size=80)
_LINE = st.one_of(_TEXT, st.lists(_FRAGMENTS, max_size=12).map(" ".join))


@settings(max_examples=150, deadline=None)
@given(st.lists(_LINE, max_size=25))
def test_arbitrary_lines_never_raise_and_accounting_holds(texts):
    check_parse_invariants(access, texts)
