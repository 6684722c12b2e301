"""PostgreSQL server log, ``stderr`` destination.

A line starts with ``log_line_prefix`` and a severity.  Recognised prefixes:
anything that begins with ``%m`` or ``%t`` (a timestamp with its zone) and
ends in the severity, e.g. the default ``'%m [%p] '``, ``'%t [%p]: [%l-1]
user=%u,db=%d,app=%a,client=%h '``, ``'%m [%p] %q%u@%d '`` and the RDS
``'%t:%r:%u@%d:[%p]:'``.  From the prefix: ``[pid]`` -> ``attrs.pid``;
``user=``/``db=``/``app=``/``client=`` or ``user@db`` -> ``attrs.db_user``,
``database``, ``application``, ``client`` (PostgreSQL's role is not the end
user, so the canonical ``user`` is never taken from it; ``component`` is left
to the driver).

Severities ``DEBUG1-5 INFO NOTICE LOG WARNING ERROR FATAL PANIC`` start an
event (``LOG`` -> info, ``PANIC`` -> fatal).  ``STATEMENT DETAIL HINT CONTEXT
QUERY LOCATION`` lines carry their own prefix but belong to an earlier event:
the latest event **of the same pid** (the previous event when the pid is not
in the prefix or has no event yet); their text goes to ``attrs.statement``,
``detail``, ``hint``, ``context``, ``query``, ``location``.  Indented lines
without a prefix are continuation lines (PostgreSQL indents the later lines of
a multi-line message with a tab, which is removed) and extend whatever the line
above them was: the message or one of those attributes.  Any other line
without a valid prefix (a broken prefix, output of ``archive_command`` and the
like) is malformed; secondary or indented lines before any event are malformed
too.

``duration: N ms`` -> ``latency_ms``.  ``key=value`` pairs are read from the
message (not from SQL text; in the connection messages ``connection
authorized: user=... database=...`` and ``disconnection: ...`` those keys fill
``db_user``/``database``/``client``/``application`` instead of ``user``)
and from sqlcommenter comments (``/*request_id='abc',user_id='u42'*/``) in the
message, statement or query, which fill ``request_id``, ``user``, ``action``
and the like through the usual aliases.

Time zones: ``UTC``/``GMT``, numeric offsets (``+01``, ``-0330``, ``+05:30``)
and common abbreviations (see :data:`ZONES`) are honoured; any other zone word
is ignored and the time read in ``options.tz``.
"""

from __future__ import annotations

import polars as pl

from ..normalize import normalize_level, parse_timestamp_series
from ..options import IngestOptions
from .base import ParseResult, empty_rejects, reject, share_matching, split_blank
from .plain import ORPHAN_REASON, kv_events

NAME = "postgres"
DESCRIPTION = "PostgreSQL server log (stderr, log_line_prefix starting with %m or %t)"
EXAMPLE = '2026-03-14 11:02:31.004 UTC [981] ERROR:  canceling statement due to statement timeout'
CONTINUATION_LINES = True

PRIMARY = ("DEBUG1", "DEBUG2", "DEBUG3", "DEBUG4", "DEBUG5", "DEBUG", "INFO", "NOTICE", "LOG", "WARNING", "ERROR", "FATAL", "PANIC")
SECONDARY = ("STATEMENT", "DETAIL", "HINT", "CONTEXT", "QUERY", "LOCATION")

_TS = r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?:\.\d{1,6})?"
_ZONE = r"[A-Za-z]{2,5}|[+-]\d{2}(?::?\d{2})?"
#: The prefix up to the message (capturing only this part is much faster
#: than capturing the message too; the message is the text after it).
PREFIX = (
    rf"^(?P<head>(?P<ts>{_TS}) (?P<zone>{_ZONE})(?P<rest>[ :].*?)\b"
    rf"(?P<sev>{'|'.join(PRIMARY + SECONDARY)}):\s+)"
)
#: PostgreSQL's own messages whose ``user=``/``database=``/``host=`` name the session, not an end user.
_SESSION_MSG = r"^(?:replication )?connection (?:authorized|received|authenticated):|^disconnection:"

