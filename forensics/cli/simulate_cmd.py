"""``forensics simulate``.

The ``--scenario`` choices, the default sizes and the format names come
from the scenario registry (:data:`forensics.simulate.SCENARIOS`), so a new
scenario needs no change here.
"""

from __future__ import annotations

import tempfile
import time
from contextlib import nullcontext
from datetime import datetime

import click

from ..errors import UsageError
from ..ingest import IngestOptions
from ..sanitize import terminal_safe
from ..simulate import DEFAULT_SEED, SCENARIOS, STORIES, simulate_scenario
from ..simulate.live import DEFAULT_SPEED, Replay, run_live
from .options import check_tz

_DEFAULT_SCENARIO = "elearning"


def _per_scenario(what) -> str:
    return "; ".join(f"{name}: {what(sc)}" for name, sc in SCENARIOS.items())


#: The options that only a live replay reads (an error without --live).
_LIVE_ONLY = {"speed": "--speed", "live_from": "--live-from", "prefill": "--prefill/--no-prefill",
              "replay_dir": "--replay", "tz": "--tz"}
#: Seconds between two progress lines of a live replay.
_PROGRESS_EVERY = 5.0


@click.command("simulate")
@click.argument("out_dir", type=click.Path(file_okay=False), required=False)
@click.option("--seed", type=int, default=DEFAULT_SEED, show_default=True,
              help="Random seed; the same seed and options give byte-identical files.")
@click.option("--users", type=click.IntRange(min=20), default=None,
              help="Number of users [default: " + _per_scenario(lambda sc: f"{sc.default_users}") + "].")
@click.option("--days", type=click.IntRange(min=1), default=1, show_default=True,
              help="Days of traffic; the incident is on the last day (e-learning only; the shop has one day).")
@click.option("--format", "formats", multiple=True, metavar="NAME",
              help="Write only these logs (repeat or comma-separate): "
                   + _per_scenario(lambda sc: ", ".join(sc.layout.formats)) + ". Default: all.")
@click.option("--scenario", type=click.Choice(list(SCENARIOS)), default=_DEFAULT_SCENARIO, show_default=True,
              help=_per_scenario(lambda sc: sc.summary) + ".")
@click.option("--story", type=click.Choice(list(STORIES)), default=None,
              help=f"fixed: the scenario's own trigger and decoys (the postmortem's); drawn: a trigger of 3 to 6 "
                   f"ordinary actions, decoys and a poisoned resource drawn from the seed (recorded in "
                   f"truth.json). [default: fixed for seed {DEFAULT_SEED}, drawn for any other seed]")
@click.option("--live", "live", type=click.Path(file_okay=False), default=None, metavar="OUT",
              help="Replay the simulated day into OUT in real time divided by --speed, line by line as a "
                   "service would write it (OUT_DIR, when given, keeps the simulated files; else a temporary "
                   "folder is used).")
@click.option("--speed", type=click.FloatRange(min=0, min_open=True), default=DEFAULT_SPEED, show_default=True,
              help="Live replay: replay seconds per real second (120: a day in 12 minutes).")
@click.option("--live-from", default=None, metavar="HH:MM",
              help="Live replay: start at this time of the day (or an ISO date and time); earlier lines are "
                   "written at once (see --no-prefill). [default: the first line]")
@click.option("--prefill/--no-prefill", default=True, show_default=True,
              help="Live replay: write the lines before --live-from at once, or leave them out.")
@click.option("--replay", "replay_dir", type=click.Path(exists=True, file_okay=False), default=None, metavar="DIR",
              help="Live replay: replay the logs in DIR (a simulated folder, or any logs) instead of simulating.")
@click.option("--tz", default=IngestOptions.tz, show_default=True,
              help="Live replay: time zone of timestamps without one, and of --live-from "
                   "(the shop scenario: Europe/Berlin).")
