"""Per-file and total line accounting (the ``ingest`` JSON contract)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class FileReport:
    """What happened to one input file.

    ``lines == events - extra_events + continuation_lines + blank_lines +
    malformed`` always holds (duplicates dropped later are counted in
    ``duplicates`` and are still part of ``events`` here).  ``extra_events``
    are the events beyond the first of their line: a line that holds several
    records (an OTLP export request) is one line, but several events.
    """

    path: str
    format: str | None
    compression: str | None = None
    lines: int = 0
    events: int = 0
    extra_events: int = 0
    continuation_lines: int = 0
    blank_lines: int = 0
    malformed: int = 0
    invalid_utf8_lines: int = 0
    skipped: str | None = None
    damage: str | None = None

    def balanced(self) -> bool:
        return self.lines == (self.events - self.extra_events + self.continuation_lines + self.blank_lines
                              + self.malformed)

    @property
    def mostly_malformed(self) -> bool:
        """More than half of the file's non-blank lines are malformed."""
        return self.skipped is None and 2 * self.malformed > self.lines - self.blank_lines

    @property
    def wholly_malformed(self) -> bool:
        """Lines were read but not one became an event."""
        return self.skipped is None and self.malformed > 0 and self.events == 0

    def warning(self) -> str | None:
        """The one-line warning of a mostly malformed file (None otherwise)."""
        if not self.mostly_malformed:
            return None
        share = f"all {self.malformed:,}" if self.wholly_malformed else f"{self.malformed:,} of {self.lines - self.blank_lines:,}"
        return (f"{share} lines malformed as {self.format or 'unknown'}: not this format? "
                "(`forensics formats` lists the formats; --format forces one)")


@dataclass(frozen=True)
class Accounting:
    """Totals over all files; ``to_json`` is the public ``ingest`` document."""

    files: tuple[FileReport, ...] = field(default_factory=tuple)
    errors: tuple[str, ...] = ()
    duplicates: int = 0

    @property
    def partial(self) -> bool:
        """Some input was not read: an error, or a file of which no line became an event."""
        return bool(self.errors) or any(f.wholly_malformed for f in self.files)

    def total(self, name: str) -> int:
        return sum(getattr(f, name) for f in self.files)

    def by_format(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.files:
            if f.format and f.skipped is None:
                out[f.format] = out.get(f.format, 0) + f.events
        return dict(sorted(out.items()))

    def to_json(self) -> dict:
        """The ``forensics ingest --json`` document (stable keys; additive only)."""
        return {
            "files": sum(1 for f in self.files if f.skipped is None),
            "lines": self.total("lines"),
            "events": self.total("events"),
            "extra_events": self.total("extra_events"),
            "continuation_lines": self.total("continuation_lines"),
            "blank_lines": self.total("blank_lines"),
            "malformed": self.total("malformed"),
            "invalid_utf8_lines": self.total("invalid_utf8_lines"),
            "duplicates_dropped": self.duplicates,
            "skipped_files": [{"path": f.path, "reason": f.skipped} for f in self.files if f.skipped],
            "errors": list(self.errors),
            "warnings": [{"path": f.path, "warning": w} for f in self.files if (w := f.warning())],
            "by_format": self.by_format(),
            "by_file": [asdict(f) for f in self.files],
        }
