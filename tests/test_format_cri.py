"""Kubernetes CRI reader: golden samples, sniffing, partial lines, the payload
parsed as its own format, the component from the pod path, invariants, a scan.

Lines are modeled on the CRI logging proposal,
https://github.com/kubernetes/design-proposals-archive/blob/main/node/kubelet-cri-logging.md
(``<RFC 3339 nano time> <stream> <content>``), with the ``P``/``F`` tag that
containerd and CRI-O write and the kubelet reads
(https://github.com/kubernetes/kubernetes/blob/master/pkg/kubelet/kuberuntime/logs/logs.go),
and the file layout ``/var/log/pods/<namespace>_<pod>_<uid>/<container>/<n>.log``
with its ``/var/log/containers/<pod>_<namespace>_<container>-<id>.log`` links.
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
from forensics.ingest.formats import cri
from forensics.scan import run_timeline
from golden_util import (FOREIGN_LINES, FORMAT_GOLDENS, GOLDEN, check_parse_invariants, golden_sample,
                         run_golden)

FOLDERS = ("cri", "cri_java")
T0 = datetime(2026, 3, 14, 11, 2, 17, 123456, tzinfo=timezone.utc)
POD = "/var/log/pods/shop_checkout-7d9f8b6c5-x2x9k_0f3c2a1e-8b7d-4c6e-9a5f-1e2d3c4b5a69"


def line(msg: str, *, stream: str = "stdout", tag: str = "F", t: datetime = T0) -> str:
    return f"{t.strftime('%Y-%m-%dT%H:%M:%S.%f')}789Z {stream} {tag} {msg}"


def parse(*texts: str, **opts):
    return check_parse_invariants(cri, list(texts), IngestOptions(**opts))


def rows(res) -> list[dict]:
    out = res.events.to_dicts()
    for row in out:
        row["attrs"] = json.loads(row["attrs"]) if row["attrs"] else {}
    return out


# ----------------------------------------------------------------------------- goldens and sniffing

def test_golden_sample_line_accounting_balances():
    rep = run_golden("cri", GOLDEN / "cri").accounting.files[0]
    assert rep.lines == rep.events + rep.continuation_lines + rep.blank_lines + rep.malformed
    # two P pieces of one access line and an empty F line are continuations
    assert (rep.events, rep.continuation_lines, rep.blank_lines, rep.malformed) == (12, 3, 1, 4)


@pytest.mark.parametrize("folder", FOLDERS)
def test_no_other_sniffer_beats_cri_on_its_sample(folder):
    sample = golden_sample(GOLDEN / folder)
    mine = cri.sniff(sample)
    assert mine >= 0.8
    for name in formats.names():
        if name != "cri":
            assert formats.get(name).sniff(sample) <= mine, name


@pytest.mark.parametrize("other", sorted(FOREIGN_LINES))
def test_sniff_does_not_claim_other_formats(other):
    assert cri.sniff(FOREIGN_LINES[other]) < 0.5


@pytest.mark.parametrize("folder", sorted(f for f, fmt in FORMAT_GOLDENS.items() if fmt != "cri"))
def test_sniff_does_not_claim_other_golden_samples(folder):
    assert cri.sniff(golden_sample(GOLDEN / folder)) < 0.5


# ----------------------------------------------------------------------------- partial lines

def test_partial_lines_are_joined_per_stream_and_numbered_by_the_first():
    res = parse(line('{"level":"error","msg":"pay', tag="P"), line("other stream", stream="stderr"),
                line('ment failed","user":"u9"}', tag="F"))
    got = rows(res)
    assert [r["line"] for r in got] == [1, 2] and res.continuation_lines == 1
    assert (got[0]["level"], got[0]["message"], got[0]["user"]) == ("error", "payment failed", "u9")
    assert got[1]["attrs"]["stream"] == "stderr"


def test_an_unfinished_partial_line_is_still_an_event():
    res = parse(line("done"), line("cut when the container died", tag="P"))
    assert res.events["message"].to_list() == ["done", "cut when the container died"]


def test_empty_full_line_is_a_continuation_and_a_missing_space_is_tolerated():
    res = parse(line("a"), line(""), "2026-03-14T11:02:18Z stdout F", line("b"))
    assert res.events["line"].to_list() == [1, 4] and res.continuation_lines == 2


# ----------------------------------------------------------------------------- the payload

def test_klog_payload_levels_come_from_the_letter():
    texts = [line("I0314 11:02:17.002211       1 leaderelection.go:250] attempting to acquire lease", stream="stderr"),
             line("W0314 11:02:17.002211       1 reflector.go:535] watch ended", stream="stderr"),
             line("E0314 11:02:17.008812       1 leaderelection.go:332] error retrieving lock", stream="stderr")]
    assert [r["level"] for r in rows(parse(*texts))] == ["info", "warn", "error"]


def test_access_payload_gets_status_level_and_route_and_envelope_precision():
    acc = ('10.0.0.7 - bob [14/Mar/2026:11:02:17 +0000] "POST /shop/orders/55/pay HTTP/1.1" 502 157 "-" "curl/8" '
           'rt=5.001')
    (row,) = rows(parse(line(acc)))
    assert (row["status"], row["level"], row["user"]) == (502, "error", "bob")
    assert row["action"] == "POST /shop/orders/{id}/pay"
    assert row["latency_ms"] == pytest.approx(5001.0)
    assert row["ts"] == T0  # the access time is to the second: the envelope refines it


def test_timestamped_text_folds_untimestamped_lines_as_plain_does():
    texts = [line("2026-03-14 11:02:17,100 ERROR [main] c.e.Svc - failed user=u1"),
             line("java.lang.IllegalStateException: boom"), line("\tat c.e.Svc.run(Svc.java:1)"),
             line("some more text"), line("2026-03-14 11:02:18,000 INFO [main] c.e.Svc - ok")]
    res = parse(*texts)
    got = rows(res)
    assert [r["line"] for r in got] == [1, 5] and res.continuation_lines == 3
    assert got[0]["user"] == "u1" and got[0]["message"].endswith("some more text")
    assert got[0]["ts"] == datetime(2026, 3, 14, 11, 2, 17, 100000, tzinfo=timezone.utc)


def test_bare_text_lines_are_events_but_frames_fold():
    texts = [line("Starting worker"), line("Listening on :8080"),
             line("Exception in thread \"main\" java.lang.Error: x"),
             line("\tat a.B.c(B.java:1)"), line("Caused by: java.io.IOException: y"), line("\t... 3 more"),
             line("Worker restarted")]
    got = rows(parse(*texts))
    assert [r["line"] for r in got] == [1, 2, 3, 7]
    assert [r["level"] for r in got] == ["info", "info", "error", "info"]


def test_a_traceback_after_an_error_line_folds_only_when_written_with_it():
    err = line("ERROR:app:payment failed")
    tb = [line("Traceback (most recent call last):", t=T0 + timedelta(microseconds=5)),
          line('  File "a.py", line 1, in f', t=T0 + timedelta(microseconds=6)),
          line("KeyError: 'x'", t=T0 + timedelta(microseconds=7))]
    assert rows(parse(err, *tb))[0]["message"].endswith("KeyError: 'x'")
    late = [line(t.split(" F ", 1)[1], t=T0 + timedelta(seconds=2)) for t in tb]
    got = rows(parse(err, *late))
    assert [r["line"] for r in got] == [1, 2] and got[1]["level"] == "error"


def test_folding_stays_within_a_stream():
    texts = [line("request ok", stream="stdout"), line("\tat a.B.c(B.java:1)", stream="stderr")]
    assert parse(*texts).events.height == 2


# ----------------------------------------------------------------------------- component from the path

def test_pod_and_container_log_paths_name_the_container():
    assert container_component(f"{POD}/checkout/0.log") == "checkout"
    assert container_component(f"{POD}/istio-proxy/3.log.20260314-110217.gz") == "istio-proxy"
    link = "/var/log/containers/checkout-7d9f8b6c5-x2x9k_shop_checkout-" + "a1" * 32 + ".log"
    assert container_component(link) == "checkout"
    assert container_component("C:\\incident\\pods\\kube-system_etcd-node1_" + "f" * 32 + "\\etcd\\0.log") == "etcd"
    assert container_component("/var/log/app/0.log") is None


def test_ingest_fills_the_component_from_the_pod_folder(tmp_path):
    folder = tmp_path / POD.lstrip("/") / "checkout"
    folder.mkdir(parents=True)
    (folder / "0.log").write_text(line('{"msg":"hi"}') + "\n" + line('{"msg":"hi","service":"billing"}') + "\n")
    ev = ingest([tmp_path], options=IngestOptions(cache_dir=None)).events.sort("line")
    assert ev["component"].to_list() == ["checkout", "billing"]


# ----------------------------------------------------------------------------- malformed lines

def test_malformed_lines_say_what_was_expected():
    res = parse("2026-03-14 11:02:17 stdout F x", line("x", stream="stdin"), "hello", "2026-02-30T11:02:17Z stdout F x")
    shape = "not a CRI log line: expected `<RFC 3339 time> stdout|stderr F|P <line>`"
    assert res.rejects["reason"].to_list() == [shape] * 3 + ["not a CRI log line: unreadable time"]


# ----------------------------------------------------------------------------- chunked large files

def test_chunked_reading_gives_the_whole_file_result(monkeypatch, tmp_path):
    lines = []
    for i in range(500):
        t = T0 + timedelta(seconds=i)
        lines.append(line(json.dumps({"level": "info", "msg": f"req {i}", "user": f"u{i % 5}"}), t=t))
        if i % 20 == 0:
            head = f"2026-03-14 11:{i // 60 % 60:02d}:00,000 ERROR [w] c.e.J - job {i}"
            lines.append(line(head, stream="stderr", t=t))
            lines += [line(f"\tat c.e.J.run{j}(J.java:{j})", stream="stderr", t=t) for j in range(8)]
        if i % 30 == 0:
            lines += [line("x" * 300, tag="P", t=t), line("y" * 300, tag="P", t=t), line("z", t=t)]
    p = tmp_path / "0.log"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.setattr(ingest_mod, "SMALL_FILE", -1)
    whole = ingest([p], options=IngestOptions(cache_dir=None))
    monkeypatch.setattr(ingest_mod, "STREAM_CHUNK", 8_000)
    chunked = ingest([p], options=IngestOptions(cache_dir=None))
    assert chunked.accounting.to_json() == whole.accounting.to_json()
    assert chunked.events.equals(whole.events)
    assert whole.events.height == 500 + 25 + 17


def test_small_files_batched_together_give_what_each_file_gives_alone(monkeypatch, tmp_path):
    bodies = {
        "a/0.log": [line('{"level":"info","msg":"a"}'), line("Traceback (most recent call last):", stream="stderr"),
                    line('  File "a.py", line 1', stream="stderr"), line("half a line", tag="P")],
        "b/0.log": [line("\tat x.Y.z(Y.java:1)", stream="stderr"), line("rest of it"), line("ERROR:b:boom")],
        "c/0.log": [line("2026-03-14 11:02:17,000 INFO [m] c.D - x"), line("more text")],
        "d/0.log": [line("more text"),
                    line('10.0.0.1 - - [14/Mar/2026:11:02:17 +0000] "GET / HTTP/1.1" 503 1 "-" "ua"')],
    }
    for rel, texts in bodies.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("\n".join(texts) + "\n", encoding="utf-8")
    batched = ingest([tmp_path], options=IngestOptions(cache_dir=None))
    monkeypatch.setattr(ingest_mod, "SMALL_FILE", -1)
    single = ingest([tmp_path], options=IngestOptions(cache_dir=None))
    assert batched.accounting == single.accounting
    assert batched.events.equals(single.events)
    assert single.events.height == 9


# ----------------------------------------------------------------------------- properties

_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n"), max_size=60)
_MSG = st.one_of(_TEXT, st.sampled_from([
    '{"level":"error","msg":"x","status":500}', "level=info msg=hi", "\tat a.b(C.java:1)",
    "Traceback (most recent call last):",
    "2026-03-14 11:02:17,123 ERROR [main] a.B - boom", "", "   ", '{"ts":0}', "I0314 11:02:17.1 1 a.go:1] x", "{",
    '1.2.3.4 - - [14/Mar/2026:11:02:17 +0000] "GET / HTTP/1.1" 500 1 "-" "ua"', "panic: x", "ValueError: y"]))
_TIME = st.sampled_from(["2026-03-14T11:02:17.123456789Z", "2026-03-14T11:02:17Z", "2026-03-14T11:02:17.5+01:00",
                         "2026-13-14T11:02:17Z", "1970-01-01T00:00:00Z", "2999-01-01T00:00:00Z"])


@st.composite
def _line(draw):
    text = (f"{draw(_TIME)} {draw(st.sampled_from(['stdout', 'stderr', 'stdin']))} "
            f"{draw(st.sampled_from(['F', 'P', 'F', 'X:y', '']))} {draw(_MSG)}")
    cut = draw(st.integers(0, len(text)))
    return draw(st.sampled_from([text, text, text[:cut], text[cut:]]))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(_TEXT, _line()), max_size=25))
def test_arbitrary_and_mutated_lines_never_raise_and_accounting_holds(texts):
    check_parse_invariants(cri, texts)


# ----------------------------------------------------------------------------- a scan finds the outage

def test_scan_finds_the_5xx_outage_in_a_pod_log(tmp_path):
    folder = tmp_path / POD.lstrip("/") / "nginx"
    folder.mkdir(parents=True)
    start = datetime(2026, 3, 14, 9, 0, tzinfo=timezone.utc)
    out_from, out_to = start + timedelta(minutes=45), start + timedelta(minutes=55)
    lines = []
    for i in range(2400):  # one request every 3 s for 2 hours
        t = start + timedelta(seconds=3, microseconds=1000) * i
        down = out_from <= t < out_to and i % 4 != 0
        status = 502 if down else 200
        acc = (f'10.0.0.{i % 30} - u{i % 30} [{t:%d/%b/%Y:%H:%M:%S} +0000] "GET /shop/items/{i % 60} HTTP/1.1" '
               f'{status} 512 "-" "Mozilla/5.0" rt=0.0{i % 9}')
        lines.append(line(acc, t=t))
        if down and i % 5 == 0:
            lines.append(line(f"{t:%Y/%m/%d %H:%M:%S} [error] 29#29: *{i} upstream timed out", stream="stderr", t=t))
    (folder / "0.log").write_text("\n".join(lines) + "\n", encoding="utf-8")
    run = run_timeline([str(tmp_path)])
    assert set(run.ingest.events["component"].unique()) == {"nginx"}
    bursts = run.timeline.bursts
    assert bursts, "the outage was not found"
    for b in bursts:
        assert b.start < out_to and b.end >= out_from, (b.start, b.end)
