"""Which events are errors, and a short signature (``error_kind``) per error.

An event is an error (``is_error``) when any of these holds:

* its level is ``error`` or ``fatal`` (ignored on HTTP 4xx rows, whose level
  is usually derived from the status: see ``client_errors``);
* its HTTP status is 5xx;
* an outcome field in ``attrs`` (``result``, ``outcome``, ``status``,
  ``state``) says error / fail / failed / failure / timeout / exception;
* the message carries an exception or a traceback (a class name ending in
  ``Exception``, a class name ending in ``Error:``, ``Traceback (most recent
  call last)``, a Java ``\\n\\tat `` frame).

HTTP 4xx rows are ``is_client_error``; they count as errors only with
``client_errors=True``.

``error_kind`` groups identical errors: ``component: <masked first line of
the message>`` (ids, numbers, hex, UUIDs, paths, quoted values, e-mails and
IP addresses masked), or ``component: HTTP <status> <route>`` for access-log rows
(and rows without a message).  Client errors get a kind too; other rows null.
"""

from __future__ import annotations

import polars as pl

from ..ingest.formats import access_formats

#: Outcome fields, in lower case or capitalized (``Result`` in a SIEM export).
OUTCOME_FIELDS = ("result", "outcome", "status", "state")
_OUTCOME_KEYS = tuple(k for name in OUTCOME_FIELDS for k in (name, name.capitalize()))
_OUTCOME_ERR = r"^(?:error|errors|err|fail|failed|failure|timeout|timed[ _-]?out|exception)$"
_OUTCOME_HINT = '"(?:' + "|".join(_OUTCOME_KEYS) + ')"'
#: Every ``attrs`` key the timeline reads (outcome fields here, the client
#: address and user agent in :mod:`forensics.timeline.sessions`).
ATTRS_READ = '"(?:' + "|".join((*_OUTCOME_KEYS, "remote_addr", "user_agent")) + ')"'
_EXCEPTION = (
    r"\w*Exception\b|\b[A-Z]\w*Error:|Traceback \(most recent call last\)|\n\s*at [\w$.<>]+\("
    r"|\n\tat "
)
#: Longest ``error_kind`` (characters of the masked message).
KIND_MAX = 100

# Masks applied in order (polars regex: no look-around).
_MASKS: tuple[tuple[str, str], ...] = (
    (r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", "<email>"),
    (r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b", "<uuid>"),
    (r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b", "<ip>"),
    (r'"(?:[^"\\]|\\.)*"', '"<v>"'),
    (r"'(?:[^'\\]|\\.)*'", "'<v>'"),
    (r"(?:[A-Za-z][\w+.-]*://[^\s/]*)?(?:/[\w.~%+@-]*){2,}|/[\w.~%+@-]*\d[\w.~%+@-]*", "<path>"),
    (r"\b0x[0-9a-fA-F]+\b", "<hex>"),
    (r"\b[0-9a-fA-F]{12,}\b", "<hex>"),
    (r"\b\d+\.\d+", "<n>"),
    (r"\b[A-Za-z_-]*\d[\w-]*\b", "<n>"),
    (r"\s+", " "),
)


def mask_message(expr: pl.Expr) -> pl.Expr:
    """The first line of a message with variable parts masked.

    Examples
    --------
    >>> import polars as pl
    >>> df = pl.DataFrame({"m": ["user 42 at 10.0.0.1 failed: 'abc' /a/b/c.txt\\nnext"]})
    >>> df.select(mask_message(pl.col("m"))).item()
    "user <n> at <ip> failed: '<v>' <path>"
    """
    out = expr.str.extract(r"^\s*([^\n]*)", 1)
    for pattern, repl in _MASKS:
        out = out.str.replace_all(pattern, repl)
    return out.str.strip_chars().str.slice(0, KIND_MAX)


def error_exprs(*, client_errors: bool = False) -> dict[str, pl.Expr]:
    """Expressions for ``is_error``, ``is_client_error`` and ``error_kind``
    (the last needs ``_masked``, the masked message: see :func:`mark_errors`).

    Examples
    --------
    >>> import polars as pl
    >>> from forensics.schema import conform
    >>> df = conform(pl.DataFrame({"component": ["db", "web"], "level": ["error", "warn"], "status": [None, 404],
    ...                            "message": ["timeout after 30 ms", None], "format": ["plain", "access"]}))
    >>> mark_errors(df).select("is_error", "is_client_error", "error_kind").rows()
    [(True, False, 'db: timeout after <n> ms'), (False, True, 'web: HTTP 404')]
    """
    status = pl.col("status")
    client = (status >= 400) & (status < 500)
    level_err = pl.col("level").is_in(["error", "fatal"]) & ~client.fill_null(False)
    outcome = pl.lit(False)
    for name in _OUTCOME_KEYS:
        val = pl.col("attrs").str.json_path_match(f"$.{name}").str.strip_chars().str.to_lowercase()
        outcome = outcome | val.str.contains(_OUTCOME_ERR).fill_null(False)
    # Parse JSON only where an outcome field is mentioned at all.
    outcome = pl.when(pl.col("attrs").str.contains(_OUTCOME_HINT).fill_null(False)).then(outcome).otherwise(False)
    exc = pl.col("message").str.contains(_EXCEPTION).fill_null(False)
    server = level_err.fill_null(False) | (status >= 500).fill_null(False) | outcome | exc
    is_client = client.fill_null(False)
    is_error = server | is_client if client_errors else server
    comp = pl.col("component").fill_null("?")
    http_kind = pl.concat_str(
        [comp, pl.lit(": HTTP "), status.cast(pl.String),
         pl.when(pl.col("action").is_not_null()).then(pl.lit(" ") + pl.col("action")).otherwise(pl.lit(""))]
    )
    masked = pl.col("_masked")
    msg_kind = pl.concat_str([comp, pl.lit(": "), masked])
    use_http = status.is_not_null() & (pl.col("format").is_in(access_formats()).fill_null(False) | masked.is_null() | (masked == ""))
    kind = (
        pl.when(~(is_error | is_client)).then(None)
        .when(use_http).then(http_kind)
        .when(masked.is_not_null() & (masked != "")).then(msg_kind)
        .otherwise(pl.concat_str([comp, pl.lit(": "), pl.col("level").fill_null("error")]))
    )
    return {"is_error": is_error, "is_client_error": is_client, "error_kind": kind}


def mark_errors(events: pl.DataFrame, *, client_errors: bool = False) -> pl.DataFrame:
    """``events`` with ``is_error``, ``is_client_error`` and ``error_kind`` added.

    Kinds are computed on the error rows only (masking is the costly part).
    """
    ex = error_exprs(client_errors=client_errors)
    flagged = events.with_columns(is_error=ex["is_error"], is_client_error=ex["is_client_error"])
    hit = pl.col("is_error") | pl.col("is_client_error")
    idx = flagged.with_row_index("_i").filter(hit)
    kinds = idx.with_columns(mask_message(pl.col("message")).alias("_masked")).select(
        "_i", ex["error_kind"].alias("error_kind")
    )
    kind = pl.repeat(None, events.height, dtype=pl.String, eager=True).alias("error_kind").scatter(kinds["_i"], kinds["error_kind"])
    return flagged.with_columns(kind)
