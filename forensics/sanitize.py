"""Make untrusted log content safe to show.

Log lines are attacker-controlled.  Before any of it reaches a terminal it
goes through :func:`terminal_safe`; before HTML, through :func:`html_safe`.
"""

from __future__ import annotations

import html
import re

import polars as pl

# ESC-introduced sequences (CSI, OSC, DCS, ...), C1 controls, and C0 controls
# other than tab.  Newlines are shown as the visible "⏎".
_ESC_SEQ = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|[PX^_][^\x1b]*(\x1b\\)?|.)?", re.S)
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_POLARS_CONTROL = r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]"


def terminal_safe(text: object, *, max_len: int | None = None) -> str:
    """Return ``text`` with escape sequences removed and control characters
    replaced by ``�`` (newline by ``⏎``), optionally shortened with ``…``.

    Examples
    --------
    >>> terminal_safe("ok\\x1b]0;pwned\\x07 \\x1b[31mred\\x1b[0m\\nnext")
    'ok red⏎next'
    """
    if text is None:
        return ""
    s = str(text)
    s = _ESC_SEQ.sub("", s)
    s = s.replace("\n", "⏎")
    s = _CONTROL.sub("�", s)
    if max_len is not None and len(s) > max_len:
        s = s[: max(0, max_len - 1)] + "…"
    return s


def terminal_safe_expr(expr: pl.Expr) -> pl.Expr:
    """Vectorized :func:`terminal_safe` for a String column."""
    return (
        expr.str.replace_all(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|[PX^_][^\x1b]*(\x1b\\)?|.)?", "")
        .str.replace_all("\n", "⏎", literal=True)
        .str.replace_all(_POLARS_CONTROL, "�")
    )


def html_safe(text: object) -> str:
    """HTML-escape ``text`` (quotes included) after removing control characters."""
    return html.escape(terminal_safe(text), quote=True)
