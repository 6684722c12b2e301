r"""Sessions: which user session each event belongs to, and each session's
ordered actions.

``session_key`` is the ``session`` field when present (after request
linking filled it in); else ``user#n``, the user's events split wherever
they pause longer than ``session_gap_s``; else, for access-log rows, the
client (``remote_addr`` and ``user_agent`` from ``attrs``) split the same way
as ``<addr> <agent>#n``.  Rows of a request without an identity of their own
(cache, db) take their request's key.  Other rows belong to no session
(null).

With a *session pattern* (``--session-pattern``, for HDFS ``blk_-?\d+``),
:func:`sessions_from_pattern` first fills ``session`` from the message of
rows without one, in any format: the first match, or its first capture
group when the pattern has one.  Those rows then have a session of their
own, so their (template) actions are user actions.
"""

from __future__ import annotations

import polars as pl

from ..ingest.formats import access_formats
from ..errors import UsageError
from .linking import put, request_resources

_SESSION_COLUMNS = {
    "session_key": pl.String(),
    "user": pl.String(),
    "start": pl.Datetime("us", "UTC"),
    "end": pl.Datetime("us", "UTC"),
    "n_actions": pl.UInt32(),
    "first_error": pl.Datetime("us", "UTC"),
}


def session_pattern_group(pattern: str) -> int:
    r"""The group of ``pattern`` that holds the session id: 1 when it has a
    capture group, else 0 (the whole match).

    Raises
    ------
    UsageError
        The pattern is not a valid (Rust/Polars) regular expression, or
        matches the empty string (every row would be one session).

    Examples
    --------
    >>> session_pattern_group(r"blk_-?\d+"), session_pattern_group(r"session=(\w+)")
    (0, 1)
    """
    probe = pl.DataFrame({"m": [""]}, schema={"m": pl.String})
    try:
        groups = probe.select(pl.col("m").str.extract_groups(pattern)).to_series().dtype
        empty = probe.select(pl.col("m").str.contains(pattern)).item()
    except Exception as exc:  # polars raises ComputeError for a bad regex
        raise UsageError(f"--session-pattern is not a valid regular expression: {exc}") from None
    if empty:
        raise UsageError(f"--session-pattern {pattern!r} matches an empty message; make it match the id itself")
    return 1 if len(groups.fields) else 0


def sessions_from_pattern(events: pl.DataFrame, pattern: str | None) -> pl.DataFrame:
    r"""Fill ``session`` from the message where it is null (see module docstring).

    Examples
    --------
    >>> import polars as pl
    >>> from forensics.schema import conform
    >>> ev = conform(pl.DataFrame({"message": ["Receiving blk_-7 src", "Deleting blk_9 file /d/blk_9", "idle"],
    ...                            "session": [None, None, None]}))
    >>> sessions_from_pattern(ev, r"blk_-?\d+").get_column("session").to_list()
    ['blk_-7', 'blk_9', None]
    """
    if not pattern:
        return events
    group = session_pattern_group(pattern)
    found = pl.col("message").str.extract(pattern, group)
    return events.with_columns(
        pl.coalesce(pl.col("session"), pl.when(found != "").then(found)).alias("session"))


def _gap_split(frame: pl.DataFrame, ident: str, gap_s: float) -> pl.DataFrame:
    """``_row`` -> ``<ident>#n`` (1-based), a new n after each pause > gap."""
    gap = pl.duration(microseconds=int(gap_s * 1_000_000))
    part = frame.select("_row", ident, "ts").sort(ident, "ts", "_row")
    n = ((pl.col("ts").diff() > gap).fill_null(False).cum_sum() + 1).over(ident)
    return part.select("_row", pl.concat_str([pl.col(ident), pl.lit("#"), n.cast(pl.String)]).alias("_k"))


