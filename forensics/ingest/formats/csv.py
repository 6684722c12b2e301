"""CSV and TSV exports with a header row (SIEM exports, spreadsheets, loghub's
structured files).

The first row is the header; the separator (comma, tab, semicolon or pipe) is
sniffed from the first lines.  Cells follow RFC 4180: a cell that starts with
``"`` is quoted and may hold the separator, doubled quotes and newlines; a
quote inside an unquoted cell is an ordinary character.  A row spanning
several physical lines is one event on its first line; the other lines are
continuation lines.

Header names go through the usual aliases (:data:`forensics.schema.ALIASES`:
``time``/``timestamp``/``@timestamp``, ``level``/``severity``, ``user``,
``status``...), ``--columns ts=EventTime,...`` (:attr:`IngestOptions.columns`)
and the ``--*-field`` options; other cells go to ``attrs`` under their header
(empty cells left out).  Beyond the aliases:

* time: with no alias, ``date`` and ``time`` columns together, else the first
  header naming a time (``TimeGenerated [UTC]``); Kibana's ``Mar 14, 2026 @
  11:02:17.123``, US ``3/14/2026, 1:02:17 PM`` and ``Mar 14, 2026, 11:02:17
  AM`` are read too (times without a zone in ``--tz``);
* level: SIEM severities too (``high`` error, ``medium``/``moderate`` warn,
  ``low`` info); without one, 5xx is error, 4xx warn, other statuses info;
* status: three digits; other values (``failed``) stay in ``attrs``, where the
  timeline reads outcomes; an unreadable level stays there too;
* action: with no action column, ``METHOD /route`` (ids masked) from a method
  and a path/URL column.

Accounting: the header row is a continuation line (it describes the rows), and
so is a repeat of it further down (concatenated exports) or a new header (no
date in it, every cell a name, one naming the time), which names the rows
after it.  Malformed, with every physical line: a row with the wrong number
of cells (``expected 12 cells (header), found 9``), rows under a first row
that holds a date (no header), a quoted cell never closed.  A file is parsed
alone and whole (``PER_FILE``), never batched with others nor cut into
chunks, since its header names every row.  Cells are counted
with one regex per row and read with Polars' CSV reader (a regex split when
the reader disagrees).
"""

from __future__ import annotations

import csv as stdcsv  # the standard library's (an absolute import), for sniffing
import re

import polars as pl

from ...schema import empty_events
from ..options import IngestOptions
from .base import ParseResult, empty_rejects
from .table_fields import TIME_NAME, events_from_cells

NAME = "csv"
DESCRIPTION = "CSV/TSV with a header row (comma, tab, semicolon or pipe; quoted multi-line cells)"
CONTINUATION_LINES = True
#: The header row names every row below it: a file is parsed alone and whole.
PER_FILE = True
EXAMPLE = "_time,host,user,src_ip,status,severity,message"

DELIMITERS = (",", "\t", ";", "|")
_SEP_RE = {",": ",", "\t": r"\t", ";": ";", "|": r"\|"}
_Q = r'(?:[^"]|"")'
#: A header cell: a name, not a value (no leading digit, sign, brace or quote).
HEADER_CELL = r"^[A-Za-z_@#][\w .@#/()\[\]:%\-]{0,79}$"
#: A cell that holds a date or an epoch time (a row with one is not a header).
DATE_CELL = (
    r"^\s*(?:\d{4}-\d{2}-\d{2}|\d{4}\.\d{2}\.\d{2}|\d{1,2}/\d{1,2}/\d{2,4}|\d{9,13}(?:\.\d+)?\s*$"
    r"|[A-Z][a-z]{2} \d{1,2}, \d{4})"
)
_ANY_DATE = r"\d{4}-\d{2}-\d{2}|\d{4}\.\d{2}\.\d{2}|\d{1,2}/\d{1,2}/\d{2,4}|\d{9}|[A-Z][a-z]{2} \d{1,2}, \d{4}"


def _grammar(sep: str) -> dict[str, str]:
    """Regexes of one separator: ``opens`` (a line read from outside a quoted
    cell ends inside one), ``stays`` / ``reopens`` (a line read from inside
    one ends inside one), ``quoted`` (a separator and the quoted cell after
    it) and ``cell`` (a separator and any cell after it)."""
    s = _SEP_RE[sep]
    quoted = rf'"{_Q}*"(?:[^{s}"][^{s}]*)?'
    cell = rf'(?:{quoted}|(?:[^"{s}][^{s}]*)?)'
    return {
        "opens": rf'^(?:{cell}{s})*"{_Q}*$',
        "stays": rf"^{_Q}*$",
        "reopens": rf'^{_Q}*"(?:[^{s}"][^{s}]*)?(?:{s}{cell})*{s}"{_Q}*$',
        "quoted": rf'{s}"{_Q}*"',
        "cell": rf"{s}{cell}",
    }


