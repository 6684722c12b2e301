"""Plain-text pieces of the report, shared by the terminal and HTML renderers.

Nothing here escapes anything: callers pass every piece of log content through
:func:`forensics.sanitize.terminal_safe` (terminal) or
:func:`forensics.sanitize.html_safe` (HTML) before showing it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import polars as pl

ARROW = " -> "


@dataclass(frozen=True)
class Malformed:
    """Where the malformed lines of one input file are."""

    path: str
    count: int
    lines: tuple[int, ...]  # the first few line numbers


def time_span(events: pl.DataFrame) -> tuple[datetime, datetime] | None:
    """First and last event time, or None for no events.

    >>> from forensics.schema import empty_events
    >>> time_span(empty_events()) is None
    True
    """
    if events.height == 0:
        return None
    ts = events.get_column("ts")
    return ts.min(), ts.max()


def malformed_where(result, *, lines_per_file: int = 3) -> tuple[Malformed, ...]:
    """Malformed lines per file (from the ingest rejects), worst file first.

    Parameters
    ----------
    result
        A :class:`forensics.scan.ScanResult` (or anything with ``.ingest``).
    lines_per_file
        How many line numbers to keep per file.
    """
    rej = result.ingest.rejects
    if rej.height == 0:
        return ()
    per = (
        rej.group_by("source")
        .agg(pl.len().alias("n"), pl.col("line").sort().head(lines_per_file).alias("lines"))
        .sort(["n", "source"], descending=[True, False])
    )
    return tuple(Malformed(s, int(n), tuple(ls)) for s, n, ls in per.iter_rows())


def short_explanation(suspect) -> str:
    """The suspect's one-sentence explanation without the sequence it starts
    with (the report prints the sequence once, just above).

    >>> from types import SimpleNamespace as S
    >>> short_explanation(S(sequence=("a", "b"), explanation="a -> b completed 2 times."))
    'Completed 2 times.'
    """
    text = suspect.explanation or ""
    head = ARROW.join(suspect.sequence)
    if text.startswith(head):
        text = text[len(head):].lstrip()
        text = text[:1].upper() + text[1:]
    return text


def fmt_p(p: float) -> str:
    """A p- or q-value in a short, readable form.

    >>> fmt_p(0.000652), fmt_p(0.0312), fmt_p(1e-20)
    ('6.5e-04', '0.031', '<1e-16')
    """
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "-"
    return "<1e-16" if p < 1e-16 else f"{p:.1e}" if p < 1e-3 else f"{p:.3f}"


def fmt_ratio(x: float) -> str:
    """A risk or rate ratio: ``-`` when undefined, ``inf`` when infinite.

    >>> fmt_ratio(187.56), fmt_ratio(2.345), fmt_ratio(float("nan"))
    ('188', '2.3', '-')
    """
    if x is None or x != x:
        return "-"
    if math.isinf(x):
        return "inf"
    return f"{x:.0f}" if x >= 100 else f"{x:.1f}"


def fmt_risk(suspect) -> str:
    """A suspect's risk ratio as printed: ``-`` when no failing (erring)
    session did it, where the corrected ratio would only restate the group
    sizes, ``(n0 + 1) / (n1 + 1)`` (docs/statistics.md, "Labeled failures").

    >>> from types import SimpleNamespace as S
    >>> fmt_risk(S(risk_ratio=340.2, failing_with=0)), fmt_risk(S(risk_ratio=12.0, failing_with=3))
    ('-', '12.0')
    """
    if not getattr(suspect, "failing_with", 1):
        return "-"
    return fmt_ratio(suspect.risk_ratio)


def fmt_lead(seconds: float) -> str:
    """A lead time: ``6 s``, ``4 min 10 s``.

    >>> fmt_lead(6.47), fmt_lead(250), fmt_lead(3600)
    ('6 s', '4 min 10 s', '60 min')
    """
    s = round(seconds)
    if abs(s) < 60:
        return f"{s} s"
    m, r = divmod(abs(s), 60)
    sign = "-" if s < 0 else ""
    return f"{sign}{m} min {r} s" if r else f"{sign}{m} min"


def fmt_rel(seconds: float | None) -> str:
    """A time relative to an onset, signed: ``-6.5 s``, ``+1:02:03``.

    >>> fmt_rel(-6.473), fmt_rel(75), fmt_rel(-3723), fmt_rel(None)
    ('-6.5 s', '+1:15', '-1:02:03', '')
    """
    if seconds is None or seconds != seconds:
        return ""
    sign = "-" if seconds < 0 else "+"
    a = abs(seconds)
    if a < 60:
        return f"{sign}{a:.1f} s"
    a = int(round(a))
    h, rem = divmod(a, 3600)
    m, s = divmod(rem, 60)
    return f"{sign}{h}:{m:02d}:{s:02d}" if h else f"{sign}{m}:{s:02d}"


def hms(t: datetime | None, day=None) -> str:
    """``16:14:53`` on ``day`` (the report's first day), else the full date.

    >>> from datetime import datetime, timezone
    >>> hms(datetime(2023, 11, 2, 16, 14, 53, tzinfo=timezone.utc))
    '16:14:53'
    """
    if t is None:
        return "-"
    if day is None or t.date() == day:
        return f"{t:%H:%M:%S}"
    return f"{t:%Y-%m-%d %H:%M:%S}"
