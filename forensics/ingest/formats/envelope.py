"""Container envelopes: unwrap the payload lines, parse them as what they are.

Docker's json-file driver and the Kubernetes CRI log format wrap every line a
container writes in an envelope (a time, the stream, a partial/final flag).
:mod:`~forensics.ingest.formats.docker` and :mod:`~forensics.ingest.formats.cri`
read their envelope into *records* and hand them to :func:`unwrap`, which

1. joins partial records (CRI ``P``, Docker records without a trailing
   newline: lines over 16 KiB) with the records after them on the same stream
   up to the final one, into one *payload line* numbered by its first record;
2. parses the payload lines with the format sniffed from them, as a file's
   lines would be (:func:`forensics.ingest.formats.sniff`), in rounds: the
   lines a round's format rejects are sniffed again; JSON-shaped and
   ``key=``-shaped lines left over go to ``jsonl`` and ``logfmt``; whatever
   is still left (a crash trace after JSON lines, plain ``print`` output) is
   read as text (:func:`_text_events`).  So a payload line is never
   malformed: only a broken envelope is;
3. maps the result back to physical lines: an event is the first record of
   its payload line; the other records of a joined line, the payload lines
   folded into an event above (stack-trace frames, PostgreSQL statements) and
   records with an empty payload are continuation lines.

Text payload lines: a line that starts with its own timestamp starts an event
(``plain``'s layouts give its level, logger and thread).  A line without one
gets the envelope time and starts an event of its own unless it continues the
one above: when it looks like a stack-trace frame (indented, ``Caused by:``,
``... 3 more``, a dotted ``java.x.FooException``, Go's ``goroutine 1
[running]:`` and ``main.main()``, Python's ``ValueError: x`` after a frame,
a ``Traceback`` written with an error line, :data:`TRACE_GAP`), or when the
event above started with its own timestamp (timestamped text folds as in a
``plain`` file).  Folding stays within a stream, and a text line right after
a line another format took starts an event.  A text event without a level
word gets one from cues (``error:``, ``[warn]``, klog's ``E0314``,
``panic:``, ``Traceback``, an ``...Error:``/``...Exception`` line), else
``info``.

Time: the payload's own time is the event time when it has one, else the
envelope time.  A payload time more than :data:`MAX_SKEW` away from the
envelope's is taken as a wrong clock (the envelope time is used, the payload's
kept in ``attrs.payload_time``); one given to the whole second that the
envelope time falls in (an access log's ``[14/Mar/2026:11:10:06 +0000]``) is
refined to the envelope's.  When the event time is not the envelope time, the
envelope time is kept in ``attrs.envelope_time``.  The stream is kept in
``attrs.stream`` (``envelope.stream`` when the payload has a ``stream`` field
of its own; likewise for the other envelope keys), with the envelope's other
fields.

Boundaries: everything above looks only at the lines before a line (the
partial records and the event above on its stream), so a file parsed in a
batch with others or in chunks gives the same events, except that a stack
trace on one stream cut by a chunk boundary while the other stream wrote after
it starts a new event after the boundary (the chunk holds back only from its
last event on).
"""

from __future__ import annotations

import re
from datetime import timedelta

import polars as pl

from ...schema import ALIASES, empty_events
from ..normalize import attrs_json, normalize_level
from ..options import IngestOptions
from .base import ParseResult
from . import plain

#: Payload lines the inner sniffing looks at (as for a file).
SNIFF_LINES = 64
#: Most inner formats tried on one batch of payload lines.
MAX_ROUNDS = 4
#: Formats never tried on a payload (``plain`` is the text path itself).
NOT_INNER = frozenset({"plain", "docker", "cri"})
#: Left-over payload lines of these shapes go to these formats.
SHAPES = (("jsonl", r"^\s*\{.*\}\s*$"), ("logfmt", r"^\s*[A-Za-z_][\w.\-]*=\S"))
#: A payload time further than this from the envelope time is not believed.
MAX_SKEW = timedelta(days=1)
_ISO_US = "%Y-%m-%dT%H:%M:%S%.6fZ"

#: Text lines that continue the event above (stack-trace frames and their kin).
FRAME = (
    r"^(?:\s+\S"
    r"|(?:Caused by|Suppressed|Wrapped by):"
    r"|\.\.\. \d+ (?:more|common frames omitted)"
    r"|(?:[a-zA-Z_$][\w$]*\.)+[A-Z][\w$]*(?:Exception|Error|Throwable)\b"
    r"|During handling of the above exception|The above exception was the direct cause"
    r"|goroutine \d+ \[[^\]]*\]:$|\[signal |created by "
    r"|(?:[\w.\-]+/)*[\w\-]+(?:\.(?:\(\*?[\w\[\]]+\)|[\w\[\]]+))+\(.*\)$)"
)
#: Python's last traceback line (``httpx.ReadTimeout: timed out``), a continuation only right after a frame.
EXCEPTION_LINE = r"^[A-Za-z_][\w.]*(?::\s|$)"
TRACEBACK = r"^Traceback \(most recent call last\):"
#: A ``Traceback`` belongs to the error line above it only when written with it (one write, one read).
TRACE_GAP = timedelta(milliseconds=50)
#: What a line before a ``Traceback`` looks like when the trace belongs to it.
_TRACE_OWNER = (r"(?i)\b(?:error|err|fatal|critical|crit|severe|exception|failed|failure)\b"
                r"|^During handling of the above exception|^The above exception was the direct cause")
