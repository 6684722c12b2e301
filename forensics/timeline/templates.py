"""Message templates: the kind of a free-text line, used as its action.

Logs without an action field (HDFS, most plain-text application logs) still
say what happened, in the message.  Masking the variable parts of a message
(ids, numbers, IP addresses, host:port, paths, hex, quoted values, UUIDs)
leaves its *template*: every ``Received block blk_<n> of size <num> from
/<ip>`` line is one kind of event.  The masking is one vectorized pass of
regex replacements over the first line of each message (no per-row Python).

The masks, in order (Polars regex, no look-around):

========================  ==========  ===========================================
what                      becomes     example
========================  ==========  ===========================================
UUID                      ``<uuid>``  ``3f2b...-...``
URL                       ``<url>``   ``https://x.io/a?b=1``
IPv4 with optional port   ``<ip>``    ``10.250.19.102:50010``
quoted value              ``"<*>"``   ``"abc"``, ``'abc'``
path (2+ segments)        ``<path>``  ``/mnt/hadoop/dfs/data/current``
hex (0x.., 8+ hex digits  ``<hex>``   ``0x1f``, ``7f3a9c0e12``
with a letter)
host:port                 ``<host>``  ``db-1.internal:5432``
prefixed id               ``p_<n>``   ``blk_-1608999687919862906``, ``part-00081``
number                    ``<num>``   ``67108864``, ``-3.5``
other token with a digit  ``<*>``     ``task_2008``, ``host12``
========================  ==========  ===========================================

Runs of the same placeholder (``<ip> <ip>``, ``blk_<n> blk_<n>``,
``<ip>, <ip>``) collapse to one, so lists of varying length share a
template; whitespace is squeezed; templates are cut at
:data:`TEMPLATE_MAX` characters.

A template's id (``template_id``) is stable across runs and machines: the
first 8 hex digits of the BLAKE2b hash of its text, prefixed ``T``.
"""

from __future__ import annotations

import hashlib

import polars as pl

#: Longest template text kept (characters).
TEMPLATE_MAX = 200

