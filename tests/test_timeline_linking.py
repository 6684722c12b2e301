"""Request linking: one request -> one action; cache/db errors attributed to it."""

from __future__ import annotations

from timeline_fixtures import at, events

from forensics.timeline import build_timeline
from forensics.timeline.sessions import action_rows


def _request_with_cache_error():
    return events(
        ts=[at("12:00:00.000"), at("12:00:00.010"), at("12:00:00.020"), at("12:00:00.030")],
        source=["web/access.log", "app/app.log", "cache/redis.log", "db/pg.log"],
        format=["access", "jsonl", "plain", "plain"],
        component=["web", "app", "cache", "db"],
        request_id=["r1"] * 4,
        user=["alice", "alice", None, None],
        session=[None, "s1", None, None],
        action=["GET /course/{id}", "open_course", "GET", None],
        key=[None, None, "course:1:toc", None],
        level=["info", "info", "error", "info"],
        status=[200, None, None, None],
        message=["GET /course/1 HTTP/1.1", "opened", "KeyError: 'course:1:toc'", "SELECT * FROM courses WHERE id=1"],
    )


def test_cache_error_is_attributed_to_the_user_session_and_action_of_its_request():
    tl = build_timeline(_request_with_cache_error())
    cache = tl.events.filter(tl.events["component"] == "cache").row(0, named=True)
    assert (cache["user"], cache["session_key"], cache["is_error"]) == ("alice", "s1", True)
    assert tl.actions.height == 1
    act = action_rows(tl.actions, tl.events, ["session_key"]).row(0, named=True)
    assert act["failed"] is True
    assert act["session_key"] == "s1"
    assert act["resources"] == ["course:1:toc", "table:courses"]
    sess = tl.sessions.row(0, named=True)
    assert sess["first_error"] == at("12:00:00.020")


def test_access_and_app_rows_of_one_request_are_one_action_and_the_explicit_action_wins():
    tl = build_timeline(_request_with_cache_error())
    acts = tl.events.filter("is_action")
    assert acts.height == 1
    assert acts["action"].to_list() == ["open_course"]
    assert action_rows(tl.actions, tl.events, ["action"])["action"].to_list() == ["open_course"]


def test_the_route_is_the_action_when_the_app_logged_none():
    ev = _request_with_cache_error()
    ev = ev.with_columns(ev["action"].scatter(1, None))
    tl = build_timeline(ev)
    assert action_rows(tl.actions, tl.events, ["action"])["action"].to_list() == ["GET /course/{id}"]


def test_cache_rows_are_never_actions_even_with_an_operation():
    tl = build_timeline(_request_with_cache_error())
    assert tl.events.filter(tl.events["component"] == "cache")["is_action"].to_list() == [False]


def test_rows_without_request_id_are_their_own_requests():
    ev = events(ts=[at("12:00:00"), at("12:00:05")], user=["bob", "bob"], action=["login", "watch"],
                level=["info", "error"])
    tl = build_timeline(ev)
    assert action_rows(tl.actions, tl.events, ["action"])["action"].to_list() == ["login", "watch"]
    assert tl.actions["failed"].to_list() == [False, True]
    assert tl.actions["seq"].to_list() == [0, 1]


def test_error_without_request_or_user_belongs_to_no_session_but_counts_in_bursts():
    ev = events(ts=[at("12:00:00")] * 2, user=["bob", None], action=["login", None],
                level=["info", "error"], component=["app", "cache"])
    tl = build_timeline(ev)
    cache = tl.events.filter(tl.events["component"] == "cache")
    assert cache["session_key"].to_list() == [None]
    assert tl.sessions["first_error"].to_list() == [None]
    assert tl.error_rate["errors"].sum() == 1


def test_a_failing_request_of_one_user_does_not_mark_another_users_action():
    ev = events(ts=[at("12:00:00"), at("12:00:00.5"), at("12:00:01")], user=["a", None, "b"],
                request_id=["r1", "r1", "r2"], action=["open", None, "open"], level=["info", "error", "info"],
                component=["app", "db", "app"])
    tl = build_timeline(ev)
    acts = action_rows(tl.actions, tl.events, ["user"])
    assert dict(zip(acts["user"], acts["failed"])) == {"a": True, "b": False}
