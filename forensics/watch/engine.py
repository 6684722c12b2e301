"""The watch engine: appended lines in, alerts out.

:class:`Watch` parses the lines a follower hands it with ingest's own code
(:func:`forensics.ingest.stream.parse_piece`, one format per file, sniffed
from its first lines; a multi-line event is held back until its file goes
quiet or a new event starts), keeps the events of the last
``WatchOptions.window_s`` seconds, and on each evaluation runs the scan's
own timeline over that window (:func:`forensics.timeline.build_timeline`):

* **onset**: a burst onset (or re-onset) not alerted yet, dated as the scan
  dates it, with the cascade so far;
* **suspects**: right after an onset, the miner over the window
  (:func:`forensics.mining.mine`): the ranked sequences completed before it,
  with the resources they touched that are now erring;
* **guard**: a sequence of ``--guard`` completed again (:mod:`.guard`),
  raised at the evaluation after its last step, before any error.

Time is the caller's clock (``now``): the wall clock when following live
files, the replayer's clock in tests, so alerts are reproducible.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

import polars as pl

from ..ingest import formats
from ..ingest.accounting import FileReport
from ..ingest.projection import with_order_columns
from ..ingest.stream import chunk_format, chunk_lines, held_lines, parse_piece
from ..mining import mine
from ..scan import ScanSettings
from ..timeline import analysis_columns, build_timeline
from ..timeline.bursts import choose_bin
from ..timeline.errors import error_exprs
from .alerts import Alert, onset_alert, suspects_alert, guard_alert
from .guard import GuardSequence, completions


@dataclass(frozen=True)
class WatchOptions:
    """How the watch keeps and judges its window.

    Attributes
    ----------
    window_s
        Seconds of events kept (``--window``, default 6 h): the baseline of
        the error rates and of the miner.
    tick_s
        Seconds of the clock between two evaluations of the window when new
        errors arrived (an onset is dated at an error) or a new event's
        action is the last step of a guarded sequence: the bound on an
        alert's delay once the data shows it.
    idle_tick_s
        Seconds between two evaluations when new events arrived but none of
        those (a guarded sequence whose steps are message templates of a
        free-text log is found at the latest then).
    onset_tolerance_s
        An onset within this many seconds of one alerted already is the same
        onset (its estimate moves a little as errors arrive).
    stale_s
        An onset older than this (on the clock) is not alerted: the watch
        reports what happens now, not the backlog it started with.
    warmup_s
        Nor is an onset within this many seconds of the window's first event:
        too little baseline before it (and a burst cut by the window's
        start would look like a new one).
    interval_s
        Seconds between two looks at the files (``--interval``) when the
        last look found nothing new.
    """

    window_s: float = 6 * 3600.0
    tick_s: float = 5.0
    idle_tick_s: float = 60.0
    onset_tolerance_s: float = 120.0
    stale_s: float = 3600.0
    warmup_s: float = 1800.0
    interval_s: float = 1.0


@dataclass
class _File:
    """One followed file: its index, names, format and held-back lines."""

    index: int
    display: str
    relative: str
    fmt: str | None = None
    carry: bytes = b""
    carry_line: int = 0
    #: lines every later piece is parsed behind (a CSV header, W3C directives: formats.carried_head)
    head: tuple[str, ...] = ()
    head_report: tuple | None = None


@dataclass
class WatchCounts:
    """Lines and events seen so far (the watch's accounting, as ingest's
    :class:`~forensics.ingest.accounting.FileReport` counts a file).

    Lines of an event still held back (its file may append more of it) are
    in ``lines`` but in none of the other counts until the event is parsed;
    once every file is quiet, :meth:`balanced` holds.
    """

    lines: int = 0
    events: int = 0
    malformed: int = 0
    evaluations: int = 0
    #: lines folded into the event before them (a stack trace's lines)
    continuation: int = 0
    blank: int = 0
    #: events beyond the first of their line (several records on one line)
    extra_events: int = 0

    def balanced(self) -> bool:
        """``lines == events - extra_events + continuation + blank + malformed``."""
        return self.lines == self.events - self.extra_events + self.continuation + self.blank + self.malformed


#: Non-blank lines a new file's format is chosen from, as ingest chooses it
#: (:func:`forensics.ingest.stream.chunk_format`); fewer are held back until the file is quiet.
FORMAT_SAMPLE = 64

#: Lines without any event start are held back up to this many bytes (a JSON
#: document written in several pieces); more are parsed as they are.
HOLD_MAX = 1 << 20

_COUNTED = ("events", "extra_events", "malformed", "continuation_lines", "blank_lines")


def _net(total: FileReport, less: FileReport | None) -> dict[str, int]:
    """The counts of ``total`` less those of ``less``."""
    return {k: getattr(total, k) - (getattr(less, k) if less is not None else 0) for k in _COUNTED}


class Watch:
    """Parse appended lines and raise alerts (see the module docstring)."""

    def __init__(self, *, settings: ScanSettings | None = None, options: WatchOptions = WatchOptions(),
                 guards: Sequence[GuardSequence] = ()) -> None:
        self.settings = settings or ScanSettings()
        self.options = options
        self.guards = tuple(guards)
        tl = self.settings.timeline
        self._tl_options = replace(tl, bin_s=choose_bin(options.window_s, tl.bin_s))
        self._files: dict[tuple[str, int], _File] = {}
        self._parts: list[pl.DataFrame] = []
        self._project = with_order_columns(analysis_columns())
        self._onsets: list[datetime] = []
        self._guarded: set[tuple] = set()
        self._last_eval: datetime | None = None
        self._dirty = False
        self._urgent = False
        #: the time of the latest event read
        self.latest: datetime | None = None
        self._is_error = error_exprs(client_errors=tl.client_errors)["is_error"]
        self._last_steps = sorted({g.sequence[-1] for g in self.guards})
        self.counts = WatchCounts()

    @property
    def timeline_options(self):
        """The timeline settings each evaluation uses (the bin fixed from the window's length)."""
        return self._tl_options

    # ------------------------------------------------------------------ input

    def add(self, batches: Sequence, *, now: datetime) -> None:
        """Parse the follower's new lines (:class:`~forensics.watch.follow.NewLines`:
        ``path``, ``relative``, ``first_line``, ``data``, ``generation``)."""
        fed = set()
        for b in batches:
            key = (b.path, getattr(b, "generation", 0))  # a rotated file's late lines keep their own state
            f = self._files.get(key)
            if f is None:
                fmt = next((x.fmt for (p, _), x in self._files.items() if p == b.path and x.fmt), None)
                f = self._files[key] = _File(len(self._files), b.path, b.relative, fmt)
            data, first = (f.carry + b.data, f.carry_line) if f.carry else (b.data, b.first_line)
            f.carry = b""
            self.counts.lines += b.data.count(b"\n")
            self._parse(f, data, first, now=now, hold=True)
            fed.add(key)
        for key, f in self._files.items():  # a quiet file's held-back event is complete
            if f.carry and key not in fed:
                self._parse(f, f.carry, f.carry_line, now=now, hold=False)
                f.carry = b""

    def _parse(self, f: _File, data: bytes, first: int, *, now: datetime, hold: bool) -> None:
        if f.fmt is None:
            lines = chunk_lines(data, last=True, damage=None)[0]
            shown = lines.filter(pl.col("text").str.strip_chars() != "").height
            if hold and shown < FORMAT_SAMPLE and not self.settings.ingest.format:
                f.carry, f.carry_line = data, first  # too few lines to choose the format from yet
                return
            if shown == 0:
                self.counts.blank += lines.height
                return
            f.fmt = chunk_format(lines, options=self.settings.ingest)
        # a per-file format's piece is parsed behind the file's header lines,
        # numbered just before it, then dropped again
        piece = self._piece(f, f.head, data, first, now)
        ev, rej, lines = piece.events, piece.rejects, piece.lines
        if f.head:
            ev, rej, lines = (x.filter(pl.col("line") >= first) for x in (ev, rej, lines))
        # the lines parsed for good are counted as this piece's report less
        # the reports of what is not: the head, and a held-back event's lines
        counts = _net(piece.report, self._head_report(f, now))
        cut = None
        if hold and formats.continued(f.fmt):
            # the last event may go on in the next lines; with no event, every
            # line may be the start of one not complete yet (a JSON document)
            cut = int(ev["line"].max()) if ev.height else (first if lines.height and len(data) <= HOLD_MAX else None)
        if cut is not None:
            ev, rej, lines = (x.filter(pl.col("line") < cut) for x in (ev, rej, lines))
        if formats.per_file(f.fmt):  # the head in force after the lines parsed for good
            f.head = tuple(formats.carried_head(f.fmt, pl.concat([pl.Series(f.head, dtype=pl.String),
                                                                    lines.get_column("text")])))
        if cut is not None:
            f.carry, f.carry_line = held_lines(piece.lines, cut), cut
            held = _net(self._piece(f, f.head, f.carry, cut, now).report, self._head_report(f, now))
            counts = {k: v - held[k] for k, v in counts.items()}
        self._account(counts)
        if ev.height:
            ev = ev.select(*self._project).drop("_attrs_hash", strict=False)
            self._parts.append(ev)
            top = ev["ts"].max()
            if top is not None and (self.latest is None or top > self.latest):
                self.latest = top
            self._dirty = True
            if not self._urgent:
                hit = self._is_error | pl.col("action").is_in(self._last_steps).fill_null(False)
                self._urgent = bool(ev.select(hit.any()).item())

    def _piece(self, f: _File, head: tuple[str, ...], data: bytes, first: int, now: datetime):
        """``data`` (lines from ``first``) parsed behind the ``head`` lines."""
        text = "".join(x + "\n" for x in head).encode()
        return parse_piece(text + data, index=f.index, display=f.display, relative=f.relative, fmt=f.fmt,
                           options=self.settings.ingest, now=now + timedelta(days=1), first_line=first - len(head))

    def _head_report(self, f: _File, now: datetime) -> FileReport | None:
        """The report of the file's head lines parsed alone (None: no head)."""
        if not f.head:
            return None
        if f.head_report is None or f.head_report[0] != f.head:
            f.head_report = (f.head, self._piece(f, f.head, b"", 1 + len(f.head), now).report)
        return f.head_report[1]

    def _account(self, counts: dict[str, int]) -> None:
        c = self.counts
        c.events += counts["events"]
        c.extra_events += counts["extra_events"]
        c.malformed += counts["malformed"]
        c.continuation += counts["continuation_lines"]
        c.blank += counts["blank_lines"]

    # ------------------------------------------------------------------ evaluation

    def due(self, now: datetime) -> bool:
        """Whether the window should be judged now: new events arrived, and
        ``tick_s`` passed since the last evaluation (``idle_tick_s`` when no
        new event is an error or a guarded sequence's last step)."""
        if not self._dirty:
            return False
        if self._last_eval is None:
            return True
        waited = (now - self._last_eval).total_seconds()
        return waited >= (self.options.tick_s if self._urgent else self.options.idle_tick_s)

    def step(self, batches: Sequence, *, now: datetime) -> list[Alert]:
        """:meth:`add`, then :meth:`evaluate` when due."""
        self.add(batches, now=now)
        return self.evaluate(now=now) if self.due(now) else []

    def window(self, now: datetime) -> pl.DataFrame:
        """The events of the last ``window_s`` seconds before ``now``, in time order."""
        if not self._parts:
            return pl.DataFrame()
        frame = pl.concat(self._parts, how="vertical_relaxed") if len(self._parts) > 1 else self._parts[0]
        frame = frame.filter(pl.col("ts") >= now - timedelta(seconds=self.options.window_s))
        self._parts = [frame]
        return frame.sort("ts", "source", "line", maintain_order=True)

    def evaluate(self, *, now: datetime) -> list[Alert]:
        """Judge the window now: onset, suspects and guard alerts not raised yet."""
        self._last_eval = now
        if not self._dirty:
            return []
        self._dirty = self._urgent = False
        events = self.window(now)
        if events.height == 0:
            return []
        self.counts.evaluations += 1
        tl = build_timeline(events, options=self._tl_options)
        alerts: list[Alert] = []
        fresh = []
        first = events["ts"][0] + timedelta(seconds=self.options.warmup_s)
        stale = now - timedelta(seconds=self.options.stale_s)
        for b in tl.bursts:  # a handful of bursts in a window
            for onset in b.onsets:
                if onset < first or onset < stale or any(abs((onset - seen).total_seconds()) <= self.options.onset_tolerance_s for seen in self._onsets):
                    continue
                self._onsets.append(onset)
                fresh.append((b, onset))
                alerts.append(onset_alert(b, onset, raised_at=now))
        if fresh:
            mined = mine(tl, options=self.settings.mining)
            alerts += [suspects_alert(b, onset, mined, raised_at=now) for b, onset in fresh]
        if self.guards:
            m = self.settings.mining
            for c in completions(self.guards, tl.actions, tl.events, after=None, max_gap=m.max_gap,
                                 max_span_s=m.max_span_s):
                key = (c.guard.rank, c.session, c.completed_at)
                if key not in self._guarded:
                    self._guarded.add(key)
                    alerts.append(guard_alert(c, raised_at=now))
        self._forget(now)
        return sorted(alerts, key=lambda a: a.order)

    def _forget(self, now: datetime) -> None:
        """Drop alert memory older than the window (bounded memory)."""
        old = now - timedelta(seconds=self.options.window_s)
        self._onsets = [t for t in self._onsets if t >= old]
        self._guarded = {k for k in self._guarded if k[2] >= old}


def utc_now() -> datetime:
    """The wall clock, for live watching."""
    return datetime.now(timezone.utc)


__all__ = ["Watch", "WatchOptions", "WatchCounts", "utc_now"]
