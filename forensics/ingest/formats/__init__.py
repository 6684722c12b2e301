"""Registry of supported log formats.  Each module has the same shape; see
:mod:`forensics.ingest.formats.base`."""

from __future__ import annotations

import importlib
from types import ModuleType

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
