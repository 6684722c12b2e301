"""``forensics simulate``."""

from __future__ import annotations

import click

from ..errors import UsageError
from ..sanitize import terminal_safe
from ..simulate import DEFAULT_SEED, DEFAULT_USERS, FORMATS, simulate
from ..simulate.shop import DEFAULT_SHOP_USERS, SHOP_FORMATS, simulate_shop


@click.command("simulate")
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--seed", type=int, default=DEFAULT_SEED, show_default=True,
              help="Random seed; the same seed and options give byte-identical files.")
@click.option("--users", type=click.IntRange(min=20), default=None,
              help=f"Number of users (students and about 6% instructors) [default: {DEFAULT_USERS}; "
                   f"shop: {DEFAULT_SHOP_USERS} customers].")
@click.option("--days", type=click.IntRange(min=1), default=1, show_default=True,
              help="Days of traffic; the incident is on the last day (2023-11-02).")
@click.option("--format", "formats", multiple=True, metavar="NAME",
              help=f"Write only these logs (repeat or comma-separate): {', '.join(FORMATS)}; for the shop "
                   f"scenario: {', '.join(SHOP_FORMATS)}. Default: all.")
@click.option("--scenario", type=click.Choice(["elearning", "shop"]), default="elearning", show_default=True,
              help="elearning: the postmortem's outage (default, as in sample_logs/); shop: a second outage of an "
                   "online shop with other formats, field names and time zones (2024-03-15, one day; scan it "
                   "with --tz Europe/Berlin).")
def command(out_dir: str, seed: int, users: int | None, days: int, formats: tuple[str, ...], scenario: str) -> None:
    """Write a simulated outage (raw multi-format logs plus truth.json) to OUT_DIR.

    The outage of the postmortem: on 2023-11-02 a rare sequence of user
    actions poisons a cache entry at about 16:14 UTC; errors cascade through
    cache, database, content delivery and auth; a restart at 16:20 seems to
    help until a second user repeats the sequence at about 16:45; fixed at
    18:30.  Ordinary traffic, noise and decoys fill the rest of the day.
    """
    names = tuple(n.strip() for f in formats for n in f.split(",") if n.strip())
    if scenario == "shop":
        if days != 1:
            raise UsageError("--days is not supported by the shop scenario (one day)")
        result = simulate_shop(out_dir, seed=seed, users=users or DEFAULT_SHOP_USERS, formats=names or None)
    else:
        result = simulate(out_dir, seed=seed, users=users or DEFAULT_USERS, days=days, formats=names or None)
    click.echo(
        f"forensics: wrote {result.events} events ({result.lines} lines, {len(result.files)} files) to "
        f"{terminal_safe(out_dir, max_len=200)} in {result.seconds:.1f}s (seed {seed}); ground truth in truth.json",
        err=True,
    )
