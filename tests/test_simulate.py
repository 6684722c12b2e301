"""``forensics simulate``: determinism, exact line accounting, the trigger and
the decoys in the written logs, and the committed ``sample_logs/``."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forensics.cli import cli
from forensics.ingest import IngestOptions, formats
from forensics.ingest import ingest as ingest_paths
from forensics.errors import UsageError
from forensics.simulate import FORMATS, SCENARIOS, simulate, simulate_scenario
from forensics.simulate.engine.run import STORY_STAGE

REPO = Path(__file__).resolve().parent.parent
SAMPLE_LOGS = REPO / "sample_logs"
ACCESS = re.compile(r'^\S+ \S+ \S+ \[[^\]]+\] "[^"]*" \d{3} \S+ "[^"]*" "[^"]*" rt=\S+ rid=\S+$')
PG_CONT = re.compile(r"^\d{4}-\d{2}-\d{2} [\d:.]+ UTC \[\d+\] (STATEMENT|DETAIL|HINT):  ")
LOGBACK_START = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3} ")


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sim")
    simulate(out, seed=3, users=150)
    return out


def _truth(out: Path) -> dict:
    return json.loads((out / "truth.json").read_text(encoding="utf-8"))


def _text(path: Path) -> str:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data.decode("utf-8")


def _lines(path: Path) -> list[str]:
    text = _text(path)
    assert text.endswith("\n")
    return text[:-1].split("\n")


def _app_records(out: Path) -> list[dict]:
    recs = []
    for rel in ("app/app.jsonl.1.gz", "app/app.jsonl"):
        for line in _lines(out / rel):
            try:
                recs.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return recs


def _sessions(out: Path) -> dict[str, list[tuple[str, dict]]]:
    by: dict[str, list[tuple[str, dict]]] = {}
    for r in _app_records(out):
        if r.get("session_id"):
            by.setdefault(r["session_id"], []).append((r["timestamp"], r))
    return {k: [r for _, r in sorted(v, key=lambda x: x[0])] for k, v in by.items()}


def _contains(actions: list[str], seq: list[str]) -> bool:
    it = iter(actions)
    return all(any(a == s for a in it) for s in seq)


def _files(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file() and p.suffix != ".md"}


# ------------------------------------------------------------ determinism


def test_same_seed_writes_identical_bytes_and_another_seed_differs(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    simulate(a, seed=11, users=60)
    simulate(b, seed=11, users=60)
    simulate(c, seed=12, users=60)
    fa, fb, fc = _files(a), _files(b), _files(c)
    assert fa == fb
    assert set(fa) == set(fc)
    assert fa["app/app.jsonl"] != fc["app/app.jsonl"]
    assert fa["truth.json"] != fc["truth.json"]


def test_gzip_part_has_no_timestamp_or_random_header(small):
    head = (small / "app/app.jsonl.1.gz").read_bytes()[:10]
    assert head[:2] == b"\x1f\x8b"
    assert head[4:8] == b"\x00\x00\x00\x00"  # mtime 0


# ------------------------------------------------------------- accounting


def test_truth_counts_match_lines_counted_independently(small):
    truth = _truth(small)
    assert set(truth["files"]) == {rel for rels, _ in FORMATS.values() for rel in rels}
    for rel, c in truth["files"].items():
        lines = _lines(small / rel)
        assert c["lines"] == len(lines), rel
        assert c["events"] + c["continuation_lines"] + c["blank_lines"] + c["malformed"] == c["lines"], rel
        assert c["blank_lines"] == sum(1 for s in lines if not s.strip()), rel
        bad = set(c["malformed_line_numbers"])
        assert len(bad) == c["malformed"], rel
        fmt = c["format"]
        if fmt == "jsonl":
            for i, s in enumerate(lines, start=1):
                try:
                    ok = isinstance(json.loads(s), dict)
                except json.JSONDecodeError:
                    ok = False
                assert ok == (i not in bad), (rel, i, s[:80])
        elif fmt == "access":
            for i, s in enumerate(lines, start=1):
                assert bool(ACCESS.match(s)) == (i not in bad), (rel, i, s[:80])
        elif fmt == "postgres":
            assert c["continuation_lines"] == sum(1 for s in lines if PG_CONT.match(s)), rel
        elif fmt == "plain":
            assert c["continuation_lines"] == sum(1 for s in lines if s.strip() and not LOGBACK_START.match(s)), rel
        else:
            assert c["continuation_lines"] == 0, rel
    assert sum(c["malformed"] for c in truth["files"].values()) >= 5


@pytest.mark.parametrize("rel", sorted(rel for rels, _ in FORMATS.values() for rel in rels))
def test_ingest_accounting_agrees_with_truth(small, rel):
    expected = _truth(small)["files"][rel]
    if expected["format"] not in formats.FORMATS:
        pytest.skip(f"the {expected['format']} reader does not exist yet")
    result = ingest_paths([small / rel], options=IngestOptions())
    (rep,) = result.accounting.files
    got = {k: getattr(rep, k) for k in ("format", "lines", "events", "continuation_lines", "blank_lines", "malformed")}
    assert got == {k: expected[k] for k in got}
    assert sorted(result.rejects["line"].to_list()) == expected["malformed_line_numbers"]


# -------------------------------------------------------- trigger, decoys


def test_trigger_is_a_subsequence_of_exactly_the_trigger_sessions(small):
    truth = _truth(small)
    seq = truth["trigger"]["sequence"]
    assert len(seq) >= 4
    sessions = _sessions(small)
    having = {sid for sid, recs in sessions.items() if _contains([r["event"] for r in recs], seq)}
    assert having == set(truth["trigger"]["sessions"])
    assert len(having) == 2
    assert len(set(truth["trigger"]["users"])) == 2
    # Every single step is common on its own; only the combination is rare.
    counts = {a: sum(1 for recs in sessions.values() if any(r["event"] == a for r in recs)) for a in seq}
    assert min(counts.values()) >= 10, counts


def test_trigger_completions_write_the_poisoned_cache_key(small):
    truth = _truth(small)
    key = truth["trigger"]["cache_key"]
    sets = [json.loads(s) for s in _lines(small / "cache/cache.jsonl") if '"op":"SET"' in s and key in s]
    truncated = [s["rid"] for s in sets if s["bytes"] < 100]
    assert truncated == truth["trigger"]["request_ids"]
    times = [t[11:16] for t in truth["trigger"]["completion_times"]]
    assert times[0] == "16:14" and times[1] in ("16:44", "16:45")


def test_cascade_runs_cache_db_content_auth_and_twice(small):
    truth = _truth(small)
    incidents = [b for b in truth["bursts"] if b["kind"] == "incident"]
    onsets = [b["onset"][11:19] for b in incidents]
    assert "16:14:30" < onsets[0] < "16:16:00" and "16:44:30" < onsets[1] < "16:46:00", onsets
    for order in truth["component_onset_order"]:
        layers = [c for c in order]
        assert layers[:2] == ["cache", "db"] and set(layers[2:4]) == {"app", "nginx"} and layers[4] == "auth"
    assert "received fast shutdown request" in _text(small / "db/postgresql.log")
    assert 0.1 <= truth["affected"]["share"] <= 0.4


def test_decoys_are_present_with_their_kinds(small):
    truth = _truth(small)
    decoys = {d["kind"]: d for d in truth["decoys"]}
    assert set(decoys) == {"rare_harmless", "coincidence", "common_path", "retry_after_error", "background_errors",
                           "unrelated_burst"}
    sessions = _sessions(small)
    for kind in ("rare_harmless", "coincidence"):
        d = decoys[kind]
        having = {sid for sid, recs in sessions.items() if _contains([r["event"] for r in recs], d["sequence"])}
        assert having == set(d["sessions"]), kind
    assert len(decoys["rare_harmless"]["times"]) >= 3
    assert 60 <= decoys["coincidence"]["before_onset_s"] <= 240
    assert decoys["common_path"]["share_of_sessions"] > 0.2 and decoys["common_path"]["failing_sessions_with_path"] > 0
    retry = decoys["retry_after_error"]
    assert retry["count"] > 0
    # A retry follows a failure of the same request in the same session.
    failed_then_same = sum(
        1 for recs in sessions.values() for a, b in zip(recs, recs[1:])
        if a["event"] == retry["sequence"][0] and a["level"] != "info" and b["event"] == retry["sequence"][1]
    )
    assert failed_then_same > 0
    assert sum(decoys["background_errors"]["errors_per_component"].values()) > 0


def test_deploy_burst_is_proxy_502s_without_user_actions(small):
    burst = next(b for b in _truth(small)["bursts"] if b["kind"] == "unrelated_deploy")
    lo, hi = burst["fault_window"]
    stamp = re.compile(r"\[(\d\d)/Nov/2023:(\d\d:\d\d:\d\d) ")
    inside = [s for s in _lines(small / "nginx/access.log")
              if (m := stamp.search(s)) and lo[11:19] <= m.group(2) <= hi[11:19] and '" 502 ' in s]
    assert len(inside) >= 5
    app_users = [r for r in _app_records(small) if r.get("user_id") and lo <= r["timestamp"] <= hi]
    assert app_users == []


def test_days_put_the_incident_on_the_last_day(tmp_path):
    simulate(tmp_path, seed=5, users=40, days=2, formats=["app"])
    truth = _truth(tmp_path)
    assert truth["trigger"]["completion_times"][0].startswith("2023-11-02T16:14")
    first = json.loads(_lines(tmp_path / "app/app.jsonl.1.gz")[0])
    assert first["timestamp"].startswith("2023-11-01")
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["app.jsonl", "app.jsonl.1.gz", "truth.json"]


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000))
def test_any_seed_balances_its_books_and_has_two_triggers(tmp_path_factory, seed):
    out = tmp_path_factory.mktemp("h")
    result = simulate(out, seed=seed, users=40, formats=["app", "auth", "postgres"])
    for c in result.files.values():
        assert c.events + c.continuation_lines + c.blank_lines + c.malformed == c.lines
    assert len(result.truth["trigger"]["sessions"]) == 2


# ------------------------------------------------------------- scenarios


def test_the_registry_holds_both_scenarios_under_their_cli_names():
    assert sorted(SCENARIOS) == ["elearning", "shop"]
    assert all(sc.name == name for name, sc in SCENARIOS.items())


@pytest.mark.parametrize("name", ["elearning", "shop"])
def test_each_scenario_plants_the_trigger_of_its_story_twice(tmp_path, name):
    sc = SCENARIOS[name]
    users = 2 * sc.min_users + 40
    story = sc.story(sc.rng(11, STORY_STAGE), sc.make_population(sc.rng(11, 0), users), True)
    writer = next(iter(sc.layout.formats))
    truth = simulate_scenario(name, tmp_path, seed=11, users=users, formats=[writer]).truth
    assert truth["trigger"]["sequence"] == list(story.trigger)
    assert truth["trigger"]["cache_key"] == story.resource
    assert [o["actions"][-1] for o in truth["trigger"]["occurrences"]] == [story.trigger[-1]] * 2
    kinds = {d["kind"]: d for d in truth["decoys"]}
    assert kinds["rare_harmless"]["sequence"] == list(story.rare_harmless)
    assert kinds["coincidence"]["sequence"] == list(story.coincidence)
    assert kinds["common_path"]["sequence"] == list(story.common_path)


def test_a_one_day_scenario_refuses_more_days(tmp_path):
    with pytest.raises(UsageError, match="--days"):
        simulate_scenario("shop", tmp_path, days=2)


# ------------------------------------------------------------------ CLI


def test_cli_writes_logs_and_a_one_line_summary(tmp_path):
    res = CliRunner().invoke(cli, ["simulate", str(tmp_path / "o"), "--users", "40", "--format", "app,cache"])
    assert res.exit_code == 0, res.output
    assert "events" in res.stderr and res.stdout == ""
    assert (tmp_path / "o/cache/cache.jsonl").exists() and not (tmp_path / "o/nginx").exists()


def test_cli_rejects_an_unknown_format_with_usage_exit_code(tmp_path):
    res = CliRunner().invoke(cli, ["simulate", str(tmp_path / "o"), "--format", "syslog"])
    assert res.exit_code == 2
    assert "unknown simulate format" in res.stderr


def test_sample_logs_equal_a_fresh_default_simulation(tmp_path):
    assert (SAMPLE_LOGS / "truth.json").exists(), "sample_logs/ is missing: run `forensics simulate sample_logs`"
    res = CliRunner().invoke(cli, ["simulate", str(tmp_path / "fresh")])
    assert res.exit_code == 0, res.output
    assert _files(SAMPLE_LOGS) == _files(tmp_path / "fresh")
    assert (SAMPLE_LOGS / "README.md").exists()
    assert sum(p.stat().st_size for p in SAMPLE_LOGS.rglob("*") if p.is_file()) < 10 * 1024 * 1024


def test_scan_top_suspect_is_the_trigger():
    try:
        import forensics.cli.scan_cmd  # noqa: F401
        from forensics.scan import run_scan
    except ImportError:
        pytest.skip("forensics scan does not exist yet (issue 5)")
    result = run_scan([str(SAMPLE_LOGS)])
    suspects = getattr(result, "suspects", None) or result.mining.suspects
    assert list(suspects[0].sequence) == _truth(SAMPLE_LOGS)["trigger"]["sequence"]
