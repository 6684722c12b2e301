"""``key=value`` pairs in a text column (logfmt lines, access-log extras,
syslog and plain messages): one anchored regex for the commonest key
sequence, per-key regexes, and a general pivot for the rest.

Split out of :mod:`forensics.ingest.normalize`, which re-exports
:data:`KV_PATTERN` and :func:`extract_kv`.
"""

from __future__ import annotations

import re

import polars as pl

from .parallel import select_rows


KV_PATTERN = r'([A-Za-z_][\w.\-]*)=("(?:[^"\\]|\\.)*"|\S+)'


def _unquote(v: pl.Expr) -> pl.Expr:
    quoted = v.str.starts_with('"') & v.str.ends_with('"') & (v.str.len_chars() >= 2)
    return pl.when(quoted).then(v.str.slice(1, v.str.len_chars() - 2).str.replace_all(r'\\(["\\])', "${1}")).otherwise(v)


def kv_by_pivot(frame: pl.DataFrame, column: str) -> pl.DataFrame:
    """General path: every pair of every line, pivoted wide (keeps the first of a repeated key)."""
    pairs = (
        frame.select("line", pl.col(column).str.extract_all(KV_PATTERN).alias("_kv"))
        .explode("_kv")
        .drop_nulls("_kv")
    )
    if pairs.height == 0:
        return frame.select("line")
    pairs = pairs.select(
        "line",
        pl.col("_kv").str.extract(r"^([^=]+)=", 1).alias("k"),
        _unquote(pl.col("_kv").str.replace(r"^[^=]+=", "")).alias("v"),
    )
    # A field called "line" would clash with the line-number column.
    pairs = pairs.with_columns(pl.when(pl.col("k") == "line").then(pl.lit("line_")).otherwise(pl.col("k")).alias("k"))
    pairs = pairs.unique(["line", "k"], keep="first", maintain_order=True)
    wide = pairs.pivot(on="k", index="line", values="v", aggregate_function="first")
    return frame.select("line").join(wide, on="line", how="left", maintain_order="left")


#: Shape values: quoted (to the first unescaped quote), bare (no quote, no
#: space) or either, as :data:`KV_PATTERN` reads them.
_SHAPE_QUOTED = r'"(?<{g}>(?:[^"\\]|\\.)*)"'
_SHAPE_BARE = r'(?<{g}>[^\s"]+)'
_SHAPE_EITHER = r'(?<{g}>"(?:[^"\\]|\\.)*"|[^\s"]+)'
_UNESCAPE = r'\\(["\\])'


def _shape_pattern(sample: pl.DataFrame, column: str) -> tuple[str, dict[str, pl.Expr]] | None:
    """One anchored regex for the commonest key sequences of ``sample``.

    The sequences (pairs separated by spaces, no repeated key) are merged into
    a trie, so the regex is unambiguous: ``^ *k1=V +k2=V(?: +k3=V)?$``.  Each
    key's values are quoted, bare or either, as in the sample.  Returns the
    pattern (its empty group ``_m`` marks a match) and one value expression
    per key, or ``None`` when the common sequences cover too little."""
    pairs = (
        sample.select(pl.col(column).str.extract_all(KV_PATTERN).alias("_kv"))
        .with_row_index("_r").explode("_kv").drop_nulls("_kv")
        .select("_r", pl.col("_kv").str.extract(r"^([^=]+)=", 1).alias("k"),
                pl.col("_kv").str.contains(r'^[^=]+="').alias("q"))
    )
    if pairs.height == 0:
        return None
    seqs = (
        pairs.group_by("_r", maintain_order=True)
        .agg(pl.col("k").str.join(" "), pl.col("k").n_unique().alias("u"), pl.len().alias("n"))
        .filter(pl.col("u") == pl.col("n"))
        .group_by("k").len().sort(["len", "k"], descending=[True, False])
    )
    trie: dict = {}
    covered = 0
    for seq, count in seqs.head(8).iter_rows():
        keys = seq.split(" ")
        if "line" in keys or "line_" in keys:
            continue
        node = trie
        for k in keys:
            node = node.setdefault(k, {})
        node[""] = {}
        covered += count
    if covered * 2 < sample.height:
        return None
    quoting = dict(pairs.group_by("k").agg(pl.col("q").all().alias("a"), pl.col("q").any().alias("o")).select(
        "k", pl.when(pl.col("a")).then(pl.lit("q")).when(pl.col("o")).then(pl.lit("e")).otherwise(pl.lit("b"))
    ).iter_rows())
    groups: dict[str, list[str]] = {}

    def emit(node: dict, sep: str) -> str:
        alts = []
        for k, child in node.items():
            if k == "":
                continue
            g = f"g{sum(len(v) for v in groups.values())}"
            groups.setdefault(k, []).append(g)
            value = {"q": _SHAPE_QUOTED, "b": _SHAPE_BARE, "e": _SHAPE_EITHER}[quoting[k]].format(g=g)
            alts.append(f"{sep}{re.escape(k)}={value}{emit(child, ' +')}")
        body = "|".join(alts)
        if "" in node:
            return f"(?:{body})?" if alts else ""
        return f"(?:{body})" if len(alts) > 1 else body

    pattern = "^ *(?<_m>)" + emit(trie, "") + "$"
    values = {}
    for k, names in groups.items():
        v = pl.coalesce([pl.col(n) for n in names]) if len(names) > 1 else pl.col(names[0])
        mode = quoting[k]
        values[k] = v.str.replace_all(_UNESCAPE, "${1}") if mode == "q" else _unquote(v) if mode == "e" else v
    return pattern, values


