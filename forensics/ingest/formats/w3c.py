"""W3C extended log files: IIS, and CloudFront standard logs read the same way.

A file names its fields in a ``#Fields:`` directive, among other directives
(``#Software:``, ``#Version:``, ``#Date:``, ``#Remark:``...)::

    #Software: Microsoft Internet Information Services 10.0
    #Version: 1.0
    #Date: 2026-03-14 11:00:00
    #Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken
    2026-03-14 11:00:01 10.0.0.5 GET /orders/42 view=full 443 alice 203.0.113.9 Mozilla/5.0+(Windows+NT+10.0) - 200 0 0 15

Each data line is read with the latest ``#Fields:`` above it (the fields may
change mid-file: IIS writes a new directive block when it restarts or its
logging settings change).  Fields are separated by spaces (IIS writes ``+``
for a space inside a value) or, on lines with a tab, by tabs (CloudFront).
``-`` is null.  Directive lines carry no event and are not damage: they are
counted with the blank lines.  A data line before any ``#Fields:`` (the later
chunks of a large file, an appended tail) is read with the documented default
field list when its field count fits it (IIS: 15 space-separated fields;
CloudFront: 33 tab-separated ones), else it is malformed, as are lines whose
field count differs from their ``#Fields:`` and ``#`` lines that are not
directives.

Canonical columns: ``ts`` from ``date`` and ``time`` (UTC, as both IIS and
CloudFront write them; without a ``date`` field, the date of the latest
``#Date:``), ``status`` (``sc-status``), ``user`` (``cs-username``),
``latency_ms`` from ``time-taken`` (milliseconds in IIS, seconds in
CloudFront: a block is CloudFront when it has ``x-edge-*`` fields),
``request_id`` (``x-edge-request-id``, or a ``cs(X-Request-ID)``,
``cs(X-Correlation-ID)``, ``cs(Request-Id)`` or ``cs(X-Amzn-Trace-Id)``
header field), ``component`` (CloudFront: ``cs(Host)``, the distribution),
``action`` = ``METHOD /route`` (``cs-uri-stem``, else ``cs-uri``; ids masked),
``message`` = ``METHOD path?query PROTOCOL``, ``level`` from the status (5xx
error, 4xx warn, else info, also without a status).  ``attrs``: ``remote_addr`` (``c-ip``),
``user_agent``, ``referer``, ``method``, ``path`` (with the query),
``protocol`` (``cs-version``/``cs-protocol-version``), ``bytes``
(``sc-bytes``), and every other field under its name in lower case with
``-``/``()`` as ``_`` (``sc-substatus`` -> ``sc_substatus``,
``cs(Cookie)`` -> ``cs_cookie``).
"""

from __future__ import annotations

import re

import polars as pl

from ..normalize import select_rows
from ..options import IngestOptions
from .base import ParseResult, reject, split_blank
from .http_fields import assemble, level_from_status, nil, no_events, route_actions, route_of

NAME = "w3c"
DESCRIPTION = "W3C extended logs with #Fields directives: IIS (and CloudFront standard logs)"
CONTINUATION_LINES = False
#: An HTTP access log: sessions by client, request rows as actions (formats.access_formats).
ACCESS_LOG = True
#: The #Fields directive above a line names its fields: a file is parsed alone and whole.
PER_FILE = True
EXAMPLE = "2026-03-14 11:00:01 10.0.0.5 GET /orders/42 view=full 443 alice 203.0.113.9 Mozilla/5.0 - 200 0 0 15"

#: A directive line: ``#Name: value``.
DIRECTIVE = r"^#[A-Za-z][A-Za-z-]*:"


def carried_head(texts: pl.Series) -> list[str]:
    """The directive lines a later piece of the file needs in front of it to
    be read as the whole file is (``forensics watch`` parses appended lines):
    the block of ``#`` directives around the last ``#Fields:`` of ``texts``
    (the file's lines from its start, or from the head carried so far); none
    when it has no ``#Fields:`` (the default fields apply).

    >>> carried_head(pl.Series(["#Version: 1.0", "#Fields: date time", "2026-03-14 11:00:01",
    ...                         "#Date: 2026-03-15", "#Fields: date time sc-status", "2026-03-15 00:00:01 200"]))
    ['#Date: 2026-03-15', '#Fields: date time sc-status']
    """
    fields = texts.str.starts_with("#Fields:").arg_true()
    if fields.len() == 0:
        return []
    lo = max(int(fields[-1]) - 64, 0)
    near = texts.slice(lo, 129)  # a directive block is a few lines
    directive = near.str.contains(DIRECTIVE).to_list()
    start = end = int(fields[-1]) - lo
    while start > 0 and directive[start - 1]:
        start -= 1
    while end < len(directive) and directive[end]:
        end += 1
    return near.slice(start, end - start).to_list()


