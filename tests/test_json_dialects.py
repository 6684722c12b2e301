"""JSON dialects read by the ``jsonl`` format: goldens, each writer's mappings,
levels never lost, mixed batches, and outages found end to end.

Golden lines are written after the writers' documentation:
journald  https://systemd.io/JOURNAL_EXPORT_FORMATS/ (``journalctl -o json``; non-UTF-8 values as byte arrays)
          https://www.freedesktop.org/software/systemd/man/latest/systemd.journal-fields.html
GELF      https://go2docs.graylog.org/current/getting_in_log_data/gelf.html (GELF 1.1 payload)
log4j2    https://logging.apache.org/log4j/2.x/manual/json-layout.html (``compact="true" eventEol="true"``)
Logstash  https://github.com/logfellow/logstash-logback-encoder#standard-fields
pino      https://getpino.io/#/docs/api?id=logger (and pino-http), bunyan https://github.com/trentm/node-bunyan#core-fields
MongoDB   https://www.mongodb.com/docs/manual/reference/log-messages/
Caddy     https://caddyserver.com/docs/caddyfile/directives/log (the ``log`` directive's JSON access log)
Traefik   https://doc.traefik.io/traefik/observability/access-logs/ (``format: json``)
GCP       https://cloud.google.com/logging/docs/reference/v2/rest/v2/LogEntry and
          https://cloud.google.com/logging/docs/structured-logging (special fields)
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forensics.ingest import ingest
from forensics.ingest.formats import jsonl
from forensics.ingest.json_dialects import decode_byte_array, detect
from forensics.ingest.options import IngestOptions
from forensics.scan import run_timeline
from golden_util import FOREIGN_LINES, GOLDEN, check_parse_invariants, golden_sample, run_golden

DIALECT_GOLDENS = ["jsonl_journald", "jsonl_gelf", "jsonl_log4j2", "jsonl_logstash", "jsonl_pino",
                   "jsonl_mongodb", "jsonl_caddy", "jsonl_traefik", "jsonl_gcp"]
#: Folder -> (events, blank, malformed) of its accounting.
COUNTS = {"jsonl_journald": (19, 1, 3), "jsonl_gelf": (18, 1, 3), "jsonl_log4j2": (17, 1, 3),
          "jsonl_logstash": (17, 1, 3), "jsonl_pino": (17, 1, 3), "jsonl_mongodb": (17, 1, 3),
          "jsonl_caddy": (18, 1, 3), "jsonl_traefik": (17, 1, 3), "jsonl_gcp": (17, 1, 3)}


def events(rows: list[dict | str], **options) -> pl.DataFrame:
    """Parse JSON lines (dicts dumped compactly) with ``jsonl.parse``."""
    texts = [r if isinstance(r, str) else json.dumps(r, separators=(",", ":")) for r in rows]
    return check_parse_invariants(jsonl, texts, IngestOptions(**options)).events


def attrs(df: pl.DataFrame) -> list[dict]:
    return [json.loads(a) if a else {} for a in df["attrs"]]


# ------------------------------------------------------------------ goldens


@pytest.mark.parametrize("folder", DIALECT_GOLDENS)
def test_golden_sample_line_accounting_balances(folder):
    rep = run_golden("jsonl", GOLDEN / folder).accounting.files[0]
    assert rep.balanced()
    assert (rep.events, rep.blank_lines, rep.malformed) == COUNTS[folder]


@pytest.mark.parametrize("folder", DIALECT_GOLDENS)
def test_every_event_of_a_dialect_sample_is_read_by_its_dialect(folder):
    good = [s for s in golden_sample(GOLDEN / folder) if s.startswith("{") and s.endswith("}")]
    frame = jsonl.flatten(jsonl.read_objects(("\n".join(good) + "\n").encode(), pl.Series(good)))
    lines = detect(frame)
    name = folder.split("_", 1)[1]
    # every line of the sample but the documented strays (a Caddy/Traefik/Mongo
    # line of the writer's other loggers, a line without the writer's markers)
    assert set(lines) == {name}
    assert lines[name].sum() >= len(good) - 3


def test_the_jsonl_sniffer_stays_low_on_foreign_lines():
    for name, sample in FOREIGN_LINES.items():
        if name != "jsonl":
            assert jsonl.sniff(sample) < 0.5, name


def test_all_golden_events_have_a_level_where_the_writer_logged_one():
    for folder in DIALECT_GOLDENS:
        ev = run_golden("jsonl", GOLDEN / folder).events
        unmapped = ev.filter(pl.col("level").is_null())
        # the few lines without a level keep the raw value in attrs (never dropped)
        for a in attrs(unmapped):
            assert {"PRIORITY", "level", "s", "level_value", "severity"} & set(a), (folder, a)


# ------------------------------------------------------------------ journald


JD = {"__CURSOR": "s=1;i=2", "__REALTIME_TIMESTAMP": "1698941692123456", "PRIORITY": "3",
      "SYSLOG_IDENTIFIER": "orders", "_SYSTEMD_UNIT": "orders.service", "_PID": "12", "MESSAGE": "boom"}


def test_journald_time_is_microseconds_and_priority_a_syslog_severity():
    ev = events([JD, {**JD, "PRIORITY": "7"}, {**JD, "PRIORITY": "0"}])
    assert ev["ts"][0] == datetime(2023, 11, 2, 16, 14, 52, 123456, tzinfo=timezone.utc)
    assert ev["level"].to_list() == ["error", "debug", "fatal"]
    assert ev["component"].to_list() == ["orders.service"] * 3
    assert ev["message"][0] == "boom"
    assert "PRIORITY" not in attrs(ev)[0] and attrs(ev)[0]["SYSLOG_IDENTIFIER"] == "orders"


def test_journald_with_time_field_override_keeps_its_level_and_priority():
    # the issue: with --time-field, PRIORITY "3" became null and vanished from attrs
    ev = events([JD, {**JD, "PRIORITY": "12"}], time_field="__REALTIME_TIMESTAMP")
    assert ev["level"].to_list() == ["error", None]
    assert attrs(ev)[1]["PRIORITY"] == "12"


def test_journald_unit_messages_of_systemd_go_to_the_unit_and_kernel_lines_to_the_identifier():
    ev = events([{**JD, "_SYSTEMD_UNIT": "init.scope", "UNIT": "orders.service"},
                 {k: v for k, v in JD.items() if k != "_SYSTEMD_UNIT"} | {"SYSLOG_IDENTIFIER": "kernel"}])
    assert ev["component"].to_list() == ["orders.service", "kernel"]
    assert attrs(ev)[0]["_SYSTEMD_UNIT"] == "init.scope"


def test_journald_byte_array_messages_are_decoded():
    utf8 = list("café ✓ \x1b[0m".encode())
    bad = [104, 105, 255, 0]
    ev = events([{**JD, "MESSAGE": utf8}, {**JD, "MESSAGE": bad}, {**JD, "MESSAGE": "[1, 2] stays text"}])
    assert ev["message"].to_list() == ["café ✓ \x1b[0m", "hi\\xff\x00", "[1, 2] stays text"]


def test_byte_array_decoding_only_touches_arrays_of_bytes():
    s = pl.DataFrame({"m": ["[72,105]", "[72, 300]", "[]", "plain", None, "[195,169]"]})
    assert s.select(decode_byte_array(pl.col("m")))["m"].to_list() == ["Hi", "[72, 300]", "[]", "plain", None, "é"]


# ---------------------------------------------------------------------- GELF

GELF = {"version": "1.1", "host": "app-1", "short_message": "Order rejected", "timestamp": 1698941692.5,
        "level": 3, "_user_id": 9001, "_request_id": "r-1"}


def test_gelf_reads_short_message_numeric_level_and_underscored_fields():
    ev = events([GELF])
    row = ev.row(0, named=True)
    assert (row["level"], row["message"], row["user"], row["request_id"]) == ("error", "Order rejected", "9001", "r-1")
    assert row["ts"] == datetime(2023, 11, 2, 16, 14, 52, 500000, tzinfo=timezone.utc)
    assert attrs(ev)[0] == {"version": "1.1", "host": "app-1"}


def test_gelf_full_message_joins_the_short_one_and_levels_out_of_range_stay_in_attrs():
    ev = events([{**GELF, "full_message": "Order rejected\n\tat x.Y(Y.java:1)"},
                 {**GELF, "full_message": "stack here"}, {**GELF, "level": 11}])
    assert ev["message"].to_list()[:2] == ["Order rejected\n\tat x.Y(Y.java:1)", "Order rejected\nstack here"]
    assert ev["level"].to_list() == ["error", "error", None]
    assert attrs(ev)[2]["level"] == 11


def test_gelf_underscore_field_next_to_the_same_bare_field_keeps_both():
    ev = events([{**GELF, "user_id": "u-bare", "_user_id": "u-extra"}])
    assert ev["user"][0] == "u-bare"
    assert attrs(ev)[0]["_user_id"] == "u-extra"


# ------------------------------------------------------------ log4j2, Logstash


L4J = {"instant": {"epochSecond": 1698941692, "nanoOfSecond": 987654321}, "thread": "main", "level": "WARN",
       "loggerName": "com.example.A", "message": "slow", "contextMap": {"userId": "u1"}}


def test_log4j2_instant_keeps_the_microseconds_even_with_a_time_field_override():
    want = datetime(2023, 11, 2, 16, 14, 52, 987654, tzinfo=timezone.utc)
    assert events([L4J])["ts"][0] == want
    ev = events([L4J], time_field="instant.epochSecond")
    assert ev["ts"][0] == want and "instant.nanoOfSecond" not in attrs(ev)[0]
    assert events([L4J])["user"][0] == "u1"


def test_log4j2_time_millis_and_a_foreign_time_field_override():
    ev = events([{"timeMillis": 1698941692123, "loggerName": "x", "level": "INFO", "message": "m"}])
    assert ev["ts"][0] == datetime(2023, 11, 2, 16, 14, 52, 123000, tzinfo=timezone.utc)
    # an override naming another field wins over the dialect
    ev = events([{**L4J, "when": "2023-11-03T00:00:00Z"}], time_field="when")
    assert ev["ts"][0] == datetime(2023, 11, 3, tzinfo=timezone.utc)
    assert "instant.epochSecond" in attrs(ev)[0]


def test_logstash_level_value_answers_when_level_is_missing_and_unknown_values_stay():
    base = {"@timestamp": "2023-11-02T16:14:52.123Z", "@version": "1", "message": "m", "logger_name": "a.B"}
    ev = events([{**base, "level": "ERROR", "level_value": 40000}, {**base, "level_value": 30000},
                 {**base, "level_value": 12345}])
    assert ev["level"].to_list() == ["error", "warn", None]
    assert [a.get("level_value") for a in attrs(ev)] == [None, None, 12345]


# -------------------------------------------------------------- pino, bunyan


def test_pino_numeric_levels_map_by_the_pino_scheme():
    rows = [{"level": n, "time": 1698941692000 + n, "pid": 1, "hostname": "h", "name": "api", "msg": "m"}
            for n in (10, 20, 30, 40, 50, 60, 35)]
    ev = events(rows)
    assert ev["level"].to_list() == ["debug", "debug", "info", "warn", "error", "fatal", None]
    assert ev["component"].to_list() == ["api"] * 7
    assert attrs(ev)[6]["level"] == 35


def test_pino_http_request_fields():
    row = {"level": 50, "time": 1698941692000, "pid": 1, "hostname": "h", "msg": "request errored",
           "req": {"id": "abc", "method": "POST", "url": "/orders/123/pay?x=1", "remoteAddress": "10.0.0.1",
                   "headers": {"user-agent": "curl"}}, "res": {"statusCode": 502}, "responseTime": 31.5}
    r = events([row]).row(0, named=True)
    assert (r["status"], r["action"], r["request_id"], r["latency_ms"]) == (502, "POST /orders/{id}/pay", "abc", 31.5)
    assert json.loads(r["attrs"])["remote_addr"] == "10.0.0.1"


def test_a_numeric_level_without_a_known_scheme_is_kept_in_attrs():
    # 40 is warn for pino but error for Python: without pino's fields, no guess
    ev = events([{"ts": "2023-11-02T16:14:52Z", "level": 40, "message": "x"}])
    assert ev["level"].to_list() == [None] and attrs(ev)[0]["level"] == 40
    ev = events([{"ts": 1698941692, "level": "7"}, {"ts": 1698941692, "level": "[WARN]"}])
    assert ev["level"].to_list() == [None, "warn"] and attrs(ev) == [{"level": "7"}, {}]


# ------------------------------------------------------------------- MongoDB


def test_mongodb_severity_letters_component_and_error_codes():
    base = {"t": {"$date": "2023-11-02T16:14:52.180+00:00"}, "id": 1, "ctx": "conn1", "msg": "m"}
    ev = events([{**base, "s": "E", "c": "WRITE", "attr": {"error": {"code": 50, "codeName": "MaxTimeMSExpired"}}},
                 {**base, "s": "D2", "c": "QUERY", "svc": "S"}, {**base, "s": "W", "c": "COMMAND",
                                                                  "attr": {"durationMillis": 812}}])
    assert ev["level"].to_list() == ["error", "debug", "warn"]
    assert ev["component"].to_list() == ["WRITE", "QUERY", "COMMAND"]
    assert ev["status"].to_list() == [None, None, None]  # a Mongo error code is no HTTP status
    assert attrs(ev)[0]["attr.error.code"] == 50 and attrs(ev)[1]["svc"] == "S"
    assert ev["latency_ms"].to_list() == [None, None, 812.0]


# ---------------------------------------------------------- Caddy, Traefik, GCP


def caddy(status=200, duration=0.5, user="", rid=None, **kw):
    headers = {"User-Agent": ["curl/8"]} | ({"X-Request-Id": [rid]} if rid else {})
    return {"level": "info", "ts": 1698941692.25, "logger": "http.log.access.log0", "msg": "handled request",
            "request": {"remote_ip": "1.2.3.4", "client_ip": "1.2.3.4", "method": "GET", "uri": "/items/42?x=1",
                        "headers": headers}, "user_id": user, "duration": duration, "size": 10, "status": status} | kw


def test_caddy_duration_is_seconds_and_empty_users_are_no_users():
    ev = events([caddy(duration=0.5), caddy(duration="12.5ms", user="alice"), caddy(duration=1.5e-05)])
    assert ev["latency_ms"].to_list() == [500.0, 12.5, 0.015]
    assert ev["user"].to_list() == [None, "alice", None]
    assert all("user_id" not in a for a in attrs(ev))


def test_caddy_request_id_header_array_status_level_and_route():
    ev = events([caddy(status=502, rid="abc"), caddy(status=404, rid="-"), caddy(status=200)])
    assert ev["request_id"].to_list() == ["abc", None, None]
    assert ev["level"].to_list() == ["error", "warn", "info"]
    assert ev["action"].to_list() == ["GET /items/{id}"] * 3
    assert ev["message"].to_list() == [None] * 3
    a = attrs(ev)
    assert a[0]["remote_addr"] == "1.2.3.4" and a[0]["user_agent"] == "curl/8"
    assert not any(k.lower().endswith("x-request-id") for x in a for k in x)


def test_traefik_duration_is_nanoseconds_and_dash_users_are_no_users():
    row = {"StartUTC": "2023-11-02T16:14:52.123456789Z", "time": "2023-11-02T16:14:52Z", "RequestMethod": "GET",
           "RequestPath": "/api/orders/77", "DownstreamStatus": 503, "OriginStatus": 0, "Duration": 1234567,
           "ClientUsername": "-", "ClientHost": "9.9.9.9", "ServiceName": "api@docker", "RouterName": "api@docker",
           "level": "info", "msg": "", "request_X-Request-Id": "t-1"}
    r = events([row]).row(0, named=True)
    assert (r["latency_ms"], r["status"], r["level"], r["user"]) == (1.234567, 503, "error", None)
    assert (r["request_id"], r["component"], r["action"]) == ("t-1", "api@docker", "GET /api/orders/{id}")
    assert r["ts"] == datetime(2023, 11, 2, 16, 14, 52, 123456, tzinfo=timezone.utc)
    a = json.loads(r["attrs"])
    assert "ClientUsername" not in a and "msg" not in a and a["remote_addr"] == "9.9.9.9"


def test_gcp_log_entry_latency_trace_severity_and_resource():
    row = {"insertId": "1", "timestamp": "2023-11-02T16:14:52.5Z", "severity": "INFO",
           "httpRequest": {"requestMethod": "GET", "requestUrl": "https://x.run.app/orders/9?y=1", "status": 503,
                           "latency": "0.123s"},
           "trace": "projects/p/traces/abc123", "resource": {"type": "cloud_run_revision",
                                                            "labels": {"service_name": "orders"}}}
    app = {"insertId": "2", "timestamp": "2023-11-02T16:14:53Z", "severity": "WARNING",
           "jsonPayload": {"message": "slow", "user_id": "u1"}, "resource": {"type": "gce_instance", "labels": {}}}
    ev = events([row, app, {**app, "severity": "DEFAULT"}])
    r = ev.row(0, named=True)
    assert (r["latency_ms"], r["request_id"], r["component"], r["status"]) == (123.0, "abc123", "orders", 503)
    assert (r["level"], r["action"]) == ("error", "GET /orders/{id}")
    assert attrs(ev)[0]["severity"] == "INFO"  # outranked by the 503: kept
    assert ev["level"].to_list()[1:] == ["warn", None] and ev["message"][1] == "slow" and ev["user"][1] == "u1"
    assert attrs(ev)[2]["severity"] == "DEFAULT"


# ------------------------------------------------------------- mixed batches


def test_a_batch_of_several_dialects_reads_each_line_by_its_own():
    generic = {"ts": "2023-11-02T16:14:52Z", "level": "warning", "user_id": "u9", "_user_id": "kept", "msg": "g"}
    ev = events([JD, GELF, caddy(status=500, rid="c1"), generic, L4J])
    assert ev["level"].to_list() == ["error", "error", "error", "warn", "warn"]
    assert ev["user"].to_list() == [None, "9001", None, "u9", "u1"]
    assert ev["request_id"].to_list() == [None, "r-1", "c1", None, None]
    assert attrs(ev)[3]["_user_id"] == "kept"  # GELF's underscore rule is GELF's only


def test_batched_and_single_files_give_the_same_events(tmp_path):
    import forensics.ingest as ingest_mod

    for name, rows in {"a.json": [JD, JD], "b.json": [GELF], "c.json": [caddy(), caddy(status=503)]}.items():
        (tmp_path / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    batched = ingest([tmp_path]).events
    old = ingest_mod.SMALL_FILE
    ingest_mod.SMALL_FILE = -1
    try:
        single = ingest([tmp_path]).events
    finally:
        ingest_mod.SMALL_FILE = old
    assert batched.equals(single)
    assert batched["level"].null_count() == 0


# ------------------------------------------------------------ hypothesis


def _golden_lines() -> list[str]:
    return [s for f in DIALECT_GOLDENS for s in golden_sample(GOLDEN / f) if s.startswith("{")]


_LINES = _golden_lines()
_JUNK = st.sampled_from(['"', "{", "}", "[", "]", ",", ":", "null", "1e309", '"\\u0000"', "-", '""', "[255,0]"])


@st.composite
def _mutated(draw) -> str:
    text = draw(st.sampled_from(_LINES))
    for _ in range(draw(st.integers(0, 3))):
        i = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["cut", "insert", "swap"]))
        if op == "cut":
            text = text[:i]
        elif op == "insert":
            text = text[:i] + draw(_JUNK) + text[i:]
        else:
            text = text.replace('":"', '":', 1) if i % 2 else text.replace('":', '":[', 1)
    return text


@settings(max_examples=150, deadline=None)
@given(st.lists(_mutated(), min_size=1, max_size=12))
def test_mutated_dialect_lines_never_raise_and_accounting_holds(texts):
    check_parse_invariants(jsonl, texts, IngestOptions())


_VALUE = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=False, allow_infinity=False),
                   st.sampled_from(["", "-", "[1,2]", "abc", "3", "0.5s", "http.log.x"]),
                   st.lists(st.integers(0, 300), max_size=3), st.dictionaries(st.sampled_from(["a", "$date"]),
                                                                             st.integers(), max_size=2))


@st.composite
def _retyped(draw) -> list[str]:
    """Golden lines of one dialect, some values replaced by values of another type."""
    folder = draw(st.sampled_from(DIALECT_GOLDENS))
    rows = [json.loads(s) for s in golden_sample(GOLDEN / folder) if s.startswith("{") and s.endswith("}")]
    rows = draw(st.lists(st.sampled_from(rows), min_size=1, max_size=6))
    out = []
    for row in rows:
        row = dict(row)
        for key in draw(st.lists(st.sampled_from(sorted(row)), max_size=3)):
            row[key] = draw(_VALUE)
        out.append(json.dumps(row))
    return out


@settings(max_examples=120, deadline=None)
@given(_retyped())
def test_dialect_fields_of_unexpected_types_never_raise(texts):
    res = check_parse_invariants(jsonl, texts, IngestOptions())
    assert res.events.height + res.rejects.height == len(texts)


# ------------------------------------------------------------- end to end

START = datetime(2026, 3, 14, 9, 0, tzinfo=timezone.utc)
OUT_FROM, OUT_TO = START + timedelta(minutes=60), START + timedelta(minutes=70)


def _assert_outage_found(tmp_path: Path, name: str, lines: list[str], kind: str) -> None:
    (tmp_path / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    run = run_timeline([str(tmp_path)])
    errors = run.timeline.events.filter(pl.col("is_error"))
    assert errors["error_kind"].str.contains(kind, literal=True).all(), errors["error_kind"].unique().to_list()
    assert run.ingest.accounting.files[0].format == "jsonl"
    assert run.ingest.accounting.files[0].malformed == 0
    bursts = run.timeline.bursts
    assert bursts, "the outage was not found"
    for b in bursts:
        assert b.start < OUT_TO and b.end >= OUT_FROM, (b.start, b.end)


def test_scan_finds_a_gelf_application_outage(tmp_path):
    rng = random.Random(7)
    lines = []
    for i in range(2400):  # one message every 3 s for 2 h; level 3 (syslog err) during the outage
        t = START + timedelta(seconds=3 * i)
        down = OUT_FROM <= t < OUT_TO and i % 4 != 0
        user = f"u{rng.randrange(60)}"
        lines.append(json.dumps({
            "version": "1.1", "host": "app-1", "timestamp": round(t.timestamp(), 3), "level": 3 if down else 6,
            "short_message": "payment gateway timeout" if down else f"step {('browse', 'cart', 'pay')[i % 3]}",
            "_user_id": user, "_app": "checkout", "_action": ("browse", "cart", "pay")[i % 3]}))
    _assert_outage_found(tmp_path, "checkout.gelf.json", lines, "checkout: payment gateway timeout")


def test_scan_finds_a_caddy_5xx_outage(tmp_path):
    lines = []
    for i in range(2400):
        t = START + timedelta(seconds=3 * i)
        down = OUT_FROM <= t < OUT_TO
        uri = ("/api/items/{}", "/cart/{}", "/orders/{}")[i % 3].format(i % 50)
        row = caddy(status=503 if down else 200, duration=0.002 if down else 0.020, user=f"u{i % 40}",
                    rid=f"r{i}", ts=round(t.timestamp(), 6))
        row["request"]["uri"] = uri
        lines.append(json.dumps(row))
    # the error kinds name status and route ("handled request" is no message)
    _assert_outage_found(tmp_path, "caddy.access.json", lines, ": HTTP 503 GET /")
