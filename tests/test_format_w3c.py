"""W3C extended logs with ``#Fields`` directives (``w3c``): IIS.

Layouts as documented:
  IIS W3C extended fields (date/time in UTC, time-taken in milliseconds, "-" for no value, default fields):
    https://learn.microsoft.com/en-us/previous-versions/windows/it-pro/windows-server-2003/cc786596(v=ws.10)
    https://learn.microsoft.com/windows/desktop/Http/w3c-logging
  W3C directives (#Version, #Fields, #Software, #Date, #Remark): https://www.w3.org/TR/WD-logfile.html
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forensics.ingest import IngestOptions, formats
from forensics.ingest.formats import w3c
from forensics.scan import run_timeline
from golden_util import (
    FOREIGN_LINES, FORMAT_GOLDENS, GOLDEN, check_parse_invariants, golden_sample, mutate, run_golden,
)

HEADER = ["#Software: Microsoft Internet Information Services 10.0", "#Version: 1.0", "#Date: 2026-03-14 11:00:00",
          "#Fields: " + w3c.IIS_FIELDS]


def iis(*, t="11:00:01", method="GET", stem="/orders/42", query="view=full", user="alice", status="200",
        sub="0", win="0", taken="15", ua="Mozilla/5.0+(X11;+Linux+x86_64)") -> str:
    """A data line for IIS's default fields."""
    return f"2026-03-14 {t} 10.0.0.5 {method} {stem} {query} 443 {user} 203.0.113.9 {ua} - {status} {sub} {win} {taken}"


def parse(*lines: str, **opts):
    return check_parse_invariants(w3c, [*HEADER, *lines], IngestOptions(**opts))


def one(text: str, **opts) -> dict:
    res = parse(text, **opts)
    assert res.events.height == 1, res.rejects.to_dicts()
    row = res.events.row(0, named=True)
    row["attrs"] = json.loads(row["attrs"]) if row["attrs"] else {}
    return row


# ----------------------------------------------------------------------------- goldens and sniffing

@pytest.mark.parametrize(("folder", "counts"), [("w3c", (15, 9, 2)), ("w3c_restart", (11, 10, 1))])
def test_golden_sample_line_accounting_balances(folder, counts):
    # directive lines are counted with the blank lines
    rep = run_golden("w3c", GOLDEN / folder).accounting.files[0]
    assert rep.lines == rep.events + rep.continuation_lines + rep.blank_lines + rep.malformed
    assert (rep.events, rep.blank_lines, rep.malformed) == counts and rep.continuation_lines == 0


@pytest.mark.parametrize("other", sorted(FOREIGN_LINES))
def test_sniff_does_not_claim_foreign_lines(other):
    assert w3c.sniff(FOREIGN_LINES[other]) < 0.5


@pytest.mark.parametrize("folder", sorted(f for f, fmt in FORMAT_GOLDENS.items() if fmt != "w3c"))
def test_sniff_does_not_claim_other_golden_samples(folder):
    # CloudFront standard logs (alb_cloudfront) are W3C too, but the alb format claims them
    assert w3c.sniff(golden_sample(GOLDEN / folder)) < 0.5


def test_headerless_default_iis_lines_are_still_sniffed_as_w3c():
    assert formats.sniff([iis(), iis(status="500")]) == "w3c"


# ----------------------------------------------------------------------------- mappings

def test_date_and_time_are_utc_whatever_the_time_zone_option():
    expect = datetime(2026, 3, 14, 11, 0, 1, tzinfo=timezone.utc)
    assert one(iis())["ts"] == expect and one(iis(), tz="Europe/Paris")["ts"] == expect


def test_time_taken_is_milliseconds():
    assert one(iis(taken="1203"))["latency_ms"] == 1203.0


def test_username_is_the_user_and_dash_is_null():
    assert one(iis(user="CORP\\alice"))["user"] == "CORP\\alice"
    row = one(iis(user="-", query="-"))
    assert row["user"] is None and row["attrs"]["path"] == "/orders/42"


@pytest.mark.parametrize(("status", "level"), [("200", "info"), ("304", "info"), ("401", "warn"), ("500", "error")])
def test_status_and_level(status, level):
    row = one(iis(status=status, sub="2", win="5"))
    assert (row["status"], row["level"]) == (int(status), level)
    assert (row["attrs"]["sc_substatus"], row["attrs"]["sc_win32_status"]) == ("2", "5")


def test_action_is_method_and_masked_route_and_the_path_keeps_the_query():
    row = one(iis(method="POST", stem="/api/orders/10428/approve", query="a=1&b=2"))
    assert row["action"] == "POST /api/orders/{id}/approve"
    assert row["attrs"]["path"] == "/api/orders/10428/approve?a=1&b=2" and row["attrs"]["method"] == "POST"
    assert row["message"] == "POST /api/orders/10428/approve?a=1&b=2"


def test_client_and_user_agent_use_the_access_log_names():
    attrs = one(iis())["attrs"]
    assert (attrs["remote_addr"], attrs["user_agent"]) == ("203.0.113.9", "Mozilla/5.0+(X11;+Linux+x86_64)")
    assert attrs["s_ip"] == "10.0.0.5" and "referer" not in attrs


