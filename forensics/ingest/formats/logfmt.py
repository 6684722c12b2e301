"""logfmt: ``key=value`` pairs, one event per line.

``ts=2026-03-14T11:02:33Z level=info svc=api user_id=u1 msg="hello world"``

Any field names; canonical columns come from the alias lists (see
:func:`forensics.ingest.normalize.canonicalize`), everything else goes into
``attrs``.  Values in double quotes may hold spaces and ``\\"`` / ``\\\\``
escapes (other escapes such as ``\\n`` are kept as written).

Malformed lines:

* a line that does not begin with a ``key=value`` pair ("not a logfmt line");
  logfmt has no multi-line events (newlines are escaped inside values), so
  such lines are never folded into the event above;
* a line whose time field is missing or unreadable ("no readable timestamp").
"""

from __future__ import annotations

import re

import polars as pl

from ...schema import ALIASES, empty_events
from ..normalize import KV_PATTERN, canonicalize, extract_kv
from ..options import IngestOptions
from .base import ParseResult, empty_rejects, reject, split_blank

NAME = "logfmt"
DESCRIPTION = "logfmt key=value lines (ts=... level=... msg=\"...\"), any field names"
EXAMPLE = 'ts=2023-11-02T16:10:01Z level=info svc=api user_id=u1 rid=req-0001 action=login msg="user logged in" duration_ms=12'
CONTINUATION_LINES = False

#: A logfmt line begins with a key=value pair.
_START = r'^\s*[A-Za-z_][\w.\-]*='
_START_RE = re.compile(_START)
_KV_RE = re.compile(KV_PATTERN)


def sniff(sample: list[str]) -> float:
    """Share of lines that start with ``key=`` and hold at least two pairs.

    Examples
    --------
    >>> sniff(['ts=2026-03-14T11:02:33Z level=info msg="hi"'])
    1.0
    >>> sniff(['2026-03-14 11:03:23,575 ERROR [main] com.x.Y - boom user=u1'])
    0.0
    """
    if not sample:
        return 0.0
    hits = sum(1 for s in sample if _START_RE.match(s) and len(_KV_RE.findall(s)) >= 2)
    return hits / len(sample)


def _ts_reasons(kv: pl.DataFrame, events: pl.DataFrame, options: IngestOptions) -> pl.DataFrame:
    """Rows of ``events`` without a timestamp, with a reason naming why."""
    missing = events.filter(pl.col("ts").is_null()).select("line")
    if missing.height == 0:
        return missing.with_columns(pl.lit(None, dtype=pl.String).alias("reason"))
    wanted = options.overrides().get("ts")
    names = [wanted.lower()] if wanted else list(ALIASES["ts"])
    ts_cols = [c for c in kv.columns if c != "line" and c.lower() in names]
    has_field = pl.any_horizontal([pl.col(c).is_not_null() for c in ts_cols]) if ts_cols else pl.lit(False)
    flags = kv.select("line", has_field.alias("_has"))
    return missing.join(flags, on="line", how="left").select(
        "line",
        pl.when(pl.col("_has")).then(pl.lit("unreadable timestamp")).otherwise(pl.lit("no timestamp field")).alias("reason"),
    )


def parse(lines: pl.DataFrame, *, options: IngestOptions) -> ParseResult:
    """Parse logfmt lines into canonical events.

    Examples
    --------
    >>> import polars as pl
    >>> from forensics.ingest.options import IngestOptions
    >>> lines = pl.DataFrame({"line": [1, 2], "text": ['ts=2026-03-14T11:02:33Z user_id=u1 msg="a b"', "oops"]})
    >>> r = parse(lines, options=IngestOptions())
    >>> r.events["user"].to_list(), r.events["message"].to_list(), r.rejects["reason"].to_list()
    (['u1'], ['a b'], ['not a logfmt line'])
    """
    starts = lines.get_column("text").str.contains(_START)
    if starts.all():
        good, bad, blank = lines, lines.clear(), 0
    else:
        # A line that starts with key= is never blank.
        good = lines.filter(starts)
        bad, blank = split_blank(lines.filter(~starts))
    rejects = [reject(bad, "not a logfmt line")]
    if good.height:
        kv = _by_line(extract_kv(good, "text"))
        events = canonicalize(kv, options=options)
        why = _ts_reasons(kv, events, options)
        if why.height:
            rejects.append(good.join(why, on="line", how="inner").select("line", "reason", "text"))
            events = events.filter(pl.col("ts").is_not_null())
    else:
        events = empty_events().drop("source", "format")
    rej = pl.concat([r.select("line", "reason", "text") for r in rejects]).sort("line") if rejects else empty_rejects()
    return ParseResult(events=_by_line(events), rejects=rej, continuation_lines=0, blank_lines=blank)


def _by_line(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` sorted by ``line`` (no work when it already is)."""
    return frame if frame.get_column("line").is_sorted() else frame.sort("line")
