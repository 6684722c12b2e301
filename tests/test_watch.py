"""``forensics watch``: the sample day replayed in real time (driven by the
replayer's clock, never by sleeps) through the follower and the watch.

The golden alerts (``tests/golden/watch/sample_live.jsonl``) are rewritten
only by ``python tests/test_watch.py --regen``.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta
from pathlib import Path

TESTS = Path(__file__).resolve().parent
if __name__ == "__main__":  # the --regen entry point: this tree's forensics
    sys.path[:0] = [str(TESTS.parent), str(TESTS)]

import pytest  # noqa: E402
from click.testing import CliRunner  # noqa: E402

from forensics.cli import cli  # noqa: E402
from forensics.errors import InputError  # noqa: E402
from forensics.ingest import IngestOptions  # noqa: E402
from forensics.report.export import export_scan  # noqa: E402
from forensics.scan import ScanSettings, run_scan  # noqa: E402
from forensics.simulate.live import Replay  # noqa: E402
from forensics.watch.alerts import Alert  # noqa: E402
from forensics.watch.engine import Watch  # noqa: E402
from forensics.watch.follow import Follower  # noqa: E402
from forensics.watch.guard import GuardSequence, load_guard  # noqa: E402
from forensics.watch.hooks import Hook  # noqa: E402

SAMPLE = TESTS.parent / "sample_logs"
GOLDEN = TESTS / "golden" / "watch" / "sample_live.jsonl"
TRIGGER = ["start_quiz", "switch_language", "download_material", "submit_quiz"]
STEP_S = 5


def T(hms: str) -> datetime:
    return datetime.fromisoformat(f"2023-11-02T{hms}+00:00")


def replay_watch(tmp: Path, *, start: str = "16:10:00", until: str = "16:48:00", guard: Path | None = None):
    """Replay sample_logs from ``start`` (everything before written at once)
    into ``tmp/live``, follow it, and step the watch every 5 s of the replay
    clock; returns the alerts and the time each was raised."""
    replay = Replay(SAMPLE, tmp / "live", start=T(start))
    follower = Follower([tmp / "live"], from_start=True)
    watch = Watch(guards=load_guard(guard) if guard else ())
    alerts: list[Alert] = []
    t = replay.start
    while t <= T(until):
        replay.advance_to(t)
        alerts += watch.step(follower.poll(), now=t)
        t += timedelta(seconds=STEP_S)
    follower.close()
    return alerts, watch


def full_day_guard(tmp: Path) -> Path:
    """The suspects export of a scan of the whole sample day (see the
    closing note: a scan of the logs up to 16:30 names no significant suspect)."""
    result = run_scan([SAMPLE], settings=ScanSettings(ingest=IngestOptions(cache_dir=None)))
    export_scan(result, tmp / "export")
    return tmp / "export" / "suspects.parquet"


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("watch")
    alerts, watch = replay_watch(tmp, guard=full_day_guard(tmp))
    scan = run_scan([SAMPLE], settings=ScanSettings(ingest=IngestOptions(cache_dir=None)))
    return alerts, watch, scan


def _of(alerts, kind):
    return [a for a in alerts if a.kind == kind]


def test_the_outage_onset_is_flagged_and_dated_as_the_scan_dates_it(live):
    alerts, _, scan = live
    onsets = _of(alerts, "onset")
    burst = next(b for b in scan.timeline.bursts if b.start.hour == 16)
    assert [a.at for a in onsets] == list(burst.onsets)  # 16:15:00.426 and the re-onset 16:45:01.715
    first = onsets[0]
    assert first.data["component"] == "content-cache" and not first.data["reonset"]
    assert onsets[1].data["reonset"]


def test_an_onset_is_raised_within_one_tick_of_the_window_showing_it(live, tmp_path):
    """What bounds the delay: the scan's test needs the errors to depart
    from the baseline; once a window shows the burst, the alert follows at
    the next evaluation (5 s of clock here)."""
    alerts, watch, _ = live
    first = _of(alerts, "onset")[0]
    from forensics.timeline import build_timeline

    window = watch.options.window_s
    seen_at = None
    for s in range(0, 600, 5):  # when does a window ending then first show this onset?
        t = first.at + timedelta(seconds=s)
        events = _events_until(t, window)
        tl = build_timeline(events, options=watch.timeline_options)
        if any(abs((o - first.at).total_seconds()) < 1 for b in tl.bursts for o in b.onsets):
            seen_at = t
            break
    assert seen_at is not None
    assert timedelta(0) <= first.raised_at - seen_at <= timedelta(seconds=STEP_S + 5)


_EVENTS = {}


def _events_until(t: datetime, window_s: float):
    import polars as pl

    from forensics.ingest import ingest
    from forensics.timeline import analysis_columns

    if "all" not in _EVENTS:
        _EVENTS["all"] = ingest([SAMPLE], options=IngestOptions(cache_dir=None),
                                project=analysis_columns()).events.drop("_attrs_hash", strict=False)
    ev = _EVENTS["all"]
    return ev.filter((pl.col("ts") <= t) & (pl.col("ts") >= t - timedelta(seconds=window_s)))


def test_the_guard_fires_at_the_repeat_completion_before_the_re_onset(live):
    alerts, _, _ = live
    guards = _of(alerts, "guard")
    repeat = [a for a in guards if T("16:40:00") < a.at < T("16:45:01")]
    assert len(repeat) == 1
    g = repeat[0]
    assert g.data["sequence"] == TRIGGER and g.data["session"] == "s-a51509f8d859"
    assert g.data["user"] == "u0134" and len(g.data["request_ids"]) == 4
    reonset = next(a for a in _of(alerts, "onset") if a.data["reonset"])
    assert g.raised_at < reonset.at  # raised before the errors came back
    assert g.raised_at - g.at <= timedelta(seconds=STEP_S)
    assert "course:840:content" in g.data["watched_resources"]


def test_the_trigger_is_named_at_the_re_onset_with_its_erring_resource(live):
    alerts, _, _ = live
    reonset = next(a for a in _of(alerts, "onset") if a.data["reonset"])
    named = next(a for a in _of(alerts, "suspects") if a.at == reonset.at)
    top = named.data["suspects"][0]
    assert top["sequence"] == TRIGGER and top["significant"]
    assert "course:840:content" in top["erring_resources"] and 0 < top["lead_s"] < 60


def test_alerts_match_the_golden_file(live):
    alerts, _, _ = live
    lines = [json.dumps(a.to_json(), sort_keys=True) for a in alerts]
    assert GOLDEN.exists(), "run python tests/test_watch.py --regen"
    assert lines == GOLDEN.read_text().splitlines(), "alerts changed: python tests/test_watch.py --regen, read the diff"


def test_every_line_written_is_read_and_parsed(live):
    _, watch, _ = live
    c = watch.counts
    assert c.lines > 20_000 and c.events + c.malformed <= c.lines and c.malformed == 4


def test_a_failing_hook_is_reported_and_the_next_one_still_runs(tmp_path):
    alert = Alert("guard", T("16:44:55"), T("16:44:52"), {"sequence": ["a", "b"]})
    out = tmp_path / "got.json"
    ok = Hook.parse(f"{sys.executable} -c \"import sys; open({str(out)!r}, 'w').write(sys.stdin.read())\"")
    assert ok.run(alert) is None and json.loads(out.read_text())["kind"] == "guard"
    bad = Hook.parse(f"{sys.executable} -c \"import sys; sys.exit('hook broke')\"")
    assert bad.run(alert) == f"--exec {sys.executable}: exit code 1 (guard alert): hook broke"
    assert Hook.parse("no-such-command-xyz").run(alert) == "--exec no-such-command-xyz: command not found"


def test_a_guard_file_that_is_not_a_suspects_export_is_an_input_error(tmp_path):
    p = tmp_path / "x.parquet"
    p.write_bytes(b"not parquet")
    with pytest.raises(InputError, match="cannot read it as Parquet"):
        load_guard(p)


def test_watch_once_prints_json_alerts_of_the_day(tmp_path):
    res = CliRunner().invoke(cli, ["watch", str(SAMPLE), "--from-start", "--once", "--window", "24h", "--json",
                                   "-q"])
    assert res.exit_code == 0, res.output
    kinds = [(d["kind"], d["at"][11:19]) for d in map(json.loads, res.stdout.splitlines())]
    assert ("onset", "16:15:00") in kinds and ("onset", "16:45:01") in kinds
    suspects = [json.loads(x) for x in res.stdout.splitlines() if '"suspects"' in x]
    assert suspects[-1]["suspects"][0]["sequence"] == TRIGGER


def test_watch_runs_hooks_and_keeps_going_when_one_fails(tmp_path):
    res = CliRunner().invoke(cli, ["watch", str(SAMPLE), "--from-start", "--once", "--window", "24h", "-q",
                                   "--exec", "no-such-command-xyz"])
    assert res.exit_code == 0
    assert "warning: --exec no-such-command-xyz: command not found" in res.stderr
    assert res.stdout.count("ONSET") == 3


def test_hostile_actions_are_inert_on_the_terminal():
    from forensics.cli.watch_cmd import render_alert

    evil = "\x1b]0;pwned\x07\x1b[31mred"
    d = Alert("guard", T("16:44:55"), T("16:44:52"), {
        "sequence": [evil, "b"], "guard_rank": 1, "session": evil, "user": evil, "resources": [evil]}).to_json()
    assert "\x1b" not in render_alert(d) and "\x07" not in render_alert(d)


def regen() -> None:
    import tempfile

    tmp = Path(tempfile.mkdtemp())
    alerts, _ = replay_watch(tmp, guard=full_day_guard(tmp))
    before = GOLDEN.read_bytes() if GOLDEN.exists() else None
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    GOLDEN.write_text("".join(json.dumps(a.to_json(), sort_keys=True) + "\n" for a in alerts))
    print(f"{'unchanged' if GOLDEN.read_bytes() == before else 'changed':9} {GOLDEN.relative_to(TESTS.parent)}")


if __name__ == "__main__":
    if sys.argv[1:] != ["--regen"]:
        raise SystemExit("usage: python tests/test_watch.py --regen")
    regen()