#: IIS's default field list (when a data line comes before any ``#Fields:``).
IIS_FIELDS = ("date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) "
              "cs(Referer) sc-status sc-substatus sc-win32-status time-taken")
#: CloudFront's standard log fields (33, tab-separated).
CLOUDFRONT_FIELDS = (
    "date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) cs(User-Agent) "
    "cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id x-host-header cs-protocol cs-bytes time-taken "
    "x-forwarded-for ssl-protocol ssl-cipher x-edge-response-result-type cs-protocol-version fle-status "
    "fle-encrypted-fields c-port time-to-first-byte x-edge-detailed-result-type sc-content-type sc-content-len "
    "sc-range-start sc-range-end"
)
_REQUEST_ID_FIELDS = ("x-edge-request-id", "cs(x-request-id)", "cs(x-correlation-id)", "cs(request-id)",
                      "cs(x-amzn-trace-id)")
#: Fields given canonical or access-log names (lower case).
_NAMED = {"c-ip": "remote_addr", "cs(user-agent)": "user_agent", "cs(referer)": "referer", "cs-method": "method",
          "cs-version": "protocol", "cs-protocol-version": "protocol"}
_USED = {"date", "time", "cs-uri-stem", "cs-uri", "cs-uri-query", "sc-status", "time-taken", "cs-username",
         "sc-bytes", *_REQUEST_ID_FIELDS}
_DATA_START = re.compile(r"^\d{4}-\d{2}-\d{2}[ \t]\d{2}:\d{2}:\d{2}")


def fields_score(sample: list[str]) -> tuple[float, bool]:
    """How well the sample reads as a W3C extended log: the share of lines
    that are directives or data lines with the field count of their
    ``#Fields:`` (or of a default list), and whether it is CloudFront
    (``x-edge-*`` fields, or 33 tab-separated fields).

    Examples
    --------
    >>> fields_score(["#Version: 1.0", "#Fields: date time sc-status", "2026-03-14 11:00:01 200"])
    (1.0, False)
    """
    fields: list[str] | None = None
    hits, cloudfront = 0, False
    for s in sample:
        if s.startswith("#Fields:"):
            fields = s[len("#Fields:"):].split()
            cloudfront = cloudfront or any(f.startswith("x-edge-") for f in fields)
            hits += 1
        elif re.match(DIRECTIVE, s):
            hits += 1
        elif _DATA_START.match(s):
            parts = s.split("\t") if "\t" in s else s.split(" ")
            if fields is not None:
                hits += len(parts) == len(fields)
            elif "\t" in s and len(parts) == len(CLOUDFRONT_FIELDS.split()):
                hits, cloudfront = hits + 1, True
            elif "\t" not in s and len(parts) == len(IIS_FIELDS.split()) and parts[11].isdigit():
                hits += 1
    return (hits / len(sample) if sample else 0.0), cloudfront


def sniff(sample: list[str]) -> float:
    """:func:`fields_score`, 0 for CloudFront files (the ``alb`` format
    claims those, reading them with :func:`parse`)."""
    score, cloudfront = fields_score(sample)
    return 0.0 if cloudfront else score


def _attr_name(field: str) -> str:
    """``cs(User-Agent)`` -> ``cs_user_agent``, ``x-edge-location`` -> ``x_edge_location``."""
    return re.sub(r"[^a-z0-9]+", "_", field.lower()).strip("_") or "field"


#: Header keys of the default field lists (a ``#Fields:`` directive's key is its line).
_IIS_KEY, _CLOUDFRONT_KEY = -1, -2


