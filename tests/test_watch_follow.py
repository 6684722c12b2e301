"""The file follower of ``forensics watch`` (forensics/watch/follow.py; rules
in docs/watch.md, "Following files").  Every test drives the follower by
calling ``poll()``; none sleeps."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from forensics.errors import InputError, UsageError
from forensics.ingest.discover import find_files
from forensics.watch.follow import Follower, NewLines
from forensics.watch.follow_catalog import list_files


def line(i: int, tag: str = "app") -> bytes:
    """A log line long enough (> 64 bytes) for fingerprints to recognize a file."""
    return f"2024-05-01T10:00:{i:02d}Z INFO {tag} request {i} handled by worker-{i % 4} in 12 ms ok\n".encode()


def lines(a: int, b: int, tag: str = "app") -> bytes:
    return b"".join(line(i, tag) for i in range(a, b + 1))


def append(path: Path, data: bytes) -> None:
    with open(path, "ab") as fh:
        fh.write(data)


def brief(batches: list[NewLines]) -> list[tuple]:
    """``(path, first_line, data, rotated)`` per batch."""
    return [(b.path, b.first_line, b.data, b.rotated) for b in batches]


def numbered(batches: list[NewLines]) -> list[tuple[str, int, bytes]]:
    """Every delivered line as ``(path, number, line)``."""
    out = []
    for b in batches:
        for k, text in enumerate(b.data.splitlines(keepends=True)):
            out.append((b.path, b.first_line + k, text))
    return out


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    d = tmp_path / "logs"
    d.mkdir()
    return d


# ---------------------------------------------------------------- start


def test_existing_content_is_not_read_and_numbering_starts_at_the_file_start(logs):
    app = logs / "app.log"
    app.write_bytes(lines(1, 3))
    with Follower([logs]) as f:
        assert f.poll() == []
        append(app, lines(4, 5))
        assert brief(f.poll()) == [(str(app), 4, lines(4, 5), False)]
        assert f.poll() == []


def test_a_file_followed_from_its_end_is_read_only_once_it_grows(logs, monkeypatch):
    app = logs / "app.log"
    app.write_bytes(lines(1, 40) * 1000)
    with Follower([logs]) as f:
        real_pread = os.pread
        read = []

        def spy(fd, n, pos):
            data = real_pread(fd, n, pos)
            read.append(len(data))
            return data

        monkeypatch.setattr(os, "pread", spy)
        assert f.poll() == [] and f.poll() == []
        assert sum(read) == 0
        append(app, line(41))
        assert numbered(f.poll()) == [(str(app), 40_001, line(41))]


def test_a_file_created_after_the_start_is_read_from_its_first_line(logs):
    with Follower([logs]) as f:
        assert f.poll() == []
        (logs / "new.log").write_bytes(lines(1, 2))
        assert brief(f.poll()) == [(str(logs / "new.log"), 1, lines(1, 2), False)]


def test_a_new_file_shorter_than_64_bytes_is_taken_in_once_it_stops_changing(logs):
    with Follower([logs]) as f:
        short = logs / "short.log"
        short.write_bytes(b"one\n")              # too short to tell whether it is a copy
        assert f.poll() == []
        assert brief(f.poll()) == [(str(short), 1, b"one\n", False)]
        append(short, b"two\n")
        assert brief(f.poll()) == [(str(short), 2, b"two\n", False)]


def test_a_closed_follower_returns_nothing_and_can_still_save_its_state(logs, tmp_path):
    (logs / "app.log").write_bytes(lines(1, 2))
    f = Follower([logs], state=tmp_path / "state.json")
    f.poll()
    f.close()
    append(logs / "app.log", line(3))
    assert f.poll() == []
    f.save_state()
    with Follower([logs], state=tmp_path / "state.json") as g:
        assert numbered(g.poll()) == [(str(logs / "app.log"), 3, line(3))]


def test_from_start_reads_existing_content(logs):
    (logs / "app.log").write_bytes(lines(1, 3))
    with Follower([logs], from_start=True) as f:
        assert brief(f.poll()) == [(str(logs / "app.log"), 1, lines(1, 3), False)]
        assert f.poll() == []


def test_a_line_being_written_at_the_start_is_delivered_whole_once_complete(logs):
    app = logs / "app.log"
    app.write_bytes(lines(1, 2) + b"half of line 3")
    with Follower([logs]) as f:
        assert f.poll() == []
        append(app, b" and its end\n")
        assert brief(f.poll()) == [(str(app), 3, b"half of line 3 and its end\n", False)]


# ---------------------------------------------------------------- appended lines


def test_a_partial_last_line_is_held_back_until_its_newline_arrives(logs):
    app = logs / "app.log"
    app.write_bytes(b"")
    with Follower([logs]) as f:
        append(app, b"one\ntw")
        assert brief(f.poll()) == [(str(app), 1, b"one\n", False)]
        append(app, b"o")
        assert f.poll() == []
        append(app, b"\nthree\n")
        assert brief(f.poll()) == [(str(app), 2, b"two\nthree\n", False)]


def test_crlf_line_ends_are_kept_as_they_are(logs):
    app = logs / "app.log"
    app.write_bytes(b"")
    with Follower([logs]) as f:
        append(app, b"a\r\nb\r\n")
        assert [b.data for b in f.poll()] == [b"a\r\nb\r\n"]


def test_a_line_of_several_megabytes_is_delivered_whole(logs):
    app = logs / "app.log"
    app.write_bytes(b"")
    big = b"x" * (5 * 1024 * 1024)
    with Follower([logs]) as f:
        append(app, b"before\n" + big[:3_000_000])
        assert brief(f.poll()) == [(str(app), 1, b"before\n", False)]
        append(app, big[3_000_000:] + b"\nafter\n")
        assert brief(f.poll()) == [(str(app), 2, big + b"\nafter\n", False)]


def test_at_most_max_read_bytes_are_read_per_file_per_poll(logs):
    app = logs / "app.log"
    app.write_bytes(b"")
    with Follower([logs], max_read=250) as f:
        append(app, lines(1, 10))
        got = []
        for _ in range(20):
            batches = f.poll()
            assert all(len(b.data) <= 250 for b in batches)
            got += numbered(batches)
        assert [n for _, n, _ in got] == list(range(1, 11))
        assert b"".join(t for _, _, t in got) == lines(1, 10)
        assert f.errors == []


def test_a_line_longer_than_max_read_is_delivered_in_pieces_and_reported(logs):
    app = logs / "app.log"
    app.write_bytes(b"")
    with Follower([logs], max_read=100) as f:
        append(app, b"y" * 250 + b"\nz\n")
        got = []
        for _ in range(5):
            got += numbered(f.poll())
        assert [t for _, _, t in got] == [b"y" * 100 + b"\n", b"y" * 100 + b"\n", b"y" * 50 + b"\n", b"z\n"]
        assert [n for _, n, _ in got] == [1, 2, 3, 4]
        assert len(f.errors) == 1 and "longer than 100 bytes" in f.errors[0]


def test_batches_come_in_a_stable_order(logs):
    a, b = logs / "a.log", logs / "b.log"
    a.write_bytes(b"")
    b.write_bytes(b"")
    with Follower([logs]) as f:
        for i in range(3):
            append(b, line(i))
            append(a, line(i))
            assert [x.path for x in f.poll()] == [str(a), str(b)]


# ---------------------------------------------------------------- rotation


def test_rename_rotation_reads_the_old_file_to_its_end_then_the_new_one_from_line_1(logs):
    app = logs / "app.log"
    app.write_bytes(lines(1, 2))
    with Follower([logs]) as f:
        f.poll()
        append(app, line(3))                      # before the rename
        app.rename(logs / "app.log.1")
        append(logs / "app.log.1", line(4))       # after it, through the writer's open descriptor
        app.write_bytes(line(1, "new"))
        got = f.poll()
        assert brief(got) == [(str(app), 3, line(3) + line(4), False), (str(app), 1, line(1, "new"), True)]
        assert got[0].generation < got[1].generation
        assert f.poll() == []


def test_a_renamed_file_in_a_watched_folder_is_not_read_again_as_a_new_file(logs):
    app = logs / "app.log"
    app.write_bytes(lines(1, 2))
    with Follower([logs]) as f:
        f.poll()
        app.rename(logs / "app.log.1")
        app.write_bytes(b"")
        assert f.poll() == []
        append(logs / "app.log.1", line(3))       # a late write to the old generation
        assert brief(f.poll()) == [(str(app), 3, line(3), False)]


def test_a_file_watched_by_name_and_renamed_away_is_read_a_few_polls_more(logs):
    app = logs / "app.log"
    app.write_bytes(lines(1, 2))
    with Follower([app], linger=2) as f:
        f.poll()
        app.rename(logs / "app.log.1")
        append(logs / "app.log.1", line(3))
        app.write_bytes(line(1, "new"))
        assert brief(f.poll()) == [("%s" % app, 3, line(3), False), (str(app), 1, line(1, "new"), True)]
        append(logs / "app.log.1", line(4))       # the writer has not reopened yet
        assert brief(f.poll()) == [(str(app), 4, line(4), False)]
        assert f.poll() == [] and f.poll() == []  # two polls without growth: closed
        append(logs / "app.log.1", line(5))
        assert f.poll() == []
        assert f.followed() == [str(app)]


def test_a_gzip_rotation_of_a_followed_file_is_ignored(logs):
    app = logs / "app.log"
    app.write_bytes(lines(1, 2))
    with Follower([logs]) as f:
        f.poll()
        append(app, line(3))
        app.rename(logs / "app.log.1")
        (logs / "app.log.1.gz").write_bytes(gzip.compress((logs / "app.log.1").read_bytes()))
        (logs / "app.log.1").unlink()
        app.write_bytes(line(1, "new"))
        got = numbered(f.poll())
        for _ in range(3):
            got += numbered(f.poll())
        assert got == [(str(app), 3, line(3)), (str(app), 1, line(1, "new"))]
        assert f.errors == []


def test_a_later_gzip_of_an_already_followed_rotation_is_ignored(logs):
    app = logs / "app.log"
    app.write_bytes(lines(1, 2))
    with Follower([logs]) as f:
        f.poll()
        app.rename(logs / "app.log.1")            # delaycompress: the first rotation stays plain
        app.write_bytes(line(1, "new"))
        assert numbered(f.poll()) == [(str(app), 1, line(1, "new"))]
        (logs / "app.log.2.gz").write_bytes(gzip.compress((logs / "app.log.1").read_bytes()))
        (logs / "app.log.1").unlink()
        app.rename(logs / "app.log.1")
        app.write_bytes(line(1, "newer"))
        got = numbered(f.poll()) + numbered(f.poll()) + numbered(f.poll())
        assert got == [(str(app), 1, line(1, "newer"))]


def test_a_new_gzip_file_is_read_once_whole_when_it_stops_changing(logs):
    with Follower([logs]) as f:
        f.poll()
        archive = logs / "other.log.gz"
        archive.write_bytes(gzip.compress(lines(1, 3, "other") + b"no newline at the end"))
        assert f.poll() == []                      # just appeared: waits one poll
        assert brief(f.poll()) == [(str(archive), 1, lines(1, 3, "other") + b"no newline at the end\n", False)]
        assert f.poll() == [] and f.poll() == []


def test_compressed_files_present_at_the_start_are_read_only_with_from_start(logs):
    archive = logs / "app.log.2.gz"
    archive.write_bytes(gzip.compress(lines(1, 2)))
    with Follower([logs]) as f:
        assert f.poll() == [] and f.poll() == []
    with Follower([logs], from_start=True) as f:
        assert brief(f.poll()) == [(str(archive), 1, lines(1, 2), False)]
        assert f.poll() == []


def test_copytruncate_starts_again_at_line_1_and_reads_the_lines_only_the_copy_has(logs):
    app = logs / "app.log"
    app.write_bytes(lines(1, 2))
    with Follower([logs]) as f:
        f.poll()
        append(app, line(3))                      # written after the last poll ...
        shutil.copyfile(app, logs / "app.log.1")  # ... copied ...
        os.truncate(app, 0)                       # ... and truncated away
        append(app, line(1, "new"))
        got = f.poll()
        assert brief(got) == [(str(app), 3, line(3), False), (str(app), 1, line(1, "new"), True)]
        assert f.poll() == []
        (logs / "app.log.2.gz").write_bytes(gzip.compress((logs / "app.log.1").read_bytes()))
        (logs / "app.log.1").unlink()
        assert f.poll() == [] and f.poll() == []


def test_copytruncate_of_a_file_watched_by_name_loses_only_the_lines_written_since_the_last_poll(logs):
    app = logs / "app.log"
    app.write_bytes(lines(1, 2))
    with Follower([app]) as f:
        f.poll()
        append(app, line(3))                      # inherent loss: the copy is not watched
        shutil.copyfile(app, logs / "app.log.1")
        os.truncate(app, 0)
        append(app, line(1, "new"))
        assert brief(f.poll()) == [(str(app), 1, line(1, "new"), True)]


def test_truncation_is_seen_when_the_file_grew_past_the_old_offset(logs):
    app = logs / "app.log"
    app.write_bytes(lines(1, 2))
    with Follower([logs]) as f:
        f.poll()
        app.write_bytes(lines(1, 5, "rewritten"))  # same inode, longer than before, other content
        assert brief(f.poll()) == [(str(app), 1, lines(1, 5, "rewritten"), True)]


def test_a_deleted_file_is_read_to_its_end_then_dropped(logs):
    app = logs / "app.log"
    app.write_bytes(lines(1, 2))
    with Follower([logs]) as f:
        f.poll()
        with open(app, "ab") as writer:
            writer.write(line(3))
            app.unlink()
            writer.write(b"last, without newline")
            writer.flush()
            assert brief(f.poll()) == [(str(app), 3, line(3) + b"last, without newline\n", False)]
            assert f.followed() == []
            writer.write(line(5))
            writer.flush()
            assert f.poll() == []


# ---------------------------------------------------------------- folders


def test_new_files_in_watched_folders_follow_the_ingest_rules(logs, tmp_path):
    for name in ("a.log", "sub/b.log", "sub/deeper/c.txt", "README.md", "x.parquet", "truth.json",
                 ".hidden.log", ".git/objects.log", "sub/.cache/d.log"):
        p = logs / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x\n")
    single = tmp_path / "single.log"
    single.write_bytes(b"s\n")
    entries, problems = list_files([str(logs), str(single)])
    found = find_files([logs, single])
    assert problems == []
    assert [(e.display, e.relative) for e in entries] == [(d, r) for _, d, r in found.files]
    with Follower([logs]) as f:
        f.poll()
        for name in ("sub/new.log", "notes.md", ".new.log", "sub/.cache/e.log"):
            (logs / name).write_bytes(line(1))
        assert [(b.path, b.relative) for b in f.poll()] == [(str(logs / "sub/new.log"), "sub/new.log")]


def test_a_copy_of_a_followed_file_is_not_read_again(logs):
    app = logs / "app.log"
    app.write_bytes(lines(1, 3))
    with Follower([logs]) as f:
        f.poll()
        shutil.copyfile(app, logs / "backup.log")
        append(app, line(4))
        assert numbered(f.poll()) == [(str(app), 4, line(4))]
        assert f.poll() == []


def test_a_binary_file_in_a_watched_folder_is_passed_over_with_one_error(logs):
    with Follower([logs]) as f:
        wtmp = logs / "wtmp"
        wtmp.write_bytes(bytes(range(256)) * 8)
        assert f.poll() == []
        append(wtmp, bytes(range(256)))
        assert f.poll() == []
        assert f.errors == [f"{wtmp}: not followed: binary content"]


def test_two_names_of_one_file_are_followed_once(logs):
    app = logs / "a.log"
    app.write_bytes(b"")
    os.link(app, logs / "b.log")
    with Follower([logs]) as f:
        append(app, b"one\n")
        assert brief(f.poll()) == [(str(app), 1, b"one\n", False)]


def test_a_fifo_in_a_watched_folder_is_never_opened(logs):
    os.mkfifo(logs / "pipe.log")
    (logs / "app.log").write_bytes(b"")
    with Follower([logs]) as f:
        append(logs / "app.log", b"one\n")
        assert [b.path for b in f.poll()] == [str(logs / "app.log")]
        assert f.errors == []


# ---------------------------------------------------------------- problems


def test_a_missing_path_is_reported_once_and_followed_from_its_start_when_it_appears(tmp_path):
    later = tmp_path / "later.log"
    with Follower([later]) as f:
        assert f.errors == [f"{later}: no such file or folder"]
        f.poll()
        f.poll()
        assert f.errors == [f"{later}: no such file or folder"]
        later.write_bytes(line(1))
        assert brief(f.poll()) == [(str(later), 1, line(1), False)]


def test_an_unreadable_file_is_one_error_and_is_retried(logs, monkeypatch):
    app = logs / "app.log"
    app.write_bytes(b"zero\n")
    real_open = os.open

    def refuse(path, *args, **kw):
        if os.fspath(path) == str(app):
            raise PermissionError(13, "Permission denied")
        return real_open(path, *args, **kw)

    monkeypatch.setattr(os, "open", refuse)
    f = Follower([logs])
    append(app, b"one\n")
    assert f.poll() == [] and f.poll() == []
    assert f.errors == [f"{app}: cannot read: Permission denied"]
    monkeypatch.setattr(os, "open", real_open)
    append(app, b"two\n")  # followed from its end at the start, like the others
    assert brief(f.poll()) == [(str(app), 2, b"one\ntwo\n", False)]
    f.close()


def test_poll_never_raises_on_a_read_failure_and_picks_up_afterwards(logs, monkeypatch):
    app = logs / "app.log"
    app.write_bytes(b"")
    with Follower([logs]) as f:
        append(app, b"one\n")
        real_pread = os.pread

        def broken(*args):
            raise OSError(5, "Input/output error")

        monkeypatch.setattr(os, "pread", broken)
        assert f.poll() == []
        assert f.errors == [f"{app}: cannot read: Input/output error"]
        monkeypatch.setattr(os, "pread", real_pread)
        assert brief(f.poll()) == [(str(app), 1, b"one\n", False)]


def test_bad_settings_are_usage_errors(logs):
    with pytest.raises(UsageError):
        Follower([logs], max_read=0)


# ---------------------------------------------------------------- state


def test_state_resume_reads_each_line_exactly_once(logs, tmp_path):
    state = tmp_path / "state.json"
    app = logs / "app.log"
    app.write_bytes(lines(1, 2))
    with Follower([logs], state=state) as f:
        append(app, line(3) + b"partial")
        assert numbered(f.poll()) == [(str(app), 3, line(3))]
        f.save_state()
    append(app, b" line 4\n" + line(5))
    with Follower([logs], state=state) as f:
        assert brief(f.poll()) == [(str(app), 4, b"partial line 4\n" + line(5), False)]
        f.save_state()
    with Follower([logs], state=state) as f:
        assert f.poll() == []
        append(app, line(6))
        assert numbered(f.poll()) == [(str(app), 6, line(6))]


def test_state_resume_reads_what_came_while_the_watch_was_down(logs, tmp_path):
    state = tmp_path / "state.json"
    app = logs / "app.log"
    app.write_bytes(lines(1, 2))
    other = tmp_path / "other"
    other.mkdir()
    (other / "o.log").write_bytes(lines(1, 2, "o"))
    with Follower([logs], state=state) as f:
        f.poll()
        f.save_state()
    append(app, lines(3, 4))
    (logs / "born_while_down.log").write_bytes(line(1, "born"))
    with Follower([logs, other], state=state) as f:  # `other` is new to this state: followed from its end
        got = f.poll()
    assert brief(got) == [(str(app), 3, lines(3, 4), False),
                          (str(logs / "born_while_down.log"), 1, line(1, "born"), False)]


def test_state_resume_of_a_file_replaced_under_the_same_inode_starts_at_line_1(logs, tmp_path):
    state = tmp_path / "state.json"
    app = logs / "app.log"
    app.write_bytes(lines(1, 2))
    with Follower([logs], state=state) as f:
        f.poll()
        f.save_state()
    ino = app.stat().st_ino
    app.write_bytes(lines(1, 4, "replaced"))     # same inode, longer, other content
    assert app.stat().st_ino == ino
    with Follower([logs], state=state) as f:
        assert brief(f.poll()) == [(str(app), 1, lines(1, 4, "replaced"), True)]


def test_state_resume_after_a_rename_rotation_while_down(logs, tmp_path):
    state = tmp_path / "state.json"
    app = logs / "app.log"
    app.write_bytes(lines(1, 2))
    with Follower([logs], state=state) as f:
        f.poll()
        f.save_state()
    append(app, line(3))
    app.rename(logs / "app.log.1")
    app.write_bytes(line(1, "new"))
    with Follower([logs], state=state) as f:
        assert brief(f.poll()) == [(str(app), 3, line(3), False), (str(app), 1, line(1, "new"), True)]
        assert f.poll() == []


def test_state_resume_after_a_gzip_rotation_while_down_reads_the_missed_lines_from_the_archive(logs, tmp_path):
    state = tmp_path / "state.json"
    app = logs / "app.log"
    app.write_bytes(lines(1, 2))
    with Follower([logs], state=state) as f:
        f.poll()
        f.save_state()
    append(app, lines(3, 4))
    (logs / "app.log.1.gz").write_bytes(gzip.compress(app.read_bytes()))
    app.unlink()
    app.write_bytes(line(1, "new"))
    with Follower([logs], state=state) as f:
        got = f.poll() + f.poll() + f.poll()
    assert brief(got) == [(str(app), 3, lines(3, 4), False), (str(app), 1, line(1, "new"), True)]


def test_state_is_one_json_document_written_atomically(logs, tmp_path):
    state = tmp_path / "state.json"
    app = logs / "app.log"
    app.write_bytes(lines(1, 2))
    with Follower([logs], state=state, from_start=True) as f:
        f.poll()
        f.save_state()
    doc = json.loads(state.read_text())
    st = app.stat()
    (entry,) = doc["files"]
    assert doc["version"] == 1 and doc["roots"] == [os.path.abspath(logs)]
    assert (entry["path"], entry["dev"], entry["ino"], entry["offset"], entry["line"]) == \
        (str(app), st.st_dev, st.st_ino, len(lines(1, 2)), 3)
    assert entry["head_len"] == len(lines(1, 2))
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_a_state_file_inside_a_watched_folder_is_not_followed(logs):
    state = logs / "watch-state.json"
    (logs / "app.log").write_bytes(b"")
    with Follower([logs], state=state) as f:
        f.save_state()
        append(logs / "app.log", b"one\n")
        assert [b.path for b in f.poll()] == [str(logs / "app.log")]
        f.save_state()
        assert f.poll() == []


def test_a_corrupt_state_file_is_an_input_error(logs, tmp_path):
    state = tmp_path / "state.json"
    state.write_text("{not json")
    with pytest.raises(InputError, match="not a watch state file"):
        Follower([logs], state=state)


def test_the_watch_package_imports_nothing_on_import():
    code = ("import sys, forensics.watch; "
            "print(sorted(m for m in sys.modules if m.startswith(('forensics.', 'polars'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['forensics.watch']"


# ---------------------------------------------------------------- a random writer and logrotate


class _Rotating:
    """A writer of numbered lines into ``logs/app.log`` with logrotate's moves
    (rename, copytruncate, compress, delete an archive) and restarts of the
    follower (state saved, follower closed, lines written meanwhile)."""

    def __init__(self, logs: Path, state: Path, rnd, *, from_start: bool) -> None:
        self.logs, self.state, self.rnd, self.from_start = logs, state, rnd, from_start
        self.app = logs / "app.log"
        pre = b"".join(b"id=%06d line present at the start, long enough to be recognized\n" % (900000 + k)
                       for k in range(3))
        self.app.write_bytes(b"" if from_start else pre)
        self.max_read = rnd.choice([160, 1000, 1 << 20])
        self.follower: Follower | None = self._follower()
        self.written: list[int] = []
        self.got: list[tuple[str, int, int, bytes]] = []
        self.partial: bytes | None = None
        self.archives = 0

    def _follower(self) -> Follower:
        return Follower([self.logs], from_start=self.from_start, state=self.state, max_read=self.max_read)

    def poll(self) -> int:
        if self.follower is None:
            return 0
        batches = self.follower.poll()
        for b in batches:
            for k, text in enumerate(b.data.splitlines(keepends=True)):
                self.got.append((b.path, b.generation, b.first_line + k, text))
        return len(batches)

    def _finish_line(self) -> None:
        if self.partial is not None:
            append(self.app, self.partial)
            self.partial = None

    def _shift(self) -> None:
        self._finish_line()
        rotated = sorted((int(p.name.rsplit(".", 1)[1]), p) for p in self.logs.glob("app.log.[0-9]*"))
        for n, p in reversed(rotated):
            p.rename(self.logs / f"app.log.{n + 1}")

    def step(self, op: str) -> None:
        if op in ("write", "half"):
            self._finish_line()
            for _ in range(self.rnd.randint(1, 4)):
                self.written.append(len(self.written) + 1)
                text = b"id=%06d " % len(self.written) + b"x" * self.rnd.randint(60, 140)
                text += b"\r\n" if len(self.written) % 7 == 0 else b"\n"
                if op == "half":
                    cut = self.rnd.randint(1, len(text) - 1)
                    append(self.app, text[:cut])
                    self.partial = text[cut:]
                    break
                append(self.app, text)
        elif op == "poll":
            self.poll()
        elif op == "rename":
            self._shift()
            self.app.rename(self.logs / "app.log.1")
            self.app.write_bytes(b"")
        elif op == "copytruncate":
            self._shift()
            shutil.copyfile(self.app, self.logs / "app.log.1")
            os.truncate(self.app, 0)
        elif op == "compress":
            rotated = sorted((int(p.name.rsplit(".", 1)[1]), p) for p in self.logs.glob("app.log.[0-9]*"))
            if rotated:
                self.archives += 1
                source = rotated[-1][1]
                (self.logs / f"archive{self.archives}.gz").write_bytes(gzip.compress(source.read_bytes()))
                source.unlink()
        elif op == "delete_archive" and self.follower is not None:
            archives = sorted(self.logs.glob("*.gz"))
            while archives and self.poll() + self.poll():  # an archive is deleted once every line was read
                pass
            if archives:
                archives[0].unlink()
        elif op == "restart":
            if self.follower is not None:
                self.follower.save_state()
                self.follower.close()
                self.follower = None
            else:
                self.follower = self._follower()

    def finish(self) -> None:
        self._finish_line()
        if self.follower is None:
            self.follower = self._follower()
        while self.poll() + self.poll():
            pass
        self.follower.close()


@pytest.mark.parametrize("from_start", [True, False])
@pytest.mark.parametrize("seed", range(12))
def test_random_writes_and_rotations_deliver_every_line_once_in_order(tmp_path, seed, from_start):
    import random

    rnd = random.Random(seed)
    logs = tmp_path / "logs"
    logs.mkdir()
    model = _Rotating(logs, tmp_path / "state.json", rnd, from_start=from_start)
    ops = ["write", "half", "poll", "rename", "copytruncate", "compress", "delete_archive", "restart"]
    for op in rnd.choices(ops, [30, 8, 30, 5, 5, 5, 3, 4], k=80):
        model.step(op)
    model.finish()
    ids = sorted(int(text[3:9]) for _, _, _, text in model.got)
    assert ids == model.written                       # every line once; none present at the start
    numbers: dict[tuple[str, int], list[int]] = {}
    for path, generation, number, _ in model.got:
        numbers.setdefault((path, generation), []).append(number)
    for nos in numbers.values():                       # numbered on without a gap
        assert nos == list(range(nos[0], nos[0] + len(nos)))
    assert model.follower.errors == []
