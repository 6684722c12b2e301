"""Parse a user-given incident window (``--incident START..END``)."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone

from ..errors import UsageError

_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")


def _parse_one(text: str) -> datetime | time:
    text = text.strip()
    m = _CLOCK.match(text)
    if m:
        h, mi, s = int(m[1]), int(m[2]), int(m[3] or 0)
        if h > 23 or mi > 59 or s > 59:
            raise UsageError(f"--incident: bad time of day {text!r}")
        return time(h, mi, s)
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--incident: {text!r} is neither HH:MM nor an ISO date-time") from None
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


def parse_incident(text: str, *, first: datetime | None = None, last: datetime | None = None) -> tuple[datetime, datetime]:
    """``START..END`` -> a UTC window.

    Each end is ``HH:MM[:SS]`` or an ISO-8601 date-time (UTC unless it has an
    offset).  Times of day take their date from the data, which must lie on
    one day (``first`` and ``last`` on the same date; else a
    :class:`UsageError` names the days), or from the other end when that is a
    date-time; an END before START means the next day.

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> d = datetime(2023, 11, 2, 0, 5, tzinfo=timezone.utc)
    >>> [x.isoformat() for x in parse_incident("16:14..18:30", first=d, last=d)]
    ['2023-11-02T16:14:00+00:00', '2023-11-02T18:30:00+00:00']
    """
    if ".." not in text:
        raise UsageError(f"--incident: expected START..END, got {text!r}")
    a, b = (_parse_one(p) for p in text.split("..", 1))
    if isinstance(a, time) or isinstance(b, time):
        if first is None:
            raise UsageError("--incident: times of day need data to take the date from")
        last = last or first
        base = a.date() if isinstance(a, datetime) else b.date() if isinstance(b, datetime) else None
        if base is None and last.date() != first.date():
            raise UsageError(_several_days(text, first.date(), last.date()))
        d = base or first.date()
        start = a if isinstance(a, datetime) else _at(d, a)
        end = b if isinstance(b, datetime) else _at(d, b)
        if end < start and isinstance(b, time):
            end += timedelta(days=1)
        a, b = start, end
    if b <= a:
        raise UsageError(f"--incident: END must come after START in {text!r}")
    return a, b


def _at(d: date, t: time) -> datetime:
    return datetime.combine(d, t, tzinfo=timezone.utc)


def _several_days(text: str, first: date, last: date) -> str:
    n = (last - first).days + 1
    days = ", ".join(str(first + timedelta(days=i)) for i in range(n)) if n <= 4 else f"{first} .. {last}"
    start, end = (p.strip() for p in text.split("..", 1))
    return (f"--incident {text}: the log spans {n} days ({days}), so a time of day is ambiguous; "
            f"give ISO date-times, e.g. {first}T{start}..{first}T{end}")