def assign_sessions(events: pl.DataFrame, *, session_gap_s: float = 1800.0) -> pl.DataFrame:
    """Add ``session_key`` to linked events (see module docstring).

    Examples
    --------
    >>> import polars as pl
    >>> from datetime import datetime, timedelta, timezone
    >>> from forensics.schema import conform
    >>> t = datetime(2023, 11, 2, 16, 0, tzinfo=timezone.utc)
    >>> ev = conform(pl.DataFrame({"ts": [t, t + timedelta(minutes=5), t + timedelta(hours=2)],
    ...                            "user": ["u1", "u1", "u1"]}))
    >>> assign_sessions(ev).get_column("session_key").to_list()
    ['u1#1', 'u1#1', 'u1#2']
    """
    ev = events.with_row_index("_row")
    # only the columns the split reads: the subsets are not copies of every column
    by_user = ev.select("_row", "session", "user", "ts").filter(pl.col("session").is_null() & pl.col("user").is_not_null())
    client = pl.concat_str(
        [pl.col("attrs").str.json_path_match("$.remote_addr").fill_null("-"),
         pl.col("attrs").str.json_path_match("$.user_agent").fill_null("-")],
        separator=" ",
    )
    has_client = (
        pl.col("attrs").str.json_path_match("$.remote_addr").is_not_null()
        | pl.col("attrs").str.json_path_match("$.user_agent").is_not_null()
    )
    by_client = (
        ev.select("_row", "session", "user", "format", "attrs", "ts")
        .filter(pl.col("session").is_null() & pl.col("user").is_null() & pl.col("format").is_in(access_formats()))
        .filter(has_client)
        .with_columns(client.alias("_client"))
    )
    keys = pl.concat([_gap_split(by_user, "user", session_gap_s), _gap_split(by_client, "_client", session_gap_s)])
    # the derived keys are put into a copy of ``session`` at their rows: the
    # session ids keep their buffers (a coalesce copied every string)
    # (read with ``select``: ``get_column`` would materialize a constant ``session`` in the frame)
    session = ev.select("session").to_series()
    key = put(session, keys.get_column("_row"), keys.get_column("_k")) if keys.height else session
    ev = ev.drop("_row").with_columns(pl.col("session").alias("session_key") if key is session else
                                      key.alias("session_key"))
    orphan = pl.col("session_key").is_null() & pl.col("request_id").is_not_null()
    if ev.select(orphan.any()).item():
        ev = ev.with_columns(
            pl.col("session_key").fill_null(
                pl.when(pl.col("request_id").is_not_null())
                .then(pl.col("session_key").drop_nulls().first().over("request_id"))
            )
        )
    return ev


def session_index(keys: pl.Series) -> pl.Series:
    """Per row, the rank of its ``session_key`` among the sorted distinct keys
    (UInt32, null where the key is null): sorting by it is sorting by the key,
    grouping by it is grouping by the key, and both compare integers, not
    strings.  The keys are hashed once (``unique``) and only the distinct
    keys, one per session, are sorted.

    Examples
    --------
    >>> import polars as pl
    >>> session_index(pl.Series(["b#1", None, "a#1", "b#1"])).to_list()
    [1, None, 0, 1]
    """
    ranks = keys.drop_nulls().unique().sort().to_frame("session_key").with_row_index("_sidx")
    return (keys.to_frame("session_key").join(ranks, on="session_key", how="left", maintain_order="left")
            .get_column("_sidx"))


def build_actions(events: pl.DataFrame, *, sidx: pl.Series | None = None) -> pl.DataFrame:
    """One row per user action, sorted by ``session_key, ts`` (ties by source, line).

    ``events`` must be sorted by ``ts, source, line`` (as :func:`build_timeline` has them);
    ``sidx``: :func:`session_index` of its ``session_key`` (computed when not given).

    Columns: ``seq``, ``failed``, ``resources``, then ``row``: the action's
    row in ``events``.  :func:`action_rows` fetches its event columns
    (``session_key``, ``ts``, ``action``, ``user``, ``request_id``...): the
    table holds no copy of them (on 9.9M actions, 0.4 GB less while mining).
    """
    resources = request_resources(events)
    cols = ["_req_failed", "_resource"]
    if sidx is None:
        sidx = session_index(events.get_column("session_key"))
    rows = (events.get_column("is_action") & sidx.is_not_null()).arg_true()
    if events.get_column("ts").gather(rows).null_count() == 0:
        # the rows come in ts, source, line order: a stable sort of their
        # session ranks gives the order, and each column is gathered once
        order = rows.gather(sidx.gather(rows).to_frame("r").select(pl.arg_sort_by("r", maintain_order=True)).to_series())
        acts = events.select(pl.col(cols).gather(order)).with_columns(order.alias("row"))
        ranks = sidx.gather(order)
    else:
        acts = events.select(*cols, "ts", "source", "line").with_columns(
            sidx.alias("_sidx"), pl.int_range(pl.len(), dtype=pl.get_index_type()).alias("row"))
        acts = acts.filter(events.get_column("is_action") & sidx.is_not_null()).sort("_sidx", "ts", "source", "line")
        ranks = acts.get_column("_sidx")
        acts = acts.drop("_sidx", "ts", "source", "line")
    if resources.height:
        # only the request id is joined (a join gathers every column it
        # carries); ``resources`` has one row per request id
        rid = events.get_column("request_id").gather(acts.get_column("row")).to_frame()
        linked = rid.join(resources, on="request_id", how="left", maintain_order="left")
        acts = acts.with_columns(linked.get_column("resources"))
    else:
        acts = acts.with_columns(pl.lit(None, dtype=pl.List(pl.String)).alias("resources"))
    own = pl.when(pl.col("_resource").is_not_null()).then(pl.concat_list(pl.col("_resource")))
    return acts.with_columns(_run_positions(ranks).alias("seq")).select(
        "seq",
        pl.col("_req_failed").alias("failed"),
        pl.coalesce(pl.col("resources"), own, pl.lit([], dtype=pl.List(pl.String))).alias("resources"),
        "row",
    )


