"""Columns set aside while mining (forensics.spill, forensics.scan_aside):
the same result and the same frames, nothing left on disk, and mining reads
only the columns it declares."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest

import forensics.scan_aside as scan_aside
from forensics.errors import DataError
from forensics.ingest import IngestOptions, ingest
from forensics.mining import EVENT_COLUMNS, mine, mining_to_json
from forensics.mining.labeled import mine_labeled
from forensics.scan import ScanSettings, run_scan
from forensics.spill import in_memory_fs, set_aside
from forensics.timeline import analysis_columns, build_timeline
from tests.test_labeled import block_rows, keys, timeline_of

SAMPLE = Path(__file__).resolve().parent.parent / "sample_logs"


def _address(series: pl.Series) -> int:
    """Where a primitive column's values live (Arrow export is zero-copy)."""
    return series.rechunk().to_arrow().buffers()[1].address


@pytest.fixture(scope="module")
def scans(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    settings = ScanSettings(ingest=IngestOptions(cache_dir=None))
    kept = run_scan([SAMPLE], settings=settings)
    calls = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(scan_aside, "MIN_EVENTS", 0)
        real = scan_aside.set_aside_for_mining

        def spy(*a, **k):
            out = real(*a, **k)
            calls.append(out[2])
            return out

        mp.setattr("forensics.scan.set_aside_for_mining", spy)
        # a cache folder that holds no scan yet: the scan is computed, and the columns go to <cache>/spill
        aside = run_scan([SAMPLE], settings=replace(settings, ingest=IngestOptions(cache_dir=str(cache))))
    return kept, aside, calls, cache


def test_a_scan_that_sets_columns_aside_while_mining_gives_the_same_result(scans):
    kept, aside, calls, _ = scans
    assert len(calls) == 1 and calls[0] is not None  # the columns were set aside
    plan = calls[0]
    assert "message" in plan.spilled.names["timeline"]
    assert ("timeline", "session") in plan.masked  # its null mask over session_key
    a, b = kept.to_json(), aside.to_json()
    for doc in (a, b):
        doc.pop("tool"), doc["parameters"]["ingest"].pop("cache_dir")
    assert a == b


def test_columns_read_back_are_the_same_frames_sharing_the_same_columns(scans):
    kept, aside, _, _ = scans
    assert aside.timeline.events.columns == kept.timeline.events.columns
    assert aside.timeline.events.equals(kept.timeline.events)
    fresh = ingest([SAMPLE], options=IngestOptions(cache_dir=None), project=analysis_columns()).events
    assert aside.ingest.events.columns == fresh.columns
    assert aside.ingest.events.equals(fresh)  # the ingest's own users and sessions, not the linked ones
    assert not aside.ingest.events["user"].equals(aside.timeline.events["user"])
    for c in ("ts", "line", "status", "latency_ms"):  # one copy for both frames, as before
        assert _address(aside.ingest.events[c]) == _address(aside.timeline.events[c]), c
    assert _address(aside.ingest.events["line"]) != _address(kept.timeline.events["line"])  # the check can tell


def test_ingest_columns_that_only_fill_nulls_come_back_from_masks_and_others_whole(scans, tmp_path):
    kept, _, _, _ = scans
    tl = kept.timeline
    third = pl.int_range(pl.len()) % 3 == 0
    ev = tl.events.select(kept.ingest.events.columns).with_columns(
        pl.when(third).then(None).otherwise(pl.col("user")).alias("user"),  # the linked users, a third unset
        pl.when(third).then(pl.lit("other")).otherwise(pl.col("session")).alias("session"),  # not a fill
    )
    ing = replace(kept.ingest, events=ev)
    light_ing, light_tl, plan = scan_aside.set_aside_for_mining(ing, tl, folder=tmp_path, min_events=0)
    assert ("ingest", "user") in plan.masked and ("ingest", "session") not in plan.masked
    assert "session" in plan.spilled.names["ingest"] and "message" not in light_ing.events.columns
    back_ing, back_tl = scan_aside.put_back(light_ing, light_tl, plan)
    assert back_ing.events.columns == ev.columns and back_ing.events.equals(ev)
    assert back_tl.events.columns == tl.events.columns and back_tl.events.equals(tl.events)
    assert not list(tmp_path.iterdir())


def test_nothing_is_left_in_the_spill_folder(scans):
    _, _, _, cache = scans
    assert (cache / "spill").is_dir() and not list((cache / "spill").iterdir())


def test_a_failed_mining_leaves_no_spilled_file(monkeypatch, tmp_path):
    monkeypatch.setattr(scan_aside, "MIN_EVENTS", 0)

    def broken(*a, **k):
        raise RuntimeError("boom")

    monkeypatch.setattr("forensics.scan.mine", broken)
    with pytest.raises(RuntimeError, match="boom"):
        run_scan([SAMPLE], settings=ScanSettings(ingest=IngestOptions(cache_dir=str(tmp_path))))
    assert not list((tmp_path / "spill").iterdir())


def test_nothing_is_set_aside_below_the_size_or_when_the_timeline_reordered_events(tmp_path):
    ing = ingest([SAMPLE], options=IngestOptions(cache_dir=None), project=analysis_columns())
    tl = build_timeline(ing.events)
    assert scan_aside.set_aside_for_mining(ing, tl, folder=tmp_path)[2] is None  # 1,000,000 events by default
    assert scan_aside.set_aside_for_mining(ing, tl, folder=tmp_path, min_events=0)[2] is not None
    reordered = replace(tl, events=tl.events.reverse())
    assert scan_aside.set_aside_for_mining(ing, reordered, folder=tmp_path, min_events=0)[2] is None


def test_an_unwritable_folder_keeps_the_columns_in_memory(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    frame = pl.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    light, aside = set_aside({"f": frame}, {"f": ["b"]}, folder=blocker / "spill")
    assert aside is None and light["f"].equals(frame)


def test_a_spilled_file_that_vanished_is_a_data_error(tmp_path):
    frame = pl.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    _, aside = set_aside({"f": frame}, {"f": ["b"]}, folder=tmp_path)
    aside.path.unlink()
    with pytest.raises(DataError, match="cannot be read back"):
        aside.read()


def _only(tl, columns):
    return replace(tl, events=tl.events.select([c for c in tl.events.columns if c in columns]))


def test_mining_reads_no_event_column_but_the_ones_it_declares(scans):
    kept, _, _, _ = scans
    tl = kept.timeline
    assert tl.bursts  # the sample has bursts: evidence (a), (b) and (c) all run
    full, light = mine(tl), mine(_only(tl, EVENT_COLUMNS))
    assert mining_to_json(light) == mining_to_json(full)
    assert light.steps.equals(full.steps)


def test_labeled_mining_reads_no_event_column_but_the_ones_it_declares():
    tl = timeline_of(block_rows())
    full, light = mine_labeled(tl, keys(range(8))), mine_labeled(_only(tl, EVENT_COLUMNS), keys(range(8)))
    assert light.mining.suspects == full.mining.suspects and light.missing == full.missing
    assert light.mining.suspects  # something was found to compare


def test_a_folder_in_memory_is_not_used_to_spill(tmp_path):
    mounts = tmp_path / "mounts"
    mounts.write_text("/dev/vda / ext4 rw 0 0\ntmpfs /run/user tmpfs rw 0 0\ntmpfs /data/ram\\040disk tmpfs rw 0 0\n")
    assert in_memory_fs("/run/user/1000/x", mounts=str(mounts))
    assert in_memory_fs("/data/ram disk/spill", mounts=str(mounts))
    assert not in_memory_fs("/run/users", mounts=str(mounts))  # a sibling, not below the mount point
    assert not in_memory_fs("/home/me/.cache", mounts=str(mounts))
    if Path("/dev/shm").is_dir() and in_memory_fs("/dev/shm"):
        frame = pl.DataFrame({"a": [1, 2], "b": ["x", "y"]})
        assert set_aside({"f": frame}, {"f": ["b"]}, folder="/dev/shm")[1] is None


def test_a_failed_write_keeps_the_columns_in_memory_and_leaves_no_file(monkeypatch, tmp_path):
    def full_disk(self, *a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pl.DataFrame, "write_ipc", full_disk)
    frame = pl.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    light, aside = set_aside({"f": frame}, {"f": ["b"]}, folder=tmp_path)
    assert aside is None and light["f"].equals(frame) and not list(tmp_path.iterdir())


def test_a_labeled_scan_that_sets_columns_aside_gives_the_same_result(monkeypatch, tmp_path):
    from forensics.scan import FailingSettings
    from forensics.timeline import TimelineOptions
    from tests.test_labeled import PATTERN, _hdfs_text

    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "hdfs.log").write_text(_hdfs_text(block_rows(incomplete={0, 1, 2, 3})))
    labels = tmp_path / "labels.csv"
    labels.write_text("BlockId,Label\n" + "".join(f"blk_{1000 + b},{'Anomaly' if b < 8 else 'Normal'}\n"
                                                   for b in range(80)))
    settings = ScanSettings(ingest=IngestOptions(cache_dir=None), timeline=TimelineOptions(session_pattern=PATTERN),
                            failing=FailingSettings(path=str(labels), scope="whole"))
    kept = run_scan([tmp_path / "logs"], settings=settings)
    monkeypatch.setattr(scan_aside, "MIN_EVENTS", 0)
    read_back = []
    real = scan_aside.put_back
    monkeypatch.setattr("forensics.scan.put_back", lambda *a: read_back.append(1) or real(*a))
    aside = run_scan([tmp_path / "logs"], settings=settings)
    assert read_back == [1]  # the columns were set aside and read back
    a, b = kept.to_json(), aside.to_json()
    a.pop("tool"), b.pop("tool")
    assert a == b and any(s["kind"] == "missing_step" for s in a["suspects"])
    assert aside.timeline.events.equals(kept.timeline.events) and aside.ingest.events.equals(kept.ingest.events)
