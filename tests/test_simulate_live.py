"""Live replay (``forensics.simulate.live``, ``forensics simulate --live``):
lines written in event-time order as a clock advances.  No test sleeps: the
replay is driven by explicit times or by a fake clock."""

from __future__ import annotations

import gzip
from datetime import datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from forensics.cli import cli
from forensics.errors import ExitCode, UsageError
from forensics.ingest import IngestOptions, ingest
from forensics.simulate import simulate
from forensics.simulate.live import Replay, replay_live, resolve_time, run_live

UTC = timezone.utc
DAY = datetime(2023, 11, 2, tzinfo=UTC)

TRACE_LOG = (
    "starting service (no time on this line)\n"
    "2023-11-02 10:00:00,000 INFO  [main] c.e.App - up\n"
    "2023-11-02 10:00:30,000 ERROR [main] c.e.App - failed\n"
    "java.lang.IllegalStateException: boom\n"
    "\tat c.e.App.run(App.java:10)\n"
    "\tat c.e.App.main(App.java:3)\n"
    "2023-11-02 10:01:00,000 INFO  [main] c.e.App - retry\n"
    "2023-11-02 10:02:00,000 INFO  [main] c.e.App - ok\n"
)


@pytest.fixture(scope="module")
def sim(tmp_path_factory) -> Path:
    """A small simulated day (every e-learning format, a gzip part, stack traces)."""
    out = tmp_path_factory.mktemp("sim")
    simulate(out, seed=7, users=40)
    return out


@pytest.fixture
def small(tmp_path) -> Path:
    """A hand-written folder: a log with a stack trace and an untimed first line,
    and a CRLF log with a malformed line and no final newline."""
    src = tmp_path / "src"
    (src / "svc").mkdir(parents=True)
    (src / "svc" / "app.log").write_text(TRACE_LOG)
    (src / "web.log").write_bytes(
        b"2023-11-02 10:00:10 INFO a\r\n???\r\n2023-11-02 10:01:10 INFO b\r\n2023-11-02 10:03:00 INFO c"
    )
    return src


def source_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.name.endswith(".gz") else data


def out_name(rel: str) -> str:
    return rel[:-3] if rel.endswith(".gz") else rel


def log_files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and p.name != "truth.json")


def event_times(folder: Path) -> dict[str, pl.DataFrame]:
    """Per source file (relative path): its event lines and times."""
    ev = ingest([folder], options=IngestOptions(cache_dir=None, dedupe=False)).events
    ev = ev.group_by("source", "line").agg(pl.col("ts").max()).sort("line")
    return {str(Path(s).relative_to(folder)): g for (s,), g in ev.partition_by("source", as_dict=True).items()}


def test_lines_appear_in_time_order_per_file(sim, tmp_path):
    out = tmp_path / "live"
    replay = Replay(sim, out)
    times = event_times(sim)
    t = replay.start
    while not replay.done():
        t += timedelta(minutes=20)
        replay.advance_to(t)
        for rel, ev in times.items():
            src = source_bytes(sim / rel)
            written = (out / out_name(rel)).read_bytes()
            assert src.startswith(written), rel  # a prefix of the file, in its own order
            k = written.count(b"\n")
            assert ev.filter((pl.col("line") <= k) & (pl.col("ts") > t)).height == 0, rel  # nothing early
            later = ev.filter(pl.col("line") > k)
            if later.height:  # the next line waits for its own (later) event
                assert later["ts"][0] > t and (later["line"][0] == k + 1 or k == 0), rel


def test_advancing_twice_to_the_same_time_writes_nothing(small, tmp_path):
    replay = Replay(small, tmp_path / "live")
    t = datetime(2023, 11, 2, 10, 1, 0, tzinfo=UTC)
    assert replay.advance_to(t) > 0
    before = {rel: (tmp_path / "live" / rel).read_bytes() for rel in log_files(tmp_path / "live")}
    assert replay.advance_to(t) == 0
    assert {rel: (tmp_path / "live" / rel).read_bytes() for rel in before} == before


def test_finished_replay_reproduces_every_source_byte(sim, tmp_path):
    out = tmp_path / "live"
    replay = Replay(sim, out)
    assert (out / "truth.json").read_bytes() == (sim / "truth.json").read_bytes()  # copied at the start
    assert replay.advance_to(replay.end) == replay.lines_total
    assert replay.done() and replay.next_time() is None
    assert log_files(out) == sorted(out_name(rel) for rel in log_files(sim))
    for rel in log_files(sim):
        assert (out / out_name(rel)).read_bytes() == source_bytes(sim / rel), rel
    assert any("app.jsonl.1.gz" in note and "decompressed" in note for note in replay.notes)


