"""Hypothesis properties: arbitrary bytes into every parser and through the
whole per-file path; no exception comes out and every line is accounted for:
``lines == events + continuation_lines + blank_lines + malformed``.

(The long coverage-guided run is fuzz/fuzz_ingest.py; see docs/reliability.md, "Fuzzing".)
"""

from __future__ import annotations

import bz2
import gzip
import json
import re

import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import forensics.ingest as ingest_mod
from forensics.cli.common import json_text
from forensics.ingest import formats, ingest, ingest_file
from forensics.ingest.formats.base import check_accounting
from forensics.ingest.options import IngestOptions
from forensics.ingest.reader import decode_lines, split_lines, split_lines_py
from forensics.sanitize import terminal_safe

OPTIONS = IngestOptions(max_bytes=1 << 20)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))

# Pieces of real log lines of every format, glued together at random: far more
# likely than uniform bytes to reach deep into the parsers.
TOKENS = [
    "2023-11-02 16:14:58,123", "2023-11-02T16:14:58.953Z", "2023-11-02 16:14:58.311 UTC", "1698941698",
    "02/Nov/2023:16:14:58 +0000", "[02/Nov/2023:16:14:58 +0000]", "02 Nov 2023 16:14:58.158", "Nov  2 16:14:58",
    "<13>", "1:M ", "[61] ", "LOG:  ", "ERROR:  ", "STATEMENT:  ", "DETAIL:  ", " INFO ", " ERROR ", " WARN ",
    "[main] ", "c.e.Foo - ", "user=u1 ", "session=s-1 ", "rid=abc ", "action=click ", 'msg="a b" ', "key=k:1 ",
    '{"ts": ', '"2023-11-02T16:14:58Z"', ', "user": "u1"', ', "a": {"b": [1, 2]}', "}", "{", '"', "=", "\\",
    '"GET /x?y=1 HTTP/1.1" 200 12 "-" "curl"', "10.0.0.1 - - ", "\tat a.b(C.java:1)", "  ", "\t", "\r", "\n", "\n",
    "\n\n", "\x1b[31m", "\u202e", "é", "\ufffd", "null", "true", "-", "0", "99999999999999999999", "",
]
text_lines = st.lists(st.sampled_from(TOKENS), max_size=40).map("".join)
any_bytes = st.one_of(st.binary(max_size=300), text_lines.map(str.encode),
                      st.tuples(text_lines, st.binary(max_size=20)).map(lambda t: t[0].encode() + t[1]))


@pytest.mark.parametrize("fmt", formats.names())
@SETTINGS
@given(data=any_bytes)
def test_every_parser_accounts_for_every_line_of_arbitrary_bytes(fmt, data):
    raw = decode_lines(data)
    if raw.binary:
        assert raw.lines.height == 0
        return
    check_accounting(formats.get(fmt), raw, options=OPTIONS)


def _wrap(kind: str, body: bytes, cut: float, flip: int) -> bytes:
    if kind == "raw":
        return body
    blob = {"gzip": gzip.compress, "bzip2": bz2.compress, "zstd": zstandard.compress}[kind](body)
    blob = blob[: max(4, int(len(blob) * cut))]
    if flip and len(blob) > 5:
        i = 4 + flip % (len(blob) - 4)
        blob = blob[:i] + bytes([blob[i] ^ 0x5A]) + blob[i + 1:]
    return blob


@SETTINGS
@given(body=any_bytes, kind=st.sampled_from(["raw", "gzip", "bzip2", "zstd"]),
       cut=st.sampled_from([1.0, 1.0, 0.9, 0.5, 0.1]), flip=st.integers(0, 1000))
def test_ingest_file_survives_arbitrary_and_damaged_compressed_bytes(tmp_path_factory, body, kind, cut, flip):
    p = tmp_path_factory.mktemp("f") / "input.log"
    p.write_bytes(_wrap(kind, body, cut, flip))
    ev, rej, rep = ingest_file(p, "input.log", options=OPTIONS)  # raises if unbalanced
    assert rep.balanced()
    assert ev.height == rep.events and rej.height == rep.malformed
    if rep.skipped is None and kind == "raw":
        # NUL runs become one U+FFFD each, which keeps the line count.
        assert rep.lines == len(split_lines_py(body.replace(b"\x00", b""))[0])


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.one_of(st.binary(max_size=200), text_lines.map(str.encode)))
def test_small_file_split_matches_the_polars_split(data):
    data = data.replace(b"\x00", b"")  # NUL runs are replaced before either split
    frame, invalid = split_lines(data)
    texts, invalid_py = split_lines_py(data)
    assert frame["text"].to_list() == texts
    assert invalid == invalid_py


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(files=st.lists(st.tuples(st.sampled_from(["a.log", "b.jsonl", "c/d.log"]), text_lines), min_size=2, max_size=6))
def test_batched_small_files_give_what_single_files_give(tmp_path_factory, files):
    root = tmp_path_factory.mktemp("batch")
    for i, (name, text) in enumerate(files):
        p = root / f"{i}_{name}"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text + "\n2023-11-02 16:14:58,123 INFO app: tail user=u1\n")
    batched = ingest([root])
    old = ingest_mod.SMALL_FILE
    ingest_mod.SMALL_FILE = -1
    try:
        single = ingest([root])
    finally:
        ingest_mod.SMALL_FILE = old
    assert batched.accounting == single.accounting
    assert batched.events.equals(single.events)
    assert batched.rejects.equals(single.rejects)


LEAK = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=80)
       | st.lists(st.sampled_from(["\x1b", "[", "]", "0;", "\x07", "\\", "8;;", "\x9b", "P", "m", "a", "\n"])).map("".join))
def test_terminal_safe_output_has_no_control_characters(text):
    out = terminal_safe(text, max_len=50)
    assert not LEAK.search(out) and "\x1b" not in out
    assert len(out) <= 50


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=5), st.text(max_size=20), max_size=4))
def test_json_on_stdout_is_terminal_safe_and_round_trips(doc):
    text = json_text(doc)
    assert json.loads(text) == doc
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]", text)
