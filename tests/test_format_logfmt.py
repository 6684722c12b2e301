"""logfmt reader: golden sample, sniffing, quoting, malformed lines, invariants."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forensics.ingest import formats
from forensics.ingest.formats import logfmt
from forensics.ingest.normalize import extract_kv
from forensics.ingest.options import IngestOptions
from golden_util import FOREIGN_LINES, assert_golden, check_parse_invariants, golden_sample, run_golden

GOLDEN = Path(__file__).parent / "golden"
HERE = GOLDEN / "logfmt"


def _parse(*texts: str, **opts) -> pl.DataFrame:
    return check_parse_invariants(logfmt, list(texts), IngestOptions(**opts))


def test_golden_sample_matches_expected_events_and_rejects():
    assert_golden("logfmt", HERE)


def test_golden_sample_line_accounting_balances():
    rep = run_golden("logfmt", HERE).accounting.files[0]
    assert rep.lines == rep.events + rep.continuation_lines + rep.blank_lines + rep.malformed
    assert rep.blank_lines == 2 and rep.malformed > 0 and rep.events > 15


def test_sniff_picks_logfmt_for_golden_sample():
    assert formats.sniff(golden_sample(HERE)) == "logfmt"
    assert run_golden(None, HERE).accounting.files[0].format == "logfmt"


@pytest.mark.parametrize("other", ["jsonl", "java", "redis", "access", "syslog"])
def test_sniff_does_not_claim_other_formats(other):
    assert logfmt.sniff(FOREIGN_LINES[other]) < 0.5


@pytest.mark.parametrize("other", ["access", "syslog"])
def test_sniff_does_not_claim_other_golden_samples(other):
    assert logfmt.sniff(golden_sample(GOLDEN / other)) < 0.5


def test_quoted_values_keep_spaces_and_escaped_quotes():
    ev = _parse('ts=2026-03-14T11:02:33Z msg="say \\"hi\\" to a\\\\b" user_id="u 1"').events
    assert ev["message"].to_list() == ['say "hi" to a\\b']
    assert ev["user"].to_list() == ["u 1"]


def test_aliases_fill_canonical_columns_and_rest_goes_to_attrs():
    ev = _parse("time=2026-03-14T11:02:33Z lvl=WARNING app=api uid=u1 session_id=s1 trace_id=t1 rt=0.25 cache_key=k1 extra=x").events
    row = ev.row(0, named=True)
    assert (row["level"], row["component"], row["user"], row["session"], row["request_id"], row["key"]) == (
        "warn", "api", "u1", "s1", "t1", "k1"
    )
    assert row["latency_ms"] == pytest.approx(250.0)
    assert row["attrs"] == '{"extra":"x"}'


def test_field_named_line_does_not_clash_with_line_numbers():
    ev = _parse("ts=2026-03-14T11:02:33Z line=88 caller=pool.go").events
    assert ev["line"].to_list() == [1]
    assert '"line_":"88"' in ev["attrs"].item()


def test_line_not_starting_with_a_pair_is_rejected():
    rej = _parse("hello world", "  at Foo.bar(Foo.java:1)", "[x] ts=2026-03-14T11:02:33Z a=1").rejects
    assert rej["reason"].to_list() == ["not a logfmt line"] * 3


def test_missing_and_unreadable_timestamps_have_distinct_reasons():
    res = _parse("a=1 b=2", "ts=later a=1", "ts=2026-03-14T11:02:33Z a=1")
    assert res.rejects.select("line", "reason").rows() == [(1, "no timestamp field"), (2, "unreadable timestamp")]
    assert res.events["line"].to_list() == [3]


def test_time_field_option_overrides_aliases():
    ev = _parse("ts=bogus when=2026-03-14T11:02:33+01:00 a=1", time_field="when").events
    assert ev["ts"].dt.hour().to_list() == [10]


def test_naive_timestamps_are_read_in_the_given_zone():
    ev = _parse("ts=2026-07-01T12:00:00 a=1", tz="Europe/Berlin").events
    assert ev["ts"].dt.hour().to_list() == [10]


_FRAGMENTS = st.sampled_from(
    ["ts=2026-03-14T11:02:33Z", "level=info", 'msg="a b"', 'msg="unterminated', "user_id=u1", "line=3", "=", '"',
     "\\", "ts=", "x=", "key", "rt=0.5", "status=500", "ts=1698941698", "Ä=1", "a.b-c=d", "\x1b[31m", "\t"]
)
_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n"), max_size=80)
_LINE = st.one_of(_TEXT, st.lists(_FRAGMENTS, max_size=8).map(" ".join))


@settings(max_examples=150, deadline=None)
@given(st.lists(_LINE, max_size=25))
def test_arbitrary_lines_never_raise_and_accounting_holds(texts):
    check_parse_invariants(logfmt, texts)


_SHAPED = st.sampled_from([
    'ts=2026-03-14T11:02:33.{n:03d}Z level=info msg="served" user_id=u{n} rid=r{n} duration_ms={n}',
    'ts=2026-03-14T11:02:33.{n:03d}Z level=error msg="said \\"hi\\" {n}" user_id=u{n} rid=r{n} duration_ms=1 err="boom"',
    'ts=2026-03-14T11:02:34Z level=warn msg="path a=b" user_id=u{n} rid=r{n} duration_ms=2',
    'ts=2026-03-14T11:02:35Z level=info msg="x rid=9" user_id=u{n} rid=r{n} duration_ms=3',
    'ts=2026-03-14T11:02:36Z  level=info\tmsg=plain user_id=u{n} duration_ms=4 ',
    ' ts=2026-03-14T11:02:37Z level=info msg="ü ✓" user_id="u {n}" rid=r{n} rid=again q=a=b',
    'level=info msg="no time" user_id=u{n}',
    'ts=yesterday level=info msg="bad time"',
    'ts=1698941650 lvl=INFO svc=api uid=u{n} msg=""',
    'not logfmt {n}',
    '   ',
])


def _kv_paths(texts: list[str], sample: int):
    lines = pl.DataFrame({"line": pl.Series(range(1, len(texts) + 1), dtype=pl.Int64), "text": texts})
    saved = logfmt.extract_kv
    logfmt.extract_kv = partial(extract_kv, sample=sample)
    try:
        return logfmt.parse(lines, options=IngestOptions())
    finally:
        logfmt.extract_kv = saved


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(_SHAPED, st.integers(0, 999)), min_size=1, max_size=40), st.integers(0, 8))
def test_large_file_fast_paths_give_the_same_events_as_the_general_path(rows, sample):
    # A small ``sample`` makes extract_kv take its one-regex and per-key
    # paths as it does past 2000 lines; a huge one takes explode-and-pivot.
    texts = [shape.format(n=n) for shape, n in rows]
    fast, general = _kv_paths(texts, sample), _kv_paths(texts, 10**9)
    assert fast.events.equals(general.events)
    assert fast.rejects.equals(general.rejects) and fast.blank_lines == general.blank_lines