def test_stack_traces_are_never_split_across_steps(sim, small, tmp_path):
    for name, src, rel in (("sim", sim, "auth/auth.log"), ("small", small, "svc/app.log")):
        out = tmp_path / f"live-{name}"
        replay = Replay(src, out)
        lines = source_bytes(src / rel).splitlines(keepends=True)
        t = replay.start
        while not replay.done():
            t += timedelta(seconds=10)
            replay.advance_to(t)
            k = (out / rel).read_bytes().count(b"\n")
            if k < len(lines):  # the next unwritten line starts an event, never continues one
                assert not lines[k].startswith((b"\t", b" ", b"java.", b"io.", b"Caused by")), (rel, k)


def test_lines_without_a_time_travel_with_their_neighbours(small, tmp_path):
    out = tmp_path / "live"
    replay = Replay(small, out)
    assert replay.start == datetime(2023, 11, 2, 10, 0, 0, tzinfo=UTC)
    assert replay.end == datetime(2023, 11, 2, 10, 3, 0, tzinfo=UTC)
    replay.advance_to(replay.start)  # the untimed first line goes with the file's first event
    assert (out / "svc/app.log").read_text() == TRACE_LOG.split("\n", 2)[0] + "\n" + TRACE_LOG.split("\n", 2)[1] + "\n"
    assert (out / "web.log").read_bytes() == b""
    replay.advance_to(datetime(2023, 11, 2, 10, 0, 30, tzinfo=UTC))  # the trace comes whole with its event
    assert (out / "svc/app.log").read_text().endswith("\tat c.e.App.main(App.java:3)\n")
    assert (out / "web.log").read_bytes() == b"2023-11-02 10:00:10 INFO a\r\n???\r\n"  # malformed follows
    replay.advance_to(replay.end)  # the last line, without a newline, as it is
    assert (out / "web.log").read_bytes() == (small / "web.log").read_bytes()


def test_start_with_prefill_writes_earlier_lines_at_once(sim, tmp_path):
    out = tmp_path / "live"
    replay = Replay(sim, out, start="16:10")
    assert replay.start == DAY.replace(hour=16, minute=10)
    written = replay.advance_to(replay.start - timedelta(hours=3))  # any first time: all before 16:10
    assert written == replay.lines_written > 0
    assert replay.advance_to(replay.start - timedelta(hours=3)) == 0
    times = event_times(sim)
    k = (out / "nginx/access.log").read_bytes().count(b"\n")
    nginx = times["nginx/access.log"]
    assert nginx.filter(pl.col("line") <= k)["ts"].max() < replay.start <= nginx.filter(pl.col("line") > k)["ts"][0]


def test_start_without_prefill_leaves_earlier_lines_out(sim, tmp_path):
    out = tmp_path / "live"
    replay = Replay(sim, out, start=DAY.replace(hour=16, minute=10), prefill=False)
    assert replay.advance_to(replay.start - timedelta(minutes=1)) == 0
    assert all((out / rel).read_bytes() == b"" for rel in log_files(out))
    assert replay.advance_to(replay.end) == replay.lines_total
    src = source_bytes(sim / "nginx/access.log")
    tail = (out / "nginx/access.log").read_bytes()
    assert 0 < len(tail) < len(src) and src.endswith(tail)
    first = tail.split(b"\n", 1)[0].decode()
    assert "02/Nov/2023:16:1" in first


def test_same_calls_give_the_same_bytes(sim, tmp_path):
    steps = [DAY + timedelta(minutes=m) for m in (0, 600, 600, 975, 976, 2000)]
    results = []
    for name in ("a", "b"):
        replay = Replay(sim, tmp_path / name, start="09:00")
        counts = [replay.advance_to(t) for t in steps]
        results.append((counts, {rel: (tmp_path / name / rel).read_bytes() for rel in log_files(tmp_path / name)}))
    assert results[0] == results[1]


def test_naive_times_are_in_the_replay_time_zone(small, tmp_path):
    replay = Replay(small, tmp_path / "live", options=IngestOptions(tz="Europe/Berlin"))
    assert replay.start == datetime(2023, 11, 2, 9, 0, 0, tzinfo=UTC)  # 10:00 in Berlin (CET)
    assert replay.advance_to(datetime(2023, 11, 2, 10, 0, 0)) == 2  # naive: Berlin time
    berlin = resolve_time("10:01", first=replay.start, last=replay.end, tz="Europe/Berlin")
    assert berlin == replay.start + timedelta(minutes=1)