def _inside(texts: pl.Series, g: dict[str, str]) -> tuple[pl.Series, pl.Series]:
    """Per physical line, whether it starts and whether it ends inside a quoted
    cell.  Each line maps the state at its start (outside/inside) to the state
    at its end: identity (no quote), swap, or a constant; the state after a
    line is the value of the last constant line before it, flipped by the
    swaps since (a scan written as cumulative sums)."""
    has_q = texts.str.contains('"', literal=True)
    f0 = pl.Series("f0", [False] * texts.len(), dtype=pl.Boolean)
    f1 = pl.Series("f1", [True] * texts.len(), dtype=pl.Boolean)
    if has_q.any():
        idx, q = has_q.arg_true(), texts.filter(has_q)
        f0 = f0.scatter(idx, q.str.contains(g["opens"]))
        f1 = f1.scatter(idx, q.str.contains(g["stays"]) | q.str.contains(g["reopens"]))
    frame = pl.DataFrame({"f0": f0, "f1": f1}).with_columns(
        (pl.col("f0") & ~pl.col("f1")).cast(pl.Int64).cum_sum().alias("cs"),
        (pl.col("f0") == pl.col("f1")).alias("const"),
    )
    anchor = pl.when("const").then("f0").otherwise(None).forward_fill().fill_null(False)
    since = pl.col("cs") - pl.when("const").then("cs").otherwise(None).forward_fill().fill_null(0)
    after = frame.select((anchor != (since % 2 == 1)).alias("after")).to_series()
    return after.shift(1, fill_value=False).alias("before"), after


def _records(lines: pl.DataFrame, sep: str) -> tuple[pl.DataFrame, int, bool]:
    """Rows of the CSV: ``line`` (first physical line), ``n`` (physical
    lines), ``text`` (the lines joined by ``\\n``); the blank-line count and
    whether the last row's quoted cell is never closed."""
    before, after = _inside(lines.get_column("text"), _grammar(sep))
    blank = ~pl.col("before") & (pl.col("text").str.strip_chars().str.len_bytes() == 0)
    body = lines.with_columns(before).filter(~blank)
    unclosed = bool(after[-1]) if after.len() else False
    if not before.any():
        return body.select("line", pl.lit(1, dtype=pl.Int64).alias("n"), "text"), lines.height - body.height, unclosed
    rows = (
        body.with_columns((~pl.col("before")).cast(pl.Int64).cum_sum().alias("_rec"))
        .group_by("_rec", maintain_order=True)
        .agg(pl.col("line").first(), pl.len().cast(pl.Int64).alias("n"), pl.col("text").str.join("\n"))
        .drop("_rec")
    )
    return rows, lines.height - body.height, unclosed


def _cells(text: pl.Expr, sep: str) -> pl.Expr:
    """The unquoted cells of a row, as a list (the regex split)."""
    e = pl.element().str.slice(1)  # without the separator each match starts with
    unquote = pl.when(e.str.starts_with('"')).then(
        e.str.replace(rf'^"({_Q}*)"', "${1}").str.replace_all('""', '"', literal=True)
    ).otherwise(e)
    return (pl.lit(sep) + text).str.extract_all(_grammar(sep)["cell"]).list.eval(unquote)


def _count(text: pl.Expr, sep: str) -> pl.Expr:
    """How many cells a row has (quoted cells dropped, then separators counted)."""
    bare = (pl.lit(sep) + text).str.replace_all(_grammar(sep)["quoted"], sep, literal=False)
    return (
        pl.when(text.str.contains('"', literal=True)).then(bare.str.count_matches(sep, literal=True))
        .otherwise(text.str.count_matches(sep, literal=True) + 1)
        .cast(pl.Int64)
    )


def _values(rows: pl.DataFrame, cols: list[str], sep: str) -> pl.DataFrame:
    """``line`` and one text column per header name for rows with exactly
    ``len(cols)`` cells (empty cells null): Polars' CSV reader, or the regex
    split when the reader does not give one row per row."""
    vals = None
    if rows.height:
        data = (rows.select(pl.col("text").str.join("\n")).item() + "\n").encode()
        try:
            vals = pl.read_csv(data, has_header=False, separator=sep, quote_char='"', comment_prefix=None,
                               schema=dict.fromkeys(cols, pl.String), raise_if_empty=False)
        except pl.exceptions.PolarsError:
            vals = None
    if vals is None or vals.height != rows.height:
        cells = rows.select(_cells(pl.col("text"), sep).alias("c"))
        vals = cells.select(pl.col("c").list.get(i, null_on_oob=True).alias(n) for i, n in enumerate(cols))
    vals = vals.select(pl.when(pl.col(c) == "").then(None).otherwise(pl.col(c)).alias(c) for c in cols)
    return pl.concat([rows.select("line"), vals], how="horizontal")


