"""The faster ingest paths of issue 15 give what the general paths give.

* :func:`forensics.ingest.normalize.parse_times` (RFC 3339 UTC times read by
  parts) against :func:`~forensics.ingest.normalize.parse_timestamp_series`;
* :func:`~forensics.ingest.normalize.fast_level` against
  :func:`~forensics.ingest.normalize.normalize_level`, the match-based
  :func:`~forensics.ingest.normalize.blank_id`, and integer ``status`` and
  ``latency_ms`` fields read without their text;
* Docker's whole-buffer fast path (:func:`forensics.ingest.formats.docker.parse_bytes`)
  against its ``parse``, and JSON payloads read through ``jsonl.parse_bytes``
  (:data:`forensics.ingest.formats.envelope.FAST_INNER`) against ``jsonl.parse``.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from forensics.ingest import IngestOptions
from forensics.ingest.formats import docker, envelope
from forensics.ingest.normalize import (
    blank_id, canonicalize, fast_level, normalize_level, parse_timestamp_series, parse_times,
)
from forensics.ingest.reader import split_lines
from golden_util import GOLDEN


# ----------------------------------------------------------------------------- times

def _iso(rng: random.Random) -> str:
    y = rng.choice([1999, 2023, 2024, 2038, 2100])
    frac = "".join(rng.choice("0123456789") for _ in range(rng.randint(0, 9)))
    return (f"{y:04d}-{rng.randint(1, 12):02d}-{rng.randint(1, 31):02d}T{rng.randint(0, 23):02d}:"
            f"{rng.randint(0, 59):02d}:{rng.randint(0, 60):02d}{'.' + frac if frac else ''}Z")


@pytest.mark.parametrize("tz", ["UTC", "Europe/Berlin"])
def test_parse_times_equals_the_general_parse_on_rfc3339_columns(tz):
    rng = random.Random(15)
    values = [_iso(rng) for _ in range(5000)]  # invalid days (02-31) and leap seconds (:60) among them
    values[3000:3000] = ["garbage", None, "2023-11-02 10:00:00+02:00", "2023-11-02T10:00:00.Z",
                         "2023-11-02T10:00:00.1234567890Z", "1698941698", "2023-11-02T10:00:00",
                         " 2023-11-02T10:00:00Z"]
    s = pl.Series("t", values, dtype=pl.String)
    assert_frame_equal(parse_times(s, tz=tz).to_frame(), parse_timestamp_series(s, tz=tz).to_frame())


@pytest.mark.parametrize("values", [
    ["2023-11-02 10:00:00", "2023-11-02T10:00:00.5Z"],  # the sample picks another format
    ["2023-02-30T10:00:00Z", "2023-11-02T10:00:00Z"],  # not every sample value reads
    ["1698941698", "1698941699"],
    [None, None],
])
def test_parse_times_equals_the_general_parse_elsewhere(values):
    s = pl.Series("t", values, dtype=pl.String)
    assert_frame_equal(parse_times(s).to_frame(), parse_timestamp_series(s).to_frame())


def test_parse_times_of_numbers_is_the_general_parse():
    s = pl.Series("t", [1698941698, None, 1698941698123])
    assert_frame_equal(parse_times(s).to_frame(), parse_timestamp_series(s).to_frame())


# ----------------------------------------------------------------------------- canonical values

_LEVELS = ["info", "INFO", "Info", "iNfO", " warn ", "[ERROR]", "warning", "WARNING", "e", "E", "crit", "5", "",
           "verbose-ish", "Notice", "fatal", "FATAL", "Trace", None, "DEBUG", "dbg", "emerg", "alert", "ALERT"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(_LEVELS), st.text(max_size=6)), min_size=1, max_size=40))
def test_fast_level_is_normalize_level(values):
    df = pl.DataFrame({"l": values}, schema={"l": pl.String})
    got = df.select(fast_level(pl.col("l"), pl.String()))
    assert_frame_equal(got, df.select(normalize_level(pl.col("l"))))


_IDS = ["", " ", "-", " - ", "--", "a", "\u00a0-\u2000", "\t", "u-1", None, "\u2028", "- x"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(_IDS), st.text(max_size=4)), min_size=1, max_size=30))
def test_blank_id_is_strip_then_compare(values):
    df = pl.DataFrame({"u": values}, schema={"u": pl.String})
    want = df.select(pl.col("u").str.strip_chars().is_in(["", "-"]))
    assert_frame_equal(df.select(blank_id(pl.col("u"))), want)


@pytest.mark.parametrize("dtype", [pl.Int64, pl.Int8, pl.UInt64, pl.Int32])
def test_integer_status_and_latency_read_as_their_text(dtype):
    nums = [-5, 0, 7, 200, 999, 1000, None, 127] if dtype != pl.UInt64 else [0, 7, 200, 999, 1000, None, 2**63]
    nums = [n for n in nums if n is None or dtype != pl.Int8 or -128 <= n <= 127]
    ints = pl.DataFrame({"line": list(range(1, len(nums) + 1)), "status": nums, "duration_ms": nums},
                        schema={"line": pl.Int64, "status": dtype, "duration_ms": dtype})
    text = ints.with_columns(pl.col("status", "duration_ms").cast(pl.String))
    a = canonicalize(ints, options=IngestOptions()).select("status", "latency_ms")
    b = canonicalize(text, options=IngestOptions()).select("status", "latency_ms")
    assert_frame_equal(a, b)


# ----------------------------------------------------------------------------- docker

T0 = datetime(2026, 3, 14, 11, 2, 17, 123456, tzinfo=timezone.utc)


def _rec(log: str, *, stream: str = "stdout", t: datetime = T0, attrs: dict | None = None) -> str:
    doc: dict = {"log": log, "stream": stream}
    if attrs:
        doc["attrs"] = attrs
    doc["time"] = t.strftime("%Y-%m-%dT%H:%M:%S.%f") + "789Z"
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


def _payloads(rng: random.Random, n: int) -> list[str]:
    out = []
    for i in range(n):
        kind = rng.randrange(8)
        ts = (T0 + timedelta(milliseconds=i)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        if kind < 4:
            doc = {"timestamp": ts, "level": rng.choice(["info", "WARN", "error"]), "user_id": f"u{i % 7}",
                   "status": rng.choice([200, 404, 500]), "latency_ms": rng.choice([1, 2.5, 30.25])}
            if kind == 1:
                doc["extra"] = {"k": [1, 2], "q": 'a "b"'}
            out.append(json.dumps(doc) + "\n")
        elif kind == 4:
            out.append(f"ts={ts} level=info msg=\"hi {i}\"\n")
        elif kind == 5:
            out.append("   \n" if rng.random() < 0.5 else "\n")
        elif kind == 6:
            out.append(f"{ts} ERROR boom {i}\n")
        else:
            out.append(json.dumps({"msg": "part", "n": i}))  # a partial record: joined with the next one
    return out


def _docker_text(seed: int, n: int = 300) -> bytes:
    rng = random.Random(seed)
    recs = []
    for i, log in enumerate(_payloads(rng, n)):
        t = T0 + timedelta(milliseconds=i)
        attrs = {"tag": "web"} if seed % 2 and i % 3 == 0 else None
        recs.append(_rec(log, stream=rng.choice(["stdout", "stderr"]), t=t, attrs=attrs))
    return ("\n".join(recs) + "\n").encode()


def _both(data: bytes):
    lines, _ = split_lines(data)
    fast = docker.parse_bytes(data, lines, options=IngestOptions())
    slow = docker.parse(lines, options=IngestOptions())
    return fast, slow


@pytest.mark.parametrize("seed", range(6))
def test_docker_buffer_fast_path_equals_parse(seed):
    fast, slow = _both(_docker_text(seed))
    assert fast is not None
    assert_frame_equal(fast.events, slow.events)
    assert_frame_equal(fast.rejects, slow.rejects)
    assert (fast.continuation_lines, fast.blank_lines) == (slow.continuation_lines, slow.blank_lines)


@pytest.mark.parametrize("extra", [b"\n", b"not json\n", b'{"log":"x\\n","stream":"stdout"}\n',
                                   b'{"log":"x\\n","stream":"stdout","time":"2026-03-14T11:02:17Z","y":1}\n'])
def test_docker_buffer_fast_path_leaves_other_lines_to_parse(extra):
    data = _docker_text(1, 20) + extra
    lines, _ = split_lines(data)
    assert docker.parse_bytes(data, lines, options=IngestOptions()) is None


def test_docker_golden_records_through_the_fast_path():
    for folder in ("docker", "docker_text"):
        text = (GOLDEN / folder / "input.log").read_text()
        kept = [ln for ln in text.splitlines() if ln.strip() and ln.startswith('{"log":')]
        data = ("\n".join(kept) + "\n").encode()
        lines, _ = split_lines(data)
        if not bool(lines["text"].str.contains(docker.CANONICAL).all()):
            continue
        fast, slow = _both(data)
        assert_frame_equal(fast.events, slow.events)
        assert_frame_equal(fast.rejects, slow.rejects)


@pytest.mark.parametrize("seed", range(4))
def test_json_payloads_through_jsonl_parse_bytes_equal_jsonl_parse(seed, monkeypatch):
    lines, _ = split_lines(_docker_text(seed))
    fast = docker.parse(lines, options=IngestOptions())
    monkeypatch.setattr(envelope, "FAST_INNER", frozenset())
    slow = docker.parse(lines, options=IngestOptions())
    assert_frame_equal(fast.events, slow.events)
    assert fast.continuation_lines == slow.continuation_lines


def _json_only(n: int, late_key_at: int | None) -> bytes:
    recs = []
    for i in range(n):
        t = T0 + timedelta(milliseconds=i)
        doc = {"timestamp": (t + timedelta(seconds=i % 3)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
               "level": ["info", "warn", "ERROR"][i % 3], "user_id": f"u{i % 11}", "status": [200, 404, 500][i % 3],
               "latency_ms": [1, 2.5][i % 2], "msg": 'said "hi"' if i % 5 == 0 else "ok"}
        if late_key_at is not None and i >= late_key_at:
            doc["late"] = {"x": i}
        recs.append(_rec(json.dumps(doc, separators=(",", ":")) + "\n", t=t))
    return ("\n".join(recs) + "\n").encode()


@pytest.mark.parametrize("late_key_at", [None, 1500])
def test_json_only_payloads_fast_and_slow_agree(late_key_at, monkeypatch):
    data = _json_only(2000, late_key_at)
    lines, _ = split_lines(data)
    fast = docker.parse_bytes(data, lines, options=IngestOptions())
    monkeypatch.setattr(envelope, "FAST_INNER", frozenset())
    slow = docker.parse(lines, options=IngestOptions())
    assert fast is not None and fast.events.height == 2000
    assert_frame_equal(fast.events, slow.events)
    if late_key_at is not None:
        assert fast.events["attrs"].str.contains('"late.x"').sum() == 500


def test_payload_with_a_dunder_line_key_reads_as_before(monkeypatch):
    recs = [_rec(json.dumps({"timestamp": "2026-03-14T11:02:17Z", "__line": "x", "msg": "a"}) + "\n"),
            _rec(json.dumps({"timestamp": "2026-03-14T11:02:18Z", "msg": "b"}) + "\n")]
    lines, _ = split_lines(("\n".join(recs) + "\n").encode())
    fast = docker.parse(lines, options=IngestOptions())
    monkeypatch.setattr(envelope, "FAST_INNER", frozenset())
    assert_frame_equal(fast.events, docker.parse(lines, options=IngestOptions()).events)