#: Zone abbreviations PostgreSQL prints for common ``log_timezone`` settings.
#: Ambiguous ones (IST, CST in Asia) take the most common meaning in server logs.
ZONES = {
    "UTC": "+00:00", "GMT": "+00:00", "Z": "+00:00", "WET": "+00:00", "WEST": "+01:00", "BST": "+01:00",
    "IST": "+05:30", "CET": "+01:00", "CEST": "+02:00", "MET": "+01:00", "MEST": "+02:00",
    "EET": "+02:00", "EEST": "+03:00", "MSK": "+03:00",
    "EST": "-05:00", "EDT": "-04:00", "CST": "-06:00", "CDT": "-05:00", "MST": "-07:00", "MDT": "-06:00",
    "PST": "-08:00", "PDT": "-07:00", "AKST": "-09:00", "AKDT": "-08:00", "HST": "-10:00",
    "JST": "+09:00", "KST": "+09:00", "HKT": "+08:00", "SGT": "+08:00", "AWST": "+08:00",
    "AEST": "+10:00", "AEDT": "+11:00", "ACST": "+09:30", "ACDT": "+10:30", "NZST": "+12:00", "NZDT": "+13:00",
}

_ATTR_OF = {"STATEMENT": "statement", "DETAIL": "detail", "HINT": "hint", "CONTEXT": "context", "QUERY": "query", "LOCATION": "location"}
_EXTRA = ("statement", "detail", "hint", "context", "query", "location")
#: Message text up to where SQL starts (``statement: ``, ``execute x: ``, ...).
_SQL_START = r"(?:^|\s)(?:statement|execute [^:]*|parse [^:]*|bind [^:]*):\s.*$"
_COMMENT = r"/\*[^*]*\*/"
#: One sqlcommenter pair ``key='value',`` (rewritten as ``key="value"`` for :func:`extract_kv`).
_SQLC_PAIR = r"([A-Za-z_][\w.\-]*)='((?:[^'\\]|\\.)*)',?"


def sniff(sample: list[str]) -> float:
    """Fraction of the lines (ignoring indented continuation lines) with a PostgreSQL prefix."""
    return share_matching(sample, PREFIX, skip_indented=True)


def _zone_offset(zone: pl.Expr) -> pl.Expr:
    """``+01`` -> ``+01:00``, ``-0330`` -> ``-03:30``, ``CET`` -> ``+01:00``; null if unknown."""
    return (
        pl.when(zone.str.contains(r"^[+-]\d{2}$")).then(zone + ":00")
        .when(zone.str.contains(r"^[+-]\d{4}$")).then(zone.str.replace(r"^([+-]\d{2})(\d{2})$", "${1}:${2}"))
        .when(zone.str.contains(r"^[+-]\d{2}:\d{2}$")).then(zone)
        .otherwise(zone.str.to_uppercase().replace_strict(ZONES, default=None, return_dtype=pl.String))
    )


def _timestamp(frame: pl.DataFrame, tz: str) -> pl.Series:
    """UTC times from the ``ts`` and ``zone`` columns (unknown zones: ``tz``)."""
    parts = frame.select(
        pl.when(_zone_offset(pl.col("zone")).is_not_null()).then(pl.col("ts") + _zone_offset(pl.col("zone"))).alias("aware"),
        pl.when(_zone_offset(pl.col("zone")).is_null()).then(pl.col("ts")).alias("naive"),
    )
    aware = parse_timestamp_series(parts["aware"])
    naive = parse_timestamp_series(parts["naive"], tz=tz)
    return aware.zip_with(aware.is_not_null(), naive).alias("ts")


