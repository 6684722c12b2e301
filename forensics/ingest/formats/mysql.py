"""MySQL (and MariaDB) server error log.

Header shapes that start an event:

* MySQL 8: ``2026-03-14T11:02:17.123456Z 12 [ERROR] [MY-013183] [InnoDB] Assertion failure: ...``
  (time, thread id, ``[level]``, ``[MY-code]``, ``[subsystem]``, message);
* MySQL 5.7: ``2026-03-14T11:02:17.123456Z 0 [Note] InnoDB: Buffer pool(s) load completed``
  (the time may carry an offset: ``log_timestamps=SYSTEM``);
* MySQL 5.6 / MariaDB: ``2026-03-14 11:02:17 140234 [Warning] ...``, and the
  Docker image's entrypoint: ``2026-03-14 11:02:17+00:00 [Note] [Entrypoint]: ...``;
* MySQL 5.5 and older: ``160314 11:02:17 [ERROR] ...`` (``yyMMdd``, the hour
  space-padded);
* any of these times followed by text without a level: ``mysqld_safe
  Starting mysqld daemon ...``, ``160314 11:02:17  InnoDB: Initializing
  buffer pool``, 5.7's ``2026-03-14 11:02:17 0x7f3a2c0f9700  InnoDB: Assertion
  failure ...`` (a hex thread id), 8.0's ``... UTC - mysqld got signal 11 ;``.

Level from the bracket word: ``System`` and ``Note`` info, ``Warning`` warn,
``ERROR`` error; an event whose continuation lines hold the crash report
(``mysqld got signal 6``) is fatal.  Without a bracket: ``mysqld got
signal`` fatal, a message
starting ``Error``/``Assertion failure`` (after ``InnoDB:``) error,
``Warning`` warn, anything else info.  The thread id goes to
``attrs.thread`` (text: ``12``, ``0x7f3a2c0f9700``), the error code
``MY-013183`` to ``attrs.code`` (not ``key``: it names the message, not a
resource), the subsystem to ``attrs.subsystem`` (``Server``, ``InnoDB``,
``Repl``, ``Entrypoint``; in 5.x from a leading ``InnoDB:``/``WSREP:`` or
``mysqld_safe``, which stay in the message).  From the message:
``user 'app'``/``user: 'app'`` -> ``user``, ``db: 'shop'`` -> ``attrs.db``,
``host: '10.0.0.7'``/``'root'@'localhost'`` -> ``attrs.host``.  Times
without a zone are read in ``options.tz``.

Lines without a header are continuation lines of the event above (InnoDB
monitor dumps, the stack trace and notes after a crash, a bare ``<time>
<thread>`` line inside a deadlock report), appended to its ``message`` with
``\\n`` (trailing spaces removed).  Header-less lines before the first event
are malformed, and so is a line that starts like a header (a date) but is
not one.
"""

from __future__ import annotations

import re

import polars as pl

from ...schema import empty_events
from ..normalize import canonicalize, parse_timestamp_series
from ..options import IngestOptions
from .base import ParseResult, empty_rejects, fold_continuations, reject, split_blank

NAME = "mysql"
DESCRIPTION = "MySQL/MariaDB error log (8.0, 5.7, 5.6, 5.5 headers; InnoDB dumps and crash traces continue the event)"
CONTINUATION_LINES = True
EXAMPLE = "2026-03-14T11:02:17.123456Z 12 [ERROR] [MY-013183] [InnoDB] Assertion failure: btr0cur.cc:336 thread 140"

ORPHAN_REASON = "continuation line with no event before it"

