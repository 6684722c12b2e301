"""Sessions: session field, user + inactivity gap, access-log client; invariants."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st
from timeline_fixtures import DAY, at, events

from forensics.timeline import TimelineOptions, build_timeline
from forensics.timeline.sessions import action_rows


def test_session_field_wins_over_user():
    ev = events(ts=[at("10:00:00"), at("15:00:00")], user=["u", "u"], session=["s9", "s9"], action=["a", "b"])
    assert build_timeline(ev).events["session_key"].to_list() == ["s9", "s9"]


def test_user_events_split_at_the_inactivity_gap():
    ts = [at("10:00:00"), at("10:20:00"), at("10:49:59"), at("11:30:00")]
    ev = events(ts=ts, user=["u"] * 4, action=["a"] * 4)
    assert build_timeline(ev).events["session_key"].to_list() == ["u#1", "u#1", "u#1", "u#2"]
    short = build_timeline(ev, options=TimelineOptions(session_gap_s=600))
    assert short.events["session_key"].to_list() == ["u#1", "u#2", "u#3", "u#4"]


def test_access_rows_without_user_are_grouped_by_client_address_and_agent():
    attrs = ['{"remote_addr":"1.2.3.4","user_agent":"Firefox"}', '{"remote_addr":"1.2.3.4","user_agent":"Firefox"}',
             '{"remote_addr":"1.2.3.4","user_agent":"curl"}', '{"remote_addr":"1.2.3.4","user_agent":"Firefox"}']
    ts = [at("10:00:00"), at("10:05:00"), at("10:06:00"), at("12:00:00")]
    ev = events(ts=ts, attrs=attrs, format=["access"] * 4, action=["GET /"] * 4, status=[200] * 4)
    keys = build_timeline(ev).events["session_key"].to_list()
    assert keys[0] == keys[1] and len(set(keys)) == 3
    assert keys[0].startswith("1.2.3.4 Firefox#")


def test_sessions_know_their_actions_and_first_error():
    ev = events(ts=[at("10:00:00"), at("10:01:00"), at("10:02:00")], session=["s"] * 3, user=["u"] * 3,
                action=["login", "open", "watch"], level=["info", "error", "error"])
    s = build_timeline(ev).sessions.row(0, named=True)
    assert (s["n_actions"], s["first_error"], s["user"]) == (3, at("10:01:00"), "u")


def test_actions_are_ordered_by_time_then_source_and_line():
    ev = events(ts=[at("10:00:05"), at("10:00:00"), at("10:00:00")], source=["b.log", "b.log", "a.log"],
                line=[1, 2, 3], session=["s"] * 3, action=["third", "second", "first"])
    tl = build_timeline(ev)
    acts = action_rows(tl.actions, tl.events, ["action"])
    assert acts["action"].to_list() == ["first", "second", "third"]
    assert acts["seq"].to_list() == [0, 1, 2]


_row = st.fixed_dictionaries({
    "sec": st.integers(0, 6 * 3600),
    "user": st.sampled_from([None, "u1", "u2", "u3"]),
    "session": st.sampled_from([None, None, "s1", "s2"]),
    "request_id": st.sampled_from([None, None, "r1", "r2", "r3"]),
    "action": st.sampled_from([None, "login", "open", "GET /x"]),
    "format": st.sampled_from(["jsonl", "access", "plain"]),
    "level": st.sampled_from(["info", "info", "error"]),
    "addr": st.sampled_from([None, "1.1.1.1", "2.2.2.2"]),
})


def _frame(rows):
    return events(
        ts=[DAY + timedelta(seconds=r["sec"]) for r in rows],
        line=list(range(1, len(rows) + 1)),
        user=[r["user"] for r in rows],
        session=[r["session"] for r in rows],
        request_id=[r["request_id"] for r in rows],
        action=[r["action"] for r in rows],
        format=[r["format"] for r in rows],
        level=[r["level"] for r in rows],
        attrs=[None if r["addr"] is None else f'{{"remote_addr":"{r["addr"]}"}}' for r in rows],
    )


@settings(max_examples=60, deadline=None)
@given(st.lists(_row, min_size=1, max_size=40), st.sampled_from([60.0, 1800.0]))
def test_sessionizing_keeps_every_event_exactly_once(rows, gap):
    ev = _frame(rows)
    tl = build_timeline(ev, options=TimelineOptions(session_gap_s=gap))
    assert sorted(tl.events["line"].to_list()) == sorted(ev["line"].to_list())
    # Each action row appears once in the actions table, each in one session.
    acts = tl.actions
    assert acts.columns == ["seq", "failed", "resources", "row"]  # no copies of event columns
    assert acts["row"].is_unique().all()
    assert tl.events["is_action"].gather(acts["row"]).all()  # each row is its action's event
    assert tl.events["action"].gather(acts["row"]).null_count() == 0
    assert acts.height == tl.events.filter(pl.col("is_action") & pl.col("session_key").is_not_null()).height
    # At most one action per request id.
    per_req = tl.events.filter(pl.col("is_action") & pl.col("request_id").is_not_null()).group_by("request_id").len()
    assert per_req.height == 0 or per_req["len"].max() == 1
    assert tl.sessions["n_actions"].sum() == tl.events["is_action"].filter(tl.events["session_key"].is_not_null()).sum()


@settings(max_examples=60, deadline=None)
@given(st.lists(_row, min_size=1, max_size=40), st.sampled_from([60.0, 1800.0]))
def test_within_a_session_actions_are_in_time_order(rows, gap):
    tl = build_timeline(_frame(rows), options=TimelineOptions(session_gap_s=gap))
    check = action_rows(tl.actions, tl.events, ["session_key", "ts"]).with_columns(
        (pl.col("ts").diff().over("session_key").dt.total_microseconds() >= 0).fill_null(True).alias("ok"),
        (pl.col("seq") == pl.int_range(pl.len()).over("session_key")).alias("seq_ok"),
    )
    assert check["ok"].all() and check["seq_ok"].all()
    # A user split by the gap: consecutive events of one user#n are never further apart than the gap.
    split = tl.events.filter(pl.col("session").is_null() & pl.col("user").is_not_null()).sort("session_key", "ts")
    gaps = split.select(pl.col("ts").diff().over("session_key").dt.total_seconds().max()).item()
    assert gaps is None or gaps <= gap
