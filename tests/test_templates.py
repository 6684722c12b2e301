"""Message templates as actions: masking, ids, which rows, the template table."""

from __future__ import annotations

import sys
from itertools import islice
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forensics.schema import conform
from forensics.timeline.templates import (apply_template_actions, template_expr, template_id, template_ids,
                                          template_table)
from tests.test_labeled import block_rows, timeline_of

REPO = Path(__file__).resolve().parent.parent
HDFS = REPO.parent / "shared" / "datasets" / "hdfs_loglead_2pct"


def tpl(*messages: str) -> list[str]:
    return pl.DataFrame({"m": list(messages)}, schema={"m": pl.String}).select(template_expr("m")).to_series().to_list()


@pytest.mark.parametrize("a,b", [
    ("Received block blk_-160 of size 67108864 from /10.251.42.84", "Received block blk_77 of size 3 from /10.0.0.1"),
    ("10.250.19.102:50010 Served block blk_1 to /10.250.19.102", "10.1.1.1:1 Served block blk_2 to /10.2.2.2"),
    ("Deleting block blk_1 file /mnt/hadoop/dfs/data/current/subdir1/blk_1", "Deleting block blk_9 file /a/b/blk_9"),
    ("req 3f2b8c1e-0a4b-4c2d-9e8f-1a2b3c4d5e6f done", "req 00000000-0000-0000-0000-000000000000 done"),
    ("cache key 'user:42:prefs' stale", "cache key 'user:7:cart' stale"),
    ('lookup "abc" failed', 'lookup "x y z" failed'),
    ("checksum 0x1f3a mismatch at deadbeef12", "checksum 0xff mismatch at 0123abcd99"),
    ("connect to db-1.internal:5432 refused", "connect to cache.local:6379 refused"),
    ("took 5 ms", "took 17.25 ms"),
])
def test_lines_of_the_same_kind_share_one_template(a, b):
    ta, tb = tpl(a, b)
    assert ta == tb


def test_lists_of_varying_length_share_a_template():
    ta, tb = tpl("BLOCK* ask 10.0.0.1:50010 to delete  blk_1 blk_2 blk_3",
                 "BLOCK* ask 10.0.0.2:50010 to delete  blk_4")
    assert ta == tb == "BLOCK* ask <ip> to delete blk_<n>"


def test_different_kinds_keep_different_templates():
    got = tpl("Received block blk_1 of size 5 from /10.0.0.1",
              "Receiving block blk_1 src: /10.0.0.1:5 dest: /1.2.3.4:5",
              "PacketResponder 1 for block blk_1 terminating", "PacketResponder 1 for block blk_1 Interrupted.")
    assert len(set(got)) == 4


def test_only_the_first_line_counts_and_space_is_squeezed():
    assert tpl("boom   at 3\n\tat x.y(Z.java:1)") == ["boom at <num>"]


def test_null_and_empty_messages_have_no_template_action():
    ev = conform(pl.DataFrame({"source": ["a"] * 2, "session": ["s", "s"], "message": [None, "   "]}))
    assert apply_template_actions(ev)["action"].to_list() == [None, None]


@settings(max_examples=80, deadline=None)
@given(st.integers(), st.integers(0, 255), st.integers(0, 65535))
def test_numbers_and_addresses_never_change_the_template(n, octet, port):
    line = f"served {n} bytes to 10.{octet}.0.1:{port} in blk_{n}"
    assert tpl(line) == tpl("served 1 bytes to 10.0.0.1:80 in blk_1")


def test_template_ids_are_stable_and_distinct():
    assert template_id("took <num> ms") == template_id("took <num> ms")
    assert template_id("took <num> ms") != template_id("took <num> s")
    assert template_id("x").startswith("T") and len(template_id("x")) == 9
    ids = template_ids(pl.Series(["a", "b", "a", None]))
    assert ids[0] == ids[2] != ids[1] and ids[3] is None


def test_explicit_actions_win_over_templates():
    ev = conform(pl.DataFrame({
        "source": ["app.jsonl", "app.jsonl", "auth.log", "auth.log"],
        "session": ["s1", "s1", "s1", "s2"],
        "request_id": ["r1", "r2", "r1", "r3"],
        "action": ["buy", None, None, None],
        "message": ["bought 3", "note 4", "login ok 5", "login ok 6"],
    }))
    got = apply_template_actions(ev)["action"].to_list()
    # app.jsonl has an action field: untouched; r1 already has an action: untouched
    assert got == ["buy", None, None, "login ok <num>"]


def test_rows_without_a_session_or_user_get_no_template_action():
    ev = conform(pl.DataFrame({"source": ["db.log"] * 2, "user": [None, "u1"], "message": ["vacuum 3", "query 4"]}))
    assert apply_template_actions(ev)["action"].to_list() == [None, "query <num>"]


def test_template_table_lists_each_template_once():
    tl = timeline_of(block_rows(6, failing={0}))
    table = template_table(tl)
    assert table.columns == ["template_id", "template", "count", "example"]
    assert table["template"].is_unique().all()
    assert table["count"].sum() == tl.actions.height
    row = table.filter(pl.col("template").str.starts_with("Unexpected error")).row(0, named=True)
    assert row["count"] == 1 and row["example"].startswith("Unexpected error trying to delete block blk_1000.")
    assert row["template_id"] == template_id(row["template"])


@pytest.mark.skipif(not (HDFS / "HDFS_2pct.log").exists(), reason="HDFS sample not present (../shared/datasets)")
def test_hdfs_templates_never_merge_two_loghub_events():
    sys.path.insert(0, str(REPO / "validation"))
    from hdfs_templates import truth_events  # noqa: E402

    with open(HDFS / "HDFS_2pct.log", encoding="utf-8") as fh:
        lines = [ln.split(": ", 1)[1].rstrip("\n") for ln in islice(fh, 20000)]
    msgs = pl.Series("m", lines)
    truth = truth_events(msgs, HDFS / "HDFS_templates.csv")
    f = pl.DataFrame({"t": truth, "p": pl.DataFrame({"m": msgs}).select(template_expr("m")).to_series()})
    assert truth.null_count() == 0
    assert f.group_by("p").agg(pl.col("t").n_unique())["t"].max() == 1  # pure: no template holds two events
    assert f.group_by("t").agg(pl.col("p").n_unique())["p"].max() <= 4  # and splits stay rare
