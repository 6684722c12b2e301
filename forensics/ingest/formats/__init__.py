"""Registry of supported log formats.  Each module has the same shape; see
:mod:`forensics.ingest.formats.base`."""

from __future__ import annotations

import importlib
from types import ModuleType

import polars as pl

from .base import check_shape

#: Module names in sniffing priority order (ties go to the earlier one): an
#: envelope before what it wraps (Docker json-file and OTLP lines are JSON
#: lines too; HAProxy, MySQL and BGL lines would pass for syslog or plain text).
#: ``plain`` is the fallback for text logs with a timestamp prefix.  A name
#: whose module does not exist is skipped.
PRIORITY = ("docker", "cri", "otlp", "jsonl", "csv", "w3c", "logfmt", "alb", "haproxy", "envoy", "access", "mysql",
            "postgres", "redis", "bgl", "syslog", "plain")

#: Score a sniffer must reach to win over the fallback.
MIN_SCORE = 0.5


def _load() -> dict[str, ModuleType]:
    found: dict[str, ModuleType] = {}
    for name in PRIORITY:
        try:
            mod = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:  # a format not built yet
            if exc.name and exc.name.endswith(f".{name}"):
                continue
            raise
        check_shape(mod)
        found[mod.NAME] = mod
    return found


FORMATS: dict[str, ModuleType] = _load()


def names() -> list[str]:
    """Supported format names, in sniffing priority order."""
    return list(FORMATS)


def get(name: str) -> ModuleType:
    """The format module called ``name``; KeyError if unknown."""
    return FORMATS[name]


def continued(name: str) -> bool:
    """Whether events of format ``name`` may have continuation lines (its
    ``CONTINUATION_LINES``; see :mod:`forensics.ingest.formats.base`).  An
    unknown name (a cache entry of a format since removed) is taken to have
    them: the safe answer for streaming and appending."""
    mod = FORMATS.get(name)
    return True if mod is None else mod.CONTINUATION_LINES


def access_formats() -> tuple[str, ...]:
    """Formats of HTTP access logs (a module's ``ACCESS_LOG``): one line per
    request served, usually without an application user, so the timeline
    sessions them by client and takes their request rows as the action of a
    linked request (docs/timeline.md)."""
    return tuple(name for name, mod in FORMATS.items() if getattr(mod, "ACCESS_LOG", False))


def per_file(name: str) -> bool:
    """Whether format ``name`` reads state from the head of its file (a CSV
    header row, W3C ``#Fields``, one JSON document): such a file is parsed on
    its own and whole, never batched with other files or cut into chunks
    (its module's ``PER_FILE``, default False)."""
    mod = FORMATS.get(name)
    return bool(getattr(mod, "PER_FILE", False))


def carried_head(name: str, texts: pl.Series) -> list[str]:
    """For a :func:`per_file` format, the lines of ``texts`` (a file's lines
    from its start) that a later piece of the file must be parsed behind (a
    CSV header row, W3C directives); none for other formats."""
    head = getattr(FORMATS.get(name), "carried_head", None)
    return head(texts) if head is not None else []


def sniff(sample: list[str]) -> str:
    """Pick the best format for the first non-blank lines of a file."""
    best, best_score = None, 0.0
    for name, mod in FORMATS.items():
        if name == "plain":
            continue
        score = mod.sniff(sample)
        if score > best_score:
            best, best_score = name, score
    if best is not None and best_score >= MIN_SCORE:
        return best
    return "plain" if "plain" in FORMATS else (best or "jsonl")


#: A sniffed format is tried on the sample unless its sniff score reaches
#: :data:`SURE_SCORE` (and it is not the ``plain`` fallback), or it has
#: continuation lines and the sample's first line starts an event; when it reads
#: less than :data:`TRUSTED_SHARE` of the sample's lines (events with a time,
#: or lines folded into one), every format is tried.
SURE_SCORE = 0.9
TRUSTED_SHARE = 0.5


def read_share(name: str, sample: list[str], *, options) -> float:
    """Share of ``sample`` (non-blank lines) that format ``name`` reads:
    events with a timestamp plus the lines folded into them, over the lines.
    A parser that raises on the sample reads none of it."""
    if not sample:
        return 0.0
    lines = pl.DataFrame({"line": pl.int_range(1, len(sample) + 1, eager=True, dtype=pl.Int64),
                          "text": pl.Series(sample, dtype=pl.String)})
    try:
        res = FORMATS[name].parse(lines, options=options)
    except Exception:  # noqa: BLE001 - a sample the format cannot take at all
        return 0.0
    timed = res.events.height - res.events.get_column("ts").null_count() if "ts" in res.events.columns else 0
    folded = res.continuation_lines if timed else 0
    return min(1.0, (timed + folded) / len(sample))


def choose(sample: list[str], *, options) -> str:
    """The format for a file from its first non-blank lines: the sniffed one
    (:func:`sniff`) when it is sure or reads at least :data:`TRUSTED_SHARE` of them, else
    the format that reads the most of them (ties: the sniffed one, then
    :data:`PRIORITY`).  ``options`` (:class:`~forensics.ingest.options.IngestOptions`)
    are those the file will be parsed with (a time field, a time zone).

    Examples
    --------
    >>> from forensics.ingest.options import IngestOptions
    >>> choose(['{"ts": 1698941698, "msg": "a"}'], options=IngestOptions())
    'jsonl'
    """
    best = sniff(sample)
    mod = FORMATS[best]
    if best != "plain" and mod.sniff(sample) >= SURE_SCORE:
        return best
    if mod.CONTINUATION_LINES and sample and mod.sniff(sample[:1]) == 1.0:
        return best  # the first line starts an event: the lines below it are read (folded into one) or its own
    share = read_share(best, sample, options=options)
    if share >= TRUSTED_SHARE:
        return best
    for name in FORMATS:
        if name != best and (other := read_share(name, sample, options=options)) > share:
            best, share = name, other
    return best