# ---------------------------------------------------------------------- sniff


def _score(sample: list[str], sep: str) -> tuple[float, int]:
    """(score, header cells) of one separator on the sample lines (read with
    the standard library's CSV reader: a sniff looks at 64 lines at most)."""
    if sep not in sample[0]:
        return 0.0, 0
    try:
        rows = [r for r in stdcsv.reader(sample, delimiter=sep, quotechar='"', strict=False) if r]
    except stdcsv.Error:
        return 0.0, 0
    head = [c.strip() for c in rows[0]]
    empty = head.count("")
    if len(head) < 2 or empty > 1 or any(re.match(DATE_CELL, c) for c in head) or \
            sum(not re.match(HEADER_CELL, c) for c in head) > empty:
        return 0.0, len(head)
    timed = any(re.search(TIME_NAME, c) for c in head)
    data = rows[1:]
    if not data:
        return (0.5 if timed else 0.0), len(head)
    fits = sum(len(r) == len(head) for r in data) / len(data)
    dated = any(re.match(DATE_CELL, c) for r in data for c in r)
    return (fits if timed or dated else 0.4 * fits), len(head)


def choose(sample: list[str]) -> tuple[str, float]:
    """The separator that reads ``sample`` best as CSV with a header, and its
    score: the share of rows after the header with as many cells as the
    header, when the header's cells look like names (no dates, no leading
    digits or braces) and a column names a time or holds dates (else 0.4 of
    it).  Ties go to the separator giving more columns.

    Examples
    --------
    >>> choose(["time\\tlevel\\tmsg", "2026-03-14T11:02:17Z\\terror\\tboom, again"])
    ('\\t', 1.0)
    """
    if not sample or not re.match(r'^\s*"?[A-Za-z_@#]', sample[0]):
        return ",", 0.0
    (score, _), sep = max(((_score(sample, sep), sep) for sep in DELIMITERS), key=lambda t: t[0])
    return sep, score


def sniff(sample: list[str]) -> float:
    """How well the sample reads as CSV with a header (see :func:`choose`)."""
    return choose(sample)[1]


# ----------------------------------------------------------------- header rows


def carried_head(texts: pl.Series) -> list[str]:
    """The lines a later piece of the file needs in front of it to be read as
    the whole file is (``forensics watch`` parses appended lines): the header
    row, the first line that is not blank.  ``texts`` are the file's lines
    from its start (or from the head carried so far).

    >>> carried_head(pl.Series(["", "time,user", "2026-03-14T11:00:00Z,alice"]))
    ['time,user']
    """
    head = texts.filter(texts.str.strip_chars() != "").head(1)
    return head.to_list()



def names(cells: list[str]) -> list[str]:
    """Column names from header cells: trimmed, ``column_N`` for an empty one,
    ``_2``, ``_3`` ... for a repeat (case-insensitive), ``line_`` for ``line``
    (the line-number column).

    Examples
    --------
    >>> names(["time", "", "User", "user", "line"])
    ['time', 'column_2', 'User', 'user_2', 'line_']
    """
    out: list[str] = []
    seen: set[str] = set()
    for i, cell in enumerate(cells):
        name = cell.strip() or f"column_{i + 1}"
        name = "line_" if name == "line" else name
        base, j = name, 2
        while name.lower() in seen:
            name, j = f"{base}_{j}", j + 1
        seen.add(name.lower())
        out.append(name)
    return out


