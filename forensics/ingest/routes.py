"""Access-log routes: ``METHOD /path`` with the query dropped and the path
segments that are ids masked as ``{id}``, so that requests for different
objects of one kind share an action (``GET /users/{id}``) while file names and
words stay as they are (``GET /static/style2.css``, ``GET /api/v2/items``).
"""

from __future__ import annotations

import polars as pl

__all__ = ["mask_segment", "mask_route", "route_action"]

#: A whole path segment that is an id (see :func:`mask_segment`).
ID_DIGITS = r"^\d+$"
ID_UUID = r"^[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$"
ID_HEX = r"^[0-9a-fA-F]{8,}$"
ID_TOKEN = r"^[A-Za-z0-9_.-]{8,}$"
#: ... unless it is a file name (``style2.css``, ``app.4f2a9c1e.js``) or a
#: word with a digit or two (``oauth2callback``, ``chapter12``).
FILE_NAME = r"\.[A-Za-z][A-Za-z0-9]{0,7}$"
WORD_WITH_DIGIT = r"^[A-Za-z][a-z]*\d{1,2}[a-z]*$"
#: ... or a dotted name of such words (a gRPC service, ``orders.v1.OrderService``).
QUALIFIED_NAME = r"^[A-Za-z]+\d{0,2}[A-Za-z]*(?:\.[A-Za-z]+\d{0,2}[A-Za-z]*)+$"


def mask_segment(seg: pl.Expr) -> pl.Expr:
    """``{id}`` for a path segment that is an id, else the segment.

    An id is all digits (``123``), a UUID, a hex token of 8+ characters with a
    digit (``9f1c2e7a``), or a token of 8+ letters, digits and ``-_.`` with a
    digit (``ab12cd34ef``, ``SKU-16993``, ``2023-11-02``) that is not a file
    name with an extension (``style2.css``), a word with a digit or two
    (``oauth2callback``) or a dotted name of such words (the gRPC service
    ``orders.v1.OrderService``).  Short words with a digit (``v2``) are kept.

    Examples
    --------
    >>> import polars as pl
    >>> segs = ["123", "style2.css", "v2", "9f1c2e7a", "oauth2callback", "ORD-4058324", "orders.v1.OrderService"]
    >>> pl.DataFrame({"s": segs}).select(mask_segment(pl.col("s"))).to_series().to_list()
    ['{id}', 'style2.css', 'v2', '{id}', 'oauth2callback', '{id}', 'orders.v1.OrderService']
    """
    has_digit = seg.str.contains(r"\d")
    token = (seg.str.contains(ID_TOKEN) & ~seg.str.contains(FILE_NAME) & ~seg.str.contains(WORD_WITH_DIGIT)
             & ~seg.str.contains(QUALIFIED_NAME))
    is_id = (
        seg.str.contains(ID_DIGITS)
        | seg.str.contains(ID_UUID)
        | (has_digit & (seg.str.contains(ID_HEX) | token))
    )
    return pl.when(is_id).then(pl.lit("{id}")).otherwise(seg)


def route_action(method: pl.Expr, path: pl.Expr) -> pl.Expr:
    """``METHOD /route`` with ids masked as ``{id}`` and the query string dropped.

    Examples
    --------
    >>> import polars as pl
    >>> df = pl.DataFrame({"m": ["GET"], "p": ["/course/123/lecture/ab12cd34ef?x=1"]})
    >>> df.select(route_action(pl.col("m"), pl.col("p"))).item()
    'GET /course/{id}/lecture/{id}'
    """
    return pl.concat_str([method, mask_route(path)], separator=" ")


def mask_route(path: pl.Expr) -> pl.Expr:
    """The path part of :func:`route_action`: query dropped, id segments masked."""
    return path.str.replace(r"[?#].*$", "").str.split("/").list.eval(mask_segment(pl.element())).list.join("/")