def _kv_by_keys(frame: pl.DataFrame, column: str, keys: list[str]) -> pl.DataFrame:
    """Rows whose pairs are all among ``keys`` (one regex per key); the others
    are left out (the caller pivots them).  A row with a ``=`` inside a value
    is left out too: the per-key regex could find ``key=`` inside that value."""
    text = pl.col(column)
    values = [
        text.str.extract(rf'(?:^|[^\w.\-]){re.escape(k)}=("(?:[^"\\]|\\.)*"|\S+)', 1).alias(k) for k in keys
    ]
    n = text.str.count_matches(KV_PATTERN).fill_null(0)
    wide = frame.select("_i", "line", *values, n.alias("_n"), text.str.count_matches("=", literal=True).alias("_eq"))
    found = pl.sum_horizontal([pl.col(k).is_not_null().cast(pl.Int32) for k in keys])
    ok = (pl.col("_n") == found) & (pl.col("_eq") == pl.col("_n"))
    return wide.filter(ok).drop("_n", "_eq").with_columns(_unquote(pl.col(k)).alias(k) for k in keys)


def extract_kv(frame: pl.DataFrame, column: str, *, sample: int = 2000) -> pl.DataFrame:
    """Pull ``key=value`` pairs out of ``column`` into a wide frame keyed by ``line``.

    Values in double quotes are unquoted.  When a key repeats in one line the
    first value wins.  Returns a frame with ``line`` plus one String column per
    key found anywhere (null where absent); a key called ``line`` becomes
    ``line_``.

    Fast paths: the keys and key sequences seen in the first lines give one
    regex for lines of those shapes (:func:`_shape_pattern`); other lines
    holding only known keys are read with one regex per key; only lines
    holding other pairs go through the general explode-and-pivot path.  All
    paths give the same result.

    Examples
    --------
    >>> import polars as pl
    >>> df = pl.DataFrame({"line": [1, 2], "m": ['a=1 b="x y"', "b=2 c=3 b=9"]})
    >>> extract_kv(df, "m").rows()
    [(1, '1', 'x y', None), (2, None, '2', '3')]
    """
    if frame.height <= sample:
        return kv_by_pivot(frame, column)
    head = frame.head(sample)
    keys = [k for k in kv_by_pivot(head, column).columns if k not in ("line", "line_")]
    if not keys:
        return kv_by_pivot(frame, column)
    rest = frame.select(pl.int_range(pl.len(), dtype=pl.UInt32).alias("_i"), "line", column)
    parts = []
    shape = _shape_pattern(head, column)
    if shape is not None:
        pattern, values = shape
        cols = [values.get(k, pl.lit(None, dtype=pl.String)).alias(k) for k in keys]
        g = select_rows(
            rest, "_i", "line", pl.col(column).str.extract_groups(pattern).alias("_g"),
            then=lambda lf: lf.unnest("_g").select("_i", "line", pl.col("_m").is_not_null().alias("_hit"), *cols),
        )
        hit = g.get_column("_hit")
        if hit.all():
            return g.drop("_i", "_hit")
        parts.append(g.filter(hit).drop("_hit"))
        rest = rest.filter(~hit)
    ok = _kv_by_keys(rest, column, keys)
    parts.append(ok)
    if ok.height < rest.height:
        slow = kv_by_pivot(rest.join(ok.select("_i"), on="_i", how="anti").drop("_i"), column)
        return pl.concat([p.drop("_i") for p in parts] + [slow], how="diagonal_relaxed").sort("line")
    out = pl.concat(parts) if len(parts) > 1 else parts[0]
    return out.sort("_i").drop("_i") if len(parts) > 1 else out.drop("_i")


