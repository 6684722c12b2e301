"""AWS access logs (``alb``): Application Load Balancer, Classic ELB and CloudFront standard logs.

Layouts as documented by AWS:
  ALB:        https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-access-logs.html
  Classic:    https://docs.aws.amazon.com/elasticloadbalancing/latest/classic/access-log-collection.html
  CloudFront: https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/standard-logs-reference.md
              (log file fields, "#Fields:" list as in
              https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/AccessLogs.html#BasicDistributionFileFormat)
"""

from __future__ import annotations

import gzip
import json
from datetime import datetime, timedelta, timezone

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forensics.ingest import IngestOptions, ingest
from forensics.ingest.formats import alb, w3c
from forensics.scan import run_timeline
from golden_util import (
    FOREIGN_LINES, FORMAT_GOLDENS, GOLDEN, check_parse_invariants, golden_sample, mutate, run_golden,
)

ELB = ('2026-03-14T09:15:01.945958Z shop-elb 192.168.131.39:2817 10.0.0.1:80 0.000073 0.001048 0.000057 200 200 0 29 '
       '"GET http://www.example.com:80/ HTTP/1.1" "curl/7.38.0" - -')


def alb_line(*, status="200", target_status="200", times=("0.001", "0.052", "0.000"), request=None,
             trace="Root=1-65f2d9a9-3f1c2b7d5e6a4b8c9d0e1f2a", elb="app/shop-alb/50dc6c495c0c9188",
             t="2026-03-14T11:02:17.186641Z", tail=None) -> str:
    """An ALB entry in the documented layout (30 fields unless ``tail`` is given)."""
    request = request or "GET https://shop.example.com:443/orders/42?x=1 HTTP/1.1"
    if tail is None:
        tail = ('"shop.example.com" "-" 1 2026-03-14T11:02:17.133000Z "forward" "-" "-" "10.0.1.17:8080" '
                f'"{target_status}" "-" "-" TID_5f0c7a4e8a1b4c2d')
    return (f"https {t} {elb} 203.0.113.9:52144 10.0.1.17:8080 {' '.join(times)} {status} {target_status} 412 1830 "
            f'"{request}" "Mozilla/5.0" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 '
            f'arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/shop-web/73e2d6bc24d8a067 "{trace}"'
            + (f" {tail}" if tail else ""))


def one(text: str, **opts) -> dict:
    res = check_parse_invariants(alb, [text], IngestOptions(**opts))
    assert res.events.height == 1, res.rejects.to_dicts()
    row = res.events.row(0, named=True)
    row["attrs"] = json.loads(row["attrs"]) if row["attrs"] else {}
    return row


# ----------------------------------------------------------------------------- goldens and sniffing

@pytest.mark.parametrize(("folder", "counts"), [("alb", (19, 1, 2)), ("alb_elb", (18, 1, 2)),
                                                 ("alb_cloudfront", (17, 4, 1))])
def test_golden_sample_line_accounting_balances(folder, counts):
    rep = run_golden("alb", GOLDEN / folder).accounting.files[0]
    assert rep.lines == rep.events + rep.continuation_lines + rep.blank_lines + rep.malformed
    assert (rep.events, rep.blank_lines, rep.malformed) == counts and rep.continuation_lines == 0


@pytest.mark.parametrize("other", sorted(FOREIGN_LINES))
def test_sniff_does_not_claim_foreign_lines(other):
    assert alb.sniff(FOREIGN_LINES[other]) < 0.5


@pytest.mark.parametrize("folder", sorted(f for f, fmt in FORMAT_GOLDENS.items() if fmt != "alb"))
def test_sniff_does_not_claim_other_golden_samples(folder):
    assert alb.sniff(golden_sample(GOLDEN / folder)) < 0.5


def test_gzipped_alb_file_is_read_as_alb_without_malformed_lines(tmp_path):
    # the issue: 101/101 ALB lines of a .gz were "continuation line with no event before it"
    path = tmp_path / "123456789012_elasticloadbalancing_eu-west-1_app.shop-alb.50dc6c495c0c9188_20260314T1105Z.log.gz"
    lines = [alb_line(t=f"2026-03-14T11:{i // 60:02d}:{i % 60:02d}.000000Z") for i in range(101)]
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    rep = ingest([path], options=IngestOptions()).accounting.files[0]
    assert (rep.format, rep.events, rep.malformed) == ("alb", 101, 0)


