"""Request linking: events sharing a ``request_id`` form one request.

Rules (docs/timeline.md):

* ``user`` and ``session`` fill in across a request from the rows that have
  them (a cache row of a logged-in request gets that user and session).
* A row is a *user-action candidate* when it has an ``action`` and either a
  user/session of its own or comes from an access log.  Per request exactly
  one candidate is kept (``is_action``): an explicit action field (non-access
  format) wins over an HTTP route, then the earliest (ties by source, line).
  Rows without a request id are a request of their own.
* Free-text logs: rows of a source without any action field get their
  message template as action (:mod:`.templates`, applied before linking) unless
  their request already has an action; with a session pattern
  (:func:`.sessions.sessions_from_pattern`) they have a session of their own,
  so these template actions are user actions like any other.
* Rows without a user/session of their own (cache, db) are never actions:
  they are the request's *resources*: their ``key``, or ``table:<name>`` for a
  SQL statement in the message.  Their errors are attributed to the request's
  session and action (``failed``).
"""

from __future__ import annotations

import polars as pl

from ..ingest.formats import access_formats
#: SQL statement -> first table name (cheap, first match only).
_SQL = r"(?i)\b(?:select|insert|update|delete|merge|upsert)\b"
_SQL_TABLE = r"(?i)\b(?:from|into|update|join)\s+[\"`\[]?([A-Za-z_][\w.]*)"

_HAS_REQ = pl.col("request_id").is_not_null()


def _over_request(expr: pl.Expr) -> pl.Expr:
    """``expr`` evaluated per request (null for rows without a request id)."""
    return pl.when(_HAS_REQ).then(expr.over("request_id"))


def resource_expr() -> pl.Expr:
    """The resource a row touches: its ``key``, else a SQL table from the message."""
    table = pl.when(pl.col("message").str.contains(_SQL).fill_null(False)).then(
        pl.lit("table:") + pl.col("message").str.extract(_SQL_TABLE, 1)
    )
    return pl.coalesce(pl.col("key"), table)


def link_requests(events: pl.DataFrame) -> pl.DataFrame:
    """Fill user/session across requests and mark the one action per request.

    ``events`` must be sorted by ``ts, source, line`` and carry ``is_error``.
    Adds ``is_action`` (Bool), ``_own_id`` (Bool: user or session on the row
    itself), ``_req_failed`` (Bool: an error in the row's request) and
    ``_resource`` (String).

    Examples
    --------
    >>> import polars as pl
    >>> from datetime import datetime, timezone
    >>> from forensics.schema import conform
    >>> t = datetime(2023, 11, 2, 16, 0, tzinfo=timezone.utc)
    >>> ev = conform(pl.DataFrame({"ts": [t, t, t], "format": ["access", "jsonl", "plain"],
    ...     "request_id": ["r1"] * 3, "user": [None, "u1", None], "action": ["GET /c/{id}", "open_course", "get"],
    ...     "key": [None, None, "course:1"]})).with_columns(is_error=pl.Series([False, False, True]))
    >>> link_requests(ev).select("user", "is_action", "_req_failed").rows()
    [('u1', False, True), ('u1', True, True), ('u1', False, True)]
    """
    own = pl.col("user").is_not_null() | pl.col("session").is_not_null()
    fmt_access = pl.col("format").is_in(access_formats()).fill_null(False)
    cand = pl.col("action").is_not_null() & (own | fmt_access)
    # A request id seen once (a lone app line) is a request of one row: the
    # per-request windows below only need the ids that occur more than once.
    # Their hashes are compared (``is_duplicated`` on the strings takes twice
    # as long, a count ``over`` them holds 1.8 GB more at 10M ids); a hash
    # collision only sends two lone rows through the windows, which give a
    # lone row what it has.  Found before the new columns are made, so its
    # hash table is not held beside them.
    shared = events.select(pl.col("request_id").hash().is_duplicated() & _HAS_REQ).to_series()
    out = events.with_columns(own.alias("_own_id"), cand.alias("_cand"), resource_expr().alias("_resource"))
    single = out.with_columns(pl.col("_cand").fill_null(False).alias("is_action"),
                              pl.col("is_error").alias("_req_failed"))
    if not shared.any():
        return single.drop("_cand")
    # the per-request windows run over the shared ids' rows and the columns
    # they read; their results are put back in place, so every other column
    # keeps its buffers (a filter and re-sort of whole rows copied the frame)
    rows = shared.arg_true()
    # Smaller rank wins: explicit action first, then the earliest row (the
    # gathered rows keep their order, so a position among them orders them).
    rank = pl.when("_cand").then(fmt_access.cast(pl.Int64) * (1 << 40) + pl.int_range(pl.len(), dtype=pl.Int64))
    linked = out.select("request_id", "user", "session", "_cand", "format", "is_error").gather(rows).with_columns(
        rank.alias("_rank")).select(
        pl.col("user").fill_null(pl.col("user").drop_nulls().first().over("request_id")),
        pl.col("session").fill_null(pl.col("session").drop_nulls().first().over("request_id")),
        (pl.col("_cand") & (pl.col("_rank") == pl.col("_rank").min().over("request_id"))).fill_null(False)
        .alias("is_action"),
        pl.col("is_error").any().over("request_id").alias("_req_failed"),
    )
    # a column is read with ``select`` (``get_column`` would materialize a
    # constant column in the frame for good) and replaced only when changed
    changed = []
    for c in linked.columns:
        old = single.select(c).to_series()
        new = put(old, rows, linked.get_column(c))
        if new is not old:
            changed.append(new)
    return single.with_columns(changed).drop("_cand")


def put(column: pl.Series, rows: pl.Series, values: pl.Series) -> pl.Series:
    """``column`` with ``values`` at ``rows`` where they differ from it.

    The column's other values keep their buffers (strings are not copied:
    on 10M session ids, 0.18 GB against 0.46 GB for a ``coalesce``).

    >>> put(pl.Series(["a", None, None]), pl.Series([1, 2], dtype=pl.UInt32), pl.Series(["b", None])).to_list()
    ['a', 'b', None]
    """
    old = column.gather(rows)
    changed = old.ne_missing(values)
    if not changed.any():
        return column
    return column.clone().scatter(rows.filter(changed), values.filter(changed))


def request_resources(events: pl.DataFrame) -> pl.DataFrame:
    """``request_id`` -> ``resources`` (sorted unique list) over linked rows."""
    return (
        events.filter(_HAS_REQ & pl.col("_resource").is_not_null())
        .group_by("request_id")
        .agg(pl.col("_resource").unique().sort().alias("resources"))
    )
