"""At ten times the default size the simulators' background errors grow
with the traffic (a per-request rate, as real ones do) and every decoy is
still there; the quiet time around the true onsets shrinks with traffic."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest

from forensics.simulate import SCENARIOS, simulate_scenario
from forensics.simulate.engine.requests import QUIET_FLOOR_MS, QUIET_MS, quiet_windows

SEED = 5
#: Writer whose lines are one per request, and how an error line looks there.
REQUEST_LOG = {"elearning": (("app/app.jsonl.1.gz", "app/app.jsonl"), re.compile(r'"level": ?"error"')),
               "shop": (("storefront/storefront.log",), re.compile(r"\blevel=error\b"))}


def _lines(out: Path, rels: tuple[str, ...]) -> list[str]:
    lines = []
    for rel in rels:
        data = (out / rel).read_bytes()
        lines += (gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data).decode().splitlines()
    return lines


@pytest.fixture(scope="module", params=["elearning", "shop"])
def sizes(request, tmp_path_factory) -> tuple[str, dict[int, tuple[Path, dict]]]:
    name = request.param
    base = SCENARIOS[name].default_users
    runs = {}
    for mult in (1, 10):
        out = tmp_path_factory.mktemp(f"{name}-{mult}x")
        runs[mult] = (out, simulate_scenario(name, out, seed=SEED, users=mult * base).truth)
    return name, runs


def _background(truth: dict) -> dict[str, int]:
    return next(d for d in truth["decoys"] if d["kind"] == "background_errors")["errors_per_component"]


def test_background_errors_grow_about_linearly_with_the_requests(sizes):
    name, runs = sizes
    rels, error = REQUEST_LOG[name]
    requests = {m: len(_lines(out, rels)) for m, (out, _) in runs.items()}
    errors = {m: sum(_background(truth).values()) for m, (_, truth) in runs.items()}
    error_lines = {m: sum(1 for line in _lines(out, rels) if error.search(line)) for m, (out, _) in runs.items()}
    traffic = requests[10] / requests[1]
    assert 7 < traffic < 13
    # Linear: the error ratio follows the traffic ratio (a fixed rate per
    # minute would give about 1, a per-session pile-up about traffic squared).
    assert 0.5 < (errors[10] / errors[1]) / traffic < 2, (errors, requests)
    assert 0.5 < (error_lines[10] / error_lines[1]) / traffic < 2, (error_lines, requests)
    small, large = _background(runs[1][1]), _background(runs[10][1])
    grown = [c for c in small if small[c] >= 5]
    assert grown and all(large[c] > 3 * small[c] for c in grown), (small, large)


def test_every_decoy_is_there_at_ten_times_the_default_size(sizes):
    name, runs = sizes
    truth = runs[10][1]
    decoys = {d["kind"]: d for d in truth["decoys"]}
    assert len(decoys["rare_harmless"]["times"]) >= 3
    assert len(decoys["coincidence"]["times"]) == 1 and 60 <= decoys["coincidence"]["before_onset_s"] <= 300
    assert decoys["retry_after_error"]["count"] > 0 and decoys["common_path"]["failing_sessions_with_path"] > 0
    unrelated = [b for b in truth["bursts"] if b["kind"] != "incident"]
    assert len(unrelated) == 1 and unrelated[0]["onset"] and decoys["unrelated_burst"]["onset"] == unrelated[0]["onset"]
    assert len(truth["trigger"]["sessions"]) == 2 and truth["trigger"]["drawn"]


def test_the_quiet_time_around_onsets_shrinks_with_traffic_above_the_default_size():
    def half(users: int) -> int:
        (lo, hi), = quiet_windows([10 * QUIET_MS], users, 700)
        return (hi - lo) // 2

    assert half(300) == half(700) == QUIET_MS
    assert half(7_000) == QUIET_MS // 10
    assert half(70_000) == QUIET_FLOOR_MS


def test_truth_json_of_both_sizes_parses(sizes):
    _, runs = sizes
    assert all(json.loads((out / "truth.json").read_text()) == truth for out, truth in runs.values())
