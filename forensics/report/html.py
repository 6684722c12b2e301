"""``forensics scan --html FILE``: one self-contained HTML page.

The page inlines the vendored plotly.js basic bundle
(:func:`forensics.report.assets.plotly_js`, about 1.2 MB) and every figure's
data: it fetches nothing (a Content-Security-Policy forbids any network request).
Log content is HTML-escaped (:func:`forensics.sanitize.html_safe`) in the
page and in the figures; figure JSON inside ``<script>`` additionally has
``<``, ``>``, ``&``, U+2028 and U+2029 written as ``\\uXXXX`` so no log text
can close the script element or open a comment.

>>> import os, tempfile
>>> from forensics.scan import run_scan
>>> from forensics.report.html import write_html
>>> path = os.path.join(tempfile.mkdtemp(), "report.html")
>>> write_html(run_scan(["sample_logs/"]), path)
>>> os.path.getsize(path) < 1_500_000
True
"""

from __future__ import annotations

import json
import os

from .. import __version__
from .assets import plotly_js
from ..io import write_text
from ..sanitize import html_safe as h
from .charts import cascade_figure, error_rate_figure, session_figure
from .drilldown import suspect_drilldown
from .text import ARROW, fmt_lead, fmt_p, fmt_ratio, fmt_risk, hms, malformed_where, short_explanation, time_span

MAX_EXAMPLE_SESSIONS = 3

CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; "
       "font-src data:; connect-src 'none'")

CSS = """
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px auto;max-width:1300px;
color:#222;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd}
.meta{color:#555}table{border-collapse:collapse;width:100%;margin:8px 0}
th,td{border-bottom:1px solid #e5e5e5;padding:5px 8px;text-align:left;vertical-align:top}
th{background:#f6f6f6}td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
code,.seq{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:13px}
.seq b{color:#9c27b0}.ok{color:#2e7d32}.warn{color:#b26a00}.chart{min-height:120px}
.explain{color:#333;margin:2px 0 0}
"""

# Records script errors into the page, so a headless browser can check them.
ERROR_PROBE = """
window.__reportErrors = [];
window.addEventListener('error', function (e) { window.__reportErrors.push(String(e.message)); });
document.addEventListener('securitypolicyviolation', function (e) {
  window.__reportErrors.push('blocked by CSP: ' + e.blockedURI); });
(function () { var orig = console.error; console.error = function () {
  window.__reportErrors.push(Array.prototype.join.call(arguments, ' ')); orig.apply(console, arguments); }; })();
"""

RENDER = """
(function () {
  var figs = document.querySelectorAll('script[type="application/json"][data-figure]');
  var drawn = 0;
  figs.forEach(function (node) {
    try {
      var fig = JSON.parse(node.textContent);
      var div = document.getElementById(node.getAttribute('data-figure'));
      Plotly.newPlot(div, fig.data, fig.layout, {displaylogo: false, responsive: true});
      drawn += 1;
    } catch (e) { window.__reportErrors.push('figure ' + node.getAttribute('data-figure') + ': ' + e); }
  });
  document.body.setAttribute('data-figures', String(figs.length));
  document.body.setAttribute('data-figures-drawn', String(drawn));
  document.body.setAttribute('data-errors', String(window.__reportErrors.length));
  document.body.setAttribute('data-error-messages', window.__reportErrors.join(' | ').slice(0, 500));
})();
"""


def script_json(obj) -> str:
    """JSON safe to place inside a ``<script>`` element.

    >>> script_json({"a": "</script><!-- \\u2028"})
    '{"a": "\\\\u003c/script\\\\u003e\\\\u003c!-- \\\\u2028"}'
    """
    text = json.dumps(obj, ensure_ascii=False, allow_nan=False, default=str)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _clean(obj):
    """Replace NaN/inf (not JSON) with None, recursively."""
    if isinstance(obj, float) and (obj != obj or obj in (float("inf"), float("-inf"))):
        return None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


class _Page:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.figures: list[tuple[str, dict]] = []

    def add(self, html: str) -> None:
        self.parts.append(html)

    def figure(self, fig: dict) -> None:
        fid = f"fig-{len(self.figures) + 1}"
        self.figures.append((fid, fig))
        self.parts.append(f'<div class="chart" id="{fid}"></div>')


def _seq(seq) -> str:
    return f'<span class="seq">{ARROW.join(f"<b>{h(a)}</b>" for a in seq)}</span>'.replace(
        ARROW, " &rarr; ")


def _header(result, page: _Page) -> None:
    acc = result.ingest.accounting.to_json()
    span = time_span(result.ingest.events)
    page.add("<h1>forensics scan report</h1>")
    page.add(f'<p class="meta">inputs: <code>{h(" ".join(result.inputs))}</code><br>')
    if span:
        page.add(f"span: {span[0]:%Y-%m-%d %H:%M:%S} .. {span[1]:%Y-%m-%d %H:%M:%S} UTC<br>")
    page.add(f"read {acc['files']} files, {acc['lines']:,} lines &rarr; {acc['events']:,} events; "
             f"{acc['continuation_lines']:,} continuation, {acc['blank_lines']:,} blank, "
             f"{acc['malformed']:,} malformed, {acc['duplicates_dropped']:,} duplicates dropped<br>")
    for m in malformed_where(result, lines_per_file=5):
        page.add(f'<span class="warn">malformed: <code>{h(m.path)}</code>: {m.count} '
                 f'(line {", ".join(map(str, m.lines))}{", ..." if m.count > len(m.lines) else ""})</span><br>')
    for msg in acc.get("errors") or []:
        page.add(f'<span class="warn">warning: {h(msg)}</span><br>')
    page.add(f"forensics {h(__version__)}</p>")


