"""Rendering a day's requests with the scenario's writers and writing the
lines in time order, in parts of bounded size, with the few malformed lines
(:class:`Injection`) real files have."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from .chain import DAY_MS
from .render import Ctx
from .sink import Sink, extra_lines, truncated_copies

#: No line of a later part is earlier than the part's first request minus this.
MARGIN_MS = 2_000

Writer = Callable[[Ctx, pl.DataFrame], pl.DataFrame]


@dataclass(frozen=True)
class Injection:
    """A malformed line: foreign ``text`` at time ``at``, or (``text`` None)
    a torn copy of the writer's first clean line at/after ``at`` (``access``:
    cut an access-log line before its protocol)."""

    writer: str
    at: int
    text: str | None = None
    access: bool = False


@dataclass(frozen=True)
class Layout:
    """Where the writers' lines go.

    Attributes
    ----------
    formats
        Writer -> (relative files, reader format); a writer with two files
        is rotated at ``rotate_at``: earlier lines go to the first file.
    writers
        Writer -> render function.
    rotate_at
        Rotation time (epoch ms).
    part_requests
        Requests rendered per part (bounds memory on big runs); None: the
        whole day at once (for writers that draw day-wide lines without
        looking at ``Ctx.window``).
    """

    formats: Mapping[str, tuple[tuple[str, ...], str]]
    writers: Mapping[str, Writer]
    rotate_at: int
    part_requests: int | None


class Stream:
    """Renders a day in parts (by request time) and writes lines in time
    order: lines that a later part could still precede are carried over."""

    def __init__(self, layout: Layout, sinks: dict[str, Sink], chosen: tuple[str, ...]) -> None:
        self.layout = layout
        self.sinks = sinks
        self.chosen = chosen
        self.carry: dict[str, pl.DataFrame] = {}
        self.injections: list[Injection] = []
        self.serial = 0

    def day(self, reqs: pl.DataFrame, *, seed: int, day: int, day_start: int, plan: Any,
            until: int | None) -> dict[str, pl.DataFrame]:
        """Render and write one day; returns, per writer, the error lines
        with a cause (on the incident day)."""
        size = self.layout.part_requests
        n_parts = max(1, -(-reqs.height // size)) if size else 1
        cuts = [k * reqs.height // n_parts for k in range(n_parts + 1)]
        t = reqs["t"]
        errors: dict[str, list[pl.DataFrame]] = {name: [] for name in self.chosen}
        for k in range(n_parts):
            part = reqs.slice(cuts[k], cuts[k + 1] - cuts[k])
            lo = day_start if k == 0 else int(t[cuts[k]])
            hi = int(t[cuts[k + 1]]) if k + 1 < n_parts else day_start + 2 * DAY_MS
            limit = hi - MARGIN_MS if k + 1 < n_parts else until
            ctx = Ctx(seed=seed, day=day, day_start=day_start, plan=plan, window=(lo, hi), part=k)
            for name in self.chosen:
                frame = self._part(name, ctx, part, limit)
                if plan is not None:
                    errors[name].append(frame.filter(pl.col("err") & pl.col("cause").is_not_null() & (pl.col("t") >= day_start)))
                self._write(name, frame)
        return {name: pl.concat(parts) for name, parts in errors.items() if parts}

    def _part(self, name: str, ctx: Ctx, part: pl.DataFrame, limit: int | None) -> pl.DataFrame:
        frame = self.layout.writers[name](ctx, part)
        self.serial += 1
        frame = frame.with_row_index("_i").with_columns(
            (pl.col("_i").cast(pl.Float64) + self.serial * 2.0**32).alias("_i"), pl.lit(False).alias("mal"),
        ).select("t", "text", "cont", "err", "cause", "ep", "svc", "_i", "mal")
        if name in self.carry:
            frame = pl.concat([self.carry.pop(name), frame])
        if limit is not None:
            self.carry[name] = frame.filter(pl.col("t") >= limit)
            frame = frame.filter(pl.col("t") < limit)
        return self._inject(name, frame, limit)

    def _inject(self, name: str, frame: pl.DataFrame, limit: int | None) -> pl.DataFrame:
        """Apply the pending malformed-line injections that fall in ``frame``."""
        todo = [x for x in self.injections if x.writer == name and (limit is None or x.at < limit)]
        added = []
        for item in todo:
            if item.text is not None:
                added.append(extra_lines(frame, [(item.at, item.text)]))
                self.injections.remove(item)
                continue
            torn = truncated_copies(frame, item.at, access=item.access)
            if torn.height:
                added.append(torn)
                self.injections.remove(item)
        return pl.concat([frame, *added]) if added else frame

    def _write(self, name: str, frame: pl.DataFrame) -> None:
        frame = frame.sort("t", "_i")
        paths = self.layout.formats[name][0]
        if len(paths) == 2:
            cut = self.layout.rotate_at
            self.sinks[paths[0]].write(frame.filter(pl.col("t") < cut))
            self.sinks[paths[1]].write(frame.filter(pl.col("t") >= cut))
        else:
            self.sinks[paths[0]].write(frame)
