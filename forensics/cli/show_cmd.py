"""``forensics show``: the sessions behind a suspect, step by step."""

from __future__ import annotations

import click
from rich import box
from rich.console import Console
from rich.table import Table

from ..errors import ExitCode, UsageError
from ..report.drilldown import SessionTimeline, all_onsets, session_timeline, suspect_drilldown
from ..report.text import fmt_p, fmt_rel, hms, short_explanation
from ..scan import run_scan
from .common import run_with_progress
from .options import analysis_options, build_scan_settings
from .render_scan import print_line, report_console, safe, seq_text

MAX_RESOURCES = 8
#: Widest action column (action names are cut at this many characters).
ACTION_WIDTH = 60


def _onset_row(table: Table, onset, ref) -> None:
    rel = "0" if onset == ref else fmt_rel((onset.ts - ref.ts).total_seconds()) if ref else ""
    table.add_row(rel, f"[bold red]{onset.ts:%H:%M:%S}[/]", "", f"[bold red]▼ burst {onset.burst_id} onset[/]",
                  "", "", "")


def render_session(tl: SessionTimeline, console: Console, *, onsets=(), day=None) -> None:
    """One session: header, actions with steps highlighted and onsets marked,
    resources touched."""
    user = safe(tl.user, 40) if tl.user else "-"
    first = f", first error {hms(tl.first_error, day)}" if tl.first_error else ", no error"
    print_line(console, f"[bold]Session {safe(tl.session_key, 60)}[/]  user {user}  "
                f"{hms(tl.start, day)} .. {hms(tl.end, day)}{first}", 0)
    if tl.onset:
        print_line(console, f"[dim]times relative to burst {tl.onset.burst_id} onset at "
                    f"{tl.onset.ts:%Y-%m-%d %H:%M:%S}.{tl.onset.ts.microsecond // 1000:03d} UTC[/]", 0)
    table = Table(box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False, show_edge=False)
    table.add_column("vs onset", justify="right", no_wrap=True, min_width=8)
    table.add_column("time", no_wrap=True, min_width=8)
    table.add_column("step", justify="right", no_wrap=True, min_width=4)
    table.add_column("action", overflow="fold", min_width=18, max_width=ACTION_WIDTH)
    table.add_column("status", justify="right", no_wrap=True)
    table.add_column("errors", overflow="ellipsis", max_width=20, no_wrap=True)
    table.add_column("resources", overflow="fold", max_width=26)
    acts = tl.actions
    ts_list = acts.get_column("ts").to_list()
    lo, hi = (ts_list[0], ts_list[-1]) if ts_list else (tl.start, tl.end)
    shown = [o for o in onsets if lo <= o.ts <= hi or o == tl.onset]
    k = 0
    for r in acts.iter_rows(named=True):
        while k < len(shown) and shown[k].ts <= r["ts"]:
            _onset_row(table, shown[k], tl.onset)
            k += 1
        step = f"▶ {r['step']}" if r["is_step"] else ""
        err = ""
        if r["errors"]:
            err = f"[red]{r['errors']}× {safe(r['first_error_kind'], 60)}[/]"
        res = "\n".join(safe(x, 40) for x in (r["resources"] or []))
        style = "bold magenta" if r["is_step"] else None
        table.add_row(fmt_rel(r["t_rel_onset_s"]), f"{r['ts']:%H:%M:%S}", step, safe(r["action"], ACTION_WIDTH),
                      "" if r["status"] is None else str(r["status"]), err, res, style=style)
    while k < len(shown):
        _onset_row(table, shown[k], tl.onset)
        k += 1
    console.print(table)
    res = tl.resources
    if res.height:
        console.print("  [dim]resources touched (▶ = by a highlighted step):[/]")
        for r in res.head(MAX_RESOURCES).iter_rows(named=True):
            mark = "▶ " if r["by_step"] else "  "
            after = (f"; [red]{r['errors_after']:,} errors from {hms(r['first_error_after'], day)}[/]"
                     if r["errors_after"] else "; no errors after")
            print_line(console, f"{mark}{safe(r['resource'], 60)}  first {hms(r['first_touched'], day)}, "
                        f"{r['touches']} touch{'es' if r['touches'] != 1 else ''}{after}", 4)
        if res.height > MAX_RESOURCES:
            print_line(console, f"... and {res.height - MAX_RESOURCES} more", 6)


def render_drilldown(d, console: Console, *, day=None) -> None:
    """A suspect and the timelines of its sessions."""
    s = d.suspect
    print_line(console, f"[bold]Suspect #{s.rank}[/]  [bold magenta]{seq_text(s.sequence)}[/]", 0)
    print_line(console, f"[dim]q[/] {fmt_p(s.q_value)}  [dim]sessions[/] {s.sessions}  [dim]users[/] {s.users}", 2)
    print_line(console, safe(short_explanation(s), 600), 2)
    for tl in d.sessions:
        console.print()
        render_session(tl, console, onsets=d.onsets, day=day)


@click.command("show")
@analysis_options
@click.option("--suspect", "rank", type=click.IntRange(1), default=None,
              help="Show the sessions behind suspect N (as ranked by `forensics scan`).")
@click.option("--session", "session_key", default=None, help="Show the full timeline of one session.")
@click.option("--max-sessions", type=click.IntRange(1), default=10, show_default=True,
              help="With --suspect, show at most this many sessions (latest completion first).")
@click.option("--no-color", is_flag=True, help="No colour (NO_COLOR is honoured too).")
@click.pass_context
def command(ctx: click.Context, rank, session_key, max_sessions, no_color, quiet, **kw) -> None:
    """Drill down: the full timelines of the sessions behind a suspect.

    Takes every option of `forensics scan` that shapes the result, so the
    command `scan` prints ("Drill down: ...") reruns the same scan (loaded
    from the warm cache when there is one) and shows the same suspect.

    With --suspect N, every session whose occurrence of suspect N counted as
    evidence, its steps highlighted (▶), each action's time relative to the
    burst onset, the onsets marked, and the resources the session touched.
    With --session ID, one session's timeline.
    """
    if (rank is None) == (session_key is None):
        raise UsageError("give exactly one of --suspect N or --session ID")
    settings = build_scan_settings(kw)
    result = run_with_progress(quiet, run_scan, kw["paths"], settings=settings)
    console = report_console(no_color=no_color, wide=True)
    day = result.ingest.events.get_column("ts").min().date()
    if rank is not None:
        render_drilldown(suspect_drilldown(result, rank, max_sessions=max_sessions), console, day=day)
    else:
        steps = result.mining.steps
        ranks = sorted(set(steps.filter(steps["session_key"] == session_key)["rank"].to_list())) \
            if steps is not None and steps.height else []
        mine = steps.filter(steps["rank"] == ranks[0]) if ranks else None
        render_session(session_timeline(result, session_key, steps=mine), console,
                       onsets=all_onsets(result.timeline), day=day)
        if ranks:
            console.print()
            print_line(console, f"[dim]this session completed suspect {', '.join(f'#{r}' for r in ranks)}; "
                        f"▶ marks the steps of #{ranks[0]}[/]", 0)
    if result.ingest.accounting.errors:
        ctx.exit(ExitCode.PARTIAL)