def _bursts(result, page: _Page) -> None:
    tl = result.timeline
    page.add("<h2>Error rate</h2>")
    page.figure(error_rate_figure(result))
    page.add("<h2>Bursts and their cascades</h2>")
    if not tl.bursts:
        page.add("<p>No error bursts found.</p>")
        return
    verdicts = {v.burst_id: v for v in result.mining.burst_verdicts}
    day = tl.bursts[0].start.date()
    page.add("<table><tr><th>#</th><th>start</th><th>end</th><th>errors</th><th>peak/min</th>"
             "<th>users hit</th><th>sessions hit</th><th>onsets</th><th>verdict</th></tr>")
    for b in tl.bursts:
        v = verdicts.get(b.id)
        if v is None:
            verdict = ""
        elif v.explained:
            verdict = f'<span class="ok">preceded by suspect {", ".join(f"#{r}" for r in v.suspect_ranks)}</span>'
        else:
            verdict = f'<span class="warn">{h(v.note)}</span>'
        page.add(f"<tr><td>{b.id}{'*' if b.user_given else ''}</td><td>{hms(b.start, day)}</td>"
                 f"<td>{hms(b.end, day)}</td><td class=n>{b.errors:,}</td><td class=n>{b.peak_per_min:g}</td>"
                 f"<td class=n>{b.users_affected} ({b.users_affected_share:.0%})</td>"
                 f"<td class=n>{b.sessions_affected} ({b.sessions_affected_share:.0%})</td>"
                 f"<td>{', '.join(hms(o, day) for o in b.onsets)}</td><td>{verdict}</td></tr>")
    page.add("</table>")
    for b in tl.bursts:
        if b.cascade:
            page.figure(cascade_figure(result, b))


_CONTROL = {"FWER": "family-wise error rate", "FDR": "false discovery rate"}


def _suspects(result, page: _Page) -> None:
    mined = result.mining
    page.add("<h2>Suspects</h2>")
    page.add(f'<p class="meta">Rare action sequences completed just before the onsets: '
             f"{len(mined.suspects)} significant of {mined.candidates_tested:,} candidates tested "
             f"({_CONTROL.get(mined.error_control, mined.error_control)} {mined.options.alpha:g}).</p>")
    if not mined.suspects:
        page.add("<p>No action sequence stands out before any burst.</p>")
        return
    page.add("<table><tr><th>#</th><th>sequence and explanation</th><th>bursts</th><th>lead</th>"
             "<th>sessions</th><th>users</th><th>baseline /h</th><th>p</th><th>q</th><th>risk ratio</th>"
             "<th>closeness</th></tr>")
    for s in mined.suspects:
        lead = ", ".join(fmt_lead(x.lead_s) for x in s.lead_time_s) or "-"
        page.add(f"<tr><td>{s.rank}</td><td>{_seq(s.sequence)}"
                 f'<p class="explain">{h(short_explanation(s))}</p></td>'
                 f"<td>{', '.join(map(str, s.burst_ids)) or '-'}</td><td class=n>{lead}</td>"
                 f"<td class=n>{s.sessions}</td><td class=n>{s.users}</td>"
                 f"<td class=n>{s.baseline_rate_per_hour:.3g}</td><td class=n>{fmt_p(s.p_value)}</td>"
                 f"<td class=n>{fmt_p(s.q_value)}</td><td class=n>{fmt_risk(s)}</td>"
                 f"<td class=n>{fmt_ratio(s.rate_ratio)}</td></tr>")
    page.add("</table>")
    for s in mined.suspects:
        drill = suspect_drilldown(result, s.rank, max_sessions=MAX_EXAMPLE_SESSIONS)
        if drill.sessions:
            page.add(f"<h3>Suspect #{s.rank}: {_seq(s.sequence)}</h3>")
            page.figure(session_figure(drill))


def _affected(result, page: _Page) -> None:
    paths = result.mining.affected_paths
    if not paths:
        return
    page.add("<h2>Affected paths</h2><p class=meta>Frequent paths failing sessions took before their error "
             "(the impact, not the cause).</p><table><tr><th>path</th><th>failing sessions</th>"
             "<th>share of failing</th><th>sessions in all</th></tr>")
    for p in paths:
        page.add(f"<tr><td>{_seq(p.sequence)}</td><td class=n>{p.failing_sessions}</td>"
                 f"<td class=n>{p.share:.0%}</td><td class=n>{p.sessions:,}</td></tr>")
    page.add("</table>")


def render_html(result) -> str:
    """The whole report page as one string."""
    page = _Page()
    _header(result, page)
    _bursts(result, page)
    _suspects(result, page)
    _affected(result, page)
    figures = "\n".join(
        f'<script type="application/json" data-figure="{fid}">{script_json(_clean(fig))}</script>'
        for fid, fig in page.figures
    )
    return (
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>forensics scan report</title><style>{CSS}</style>"
        f"<script>{ERROR_PROBE}</script></head>\n<body>\n"
        + "\n".join(page.parts)
        + f"\n{figures}\n<script>{plotly_js()}</script>\n<script>{RENDER}</script>\n</body></html>\n"
    )


def write_html(result, path: str | os.PathLike) -> None:
    """Write the self-contained HTML report atomically to ``path``.

    Raises
    ------
    OutputError
        The file could not be written.
    """
    write_text(render_html(result), path)
