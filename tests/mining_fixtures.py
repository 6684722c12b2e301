"""Hand-built Timelines for the mining tests (no dependency on the timeline code).

``build_timeline`` turns plain Python lists into a
:class:`forensics.timeline.model.Timeline` exactly as documented in
forensics/timeline/model.py; ``scenario`` builds the realistic synthetic
incident used to measure ranking quality (see docs/statistics.md, "Worked example").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import numpy as np
import polars as pl

from forensics.schema import EVENT_SCHEMA
from forensics.timeline.model import Burst, Timeline

T0 = datetime(2023, 11, 2, 8, 0, tzinfo=timezone.utc)
TS = pl.Datetime("us", "UTC")


def at(seconds: float) -> datetime:
    """``T0 + seconds``."""
    return T0 + timedelta(seconds=float(seconds))


@dataclass
class Spec:
    """Plain description of a log: actions, linked errors, bursts."""

    # (session_key, user, seconds, action, request_id | None, resources)
    actions: list[tuple] = field(default_factory=list)
    # (seconds, session_key | None, burst_id | None, key | None, component, kind)
    errors: list[tuple] = field(default_factory=list)
    # (id, [onset seconds, ...], end seconds)
    bursts: list[tuple] = field(default_factory=list)


def build_timeline(spec: Spec) -> Timeline:
    """Build a Timeline from a :class:`Spec` (sessions' first errors and the
    per-burst first errors are derived from the linked error rows)."""
    a = spec.actions
    acts = pl.DataFrame(
        {
            "session_key": [r[0] for r in a],
            "user": [r[1] for r in a],
            "ts": [at(r[2]) for r in a],
            "action": [r[3] for r in a],
            "request_id": [r[4] for r in a],
            "resources": [list(r[5]) for r in a],
        },
        schema={"session_key": pl.String, "user": pl.String, "ts": TS, "action": pl.String,
                "request_id": pl.String, "resources": pl.List(pl.String)},
    ).sort(["session_key", "ts"], maintain_order=True)
    e = spec.errors
    errs = pl.DataFrame(
        {
            "ts": [at(r[0]) for r in e],
            "session_key": [r[1] for r in e],
            "burst_id": [r[2] for r in e],
            "key": [r[3] for r in e],
            "component": [r[4] for r in e],
            "error_kind": [r[5] for r in e],
        },
        schema={"ts": TS, "session_key": pl.String, "burst_id": pl.Int32, "key": pl.String,
                "component": pl.String, "error_kind": pl.String},
    )
    acts = acts.with_columns(pl.int_range(pl.len()).over("session_key").alias("seq"),
                             pl.lit(False).alias("failed"))
    acts = acts.select("session_key", "seq", "ts", "user", "action", "request_id", "failed", "resources")
    linked = errs.filter(pl.col("session_key").is_not_null())
    sessions = (
        acts.group_by("session_key")
        .agg(pl.col("user").first(), pl.col("ts").min().alias("start"), pl.col("ts").max().alias("end"),
             pl.len().cast(pl.Int64).alias("n_actions"))
        .join(linked.group_by("session_key").agg(pl.col("ts").min().alias("first_error")), on="session_key",
              how="left")
        .sort("session_key")
    )
    session_errors = (
        linked.filter(pl.col("burst_id").is_not_null())
        .group_by("session_key", "burst_id")
        .agg(pl.col("ts").min().alias("first_error"))
        .sort("session_key", "burst_id")
    )
    n_a = acts.height
    ev_actions = acts.select(
        "ts", pl.lit("app.log").alias("source"), pl.int_range(pl.len()).cast(pl.Int64).alias("line"),
        pl.lit("jsonl").alias("format"), pl.lit("app").alias("component"), pl.lit("info").alias("level"),
        pl.lit(200, dtype=pl.Int32).alias("status"), "user", pl.col("session_key").alias("session"),
        "request_id", "action", pl.col("resources").list.first().alias("key"),
        pl.lit(None, dtype=pl.Float64).alias("latency_ms"), pl.col("action").alias("message"),
        pl.lit(None, dtype=pl.String).alias("attrs"), pl.lit(False).alias("is_error"),
        pl.lit(False).alias("is_client_error"), pl.lit(None, dtype=pl.String).alias("error_kind"),
        "session_key", pl.lit(True).alias("is_action"), pl.lit(None, dtype=pl.Int32).alias("burst_id"),
        pl.int_range(pl.len(), dtype=pl.UInt32).alias("_a"),
    )
    ev_errors = errs.select(
        "ts", pl.lit("cache.log").alias("source"), (pl.int_range(pl.len()) + n_a).cast(pl.Int64).alias("line"),
        pl.lit("jsonl").alias("format"), "component", pl.lit("error").alias("level"),
        pl.lit(500, dtype=pl.Int32).alias("status"), pl.lit(None, dtype=pl.String).alias("user"),
        pl.col("session_key").alias("session"), pl.lit(None, dtype=pl.String).alias("request_id"),
        pl.lit(None, dtype=pl.String).alias("action"), "key", pl.lit(None, dtype=pl.Float64).alias("latency_ms"),
        pl.col("error_kind").alias("message"), pl.lit(None, dtype=pl.String).alias("attrs"),
        pl.lit(True).alias("is_error"), pl.lit(False).alias("is_client_error"), "error_kind", "session_key",
        pl.lit(False).alias("is_action"), "burst_id", pl.lit(None, dtype=pl.UInt32).alias("_a"),
    )
    events = pl.concat([ev_actions, ev_errors]).sort("ts", maintain_order=True)
    # as build_actions: each action's row in the events, not copies of its user and request id
    at_row = events.select(pl.int_range(pl.len(), dtype=pl.UInt32).alias("row"), "_a").drop_nulls("_a").sort("_a")
    acts = acts.with_columns(at_row.get_column("row")).drop("user", "request_id")
    events = events.drop("_a")
    assert list(events.columns[: len(EVENT_SCHEMA)]) == list(EVENT_SCHEMA)
    bursts = []
    for bid, onsets, end_s in spec.bursts:
        n_err = errs.filter(pl.col("burst_id") == bid).height
        bursts.append(Burst(id=bid, start=at(onsets[0]), end=at(end_s), errors=n_err, peak_per_min=0.0,
                            users_affected=0, users_affected_share=0.0, sessions_affected=0,
                            sessions_affected_share=0.0, onsets=tuple(at(o) for o in onsets)))
    rate = pl.DataFrame(schema={"bin_start": TS, "events": pl.Int64, "errors": pl.Int64, "baseline": pl.Float64,
                                "threshold": pl.Float64, "hot": pl.Boolean, "burst_id": pl.Int32})
    return Timeline(events=events, actions=acts, sessions=sessions, session_errors=session_errors,
                    bursts=tuple(bursts), error_rate=rate, bin_s=60.0)


# --------------------------------------------------------------------------- scenario

COMMON = {
    "view_course": 30, "open_lesson": 20, "play_video": 15, "search": 10, "view_grades": 6,
    "post_forum": 4, "submit_quiz": 4, "download_pdf": 4, "view_calendar": 3, "edit_profile": 1.5,
    "upload_assignment": 2, "message_teacher": 1, "save_settings": 0.8, "upload_avatar": 0.4,
    "change_language": 0.3, "export_transcript": 0.15, "print_certificate": 0.15, "refresh": 0.5,
}
TRIGGER = ("edit_profile", "change_language", "upload_avatar", "save_settings")
COINCIDENCE = ("export_transcript", "view_calendar", "print_certificate")
HARMLESS = ("print_certificate", "export_transcript", "message_teacher")
RETRY = ("retry", "refresh", "retry")
POISONED_KEY = "cache:prefs:shared"


@dataclass
class Scenario:
    timeline: Timeline
    trigger_onsets: tuple[float, ...]
    no_cause_burst: int
    coincidence_onset: float


def scenario(*, seed: int = 7, hours: float = 8.0, concurrent: int = 300, mean_gap_s: float = 45.0,
             session_min: float = 30.0) -> Scenario:
    """The realistic incident: ~``concurrent`` sessions at once, one action per
    ``mean_gap_s``; a 4-step trigger completed 5-15 s before each onset of
    bursts 1 and 2 (by two users), a coincidental rare sequence 1-4 min before
    the onset of burst 3 (a deploy: no user cause), a harmless rare sequence
    done three times far from any onset, and retries after every error."""
    rng = np.random.default_rng(seed)
    span = hours * 3600
    names = list(COMMON)
    w = np.array([COMMON[x] for x in names], dtype=float)
    w /= w.sum()
    arrivals = concurrent / (session_min * 60)  # sessions per second
    n_sess = rng.poisson(arrivals * span)
    onset1, onset1b, onset2, onset3 = span * 0.35, span * 0.35 + 1500, span * 0.6, span * 0.82
    spec = Spec()
    sessions = []
    for i in range(n_sess):
        t = rng.uniform(-session_min * 60, span)
        dur = rng.exponential(session_min * 60)
        ts = t + np.cumsum(rng.exponential(mean_gap_s, size=max(2, int(dur / mean_gap_s) + 1)))
        ts = ts[(ts >= 0) & (ts < span)]
        if len(ts) < 2:
            continue
        acts = ["login"] + list(rng.choice(names, size=len(ts) - 1, p=w))
        sessions.append([f"s{i:05d}", f"u{rng.integers(0, n_sess):05d}", list(ts), acts])

    def plant(seq, end_t, step_s=6.0):
        key = f"p{len(sessions):05d}"
        ts = [end_t - step_s * (len(seq) - 1 - j) for j in range(len(seq))]
        before = list(end_t - 60 - np.cumsum(rng.exponential(mean_gap_s, size=4)))[::-1]
        lead = ["login", *rng.choice(names, size=3, p=w)]
        sessions.append([key, f"w{len(sessions):05d}", before + ts, lead + list(seq)])
        return key

    trig_ends = (onset1 - rng.uniform(5, 15), onset2 - rng.uniform(5, 15))
    trig_sessions = [plant(TRIGGER, e) for e in trig_ends]
    plant(COINCIDENCE, onset3 - rng.uniform(60, 240))
    for h in (0.12, 0.5, 0.95):
        plant(HARMLESS, span * h)
    bursts = [(1, [onset1, onset1b], onset1b + 900), (2, [onset2], onset2 + 1200), (3, [onset3], onset3 + 600)]
    for key, user, ts, acts in sessions:
        first_err = None
        for bid, ons, end in bursts:
            if first_err is not None:
                break
            lo = ons[0]
            active = [t for t in ts if lo <= t <= end]
            if active and rng.random() < 0.35 and key not in trig_sessions:
                first_err = (float(rng.uniform(lo + 1, min(end, active[-1] + 30))), bid)
        rows = []
        for j, (t, a) in enumerate(zip(ts, acts)):
            res = (POISONED_KEY,) if (key in trig_sessions and a == TRIGGER[-1]) else ()
            if first_err is not None and t >= first_err[0]:
                continue
            rows.append((key, user, t, a, f"{key}-r{j}", res))
        if first_err is not None:
            et, bid = first_err
            kind_key = POISONED_KEY if bid in (1, 2) else None
            spec.errors.append((et, key, bid, kind_key, "cache" if kind_key else "web", "http_5xx"))
            for j, a in enumerate(RETRY + tuple(rng.choice(names, size=2, p=w))):
                rows.append((key, user, et + 2 + 8 * j, a, f"{key}-x{j}", ()))
        spec.actions.extend(rows)
    for bid, ons, end in bursts:  # unlinked errors (other components) inside bursts
        for t in rng.uniform(ons[0], end, size=60):
            spec.errors.append((float(t), None, bid, POISONED_KEY if bid in (1, 2) else None, "db", "db_timeout"))
    spec.bursts = bursts
    return Scenario(build_timeline(spec), trigger_onsets=(onset1, onset2), no_cause_burst=3,
                    coincidence_onset=onset3)