# ----------------------------------------------------------------------------- mappings

def test_latency_is_the_sum_of_the_three_processing_times_in_milliseconds():
    assert one(alb_line(times=("0.001", "0.052", "0.000")))["latency_ms"] == pytest.approx(53.0)
    assert one(alb_line(times=("0.000086", "1.402", "0.000057")))["latency_ms"] == pytest.approx(1402.143)


@pytest.mark.parametrize("times", [("-1", "-1", "-1"), ("0.000", "-1", "-1")])
def test_minus_one_processing_time_means_no_response_and_no_latency(times):
    row = one(alb_line(status="502", target_status="-", times=times))
    assert row["latency_ms"] is None and row["status"] == 502 and row["level"] == "error"
    assert row["attrs"]["target_processing_time"] == -1.0  # as logged


def test_status_is_the_load_balancers_and_the_targets_is_kept_in_attrs():
    row = one(alb_line(status="502", target_status="200"))
    assert row["status"] == 502 and row["attrs"]["target_status"] == 200


@pytest.mark.parametrize(("status", "level"), [("200", "info"), ("301", "info"), ("404", "warn"), ("460", "warn"),
                                               ("503", "error")])
def test_level_follows_the_status_class(status, level):
    assert one(alb_line(status=status))["level"] == level


def test_request_id_is_the_root_of_the_trace_header():
    assert one(alb_line())["request_id"] == "1-65f2d9a9-3f1c2b7d5e6a4b8c9d0e1f2a"
    full = "Self=1-65f2da17-0b1c2d3e4f5a6b7c8d9e0f1a;Root=1-65f2da17-a4b5c6d7e8f9a0b1c2d3e4f5;Sampled=1"
    row = one(alb_line(trace=full))
    assert row["request_id"] == "1-65f2da17-a4b5c6d7e8f9a0b1c2d3e4f5" and row["attrs"]["trace_header"] == full
    assert "trace_header" not in one(alb_line())["attrs"]
    assert one(alb_line(trace="-"))["request_id"] is None


def test_component_is_the_load_balancer_name():
    assert one(alb_line())["component"] == "shop-alb"
    assert one(alb_line(elb="app/a.b-c/0123456789abcdef"))["component"] == "a.b-c"
    assert one(ELB)["component"] == "shop-elb"


def test_action_is_method_and_masked_route_without_scheme_host_port_or_query():
    row = one(alb_line(request="POST https://shop.example.com:443/orders/42/items/9f1c2e7a?x=1 HTTP/2.0"))
    assert row["action"] == "POST /orders/{id}/items/{id}"
    assert row["attrs"]["path"] == "https://shop.example.com:443/orders/42/items/9f1c2e7a?x=1"
    assert row["message"] == "POST https://shop.example.com:443/orders/42/items/9f1c2e7a?x=1 HTTP/2.0"
    assert one(alb_line(request="GET http://shop.example.com:80 HTTP/1.1"))["action"] == "GET /"


def test_unparsed_request_is_an_event_without_action():
    row = one(alb_line(status="400", target_status="-", request="- - - "))
    assert (row["action"], row["message"], row["status"]) == (None, None, 400)


def test_client_address_and_port_are_split():
    row = one(alb_line())
    assert (row["attrs"]["remote_addr"], row["attrs"]["client_port"]) == ("203.0.113.9", 52144)
    row = one(ELB.replace("192.168.131.39:2817", "[2001:db8::17]:50512"))
    assert (row["attrs"]["remote_addr"], row["attrs"]["client_port"]) == ("2001:db8::17", 50512)


def test_time_is_read_as_utc_with_microseconds():
    assert one(alb_line())["ts"] == datetime(2026, 3, 14, 11, 2, 17, 186641, tzinfo=timezone.utc)
    assert one(alb_line(), tz="Europe/Paris")["ts"].hour == 11  # "Z": the time zone option does not apply


def test_older_entries_with_fewer_fields_are_read():
    row = one(alb_line(tail=""))  # 2016: up to "trace_id"
    assert row["status"] == 200 and "domain_name" not in row["attrs"]