_MASKS: tuple[tuple[str, str], ...] = (
    (r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b", "<uuid>"),
    (r"\b[A-Za-z][\w+.-]*://[^\s\"'<>]+", "<url>"),
    (r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b", "<ip>"),
    (r'"(?:[^"\\\n]|\\.)*"', '"<*>"'),
    (r"(^|[\s=:(\[,])'[^'\n]*'", "${1}'<*>'"),
    (r"(?:/[\w.~%+@$-]+){2,}/?", "<path>"),
    (r"\b0x[0-9a-fA-F]+\b", "<hex>"),
    (r"\b[0-9]*[a-fA-F][0-9a-fA-F]*[0-9][0-9a-fA-F]*\b|\b[0-9]+[a-fA-F][0-9a-fA-F]*\b", "<hexw>"),
    (r"\b[A-Za-z][\w.-]*:\d{2,5}\b", "<host>"),
    (r"\b([A-Za-z]+[_-])-?\d+\b", "${1}<n>"),
    (r"-?\b\d+(?:\.\d+)?\b", "<num>"),
    (r"\b[A-Za-z_]*\d[\w-]*\b", "<*>"),
)
#: Placeholders whose repeated runs collapse into one.
_RUNS = ("<ip>", "<num>", "<*>", "<path>", "<host>", "<hex>", "<uuid>", r"[A-Za-z]+[_-]<n>")


def template_expr(message: pl.Expr | str = "message") -> pl.Expr:
    """The template of each message (null stays null).

    Parameters
    ----------
    message
        Column (name or expression) holding the message text.

    Examples
    --------
    >>> import polars as pl
    >>> df = pl.DataFrame({"m": ["Received block blk_-42 of size 67108864 from /10.0.0.1",
    ...                          "BLOCK* ask 10.0.0.2:50010 to delete  blk_1 blk_2 blk_3"]})
    >>> df.select(template_expr("m")).to_series().to_list()
    ['Received block blk_<n> of size <num> from /<ip>', 'BLOCK* ask <ip> to delete blk_<n>']
    """
    expr = pl.col(message) if isinstance(message, str) else message
    out = expr.str.strip_chars_start().str.split_exact("\n", 1).struct.field("field_0")
    for pattern, repl in _MASKS:
        out = out.str.replace_all(pattern, repl)
    # an 8+ digit hex word with a letter is a hash / id; a short one ("cafe1") is a <*> token
    out = out.str.replace_all(r"<hexw>", "<hex>")
    for tok in _RUNS:
        pat = tok if tok.startswith("[") else tok.replace("*", r"\*")
        out = out.str.replace_all(rf"({pat})(?:[\s,;]+{pat})+", "${1}")
    return out.str.replace_all(r"\s\s+|[\t\r\f\v]", " ").str.strip_chars().str.slice(0, TEMPLATE_MAX)


def template_id(text: str) -> str:
    """Stable id of one template text.

    >>> template_id("Verification succeeded for blk_<n>")
    'Tf7c23f63'
    """
    return "T" + hashlib.blake2b(text.encode("utf-8"), digest_size=4).hexdigest()


def template_ids(templates: pl.Series) -> pl.Series:
    """``template_id`` for a column of templates (hashed once per distinct text)."""
    uniq = templates.drop_nulls().unique()
    ids = {t: template_id(t) for t in uniq.to_list()}  # one per distinct template
    return templates.replace_strict(ids, default=None, return_dtype=pl.String).alias("template_id")


def templated_sources(events: pl.DataFrame) -> pl.Series:
    """Sources (files) that carry no action on any row: their messages' templates become actions."""
    if events.height == 0:
        return pl.Series("source", [], dtype=pl.String)
    per = events.group_by("source").agg(pl.col("action").is_null().all().alias("_none"))
    return per.filter("_none").get_column("source")


def apply_template_actions(events: pl.DataFrame) -> pl.DataFrame:
    """Fill ``action`` with the message template on session rows of sources without any action field.

    Only rows with a user or session of their own (for free text: after
    :func:`~forensics.timeline.sessions.sessions_from_pattern`) are
    templated, the rows that can be user actions.  Rows of sources that
    have an action field somewhere are left as they are,
    and so are rows of a request that already has an action on another row
    (an explicit action or an HTTP route), so explicit actions always win
    and mixed logs keep their meaning.  Rows with an empty message keep a
    null action.

    Examples
    --------
    >>> import polars as pl
    >>> from forensics.schema import conform
    >>> ev = conform(pl.DataFrame({"source": ["a.log", "a.log", "a.log", "b.jsonl"],
    ...     "message": ["took 5 ms", "took 17 ms", "idle", "took 3 ms"], "action": [None, None, None, "buy"],
    ...     "session": ["s1", "s2", None, "s3"]}))
    >>> apply_template_actions(ev).get_column("action").to_list()
    ['took <num> ms', 'took <num> ms', None, 'buy']
    """
    src = templated_sources(events)
    if src.len() == 0:
        return events
    req_has = pl.when(pl.col("request_id").is_not_null()).then(
        pl.col("action").is_not_null().any().over("request_id")).otherwise(False)
    own = pl.col("user").is_not_null() | pl.col("session").is_not_null()
    on = pl.col("source").is_in(src.implode()) & pl.col("action").is_null() & own & ~req_has
    tpl = pl.when(on).then(template_expr("message"))
    return events.with_columns(pl.coalesce(pl.col("action"), pl.when(tpl != "").then(tpl)).alias("action"))


TEMPLATE_TABLE_SCHEMA = {
    "template_id": pl.String(),
    "template": pl.String(),
    "count": pl.UInt32(),
    "example": pl.String(),
}


def template_table(timeline_or_events) -> pl.DataFrame:
    """The template table: ``template_id``, ``template``, ``count``, ``example``.

    One row per template used as an action (rows whose ``action`` is the
    template of their own message), most frequent first; ``example`` is the
    first message of that template (by time).  Accepts a
    :class:`~forensics.timeline.model.Timeline` (its ``templates`` when set,
    else computed from its events) or an events frame.

    Examples
    --------
    >>> import polars as pl
    >>> from forensics.schema import conform
    >>> ev = apply_template_actions(conform(pl.DataFrame({"source": ["a"] * 3, "user": ["u1"] * 3,
    ...     "message": ["took 5 ms", "took 17 ms", "closed"]})))
    >>> template_table(ev).select("template", "count", "example").rows()
    [('took <num> ms', 2, 'took 5 ms'), ('closed', 1, 'closed')]
    """
    pre = getattr(timeline_or_events, "templates", None)
    if isinstance(pre, pl.DataFrame):
        return pre
    events = getattr(timeline_or_events, "events", timeline_or_events)
    if events.height == 0:
        return pl.DataFrame(schema=TEMPLATE_TABLE_SCHEMA)
    rows = events.select("action", "message").with_columns(template_expr("message").alias("_t"))
    rows = rows.filter(pl.col("action").is_not_null() & (pl.col("action") == pl.col("_t")))
    table = (
        rows.group_by("action", maintain_order=True)
        .agg(pl.len().cast(pl.UInt32).alias("count"), pl.col("message").first().alias("example"))
        .rename({"action": "template"})
    )
    table = table.with_columns(template_ids(table["template"]))
    return table.sort(["count", "template"], descending=[True, False]).select(list(TEMPLATE_TABLE_SCHEMA))


def free_text_events(events: pl.DataFrame, *, session_pattern: str | None = None,
                     template_actions: bool = True) -> pl.DataFrame:
    r"""Canonical events ready for the timeline of free-text logs: the
    session pattern first (so matched rows are session rows), then template
    actions.  Idempotent; a no-op with the defaults on logs that have actions.

    Examples
    --------
    >>> import polars as pl
    >>> from forensics.schema import conform
    >>> ev = conform(pl.DataFrame({"source": ["h.log"] * 2,
    ...     "message": ["Receiving block blk_1 src: /10.0.0.1:5", "Verification succeeded for blk_1"]}))
    >>> free_text_events(ev, session_pattern=r"blk_-?\d+").select("session", "action").rows()
    [('blk_1', 'Receiving block blk_<n> src: /<ip>'), ('blk_1', 'Verification succeeded for blk_<n>')]
    """
    from .sessions import sessions_from_pattern

    out = sessions_from_pattern(events, session_pattern)
    return apply_template_actions(out) if template_actions else out
