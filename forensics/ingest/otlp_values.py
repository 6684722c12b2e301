"""OTLP/JSON for :mod:`forensics.ingest.formats.otlp`: the request's dtype,
``AnyValue`` as JSON text or plain text, times, ids and severities, and the
frames of records, attributes and ``attrs`` members.

The OTLP JSON encoding (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding)
writes an ``ExportLogsServiceRequest`` as ``{"resourceLogs": [{"resource":
{"attributes": [...]}, "scopeLogs": [{"scope": {...}, "logRecords": [...]}]}]}``
with lowerCamelCase keys, 64-bit integers as decimal strings (numbers are
accepted too), enums as integers and trace/span ids as hex.  An attribute is
``{"key": k, "value": AnyValue}``; an ``AnyValue`` holds one of
``stringValue``, ``boolValue``, ``intValue``, ``doubleValue``, ``bytesValue``,
``arrayValue`` (``{"values": [AnyValue]}``) or ``kvlistValue``
(``{"values": [{"key", "value"}]}``).

Every scalar is decoded as a string (``10`` and ``"10"`` alike), so that no
writer's choice between them breaks the decoding.  Nested values are decoded
to :data:`NEST` levels of arrays and maps below an attribute value (one more
for a record's body); a value nested deeper is kept as the marker
:data:`TOO_DEEP`.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from .normalize import normalize_level, parse_timestamp_series

__all__ = ["NEST", "TOO_DEEP", "any_value_dtype", "request_dtype", "json_string", "json_literals", "with_texts",
           "unix_nanos_ts", "record_times", "hex_id", "severity_level", "record_meta", "explode_records",
           "attribute_rows", "context_fragments", "fragment"]

S = pl.String
#: Levels of ``arrayValue`` / ``kvlistValue`` nesting decoded below an attribute value.
NEST = 4
#: What a value nested deeper than :data:`NEST` levels reads as.
TOO_DEEP = f"[OTLP value nested more than {NEST} levels deep]"
SCALARS = ("stringValue", "boolValue", "intValue", "doubleValue", "bytesValue")
#: A JSON number (what ``intValue`` / ``doubleValue`` may be written as verbatim).
_JSON_NUMBER = r"^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$"


def any_value_dtype(depth: int = NEST) -> pl.Struct:
    """The dtype of an ``AnyValue`` decoded ``depth`` levels deep (at depth 0
    arrays and maps are detected, not decoded)."""
    fields: dict[str, pl.DataType] = {k: S for k in SCALARS}
    if depth <= 0:
        fields["arrayValue"] = pl.Struct({})
        fields["kvlistValue"] = pl.Struct({})
    else:
        inner = any_value_dtype(depth - 1)
        fields["arrayValue"] = pl.Struct({"values": pl.List(inner)})
        fields["kvlistValue"] = pl.Struct({"values": pl.List(pl.Struct({"key": S, "value": inner}))})
    return pl.Struct(fields)


def key_values_dtype(depth: int = NEST) -> pl.List:
    """A list of attributes (``KeyValue``)."""
    return pl.List(pl.Struct({"key": S, "value": any_value_dtype(depth)}))


def request_dtype(depth: int = NEST) -> pl.Struct:
    """The dtype of an ``ExportLogsServiceRequest`` (unknown keys are ignored;
    the body is decoded one level deeper than attributes, so that the entries
    of a map body have the attributes' dtype)."""
    kv = key_values_dtype(depth)
    record = pl.Struct({
        "timeUnixNano": S, "observedTimeUnixNano": S, "severityNumber": S, "severityText": S,
        "body": any_value_dtype(depth + 1), "attributes": kv, "droppedAttributesCount": S, "flags": S,
        "traceId": S, "spanId": S, "eventName": S,
    })
    scope = pl.Struct({"name": S, "version": S, "attributes": kv})
    scope_logs = pl.Struct({"scope": scope, "logRecords": pl.List(record), "schemaUrl": S})
    resource_logs = pl.Struct({"resource": pl.Struct({"attributes": kv}), "scopeLogs": pl.List(scope_logs),
                               "schemaUrl": S})
    return pl.Struct({"resourceLogs": pl.List(resource_logs)})


def json_string(expr: pl.Expr) -> pl.Expr:
    """A string as a quoted, escaped JSON string (null as ``null``).

    Examples
    --------
    >>> import polars as pl
    >>> pl.select(json_string(pl.lit('a "b"\\n'))).item()
    '"a \\\\"b\\\\"\\\\n"'
    """
    return pl.struct(expr.alias("v")).struct.json_encode().str.slice(5).str.strip_suffix("}")


def _number(text: pl.Expr) -> pl.Expr:
    """A number written verbatim when it is a JSON number, else as a string
    (``NaN``, ``Infinity``, a malformed integer)."""
    return pl.when(text.str.contains(_JSON_NUMBER)).then(text).otherwise(json_string(text))


def _scalar_literal(value: pl.Expr) -> pl.Expr:
    """A scalar ``AnyValue`` as JSON text; null for an array, a map or an empty value."""
    f = value.struct.field
    boolean = f("boolValue")
    return (
        pl.when(f("stringValue").is_not_null()).then(json_string(f("stringValue")))
        .when(f("intValue").is_not_null()).then(_number(f("intValue")))
        .when(f("doubleValue").is_not_null()).then(_number(f("doubleValue")))
        .when(boolean.is_not_null()).then(pl.when(boolean.is_in(["true", "false"])).then(boolean)
                                          .otherwise(json_string(boolean)))
        .when(f("bytesValue").is_not_null()).then(json_string(f("bytesValue")))
    )


def _joined(children: pl.DataFrame, item: pl.Expr) -> pl.DataFrame:
    """``_i`` (the parent row) -> ``_j``: the children's JSON items joined by commas, in order."""
    return children.select("_i", item.alias("_item")).group_by("_i", maintain_order=True).agg(
        pl.col("_item").str.join(",").alias("_j"))


def json_literals(values: pl.Series, depth: int = NEST) -> pl.Series:
    """``AnyValue`` s (decoded ``depth`` levels deep) as JSON text: strings
    quoted, numbers and booleans bare, arrays as ``[...]``, maps as
    ``{...}``, an empty value as ``null``.  Nested values are taken level by
    level (the children of a level in one frame), so the work grows with the
    data, not with the depth of the dtype.

    Examples
    --------
    >>> import polars as pl
    >>> raw = pl.Series(['{"intValue": "10"}',
    ...                  '{"arrayValue": {"values": [{"stringValue": "a"}, {"boolValue": true}]}}',
    ...                  '{"kvlistValue": {"values": [{"key": "k", "value": {"arrayValue": {}}}]}}', "{}"])
    >>> json_literals(raw.str.json_decode(any_value_dtype(2)), 2).to_list()
    ['10', '["a",true]', '{"k":[]}', 'null']
    """
    frame = pl.DataFrame({"v": values}).with_row_index("_i")
    f = pl.col("v").struct.field
    arr, kvl = f("arrayValue"), f("kvlistValue")
    out = frame.select("_i", _scalar_literal(pl.col("v")).alias("_s"), arr.is_not_null().alias("_a"),
                       kvl.is_not_null().alias("_k"))
    if depth <= 0:
        nested = pl.when(pl.col("_a") | pl.col("_k")).then(json_string(pl.lit(TOO_DEEP)))
        return out.select(pl.coalesce(pl.col("_s"), nested, pl.lit("null")).alias(values.name)).to_series()
    empty = pl.DataFrame(schema={"_i": pl.UInt32, "_j": pl.String})
    items, pairs = empty, empty
    if out["_a"].any():
        kids = frame.select("_i", arr.struct.field("values").alias("c")).explode("c", keep_nulls=False)
        if kids.height:
            items = _joined(kids, pl.lit(json_literals(kids["c"], depth - 1)))
    if out["_k"].any():
        kids = frame.select("_i", kvl.struct.field("values").alias("c")).explode("c", keep_nulls=False)
        kids = kids.filter(pl.col("c").is_not_null())
        if kids.height:
            lits = json_literals(kids["c"].struct.field("value"), depth - 1)
            pairs = _joined(kids, pl.concat_str([json_string(pl.col("c").struct.field("key").fill_null("")),
                                                 pl.lit(":"), pl.lit(lits)]))
    out = out.join(items, on="_i", how="left", maintain_order="left").rename({"_j": "_ai"})
    out = out.join(pairs, on="_i", how="left", maintain_order="left").rename({"_j": "_ki"})
    lit = (
        pl.when(pl.col("_s").is_not_null()).then(pl.col("_s"))
        .when(pl.col("_a")).then(pl.concat_str([pl.lit("["), pl.col("_ai").fill_null(""), pl.lit("]")]))
        .when(pl.col("_k")).then(pl.concat_str([pl.lit("{"), pl.col("_ki").fill_null(""), pl.lit("}")]))
        .otherwise(pl.lit("null"))
    )
    return out.select(lit.alias(values.name)).to_series()


def with_texts(frame: pl.DataFrame, column: str, depth: int = NEST) -> pl.DataFrame:
    """``frame`` with the ``AnyValue`` column ``column`` replaced by
    ``_lit`` (its JSON text, see :func:`json_literals`) and ``_text`` (plain
    text: a scalar as written, ``"10"`` or ``"true"``; an array or map as its
    JSON text; null when empty)."""
    value = pl.col(column).struct.field
    lit = json_literals(frame.get_column(column), depth).alias("_lit")
    nested = pl.when(value("arrayValue").is_not_null() | value("kvlistValue").is_not_null()).then(pl.col("_lit"))
    text = pl.coalesce(*(value(k) for k in SCALARS), nested).alias("_text")
    return frame.with_columns(lit).with_columns(text).drop(column)


def unix_nanos_ts(text: pl.Expr) -> pl.Expr:
    """A ``*UnixNano`` field (decimal string) -> ``Datetime(us, UTC)``; null
    when unset (0), negative or not an integer.  Values too small for
    nanoseconds since 1990 are read as microseconds, milliseconds or seconds
    (writers that got the unit wrong).

    Examples
    --------
    >>> import polars as pl
    >>> s = pl.Series(["1544712660300000000", "0", "1544712660300", "x"])
    >>> pl.select(unix_nanos_ts(pl.lit(s)).dt.strftime("%Y-%m-%d %H:%M:%S%.3f")).to_series().to_list()
    ['2018-12-13 14:51:00.300', None, '2018-12-13 14:51:00.300', None]
    """
    n = text.str.strip_chars().cast(pl.Int64, strict=False)
    us = (
        pl.when(n >= 10**17).then(n // 1000)
        .when(n >= 10**14).then(n)
        .when(n >= 10**11).then(n * 1000)
        .when(n > 0).then(n * 1_000_000)
    )
    return us.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")


def record_times(rec: pl.DataFrame, bounds: tuple[datetime, datetime], *, tz: str, field: bool) -> pl.DataFrame:
    """``rec`` with ``_own`` (the record's usable time: ``timeUnixNano``,
    else ``observedTimeUnixNano``; with ``field``, the ``ts`` column the
    user's field gave, read in ``tz``), ``_time_used`` (whether
    ``timeUnixNano`` was) and ``ts`` (the own time, else the earliest of its
    request, ``_doc``).  A time outside ``bounds`` is not usable."""
    low, high = bounds

    def usable(ts: pl.Expr) -> pl.Expr:
        return pl.when((ts >= low) & (ts <= high)).then(ts)

    if field:
        own = usable(pl.lit(parse_timestamp_series(rec["ts"], tz=tz)))
        time_used = pl.lit(False)
    else:
        t = usable(unix_nanos_ts(pl.col("timeUnixNano")))
        own = pl.coalesce(t, usable(unix_nanos_ts(pl.col("observedTimeUnixNano"))))
        time_used = t.is_not_null()
    rec = rec.with_columns(own.alias("_own"), time_used.alias("_time_used"))
    return rec.with_columns(pl.coalesce(pl.col("_own"), pl.col("_own").min().over("_doc")).alias("ts"))


def hex_id(text: pl.Expr, nbytes: int) -> pl.Expr:
    """A trace or span id as lowercase hex; null when empty or all zeros
    (the spec's "invalid" id).  An id written in base64 (protobuf's own JSON
    mapping, which some writers use) is converted to hex.

    Examples
    --------
    >>> import polars as pl
    >>> s = pl.Series(["5B8EFFF798038103D269B633813FC60C", "W47/95gDgQPSabYzgT/GDA==", "", "0" * 32])
    >>> pl.select(hex_id(pl.lit(s), 16)).to_series().to_list()
    ['5b8efff798038103d269b633813fc60c', '5b8efff798038103d269b633813fc60c', None, None]
    """
    t = text.str.strip_chars()
    b64_len = 4 * ((nbytes + 2) // 3)
    is_b64 = (t.str.len_bytes() == b64_len) & t.str.contains(r"^[A-Za-z0-9+/]+={0,2}$") \
        & ~t.str.contains(rf"^[0-9a-fA-F]{{{b64_len}}}$")
    decoded = pl.when(is_b64).then(t).str.decode("base64", strict=False).bin.encode("hex")
    out = pl.when(is_b64).then(decoded).otherwise(t.str.to_lowercase())
    return pl.when(out.str.contains(r"^0*$")).then(None).otherwise(out)


_SEVERITY_BANDS = ((1, "debug"), (5, "debug"), (9, "info"), (13, "warn"), (17, "error"), (21, "fatal"))


def severity_level(number: pl.Expr, text: pl.Expr) -> pl.Expr:
    """The canonical level of a record: ``severityNumber`` by its bands
    (1-4 TRACE and 5-8 DEBUG -> debug, 9-12 info, 13-16 warn, 17-20 error,
    21-24 fatal; an enum name such as ``SEVERITY_NUMBER_WARN`` is read by its
    word), else ``severityText`` (``Information``, ``WARN2``, ...).

    Examples
    --------
    >>> import polars as pl
    >>> df = pl.DataFrame({"n": ["9", "17", None, "0", "SEVERITY_NUMBER_WARN"],
    ...                    "t": ["x", None, "Warning", "ERROR2", None]})
    >>> df.select(severity_level(pl.col("n"), pl.col("t"))).to_series().to_list()
    ['info', 'error', 'warn', 'error', 'warn']
    """
    n = number.str.strip_chars().cast(pl.Int32, strict=False)
    banded = pl.when((n < 1) | (n > 24)).then(None)
    for low, name in reversed(_SEVERITY_BANDS):
        banded = banded.when(n >= low).then(pl.lit(name))
    by_name = normalize_level(number.str.extract(r"^SEVERITY_NUMBER_([A-Z]+)\d*$", 1))
    by_text = normalize_level(text.str.strip_chars().str.replace(r"\d+$", ""))
    return pl.coalesce(banded.otherwise(None), by_name, by_text)


#: Record fields kept in ``attrs`` under their OTLP names (``True``: a number).
META = (("severityText", False), ("severityNumber", True), ("spanId", False), ("flags", True),
        ("eventName", False), ("observedTimeUnixNano", False))


def record_meta(time_used: pl.Expr, note: pl.Expr) -> pl.Expr:
    """The record's own fields kept in ``attrs`` (:data:`META`, a positive
    ``droppedAttributesCount``, ``timeUnixNano`` when it was not the time,
    ``time_note``): ``"name":value`` members, or null."""
    def member(name: str, present: pl.Expr, value: pl.Expr) -> pl.Expr:
        return pl.when(present).then(pl.concat_str([pl.lit(f'"{name}":'), value]))

    def number(col: pl.Expr) -> pl.Expr:
        return pl.when(col.str.contains(r"^-?\d+$")).then(col).otherwise(json_string(col))

    parts = [member(n, pl.col(n).is_not_null(), number(pl.col(n)) if num else json_string(pl.col(n)))
             for n, num in META]
    dropped = pl.col("droppedAttributesCount")
    parts.append(member("droppedAttributesCount", dropped.str.contains(r"^[1-9]\d*$"), dropped))
    raw = pl.col("timeUnixNano")
    parts.append(member("timeUnixNano", ~time_used & raw.is_not_null() & (raw != "0"), json_string(raw)))
    parts.append(member("time_note", note.is_not_null(), json_string(note)))
    out = pl.concat_str(parts, separator=",", ignore_nulls=True)
    return pl.when(out != "").then(out)


# ------------------------------------------------------------------- records


def explode_records(decoded: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Decoded requests (``_doc``, ``line``, ``_req``) -> ``(records,
    resources, scopes)``, each numbered in request order: ``records`` has
    ``_rid``, ``_si``, ``_ri``, ``_doc``, ``line`` and the record's fields;
    ``resources`` has ``_ri``, ``attributes``, ``schemaUrl``; ``scopes`` has
    ``_si``, ``name``, ``version``, ``attributes``, ``schemaUrl``.  Empty
    and null lists give no rows."""
    field = pl.col("_x").struct.field

    def down(frame: pl.DataFrame, keep: list[str], lst: pl.Expr, index: str) -> pl.DataFrame:
        out = frame.select(*keep, lst.alias("_x")).explode("_x", keep_nulls=False)
        return out.filter(pl.col("_x").is_not_null()).with_row_index(index)

    rl = down(decoded, ["_doc", "line"], pl.col("_req").struct.field("resourceLogs"), "_ri")
    resources = rl.select("_ri", field("resource").struct.field("attributes").alias("attributes"),
                          field("schemaUrl").alias("schemaUrl"))
    sl = down(rl, ["_ri", "_doc", "line"], field("scopeLogs"), "_si")
    scope = field("scope").struct.field
    scopes = sl.select("_si", scope("name").alias("name"), scope("version").alias("version"),
                       scope("attributes").alias("attributes"), field("schemaUrl").alias("schemaUrl"))
    records = down(sl, ["_si", "_ri", "_doc", "line"], field("logRecords"), "_rid").unnest("_x")
    return records, resources, scopes


def attribute_rows(records: pl.DataFrame, depth: int = NEST) -> pl.DataFrame:
    """One row per record attribute and per entry of a map body: ``_rid``,
    ``name`` (the key; a body entry whose key an attribute of the same record
    has too is named ``body.<key>``), ``key_lc`` (the key in lowercase, to
    match names), ``_src`` (0 attribute, 1 body), and the value as ``_lit``
    and ``_text`` (see :func:`with_texts`)."""
    kv = pl.col("_kv").struct.field

    def rows(lst: pl.Expr, src: int) -> pl.DataFrame:
        out = records.select("_rid", lst.alias("_kv")).explode("_kv", keep_nulls=False)
        return out.filter(pl.col("_kv").is_not_null()).select(
            "_rid", kv("key").fill_null("").alias("key"), kv("value").alias("value"),
            pl.lit(src, dtype=pl.Int8).alias("_src"))

    attrs = rows(pl.col("attributes"), 0)
    body = rows(pl.col("body").struct.field("kvlistValue").struct.field("values"), 1)
    if body.height:
        clash = attrs.select("_rid", "key").unique().with_columns(pl.lit(True).alias("_clash"))
        body = body.join(clash, on=["_rid", "key"], how="left", maintain_order="left")
        body = body.with_columns(pl.when(pl.col("_clash")).then(pl.lit("body.") + pl.col("key"))
                                 .otherwise(pl.col("key")).alias("key")).drop("_clash")
    both = pl.concat([attrs, body])
    both = both.select("_rid", pl.col("key").alias("name"), pl.col("key").str.to_lowercase().alias("key_lc"),
                       "_src", "value")
    return with_texts(both, "value", depth)


def _key_values(frame: pl.DataFrame, by: str, depth: int) -> pl.DataFrame:
    """A list of attributes -> one row per attribute: ``by``, ``key``, ``_lit``, ``_text``."""
    kv = frame.select(by, pl.col("attributes").alias("_kv")).explode("_kv", keep_nulls=False)
    kv = kv.filter(pl.col("_kv").is_not_null()).select(
        by, pl.col("_kv").struct.field("key").fill_null("").alias("key"), pl.col("_kv").struct.field("value"))
    return with_texts(kv, "value", depth)


def context_fragments(resources: pl.DataFrame, scopes: pl.DataFrame, *, service: bool, depth: int = NEST
                      ) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """The resource's and scope's part of every record: ``(_ri -> _service``
    (the first non-empty ``service.name``, when ``service``), ``_ri -> _res``
    (``resource.<key>`` members, without the ``service.name`` used, and
    ``resource.schemaUrl``), ``_si -> _scope`` (``scope.name``,
    ``scope.version``, ``scope.schemaUrl`` and ``scope.<key>`` members))."""
    res = _key_values(resources, "_ri", depth)
    names = res.filter((pl.col("key") == "service.name") & (pl.col("_text") != "")).select("_ri", "_text")
    names = names.unique("_ri", keep="first", maintain_order=True).rename({"_text": "_service"})
    if not service:
        names = names.clear()
    res = res.join(names, on="_ri", how="left").filter((pl.col("key") != "service.name") | pl.col("_service").is_null())
    res_rows = pl.concat([
        res.select("_ri", pl.concat_str([pl.lit("resource."), pl.col("key")]).alias("k"), pl.col("_lit").alias("v")),
        resources.filter(pl.col("schemaUrl").is_not_null()).select(
            "_ri", pl.lit("resource.schemaUrl").alias("k"), json_string(pl.col("schemaUrl")).alias("v")),
    ])
    fixed = [scopes.filter(pl.col(c).is_not_null() & (pl.col(c) != "")).select(
        "_si", pl.lit(f"scope.{c}").alias("k"), json_string(pl.col(c)).alias("v"))
        for c in ("name", "version", "schemaUrl")]
    attrs = _key_values(scopes, "_si", depth).select(
        "_si", pl.concat_str([pl.lit("scope."), pl.col("key")]).alias("k"), pl.col("_lit").alias("v"))
    scope_rows = pl.concat([*fixed, attrs]).sort("_si", maintain_order=True)
    return (names, fragment(res_rows, "_ri", pl.col("k"), pl.col("v")).rename({"_frag": "_res"}),
            fragment(scope_rows, "_si", pl.col("k"), pl.col("v")).rename({"_frag": "_scope"}))


def fragment(rows: pl.DataFrame, by: str, name: pl.Expr, value: pl.Expr) -> pl.DataFrame:
    """``rows`` -> one row per ``by``: ``_frag``, the ``"name":value`` members
    of a JSON object (``value`` already JSON text), joined by commas."""
    pair = pl.concat_str([json_string(name), pl.lit(":"), value]).alias("_pair")
    return rows.select(by, pair).group_by(by, maintain_order=True).agg(pl.col("_pair").str.join(",").alias("_frag"))
