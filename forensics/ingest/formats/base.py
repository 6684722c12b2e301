"""The shape every format module shares.

A format module defines:

``NAME`` (str)
    The format name used by ``--format`` and in the ``format`` column.
``DESCRIPTION`` (str)
    One line for ``forensics formats``.
``CONTINUATION_LINES`` (bool)
    Whether a line may continue the event above it (a stack trace, a
    PostgreSQL statement, the Redis banner).  Read through
    :func:`forensics.ingest.formats.continued`: a streamed large file holds
    back the last event of each chunk and parses it again with the next one
    (:mod:`forensics.ingest.stream`), and an appended file is read again in
    full rather than extended (:mod:`forensics.ingest.append`).  ``False``
    lets chunks be parsed independently (two at a time) and appends be parsed
    alone.
``sniff(sample: list[str]) -> float``
    Score in [0, 1]: how well the first non-blank lines of a file fit.
``parse(lines: pl.DataFrame, *, options: IngestOptions) -> ParseResult``
    Turn physical lines (``line``, ``text``) into events.  Must account for
    every line: ``lines.height == event lines + continuation_lines +
    blank_lines + rejects.height``, where the event lines are the distinct
    ``line`` values of the events (one line may hold several events, as an
    OTLP export request does; a line is never both an event's and a reject).

``EXAMPLE`` (str)
    One typical line (``forensics formats`` shows it).

Optionally:

``ACCESS_LOG`` (bool, default False)
    An HTTP access log (nginx, a load balancer, a proxy): the timeline
    sessions its lines by client and takes them as the action of a linked
    request (:func:`forensics.ingest.formats.access_formats`).
``MANY_EVENTS_PER_LINE`` (bool, default False)
    One line may hold several events (an OTLP export request); the file's
    report counts the events beyond the first of their line as ``extra_events``.
``PER_FILE`` (bool, default False)
    The parse reads state from the head of the file (a CSV header row, W3C
    ``#Fields``, one pretty-printed JSON document): each file is parsed on
    its own (never in a batch of small files) and whole (a large file is not
    cut into chunks; see :func:`forensics.ingest.formats.per_file`).
``parse_bytes(data: bytes, lines: pl.DataFrame, *, options) -> ParseResult | None``
    A whole-buffer fast path (e.g. a native reader) tried first; it returns
    ``None`` when it does not apply, and ``parse`` runs instead.

Adding a format is one new module with this shape, named in
``forensics.ingest.formats.PRIORITY`` (its place there is its sniffing
priority), plus a golden folder ``tests/golden/<NAME>/`` and a
``tests/test_format_<NAME>.py``.  The registry checks the shape when it loads
(:data:`REQUIRED`).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

REJECT_COLUMNS = {"line": pl.Int64, "reason": pl.String, "text": pl.String}

#: What every format module must define, with the type of each constant
#: (``callable`` for the functions).
REQUIRED = {"NAME": str, "DESCRIPTION": str, "EXAMPLE": str, "CONTINUATION_LINES": bool, "sniff": callable,
            "parse": callable}


def check_shape(module) -> None:
    """Raise ``TypeError`` naming what ``module`` lacks of :data:`REQUIRED`."""
    bad = []
    for name, kind in REQUIRED.items():
        value = getattr(module, name, None)
        if not (callable(value) if kind is callable else isinstance(value, kind)):
            bad.append(name)
    if bad:
        raise TypeError(f"format module {module.__name__} lacks or mistypes {', '.join(bad)} (see {__name__})")


@dataclass(frozen=True)
class ParseResult:
    """What a parser returns for one file.

    Attributes
    ----------
    events
        Canonical event columns (see :mod:`forensics.schema`) except
        ``source`` and ``format``, which the driver fills in.  ``line`` is the
        1-based number of the event's first physical line.
    rejects
        Malformed lines: ``line``, ``reason``, ``text``.
    continuation_lines
        Lines folded into the event before them.
    blank_lines
        Empty or whitespace-only lines.
    """

    events: pl.DataFrame
    rejects: pl.DataFrame
    continuation_lines: int = 0
    blank_lines: int = 0


def share_matching(sample: list[str], pattern: str, *, skip_indented: bool = False) -> float:
    """Fraction of the sample's lines that match ``pattern`` (a sniff score);
    with ``skip_indented``, indented lines (continuations, banners) are left
    out of the count.

    Examples
    --------
    >>> share_matching(["2023 x", "  at y", "junk"], r"^\\d{4} ", skip_indented=True)
    0.5
    """
    s = pl.Series(sample, dtype=pl.String)
    if skip_indented:
        s = s.filter(~s.str.contains(r"^\s"))
    if s.len() == 0:
        return 0.0
    return float(s.str.contains(pattern).sum()) / s.len()


def empty_rejects() -> pl.DataFrame:
    return pl.DataFrame(schema=REJECT_COLUMNS)


def split_blank(lines: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """Drop whitespace-only lines; return the rest and how many were dropped."""
    keep = lines.filter(pl.col("text").str.strip_chars().str.len_bytes() > 0)
    return keep, lines.height - keep.height


def reject(lines: pl.DataFrame, reason: str | pl.Expr) -> pl.DataFrame:
    """Build a rejects frame from a subset of lines."""
    reason_expr = pl.lit(reason) if isinstance(reason, str) else reason
    return lines.select(pl.col("line"), reason_expr.cast(pl.String).alias("reason"), pl.col("text"))


def fold_continuations(lines: pl.DataFrame, is_start: pl.Expr) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """Group physical lines into events: a line where ``is_start`` is false is a
    continuation of the nearest start line above it.

    Returns ``(starts, orphans, continuation_count)``: ``starts`` has one row per
    event with ``line``, ``text`` (the first line) and ``continuation`` (the
    folded lines joined by ``\\n``, or null); ``orphans`` are continuation lines
    before the first start line (the caller rejects them).
    """
    marked = lines.with_columns(is_start.fill_null(False).alias("_start"))
    marked = marked.with_columns(pl.col("_start").cast(pl.Int64).cum_sum().alias("_grp"))
    orphans = marked.filter(pl.col("_grp") == 0).select("line", "text")
    body = marked.filter(pl.col("_grp") > 0)
    starts = body.filter(pl.col("_start")).select("_grp", "line", "text")
    conts = body.filter(~pl.col("_start"))
    if conts.height:
        folded = conts.group_by("_grp", maintain_order=True).agg(pl.col("text").str.join("\n").alias("continuation"))
        starts = starts.join(folded, on="_grp", how="left", maintain_order="left")
    else:
        starts = starts.with_columns(pl.lit(None, dtype=pl.String).alias("continuation"))
    return starts.drop("_grp"), orphans, conts.height


def check_accounting(module, raw, *, options) -> None:
    """Parse ``raw`` (a :class:`~forensics.ingest.reader.RawLines`) with
    ``module.parse`` and, where it applies, its ``parse_bytes`` fast path, and
    raise ``AssertionError`` unless every line is accounted for exactly once
    (``events + continuation + blank + malformed == lines``, no line rejected
    twice).  Shared by the hypothesis properties and the atheris fuzz job."""
    lines = raw.lines.height
    results = [(module.NAME, module.parse(raw.lines, options=options))]
    fast = getattr(module, "parse_bytes", None)
    if fast is not None and not raw.invalid_utf8_lines:
        res = fast(raw.data, raw.lines, options=options)
        if res is not None:
            results.append((f"{module.NAME}.parse_bytes", res))
    for name, res in results:
        ev_lines = res.events["line"].unique()
        total = ev_lines.len() + res.continuation_lines + res.blank_lines + res.rejects.height
        if total != lines:
            raise AssertionError(f"{name}: {lines} lines but {total} accounted")
        if res.rejects.height and not res.rejects["line"].is_unique().all():
            raise AssertionError(f"{name}: a line was rejected twice")
        if res.rejects.height and res.rejects["line"].is_in(ev_lines.implode()).any():
            raise AssertionError(f"{name}: a line is both an event's and a reject")
