"""``forensics simulate``.

The ``--scenario`` choices, the default sizes and the format names come
from the scenario registry (:data:`forensics.simulate.SCENARIOS`), so a new
scenario needs no change here.
"""

from __future__ import annotations

import click

from ..sanitize import terminal_safe
from ..simulate import DEFAULT_SEED, SCENARIOS, STORIES, simulate_scenario

_DEFAULT_SCENARIO = "elearning"


def _per_scenario(what) -> str:
    return "; ".join(f"{name}: {what(sc)}" for name, sc in SCENARIOS.items())


@click.command("simulate")
@click.argument("out_dir", type=click.Path(file_okay=False))
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
def command(out_dir: str, seed: int, users: int | None, days: int, formats: tuple[str, ...], scenario: str,
            story: str | None) -> None:
    """Write a simulated outage (raw multi-format logs plus truth.json) to OUT_DIR.

    The outage of the postmortem: on 2023-11-02 a rare sequence of user
    actions poisons a cache entry at about 16:14 UTC; errors cascade through
    cache, database, content delivery and auth; a restart at 16:20 seems to
    help until a second user repeats the sequence at about 16:45; fixed at
    18:30.  Ordinary traffic, noise and decoys fill the rest of the day.
    Every seed but the default draws its own trigger sequence (see --story).
    """
    names = tuple(n.strip() for f in formats for n in f.split(",") if n.strip())
    result = simulate_scenario(scenario, out_dir, seed=seed, users=users, days=days, formats=names or None, story=story)
    click.echo(
        f"forensics: wrote {result.events} events ({result.lines} lines, {len(result.files)} files) to "
        f"{terminal_safe(out_dir, max_len=200)} in {result.seconds:.1f}s (seed {seed}); ground truth in truth.json",
        err=True,
    )