def action_rows(actions: pl.DataFrame, events: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """``actions`` (rows of :func:`build_actions`) with ``columns`` of their
    events added: the action table carries each action's ``row`` in
    ``events`` instead of copies of the columns read for a few actions or
    once (on 4.7M actions, 340 MB less at the miner's peak).  A column the
    table has already (one built by hand, or added before) is kept as it is.

    >>> import polars as pl
    >>> ev = pl.DataFrame({"source": ["a.log", "b.log"], "line": [7, 9]})
    >>> action_rows(pl.DataFrame({"action": ["buy"], "row": [1]}), ev, ["source", "line"]).row(0)
    ('buy', 1, 'b.log', 9)
    """
    missing = [c for c in columns if c not in actions.columns]
    if not missing:
        return actions
    return actions.with_columns(events.select(pl.col(missing).gather(actions.get_column("row"))))


def session_actions(actions: pl.DataFrame, events: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """The rows of ``actions`` whose event's ``session_key`` is one of
    ``keys``, in the table's order (the session key is read from
    ``events``, for the actions of those sessions only).

    >>> import polars as pl
    >>> ev = pl.DataFrame({"session_key": ["s1", "s2", "s1"]})
    >>> session_actions(pl.DataFrame({"seq": [0, 1, 0], "row": [0, 2, 1]}), ev, ["s1"])["row"].to_list()
    [0, 2]
    """
    if "session_key" in actions.columns:
        return actions.filter(pl.col("session_key").is_in(pl.Series(keys, dtype=pl.String).implode()))
    rows = events.select(pl.arg_where(pl.col("session_key").is_in(pl.Series(keys, dtype=pl.String).implode())))
    return actions.filter(pl.col("row").is_in(rows.to_series().cast(actions.schema["row"]).implode()))


def _run_positions(ranks: pl.Series) -> pl.Series:
    """0, 1, 2... within each run of equal consecutive ``ranks`` (UInt32):
    an action's position in its session when the actions are in session order."""
    n = ranks.len()
    pos = pl.int_range(n, eager=True, dtype=pl.Int64)
    new = ranks.ne_missing(ranks.shift(1)) if n else pl.Series(dtype=pl.Boolean)
    first = pl.select(pl.when(new).then(pos).forward_fill()).to_series() if n else pos
    return (pos - first).cast(pl.UInt32)


def build_sessions(events: pl.DataFrame, *, sidx: pl.Series | None = None) -> pl.DataFrame:
    """One row per session key: user, start, end, action count, first linked error.

    ``sidx``: :func:`session_index` of the events' ``session_key`` (computed
    when not given): the rows are grouped by it, an integer.
    """
    if events.height == 0:
        return pl.DataFrame(schema=_SESSION_COLUMNS)
    if sidx is None:
        sidx = session_index(events.get_column("session_key"))
    per = (
        events.lazy().select("session_key", "user", "ts", "is_action", "is_error").with_columns(sidx.alias("_sidx"))
        .filter(pl.col("_sidx").is_not_null())
        .group_by("_sidx")
        .agg(
            pl.col("session_key").first(),
            pl.col("user").drop_nulls().first(),
            pl.col("ts").min().alias("start"),
            pl.col("ts").max().alias("end"),
            pl.col("is_action").sum().cast(pl.UInt32).alias("n_actions"),
            pl.col("ts").filter(pl.col("is_error")).min().alias("first_error"),
        )
    )
    return per.drop("_sidx").sort("start", "session_key").cast(_SESSION_COLUMNS).collect()
