"""OpenTelemetry logs (OTLP/JSON): golden samples, sniffing, the mappings, line
accounting with many records per line, pretty-printed documents, a scan.

The samples follow the public documentation of the format:
https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding (OTLP/JSON encoding),
https://opentelemetry.io/docs/specs/otel/protocol/file-exporter/ (one request per line),
https://github.com/open-telemetry/opentelemetry-collector-contrib/tree/main/exporter/fileexporter,
https://github.com/open-telemetry/opentelemetry-proto/blob/main/examples/logs.json (pretty-printed),
https://opentelemetry.io/docs/specs/otel/logs/data-model/ (severity numbers, timestamps),
https://opentelemetry.io/docs/specs/semconv/http/http-spans/ and /registry/attributes/ (attribute names).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import forensics.ingest as ingest_mod
from forensics.ingest import formats, ingest
from forensics.ingest.formats import otlp
from forensics.ingest.options import IngestOptions
from forensics.ingest.otlp_values import TOO_DEEP
from forensics.scan import run_timeline
from golden_util import FOREIGN_LINES, check_parse_invariants, golden_sample, run_golden

GOLDEN = Path(__file__).parent / "golden"
LINES, PRETTY = GOLDEN / "otlp", GOLDEN / "otlp_pretty"
T0 = datetime(2024, 11, 5, 14, 0, tzinfo=timezone.utc)


def _nanos(t: datetime) -> str:
    return str(int(t.timestamp()) * 10**9 + t.microsecond * 1000)


def _any(v) -> dict:
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, int):
        return {"intValue": str(v)}
    if isinstance(v, float):
        return {"doubleValue": v}
    if isinstance(v, list):
        return {"arrayValue": {"values": [_any(x) for x in v]}}
    if isinstance(v, dict):
        return {"kvlistValue": {"values": [{"key": k, "value": _any(x)} for k, x in v.items()]}}
    return {"stringValue": v}


def _kv(attrs: dict) -> list[dict]:
    return [{"key": k, "value": _any(v)} for k, v in attrs.items()]


def _rec(t: datetime | None = T0, sev: int | None = 9, body="hello", attrs: dict | None = None, **fields) -> dict:
    r = {"timeUnixNano": _nanos(t) if t else "0", "observedTimeUnixNano": _nanos(t) if t else "0"}
    if sev is not None:
        r["severityNumber"] = sev
    if body is not None:
        r["body"] = _any(body)
    if attrs:
        r["attributes"] = _kv(attrs)
    return {**r, **fields}


def _req(*records: dict, service: str | None = "svc", resource: dict | None = None, scope: dict | None = None) -> str:
    res = ({"service.name": service} if service else {}) | (resource or {})
    sl = {"scope": scope or {"name": "lib"}, "logRecords": list(records)}
    return json.dumps({"resourceLogs": [{"resource": {"attributes": _kv(res)}, "scopeLogs": [sl]}]})


def _parse(*texts: str, **opts):
    return check_parse_invariants(otlp, list(texts), IngestOptions(**opts))


def _one(*records: dict, **req) -> dict:
    res = _parse(_req(*records, **req))
    assert res.events.height == 1, res.rejects
    row = res.events.row(0, named=True)
    row["attrs"] = json.loads(row["attrs"]) if row["attrs"] else {}
    return row


# ----------------------------------------------------------------- goldens


@pytest.mark.parametrize(("folder", "counts"), [
    (LINES, (21, 6, 0, 1, 8)),  # 15 lines give 21 events
    (PRETTY, (5, 3, 294, 1, 14)),  # two documents over 296 lines, a torn third one
], ids=["lines", "pretty"])
def test_golden_sample_line_accounting_balances(folder, counts):
    rep = run_golden("otlp", folder).accounting.files[0]
    assert rep.lines == rep.events - rep.extra_events + rep.continuation_lines + rep.blank_lines + rep.malformed
    assert (rep.events, rep.extra_events, rep.continuation_lines, rep.blank_lines, rep.malformed) == counts


@pytest.mark.parametrize("folder", [LINES, PRETTY], ids=["lines", "pretty"])
def test_sniff_picks_otlp_for_golden_sample_and_no_other_sniffer_beats_it(folder):
    sample = golden_sample(folder)
    assert formats.sniff(sample) == "otlp"
    mine = otlp.sniff(sample)
    for name in formats.names():
        if name != "otlp":
            score = formats.get(name).sniff(sample)
            assert score < mine or (score == mine and formats.PRIORITY.index(name) > formats.PRIORITY.index("otlp"))


@pytest.mark.parametrize("other", sorted(FOREIGN_LINES))
def test_sniff_does_not_claim_foreign_lines(other):
    assert otlp.sniff(FOREIGN_LINES[other]) < 0.5


@pytest.mark.parametrize("other", sorted(p.name for p in GOLDEN.iterdir()
                                         if (p / "input.log").exists() and not p.name.startswith("otlp")))
def test_sniff_does_not_claim_other_golden_samples(other):
    assert otlp.sniff(golden_sample(GOLDEN / other)) < 0.5


def test_sniff_leaves_otlp_traces_and_plain_json_lines_to_others():
    spans = ['{"resourceSpans":[{"resource":{},"scopeSpans":[]}]}'] * 3
    assert otlp.sniff(spans) == 0.0
    assert otlp.sniff(['{"resourceLogs":[]}', *FOREIGN_LINES["jsonl"]]) < 0.5


# ---------------------------------------------------------------- mappings


@pytest.mark.parametrize(("number", "level"), [(1, "debug"), (4, "debug"), (5, "debug"), (8, "debug"), (9, "info"),
                                               (12, "info"), (13, "warn"), (16, "warn"), (17, "error"), (20, "error"),
                                               (21, "fatal"), (24, "fatal")])
def test_severity_number_bands_give_the_level(number, level):
    assert _one(_rec(sev=number))["level"] == level


def test_severity_text_is_read_when_the_number_is_unset_and_kept_in_attrs():
    row = _one(_rec(sev=None, severityText="Warning"))
    assert (row["level"], row["attrs"]["severityText"]) == ("warn", "Warning")
    assert _one(_rec(sev=0, severityText="ERROR2"))["level"] == "error"
    assert _one(_rec(sev=9, severityText="Error"))["level"] == "info"  # the number wins


def test_without_any_severity_a_level_word_early_in_a_text_body_is_read():
    body = "2024-11-05 14:00:10,311 ERROR [pool-2] StockSync - sync failed"
    assert _one(_rec(sev=None, body=body))["level"] == "error"
    assert _one(_rec(sev=None, body="all fine" + " " * 80 + "ERROR later in the text"))["level"] is None


def test_time_unix_nano_gives_ts_to_the_microsecond_and_zero_means_observed():
    t = T0 + timedelta(microseconds=123456)
    rec = _rec(t)
    rec["timeUnixNano"] = _nanos(t)[:-3] + "789"  # nanoseconds below the microsecond are cut
    assert _one(rec)["ts"] == t
    rec = _rec(None)
    rec["observedTimeUnixNano"] = _nanos(t)
    row = _one(rec)
    assert row["ts"] == t and "time_note" not in row["attrs"] and "timeUnixNano" not in row["attrs"]


def test_a_record_without_usable_time_takes_its_requests_earliest_and_says_so():
    res = _parse(_req(_rec(T0 + timedelta(seconds=5), body="a"), _rec(None, body="b"), _rec(T0, body="c")))
    rows = res.events.sort("message").rows(named=True)
    assert [r["ts"] for r in rows] == [T0 + timedelta(seconds=5), T0, T0]
    assert "time_note" in json.loads(rows[1]["attrs"]) and "time_note" not in json.loads(rows[0]["attrs"])


def test_a_request_without_any_usable_time_is_malformed_with_the_reason():
    far = _rec(T0)
    far["timeUnixNano"] = far["observedTimeUnixNano"] = "1000"  # 1970: clock not set
    res = _parse(_req(_rec(None), far))
    assert res.events.height == 0 and res.rejects["reason"].item().startswith("no readable timestamp")


def test_trace_id_is_the_request_id_in_lowercase_hex_and_span_id_stays_in_attrs():
    row = _one(_rec(traceId="5B8EFFF798038103D269B633813FC60C", spanId="EEE19B7EC3C1B174", flags=1))
    assert row["request_id"] == "5b8efff798038103d269b633813fc60c"
    assert (row["attrs"]["spanId"], row["attrs"]["flags"]) == ("eee19b7ec3c1b174", 1)
    assert _one(_rec(traceId="0" * 32))["request_id"] is None
    assert _one(_rec(traceId="W47/95gDgQPSabYzgT/GDA=="))["request_id"] == "5b8efff798038103d269b633813fc60c"
    assert _one(_rec(traceId="", attrs={"request_id": "r-9"}))["request_id"] == "r-9"
    both = _one(_rec(traceId="ab" * 16, attrs={"request_id": "r-9"}))  # the trace id wins; the other stays
    assert (both["request_id"], both["attrs"]["request_id"]) == ("ab" * 16, "r-9")


def test_service_name_is_the_component_and_other_resource_and_scope_attributes_are_prefixed():
    row = _one(_rec(), service="checkout", resource={"host.name": "web-1"},
               scope={"name": "app.http", "version": "1.2", "attributes": _kv({"kind": "servlet"})})
    assert row["component"] == "checkout"
    assert {k: row["attrs"][k] for k in ("resource.host.name", "scope.name", "scope.version", "scope.kind")} == {
        "resource.host.name": "web-1", "scope.name": "app.http", "scope.version": "1.2", "scope.kind": "servlet"}
    assert "resource.service.name" not in row["attrs"]


def test_user_and_session_by_semantic_conventions_newest_first():
    row = _one(_rec(attrs={"enduser.id": "old", "user.id": "u1", "session.id": "s1"}))
    assert (row["user"], row["session"]) == ("u1", "s1")
    assert row["attrs"]["enduser.id"] == "old" and "user.id" not in row["attrs"]
    assert _one(_rec(attrs={"enduser.id": "u2"}))["user"] == "u2"
    assert _one(_rec(attrs={"user_id": "u3"}))["user"] == "u3"  # the usual aliases after them


def test_http_status_route_and_method_give_status_and_masked_action():
    row = _one(_rec(attrs={"http.request.method": "GET", "http.route": "/users/{id}", "url.path": "/users/42",
                           "http.response.status_code": 503}))
    assert (row["status"], row["action"]) == (503, "GET /users/{id}")
    assert row["attrs"]["url.path"] == "/users/42" and "http.response.status_code" not in row["attrs"]
    old = _one(_rec(attrs={"http.method": "POST", "http.target": "/orders/9f1c2e7a?x=1", "http.status_code": "201"}))
    assert (old["status"], old["action"]) == (201, "POST /orders/{id}")


@pytest.mark.parametrize(("attrs", "ms"), [
    ({"http.server.request.duration": 0.25}, 250.0),  # semantic conventions: seconds
    ({"http.server.duration": 12.5}, 12.5),  # the older name: milliseconds
    ({"duration_ms": 7}, 7.0),
    ({"event.duration": 3_000_000}, 3.0),  # ECS: nanoseconds
])
def test_durations_are_converted_to_milliseconds(attrs, ms):
    row = _one(_rec(attrs=attrs))
    assert row["latency_ms"] == pytest.approx(ms) and not set(attrs) & set(row["attrs"])


def test_map_body_gives_message_from_msg_and_the_rest_joins_the_attributes():
    row = _one(_rec(body={"msg": "charge declined", "order": "o-1", "status": "failed"}, attrs={"order": "attr"}))
    assert row["message"] == "charge declined"
    assert (row["attrs"]["order"], row["attrs"]["body.order"], row["attrs"]["status"]) == ("attr", "o-1", "failed")
    assert "msg" not in row["attrs"] and row["status"] is None


def test_without_a_body_the_exception_is_the_message_and_stays_in_attrs():
    row = _one(_rec(body=None, sev=17, attrs={"exception.type": "KeyError", "exception.message": "'sku'",
                                              "exception.stacktrace": "Traceback ..."}))
    assert row["message"] == "KeyError: 'sku'"
    assert row["attrs"]["exception.stacktrace"] == "Traceback ..." and row["attrs"]["exception.type"] == "KeyError"


def test_attribute_values_of_every_kind_keep_their_json_types():
    nested = {"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}
    row = _one(_rec(attrs={"n": 10, "x": 0.5, "ok": True, "tags": ["a", 1], "m": {"k": "v"}, "deep": nested}))
    a = row["attrs"]
    assert (a["n"], a["x"], a["ok"], a["tags"], a["m"]) == (10, 0.5, True, ["a", 1], {"k": "v"})
    assert a["deep"]["a"]["b"]["c"]["d"] == TOO_DEEP  # deeper than NEST levels: marked, never dropped silently


def test_a_time_field_named_by_the_user_replaces_the_record_times():
    res = _parse(_req(_rec(attrs={"event.time": "2024-11-05 16:00:00"})), time_field="event.time", tz="Europe/Berlin")
    assert res.events["ts"].item() == datetime(2024, 11, 5, 15, 0, tzinfo=timezone.utc)


def test_a_field_named_by_the_user_wins_over_the_conventions():
    row = _one(_rec(attrs={"user.id": "u1", "customer": "c9"}), )
    assert row["user"] == "u1"
    res = _parse(_req(_rec(attrs={"user.id": "u1", "customer": "c9"})), user_field="customer")
    assert res.events["user"].item() == "c9" and json.loads(res.events["attrs"].item())["user.id"] == "u1"


# ------------------------------------------------- documents and accounting


def test_one_line_gives_one_event_per_record_of_every_resource_and_scope():
    two = json.loads(_req(_rec(body="a"), _rec(body="b"), service="web"))
    two["resourceLogs"].append(json.loads(_req(_rec(body="c"), service="db"))["resourceLogs"][0])
    res = _parse(json.dumps(two), _req(_rec(body="d")))
    assert res.events.select("line", "component", "message").rows() == [
        (1, "web", "a"), (1, "web", "b"), (1, "db", "c"), (2, "svc", "d")]


@pytest.mark.parametrize(("text", "reason"), [
    ('{"resourceSpans":[]}', "OTLP traces (resourceSpans), not logs"),
    ('{"resourceMetrics":[]}', "OTLP metrics (resourceMetrics), not logs"),
    ('{"level":"info","msg":"hi"}', otlp.NO_LOGS),
    ('{"resourceLogs":[}', otlp.INVALID),
    ('{"resourceLogs":"none"}', otlp.SHAPE),
    ('{"resourceLogs":[]}', otlp.EMPTY),
    ('{"resourceLogs":[{"scopeLogs":[{"logRecords":[]}]}]}', otlp.EMPTY),
    ('{"resourceLogs":[{"scopeLogs":[{"logRec', otlp.TORN),
    ("plain text", otlp.STRAY),
])
def test_a_line_that_is_not_an_otlp_logs_request_is_rejected_with_what_was_expected(text, reason):
    res = _parse(_req(_rec()), text, "")
    assert res.events.height == 1 and res.blank_lines == 1
    assert res.rejects.select("line", "reason").rows() == [(2, reason)]


def test_pretty_printed_documents_are_read_whole_and_their_lines_accounted():
    doc1 = json.dumps(json.loads(_req(_rec(body="a"), _rec(body="b"))), indent=2).split("\n")
    doc2 = json.dumps(json.loads(_req(_rec(body="c"))), indent=4).split("\n")
    texts = ["junk before", *doc1, "", *doc2, "  stray tail"]
    res = _parse(*texts)
    start2 = len(doc1) + 3
    assert res.events.select("line", "message").rows() == [(2, "a"), (2, "b"), (start2, "c")]
    assert res.continuation_lines == len(doc1) - 1 + len(doc2) - 1
    assert res.rejects["line"].to_list() == [1, len(texts)] and res.blank_lines == 1


def test_a_bad_pretty_printed_document_makes_every_one_of_its_lines_malformed():
    doc = json.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": [{"body": {"stringValue": "x"}}]}]}]},
                     indent=2).split("\n")  # no time at all
    res = _parse(*doc, _req(_rec()))
    assert res.rejects.height == len(doc) and res.rejects["reason"].str.starts_with("no readable timestamp").all()
    assert res.events["line"].to_list() == [len(doc) + 1]


def test_large_files_read_in_chunks_give_what_whole_files_give(monkeypatch, tmp_path):
    rows = [_req(*(_rec(T0 + timedelta(seconds=i, milliseconds=j), body=f"r{i}.{j}") for j in range(i % 4 + 1)))
            for i in range(400)]
    (tmp_path / "lines.json").write_text("\n".join(rows) + "\n", encoding="utf-8")
    docs = [json.dumps(json.loads(_req(_rec(T0 + timedelta(seconds=i), body=f"p{i}"))), indent=2) for i in range(60)]
    (tmp_path / "pretty.json").write_text("\n".join(docs) + "\n", encoding="utf-8")
    monkeypatch.setattr(ingest_mod, "SMALL_FILE", -1)
    whole = ingest([tmp_path], options=IngestOptions(format="otlp"))
    monkeypatch.setattr(ingest_mod, "STREAM_CHUNK", 8192)  # documents are ~0.8 KiB: many boundaries
    chunked = ingest([tmp_path], options=IngestOptions(format="otlp"))
    assert chunked.accounting.to_json() == whole.accounting.to_json()
    assert chunked.events.equals(whole.events) and chunked.rejects.height == 0
    assert whole.events.height == sum(i % 4 + 1 for i in range(400)) + 60


def test_small_files_batched_together_give_what_single_files_give(monkeypatch, tmp_path):
    (tmp_path / "a.json").write_text(json.dumps(json.loads(_req(_rec(body="a"))), indent=2) + "\n")
    (tmp_path / "b.json").write_text(_req(_rec(body="b"), _rec(body="c")) + "\nnot json\n")
    (tmp_path / "c.json").write_text("\n".join(json.dumps(json.loads(_req(_rec(body="d"))), indent=2).split("\n")[:5]))
    batched = ingest([tmp_path], options=IngestOptions(format="otlp"))
    monkeypatch.setattr(ingest_mod, "SMALL_FILE", -1)
    single = ingest([tmp_path], options=IngestOptions(format="otlp"))
    assert batched.accounting == single.accounting and batched.events.equals(single.events)
    assert batched.rejects.equals(single.rejects) and batched.events.height == 3


# --------------------------------------------------------------- properties

_GOOD = [_req(_rec(body="x", attrs={"k": [1, {"a": True}]}, traceId="ab" * 16)),
         _req(_rec(None), _rec(T0, sev=17, body={"msg": "m", "n": 1.5})),
         *json.dumps(json.loads(_req(_rec())), indent=2).split("\n")]
_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n"), max_size=60)


@st.composite
def _mutated(draw):
    line = draw(st.sampled_from(_GOOD))
    cut = draw(st.integers(0, len(line)))
    how = draw(st.sampled_from(["keep", "cut", "insert", "drop"]))
    if how == "cut":
        return line[:cut]
    if how == "insert":
        piece = draw(st.sampled_from(["{", "}", "[", '"', "\\", ",", "null", '"k":', "\ufeff"]))
        return line[:cut] + piece + line[cut:]
    if how == "drop":
        return line[:cut] + line[cut + 1:]
    return line


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(_TEXT, _mutated(), st.sampled_from(["{", "}", "", "  ]", '{"resourceLogs":'])), max_size=25))
def test_arbitrary_and_mutated_lines_never_raise_and_accounting_holds(texts):
    check_parse_invariants(otlp, texts)


# ---------------------------------------------------------------------- scan


def _traffic(start: datetime, outage: tuple[datetime, datetime]) -> list[str]:
    """Two hours of a checkout service exporting through a collector: a
    request line every 3 s with one record per HTTP request; during the
    outage most requests fail with 503 and an ERROR record."""
    lines = []
    for i in range(2400):
        t = start + timedelta(seconds=3 * i)
        down = outage[0] <= t < outage[1]
        records = []
        for j in range(2):
            u = (i * 2 + j) % 37
            fail = down and (i + j) % 5 != 0 or (not down and (i * 2 + j) % 997 == 0)
            status = 503 if fail else 200
            route = ("/api/checkout", "POST") if j else ("/api/cart/{cart_id}", "GET")
            records.append(_rec(t + timedelta(milliseconds=400 * j), sev=17 if fail else 9,
                                body=f"{route[1]} {route[0]} {status}", traceId=f"{i:016x}{j:016x}",
                                attrs={"http.request.method": route[1], "http.route": route[0], "user.id": f"u{u}",
                                       "session.id": f"s{u}-{i // 600}", "http.response.status_code": status,
                                       "http.server.request.duration": 2.5 if fail else 0.02}))
        lines.append(_req(*records, service="checkout"))
    return lines


def test_scan_finds_the_burst_of_errors_and_5xx_during_the_outage_only(tmp_path):
    start = datetime(2024, 11, 5, 12, 0, tzinfo=timezone.utc)
    outage = (start + timedelta(minutes=60), start + timedelta(minutes=70))
    folder = tmp_path / "otel"
    folder.mkdir()
    (folder / "logs.json").write_text("\n".join(_traffic(start, outage)) + "\n", encoding="utf-8")
    run = run_timeline([str(folder)])
    assert run.ingest.accounting.by_format() == {"otlp": 4800}
    bursts = run.timeline.bursts
    assert len(bursts) == 1, bursts
    assert bursts[0].start < outage[1] and bursts[0].end > outage[0]
    assert bursts[0].start >= outage[0] - timedelta(minutes=2) and bursts[0].end <= outage[1] + timedelta(minutes=2)
