"""Per-seed stories: every seed but the default draws its own trigger (3 to
6 ordinary actions), decoys and poisoned resource; the trigger happens in
exactly its two scripted sessions; ``truth.json`` records what was drawn;
``--story`` picks the fixed or a drawn story on any seed."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from forensics.cli import cli
from forensics.simulate import DEFAULT_SEED, SCENARIOS, simulate_scenario
from forensics.simulate.engine.draw import is_subsequence
from forensics.simulate.engine.run import STORY_STAGE
from forensics.simulate.scenarios.elearning import plan as elearning_plan
from forensics.simulate.scenarios.elearning.vocab import TRIGGER as ELEARNING_TRIGGER
from forensics.simulate.scenarios.shop import plan as shop_plan
from forensics.simulate.scenarios.shop.vocab import TRIGGER as SHOP_TRIGGER

VOCABULARY = {"elearning": elearning_plan.VOCABULARY, "shop": shop_plan.VOCABULARY}
#: Writer whose lines carry session and action, and how to read them.
SESSION_LOG = {"elearning": ("app", ("app/app.jsonl.1.gz", "app/app.jsonl")),
               "shop": ("storefront", ("storefront/storefront.log",))}
SMALL = {"elearning": 300, "shop": 500}
FIXED_TRIGGER = {"elearning": ELEARNING_TRIGGER, "shop": SHOP_TRIGGER}
LOGFMT = re.compile(r"\bsid=(\S+) .*\bactivity=(\S+)")


def _story(name: str, seed: int, users: int | None = None):
    sc = SCENARIOS[name]
    pop = sc.make_population(sc.rng(seed, 0), users or sc.default_users)
    return sc.story(sc.rng(seed, STORY_STAGE), pop, True)


def _session_actions(out: Path, name: str) -> dict[str, list[str]]:
    """Session id -> its actions in time order, read from the written log."""
    by: dict[str, list[tuple[str, str]]] = {}
    for rel in SESSION_LOG[name][1]:
        data = (out / rel).read_bytes()
        text = gzip.decompress(data).decode() if data[:2] == b"\x1f\x8b" else data.decode()
        for line in text.splitlines():
            if name == "elearning":
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if rec.get("session_id"):
                    by.setdefault(rec["session_id"], []).append((rec["timestamp"], rec["event"]))
            elif m := LOGFMT.search(line):
                by.setdefault(m.group(1), []).append((line[5:34], m.group(2)))
    return {sid: [a for _, a in sorted(v)] for sid, v in by.items()}


@pytest.mark.parametrize("name", ["elearning", "shop"])
def test_different_seeds_draw_different_triggers_of_three_to_six_steps(name):
    stories = [_story(name, seed) for seed in range(1, 7)]
    triggers = [s.trigger for s in stories]
    assert len(set(triggers)) == len(triggers)
    assert all(3 <= len(t) <= 6 for t in triggers)
    assert all(set(t) <= set(VOCABULARY[name].steps) and t[-1] in VOCABULARY[name].last for t in triggers)
    assert len({len(t) for t in triggers}) > 1
    assert len({s.resource for s in stories}) > 1
    for s in stories:
        assert s.drawn and not is_subsequence(s.rare_harmless, s.trigger) and not is_subsequence(s.coincidence, s.trigger)
        assert s.trigger.count(s.trigger[-1]) == 1


@pytest.mark.parametrize("name", ["elearning", "shop"])
def test_a_seed_draws_the_same_story_at_any_size(name):
    small, large = _story(name, 5, SMALL[name]), _story(name, 5, 10 * SMALL[name])
    assert (small.trigger, small.rare_harmless, small.coincidence, small.target) == (
        large.trigger, large.rare_harmless, large.coincidence, large.target)


@pytest.fixture(scope="module", params=["elearning", "shop"])
def drawn(request, tmp_path_factory) -> tuple[str, Path, dict]:
    name = request.param
    out = tmp_path_factory.mktemp(f"drawn-{name}")
    truth = simulate_scenario(name, out, seed=5, users=SMALL[name], formats=[SESSION_LOG[name][0]]).truth
    return name, out, truth


def test_the_drawn_trigger_occurs_exactly_in_its_two_sessions_and_each_step_is_common(drawn):
    name, out, truth = drawn
    trigger = truth["trigger"]["sequence"]
    sessions = _session_actions(out, name)
    having = {sid for sid, acts in sessions.items() if is_subsequence(trigger, acts)}
    assert having == set(truth["trigger"]["sessions"]) and len(having) == 2
    counts: dict[str, int] = {}
    for acts in sessions.values():
        for a in acts:
            counts[a] = counts.get(a, 0) + 1
    # Each step alone is ordinary: at least ten times as frequent as the whole trigger.
    assert min(counts.get(a, 0) for a in trigger) >= 10 * len(having), {a: counts.get(a, 0) for a in trigger}


def test_truth_records_the_drawn_story(drawn):
    name, _, truth = drawn
    story, trigger = truth["story"], truth["trigger"]
    assert trigger["drawn"] is True and story["drawn"] is True
    assert story["trigger"] == trigger["sequence"] and story["length"] == trigger["length"] == len(trigger["sequence"])
    assert story["resource"] == trigger["resource"] == trigger["cache_key"]
    assert set(story["frames"]) == {"trigger_1", "trigger_2", "rare_harmless", "coincidence"}
    assert set(story["step_requests"]) == set(trigger["sequence"]) and min(story["step_requests"].values()) > 0
    decoys = {d["kind"]: d for d in truth["decoys"]}
    assert decoys["rare_harmless"]["sequence"] == story["rare_harmless"]
    assert decoys["coincidence"]["sequence"] == story["coincidence"]
    assert len(trigger["occurrences"]) == 2 and all(o["request_ids"] for o in trigger["occurrences"])
    assert [b["kind"] for b in truth["bursts"]][:2] == ["incident", "incident"]
    assert all(b["onset"] for b in truth["bursts"][:2])


@pytest.mark.parametrize("name", ["elearning", "shop"])
def test_the_default_seed_keeps_the_fixed_story_without_new_keys(tmp_path, name):
    writer = SESSION_LOG[name][0]
    truth = simulate_scenario(name, tmp_path, seed=DEFAULT_SEED, users=SMALL[name], formats=[writer]).truth
    assert "story" not in truth and "drawn" not in truth["trigger"]
    assert truth["trigger"]["sequence"] == list(FIXED_TRIGGER[name])


def test_story_option_chooses_fixed_or_drawn_on_any_seed(tmp_path):
    runner = CliRunner()
    base = ["simulate", "--users", "60", "--format", "app"]
    res = runner.invoke(cli, [*base, str(tmp_path / "fixed"), "--seed", "3", "--story", "fixed"])
    assert res.exit_code == 0, res.output
    fixed = json.loads((tmp_path / "fixed/truth.json").read_text())
    assert fixed["trigger"]["sequence"] == list(ELEARNING_TRIGGER) and "story" not in fixed
    res = runner.invoke(cli, [*base, str(tmp_path / "drawn"), "--story", "drawn"])
    assert res.exit_code == 0, res.output
    drawn = json.loads((tmp_path / "drawn/truth.json").read_text())
    assert drawn["trigger"]["drawn"] and drawn["trigger"]["sequence"] != list(ELEARNING_TRIGGER)
    assert "--story [fixed|drawn]" in runner.invoke(cli, ["simulate", "--help"]).output


def test_the_scenario_choices_come_from_the_registry():
    out = CliRunner().invoke(cli, ["simulate", "--help"]).output
    assert f"--scenario [{'|'.join(SCENARIOS)}]" in out