def _mark(body: pl.DataFrame) -> tuple[pl.DataFrame, dict[int, str]]:
    """Each line with the line of the latest ``#Fields:`` above it (``_key``)
    and the date of the latest ``#Date:``; and the header of each key (the
    default lists included)."""
    text = pl.col("text")
    fields = text.str.starts_with("#Fields:")
    headers = dict(body.filter(fields).select("line", text.str.slice(8).str.strip_chars()).iter_rows())
    headers.update({_IIS_KEY: IIS_FIELDS, _CLOUDFRONT_KEY: CLOUDFRONT_FIELDS})
    marked = body.with_columns(
        pl.when(fields).then(pl.col("line")).forward_fill().alias("_key"),
        pl.when(text.str.starts_with("#Date:")).then(text.str.extract(r"(\d{4}-\d{2}-\d{2})", 1))
        .forward_fill().alias("_date"),
    )
    return marked, headers


def _split(data: pl.DataFrame) -> pl.DataFrame:
    """``_parts``: the fields of each data line (tab-separated when it has a tab)."""
    text = pl.col("text")
    tab = text.str.contains("\t", literal=True)
    tabs = data.select(tab.sum()).item()
    if tabs == 0:
        parts, tab = text.str.split(" "), pl.lit(False)
    elif tabs == data.height:
        parts, tab = text.str.split("\t"), pl.lit(True)
    else:
        parts = pl.when(tab).then(text.str.split("\t")).otherwise(text.str.split(" "))
    return select_rows(data, "line", "_key", "_date", parts.alias("_parts"), tab.alias("_tab"))


