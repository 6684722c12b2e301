"""Envoy's default access log and Istio's sidecar text access log (``envoy``).

Layouts as documented:
  Envoy default format string ("Default format string"):
    https://envoyproxy.io/docs/envoy/v1.13.2/_sources/configuration/observability/access_log.rst.txt
    (current: https://www.envoyproxy.io/docs/envoy/latest/configuration/observability/access_log/usage)
  Istio 1.8+ default text format (RESPONSE_CODE_DETAILS, CONNECTION_TERMINATION_DETAILS,
  "UPSTREAM_TRANSPORT_FAILURE_REASON" after the flags; UPSTREAM_CLUSTER ... ROUTE_NAME at the end):
    https://github.com/istio/istio/pull/27903
    https://support.huaweicloud.com/usermanual-asm/asm_01_0142.md (field table with the example line)
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forensics.ingest import IngestOptions
from forensics.ingest.formats import envoy
from forensics.scan import run_timeline
from golden_util import (
    FOREIGN_LINES, FORMAT_GOLDENS, GOLDEN, check_parse_invariants, golden_sample, mutate, run_golden,
)

RID = "cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2"
ISTIO = ('[2020-11-25T21:26:18.409Z] "GET /status/418 HTTP/1.1" 418 - via_upstream - "-" 0 135 4 4 "-" '
         '"curl/7.73.0-DEV" "84961386-6d84-929d-98bd-c5aee93b5c88" "httpbin:8000" "10.44.1.27:80" '
         "outbound|8000||httpbin.foo.svc.cluster.local 10.44.1.23:37652 10.0.45.184:8000 10.44.1.23:46520 - default")


def line(*, code="200", flags="-", duration="23", ust="21", request="POST /api/v1/orders/42?x=1 HTTP/1.1",
         xff="10.0.35.28", rid=RID, upstream="10.0.2.1:8080", t="2026-03-14T11:02:17.310Z", tail="") -> str:
    """A line in Envoy's default format."""
    return (f'[{t}] "{request}" {code} {flags} 154 312 {duration} {ust} "{xff}" "okhttp/4.12.0" "{rid}" '
            f'"orders.shop.svc" "{upstream}"{tail}')


def one(text: str, **opts) -> dict:
    res = check_parse_invariants(envoy, [text], IngestOptions(**opts))
    assert res.events.height == 1, res.rejects.to_dicts()
    row = res.events.row(0, named=True)
    row["attrs"] = json.loads(row["attrs"]) if row["attrs"] else {}
    return row


# ----------------------------------------------------------------------------- goldens and sniffing

@pytest.mark.parametrize(("folder", "counts"), [("envoy", (18, 1, 2)), ("envoy_istio", (17, 1, 2))])
def test_golden_sample_line_accounting_balances(folder, counts):
    rep = run_golden("envoy", GOLDEN / folder).accounting.files[0]
    assert rep.lines == rep.events + rep.continuation_lines + rep.blank_lines + rep.malformed
    assert (rep.events, rep.blank_lines, rep.malformed) == counts and rep.continuation_lines == 0


@pytest.mark.parametrize("other", sorted(FOREIGN_LINES))
def test_sniff_does_not_claim_foreign_lines(other):
    assert envoy.sniff(FOREIGN_LINES[other]) < 0.5


@pytest.mark.parametrize("folder", sorted(f for f, fmt in FORMAT_GOLDENS.items() if fmt != "envoy"))
def test_sniff_does_not_claim_other_golden_samples(folder):
    assert envoy.sniff(golden_sample(GOLDEN / folder)) < 0.5


# ----------------------------------------------------------------------------- mappings

def test_start_time_keeps_its_milliseconds():
    assert one(line())["ts"] == datetime(2026, 3, 14, 11, 2, 17, 310000, tzinfo=timezone.utc)


def test_duration_is_the_latency_in_milliseconds_and_upstream_time_stays_in_attrs():
    row = one(line(duration="2003", ust="1998"))
    assert row["latency_ms"] == 2003.0 and row["attrs"]["upstream_service_time_ms"] == 1998
    row = one(line(ust="-"))
    assert "upstream_service_time_ms" not in row["attrs"]


def test_request_id_status_action_and_message():
    row = one(line())
    assert (row["request_id"], row["status"], row["action"]) == (RID, 200, "POST /api/v1/orders/{id}")
    assert row["message"] == "POST /api/v1/orders/42?x=1 HTTP/1.1" and row["attrs"]["path"] == "/api/v1/orders/42?x=1"
    assert one(line(rid="-"))["request_id"] is None


@pytest.mark.parametrize(("code", "flags", "level"), [
    ("200", "-", "info"), ("404", "NR", "warn"), ("429", "RL", "warn"), ("503", "UH", "error"), ("504", "UT", "error"),
    ("0", "DC", "warn"), ("0", "UF,URX", "error"), ("0", "-", "info"), ("-", "UO", "error"),
])
def test_level_from_the_status_and_without_one_from_the_response_flags(code, flags, level):
    row = one(line(code=code, flags=flags))
    assert row["level"] == level
    assert row["attrs"].get("response_flags") == (None if flags == "-" else flags)


def test_response_code_zero_is_kept_and_dash_is_null():
    assert one(line(code="0", flags="DC"))["status"] == 0
    assert one(line(code="-"))["status"] is None


def test_client_is_the_first_forwarded_address():
    assert one(line(xff="203.0.113.9, 10.0.35.28"))["attrs"]["remote_addr"] == "203.0.113.9"
    row = one(line(xff="-"))
    assert "remote_addr" not in row["attrs"] and "x_forwarded_for" not in row["attrs"]


