"""Settings for ingest, built once from CLI options."""

from __future__ import annotations

from dataclasses import dataclass

from .reader import DEFAULT_MAX_BYTES


@dataclass(frozen=True)
class IngestOptions:
    """How to read inputs.

    Attributes
    ----------
    format
        Force this format for every file (``None``: sniff each file).
    tz
        Time zone for timestamps that carry none (IANA name), default UTC.
    time_field, user_field, session_field, action_field, request_field
        Field names that override the alias lists (named-field formats).
    columns
        ``(canonical, field)`` pairs (``--columns ts=EventTime,level=Severity``):
        the field (a CSV header, a JSON key) that holds a canonical column,
        for any canonical column (``ts``, ``level``, ``status``, ``user``,
        ``session``, ``request_id``, ``action``, ``key``, ``latency_ms``,
        ``message``, ``component``).  A ``*_field`` option given for the same
        column wins.
    max_bytes
        Ceiling on decompressed bytes read per file.
    default_year
        Year for formats whose timestamps carry none (RFC 3164 syslog,
        old Redis); ``None`` means the current UTC year, with dates more than
        a day in the future moved back one year.
    strict
        Fail on the first unreadable file instead of skipping it.
    cache_dir
        Folder of the warm cache: files larger than 64 KiB that are
        unchanged since they were last parsed (same path, size, modification
        time, tool version and options) are loaded from it instead of being
        parsed again.  ``None``: no cache.
    dedupe
        Drop exact duplicate lines (same source text and time) from
        overlapping rotated files.
    """

    format: str | None = None
    tz: str = "UTC"
    time_field: str | None = None
    user_field: str | None = None
    session_field: str | None = None
    action_field: str | None = None
    request_field: str | None = None
    max_bytes: int = DEFAULT_MAX_BYTES
    default_year: int | None = None
    strict: bool = False
    dedupe: bool = True
    cache_dir: str | None = None
    columns: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        # pairs given as lists (options.json, a JSON round trip) become tuples
        object.__setattr__(self, "columns", tuple((str(k), str(v)) for k, v in self.columns))

    def overrides(self) -> dict[str, str]:
        """Canonical name -> field name given by the user."""
        pairs = {
            "ts": self.time_field,
            "user": self.user_field,
            "session": self.session_field,
            "action": self.action_field,
            "request_id": self.request_field,
        }
        return {**dict(self.columns), **{k: v for k, v in pairs.items() if v}}