def test_newer_trailing_fields_are_kept_in_attrs():
    tail = ('"shop.example.com" "-" 1 2026-03-14T11:02:17.133000Z "forward" "-" "-" "10.0.1.17:8080" "200" "-" "-" '
            'TID_5f0c7a4e8a1b4c2d "shop.internal" "/v2/orders/42" "TransformSuccess"')
    row = one(alb_line(tail=tail))
    assert row["attrs"]["conn_trace_id"] == "TID_5f0c7a4e8a1b4c2d"
    assert row["attrs"]["extra"] == '"shop.internal" "/v2/orders/42" "TransformSuccess"'


def test_named_fields_after_the_trace_id_are_in_attrs():
    attrs = one(alb_line())["attrs"]
    assert attrs["actions_executed"] == "forward" and attrs["target_port_list"] == "10.0.1.17:8080"
    assert attrs["request_creation_time"] == "2026-03-14T11:02:17.133000Z" and "redirect_url" not in attrs


def test_malformed_lines_say_what_was_expected_and_what_was_found():
    cut = alb_line()[:-120]
    res = check_parse_invariants(alb, [cut, "hello world", alb_line(), "", ELB[:60]])
    reasons = res.rejects["reason"].to_list()
    assert res.rejects["line"].to_list() == [1, 2, 5] and res.blank_lines == 1
    assert all(r.startswith("not an ALB/ELB access log line: expected 30 fields") for r in reasons)
    assert reasons[0].endswith("and an unclosed quote (the line is cut short)")
    assert reasons[1].endswith("found 2")


def test_classic_elb_line_must_end_after_ssl_protocol():
    res = check_parse_invariants(alb, [ELB, ELB + " extra"])
    assert res.events["line"].to_list() == [1] and res.rejects["line"].to_list() == [2]


# ----------------------------------------------------------------------------- CloudFront

CF_FIELDS = w3c.CLOUDFRONT_FIELDS.split()


def cf_line(**values) -> str:
    row = dict.fromkeys(CF_FIELDS, "-")
    row.update({"date": "2026-03-14", "time": "11:02:31", "x-edge-location": "FRA56-P5", "sc-bytes": "392",
                "c-ip": "192.0.2.100", "cs-method": "GET", "cs(Host)": "d111111abcdef8.cloudfront.net",
                "cs-uri-stem": "/api/products/1042", "sc-status": "200", "x-edge-result-type": "Miss",
                "x-edge-request-id": "SOX4xwn4XV6Q4rgb7XiVGOHms_BGlTAC4KyHmureZmBNrjGdRLiNIQ==",
                "cs-protocol-version": "HTTP/2.0", "time-taken": "0.087"})
    row.update(values)
    return "\t".join(row[f] for f in CF_FIELDS)


def cloudfront(*lines: str):
    return check_parse_invariants(alb, ["#Version: 1.0", "#Fields: " + w3c.CLOUDFRONT_FIELDS, *lines])


def test_cloudfront_time_taken_is_seconds_and_becomes_milliseconds():
    res = cloudfront(cf_line(), cf_line(**{"time-taken": "30.014", "sc-status": "504"}))
    assert res.events["latency_ms"].to_list() == pytest.approx([87.0, 30014.0])
    assert res.events["level"].to_list() == ["info", "error"]


def test_cloudfront_maps_request_id_distribution_route_and_client():
    row = cloudfront(cf_line(**{"cs-uri-query": "lang=de"})).events.row(0, named=True)
    attrs = json.loads(row["attrs"])
    assert row["request_id"] == "SOX4xwn4XV6Q4rgb7XiVGOHms_BGlTAC4KyHmureZmBNrjGdRLiNIQ=="
    assert (row["component"], row["action"]) == ("d111111abcdef8.cloudfront.net", "GET /api/products/{id}")
    assert attrs["path"] == "/api/products/1042?lang=de" and attrs["remote_addr"] == "192.0.2.100"
    assert attrs["x_edge_result_type"] == "Miss" and attrs["protocol"] == "HTTP/2.0"


def test_cloudfront_directives_are_counted_as_blank_lines():
    res = cloudfront(cf_line(), "", cf_line()[:40])
    assert (res.events.height, res.blank_lines, res.rejects.height) == (1, 3, 1)
    assert res.rejects["reason"][0].startswith("expected 33 fields (the `#Fields:` directive on line 2), found")