#: Level cues in a text message without a level word of ``plain``'s layouts: (pattern, level).
CUES = (
    (r"^[IWEF]\d{4} \d{2}:\d{2}:\d{2}\.\d+\s+\d+ [^\]\s]+\] ", None),  # klog: the letter is the level
    (r"(?i)^\s*[\[(<]?(?:trace|debug|info|notice|warn|warning|error|err|severe|fatal|critical|crit|panic|emerg|alert)"
     r"[\])>:]?(?:\s|$)", "word"),
    (r"(?i)\[(?:trace|debug|info|notice|warn|warning|error|err|crit|critical|fatal|emerg|alert)\]", "bracket"),
    (r"^(?:panic|fatal error): |^(?:Segmentation fault|Aborted|Killed)\b", "fatal"),
    (rf"{TRACEBACK}|^Exception in thread |^(?:[\w$]+\.)*[\w$]*(?:Exception|Error)(?::|$)", "error"),
)
_KLOG = {"I": "info", "W": "warn", "E": "error", "F": "fatal"}


def unwrap(records: pl.DataFrame, *, options: IngestOptions, rejects: pl.DataFrame, blank_lines: int,
           extras: tuple[str, ...] = (), component_key: str | None = None) -> ParseResult:
    """Parse the payloads of envelope records into events (see the module).

    Parameters
    ----------
    records
        One row per good physical record, in line order: ``line``, ``env_ts``
        (UTC datetime), ``stream``, ``payload`` (the record's text),
        ``final`` (false for a partial record), optionally ``component`` (the
        envelope's own, e.g. Docker's tag) and the ``extras`` columns.
    rejects, blank_lines
        The envelope's malformed and blank physical lines, passed through.
    extras
        Envelope fields kept in ``attrs`` under their column names.
    component_key
        Where the envelope's ``component`` goes in ``attrs`` when the payload
        names its own component.
    """
    records = _by_line(records)
    logical = _join_partials(records, extras)
    # not whitespace only (``\S``: not Unicode White_Space, what strip_chars strips)
    body = logical.filter(pl.col("payload").str.contains(r"\S"))
    parts, text = _rounds(body, options=options)
    if text.height:
        parts.append(_text_events(body, text, options=options))
    parts = [p for p in parts if p.height]
    events = _by_line(pl.concat(parts)) if parts else empty_events().drop("source", "format")
    events = _envelope_columns(events, logical, extras=extras, component_key=component_key)
    return ParseResult(events=events, rejects=rejects.sort("line"),
                       continuation_lines=records.height - events.height, blank_lines=blank_lines)


