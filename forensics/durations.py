"""Durations as users write them (``90s``, ``30m``, ``1h``), for every stage's options."""

from __future__ import annotations

import re

from .errors import UsageError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|sec|m|min|h|d)?\s*$", re.I)
_UNIT_S = {None: 1.0, "ms": 0.001, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str | float, *, option: str = "duration") -> float:
    """``"30m"``, ``"90s"``, ``"1h"``, ``"1800"`` (seconds) -> seconds (> 0).

    Examples
    --------
    >>> parse_duration("30m"), parse_duration("1.5h"), parse_duration("45")
    (1800.0, 5400.0, 45.0)
    """
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        m = _DURATION.match(text)
        if not m:
            raise UsageError(f"{option}: expected a duration like 90s, 30m, 1h or seconds, got {text!r}")
        value = float(m[1]) * _UNIT_S[m[2].lower() if m[2] else None]
    if not value > 0:
        raise UsageError(f"{option}: must be positive, got {text!r}")
    return value
