"""Writing render frames to files, day by day, with exact line accounting
and a few injected malformed lines."""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl


@dataclass
class FileCounts:
    """What the simulator wrote to one file (the rules ingest follows)."""

    format: str
    lines: int = 0
    events: int = 0
    continuation_lines: int = 0
    blank_lines: int = 0
    malformed: int = 0
    malformed_lines: list[int] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "format": self.format, "lines": self.lines, "events": self.events,
            "continuation_lines": self.continuation_lines, "blank_lines": self.blank_lines,
            "malformed": self.malformed, "malformed_line_numbers": self.malformed_lines,
        }


class Sink:
    """An output file opened once and appended to per day (gzip with mtime 0
    when the name ends in ``.gz``)."""

    def __init__(self, path: Path, reader_format: str, *, gzip_level: int = 6) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._raw = open(path, "wb")
        self._fh = (
            gzip.GzipFile(filename=path.name[:-3], mode="wb", fileobj=self._raw, mtime=0, compresslevel=gzip_level)
            if path.name.endswith(".gz") else self._raw
        )
        self.counts = FileCounts(reader_format)

    def write(self, frame: pl.DataFrame) -> None:
        """Append a sorted frame with ``text``, ``cont`` and ``mal`` (Bool)."""
        if frame.height == 0:
            return
        c = self.counts
        lines = frame["cont"].cast(pl.Int64) + 1
        ends = c.lines + lines.cum_sum()
        mal = frame["mal"]
        c.malformed_lines.extend((ends.filter(mal)).to_list())
        c.lines = int(ends[-1])
        c.malformed += int(mal.sum())
        good = frame.filter(~mal)
        c.events += good.height
        c.continuation_lines += int(good["cont"].sum())
        frame.select("text").write_csv(self._fh, include_header=False, quote_style="never")

    def close(self) -> None:
        if self._fh is not self._raw:
            self._fh.close()
        self._raw.close()


def open_sinks(
    out_dir: str | Path, table: dict[str, tuple[tuple[str, ...], bool]], formats, *, scenario: str
) -> tuple[tuple[str, ...], dict[str, Sink]]:
    """Check the chosen writer names against ``table`` (name -> (relative
    paths, compress flag)) and open one :class:`Sink` per file.

    Returns the chosen names (all of ``table`` when ``formats`` is empty) and
    the sinks by relative path.  Raises UsageError / OutputError.
    """
    from ...errors import OutputError, UsageError

    chosen = tuple(table) if not formats else tuple(dict.fromkeys(formats))
    unknown = [f for f in chosen if f not in table]
    if unknown:
        raise UsageError(f"unknown {scenario} format {unknown[0]!r}; known: {', '.join(table)}")
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        sinks = {rel: Sink(out / rel, table[name][1]) for name in chosen for rel in table[name][0]}
    except OSError as exc:
        raise OutputError(f"{out}: cannot write: {exc.strerror or exc}") from None
    return chosen, sinks


def truncated_copies(frame: pl.DataFrame, at: int, *, access: bool = False) -> pl.DataFrame:
    """A malformed line: a torn copy (a write cut short) of the first clean
    single-line event at or after ``at``, placed right after it.  Empty when
    ``frame`` has no such line."""
    pool = frame.filter((pl.col("cont") == 0) & ~pl.col("err") & pl.col("cause").is_null() & ~pl.col("mal")
                        & (pl.col("t") >= at))
    if pool.height == 0:
        return frame.clear()
    pick = pool.sort("t", "_i").head(1)
    text = pick["text"][0]
    cut = text.find(" HTTP/") - 4 if access else (len(text) * 3) // 5
    return pick.with_columns(pl.lit(text[: max(cut, 10)]).alias("text"), pl.lit(True).alias("mal"),
                             (pl.col("_i") + 0.5).alias("_i"))


def extra_lines(frame: pl.DataFrame, rows: list[tuple[int, str]]) -> pl.DataFrame:
    """Malformed lines of foreign text at given times."""
    df = pl.DataFrame(rows, schema={"t": pl.Int64, "text": pl.String}, orient="row")
    return df.with_columns(
        pl.lit(0, pl.Int32).alias("cont"), pl.lit(False).alias("err"), pl.lit(None, pl.String).alias("cause"),
        pl.lit(None, pl.Int8).alias("ep"), pl.lit(None, pl.String).alias("svc"), pl.lit(-1.0).alias("_i"),
        pl.lit(True).alias("mal"),
    ).select(frame.columns)
