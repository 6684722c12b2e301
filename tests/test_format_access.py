"""Access-log reader: golden sample, sniffing, extras, nil values, invariants."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forensics.ingest import formats, ingest
from forensics.ingest.formats import access
from forensics.ingest.options import IngestOptions
from shared_data import dataset
from golden_util import FOREIGN_LINES, assert_golden, check_parse_invariants, golden_sample, run_golden

GOLDEN = Path(__file__).parent / "golden"
HERE = GOLDEN / "access"
REAL = dataset("web_access_apache_elastic", "apache_logs")
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


_ADDR = st.sampled_from(["1.2.3.4", "2001:db8::1", "-", "hôst"])
_USER = st.sampled_from(["-", "alice", "b\\ob"])
_TIME = st.sampled_from(["10/Oct/2000:13:55:36 -0700", "02/Nov/2023:16:10:01 +0000", "99/Nov/2023:25:61:00 +0000"])
_REQ = st.sampled_from(["GET /course/123/lecture?x=1 HTTP/1.1", "GET / HTTP/1.0", "-", "GET http://h.example/a HTTP/1.1",
                        "POST /über/9f86d081884c HTTP/2.0", 'GET /a\\"b HTTP/1.1', "OPTIONS *", "GET /x", "\\x16\\x03"])
_QUOTED = st.sampled_from(['"-"', '"Mozilla/5.0 (X11)"', '"a \\"q\\" b"', '"C:\\\\dir"', '"a\\b"', '"ü"', '""'])
_TAIL = st.sampled_from(["", " rt=0.012 rid=r1", " rt=0.5 uid=u7 sid=s1", ' rid=r2 note="a b"', " rt=", ' "10.0.0.1" rt=0.1',
                         " rid=a=b", "  rt=1", " rt=1 ", " x=\\y"])


@st.composite
def _access_line(draw):
    head = f"{draw(_ADDR)} - {draw(_USER)} [{draw(_TIME)}] \"{draw(_REQ)}\" {draw(st.sampled_from(['200', '503', '-']))}"
    size = draw(st.sampled_from(["2326", "-"]))
    quoted = f" {draw(_QUOTED)} {draw(_QUOTED)}" if draw(st.booleans()) else ""
    return f"{draw(st.sampled_from(['', ' ']))}{head} {size}{quoted}{draw(_TAIL)}"


@settings(max_examples=200, deadline=None)
@given(st.lists(_access_line(), min_size=1, max_size=30))
def test_fast_layout_gives_the_same_events_as_the_general_pattern(texts):
    lines = pl.DataFrame({"line": pl.Series(range(1, len(texts) + 1), dtype=pl.Int64), "text": texts})
    saved = access.FAST_PATTERN, access.FAST_MIN_SHARE
    try:
        access.FAST_MIN_SHARE = 0.0  # always try the fast layout first
        fast = access.parse(lines, options=IngestOptions())
        access.FAST_PATTERN = r"[^\s\S]" + saved[0]  # never matches: every line takes LINE_PATTERN
        general = access.parse(lines, options=IngestOptions())
    finally:
        access.FAST_PATTERN, access.FAST_MIN_SHARE = saved
    assert fast.events.equals(general.events)
    assert fast.rejects.equals(general.rejects) and fast.blank_lines == general.blank_lines


def test_fast_layout_covers_the_common_combined_line_only():
    common = '1.2.3.4 - - [02/Nov/2023:16:10:01 +0000] "GET /c/1 HTTP/1.1" 200 12 "-" "ua/1" rt=0.1 rid=r1'
    others = [common.replace('"ua/1"', '"ua \\"x\\""'), common + ' "fwd"', common.replace(" HTTP/1.1", ""),
              " " + common, common + " "]
    hits = pl.Series([common, *others]).str.extract_groups(access.FAST_PATTERN).struct.field("remote_addr")
    assert hits.is_not_null().to_list() == [True] + [False] * len(others)