def test_each_line_is_read_with_the_latest_fields_directive_above_it():
    res = check_parse_invariants(w3c, [
        *HEADER, iis(status="500"),
        "#Software: Microsoft Internet Information Services 10.0", "#Version: 1.0", "#Date: 2026-03-14 12:00:00",
        "#Fields: date time cs-method cs-uri-stem sc-status time-taken cs-username cs(X-Request-ID) sc-bytes",
        "2026-03-14 12:00:01 GET /health 200 3 - 6a1f0c2e-3b4d-4e5f-8a6b-7c8d9e0f1a2b 120",
        iis(),  # an old-layout line after the new header: the count does not fit
    ])
    assert res.events["status"].to_list() == [500, 200] and res.blank_lines == 8
    row = res.events.row(1, named=True)
    assert row["request_id"] == "6a1f0c2e-3b4d-4e5f-8a6b-7c8d9e0f1a2b" and json.loads(row["attrs"])["bytes"] == 120
    assert res.rejects["reason"].to_list() == ["expected 9 fields (the `#Fields:` directive on line 9), found 15"]


def test_a_time_without_a_date_field_takes_the_date_directive():
    res = check_parse_invariants(w3c, ["#Date: 2026-03-14 00:00:00", "#Fields: time cs-method cs-uri-stem sc-status",
                                       "11:00:01 GET / 200"])
    assert res.events["ts"][0] == datetime(2026, 3, 14, 11, 0, 1, tzinfo=timezone.utc)


def test_lines_before_any_fields_directive():
    res = check_parse_invariants(w3c, [iis(), "2026-03-14 11:00:02 GET / 200"])
    assert res.events["line"].to_list() == [1]  # the IIS default field list fits
    assert res.rejects["reason"][0].startswith("data line before any `#Fields:` directive")


def test_a_hash_line_that_is_not_a_directive_is_malformed():
    res = parse("# ---- app pool recycled ----", iis())
    assert res.rejects["line"].to_list() == [5] and res.blank_lines == 4


def test_httperr_lines_use_the_full_uri_and_a_missing_status_is_info():
    # HTTP.sys error log (HTTPERR): same directives, other fields
    res = check_parse_invariants(w3c, [
        "#Fields: date time c-ip c-port s-ip s-port cs-version cs-method cs-uri streamid sc-status s-siteid "
        "s-reason s-queuename",
        "2026-03-14 11:00:01 203.0.113.9 52144 10.0.0.5 443 HTTP/1.1 GET http://shop.example.com:443/orders/42 - - - "
        "Timer_ConnectionIdle -",
        "2026-03-14 11:00:02 203.0.113.9 52150 10.0.0.5 443 HTTP/1.1 POST /checkout - 503 2 QueueFull DefaultAppPool",
    ])
    rows = res.events.to_dicts()
    assert [(r["status"], r["level"], r["action"]) for r in rows] == [
        (None, "info", "GET /orders/{id}"), (503, "error", "POST /checkout")]
    assert json.loads(rows[0]["attrs"])["s_reason"] == "Timer_ConnectionIdle"


def test_repeated_field_names_do_not_collide():
    res = check_parse_invariants(w3c, ["#Fields: date time cs-method cs-uri-stem sc-status x x",
                                       "2026-03-14 11:00:01 GET / 200 a b"])
    assert json.loads(res.events["attrs"][0]) == {"path": "/", "method": "GET", "x": "a", "x_2": "b"}


# ----------------------------------------------------------------------------- properties

_FRAGMENTS = st.sampled_from(
    ["#Fields:", "#Fields: date time sc-status", "#Version: 1.0", "#Date:", "#", "2026-03-14", "11:00:01", "GET",
     "/a", "-", "200", "0", "15", "\t", "CORP\\alice", "Mozilla/5.0+(X11)", "ü", "\x1b[31m", "99:99:99", "2026-13-40"]
)
_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"), max_size=80)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(_TEXT, st.lists(_FRAGMENTS, max_size=16).map(" ".join)), max_size=25))
def test_arbitrary_lines_never_raise_and_accounting_holds(texts):
    check_parse_invariants(w3c, texts)


@st.composite
def _mutated(draw):
    """A header block and data lines with fields dropped, repeated or replaced, or cut short."""
    out = list(HEADER[: draw(st.integers(0, 4))])
    for _ in range(draw(st.integers(1, 6))):
        out.append(mutate(draw, iis(), _FRAGMENTS, edits=2))
    return out


@settings(max_examples=200, deadline=None)
@given(_mutated())
def test_mutated_files_never_raise_and_accounting_holds(texts):
    check_parse_invariants(w3c, texts)


# ----------------------------------------------------------------------------- end to end

def test_scan_finds_the_burst_of_a_ten_minute_outage(tmp_path):
    start = datetime(2026, 3, 14, 9, 0, tzinfo=timezone.utc)
    out_from, out_to = start + timedelta(minutes=60), start + timedelta(minutes=70)
    lines = list(HEADER)
    for i in range(2400):  # one request every 3 s for 2 h
        t = start + timedelta(seconds=3) * i
        down = out_from <= t < out_to
        stem = ("/api/items/{}", "/cart/{}", "/orders/{}")[i % 3].format(i % 50)
        lines.append(iis(t=t.strftime("%H:%M:%S"), stem=stem, query="-", user=f"u{i % 40}",
                         status="500" if down else "200", taken="30021" if down else "21"))
        if t == start + timedelta(minutes=30):  # a restart writes a new directive block
            lines += [h.replace("11:00:00", "09:30:00") for h in HEADER]
    (tmp_path / "u_ex260314.log").write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    run = run_timeline([str(tmp_path)])
    rep = run.ingest.accounting.files[0]
    assert (rep.format, rep.events, rep.malformed) == ("w3c", 2400, 0)
    bursts = run.timeline.bursts
    assert bursts, "the outage was not found"
    for b in bursts:
        assert b.start < out_to and b.end >= out_from, (b.start, b.end)
