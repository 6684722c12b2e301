"""Bursts and cascades on synthetic days with known answers."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import pytest
from timeline_fixtures import DAY, at, combine, events, incident_day, stream, traffic

from forensics.errors import UsageError
from forensics.timeline import TimelineOptions, build_timeline
from forensics.timeline.bursts import choose_bin
from forensics.timeline.cascade import cascade_text
from forensics.durations import parse_duration
from forensics.timeline.incident import parse_incident

FULL_DAY = (DAY, DAY + timedelta(days=1))


def _order(burst):
    return [s.component for s in burst.cascade]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_burst_that_recurs_after_a_lull_is_one_burst_with_two_onsets(seed):
    tl = build_timeline(incident_day(seed=seed))
    assert len(tl.bursts) == 1
    b = tl.bursts[0]
    assert b.start == at("16:14:58")  # the first cache error, to the microsecond
    assert b.onsets == (at("16:14:58"), at("16:45:30"))
    assert at("18:29:00") < b.end < at("18:30:00")
    assert _order(b) == ["cache", "db", "content", "auth"]
    assert [s.first_error for s in b.cascade] == [at("16:14:58"), at("16:15:07"), at("16:15:40"), at("16:16:44")]
    assert [s.lead_s for s in b.cascade] == [9.0, 33.0, 64.0, None]
    assert cascade_text(b.cascade) == "cache 16:14:58 -> db +9 s -> content +33 s -> auth +64 s"


def test_cascade_lists_counts_and_dominant_kinds_inside_the_window_only():
    tl = build_timeline(incident_day())
    b = tl.bursts[0]
    errs = tl.events.filter(pl.col("is_error") & pl.col("ts").is_between(b.start, b.end))
    for step in b.cascade:
        assert step.errors == errs.filter(pl.col("component") == step.component).height
        assert 1 <= len(step.error_kinds) <= 3
    db = next(s for s in b.cascade if s.component == "db")
    assert db.error_kinds[0].startswith("db: query failed")


def test_stray_trickle_errors_just_before_the_onset_do_not_lead_the_cascade():
    ev = combine(
        incident_day(recur=False),
        # Baseline-kind errors of db and auth landing 20 s and 5 s before the cache fails.
        events(ts=[at("16:14:38"), at("16:14:53")], source=["db2.log", "auth2.log"], component=["db", "auth"],
               level=["error", "error"], message=["deadlock detected pid 7", "login failed for user 9"]),
    )
    assert ev.filter(pl.col("ts").is_between(at("16:14:30"), at("16:14:57")) & (pl.col("level") == "error")).height == 2
    b = build_timeline(ev).bursts[0]
    assert b.start == at("16:14:58")
    assert _order(b)[0] == "cache"


@pytest.mark.parametrize("skew", [-4.0, 3.0])
def test_clock_skew_of_a_few_seconds_keeps_the_cascade_order(skew):
    b = build_timeline(incident_day(seed=4, skew_db_s=skew)).bursts[0]
    assert _order(b) == ["cache", "db", "content", "auth"]
    db = b.cascade[1]
    assert db.first_error == at("16:15:07") + timedelta(seconds=skew)


def test_slow_ramp_is_one_burst_starting_on_the_ramp():
    parts = [traffic(*FULL_DAY), stream("db", DAY, FULL_DAY[1], per_min=0.1, message="slow query {i}", seed=3)]
    # db errors ramp from 1/min to 40/min over 40 minutes, then stay for 20 minutes.
    for m in range(40):
        t = at("10:00:00") + timedelta(minutes=m)
        parts.append(stream("db", t, t + timedelta(minutes=1), per_min=1 + m, message="pool exhausted {i}", seed=100 + m))
    parts.append(stream("db", at("10:40:00"), at("11:00:00"), per_min=40, message="pool exhausted {i}", seed=99))
    tl = build_timeline(combine(*parts))
    assert len(tl.bursts) == 1
    b = tl.bursts[0]
    assert b.onsets == (b.start,)
    assert at("10:00:00") <= b.start <= at("10:15:00")
    assert at("10:59:00") <= b.end < at("11:00:00")


def _two_bursts(gap_minutes: int):
    second = at("12:10:00") + timedelta(minutes=gap_minutes)
    return combine(
        traffic(*FULL_DAY),
        stream("db", at("12:00:00"), at("12:10:00"), per_min=20, message="query failed {i}", seed=5),
        stream("db", second, second + timedelta(minutes=10), per_min=20, message="query failed {i}", seed=6),
    )


def test_two_close_bursts_are_one_burst_with_two_onsets():
    tl = build_timeline(_two_bursts(20))
    assert len(tl.bursts) == 1
    assert tl.bursts[0].onsets == (at("12:00:00"), at("12:30:00"))


def test_two_far_bursts_are_two_bursts():
    tl = build_timeline(_two_bursts(120))
    assert [(b.id, b.start) for b in tl.bursts] == [(1, at("12:00:00")), (2, at("14:10:00"))]
    assert all(len(b.onsets) == 1 for b in tl.bursts)


def test_the_reonset_gap_decides_between_one_and_two_bursts():
    ev = _two_bursts(20)
    assert len(build_timeline(ev, options=TimelineOptions(reonset_gap_s=600)).bursts) == 2


def test_constant_high_error_rate_all_day_is_not_a_burst():
    ev = combine(traffic(*FULL_DAY), stream("search", *FULL_DAY, per_min=50, message="shard {i} unavailable", seed=8))
    tl = build_timeline(ev)
    assert tl.bursts == ()
    assert not tl.error_rate["hot"].any()


def test_a_burst_is_found_next_to_a_noisy_service():
    ev = combine(
        traffic(*FULL_DAY),
        stream("search", *FULL_DAY, per_min=50, message="shard {i} unavailable", seed=8),
        stream("cache", at("09:00:00"), at("09:20:00"), per_min=8, message="poisoned {i}", seed=9),
    )
    tl = build_timeline(ev)
    assert [b.start for b in tl.bursts] == [at("09:00:00")]
    assert _order(tl.bursts[0]) == ["cache"]


def test_isolated_blips_are_not_bursts():
    ev = combine(traffic(*FULL_DAY), stream("db", at("09:00:00"), at("09:00:05"), per_min=60, message="x", seed=2))
    assert build_timeline(ev).bursts == ()


def test_client_errors_are_counted_separately_unless_asked():
    ev = combine(
        traffic(*FULL_DAY),
        stream("web", at("09:00:00"), at("09:20:00"), per_min=30, level="warn", status=404, message="GET /x",
               format="access"),
    )
    tl = build_timeline(ev)
    assert tl.bursts == ()
    assert tl.events["is_client_error"].sum() == 600 and tl.events["is_error"].sum() == 0
    tl2 = build_timeline(ev, options=TimelineOptions(client_errors=True))
    assert [b.start for b in tl2.bursts] == [at("09:00:00")]


def test_affected_users_and_sessions_and_their_shares():
    ev = combine(
        traffic(at("11:00:00"), at("13:00:00"), per_min=30, users=10),
        events(ts=[at("12:00:00") + timedelta(seconds=s) for s in range(0, 60, 2)],
               source=["app2.log"] * 30, user=["u1", "u2", "u3"] * 10, session=["s1", "s2", "s3"] * 10,
               component=["app"] * 30, level=["error"] * 30, message=["payment failed"] * 30),
    )
    b = build_timeline(ev, options=TimelineOptions(bin_s=60)).bursts[0]
    assert (b.users_affected, b.sessions_affected) == (3, 3)
    window = ev.filter(pl.col("ts").is_between(b.start, b.end))
    assert b.users_affected_share == pytest.approx(3 / window["user"].n_unique())
    assert b.peak_per_min == 30.0 and b.errors == 30


def test_events_rate_and_session_errors_carry_the_burst_id():
    tl = build_timeline(incident_day())
    b = tl.bursts[0]
    inside = tl.events.filter(pl.col("burst_id") == 1)
    assert inside["ts"].min() >= b.start and inside["ts"].max() <= b.end
    assert tl.error_rate.filter(pl.col("burst_id") == 1)["hot"].any()
    assert tl.error_rate["errors"].sum() == tl.events["is_error"].sum()
    assert set(tl.error_rate.columns) >= {"bin_start", "events", "errors", "baseline", "threshold", "hot", "burst_id"}


def test_incident_window_replaces_detection_and_is_flagged_user_given():
    ev = incident_day(recur=False)
    opts = TimelineOptions(incident=(at("16:10:00"), at("16:30:00")))
    (b,) = build_timeline(ev, options=opts).bursts
    assert b.user_given and b.id == 1
    assert b.start == at("16:14:58")
    assert _order(b) == ["cache", "db", "content", "auth"]


def test_bin_width_follows_the_span_and_can_be_overridden():
    assert choose_bin(86400) == 60 and choose_bin(3 * 3600) == 10 and choose_bin(7 * 86400) == 600
    ev = incident_day(recur=False)
    assert build_timeline(ev).bin_s == 60
    assert build_timeline(ev, options=TimelineOptions(bin_s=300)).bin_s == 300
    with pytest.raises(UsageError):
        choose_bin(100, 0)


def test_incident_and_duration_parsing():
    first, last = at("00:00:01"), at("23:59:00")
    assert parse_incident("16:14..18:30", first=first, last=last) == (at("16:14:00"), at("18:30:00"))
    assert parse_incident("23:00..01:00", first=first, last=last)[1] == at("01:00:00") + timedelta(days=1)
    assert parse_incident("2023-11-02T16:14:00Z..2023-11-02 18:30", first=first) == (at("16:14:00"), at("18:30:00"))
    for bad in ("16:14", "25:00..26:00", "18:00..2023-11-02T17:00:00Z", "x..y"):
        with pytest.raises(UsageError):
            parse_incident(bad, first=first, last=last)
    assert parse_duration("30m") == 1800 and parse_duration("2h") == 7200 and parse_duration("45") == 45
    with pytest.raises(UsageError):
        parse_duration("-1")


def test_no_events_and_no_errors_give_no_bursts():
    from forensics.schema import empty_events

    assert build_timeline(empty_events()).bursts == ()
    tl = build_timeline(traffic(at("10:00:00"), at("11:00:00")))
    assert tl.bursts == () and tl.error_rate["errors"].sum() == 0


def _edge(extra: list) -> pl.DataFrame:
    """The incident day plus an edge proxy whose 500s have one kind, in the
    trickle (one per 5 min) and in the burst alike, so only the rate tells
    them apart; ``extra``: more edge errors."""
    day = DAY + timedelta(days=1)
    return combine(
        incident_day(recur=False),
        stream("edge", DAY, day, per_min=30, level="info", message="GET /course 200", seed=51),
        stream("edge", DAY, at("16:10:00"), per_min=0.2, message="upstream returned 500", seed=52),
        stream("edge", at("16:14:59"), at("16:20:00"), per_min=20, message="upstream returned 500", seed=53),
        stream("edge", at("16:25:00"), day, per_min=0.2, message="upstream returned 500", seed=54),
        *extra,
    )


def test_a_stray_error_seconds_before_the_burst_signature_is_not_its_onset():
    # One more edge 500 of the trickle's kind, 11 s before the cache's poisoned entries (the
    # burst's own kind): alone in its component's run it would be the run's onset.
    stray = events(ts=[at("16:14:47")], source=["edge.log"], component=["edge"], level=["error"],
                   message=["upstream returned 500"])
    b = build_timeline(_edge([stray])).bursts[0]
    assert b.start == at("16:14:58")
    assert _order(b)[0] == "cache"
    assert build_timeline(_edge([])).bursts[0].start == at("16:14:58")


def test_other_components_erring_after_a_short_lull_start_a_new_onset():
    ev = combine(
        traffic(*FULL_DAY),
        stream("payments", at("12:10:00"), at("12:14:00"), per_min=4, message="provider 502", seed=61),
        stream("mail", at("12:18:00"), at("12:30:00"), per_min=20, message="relay certificate expired", seed=62),
    )
    tl = build_timeline(ev)
    assert [b.onsets for b in tl.bursts] == [(at("12:10:00"), at("12:18:00"))]
    # the same component resuming after the lull is no new onset
    same = combine(
        traffic(*FULL_DAY),
        stream("mail", at("12:10:00"), at("12:14:00"), per_min=4, message="relay certificate expired", seed=61),
        stream("mail", at("12:18:00"), at("12:30:00"), per_min=20, message="relay certificate expired", seed=62),
    )
    assert [b.onsets for b in build_timeline(same).bursts] == [(at("12:10:00"),)]
