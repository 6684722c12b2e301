"""Plotly figures of the HTML report (built as plain figure dicts, drawn in
the page by the vendored plotly.js basic bundle: bar and scatter traces,
shapes and annotations only; no plotly Python package needed).

Every piece of log content placed in a figure goes through
:func:`forensics.sanitize.html_safe`: plotly.js renders a subset of HTML in
text and labels (``<b>``, ``<a href>``), so raw log text could add markup.
Times are naive UTC strings (plotly.js ignores time-zone offsets).

>>> from forensics.scan import run_scan
>>> from forensics.report.charts import error_rate_figure
>>> error_rate_figure(run_scan(["sample_logs/"]))["data"][0]["type"]
'bar'
"""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from ..sanitize import html_safe
from .drilldown import SuspectDrilldown, all_onsets

BURST_FILL = "rgba(214, 39, 40, 0.15)"
STEP_COLOR = "#9c27b0"
ERROR_COLOR = "#d62728"
OK_COLOR = "#7f7f7f"


def _t(dt: datetime | None) -> str | None:
    return None if dt is None else dt.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _layout(title: str, height: int, **extra) -> dict:
    layout = {
        "title": {"text": title, "x": 0, "xanchor": "left", "font": {"size": 15}},
        "height": height, "margin": {"l": 60, "r": 20, "t": 40, "b": 40},
        "plot_bgcolor": "white", "paper_bgcolor": "white", "showlegend": True,
        "legend": {"orientation": "h", "y": -0.2},
        "xaxis": {"type": "date", "gridcolor": "#eee", "title": {"text": "time (UTC)"}},
        "yaxis": {"gridcolor": "#eee"},
    }
    layout.update(extra)
    return layout


def _onset_shapes(onsets, *, label: bool = True) -> tuple[list[dict], list[dict]]:
    shapes, notes = [], []
    for o in onsets:
        shapes.append({"type": "line", "xref": "x", "yref": "paper", "x0": _t(o.ts), "x1": _t(o.ts),
                       "y0": 0, "y1": 1, "line": {"color": ERROR_COLOR, "width": 1.5, "dash": "dash"}})
        if label:
            notes.append({"x": _t(o.ts), "y": 1, "xref": "x", "yref": "paper", "yanchor": "bottom",
                          "text": f"onset {o.burst_id}", "showarrow": False,
                          "font": {"size": 10, "color": ERROR_COLOR}})
    return shapes, notes


def error_rate_figure(result) -> dict:
    """Errors per bin over the whole span, bursts shaded, onsets dashed."""
    tl = result.timeline
    rate = tl.error_rate
    x = [_t(t) for t in rate.get_column("bin_start").to_list()]
    data = [
        {"type": "bar", "name": f"errors per {tl.bin_s:g} s", "x": x, "y": rate.get_column("errors").to_list(),
         "marker": {"color": ERROR_COLOR}, "hovertemplate": "%{x}<br>%{y} errors<extra></extra>"},
        {"type": "scatter", "mode": "lines", "name": "hot threshold", "x": x,
         "y": rate.get_column("threshold").to_list(), "line": {"color": OK_COLOR, "width": 1, "dash": "dot"},
         "hoverinfo": "skip"},
    ]
    shapes, notes = [], []
    for b in tl.bursts:
        shapes.append({"type": "rect", "xref": "x", "yref": "paper", "x0": _t(b.start), "x1": _t(b.end),
                       "y0": 0, "y1": 1, "fillcolor": BURST_FILL, "line": {"width": 0}, "layer": "below"})
        notes.append({"x": _t(b.start), "y": 1.0, "xref": "x", "yref": "paper", "yanchor": "bottom",
                      "xanchor": "right", "text": f"<b>burst {b.id}</b>", "showarrow": False,
                      "font": {"color": ERROR_COLOR}})
    s2, _ = _onset_shapes(all_onsets(tl), label=False)
    layout = _layout("Error rate, bursts shaded, onsets dashed", 320, shapes=shapes + s2, annotations=notes,
                     bargap=0)
    layout["yaxis"]["title"] = {"text": "errors per bin"}
    return {"data": data, "layout": layout}


