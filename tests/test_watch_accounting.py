"""The watch accounts for every line as ingest does.

A golden input is fed to :class:`forensics.watch.engine.Watch` in batches of
whole lines cut at random places (a stack trace's lines may arrive in several
polls, so its event is held back and parsed again with the next lines). Once
the file is quiet, the watch's counts equal ingest's report of the same file:
lines, events, continuation, blank and malformed lines. Ingest counts
continuation lines in each format's parser; the watch counts them from the
lines it parsed for good, so the two are computed independently.
"""

from __future__ import annotations

import random
from datetime import datetime, timezone
from pathlib import Path

import pytest

from forensics.ingest import IngestOptions, ingest
from forensics.scan import ScanSettings
from forensics.watch.engine import Watch, WatchOptions
from forensics.watch.follow import NewLines

GOLDEN = Path(__file__).parent / "golden"
#: every format's golden input (multi-line events, blank and malformed lines, headers)
CASES = sorted(p.parent.name for p in GOLDEN.glob("*/input.log"))
NOW = datetime(2030, 1, 1, tzinfo=timezone.utc)


def _batches(data: bytes, rng: random.Random, n: int) -> list[tuple[int, bytes]]:
    """``data`` cut into about ``n`` runs of whole lines: (first line number, bytes)."""
    lines = data.splitlines(keepends=True)
    cuts = sorted(rng.sample(range(1, len(lines)), min(n - 1, max(len(lines) - 1, 0))))
    out, start = [], 0
    for c in [*cuts, len(lines)]:
        out.append((start + 1, b"".join(lines[start:c])))
        start = c
    return out


def _watch(path: Path, seed: int, pieces: int, fmt: str | None) -> Watch:
    settings = ScanSettings(ingest=IngestOptions(cache_dir=None, format=fmt))
    w = Watch(settings=settings, options=WatchOptions(window_s=1e9))  # every event stays in the window
    rng = random.Random(seed)
    for first, chunk in _batches(path.read_bytes(), rng, pieces):
        w.add([NewLines(str(path), path.name, first, chunk)], now=NOW)
    w.add([], now=NOW)  # the file went quiet: a held-back event is complete
    return w


def _check(case: str, path: Path, seed: int, pieces: int, given: bool) -> None:
    ing = ingest([path], options=IngestOptions(cache_dir=None))
    report = ing.accounting.files[0]
    assert report.balanced()
    w = _watch(path, seed, pieces, report.format if given else None)
    c = w.counts
    got = (c.lines, c.events, c.continuation, c.blank, c.malformed)
    want = (report.lines, report.events, report.continuation_lines, report.blank_lines, report.malformed)
    assert got == want, f"{case}: watch (lines, events, continuation, blank, malformed) {got} != ingest {want}"
    assert c.balanced()
    # and they are the same events: the lines they start on
    seen = sorted(w.window(NOW)["line"].to_list()) if c.events else []
    assert seen == sorted(ing.events["line"].to_list())


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("given,seed,pieces", [(False, 1, 1), (False, 3, 9), (True, 2, 3), (True, 3, 9)],
                         ids=["sniffed-whole", "sniffed-9", "given-3", "given-9"])
def test_the_watch_counts_every_line_as_ingest_does(case, given, seed, pieces):
    """``given``: the format is given (``--format``), so the watch parses
    each batch as it comes; sniffed, it waits for enough lines to choose the
    format from (the small golden files then arrive whole)."""
    path = GOLDEN / case / "input.log"
    if given and case.startswith("cri") and pieces > 3:
        # known: a container envelope's payload format is sniffed per batch, and
        # a batch of a few lines can read a payload line as an event that the
        # whole file folds (docs/watch.md); this fails loudly once it is fixed
        with pytest.raises(AssertionError):
            _check(case, path, seed, pieces, given)
        pytest.xfail("payload formats sniffed per batch (known)")
    _check(case, path, seed, pieces, given)


def test_a_held_back_event_is_not_counted_until_its_file_is_quiet():
    path = GOLDEN / "plain_python" / "input.log"
    fmt = ingest([path], options=IngestOptions(cache_dir=None)).accounting.files[0].format
    w = Watch(settings=ScanSettings(ingest=IngestOptions(cache_dir=None, format=fmt)))
    w.add([NewLines(str(path), path.name, 1, path.read_bytes())], now=NOW)
    c = w.counts
    held = c.lines - (c.events - c.extra_events + c.continuation + c.blank + c.malformed)
    assert c.events > 0 and held > 0 and not c.balanced()
    w.add([], now=NOW)
    assert w.counts.balanced()


def test_a_new_file_waits_for_enough_lines_to_choose_its_format():
    path = GOLDEN / "plain_python" / "input.log"
    w = Watch()
    w.add([NewLines(str(path), path.name, 1, path.read_bytes())], now=NOW)
    assert w.counts.events == 0 and w.counts.lines > 0  # fewer than 64 lines: not chosen yet
    w.add([], now=NOW)  # quiet: chosen from what there is
    assert w.counts.events > 0 and w.counts.balanced()


def test_lines_that_never_start_an_event_are_not_held_back_without_bound(monkeypatch):
    import forensics.watch.engine as engine

    monkeypatch.setattr(engine, "HOLD_MAX", 64)
    w = Watch(settings=ScanSettings(ingest=IngestOptions(cache_dir=None, format="otlp")))
    w.add([NewLines("x.json", "x.json", 1, b'{"resourceLogs": [\n' * 10)], now=NOW)
    assert w.counts.malformed == 10  # 190 bytes: parsed as they are, not held
