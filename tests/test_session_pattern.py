"""--session-pattern: session ids found inside the message, any format."""

from __future__ import annotations

import polars as pl
import pytest

from forensics.errors import UsageError
from forensics.ingest import ingest
from forensics.schema import conform
from forensics.timeline.sessions import action_rows, session_pattern_group, sessions_from_pattern
from forensics.timeline.templates import free_text_events
from tests.test_labeled import PATTERN, _hdfs_text, block_rows, timeline_of


def _events(messages, **cols):
    return conform(pl.DataFrame({"message": messages, **cols}))


def test_pattern_fills_session_from_the_message():
    ev = _events(["Receiving block blk_-42 src: /10.0.0.1:5", "Deleting block blk_7 file /d/blk_7", "no id here"])
    assert sessions_from_pattern(ev, PATTERN)["session"].to_list() == ["blk_-42", "blk_7", None]


def test_first_capture_group_is_the_session_id():
    ev = _events(["job=abc-12 started", "job=xyz-3 done"])
    assert sessions_from_pattern(ev, r"job=(\w+)-\d+")["session"].to_list() == ["abc", "xyz"]


def test_a_session_of_the_row_itself_wins():
    ev = _events(["blk_1 here", "blk_2 here"], session=["s9", None])
    assert sessions_from_pattern(ev, PATTERN)["session"].to_list() == ["s9", "blk_2"]


def test_no_pattern_changes_nothing():
    ev = _events(["blk_1 here"])
    assert sessions_from_pattern(ev, None).equals(ev)


@pytest.mark.parametrize("bad", ["blk_(", "x*", ""])
def test_bad_or_empty_matching_patterns_are_usage_errors(bad):
    with pytest.raises(UsageError):
        session_pattern_group(bad)


def test_pattern_rows_become_sessions_of_template_steps():
    tl = timeline_of(block_rows(3, failing=set()))
    assert tl.sessions.height == 3
    acts = action_rows(tl.actions, tl.events, ["session_key", "action"]).filter(pl.col("session_key") == "blk_1000")
    assert acts["seq"].to_list() == list(range(acts.height))
    assert acts["action"].head(5).to_list() == [
        "BLOCK* NameSystem.allocateBlock: <path> blk_<n>",
        "Receiving block blk_<n> src: /<ip> dest: /<ip>",
        "Received block blk_<n> of size <num> from /<ip>",
        "PacketResponder <num> for block blk_<n> terminating",
        "BLOCK* NameSystem.addStoredBlock: blockMap updated: <ip> is added to blk_<n> size <num>",
    ]


def test_pattern_works_on_any_format(write):
    f = write("app.jsonl", '{"ts": "2024-01-01T00:00:00Z", "msg": "order ord-17 paid"}\n'
                           '{"ts": "2024-01-01T00:00:01Z", "msg": "order ord-17 shipped"}\n')
    ev = free_text_events(ingest([f]).events, session_pattern=r"ord-\d+")
    assert ev["session"].to_list() == ["ord-17", "ord-17"]
    assert ev["action"].to_list() == ["order ord-<n> paid", "order ord-<n> shipped"]


def test_hdfs_lines_are_read_with_block_sessions(write):
    f = write("hdfs.log", _hdfs_text(block_rows(2, failing=set())))
    ev = free_text_events(ingest([f]).events, session_pattern=PATTERN)
    assert set(ev["session"].to_list()) == {"blk_1000", "blk_1001"}
    assert ev["action"].null_count() == 0