@click.pass_context
def command(ctx: click.Context, out_dir: str | None, seed: int, users: int | None, days: int,
            formats: tuple[str, ...], scenario: str, story: str | None, live: str | None, speed: float,
            live_from: str | None, prefill: bool, replay_dir: str | None, tz: str) -> None:
    """Write a simulated outage (raw multi-format logs plus truth.json) to OUT_DIR.

    The outage of the postmortem: on 2023-11-02 a rare sequence of user
    actions poisons a cache entry at about 16:14 UTC; errors cascade through
    cache, database, content delivery and auth; a restart at 16:20 seems to
    help until a second user repeats the sequence at about 16:45; fixed at
    18:30.  Ordinary traffic, noise and decoys fill the rest of the day.
    Every seed but the default draws its own trigger sequence (see --story).

    With --live OUT the day (or --replay DIR) is written into OUT in real
    time divided by --speed, for tools that follow growing logs; Ctrl-C stops.
    """
    if live is None:
        given = [name for name in _LIVE_ONLY if ctx.get_parameter_source(name) != click.core.ParameterSource.DEFAULT]
        if given:
            raise UsageError(f"{_LIVE_ONLY[given[0]]} needs --live OUT")
        if out_dir is None:
            raise UsageError("give OUT_DIR (or --live OUT)")
        _simulate(out_dir, seed=seed, users=users, days=days, formats=formats, scenario=scenario, story=story)
        return
    if replay_dir is not None and out_dir is not None:
        raise UsageError("--replay replays DIR: OUT_DIR is not used with it")
    options = IngestOptions(tz=check_tz(tz))
    with tempfile.TemporaryDirectory(prefix="forensics-live-") if out_dir is None and replay_dir is None \
            else nullcontext(out_dir) as folder:
        if replay_dir is None:
            _simulate(folder, seed=seed, users=users, days=days, formats=formats, scenario=scenario, story=story)
        _live(replay_dir or folder, live, speed=speed, start=live_from, prefill=prefill, options=options)


def _simulate(out_dir: str, *, seed: int, users: int | None, days: int, formats: tuple[str, ...], scenario: str,
              story: str | None) -> None:
    """Simulate into ``out_dir`` and say what was written."""
    names = tuple(n.strip() for f in formats for n in f.split(",") if n.strip())
    result = simulate_scenario(scenario, out_dir, seed=seed, users=users, days=days, formats=names or None, story=story)
    click.echo(
        f"forensics: wrote {result.events} events ({result.lines} lines, {len(result.files)} files) to "
        f"{terminal_safe(out_dir, max_len=200)} in {result.seconds:.1f}s (seed {seed}); ground truth in truth.json",
        err=True,
    )


def _live(source: str, out: str, *, speed: float, start: str | None, prefill: bool, options: IngestOptions) -> None:
    """Replay ``source`` into ``out`` in real time, with progress on stderr."""
    replay = Replay(source, out, start=start, prefill=prefill, options=options)
    for note in replay.notes:
        click.echo(f"forensics: note: {terminal_safe(note, max_len=300)}", err=True)
    minutes = max((replay.end - replay.start).total_seconds(), 0.0) / speed / 60
    click.echo(
        f"forensics: replaying {replay.lines_total} lines ({len(replay.files)} files) into "
        f"{terminal_safe(out, max_len=200)} at {speed:g}x from {_stamp(replay.start)} to {_stamp(replay.end)} "
        f"(about {minutes:.1f} min); Ctrl-C stops",
        err=True,
    )
    run_live(replay, speed=speed, progress=_progress_printer())
    click.echo(f"forensics: replay done: {replay.lines_written} lines written to {terminal_safe(out, max_len=200)}",
               err=True)


def _progress_printer():
    """A ``run_live`` progress callback printing a line every few seconds."""
    last = [time.monotonic()]

    def report(now: datetime, written: int, total: int) -> None:
        if time.monotonic() - last[0] >= _PROGRESS_EVERY:
            last[0] = time.monotonic()
            click.echo(f"forensics: replay at {_stamp(now)}: {written}/{total} lines", err=True)

    return report


def _stamp(t: datetime) -> str:
    return f"{t:%Y-%m-%d %H:%M:%S} UTC"
