"""The timeline on the shipped ``sample_logs/`` agrees with ``truth.json``.

``truth.json`` (written by ``forensics simulate``) lists the true bursts:
incident episodes (``kind == "incident"``: the 16:14 onset and the 16:45
recurrence, each with its component cascade) and an unrelated deploy burst.
Our detector reports the two incident episodes as one burst with two onsets
(their gap is shorter than ``reonset_gap_s``).

Components: truth.json names a component by the folder its file lives in
(``cache`` for both cache/cache.jsonl and cache/redis.log), while ingest takes
the component from a ``service`` field when a log has one (``content-cache``,
``session-cache``, ``web``).  The cascade is compared after mapping each of
our components to its folder (first occurrence kept).

``truth.json`` ships with ``sample_logs/``: a missing file fails the tests
(it does not skip them).
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from forensics.ingest import ingest
from forensics.timeline import TimelineOptions, build_timeline

SAMPLE = Path(os.environ.get("FORENSICS_SAMPLE_DIR") or Path(__file__).resolve().parents[1] / "sample_logs")
TRUTH = SAMPLE / "truth.json"
#: Onsets may differ from the truth by whole-second log precision and clock skew.
TOLERANCE = timedelta(seconds=5)


def _t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def truth() -> dict:
    return json.loads(TRUTH.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def events():
    return ingest([SAMPLE]).events


@pytest.fixture(scope="module")
def timeline(events):
    return build_timeline(events)


def _episodes(truth):
    return [b for b in truth["bursts"] if b.get("kind") == "incident"]


def _burst_with_onset(timeline, onset: datetime):
    for b in timeline.bursts:
        for i, o in enumerate(b.onsets):
            if abs(o - onset) <= TOLERANCE:
                return b, i
    return None, None


def _expected_bursts(truth) -> list[list[datetime]]:
    """The onsets of each burst we expect, in time order: the incident
    episodes merge into one burst (one onset each), every other true burst
    is a burst of its own."""
    incident = sorted(_t(e["onset"]) for e in _episodes(truth))
    others = [[_t(b["onset"])] for b in truth["bursts"] if b.get("kind") != "incident"]
    return sorted(others + ([incident] if incident else []))


def test_detects_exactly_the_true_bursts_with_their_onsets(truth, timeline):
    want = _expected_bursts(truth)
    assert len(want) == 2, "truth.json: the deploy burst, and the incident with its recurrence"
    got = [list(b.onsets) for b in timeline.bursts]
    assert len(got) == len(want), f"detected onsets {got}, expected {want}"
    for got_onsets, want_onsets in zip(got, want):
        assert len(got_onsets) == len(want_onsets), f"onsets {got_onsets} != {want_onsets}"
        assert all(abs(g - w) <= TOLERANCE for g, w in zip(got_onsets, want_onsets)), (got_onsets, want_onsets)


def test_every_true_burst_onset_is_detected(truth, timeline):
    assert truth["bursts"], "truth.json lists the true bursts"
    found = [o.isoformat() for b in timeline.bursts for o in b.onsets]
    for tb in truth["bursts"]:
        b, _ = _burst_with_onset(timeline, _t(tb["onset"]))
        assert b is not None, f"{tb['kind']} onset {tb['onset']} not among detected onsets {found}"


def test_no_burst_without_a_true_cause(truth, timeline):
    true_windows = [(_t(tb["start"]) - TOLERANCE, _t(tb["end"]) + TOLERANCE) for tb in truth["bursts"]]
    assert timeline.bursts, "sample_logs/ has bursts"
    for b in timeline.bursts:
        assert any(a <= b.start <= z for a, z in true_windows), f"spurious burst at {b.start}"


def test_incident_recurrence_is_one_burst_with_two_onsets(truth, timeline):
    eps = _episodes(truth)
    assert len(eps) == 2
    (b1, i1), (b2, i2) = (_burst_with_onset(timeline, _t(e["onset"])) for e in eps)
    assert b1 is b2 and (i1, i2) == (0, 1)
    assert abs(b1.end - _t(eps[1]["end"])) <= timedelta(minutes=2)


def _folders(events) -> dict[str, str]:
    """Our component -> the folder its files live in (the most common one)."""
    rows = (
        events.select("component", pl.col("source").map_elements(lambda s: Path(s).parent.name, return_dtype=pl.String))
        .group_by("component", "source").len().sort("len", descending=True)
        .unique("component", keep="first")
    )
    return dict(rows.select("component", "source").iter_rows())


def test_cascade_order_matches_truth_for_each_episode(truth, timeline, events):
    folder = _folders(events)
    assert len(_episodes(truth)) == len(truth["component_onset_order"]) == 2
    for e, order in zip(_episodes(truth), truth["component_onset_order"]):
        b, i = _burst_with_onset(timeline, _t(e["onset"]))
        if i != 0:  # a re-onset: its own cascade from a user-given window around it
            window = (_t(e["onset"]) - timedelta(seconds=1), _t(e["end"]))
            b = build_timeline(events, options=TimelineOptions(incident=window)).bursts[0]
        # The burst's cascade spans all its onsets: keep the steps of this episode.
        until = b.onsets[1] if i == 0 and len(b.onsets) > 1 else b.end
        firsts: dict[str, datetime] = {}
        for step in b.cascade:  # already in order of first error
            if step.first_error < until:
                firsts.setdefault(folder.get(step.component, step.component), step.first_error)
        assert list(firsts) == order and order
        assert e["cascade"], "truth.json gives each episode's cascade"
        for true_step in e["cascade"]:
            got = firsts[true_step["component"]]
            assert abs(got - _t(true_step["first_error"])) <= TOLERANCE, true_step["component"]