def _classify(body: pl.DataFrame) -> pl.DataFrame:
    """Per line: kind (start/sec/raw/bad), prefix fields, and the event it belongs to."""
    g = pl.col("text").str.extract_groups(PREFIX)
    df = body.with_columns(g.alias("_g")).unnest("_g")
    df = df.with_columns(pl.col("text").str.slice(pl.col("head").str.len_chars()).alias("msg")).drop("head")
    df = df.with_columns(
        pl.when(pl.col("sev").is_in(PRIMARY)).then(pl.lit("start"))
        .when(pl.col("sev").is_not_null()).then(pl.lit("sec"))
        .when(pl.col("text").str.contains(r"^\s")).then(pl.lit("raw"))
        .otherwise(pl.lit("bad"))
        .alias("kind"),
        pl.col("rest").str.extract(r"\[(\d+)(?:-\d+)?\]", 1).cast(pl.Int64, strict=False).alias("pid"),
    )
    good = df.filter(pl.col("kind") != "bad")
    own = pl.when(pl.col("kind") == "start").then(pl.col("line"))
    # Secondary lines: latest event of the same pid, else the latest event.
    anchor = (
        pl.when(pl.col("kind") == "start").then(pl.col("line"))
        .when(pl.col("kind") == "sec").then(pl.coalesce(own.forward_fill().over("pid"), own.forward_fill()))
    )
    # Where the line's text goes: the message, or an attribute named by the severity.
    field = pl.when(pl.col("kind") == "start").then(pl.lit("message")).when(pl.col("kind") == "sec").then(
        pl.col("sev").replace_strict(_ATTR_OF, default=None, return_dtype=pl.String)
    )
    good = good.with_columns(anchor.alias("_anchor"), field.alias("_field"))
    # Prefix-less lines follow the prefixed line above them (an orphan secondary stays orphan).
    prefixed = pl.col("kind") != "raw"
    good = good.with_columns(
        pl.when(prefixed).then(pl.col("_anchor")).forward_fill().alias("owner"),
        pl.when(prefixed).then(pl.col("_field")).forward_fill().alias("field"),
        pl.when(pl.col("kind") == "raw").then(pl.col("text").str.strip_prefix("\t")).otherwise(pl.col("msg")).alias("piece"),
    )
    return pl.concat([good.drop("_anchor", "_field"), df.filter(pl.col("kind") == "bad")], how="diagonal")


def _fields(ev: pl.DataFrame) -> pl.DataFrame:
    """``line``, the text to read ``key=value`` pairs from (``_kv``) and the attribute columns."""
    def pre(pattern: str) -> pl.Expr:  # first group of ``pattern`` in the prefix
        return pl.col("rest").str.extract(pattern, 1)

    at = pl.col("rest").str.extract_groups(r"(?:^|[\s:])(?P<u>\[unknown\]|[^\s@:\[\]]+)@(?P<d>\[unknown\]|[^\s@:\[\]]+)(?:[\s:]|$)")
    msg = pl.col("message")
    # key=value text from the message before any SQL; in PostgreSQL's session
    # messages user=/database=/host= describe the connection, not the end user.
    session_msg = msg.str.contains(_SESSION_MSG)
    pg_kv = pl.when(session_msg).then(msg)
    plain_kv = pl.when(session_msg).then(msg.str.replace_all(r"\b(?:user|database|host|application_name)=\S*", "")).otherwise(
        msg.str.replace(_SQL_START, "")
    )
    comments = pl.concat_str([msg, pl.col("statement"), pl.col("query")], separator=" ", ignore_nulls=True)
    sqlc = comments.str.extract_all(_COMMENT).list.join(" ").str.replace_all(_SQLC_PAIR, '${1}="${2}" ')
    for code, ch in (("%2F", "/"), ("%3A", ":"), ("%20", " "), ("%3D", "="), ("%2C", ","), ("%27", "'"), ("%25", "%")):
        sqlc = sqlc.str.replace_all(code, ch, literal=True)
    return ev.select(
        "line",
        pl.concat_str([sqlc, plain_kv], separator=" ", ignore_nulls=True).alias("_kv"),
        "pid",
        pl.coalesce(pre(r"\buser=([^,\s]*)"), at.struct.field("u"), pg_kv.str.extract(r"\buser=(\S+)", 1)).alias("db_user"),
        pl.coalesce(pre(r"\bdb=([^,\s]*)"), at.struct.field("d"), pg_kv.str.extract(r"\bdatabase=(\S+)", 1)).alias("database"),
        pl.coalesce(pre(r"\bapp=(.*?)(?:,\w+=|\s*$)"), pg_kv.str.extract(r"\bapplication_name=(\S+)", 1)).alias("application"),
        pl.coalesce(pre(r"\b(?:client|host)=([^,\s]*)"), pre(r":([\w.:\-]+)\(\d+\):"), pg_kv.str.extract(r"\bhost=(\S+)", 1)).alias("client"),
        *_EXTRA,
    ).with_columns(
        pl.when(pl.col(c).is_in(["", "[unknown]"])).then(None).otherwise(pl.col(c)).alias(c)
        for c in ("db_user", "database", "application", "client")
    )