def test_cloudfront_lines_without_their_header_use_the_documented_field_list():
    # a later chunk of a large file, or a tail without the header block
    res = check_parse_invariants(alb, [cf_line(), cf_line(**{"sc-status": "502"})])
    assert res.events["status"].to_list() == [200, 502] and res.rejects.height == 0


# ----------------------------------------------------------------------------- properties

_FRAGMENTS = st.sampled_from(
    ["https", "h2", "2026-03-14T11:02:17.186641Z", "app/shop-alb/50dc6c495c0c9188", "203.0.113.9:52144", "-", "-1",
     "0.001", "200", "503", '"GET https://h:443/a HTTP/1.1"', '"- - - "', '"curl/8"', '"Root=1-65f2d9a9-3f1c"',
     '"', "\\", "\t", "#Fields: date time sc-status", "#Version: 1.0", "2026-03-14\t11:02:31\t200", "ü", "\x1b[31m"]
)
_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"), max_size=80)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(_TEXT, st.lists(_FRAGMENTS, max_size=14).map(" ".join)), max_size=25))
def test_arbitrary_lines_never_raise_and_accounting_holds(texts):
    check_parse_invariants(alb, texts)


@st.composite
def _mutated(draw):
    """A real entry with fields dropped, repeated or replaced, or cut short."""
    return mutate(draw, draw(st.sampled_from([alb_line(), ELB, alb_line(tail="")])), _FRAGMENTS)


@settings(max_examples=200, deadline=None)
@given(st.lists(_mutated(), min_size=1, max_size=20))
def test_mutated_entries_never_raise_and_accounting_holds(texts):
    check_parse_invariants(alb, texts)


def _both_ways(texts: list[str]):
    lines = pl.DataFrame({"line": pl.Series(range(1, len(texts) + 1), dtype=pl.Int64), "text": texts})
    saved = alb.QUOTE_SPLIT
    try:
        alb.QUOTE_SPLIT = True
        fast = alb.parse(lines, options=IngestOptions())
        alb.QUOTE_SPLIT = False
        general = alb.parse(lines, options=IngestOptions())
    finally:
        alb.QUOTE_SPLIT = saved
    return fast, general


@settings(max_examples=150, deadline=None)
@given(st.lists(_mutated(), min_size=1, max_size=20))
def test_splitting_at_quotes_gives_the_same_events_as_the_field_patterns(texts):
    fast, general = _both_ways(texts)
    assert fast.events.equals(general.events) and fast.rejects.equals(general.rejects)


def test_golden_entries_read_the_same_both_ways():
    texts = (GOLDEN / "alb" / "input.log").read_text().splitlines()
    fast, general = _both_ways(texts)
    assert fast.events.height == 19 and fast.events.equals(general.events)


def test_an_escaped_quote_in_the_user_agent_is_read():
    row = one(alb_line().replace('"Mozilla/5.0"', '"Mozilla/5.0 \\"x\\""'))
    assert row["attrs"]["user_agent"] == 'Mozilla/5.0 \\"x\\"' and row["status"] == 200


# ----------------------------------------------------------------------------- end to end

def test_scan_finds_the_burst_of_a_ten_minute_outage(tmp_path):
    start = datetime(2026, 3, 14, 9, 0, tzinfo=timezone.utc)
    out_from, out_to = start + timedelta(minutes=60), start + timedelta(minutes=70)
    lines = []
    for i in range(2400):  # one request every 3 s for 2 h
        t = start + timedelta(seconds=3 * i)
        down = out_from <= t < out_to
        route = ("GET /api/items/{}", "POST /cart/{}", "GET /orders/{}")[i % 3].format(i % 50)
        method, path = route.split(" ")
        lines.append(alb_line(status="503" if down else "200", target_status="-" if down else "200",
                              times=("0.000", "-1", "-1") if down else ("0.001", "0.020", "0.000"),
                              request=f"{method} https://shop.example.com:443{path} HTTP/1.1",
                              trace=f"Root=1-65f2d9a9-{i:024x}",
                              t=t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")))
    (tmp_path / "shop.log").write_text("\n".join(lines) + "\n", encoding="utf-8")
    run = run_timeline([str(tmp_path)])
    assert run.ingest.accounting.files[0].format == "alb"
    bursts = run.timeline.bursts
    assert bursts, "the outage was not found"
    for b in bursts:
        assert b.start < out_to and b.end >= out_from, (b.start, b.end)
