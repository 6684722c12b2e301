"""HAProxy HTTP (and TCP) log (``haproxy``), bare or inside a syslog header.

Layout as documented by HAProxy ("8.2.3. HTTP log format", "8.2.2. TCP log
format", "8.4. Timing events", "8.5. Session state at disconnection"):
  https://docs.haproxy.org/2.8/configuration.html#8.2.3
  (1.x text with Tq/Tw/Tc/Tr/Tt: http://www.haproxy.org/download/1.6/doc/configuration.txt)
Syslog headers as in RFC 3164 / RFC 5424 and rsyslog's RSYSLOG_FileFormat (ISO time).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forensics.ingest import IngestOptions, formats
from forensics.ingest.formats import haproxy
from forensics.scan import run_timeline
from golden_util import (
    FOREIGN_LINES, FORMAT_GOLDENS, GOLDEN, check_parse_invariants, golden_sample, mutate, run_golden,
)

UUID = "5f0c7a4e-8a1b-4c2d-9e3f-0a1b2c3d4e5f"


def http(*, timers="10/0/30/69/109", status="200", term="----", headers=" {api.example.com|-} {}",
         request="GET /orders/42?x=1 HTTP/1.1", accept="14/Mar/2026:11:02:17.123", backend="api/srv1") -> str:
    """An HTTP log line in the documented default layout."""
    return (f"10.0.1.2:33317 [{accept}] http-in {backend} {timers} {status} 2750 - - {term} 1/1/1/1/0 0/0"
            f'{headers} "{request}"')


def one(text: str, **opts) -> dict:
    res = check_parse_invariants(haproxy, [text], IngestOptions(**opts))
    assert res.events.height == 1, res.rejects.to_dicts()
    row = res.events.row(0, named=True)
    row["attrs"] = json.loads(row["attrs"]) if row["attrs"] else {}
    return row


# ----------------------------------------------------------------------------- goldens and sniffing

@pytest.mark.parametrize(("folder", "counts"), [("haproxy", (18, 1, 2)), ("haproxy_syslog", (20, 1, 2))])
def test_golden_sample_line_accounting_balances(folder, counts):
    rep = run_golden("haproxy", GOLDEN / folder).accounting.files[0]
    assert rep.lines == rep.events + rep.continuation_lines + rep.blank_lines + rep.malformed
    assert (rep.events, rep.blank_lines, rep.malformed) == counts and rep.continuation_lines == 0


@pytest.mark.parametrize("other", sorted(FOREIGN_LINES))
def test_sniff_does_not_claim_foreign_lines(other):
    assert haproxy.sniff(FOREIGN_LINES[other]) < 0.5


@pytest.mark.parametrize("folder", sorted(f for f, fmt in FORMAT_GOLDENS.items() if fmt != "haproxy"))
def test_sniff_does_not_claim_other_golden_samples(folder):
    assert haproxy.sniff(golden_sample(GOLDEN / folder)) < 0.5


def test_a_syslog_file_with_a_few_haproxy_lines_stays_syslog():
    sample = ["<34>Oct 11 22:14:15 web1 su[123]: 'su root' failed for lonvick"] * 8 + [
        "<134>Oct 11 22:14:16 web1 haproxy[77]: " + http()]
    assert haproxy.sniff(sample) < formats.get("syslog").sniff(sample)
    assert formats.sniff(sample) == "syslog"


# ----------------------------------------------------------------------------- mappings

def test_accept_date_keeps_its_milliseconds_and_is_read_in_the_time_zone_option():
    assert one(http())["ts"] == datetime(2026, 3, 14, 11, 2, 17, 123000, tzinfo=timezone.utc)
    assert one(http(), tz="Europe/Paris")["ts"] == datetime(2026, 3, 14, 10, 2, 17, 123000, tzinfo=timezone.utc)


def test_total_time_is_the_latency_and_the_other_timers_stay_in_attrs():
    row = one(http(timers="10/0/30/69/109"))
    assert row["latency_ms"] == 109.0
    assert [row["attrs"][k] for k in ("t_request_ms", "t_queue_ms", "t_connect_ms", "t_response_ms")] == [10, 0, 30, 69]
    assert one(http(timers="10/0/30/69/+109"))["latency_ms"] == 109.0  # option logasap


def test_aborted_timers_are_kept_and_an_aborted_total_has_no_latency():
    row = one(http(timers="0/0/1/-1/-1", status="-1", term="CH--"))
    assert row["latency_ms"] is None and row["attrs"]["t_response_ms"] == -1


def test_status_minus_one_is_null_and_the_level_comes_from_the_termination_state():
    row = one(http(status="-1", term="CH--"))
    assert (row["status"], row["level"]) == (None, "warn")
    assert one(http(status="-1", term="SH--"))["level"] == "error"
    assert one(http(status="-1", term="----"))["level"] == "info"


@pytest.mark.parametrize(("status", "level"), [("200", "info"), ("302", "info"), ("404", "warn"), ("503", "error")])
def test_level_follows_the_status_class(status, level):
    assert one(http(status=status))["level"] == level


def test_component_is_the_backend_and_the_frontend_and_server_are_attrs():
    row = one(http(backend="checkout/<NOSRV>"))
    assert row["component"] == "checkout"
    assert (row["attrs"]["frontend"], row["attrs"]["server"]) == ("http-in", "<NOSRV>")


def test_action_is_method_and_masked_route():
    row = one(http(request="POST /orders/42/items/9f1c2e7a?x=1 HTTP/1.1"))
    assert row["action"] == "POST /orders/{id}/items/{id}"
    assert row["message"] == "POST /orders/42/items/9f1c2e7a?x=1 HTTP/1.1"
    assert row["attrs"]["path"] == "/orders/42/items/9f1c2e7a?x=1"
    row = one(http(request="<BADREQ>", status="400", term="CR--"))
    assert (row["action"], row["message"]) == (None, "<BADREQ>")


@pytest.mark.parametrize(("headers", "rid"), [
    (f" {{api.example.com|{UUID}}} {{}}", UUID),
    (" {api.example.com|7F000001:8296_7F00001E:1F90_4F7B0A69_0003:790A}",
     "7F000001:8296_7F00001E:1F90_4F7B0A69_0003:790A"),  # HAProxy's own unique-id
    (" {Root=1-58337262-36d228ad5d99923122bbe354} {}", "Root=1-58337262-36d228ad5d99923122bbe354"),
    (" {x|aB3dE5fG7hI9jK1lM3nO5p}", "aB3dE5fG7hI9jK1lM3nO5p"),
    (f" {{api.example.com}} {{{UUID}}}", UUID),  # from the response headers
    (" {orders-service-v22-backend-internal|Mozilla/5.0 (X11) 2024}", None),  # a host name, a user agent
    (" {deadbeefcafebabe0000|2222222222222222}", "deadbeefcafebabe0000"),
    ("", None),
])
def test_request_id_is_the_first_captured_header_that_looks_like_one(headers, rid):
    assert one(http(headers=headers))["request_id"] == rid


def test_captured_headers_and_cookies_are_kept_as_written():
    row = one(http(headers=f" {{api.example.com|{UUID}}} {{text/html}}"))
    assert row["attrs"]["captured_request_headers"] == f"api.example.com|{UUID}"
    assert row["attrs"]["captured_response_headers"] == "text/html"


@pytest.mark.parametrize("prefix", [
    "<134>Mar 14 11:02:17 lb1 haproxy[2291]: ",
    "Mar 14 11:02:17 lb1 haproxy[2291]: ",
    "<134>Mar 14 11:02:17 haproxy[2291]: ",
    "2026-03-14T11:02:17.123456+01:00 lb1 haproxy[2291]: ",
    "<134>1 2026-03-14T11:02:17.123Z lb1 haproxy 2291 - - ",
    "",
])
def test_the_syslog_header_is_read_and_the_http_log_inside_it_too(prefix):
    row = one(prefix + http(status="503"))
    assert (row["status"], row["level"], row["latency_ms"], row["component"]) == (503, "error", 109.0, "api")
    assert row["ts"] == datetime(2026, 3, 14, 11, 2, 17, 123000, tzinfo=timezone.utc)  # accept_date, not the header
    if "lb1" in prefix:
        assert (row["attrs"]["host"], row["attrs"]["pid"]) == ("lb1", "2291")


def test_tcp_log_lines_are_events_without_status():
    row = one("10.0.1.2:33313 [06/Feb/2009:12:12:51.443] fnt bck/srv1 0/0/5007 212 -- 0/0/0/0/3 0/0")
    assert (row["status"], row["latency_ms"], row["component"], row["level"]) == (None, 5007.0, "bck", "info")
    assert row["attrs"]["retries"] == 3


def test_other_syslog_messages_are_events_with_the_level_of_their_priority():
    res = check_parse_invariants(haproxy, [
        "<129>Mar 14 11:02:20 lb1 haproxy[2291]: Server api/srv2 is DOWN, reason: Layer4 timeout.",
        "<133>Mar 14 11:02:21 lb1 haproxy[2291]: Proxy http-in started.",
        "Mar 14 11:02:22 lb1 haproxy[2291]: backend api has no server available!",
        "Mar 14 11:02:23 lb1 haproxy[2291]: Proxy http-in stopped.",
    ], IngestOptions(default_year=2026))
    assert res.events["level"].to_list() == ["fatal", "info", "error", "info"]
    assert res.events["component"].unique().to_list() == ["haproxy"]
    assert res.events["ts"][0] == datetime(2026, 3, 14, 11, 2, 20, tzinfo=timezone.utc)


def test_a_cut_http_log_inside_a_syslog_header_is_malformed_not_a_message():
    res = check_parse_invariants(haproxy, ["<134>Mar 14 11:02:17 lb1 haproxy[2291]: " + http()[:70]])
    assert res.events.height == 0 and res.rejects["reason"][0].startswith("not an HAProxy log line: expected")


def test_a_long_request_cut_by_the_log_length_limit_is_still_an_event():
    text = http(request="GET /search?q=" + "x" * 2000)[:1024]
    row = one(text)
    assert row["status"] == 200 and row["action"] == "GET /search"


def test_malformed_lines_say_what_was_expected():
    res = check_parse_invariants(haproxy, ["hello", http()[:60], "", http()])
    assert res.rejects["line"].to_list() == [1, 2] and res.blank_lines == 1
    assert all("client:port [accept_date] frontend backend/server" in r for r in res.rejects["reason"])
    assert res.rejects["reason"][0].endswith("found 1")


# ----------------------------------------------------------------------------- properties

_FRAGMENTS = st.sampled_from(
    ["<134>", "Mar 14 11:02:17", "lb1", "haproxy[2291]:", "10.0.1.2:33317", "[14/Mar/2026:11:02:17.123]", "http-in",
     "api/srv1", "10/0/30/69/109", "0/-1/-1/-1/0", "200", "-1", "2750", "-", "----", "CD--", "1/1/1/1/0", "0/0",
     "{a|b}", "{}", '"GET / HTTP/1.1"', '"', "{", "}", "|", "\\", "ü", "\x1b[31m", "2026-03-14T11:02:17Z"]
)
_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"), max_size=80)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(_TEXT, st.lists(_FRAGMENTS, max_size=16).map(" ".join)), max_size=25))
def test_arbitrary_lines_never_raise_and_accounting_holds(texts):
    check_parse_invariants(haproxy, texts, IngestOptions(default_year=2026))


@st.composite
def _mutated(draw):
    """A real line (bare or in a syslog header) with fields dropped, repeated or replaced, or cut short."""
    tcp = "10.0.1.2:1 [06/Feb/2009:12:12:51.443] f b/s 0/0/5 1 -- 0/0/0/0/0 0/0"
    return mutate(draw, draw(st.sampled_from([http(), haproxy.EXAMPLE, tcp])), _FRAGMENTS)


@settings(max_examples=200, deadline=None)
@given(st.lists(_mutated(), min_size=1, max_size=20))
def test_mutated_lines_never_raise_and_accounting_holds(texts):
    check_parse_invariants(haproxy, texts, IngestOptions(default_year=2026))


# ----------------------------------------------------------------------------- end to end

def test_scan_finds_the_burst_of_a_ten_minute_outage(tmp_path):
    start = datetime(2026, 3, 14, 9, 0, tzinfo=timezone.utc)
    out_from, out_to = start + timedelta(minutes=60), start + timedelta(minutes=70)
    lines = []
    for i in range(2400):  # one request every 3 s for 2 h, in a syslog header
        t = start + timedelta(seconds=3, milliseconds=41) * i
        down = out_from <= t < out_to
        path = ("/api/items/{}", "/cart/{}", "/orders/{}")[i % 3].format(i % 50)
        accept = t.strftime("%d/%b/%Y:%H:%M:%S.") + f"{t.microsecond // 1000:03d}"
        line = http(accept=accept, status="503" if down else "200", term="SC--" if down else "----",
                    timers="0/-1/-1/-1/0" if down else "0/0/1/20/21", backend="api/<NOSRV>" if down else "api/srv1",
                    headers=f" {{api.example.com|{i:08x}-8a1b-4c2d-9e3f-0a1b2c3d4e5f}}", request=f"GET {path} HTTP/1.1")
        lines.append(t.strftime("<134>%b %d %H:%M:%S lb1 haproxy[2291]: ") + line)
    (tmp_path / "haproxy.log").write_text("\n".join(lines) + "\n", encoding="utf-8")
    run = run_timeline([str(tmp_path)])
    assert run.ingest.accounting.files[0].format == "haproxy"
    bursts = run.timeline.bursts
    assert bursts, "the outage was not found"
    for b in bursts:
        assert b.start < out_to and b.end >= out_from, (b.start, b.end)
