"""Pieces shared by the proxy and load-balancer access-log formats (``alb``,
``haproxy``, ``envoy``, ``w3c``): not a format itself (it is not named in
``PRIORITY``).

They all log one HTTP request per line, so they all end the same way:

* the request line ``METHOD target PROTOCOL`` is split (:func:`split_request`),
  the origin of an absolute target (``https://host:443``) is dropped
  (:func:`route_of`) and the route masked into ``METHOD /route``
  (:func:`route_actions`, with :func:`forensics.ingest.routes.mask_route`), as
  the ``access`` format does;
* ``level`` comes from the status (:func:`level_from_status`: 5xx error, 4xx
  warn, else info);
* ``-`` (and an empty value) is null (:func:`nil`);
* the canonical columns a format computes itself are set side by side with
  what :func:`~forensics.ingest.normalize.canonicalize` makes of the other
  fields, which all land in ``attrs`` (:func:`assemble`).
"""

from __future__ import annotations

import polars as pl

from ...schema import EVENT_SCHEMA, empty_events
from ..normalize import canonicalize
from ..options import IngestOptions
from ..routes import mask_route
from .base import ParseResult

__all__ = [
    "REQUEST_LINE", "FIELD", "nil", "nil_request", "split_request", "route_of", "route_actions", "level_from_status",
    "localize",
    "assemble", "no_events", "count_fields", "found_fields",
]

#: ``METHOD target [PROTOCOL]`` (the protocol is missing from HTTP/0.9 lines).
REQUEST_LINE = r"^(?<method>[A-Z][A-Z_-]*) (?<target>\S+)(?: (?<protocol>[A-Za-z]+/[\d.]+))?$"
#: ``scheme://host[:port]`` at the start of an absolute target.
ORIGIN = r"^[A-Za-z][A-Za-z0-9+.-]*://[^/]*"
#: A quoted field (``\\"`` escapes allowed) or a bare word: one field of a
#: space-separated line (see :func:`count_fields`).
FIELD = r'"(?:[^"\\]|\\.)*"|[^"\s]\S*'


def nil(expr: pl.Expr) -> pl.Expr:
    """``-`` and the empty string -> null (how these logs write "no value")."""
    return pl.when((expr == "-") | (expr == "")).then(None).otherwise(expr)


def nil_request(request: pl.Expr) -> pl.Expr:
    """A request line as the message: null when it is only dashes (``-``,
    ``- - -`` for TCP connections, ALB's ``- - - ``)."""
    return pl.when(request.str.contains(r"^[-\s]*$")).then(None).otherwise(request)


def split_request(request: pl.Expr) -> pl.Expr:
    """A struct of ``method``, ``target``, ``protocol`` (all null when the
    request is not ``METHOD target [PROTOCOL]``, e.g. ``-`` or ``<BADREQ>``)."""
    return request.str.extract_groups(REQUEST_LINE)


def route_of(target: pl.Expr) -> pl.Expr:
    """The path of a request target: ``scheme://host:port`` dropped (load
    balancers log absolute URLs), ``/`` when nothing is left.

    Examples
    --------
    >>> import polars as pl
    >>> t = pl.Series(["https://shop.example.com:443/cart/7?x=1", "http://h:80", "/a"])
    >>> pl.select(route_of(pl.lit(t))).to_series().to_list()
    ['/cart/7?x=1', '/', '/a']
    """
    route = target.str.replace(ORIGIN, "")
    return pl.when(target.is_null()).then(None).when(route == "").then(pl.lit("/")).otherwise(route)


def route_actions(frame: pl.DataFrame, method: str, route: str) -> pl.Series:
    """``METHOD /route`` per row of ``frame`` (ids masked, query dropped; see
    :func:`forensics.ingest.routes.route_action`), null where either is null.
    Each distinct route is masked once when routes repeat (the usual case)."""
    routes = frame.select(pl.col(route).unique())
    if routes.height * 4 > frame.height:
        masked = frame.select(mask_route(pl.col(route)).alias("_masked"))
    else:
        table = routes.drop_nulls().with_columns(mask_route(pl.col(route)).alias("_masked"))
        masked = frame.select(route).join(table, on=route, how="left", maintain_order="left")
    both = pl.concat([frame.select(pl.col(method).alias("_method")), masked.select("_masked")], how="horizontal")
    return both.select(pl.concat_str(["_method", "_masked"], separator=" ").alias("action")).to_series()


def level_from_status(status: pl.Expr) -> pl.Expr:
    """5xx ``error``, 4xx ``warn``, any other status ``info``; null without one."""
    return (
        pl.when(status >= 500).then(pl.lit("error"))
        .when(status >= 400).then(pl.lit("warn"))
        .when(status.is_not_null()).then(pl.lit("info"))
        .otherwise(pl.lit(None, dtype=pl.String))
    )


def localize(naive: pl.Expr, tz: str) -> pl.Expr:
    """Naive local datetimes read in ``tz`` -> UTC (a daylight-saving gap is
    null, a fold the earlier instant), as every format reads zoneless times."""
    if tz.upper() in ("UTC", "Z", "GMT"):
        return naive.dt.replace_time_zone("UTC")
    return naive.dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null").dt.convert_time_zone("UTC")


def count_fields(text: pl.Expr) -> pl.Expr:
    """How many space-separated fields (quoted ones count as one) a line has:
    for the "found N" of a malformed line's reason."""
    return text.str.count_matches(FIELD)


def found_fields(text: pl.Expr, expected: int | None = None) -> pl.Expr:
    """``"N"``, ``"N and an unclosed quote (the line is cut short)"``, or
    ``"N, but not in that layout"`` when N is ``expected``: the end of a
    malformed line's reason.

    Examples
    --------
    >>> import polars as pl
    >>> pl.select(found_fields(pl.lit(pl.Series(['a "b c" d', 'a "b'])))).to_series().to_list()
    ['3', '2 and an unclosed quote (the line is cut short)']
    """
    quotes = text.str.replace_all(r"\\.", "").str.count_matches('"', literal=True)
    count = count_fields(text)
    n = count.cast(pl.String)
    return (
        pl.when(quotes % 2 == 1).then(n + pl.lit(" and an unclosed quote (the line is cut short)"))
        .when(count == (expected if expected is not None else -1)).then(n + pl.lit(", but not in that layout"))
        .otherwise(n)
    )


def assemble(raw: pl.DataFrame, fixed: pl.DataFrame, *, options: IngestOptions) -> pl.DataFrame:
    """Canonical events from the fields a format names (``raw``: ``line``
    plus fields that go to ``attrs``, aliases applying to canonical columns
    the format does not set) and the canonical columns it computed itself
    (``fixed``: same rows in the same order; they win).

    Returns the event columns of :class:`~forensics.ingest.formats.base.ParseResult`.
    """
    names = tuple(c for c in fixed.columns if c in EVENT_SCHEMA)
    out = canonicalize(raw, options=options, skip=names)
    typed = fixed.select(pl.col(c).cast(EVENT_SCHEMA[c], strict=False) for c in names)
    order = out.columns
    return pl.concat([out.drop(names), typed], how="horizontal").select(order)


def no_events(rejects: pl.DataFrame, blank: int) -> ParseResult:
    """A result without events (every line blank or malformed)."""
    return ParseResult(events=empty_events().drop("source", "format"), rejects=rejects, blank_lines=blank)