def cascade_figure(result, burst) -> dict:
    """One burst's cascade: per component, a bar from its first to its last
    error in the burst, in order of first error."""
    ev = result.timeline.events
    span = (
        ev.filter(pl.col("is_error") & (pl.col("burst_id") == burst.id))
        .group_by("component").agg(pl.col("ts").min().alias("first"), pl.col("ts").max().alias("last"))
    )
    last = dict(zip(span.get_column("component").to_list(), span.get_column("last").to_list()))
    names, base, width, text, hover = [], [], [], [], []
    for i, c in enumerate(burst.cascade):
        end = last.get(c.component) or c.first_error
        dur_ms = max((end - c.first_error) / timedelta(milliseconds=1), 1000.0)
        offset = (c.first_error - burst.start).total_seconds()
        names.append(f"{i + 1}. {html_safe(c.component)}")
        base.append(_t(c.first_error))
        width.append(dur_ms)
        text.append(f"+{offset:.0f} s, {c.errors:,} errors")
        kinds = "<br>".join(html_safe(k)[:120] for k in c.error_kinds[:3])
        hover.append(f"<b>{html_safe(c.component)}</b><br>first error {c.first_error:%H:%M:%S}"
                     f" (+{offset:.0f} s)<br>{c.errors:,} errors<br>{kinds}")
    data = [{"type": "bar", "orientation": "h", "name": "errors of the component in this burst",
             "y": names, "x": width, "base": base, "text": text, "textposition": "inside",
             "insidetextanchor": "start", "marker": {"color": ERROR_COLOR, "opacity": 0.75},
             "hovertext": hover, "hovertemplate": "%{hovertext}<extra></extra>"}]
    shapes, notes = _onset_shapes([o for o in all_onsets(result.timeline) if o.burst_id == burst.id])
    layout = _layout(f"Burst {burst.id}: cascade (first to last error per component)",
                     120 + 36 * max(1, len(names)), shapes=shapes, annotations=notes, showlegend=False)
    layout["yaxis"].update({"autorange": "reversed", "type": "category", "automargin": True})
    return {"data": data, "layout": layout}


def session_figure(drill: SuspectDrilldown) -> dict:
    """A suspect's example sessions, aligned on their burst onset (x = seconds
    relative to the onset, 0 = onset): one row per session, every action a
    dot, the suspect's steps numbered diamonds, failed actions red crosses."""
    groups = {"other action": ([], [], [], []), "suspect step": ([], [], [], []),
              "failed action": ([], [], [], [])}
    for tl in drill.sessions:
        ref = f"burst {tl.onset.burst_id} onset {tl.onset.ts:%H:%M:%S}" if tl.onset else "no onset"
        row = f"{html_safe(tl.session_key)[:40]} ({html_safe(tl.user or '-')[:20]})<br>{ref}"
        for r in tl.actions.iter_rows(named=True):
            kind = "suspect step" if r["is_step"] else "failed action" if r["failed"] else "other action"
            xs, ys, labels, hovers = groups[kind]
            xs.append(r["t_rel_onset_s"])
            ys.append(row)
            labels.append(str(r["step"]) if r["is_step"] else "")
            hovers.append(f"<b>{html_safe(r['action'])[:80]}</b><br>{_t(r['ts'])} UTC"
                          + f"<br>status {r['status'] if r['status'] is not None else '-'}"
                          + (f"<br>{r['errors']} errors: {html_safe(r['first_error_kind'])[:100]}"
                             if r["errors"] else ""))
    style = {
        "other action": {"color": OK_COLOR, "size": 8, "symbol": "circle"},
        "suspect step": {"color": STEP_COLOR, "size": 16, "symbol": "diamond"},
        "failed action": {"color": ERROR_COLOR, "size": 10, "symbol": "x"},
    }
    data = [{"type": "scatter", "mode": "markers+text" if kind == "suspect step" else "markers",
             "name": kind, "x": xs, "y": ys, "text": labels, "textposition": "top center",
             "marker": style[kind], "hovertext": hovers, "hovertemplate": "%{hovertext}<extra></extra>"}
            for kind, (xs, ys, labels, hovers) in groups.items()]
    shapes = [{"type": "line", "xref": "x", "yref": "paper", "x0": 0, "x1": 0, "y0": 0, "y1": 1,
               "line": {"color": ERROR_COLOR, "width": 1.5, "dash": "dash"}}]
    notes = [{"x": 0, "y": 1, "xref": "x", "yref": "paper", "yanchor": "bottom", "text": "burst onset",
              "showarrow": False, "font": {"size": 10, "color": ERROR_COLOR}}]
    layout = _layout(f"Suspect #{drill.suspect.rank}: example sessions aligned on the burst onset",
                     160 + 60 * max(1, len(drill.sessions)), shapes=shapes, annotations=notes)
    layout["xaxis"] = {"type": "linear", "gridcolor": "#eee", "zeroline": False,
                       "title": {"text": "seconds relative to the burst onset (negative = before)"}}
    layout["yaxis"].update({"type": "category", "automargin": True})
    return {"data": data, "layout": layout}