def _data(marked: pl.DataFrame, headers: dict[int, str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Data lines split into their fields (``_parts``) under their header
    (``_header``: a key of ``headers``), and the rejected ones."""
    data = _split(marked)
    n = pl.col("_parts").list.len()
    default = (pl.when(pl.col("_tab") & (n == len(CLOUDFRONT_FIELDS.split()))).then(pl.lit(_CLOUDFRONT_KEY))
               .when(~pl.col("_tab") & (n == len(IIS_FIELDS.split()))).then(pl.lit(_IIS_KEY)))
    data = data.with_columns(pl.coalesce(pl.col("_key"), default).alias("_header"))
    counts = {k: len(v.split()) for k, v in headers.items()}
    want = pl.col("_header").replace_strict(counts, default=None, return_dtype=pl.Int64)
    ok = (n == want).fill_null(False)
    bad = data.filter(~ok).join(marked.select("line", "text"), on="line", how="left")
    reason = (
        pl.when(pl.col("_header").is_null())
        .then(pl.lit("data line before any `#Fields:` directive (a W3C extended log names its fields first), "
                     "and not the IIS or CloudFront default fields: found ") + n.cast(pl.String) + pl.lit(" fields"))
        .when(pl.col("_key").is_null())
        .then(pl.lit("expected ") + want.cast(pl.String) + pl.lit(" fields (the default list), found ")
              + n.cast(pl.String))
        .otherwise(pl.lit("expected ") + want.cast(pl.String) + pl.lit(" fields (the `#Fields:` directive on line ")
                   + pl.col("_key").cast(pl.String) + pl.lit("), found ") + n.cast(pl.String))
    )
    return data.filter(ok), reject(bad, reason)


def _named(block: pl.DataFrame, names: list[str]) -> pl.DataFrame:
    """One column per field of the header (``-`` null), plus ``line`` and ``_date``."""
    seen: dict[str, int] = {}
    cols = []
    for i, name in enumerate(names):
        low = name.lower()
        seen[low] = seen.get(low, 0) + 1
        key = low if seen[low] == 1 else f"{low}#{seen[low]}"
        cols.append(nil(pl.col("_parts").list.get(i, null_on_oob=True)).alias(key))
    return block.select("line", "_date", *cols)


def _get(f: pl.DataFrame, *names: str) -> pl.Expr:
    """The first of ``names`` the block has (null if none)."""
    found = [pl.col(n) for n in names if n in f.columns]
    if not found:
        return pl.lit(None, dtype=pl.String)
    return found[0] if len(found) == 1 else pl.coalesce(found)


def _frames(f: pl.DataFrame, *, cloudfront: bool) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One header's named fields -> (raw fields for ``attrs``, canonical columns)."""
    target = _get(f, "cs-uri-stem", "cs-uri")
    query = _get(f, "cs-uri-query")
    f = f.with_columns(
        route_of(target).alias("_route"),
        pl.concat_str([target, pl.lit("?") + query], ignore_nulls=True).alias("_path"),
        _get(f, "cs-method").alias("_method"),
        _get(f, "cs-version", "cs-protocol-version").alias("_protocol"),
    )
    rest = [c for c in f.columns if c not in _USED and not c.startswith("_") and c != "line"]
    renamed: dict[str, str] = {}
    for c in rest:
        base = _NAMED.get(c) or _attr_name(c)
        if cloudfront and c == "cs(host)":
            continue
        while base in renamed.values() or base in ("line", "path", "bytes"):
            base += "_"
        renamed[c] = base
    raw = f.select("line", pl.col("_path").alias("path"),
                   _get(f, "sc-bytes").cast(pl.Int64, strict=False).alias("bytes"),
                   *[pl.col(c).alias(n) for c, n in renamed.items()])
    date = pl.coalesce(_get(f, "date"), pl.col("_date"))
    stamp = (date + pl.lit(" ") + _get(f, "time")).str.to_datetime("%Y-%m-%d %H:%M:%S%.f", strict=False,
                                                                      time_unit="us")
    taken = _get(f, "time-taken").cast(pl.Float64, strict=False)
    status = _get(f, "sc-status").cast(pl.Int32, strict=False)
    fixed = f.select(
        stamp.dt.replace_time_zone("UTC").alias("ts"),
        status.alias("status"),
        level_from_status(status).fill_null("info").alias("level"),
        _get(f, "cs-username").alias("user"),
        _get(f, *_REQUEST_ID_FIELDS).alias("request_id"),
        ((taken * 1000.0).round(3) if cloudfront else taken).alias("latency_ms"),
        pl.lit(route_actions(f, "_method", "_route")).alias("action"),
        pl.concat_str([pl.col("_method"), pl.col("_path"), pl.col("_protocol")], separator=" ", ignore_nulls=True)
        .alias("message"),
        (_get(f, "cs(host)") if cloudfront else pl.lit(None, dtype=pl.String)).alias("component"),
    )
    return raw, fixed


def parse(lines: pl.DataFrame, *, options: IngestOptions) -> ParseResult:
    """Parse W3C extended log lines (IIS, CloudFront) into canonical events.

    Examples
    --------
    >>> import polars as pl
    >>> from forensics.ingest.options import IngestOptions
    >>> t = ["#Fields: " + IIS_FIELDS, EXAMPLE]
    >>> r = parse(pl.DataFrame({"line": [1, 2], "text": t}), options=IngestOptions())
    >>> r.events.select("user", "action", "status", "latency_ms").row(0), r.blank_lines
    (('alice', 'GET /orders/{id}', 200, 15.0), 1)
    """
    body, blank = split_blank(lines)
    marked, headers = _mark(body)
    hashed = pl.col("text").str.starts_with("#")
    directive = pl.col("text").str.contains(DIRECTIVE)
    directives = marked.select(directive.sum()).item()
    odd = reject(marked.filter(hashed & ~directive),
                 "a `#` line that is not a W3C directive (`#Fields: ...`, `#Date: ...`, `#Version: ...`)")
    data, bad = _data(marked.filter(~hashed), headers)
    rejects = pl.concat([odd, bad]).sort("line")
    blank += directives
    # blocks with the same fields (IIS repeats its header after each restart) are read together
    first: dict[str, int] = {}
    same = {k: first.setdefault(v, k) for k, v in headers.items()}
    data = data.with_columns(pl.col("_header").replace_strict(same, return_dtype=pl.Int64))
    parts = []
    for key in data.get_column("_header").unique(maintain_order=True).to_list():
        names = headers[key].split()
        cloudfront = any(n.lower().startswith("x-edge-") for n in names)
        named = _named(data.filter(pl.col("_header") == key), names)
        parts.append(assemble(*_frames(named, cloudfront=cloudfront), options=options))
    if not parts:
        return no_events(rejects, blank)
    events = pl.concat(parts).sort("line") if len(parts) > 1 else parts[0]
    return ParseResult(events=events, rejects=rejects, continuation_lines=0, blank_lines=blank)
