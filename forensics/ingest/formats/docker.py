"""Docker json-file container logs: one JSON record per line a container wrote.

``{"log":"GET /health 200\\n","stream":"stdout","time":"2026-03-14T11:02:17.123456789Z"}``
(https://docs.docker.com/engine/logging/drivers/json-file/), with
``"attrs":{...}`` when the container was started with ``--log-opt tag=...``,
``labels=...`` or ``env=...``.

The envelope gives the time (RFC 3339, nanoseconds), the stream and the
payload (``log``); the payload is parsed like a file's lines by
:func:`forensics.ingest.formats.envelope.unwrap` (JSON, logfmt, access,
text with level, ...; stack traces folded).  Docker cuts lines longer than
16 KiB into several records of which only the last ends with ``\\n``: a record
without the newline is joined with the next ones of its stream.

* ``attrs.tag`` (``--log-opt tag``) is the component unless the payload names
  its own; other ``attrs.*`` (labels, env) and unknown record fields stay in
  ``attrs`` under their flattened names;
* malformed: a line that is not a JSON object, invalid JSON, a record without
  a ``log`` string, or without a readable ``time``.
"""

from __future__ import annotations

import io

import polars as pl

from ...schema import EVENT_SCHEMA
from ..normalize import parse_times, select_rows
from ..options import IngestOptions
from .base import ParseResult, empty_rejects, reject, split_blank
from .envelope import unwrap
from .jsonl import flatten, read_objects

NAME = "docker"
DESCRIPTION = "Docker json-file container logs (log/stream/time records); the payload is parsed as its own format"
CONTINUATION_LINES = True
EXAMPLE = ('{"log":"{\\"level\\":\\"info\\",\\"msg\\":\\"listening\\",\\"port\\":8080}\\n",'
           '"stream":"stdout","time":"2026-03-14T11:02:17.123456789Z"}')

_OBJECT = r"^\s*\{.*\}\s*$"
#: The keys of a json-file record, in any order.
_KEYS = (r'"log"\s*:\s*"', r'"stream"\s*:\s*"', r'"time"\s*:\s*"')
_WHAT = "not a Docker json-file record"
_ENVELOPE = ("log", "stream", "time", "attrs.tag")
#: Names an extra record field may not keep (event columns, the envelope's own).
_RESERVED = frozenset(EVENT_SCHEMA) | {"env_ts", "payload", "final", "envelope_time", "payload_time"}


def sniff(sample: list[str]) -> float:
    """Share of lines that are json-file records; when most JSON lines are,
    the share of JSON lines (a few foreign objects do not hand the file to
    ``jsonl``).

    Examples
    --------
    >>> sniff(['{"log":"hi\\\\n","stream":"stdout","time":"2026-03-14T11:02:17.1Z"}', '{"a": 1}'])
    1.0
    >>> sniff(['{"ts": "2026-03-14T11:02:33Z", "msg": "hi"}'])
    0.0
    """
    if not sample:
        return 0.0
    s = pl.Series(sample, dtype=pl.String)
    objects = s.str.contains(_OBJECT)
    records = objects & s.str.contains(_KEYS[0]) & s.str.contains(_KEYS[1]) & s.str.contains(_KEYS[2])
    n_obj, n_rec = int(objects.sum()), int(records.sum())
    if n_rec == 0:
        return 0.0
    return (n_obj if 2 * n_rec >= n_obj else n_rec) / len(sample)


#: A JSON string (its escapes are checked by the JSON reader, not here).
_STR = r'"[^"\\]*(?:\\.[^"\\]*)*"'
#: A record exactly as the daemon writes it (keys in this order, ``attrs`` a flat map of strings).
CANONICAL = (rf'^\{{"log":{_STR},"stream":{_STR},(?:"attrs":\{{(?:{_STR}:{_STR},)*(?:{_STR}:{_STR})?\}},)?'
             rf'"time":{_STR}\}}$')


def _canonical(part: pl.DataFrame) -> pl.DataFrame | None:
    """Fast path: when every line is a record as the daemon writes it, one
    read with the schema taken from the first lines is lossless (every
    line has the same keys; only ``attrs`` can vary, then every line is
    looked at).  ``None`` when some line is not."""
    texts = part.get_column("text")
    if not bool(texts.str.contains(CANONICAL).all()):
        return None
    varying = bool(texts.str.contains(',"attrs":{', literal=True).any())
    df = _read_records((texts.str.join("\n").item() + "\n").encode(), varying=varying, rows=part.height)
    return None if df is None else flatten(df).with_columns(part.get_column("line").alias("_line"))


def _read_records(data: bytes, *, varying: bool, rows: int) -> pl.DataFrame | None:
    """``data``'s records read as NDJSON (the schema from every record when
    ``varying``: ``attrs`` keys differ), or None when that fails or does not
    give ``rows`` rows (the general path sorts such data out)."""
    try:
        df = pl.read_ndjson(io.BytesIO(data), infer_schema_length=None if varying else 100)
    except Exception:  # noqa: BLE001 - e.g. a lone surrogate escape
        return None
    return df if df.height == rows else None


def _decode(part: pl.DataFrame) -> tuple[list[pl.DataFrame], list[pl.DataFrame]]:
    """Decode JSON-object lines (bisecting around invalid ones): flattened
    frames with ``_line``, and the frames of lines that are not valid JSON."""
    fast = _canonical(part)
    if fast is not None:
        return [fast], []
    good: list[pl.DataFrame] = []
    bad: list[pl.DataFrame] = []
    stack = [part]
    while stack:
        p = stack.pop()
        try:
            texts = p.get_column("text")
            df = read_objects((texts.str.join("\n").item() + "\n").encode(), texts)
            if df.height != p.height:
                raise ValueError("row count mismatch")
            good.append(flatten(df).with_columns(p.get_column("line").alias("_line")))
        except Exception:  # noqa: BLE001 - any failure: bisect down to the bad lines
            if p.height == 1:
                bad.append(p)
            else:
                mid = p.height // 2
                stack.extend((p.slice(mid), p.slice(0, mid)))
    return good, bad


