"""Docker json-file reader: golden samples, sniffing, the envelope, the payload
parsed as its own format, partial records, the component, invariants, a scan.

Lines are modeled on the json-file driver's documentation,
https://docs.docker.com/engine/logging/drivers/json-file/ (``log``, ``stream``,
``time``; ``attrs`` from ``--log-opt tag|labels|env``,
https://docs.docker.com/engine/logging/log_tags/), with Go's escaping of
``<``, ``>`` and ``&`` as ``\\u003c``..., and on Docker's 16 KiB split of long
lines (only the last record of a line ends with ``\\n``).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import forensics.ingest as ingest_mod
from forensics.ingest import IngestOptions, formats, ingest
from forensics.ingest.container_paths import container_component
from forensics.ingest.formats import docker
from forensics.scan import run_timeline
from golden_util import (FOREIGN_LINES, FORMAT_GOLDENS, GOLDEN, check_parse_invariants, golden_sample,
                         run_golden)

FOLDERS = ("docker", "docker_text")
T0 = datetime(2026, 3, 14, 11, 2, 17, 123456, tzinfo=timezone.utc)


def rec(log: str, *, stream: str = "stdout", t: datetime | str = T0, attrs: dict | None = None) -> str:
    """One json-file record as the daemon writes it."""
    doc: dict = {"log": log, "stream": stream}
    if attrs:
        doc["attrs"] = attrs
    doc["time"] = t if isinstance(t, str) else t.strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"
    text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def parse(*texts: str, **opts):
    return check_parse_invariants(docker, list(texts), IngestOptions(**opts))


def rows(res) -> list[dict]:
    out = res.events.to_dicts()
    for row in out:
        row["attrs"] = json.loads(row["attrs"]) if row["attrs"] else {}
    return out


# ----------------------------------------------------------------------------- goldens and sniffing

def test_golden_sample_line_accounting_balances():
    rep = run_golden("docker", GOLDEN / "docker").accounting.files[0]
    assert rep.lines == rep.events + rep.continuation_lines + rep.blank_lines + rep.malformed
    # 12 events; the panic's 9 other records and its empty record continue it.
    assert (rep.events, rep.continuation_lines, rep.blank_lines, rep.malformed) == (12, 9, 1, 5)


@pytest.mark.parametrize("folder", FOLDERS)
def test_no_other_sniffer_beats_docker_on_its_sample(folder):
    sample = golden_sample(GOLDEN / folder)
    mine = docker.sniff(sample)
    assert mine >= 0.8
    for name in formats.names():
        if name != "docker":
            assert formats.get(name).sniff(sample) <= mine, name


@pytest.mark.parametrize("other", sorted(FOREIGN_LINES))
def test_sniff_does_not_claim_other_formats(other):
    assert docker.sniff(FOREIGN_LINES[other]) < 0.5


@pytest.mark.parametrize("folder", sorted(f for f, fmt in FORMAT_GOLDENS.items() if fmt != "docker"))
def test_sniff_does_not_claim_other_golden_samples(folder):
    assert docker.sniff(golden_sample(GOLDEN / folder)) < 0.5


# ----------------------------------------------------------------------------- the payload

def test_json_payload_fields_become_canonical_columns_and_the_newline_goes():
    payload = json.dumps({"level": "error", "msg": "checkout failed <5xx>", "status": 503, "user_id": "u1",
                          "request_id": "r-9", "duration_ms": 1200.5}) + "\n"
    (row,) = rows(parse(rec(payload)))
    assert (row["level"], row["status"], row["user"], row["request_id"]) == ("error", 503, "u1", "r-9")
    assert row["latency_ms"] == pytest.approx(1200.5)
    assert row["message"] == "checkout failed <5xx>"
    assert row["attrs"] == {"stream": "stdout"}


def test_logfmt_payload_without_time_takes_the_envelope_time():
    (row,) = rows(parse(rec('level=warn msg="slow query" duration_ms=812 user=u-12\n')))
    assert (row["level"], row["user"], row["latency_ms"], row["message"]) == ("warn", "u-12", 812.0, "slow query")
    assert row["ts"] == T0


def test_payload_time_wins_and_the_envelope_time_is_kept():
    (row,) = rows(parse(rec('{"ts":"2026-03-14T11:02:15.5Z","msg":"hi"}\n')))
    assert row["ts"] == datetime(2026, 3, 14, 11, 2, 15, 500000, tzinfo=timezone.utc)
    assert row["attrs"]["envelope_time"] == "2026-03-14T11:02:17.123456Z"


def test_payload_time_to_the_second_is_refined_by_the_envelope():
    (row,) = rows(parse(rec('{"time":"2026-03-14T11:02:17Z","msg":"hi"}\n')))
    assert row["ts"] == T0 and "envelope_time" not in row["attrs"]


def test_payload_time_days_away_is_not_believed_but_kept():
    (row,) = rows(parse(rec('{"ts":"2001-01-01T00:00:00Z","msg":"hi"}\n')))
    assert row["ts"] == T0 and row["attrs"]["payload_time"] == "2001-01-01T00:00:00.000000Z"


def test_json_lines_and_a_crash_trace_in_one_stream():
    texts = [rec('{"level":"info","msg":"ready"}\n'),
             rec("Traceback (most recent call last):\n", stream="stderr"),
             rec('  File "/app/main.py", line 3, in <module>\n', stream="stderr"),
             rec("    boom()\n", stream="stderr"),
             rec("RuntimeError: boom\n", stream="stderr"),
             rec('{"level":"info","msg":"still here"}\n')]
    res = parse(*texts)
    got = rows(res)
    assert [r["line"] for r in got] == [1, 2, 6] and res.continuation_lines == 3
    assert got[1]["level"] == "error" and got[1]["message"].endswith("RuntimeError: boom")
    assert got[1]["attrs"]["stream"] == "stderr"


def test_text_lines_without_level_word_get_one_from_cues_or_info():
    texts = ["error: disk full", "[WARN] retrying", "panic: nil map", "E0314 11:02:17.123456       1 x.go:3] bad",
             "Server started", "WARNING:app:low memory"]
    got = rows(parse(*(rec(t + "\n") for t in texts)))
    assert [r["level"] for r in got] == ["error", "warn", "fatal", "error", "info", "warn"]


def test_an_empty_payload_is_a_continuation_line_not_an_event():
    res = parse(rec("first\n"), rec("\n"), rec("second\n"))
    assert res.events["line"].to_list() == [1, 3] and res.continuation_lines == 1


# ----------------------------------------------------------------------------- partial records

def test_a_line_over_16_kib_split_by_docker_is_joined():
    payload = json.dumps({"level": "error", "msg": "huge", "user": "u5", "blob": "x" * 40_000}) + "\n"
    chunks = [payload[i:i + 16384] for i in range(0, len(payload), 16384)]
    texts = [rec(c, t=T0 + timedelta(microseconds=i)) for i, c in enumerate(chunks)]
    texts.insert(2, rec("interleaved on stderr\n", stream="stderr"))
    res = parse(*texts)
    got = rows(res)
    assert [r["line"] for r in got] == [1, 3] and res.continuation_lines == len(chunks) - 1
    assert (got[0]["level"], got[0]["user"], len(got[0]["attrs"]["blob"])) == ("error", "u5", 40_000)
    assert got[0]["ts"] == T0


def test_a_partial_record_at_the_end_is_still_an_event():
    res = parse(rec("complete\n"), rec("cut at exit"))
    assert res.events["message"].to_list() == ["complete", "cut at exit"]


# ----------------------------------------------------------------------------- envelope fields and component

def test_tag_is_the_component_and_labels_stay_in_attrs():
    attrs = {"tag": "checkout", "com.example.team": "payments"}
    (row,) = rows(parse(rec("hello\n", attrs=attrs)))
    assert row["component"] == "checkout"
    assert row["attrs"] == {"stream": "stdout", "attrs.com.example.team": "payments"}


def test_payload_component_wins_over_the_tag_which_stays_in_attrs():
    (row,) = rows(parse(rec('{"service":"billing","msg":"hi"}\n', attrs={"tag": "web"})))
    assert row["component"] == "billing" and row["attrs"]["attrs.tag"] == "web"


def test_a_payload_stream_field_does_not_hide_the_envelope_stream():
    (row,) = rows(parse(rec('{"msg":"hi","stream":"orders"}\n', stream="stderr")))
    assert row["attrs"]["stream"] == "orders" and row["attrs"]["envelope.stream"] == "stderr"


def test_docker_path_gives_the_container_name_from_its_config(tmp_path):
    cid = "3f4e5d" + "a" * 58
    folder = tmp_path / "containers" / cid
    folder.mkdir(parents=True)
    log = folder / f"{cid}-json.log"
    assert container_component(str(log)) == cid[:12]
    (folder / "config.v2.json").write_text(json.dumps({"Name": "/shop-web-1", "Config": {"Labels": {}}}))
    assert container_component(str(log)) == "shop-web-1"
    (folder / "config.v2.json").write_text(json.dumps(
        {"Name": "/shop-web-1", "Config": {"Labels": {"com.docker.compose.service": "web"}}}))
    assert container_component(str(log) + ".1") == "web"
    (folder / "config.v2.json").write_text("{not json")
    assert container_component(str(log)) == cid[:12]


def test_ingest_fills_the_component_from_the_container_folder(tmp_path):
    cid = "b" * 64
    folder = tmp_path / cid
    folder.mkdir()
    (folder / f"{cid}-json.log").write_text(rec("hello\n") + "\n" + rec("tagged\n", attrs={"tag": "api"}) + "\n")
    ev = ingest([folder / f"{cid}-json.log"], options=IngestOptions(cache_dir=None)).events
    assert ev.sort("line")["component"].to_list() == ["bbbbbbbbbbbb", "api"]


# ----------------------------------------------------------------------------- malformed lines

def test_malformed_records_say_what_was_expected():
    res = parse("not json", '{"log":"cut', '{"stream":"stdout","time":"2026-03-14T11:02:17Z"}',
                '{"log":"x\\n","stream":"stdout","time":"yesterday"}', '{"log":"bad \\q"}')
    assert res.events.height == 0
    assert res.rejects["reason"].to_list() == [
        "not a Docker json-file record: expected a JSON object",
        "not a Docker json-file record: invalid JSON (cut short?)",
        'not a Docker json-file record: no "log" string',
        'not a Docker json-file record: no readable "time"',
        "not a Docker json-file record: invalid JSON",
    ]


# ----------------------------------------------------------------------------- chunked large files

def test_chunked_reading_gives_the_whole_file_result(monkeypatch, tmp_path):
    lines = []
    for i in range(400):
        t = T0 + timedelta(seconds=i)
        lines.append(rec(json.dumps({"level": "info", "msg": f"req {i}", "user": f"u{i % 7}"}) + "\n", t=t))
        if i % 25 == 0:
            lines.append(rec("Traceback (most recent call last):\n", stream="stderr", t=t))
            lines += [rec(f'  File "/app/m.py", line {j}, in f\n', stream="stderr", t=t) for j in range(6)]
            lines.append(rec("ValueError: bad\n", stream="stderr", t=t))
        if i % 40 == 0:
            big = json.dumps({"level": "warn", "msg": "big", "blob": "y" * 20_000}) + "\n"
            lines += [rec(big[:16384], t=t), rec(big[16384:], t=t)]
    p = tmp_path / "app-json.log"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.setattr(ingest_mod, "SMALL_FILE", -1)
    whole = ingest([p], options=IngestOptions(cache_dir=None))
    monkeypatch.setattr(ingest_mod, "STREAM_CHUNK", 20_000)
    chunked = ingest([p], options=IngestOptions(cache_dir=None))
    assert chunked.accounting.to_json() == whole.accounting.to_json()
    assert chunked.events.equals(whole.events)
    assert whole.events.height == 400 + 16 + 10


# ----------------------------------------------------------------------------- properties

_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n"), max_size=60)
_PAYLOAD = st.one_of(_TEXT, st.sampled_from([
    '{"level":"error","msg":"x","status":500}', "level=info msg=hi", "\tat a.b(C.java:1)",
    "Traceback (most recent call last):",
    "2026-03-14 11:02:17,123 ERROR [main] a.B - boom", "", "   ", '{"ts":0}', '{"ts":"2999-01-01T00:00:00Z"}', "{", "}",
    '1.2.3.4 - - [14/Mar/2026:11:02:17 +0000] "GET / HTTP/1.1" 500 1 "-" "ua"']))


@st.composite
def _record(draw):
    payload = draw(_PAYLOAD) + draw(st.sampled_from(["\n", "\n", ""]))
    stream = draw(st.sampled_from(["stdout", "stderr", ""]))
    t = draw(st.sampled_from(["2026-03-14T11:02:17.123456789Z", "2026-03-14T11:02:17Z", "0001-01-01T00:00:00Z",
                              "x", ""]))
    attrs = draw(st.sampled_from([None, {"tag": "web"}, {"tag": ""}, {"a": "b"}]))
    text = rec(payload, stream=stream, t=t, attrs=attrs)
    cut = draw(st.integers(0, len(text)))
    return draw(st.sampled_from([text, text, text[:cut], text[cut:], text.replace('"log"', '"msg"')]))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(_TEXT, _record()), max_size=25))
def test_arbitrary_and_mutated_lines_never_raise_and_accounting_holds(texts):
    check_parse_invariants(docker, texts)


# ----------------------------------------------------------------------------- a scan finds the outage

def test_scan_finds_the_5xx_outage_in_a_docker_log(tmp_path):
    cid = "c" * 64
    folder = tmp_path / "containers" / cid
    folder.mkdir(parents=True)
    (folder / "config.v2.json").write_text(json.dumps({"Name": "/shop-api"}))
    start = datetime(2026, 3, 14, 9, 0, tzinfo=timezone.utc)
    out_from, out_to = start + timedelta(minutes=60), start + timedelta(minutes=70)
    lines = []
    for i in range(2400):  # one request every 3 s for 2 hours
        t = start + timedelta(seconds=3 * i)
        down = out_from <= t < out_to and i % 3 != 0
        payload = {"level": "error" if down else "info", "msg": "request", "method": "GET",
                   "path": f"/api/items/{i % 50}", "status": 503 if down else 200, "duration_ms": 12.0,
                   "user_id": f"u{i % 40}", "request_id": f"r{i}"}
        lines.append(rec(json.dumps(payload) + "\n", t=t))
    (folder / f"{cid}-json.log").write_text("\n".join(lines) + "\n", encoding="utf-8")
    run = run_timeline([str(tmp_path)])
    assert set(run.ingest.events["component"].unique()) == {"shop-api"}
    bursts = run.timeline.bursts
    assert bursts, "the outage was not found"
    for b in bursts:
        assert b.start < out_to and b.end >= out_from, (b.start, b.end)