_TS = (
    r"(?<ts>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})"
    r"|\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:[+-]\d{2}:\d{2})?"
    r"|\d{6} [ \d]\d:\d{2}:\d{2})"
)
_THREAD = r"(?:(?<thread>\d+|0x[0-9a-fA-F]+)\s+)?"
#: What comes before the message in a header with a level bracket.
HEADER_HEAD = (
    rf"{_TS}\s+{_THREAD}\[(?<lvl>System|Note|Warning|Warn|ERROR|Error)\]\s*(?:\[(?<code>MY-\d+)\]\s*)?"
    r"(?:\[(?<sub>[A-Za-z][\w ]*)\]:?\s*)?"
)
#: A header with a level bracket (what sniffing counts).
HEADER = rf"^{HEADER_HEAD}(?<msg>.*)$"
#: A header without a level (a time, maybe a thread id, then text).
LOOSE = rf"^{_TS}\s+{_THREAD}(?<msg>\S.*)$"
# Only the part before the message is captured; the message is sliced off
# after it (capturing it too would take several times as long).
_STRICT_HEAD = rf"^(?<head>{HEADER_HEAD})"
_LOOSE_HEAD = rf"^(?<head>{_TS}\s+{_THREAD})\S"
_BARE = rf"^{_TS}\s+(?:\d+|0x[0-9a-fA-F]+)?\s*$"
_LOOKS_HEADER = r"^(?:\d{4}-\d{2}-\d{2}[T ]\d|\d{6} [ \d]\d:)"
_HEADER_ANY = re.sub(r"\(\?<\w+>", "(?:", f"(?:{HEADER})|(?:{LOOSE})")
_HEADER_ONLY = re.sub(r"\(\?<\w+>", "(?:", HEADER)

LEVELS = {"system": "info", "note": "info", "warning": "warn", "warn": "warn", "error": "error"}
_SIGNAL = r"mysqld got (?:signal|exception) \d+"
_PREFIX_SUB = r"^(InnoDB|WSREP):|^(mysqld_safe) "


def sniff(sample: list[str]) -> float:
    """Share of lines that are MySQL headers, with the lines between them
    (dumps, traces) counted half once most header-like lines carry a level
    bracket.

    Examples
    --------
    >>> sniff(["2026-03-14T11:02:17.123456Z 0 [System] [MY-010116] [Server] starting", "-----", "BACKGROUND THREAD"])
    0.6666666666666666
    """
    if not sample:
        return 0.0
    s = pl.Series(sample, dtype=pl.String)
    strict = int(s.str.contains(_HEADER_ONLY).sum())
    headers = int(s.str.contains(_HEADER_ANY).sum())
    if strict == 0:
        return 0.0
    if strict * 2 < headers:
        return strict / s.len()
    return (headers + 0.5 * (s.len() - headers)) / s.len()


def _timestamp(ts: pl.Series, *, tz: str) -> pl.Series:
    """UTC times; 5.5's ``yyMMdd H:MM:SS`` is rewritten as ISO first."""
    old = ts.str.contains(r"^\d{6} ")
    if old.any():
        iso = pl.DataFrame({"t": ts.filter(old)}).select(
            pl.col("t").str.replace(r" (\d):", " 0${1}:").str.replace(r"^(\d{6})  ", "${1} ")
            .str.to_datetime("%y%m%d %H:%M:%S", strict=False).dt.strftime("%Y-%m-%d %H:%M:%S")
        ).to_series()
        ts = ts.scatter(old.arg_true(), iso)
    return parse_timestamp_series(ts, tz=tz)


def _loose_level(msg: pl.Expr) -> pl.Expr:
    body = msg.str.replace(r"^InnoDB:\s*", "")
    return (
        pl.when(msg.str.contains(_SIGNAL)).then(pl.lit("fatal"))
        .when(body.str.contains(r"^(?:Error|ERROR)\b|^Assertion failure")).then(pl.lit("error"))
        .when(body.str.contains(r"^(?:Warning|WARNING)\b")).then(pl.lit("warn"))
        .otherwise(pl.lit("info"))
    )


def _fields(starts: pl.DataFrame) -> pl.DataFrame:
    """``ts``, ``thread``, ``lvl``, ``code``, ``sub``, ``msg`` and ``strict``
    (a level bracket) of event start lines: the strict header, else the loose one."""
    text = pl.col("text")
    out = starts.select(text.str.extract_groups(_STRICT_HEAD).alias("h")).unnest("h")
    hit = out.get_column("head").is_not_null()
    if not hit.all():
        loose = starts.filter(~hit).select(text.str.extract_groups(_LOOSE_HEAD).alias("h")).unnest("h")
        idx = (~hit).arg_true()
        out = out.with_columns(out.get_column(c).scatter(idx, loose.get_column(c)) for c in ("head", "ts", "thread"))
    msg = pl.concat([starts.select("text"), out], how="horizontal").select(
        text.str.slice(pl.col("head").str.len_chars()).alias("msg"))
    return pl.concat([out.drop("head"), msg], how="horizontal").with_columns(hit.alias("strict"))