def test_resolve_time_picks_the_last_day_reached():
    first, last = DAY, DAY + timedelta(days=1, seconds=30)
    assert resolve_time("16:14", first=first, last=last) == DAY.replace(hour=16, minute=14)
    assert resolve_time("00:00:10", first=first, last=last) == DAY + timedelta(days=1, seconds=10)
    assert resolve_time("2023-11-02T16:14:00Z", first=first, last=last) == DAY.replace(hour=16, minute=14)
    with pytest.raises(UsageError):
        resolve_time("25:00", first=first, last=last)
    with pytest.raises(UsageError):
        resolve_time("soon", first=first, last=last)
    with pytest.raises(UsageError):  # not within the logs
        resolve_time("23:00", first=DAY.replace(hour=10), last=DAY.replace(hour=12))


def test_output_inside_the_source_is_refused(small):
    with pytest.raises(UsageError):
        Replay(small, small)
    with pytest.raises(UsageError):
        Replay(small, small / "live")


class FakeTime:
    """A clock that moves only when the replay sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_replay_live_keeps_pace_with_the_fake_clock(sim, tmp_path):
    fake, speed = FakeTime(), 120.0
    replay = Replay(sim, tmp_path / "live", start="16:00")
    seen = []

    def progress(now: datetime, written: int, total: int) -> None:
        elapsed = fake.now - 1000.0
        assert now == replay.start + timedelta(seconds=elapsed * speed)
        due = replay.next_time()
        assert due is None or due > now  # everything due by now is written, nothing later
        seen.append((written, total))

    run_live(replay, speed=speed, clock=fake.clock, sleep=fake.sleep, progress=progress)
    assert replay.done() and seen[-1][0] == seen[-1][1] == replay.lines_total
    assert [w for w, _ in seen] == sorted(w for w, _ in seen)
    assert max(fake.sleeps) <= 1.0 and min(fake.sleeps) >= 0.05
    lasted, expected = fake.now - 1000.0, (replay.end - replay.start).total_seconds() / speed
    assert expected - 1e-3 <= lasted <= expected + 1.0  # the day's rest at 120x, to within one tick


def test_replay_live_writes_the_whole_folder(small, tmp_path):
    fake = FakeTime()
    replay_live(small, tmp_path / "live", speed=30.0, clock=fake.clock, sleep=fake.sleep)
    for rel in log_files(small):
        assert (tmp_path / "live" / rel).read_bytes() == (small / rel).read_bytes()
    assert 6.0 <= fake.now - 1000.0 <= 7.0  # 3 minutes of logs at 30x
    with pytest.raises(UsageError):
        replay_live(small, tmp_path / "again", speed=0, clock=fake.clock, sleep=fake.sleep)


def test_cli_live_replays_a_folder(small, tmp_path):
    out = tmp_path / "live"
    res = CliRunner().invoke(cli, ["simulate", "--live", str(out), "--replay", str(small), "--speed", "1e9",
                                   "--live-from", "10:01"])
    assert res.exit_code == 0, res.output
    assert "from 2023-11-02 10:01:00 UTC" in res.stderr and "replay done: 12 lines" in res.stderr
    for rel in log_files(small):
        assert (out / rel).read_bytes() == (small / rel).read_bytes()


def test_cli_live_simulates_then_replays(tmp_path):
    out, kept = tmp_path / "live", tmp_path / "sim"
    res = CliRunner().invoke(cli, ["simulate", str(kept), "--live", str(out), "--users", "20", "--format", "app",
                                   "--speed", "1e9", "--live-from", "16:10", "--no-prefill"])
    assert res.exit_code == 0, res.output
    assert (out / "truth.json").read_bytes() == (kept / "truth.json").read_bytes()
    whole = (kept / "app/app.jsonl").read_bytes()
    tail = (out / "app/app.jsonl").read_bytes()
    assert 0 < len(tail) < len(whole) and whole.endswith(tail)
    assert (out / "app/app.jsonl.1").read_bytes() == b""  # the morning part: before 16:10, left out


def test_cli_live_options_need_live(tmp_path, small):
    runner = CliRunner()
    res = runner.invoke(cli, ["simulate", str(tmp_path / "o"), "--speed", "10"])
    assert res.exit_code == ExitCode.USAGE and "--speed needs --live" in res.stderr
    res = runner.invoke(cli, ["simulate"])
    assert res.exit_code == ExitCode.USAGE and "OUT_DIR" in res.stderr
    res = runner.invoke(cli, ["simulate", str(tmp_path / "o"), "--live", str(tmp_path / "l"), "--replay", str(small)])
    assert res.exit_code == ExitCode.USAGE
    res = runner.invoke(cli, ["simulate", "--live", str(tmp_path / "l"), "--replay", str(small), "--speed", "0"])
    assert res.exit_code == 2
