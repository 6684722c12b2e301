"""``forensics show`` and :mod:`forensics.report.drilldown`: the sessions
behind a suspect, its steps highlighted, times relative to the onset."""

from __future__ import annotations

import os

import polars as pl
import pytest
from click.testing import CliRunner
from test_report_helpers import REPO, sample_result

from forensics.cli import cli
from forensics.errors import UsageError
from forensics.report.drilldown import ACTION_COLUMNS, session_timeline, suspect_drilldown


@pytest.fixture(scope="module")
def drill():
    return suspect_drilldown(sample_result(), 1)


def test_every_evidence_session_is_shown_with_the_suspect_steps_in_order(drill):
    s = drill.suspect
    steps = sample_result().mining.steps.filter(pl.col("rank") == 1)
    assert {t.session_key for t in drill.sessions} == set(steps["session_key"].to_list())
    for tl in drill.sessions:
        assert tl.actions.columns == list(ACTION_COLUMNS)
        marked = tl.actions.filter("is_step").sort("step")
        assert marked["action"].to_list() == list(s.sequence)
        assert marked["step"].to_list() == list(range(1, len(s.sequence) + 1))
        assert marked["ts"].is_sorted()


def test_full_timeline_keeps_the_actions_around_the_steps(drill):
    r = sample_result()
    for tl in drill.sessions:
        n = r.timeline.sessions.filter(pl.col("session_key") == tl.session_key)["n_actions"][0]
        assert tl.actions.height == n
        assert tl.actions.height > int(tl.actions["is_step"].sum())  # context, not only the steps


def test_time_relative_to_onset_matches_the_suspect_lead(drill):
    leads = sorted(round(x.lead_s, 3) for x in drill.suspect.lead_time_s)
    got = []
    for tl in drill.sessions:
        assert tl.onset is not None
        last = tl.actions.filter("is_step").sort("step")[-1]
        rel = last["t_rel_onset_s"][0]
        assert rel < 0  # the completion came before the onset
        got.append(round(-rel, 3))
        assert (tl.actions["t_rel_onset_s"] > 0).any()  # the errors after the onset are shown too
    assert sorted(got) == leads


def test_resources_touched_link_the_poisoned_key(drill):
    for tl in drill.sessions:
        row = tl.resources.filter(pl.col("resource") == "course:840:content").row(0, named=True)
        assert row["by_step"] and row["errors_after"] > 0
        assert row["first_error_after"] > row["first_touched"]
        assert tl.resources["by_step"].to_list() == sorted(tl.resources["by_step"].to_list(), reverse=True)


def test_unknown_suspect_or_session_is_a_usage_error():
    with pytest.raises(UsageError, match="no suspect #99"):
        suspect_drilldown(sample_result(), 99)
    with pytest.raises(UsageError, match="no session"):
        session_timeline(sample_result(), "no-such-session")


def _show(*args):
    old = os.getcwd()
    os.chdir(REPO)
    try:
        return CliRunner().invoke(cli, ["show", "sample_logs/", "-q", *args], catch_exceptions=False)
    finally:
        os.chdir(old)


def test_show_suspect_highlights_steps_and_marks_the_onset():
    res = _show("--suspect", "1")
    assert res.exit_code == 0, res.output
    out = res.stdout
    for k in range(1, 5):
        assert f"▶ {k}" in out
    assert out.count("▼ burst 2 onset") >= 2
    assert "course:840:content" in out
    assert max(len(line) for line in out.splitlines()) <= 100
    # the step rows come before the onset row, the failed actions after it
    lines = out.splitlines()
    first_onset = next(i for i, s in enumerate(lines) if "▼ burst 2 onset" in s)
    assert any("▶ 4" in s for s in lines[:first_onset])


def test_show_session_prints_one_session_and_points_to_its_suspect():
    res = _show("--session", "s-8333ee1696bc")
    assert res.exit_code == 0, res.output
    assert res.stdout.count("Session s-8333ee1696bc") == 1
    assert "▶ 4" in res.stdout and "suspect #1" in res.stdout


@pytest.mark.parametrize("args", [(), ("--suspect", "1", "--session", "x")])
def test_show_needs_exactly_one_of_suspect_or_session(args):
    res = _show(*args)
    assert res.exit_code == 2
    assert "exactly one of --suspect N or --session ID" in res.stderr


def test_show_unknown_session_is_a_usage_error():
    res = _show("--session", "nope\x1b]0;x\x07")
    assert res.exit_code == 2
    assert "\x1b" not in res.stderr and "no session" in res.stderr
