"""Builders of synthetic event frames with known answers for the timeline tests."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import polars as pl

from forensics.schema import conform

DAY = datetime(2023, 11, 2, tzinfo=timezone.utc)


def at(hhmmss: str) -> datetime:
    """``"16:14:58"`` (or ``"16:14:58.250"``) on the fixture day, UTC."""
    h, m, s = hhmmss.split(":")
    return DAY + timedelta(hours=int(h), minutes=int(m), seconds=float(s))


def events(**cols) -> pl.DataFrame:
    """A canonical events frame from column lists (missing columns null).

    ``source`` defaults to ``"app.log"``, ``line`` to 1..n, ``format`` to ``"jsonl"``.
    """
    n = len(next(iter(cols.values())))
    cols.setdefault("source", ["app.log"] * n)
    cols.setdefault("line", list(range(1, n + 1)))
    cols.setdefault("format", ["jsonl"] * n)
    return conform(pl.DataFrame(cols, strict=False))


def stream(component: str, start: datetime, end: datetime, *, per_min: float, message: str = "failed",
           level: str = "error", seed: int = 0, source: str | None = None, regular: bool = False,
           skew_s: float = 0.0, **fixed) -> pl.DataFrame:
    """Events of one component between ``start`` and ``end`` at ``per_min``.

    Times are Poisson (or evenly spaced with ``regular``), shifted by
    ``skew_s`` (a skewed clock).  ``{i}`` in ``message`` is the event number.
    Extra keyword arguments are constant columns.
    """
    rng = np.random.default_rng(seed)
    span = (end - start).total_seconds()
    n = max(0, int(round(span / 60 * per_min)))
    offs = np.linspace(0, span, n, endpoint=False) if regular else np.sort(rng.uniform(0, span, n))
    if n:
        offs[0] = 0.0  # the first event is exactly at ``start``: a known onset
    ts = [start + timedelta(seconds=float(o) + skew_s) for o in offs]
    cols = {
        "ts": ts,
        "source": [source or f"{component}.log"] * n,
        "line": list(range(1, n + 1)),
        "format": ["jsonl"] * n,
        "component": [component] * n,
        "level": [level] * n,
        "message": [message.format(i=i) for i in range(n)],
    }
    for k, v in fixed.items():
        cols[k] = [v] * n
    return conform(pl.DataFrame(cols, schema_overrides={"ts": pl.Datetime("us", "UTC")}, strict=False))


def traffic(start: datetime, end: datetime, *, per_min: float = 20.0, users: int = 40, seed: int = 1,
            component: str = "app") -> pl.DataFrame:
    """Healthy user traffic: info events with user, session and action."""
    rng = np.random.default_rng(seed)
    base = stream(component, start, end, per_min=per_min, level="info", message="ok", seed=seed)
    n = base.height
    u = rng.integers(0, users, n)
    return base.with_columns(
        pl.Series("user", [f"u{i}" for i in u]),
        pl.Series("session", [f"s{i}" for i in u]),
        pl.Series("action", rng.choice(["open_course", "watch", "submit", "login"], n)),
    )


def combine(*frames: pl.DataFrame) -> pl.DataFrame:
    """Concatenate frames and renumber lines per source (as ingest would)."""
    df = pl.concat(frames, how="vertical_relaxed").sort("ts")
    return df.with_columns(pl.int_range(1, pl.len() + 1).over("source").cast(pl.Int64).alias("line"))


def incident_day(*, seed: int = 0, skew_db_s: float = 0.0, recur: bool = True) -> pl.DataFrame:
    """A day of traffic with the postmortem's cascade.

    Baseline: app traffic all day, a trickle of auth errors (1 per 10 min)
    and db errors (1 per 15 min).  At 16:14:58 the cache fails (30/min),
    db follows 9 s later, content 33 s after db, auth 64 s after content.
    A db restart at 16:20 stops everything until 16:45:30, when the cache
    fails again (with ``recur``), followed by the others, until 18:30.
    """
    parts = [
        traffic(DAY, DAY + timedelta(days=1), seed=seed + 1),
        stream("auth", DAY, DAY + timedelta(days=1), per_min=0.1, message="login failed for user {i}", seed=seed + 2),
        stream("db", DAY, DAY + timedelta(days=1), per_min=1 / 15, message="deadlock detected pid {i}", seed=seed + 3),
    ]
    windows = [("16:14:58", "16:20:00")] + ([("16:45:30", "18:30:00")] if recur else [])
    for j, (a, b) in enumerate(windows):
        t = at(a)
        end = at(b)
        parts += [
            stream("cache", t, end, per_min=30, message="KeyError: 'course:{i}:toc' poisoned entry", seed=seed + 10 + j),
            stream("db", t + timedelta(seconds=9), end, per_min=20, message="query failed: SELECT * FROM courses WHERE id={i}",
                   seed=seed + 20 + j, skew_s=skew_db_s),
            stream("content", t + timedelta(seconds=42), end, per_min=15, message="render failed /course/{i}/toc",
                   seed=seed + 30 + j),
            stream("auth", t + timedelta(seconds=106), end, per_min=10, message="token refresh timeout after {i} ms",
                   seed=seed + 40 + j),
        ]
    return combine(*parts)


# ----------------------------------------------------------------- stage fixture file

_COLUMN_TOKENS = ("user", "session", "request_id", "status", "action", "key", "source", "format", "attrs")


def _parse_clock(text: str) -> datetime:
    parts = text.split(":")
    if len(parts) == 2:
        parts.append("0")
    return at(":".join(parts))


def parse_case_events(lines: list[str]) -> pl.DataFrame:
    """Events from the fixture DSL, one line per stream or event::

        START..END COMPONENT RATE/min LEVEL [col=value ...] MESSAGE   (evenly spaced from START)
        HH:MM:SS[.f] COMPONENT LEVEL [col=value ...] MESSAGE         (one event)

    ``{i}`` in a stream's message is the event number.
    """
    frames = []
    for raw in lines:
        toks = raw.split()
        if ".." in toks[0]:
            a, b = toks[0].split("..")
            comp, rate, level, rest = toks[1], float(toks[2].removesuffix("/min")), toks[3], toks[4:]
            start, end = _parse_clock(a), _parse_clock(b)
        else:
            comp, level, rest = toks[1], toks[2], toks[3:]
            start = _parse_clock(toks[0])
            end, rate = start + timedelta(seconds=1), 60.0
        fixed = {}
        while rest and "=" in rest[0] and rest[0].split("=", 1)[0] in _COLUMN_TOKENS:
            k, v = rest.pop(0).split("=", 1)
            fixed[k] = int(v) if k == "status" else v
        source = fixed.pop("source", None)
        fmt = fixed.pop("format", None)
        f = stream(comp, start, end, per_min=rate, message=" ".join(rest), level=level, regular=True,
                   source=source, **fixed)
        if fmt:
            f = f.with_columns(pl.lit(fmt).alias("format"))
        frames.append(f)
    return combine(*frames)


def load_cases(path) -> list[dict]:
    """Cases of a fixture file: blocks separated by ``===``; each block has
    ``# title:`` and optional ``# options: {json}`` lines, event lines, a
    ``--`` line, then the expected JSON."""
    import json
    from pathlib import Path

    cases = []
    for block in Path(path).read_text(encoding="utf-8").split("\n===\n"):
        head, _, expected = block.partition("\n--\n")
        title, options, lines = "", {}, []
        for line in head.splitlines():
            if line.startswith("# title:"):
                title = line.split(":", 1)[1].strip()
            elif line.startswith("# options:"):
                options = json.loads(line.split(":", 1)[1])
            elif line.strip() and not line.startswith("#"):
                lines.append(line)
        cases.append({"title": title, "options": options, "events": parse_case_events(lines),
                      "expected": json.loads(expected)})
    return cases