def test_tcp_proxy_lines_are_events_without_request():
    row = one(line(request="- - -", code="0", rid="-", duration="60004"))
    assert (row["action"], row["message"], row["latency_ms"]) == (None, None, 60004.0)


def test_istio_fields_get_their_names():
    row = one(ISTIO)
    attrs = row["attrs"]
    assert (row["status"], row["level"], row["request_id"]) == (418, "warn", "84961386-6d84-929d-98bd-c5aee93b5c88")
    assert attrs["response_code_details"] == "via_upstream" and "connection_termination_details" not in attrs
    assert attrs["upstream_cluster"] == "outbound|8000||httpbin.foo.svc.cluster.local"
    assert attrs["downstream_remote_address"] == "10.44.1.23:46520" and attrs["route_name"] == "default"
    assert attrs["remote_addr"] == "10.44.1.23"  # no X-Forwarded-For: the downstream peer
    assert "extra" not in attrs and "extra_after_flags" not in attrs


def test_other_extra_fields_are_kept_as_written():
    row = one(line(tail=' "tenant-7" 42'))
    assert row["attrs"]["extra"] == '"tenant-7" 42'
    mixer = line().replace(' 200 - 154', ' 200 - "-" "delayed_connect_error:_111" 154')  # Istio 1.5-1.7
    row = one(mixer)
    assert row["attrs"]["extra_after_flags"] == '"-" "delayed_connect_error:_111"' and row["latency_ms"] == 23.0


def test_malformed_lines_say_what_was_expected():
    app = "[2026-03-14 11:02:52.500][1][warning][config] [source/common/config/grpc_stream.h:191] stream closed"
    res = check_parse_invariants(envoy, [app, line()[:-30], "", line()])
    assert res.rejects["line"].to_list() == [1, 2] and res.blank_lines == 1
    reasons = res.rejects["reason"].to_list()
    assert all(r.startswith("not an Envoy access log line: expected the default format's 13 fields") for r in reasons)
    assert reasons[1].endswith("and an unclosed quote (the line is cut short)")


# ----------------------------------------------------------------------------- properties

_FRAGMENTS = st.sampled_from(
    ["[2026-03-14T11:02:17.310Z]", '"GET / HTTP/1.1"', '"- - -"', "200", "0", "-", "UF,URX", "154", "23", '"-"',
     f'"{RID}"', '"10.0.2.1:8080"', "via_upstream", "outbound|8080||x.svc", "10.0.0.1:80", '"', "[", "]", "\\", "ü",
     "\x1b[31m", "\t"]
)
_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"), max_size=80)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(_TEXT, st.lists(_FRAGMENTS, max_size=20).map(" ".join)), max_size=25))
def test_arbitrary_lines_never_raise_and_accounting_holds(texts):
    check_parse_invariants(envoy, texts)


@st.composite
def _mutated(draw):
    """A real line with fields dropped, repeated or replaced, or cut short."""
    return mutate(draw, draw(st.sampled_from([line(), ISTIO, envoy.EXAMPLE])), _FRAGMENTS)


@settings(max_examples=200, deadline=None)
@given(st.lists(_mutated(), min_size=1, max_size=20))
def test_mutated_lines_never_raise_and_accounting_holds(texts):
    check_parse_invariants(envoy, texts)


@settings(max_examples=150, deadline=None)
@given(st.lists(_mutated(), min_size=1, max_size=20))
def test_the_default_layout_pattern_gives_the_same_events_as_the_general_one(texts):
    lines = pl.DataFrame({"line": pl.Series(range(1, len(texts) + 1), dtype=pl.Int64), "text": texts})
    saved = envoy.DEFAULT_MIN_SHARE
    try:
        envoy.DEFAULT_MIN_SHARE = 0.0  # always try the default layout first
        fast = envoy.parse(lines, options=IngestOptions())
        envoy.DEFAULT_MIN_SHARE = 2.0  # never: every line takes LINE_PATTERN
        general = envoy.parse(lines, options=IngestOptions())
    finally:
        envoy.DEFAULT_MIN_SHARE = saved
    assert fast.events.equals(general.events) and fast.rejects.equals(general.rejects)


# ----------------------------------------------------------------------------- end to end

def test_scan_finds_the_burst_of_a_ten_minute_outage(tmp_path):
    start = datetime(2026, 3, 14, 9, 0, tzinfo=timezone.utc)
    out_from, out_to = start + timedelta(minutes=60), start + timedelta(minutes=70)
    lines = []
    for i in range(2400):  # one request every 3 s for 2 h
        t = start + timedelta(seconds=3) * i
        down = out_from <= t < out_to
        path = ("/api/items/{}", "/cart/{}", "/orders/{}")[i % 3].format(i % 50)
        lines.append(line(code="503" if down else "200", flags="UH" if down else "-", ust="-" if down else "20",
                          duration="0" if down else "21", request=f"GET {path} HTTP/1.1",
                          rid=f"{i:08x}-8a1b-4c2d-9e3f-0a1b2c3d4e5f",
                          upstream="-" if down else "10.0.2.1:8080", t=t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"))
    (tmp_path / "envoy.log").write_text("\n".join(lines) + "\n", encoding="utf-8")
    run = run_timeline([str(tmp_path)])
    assert run.ingest.accounting.files[0].format == "envoy"
    bursts = run.timeline.bursts
    assert bursts, "the outage was not found"
    for b in bursts:
        assert b.start < out_to and b.end >= out_from, (b.start, b.end)