def _headers(rows: pl.DataFrame, sep: str, options: IngestOptions) -> tuple[pl.DataFrame, dict[int, list[str]]]:
    """Add ``head`` (a header row) and ``grp`` (which header a row is read
    with; 0: none above it) to ``rows``, and each group's header cells.  The
    first row is the header unless a cell holds a date; a later row is one
    when it repeats the first header, or when no cell holds a date, every cell
    looks like a name and one names the time."""
    first_text = rows.get_column("text")[0]
    first = rows.head(1).select(_cells(pl.col("text"), sep)).to_series()[0]
    first_head = not first.str.contains(DATE_CELL).any()
    over = options.overrides().get("ts")
    time_cell = TIME_NAME + (f"|^(?i:{re.escape(over)})$" if over else "")
    quick = r"(?i)time|date|ts" + (f"|{re.escape(over)}" if over else "")
    repeat = (pl.col("text") == first_text) & pl.lit(first_head)
    text = pl.col("text")
    cand = rows.with_row_index("_i").filter(
        (pl.col("_i") > 0) & (repeat | (~text.str.contains(_ANY_DATE) & text.str.contains(quick)))
    )
    head = pl.Series("head", [False] * rows.height, dtype=pl.Boolean)
    cells: dict[int, list[str]] = {}
    if first_head:
        head, cells[0] = head.scatter([0], True), first.to_list()
    if cand.height:
        c = pl.col("cells").list.eval(pl.element().str.strip_chars())
        cand = cand.with_columns(_cells(text, sep).alias("cells")).filter(repeat | (
            c.list.eval(pl.element().str.contains(HEADER_CELL)).list.all()
            & ~c.list.eval(pl.element().str.contains(DATE_CELL)).list.any()
            & c.list.eval(pl.element().str.contains(time_cell)).list.any()
        ))
        head = head.scatter(cand.get_column("_i"), True)
        cells.update(zip(cand.get_column("_i").to_list(), cand.get_column("cells").to_list()))
    grp = head.cast(pl.Int64).cum_sum().alias("grp")
    by_grp = {int(grp[i]): v for i, v in cells.items()}
    return rows.with_columns(head, grp), by_grp


# ---------------------------------------------------------------------- parse


def _reject_rows(rows: pl.DataFrame, lines: pl.DataFrame) -> pl.DataFrame:
    """Rejects for whole rows (``line``, ``n``, ``reason``): the first line
    with the reason, the others as part of that row."""
    spread = rows.select(
        pl.int_ranges("line", pl.col("line") + pl.col("n")).alias("_l"), pl.col("line").alias("_first"), "reason"
    ).explode("_l")
    reason = pl.when(pl.col("_l") == pl.col("_first")).then(pl.col("reason")).otherwise(
        pl.format("part of the malformed CSV row at line {}", pl.col("_first"))
    )
    spread = spread.select(pl.col("_l").alias("line"), reason.alias("reason"))
    return spread.join(lines, on="line", how="left").select("line", "reason", "text").sort("line")


def parse(lines: pl.DataFrame, *, options: IngestOptions) -> ParseResult:
    """Parse CSV lines (header first) into canonical events.

    Examples
    --------
    >>> lines = pl.DataFrame({"line": [1, 2, 3], "text": [
    ...     "timestamp;user;status;message", '2026-03-14T11:02:17Z;u42;503;"upstream', 'timed out"']})
    >>> res = parse(lines, options=IngestOptions())
    >>> res.events.select("user", "status", "level", "message").row(0), res.continuation_lines
    (('u42', 503, 'error', 'upstream\\ntimed out'), 2)
    """
    sample = lines.filter(pl.col("text").str.strip_chars() != "").head(64).get_column("text").to_list()
    sep = choose(sample)[0]
    rows, blank, unclosed = _records(lines, sep)
    bad: list[pl.DataFrame] = []
    if unclosed:
        bad.append(rows.tail(1).select("line", "n", pl.format(
            "quoted cell never closed (from line {} to the end of the input)", pl.col("line")).alias("reason")))
        rows = rows.head(rows.height - 1)
    events, cont = [], 0
    if rows.height:
        rows, heads = _headers(rows, sep, options)
        rows = rows.with_columns(_count(pl.col("text"), sep).alias("k"))
        cont += int(rows.filter("head").get_column("n").sum())
        bad.append(rows.filter(pl.col("grp") == 0).select(
            "line", "n", pl.lit("CSV row with no header row above it (its first row holds a date)").alias("reason")))
        for grp, cells in heads.items():
            cols = names(cells)
            data = rows.filter((pl.col("grp") == grp) & ~pl.col("head"))
            wrong = pl.format(f"expected {len(cols)} cells (header), found {{}}", pl.col("k"))
            bad.append(data.filter(pl.col("k") != len(cols)).select("line", "n", wrong.alias("reason")))
            good = data.filter(pl.col("k") == len(cols))
            if good.height:
                events.append(events_from_cells(_values(good, cols, sep), cols, options=options))
                cont += int(good.get_column("n").sum()) - good.height
    bad = [b for b in bad if b.height]
    rejects = _reject_rows(pl.concat(bad), lines) if bad else empty_rejects()
    ev = pl.concat(events).sort("line") if events else empty_events().drop("source", "format")
    return ParseResult(events=ev, rejects=rejects, continuation_lines=cont, blank_lines=blank)