def parse(lines: pl.DataFrame, *, options: IngestOptions) -> ParseResult:
    """Parse a MySQL error log into canonical events.

    Examples
    --------
    >>> t = "2026-03-14T11:02:17.123456Z 12 [ERROR] [MY-013183] [InnoDB] Assertion failure: btr0cur.cc:336"
    >>> ev = parse(pl.DataFrame({"line": [1, 2], "text": [t, "InnoDB: We intentionally generate a memory trap."]}),
    ...            options=IngestOptions()).events
    >>> ev.select("level", "attrs").row(0)
    ('error', '{"thread":"12","code":"MY-013183","subsystem":"InnoDB"}')
    >>> ev["message"].item().splitlines()[1]
    'InnoDB: We intentionally generate a memory trap.'
    """
    body, blank = split_blank(lines)
    text = pl.col("text")
    bare = text.str.contains(_BARE)
    is_start = text.str.contains(_HEADER_ANY) & ~bare
    marked = body.with_columns(is_start.alias("_s"), (text.str.contains(_LOOKS_HEADER) & ~bare).alias("_b"))
    broken = pl.col("_b") & ~pl.col("_s")
    bad = marked.filter(broken).select("line", "text")
    starts, orphans, n_cont = fold_continuations(marked.filter(~broken), pl.col("_s"))
    parts = [reject(bad, "malformed MySQL log header (expected <time> [<thread>] [<level>] <message>)"),
             reject(orphans, ORPHAN_REASON)]
    rejects = pl.concat(parts).sort("line") if bad.height + orphans.height else empty_rejects()
    if starts.height == 0:
        return ParseResult(events=empty_events().drop("source", "format"), rejects=rejects,
                           continuation_lines=n_cont, blank_lines=blank)
    starts = starts.sort("line")
    f = pl.concat([starts.select("line", "continuation"), _fields(starts)], how="horizontal")
    tidy = pl.col("continuation").str.replace_all(r"[ \t]+(\n|$)", "${1}")
    msg = pl.col("msg").str.strip_chars_end()
    message = pl.when(pl.col("continuation").is_null()).then(msg).otherwise(pl.concat_str([msg, tidy], separator="\n"))
    crash = pl.col("continuation").str.contains(_SIGNAL).fill_null(False)
    level = pl.when(crash).then(pl.lit("fatal")).when("strict").then(
        pl.col("lvl").str.to_lowercase().replace_strict(LEVELS, default=None, return_dtype=pl.String)
    ).otherwise(_loose_level(pl.col("msg")))
    prefix = pl.col("msg").str.extract_groups(_PREFIX_SUB)
    host = pl.coalesce(pl.col("msg").str.extract(r"\bhost: '([^']+)'", 1), pl.col("msg").str.extract(r"'@'([^']+)'", 1))
    raw = f.select(
        "line",
        "thread",
        "code",
        pl.coalesce("sub", prefix.struct.field("1"), prefix.struct.field("2")).alias("subsystem"),
        pl.col("msg").str.extract(r"\buser:? '([^']+)'", 1).alias("user"),
        pl.col("msg").str.extract(r"\bdb: '([^']+)'", 1).alias("db"),
        host.alias("host"),
    )
    fixed = f.select(message.alias("message"), level.alias("level"))
    fixed = {
        "ts": pl.lit(_timestamp(f.get_column("ts"), tz=options.tz)),
        "message": pl.lit(fixed.get_column("message")),
        "level": pl.lit(fixed.get_column("level")),
    }
    events = canonicalize(raw, options=options, fixed=fixed, skip=("status",))
    return ParseResult(events=events, rejects=rejects, continuation_lines=n_cont, blank_lines=blank)