def parse(lines: pl.DataFrame, *, options: IngestOptions) -> ParseResult:
    """Parse a PostgreSQL stderr log into canonical events.

    Examples
    --------
    >>> from forensics.ingest.options import IngestOptions
    >>> lines = pl.DataFrame({"line": [1, 2], "text": [
    ...     "2026-03-14 11:02:33.158 UTC [7] ERROR:  deadlock detected",
    ...     "2026-03-14 11:02:33.158 UTC [7] STATEMENT:  /*request_id='r1'*/ UPDATE t SET x=1"]})
    >>> r = parse(lines, options=IngestOptions())
    >>> r.events.select("level", "request_id").row(0), r.continuation_lines
    (('error', 'r1'), 1)
    """
    body, blank = split_blank(lines)
    df = _classify(body)
    bad = df.filter(pl.col("kind") == "bad")
    orphans = df.filter((pl.col("kind") != "bad") & pl.col("owner").is_null())
    rejects = pl.concat(
        [reject(bad.select("line", "text"), "no PostgreSQL log prefix"), reject(orphans.select("line", "text"), ORPHAN_REASON)]
    ).sort("line") if bad.height + orphans.height else empty_rejects()
    attached = df.filter(pl.col("owner").is_not_null())
    n_cont = attached.filter(pl.col("kind") != "start").height
    starts = attached.filter(pl.col("kind") == "start").sort("line")
    pieces = (
        attached.sort("line")
        .group_by("owner", "field", maintain_order=True)
        .agg(pl.col("piece").str.join("\n"))
        .pivot(on="field", index="owner", values="piece", aggregate_function="first")
    )
    for name in ("message",) + _EXTRA:
        if name not in pieces.columns:
            pieces = pieces.with_columns(pl.lit(None, dtype=pl.String).alias(name))
    ev = starts.select("line", "ts", "zone", "rest", "sev", "pid").join(
        pieces.rename({"owner": "line"}), on="line", how="left", maintain_order="left"
    )
    fields = _fields(ev)
    fixed = ev.select(
        pl.lit(_timestamp(ev, options.tz)).alias("ts"),
        normalize_level(pl.col("sev").str.replace(r"^DEBUG\d$", "DEBUG")).alias("level"),
        pl.col("message"),
        pl.col("message").str.extract(r"\bduration: (\d+(?:\.\d+)?) ms", 1).cast(pl.Float64, strict=False).alias("latency_ms"),
        pl.lit(None, dtype=pl.String).alias("component"),
    )
    events = kv_events(fields, "_kv", options=options, fixed={c: fixed[c] for c in fixed.columns})
    return ParseResult(events=events, rejects=rejects, continuation_lines=n_cont, blank_lines=blank)