def _records(decoded: pl.DataFrame, shaped: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, list[str]]:
    """Envelope records of the decoded lines, the rejects among them, and the
    names of the extra fields kept in ``attrs``."""
    for col in _ENVELOPE:
        if col not in decoded.columns:
            decoded = decoded.with_columns(pl.lit(None, dtype=pl.String).alias(col))
    is_text = {c: decoded.schema[c] == pl.String for c in ("log", "stream", "time")}
    text = {c: pl.col(c) if ok else pl.col(c).cast(pl.String) for c, ok in is_text.items()}
    if not is_text["log"]:  # no line had a string: numbers are not a payload
        text["log"] = pl.lit(None, dtype=pl.String)
    extras = [c for c in decoded.columns if c not in _ENVELOPE and c != "_line"]
    # A field of an unusual record named like a column of the events or of the envelope gets a prefix.
    clash = [c for c in extras if c in _RESERVED]
    if clash:
        decoded = decoded.rename({c: f"docker.{c}" for c in clash})
        extras = [f"docker.{c}" if c in clash else c for c in extras]
    env_ts = parse_times(decoded.get_column("time").cast(pl.String), tz="UTC")
    frame = decoded.select(
        pl.col("_line").alias("line"),
        pl.lit(env_ts).alias("env_ts"),
        text["stream"].alias("stream"),
        text["log"].alias("payload"),
        pl.col("attrs.tag").cast(pl.String).alias("component"),
        *(pl.col(c).cast(pl.String) if decoded.schema[c] != pl.String else pl.col(c) for c in extras),
    )
    why = (
        pl.when(pl.col("payload").is_null()).then(pl.lit(f'{_WHAT}: no "log" string'))
        .when(pl.col("env_ts").is_null()).then(pl.lit(f'{_WHAT}: no readable "time"'))
    )
    frame = frame.with_columns(why.alias("_why"))
    bad = frame.filter(pl.col("_why").is_not_null()).select("line", "_why")
    rejects = shaped.join(bad, on="line", how="inner").select("line", pl.col("_why").alias("reason"), "text")
    records = frame.filter(pl.col("_why").is_null()).drop("_why").with_columns(
        pl.col("payload").str.ends_with("\n").alias("final")
    )
    return records, rejects, extras


_BOM = b"\xef\xbb\xbf"


def parse_bytes(data: bytes, lines: pl.DataFrame, *, options: IngestOptions) -> ParseResult | None:
    """Fast path: when every line is a record as the daemon writes it
    (:data:`CANONICAL`), the buffer itself is read as JSON lines (no blank,
    torn or foreign line to sort out first); ``None`` otherwise (``parse``
    runs instead, with the same result)."""
    if not data or data.startswith(_BOM) or b"\r" in data:
        return None
    text = pl.col("text")
    shape = select_rows(lines, text.str.contains(CANONICAL).alias("c"),
                        text.str.contains(',"attrs":{', literal=True).alias("v"))
    if not bool(shape.get_column("c").all()):
        return None
    df = _read_records(data, varying=bool(shape.get_column("v").any()), rows=lines.height)
    if df is None:
        return None
    decoded = flatten(df).with_columns(lines.get_column("line").alias("_line"))
    records, rejects, extras = _records(decoded, lines)
    return unwrap(records, options=options, rejects=rejects, blank_lines=0, extras=tuple(extras),
                  component_key="attrs.tag")


def parse(lines: pl.DataFrame, *, options: IngestOptions) -> ParseResult:
    """Parse json-file records and their payloads into canonical events.

    Examples
    --------
    >>> from forensics.ingest.options import IngestOptions
    >>> lines = pl.DataFrame({"line": [1, 2], "text": [
    ...     '{"log":"{\\\\"level\\\\":\\\\"error\\\\",\\\\"user\\\\":\\\\"u1\\\\"}\\\\n","stream":"stderr",'
    ...     '"time":"2026-03-14T11:02:17.5Z"}', 'oops']})
    >>> r = parse(lines, options=IngestOptions())
    >>> r.events.select("level", "user").row(0), r.rejects["reason"].to_list()
    (('error', 'u1'), ['not a Docker json-file record: expected a JSON object'])
    """
    body, blank = split_blank(lines)
    is_obj = pl.col("text").str.contains(_OBJECT)
    # A line that opens an object but does not close it (a write cut short) can never parse.
    torn = pl.col("text").str.contains(r"^\s*\{")
    shaped = body.filter(is_obj)
    rejects = [reject(body.filter(~is_obj & torn), f"{_WHAT}: invalid JSON (cut short?)"),
               reject(body.filter(~is_obj & ~torn), f"{_WHAT}: expected a JSON object")]
    good, bad = _decode(shaped) if shaped.height else ([], [])
    rejects += [reject(b, f"{_WHAT}: invalid JSON") for b in bad]
    if good:
        decoded = pl.concat(good, how="diagonal_relaxed")
        records, more, extras = _records(decoded, shaped)
        rejects.append(more)
    else:
        records = pl.DataFrame(schema={"line": pl.Int64, "env_ts": pl.Datetime("us", "UTC"), "stream": pl.String,
                                       "payload": pl.String, "component": pl.String, "final": pl.Boolean})
        extras = []
    rej = pl.concat(rejects) if rejects else empty_rejects()
    return unwrap(records, options=options, rejects=rej, blank_lines=blank, extras=tuple(extras),
                  component_key="attrs.tag")