def _by_line(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` sorted by ``line`` (no work when its lines already go up one by one)."""
    line = frame.get_column("line")
    if line.len() < 2 or (line.is_sorted() and bool((line.diff().drop_nulls() > 0).all())):
        return frame
    return frame.sort("line")


def _join_partials(records: pl.DataFrame, extras: tuple[str, ...]) -> pl.DataFrame:
    """One row per payload line: partial records joined with what follows
    them on their stream up to the final record; the first record's line,
    time and envelope fields; one trailing newline dropped."""
    if "component" not in records.columns:
        records = records.with_columns(pl.lit(None, dtype=pl.String).alias("component"))
    keep = ["line", "env_ts", "stream", "component", *extras]
    if bool(records.get_column("final").all()):
        logical = records.select(*keep, "payload")
    else:
        group = pl.col("final").cast(pl.Int64).cum_sum().shift(1, fill_value=0).over("stream").alias("_grp")
        logical = (
            records.with_columns(group)
            .group_by("stream", "_grp", maintain_order=True)
            .agg(*(pl.col(c).first() for c in keep if c != "stream"), pl.col("payload").str.join(""))
            .select(*keep, "payload")
            .sort("line")
        )
    return logical.with_columns(pl.col("payload").str.strip_suffix("\n").str.strip_suffix("\r"))


# ------------------------------------------------------------------ structured rounds

def _rounds(body: pl.DataFrame, *, options: IngestOptions) -> tuple[list[pl.DataFrame], pl.DataFrame]:
    """Parse payload lines with the formats they fit, round by round; return
    the events and the lines no format took (``line``)."""
    events: list[pl.DataFrame] = []
    rest = body.select("line", "env_ts", "payload")
    tried: set[str] = set()
    for _ in range(MAX_ROUNDS):
        pick = _pick(rest, tried) if rest.height else None
        if pick is None:
            break
        name, subset = pick
        tried.add(name)
        lines = subset.select("line", _inner_text(name, options).alias("text"))
        result = _parse_inner(name, lines, options=options)
        events.append(result.events)
        if result.rejects.height == 0 and subset.height == rest.height:
            rest = rest.clear()  # the format took every line
            break
        taken = subset.join(result.rejects.select("line"), on="line", how="anti")
        rest = rest.join(taken.select("line"), on="line", how="anti")
    return events, rest.select("line")


#: Inner formats whose whole-buffer fast path (``parse_bytes``) gives what
#: their ``parse`` gives; it is tried first on payload lines.
FAST_INNER = frozenset({"jsonl"})


def _parse_inner(name: str, lines: pl.DataFrame, *, options: IngestOptions) -> ParseResult:
    """Payload lines (``line``, ``text``) parsed by format ``name``: through
    its ``parse_bytes`` when it has one that applies (JSON payloads read from
    one buffer), else its ``parse``."""
    module = _formats().get(name)
    fast = getattr(module, "parse_bytes", None) if name in FAST_INNER else None
    if fast is not None and lines.height:
        data = lines.select(pl.col("text").str.join("\n").cast(pl.Binary)).item() + b"\n"
        result = fast(data, lines, options=options)
        if result is not None:
            return result
    return module.parse(lines, options=options)


def _formats():
    from .. import formats  # the registry imports this module's users

    return formats


def _pick(rest: pl.DataFrame, tried: set[str]) -> tuple[str, pl.DataFrame] | None:
    """The next format to try on ``rest`` and the lines to give it: the one
    sniffed from the first lines, else a shape of :data:`SHAPES`."""
    registry = _formats()
    name = registry.sniff(rest.get_column("payload").head(SNIFF_LINES).to_list())
    if name not in NOT_INNER and name not in tried:
        return name, rest
    for name, shape in SHAPES:
        if name in tried or name not in registry.FORMATS:
            continue
        subset = rest.filter(pl.col("payload").str.contains(shape))
        if subset.height:
            return name, subset
    return None


def _inner_text(name: str, options: IngestOptions) -> pl.Expr:
    """The payload as the inner format reads it: a logfmt line without a
    time field gets the envelope's (logfmt rejects lines without one)."""
    payload = pl.col("payload")
    if name != "logfmt":
        return payload
    key = options.overrides().get("ts")
    names = [key] if key else list(ALIASES["ts"])
    has = payload.str.contains(r"(?i)(?:^|\s)(?:" + "|".join(re.escape(n) for n in names) + r")=")
    stamped = pl.concat_str([pl.lit(f"{key or 'ts'}="), pl.col("env_ts").dt.strftime(_ISO_US), pl.lit(" "), payload])
    return pl.when(has).then(payload).otherwise(stamped)


# ------------------------------------------------------------------------ text

def _text_events(body: pl.DataFrame, text: pl.DataFrame, *, options: IngestOptions) -> pl.DataFrame:
    """Events of the text payload lines (``text``: their ``line``) through
    ``plain``: starts without their own timestamp get the envelope time
    prepended, continuations are left bare so that ``plain`` folds them."""
    mark = text.select("line", pl.lit(True).alias("_text"))
    rows = body.select("line", "stream", "env_ts", "payload").join(mark, on="line", how="left")
    rows = rows.with_columns(pl.col("_text").fill_null(False))
    # A text line right after a line some format took (or first in its stream) starts an event.
    reset = ~pl.col("_text").shift(1).over("stream").fill_null(False)
    rows = rows.with_columns(reset.alias("_reset")).filter(pl.col("_text")).drop("_text")
    payload = pl.col("payload")
    prev = payload.shift(1).over("stream")
    has_ts = payload.str.contains(plain.START)
    follows_frame = prev.str.contains(r"^\s").fill_null(False)
    gap = pl.col("env_ts") - pl.col("env_ts").shift(1).over("stream")
    trace_owner = (prev.str.contains(_TRACE_OWNER) & (gap <= TRACE_GAP)).fill_null(False)
    continues = (
        payload.str.contains(FRAME)
        | (payload.str.contains(EXCEPTION_LINE) & follows_frame)
        | (payload.str.contains(TRACEBACK) & trace_owner)
    )
    state = (
        pl.when(has_ts).then(pl.lit("ts")).when(pl.col("_reset")).then(pl.lit("bare"))
        .otherwise(None).forward_fill().over("stream")
    )
    start = has_ts | pl.col("_reset") | (~continues & (state == "bare"))
    stamped = pl.concat_str([pl.col("env_ts").dt.strftime(_ISO_US), pl.lit(" "), payload])
    lines = rows.with_columns(
        pl.when(start & ~has_ts).then(stamped).otherwise(payload).alias("text")
    ).sort("stream", "line", maintain_order=True).select("line", "text")
    events = plain.parse(lines, options=options).events
    return events.with_columns(_cue_level(pl.col("message")).alias("_cue")).with_columns(
        pl.coalesce("level", "_cue", pl.lit("info")).alias("level")
    ).drop("_cue")


def _cue_level(message: pl.Expr) -> pl.Expr:
    """The level a text message's first words suggest (see :data:`CUES`), or null."""
    klog, word, bracket, fatal, error = (p for p, _ in CUES)
    letter = message.str.extract(r"^([IWEF])\d{4} ", 1).replace_strict(_KLOG, default=None, return_dtype=pl.String)
    said = normalize_level(message.str.extract(r"(?i)^\s*[\[(<]?([a-z]+)", 1))
    tagged = normalize_level(message.str.extract(bracket.replace(r"\[(?:", r"\[("), 1))
    return (
        pl.when(message.str.contains(klog)).then(letter)
        .when(message.str.contains(word)).then(said)
        .when(message.str.contains(bracket)).then(tagged)
        .when(message.str.contains(fatal)).then(pl.lit("fatal"))
        .when(message.str.contains(error)).then(pl.lit("error"))
        .otherwise(None)
    )


# ------------------------------------------------------------------- envelope columns

def _envelope_columns(events: pl.DataFrame, logical: pl.DataFrame, *, extras: tuple[str, ...],
                      component_key: str | None) -> pl.DataFrame:
    """Time, component and ``attrs`` from the envelope (see the module)."""
    if events.height == 0:
        return events
    info = logical.select("line", "env_ts", "stream", pl.col("component").alias("_env_comp"), *extras)
    if events.height == info.height and events.get_column("line").equals(info.get_column("line")):
        ev = pl.concat([events, info.drop("line")], how="horizontal")  # one event per payload line
    else:
        ev = events.join(info, on="line", how="left", maintain_order="left")
    own = pl.col("ts").is_not_null() & ((pl.col("ts") - pl.col("env_ts")).abs() <= MAX_SKEW)
    # A payload time given to the second that the envelope time falls in: the envelope's is finer.
    coarse = (pl.col("ts").dt.truncate("1s") == pl.col("ts")) & (pl.col("env_ts").dt.truncate("1s") == pl.col("ts"))
    ts = pl.when(own & ~coarse.fill_null(False)).then(pl.col("ts")).otherwise(pl.col("env_ts"))
    ev = ev.with_columns(
        ts.alias("ts"),
        # (formatted where needed only: null elsewhere)
        pl.when(pl.col("ts").is_not_null() & ~own).then(pl.col("ts")).dt.strftime(_ISO_US).alias("payload_time"),
        pl.when(ts != pl.col("env_ts")).then(pl.col("env_ts")).dt.strftime(_ISO_US).alias("envelope_time"),
        pl.when(pl.col("component").is_not_null()).then(pl.col("_env_comp")).alias("_comp_attr"),
        pl.coalesce("component", "_env_comp").alias("component"),
    )
    names = ["stream", *extras, "envelope_time", "payload_time"]
    if component_key:
        ev = ev.rename({"_comp_attr": component_key})
        names.insert(1, component_key)
    for name in [n for n in names if ev.get_column(n).null_count() < ev.height]:
        clash = pl.col("attrs").str.contains(r'[{,]"' + re.escape(name) + '":').fill_null(False)
        near = pl.col("attrs").str.contains(f'"{name}":', literal=True).any()  # a quick scan first
        if bool(ev.select(near).item()) and bool(ev.select(clash.any()).item()):
            ev = ev.with_columns(
                pl.when(clash).then(pl.col(name)).alias(f"envelope.{name}"),
                pl.when(~clash).then(pl.col(name)).alias(name),
            )
            names.append(f"envelope.{name}")
    env = attrs_json(ev, names)
    if ev.get_column("attrs").null_count() == ev.height:  # the payloads left nothing in attrs
        return ev.with_columns(attrs=env).select(events.columns)
    inner = pl.col("attrs")
    merged = (
        pl.when(inner.is_null()).then(pl.lit(env))
        .when(pl.lit(env).is_null()).then(inner)
        .otherwise(pl.concat_str([pl.lit(env).str.head(-1), pl.lit(","), inner.str.tail(-1)]))
    )
    return ev.with_columns(merged.alias("attrs")).select(events.columns)
