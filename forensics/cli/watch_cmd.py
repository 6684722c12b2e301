"""``forensics watch``: follow logs as they are written and raise alerts."""

from __future__ import annotations

import json
import os

import click

from ..durations import parse_duration
from ..report.text import ARROW
from ..sanitize import terminal_safe
from ..watch.engine import WatchOptions
from .common import stderr_console
from .options import build_scan_settings, fmt_duration, input_options, mining_options, timeline_options

_W = WatchOptions()


def _hms(iso: str | None) -> str:
    return "?" if not iso else iso[11:19]


def render_alert(d: dict) -> str:
    """One alert (its JSON object) as a terminal line; log content made safe."""
    def safe(text, n=60) -> str:
        return terminal_safe(text, max_len=n)

    head = f"{_hms(d['raised_at'])}  {d['kind'].upper():8}"
    if d["kind"] == "onset":
        chain = ARROW.join(safe(s["component"], 24) for s in d["cascade"][:5])
        what = "re-onset" if d["reonset"] else "onset"
        return (f"{head} {what} at {_hms(d['at'])} (+{d['delay_s']:.0f} s): {safe(d['component'], 30)} first; "
                f"{d['errors_so_far']} errors so far; cascade {chain}")
    if d["kind"] == "suspects":
        if not d["suspects"]:
            return f"{head} before the onset at {_hms(d['at'])}: no sequence to name yet"
        parts = []
        for s in d["suspects"][:3]:
            seq = ARROW.join(safe(a, 30) for a in s["sequence"])
            lead = "" if s["lead_s"] is None else f", {s['lead_s']:.0f} s before"
            erring = f", erring: {', '.join(safe(r, 40) for r in s['erring_resources'][:3])}" if s["erring_resources"] else ""
            sig = "" if s["significant"] else " (not significant yet)"
            parts.append(f"#{s['rank']} {seq} (p={s['p_value']:.2g}{lead}{erring}){sig}")
        return f"{head} before the onset at {_hms(d['at'])}: " + "; ".join(parts)
    seq = ARROW.join(safe(a, 30) for a in d["sequence"])
    res = ", ".join(safe(r, 40) for r in d["resources"][:4]) or "none"
    return (f"{head} guarded sequence #{d['guard_rank']} {seq} completed at {_hms(d['at'])} in session "
            f"{safe(d['session'], 40)} (user {safe(d['user'], 30)}); resources {res}")


@click.command("watch")
@input_options
@timeline_options
@mining_options
@click.option("--guard", "guard_path", type=click.Path(dir_okay=False), default=None,
              help="suspects.parquet of a previous scan (--export): alert when one of its sequences completes again.")
@click.option("--window", default=fmt_duration(_W.window_s), show_default=True, help="Events kept: the baseline of rates and suspects.")
@click.option("--from-start", is_flag=True, help="Read files from their start (default: from their end).")
@click.option("--state", "state_path", type=click.Path(dir_okay=False), default=None,
              help="Save where each file was read to this file, and resume from it after a restart.")
@click.option("--exec", "exec_cmds", multiple=True, metavar="CMD",
              help="Run CMD (no shell) for each alert, the alert JSON on its stdin; repeatable.")
@click.option("--interval", default=fmt_duration(_W.interval_s), show_default=True, help="Time between two looks at the files.")
@click.option("--once", is_flag=True,
              help="Read what is there now, judge it as of its last event, print the alerts and exit.")
@click.option("--json", "as_json", is_flag=True, help="Print each alert as one JSON line on stdout.")
def command(guard_path, window, from_start, state_path, exec_cmds, interval, once, as_json, quiet, **kw) -> None:
    """Follow logs as they are written and raise alerts as they happen.

    Like tail -F over files and folders (rotation, truncation, new files).
    Alerts: an ONSET when a component's errors depart from its baseline
    (the same test as scan), the SUSPECTS completed before it, and a GUARD
    alert the moment a sequence of a previous scan's --guard file completes
    again, before any error. Stops with Ctrl-C.
    """
    from ..watch.guard import load_guard
    from ..watch.hooks import Hook
    from ..watch.run import run_watch

    settings = build_scan_settings(kw)
    # --once judges the past: every onset in the window counts, however old
    options = WatchOptions(window_s=parse_duration(window, option="--window"),
                           interval_s=parse_duration(interval, option="--interval"),
                           **({"stale_s": 100 * 365 * 86400.0} if once else {}))
    guards = load_guard(guard_path) if guard_path else ()
    hooks = [Hook.parse(c) for c in exec_cmds]
    for p in kw["paths"]:
        if not os.path.exists(p):
            stderr_console(quiet).print(f"warning: {terminal_safe(p)}: not there yet; followed when it appears",
                                        markup=False, highlight=False)
    err = stderr_console(False)

    def on_alert(alert) -> None:
        d = alert.to_json()
        click.echo(json.dumps(d, ensure_ascii=False) if as_json else render_alert(d))

    def on_problem(msg: str) -> None:
        err.print(f"warning: {terminal_safe(msg, max_len=300)}", markup=False, highlight=False, soft_wrap=True)

    watch = run_watch(kw["paths"], settings=settings, options=options, guards=guards, hooks=hooks,
                      from_start=from_start, state=state_path, once=once,
                      on_alert=on_alert, on_problem=on_problem, clock="data" if once else "wall")
    if not quiet:
        c = watch.counts
        err.print(f"watch: {c.lines:,} lines, {c.events:,} events, {c.continuation:,} continuation, "
                  f"{c.blank:,} blank, {c.malformed:,} malformed, {c.evaluations:,} evaluations",
                  markup=False, highlight=False)
