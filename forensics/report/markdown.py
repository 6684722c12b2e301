"""Markdown for reports that quote logs: escaping untrusted text, and the
time, duration and share formats of the postmortem draft."""

from __future__ import annotations

import html
import re
from datetime import datetime, timezone

from ..sanitize import terminal_safe

__all__ = ["fence", "fmt_duration", "fmt_pct", "fmt_time", "markdown_escape"]

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~])")
_LINE_BREAKS = re.compile(r"\r\n|[\r\n\t\v\f\x85\u2028\u2029]")


def markdown_escape(text: object, *, max_len: int | None = 120) -> str:
    r"""Log content made inert for Markdown, on one line.

    Line breaks and tabs become spaces, escape sequences and control
    characters are removed (:func:`forensics.sanitize.terminal_safe`, which
    also shortens to ``max_len`` with ``…``), ``&``, ``<`` and ``>`` become
    HTML entities (no raw HTML passes), and every other Markdown special
    (``\ ` * _ { } [ ] ( ) # + - . ! | ~``) gets a backslash, which also
    keeps ``|`` from splitting a table cell.

    Examples
    --------
    >>> markdown_escape("**x**</script><script>alert(1)</script>")
    '\\*\\*x\\*\\*&lt;/script&gt;&lt;script&gt;alert\\(1\\)&lt;/script&gt;'
    >>> markdown_escape("key\x1b[31m|red\nnext [a](javascript:x)")
    'key\\|red next \\[a\\]\\(javascript:x\\)'
    """
    if text is None:
        return ""
    s = terminal_safe(_LINE_BREAKS.sub(" ", str(text)), max_len=max_len).strip()
    return _MD_SPECIAL.sub(r"\\\1", html.escape(s, quote=False))


def fmt_time(t: datetime) -> str:
    """A time in UTC, to the second (naive times are taken as UTC).

    >>> fmt_time(datetime(2023, 11, 2, 16, 15, 0, 426000, tzinfo=timezone.utc))
    '2023-11-02 16:15:00 UTC'
    """
    t = t.astimezone(timezone.utc) if t.tzinfo else t.replace(tzinfo=timezone.utc)
    return f"{t:%Y-%m-%d %H:%M:%S} UTC"


def fmt_duration(seconds: float) -> str:
    """A duration in human form: seconds, minutes and seconds, or hours and
    minutes (rounded to the minute).

    >>> fmt_duration(6.47), fmt_duration(138.0), fmt_duration(8089.3), fmt_duration(7200)
    ('6 s', '2 min 18 s', '2 h 15 min', '2 h')
    """
    s = round(seconds)
    if s < 3600:
        m, r = divmod(s, 60)
        return f"{r} s" if not m else f"{m} min {r} s" if r else f"{m} min"
    h, m = divmod(round(seconds / 60), 60)
    return f"{h} h {m} min" if m else f"{h} h"


def fmt_pct(share: float) -> str:
    """A share as a percentage with at most one decimal.

    >>> fmt_pct(0.2230769), fmt_pct(1.0), fmt_pct(0.0976)
    ('22.3 %', '100 %', '9.8 %')
    """
    return f"{100 * share:.1f}".rstrip("0").rstrip(".") + " %"


def fence(text: str, lang: str = "") -> str:
    """``text`` (terminal-safe line by line) in a code fence longer than any backtick run in it."""
    body = "\n".join(terminal_safe(line) for line in text.split("\n"))
    fence = "`" * max(3, 1 + max((len(m) for m in re.findall(r"`+", body)), default=0))
    return f"{fence}{lang}\n{body}\n{fence}"
