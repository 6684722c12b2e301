"""Following log files and folders like ``tail -F`` (``forensics watch``).

:class:`Follower` is polled (:meth:`Follower.poll`: ``os.stat``, ``os.walk``
and ``pread``; no inotify) and returns what was appended since the last poll
as :class:`NewLines`: whole lines, numbered as in their file.  The rules are
in docs/watch.md, "Following files"; in short:

* content present at the start is not read (``from_start`` reads it); a file
  appearing later is read from line 1;
* files are identified by ``(st_dev, st_ino)`` and keep the display path they
  were first followed at: a renamed file's last lines are still its old
  name's, and a new file at that name is a new *generation* (line 1,
  ``rotated``); a file that leaves the watched paths is read to its end
  through its open descriptor;
* a file that shrinks below what was read, or whose first 1 KiB changed, is
  read again from line 1 (copytruncate);
* a new file whose first bytes (decompressed) are those of a generation
  already followed under another name is a copy or a compressed rotation of
  it: only lines past what was read of it are delivered (usually none);
  another compressed file is read once, whole;
* binary files (``wtmp``, core dumps) are passed over with one error;
* :meth:`Follower.save_state` records where each file was left
  (:mod:`.follow_state`); :meth:`Follower.poll` never saves: call
  ``save_state`` once what a poll returned has been handled, so that a crash
  in between reads those lines again rather than losing them.

The parts: :mod:`.follow_catalog` (listing, and what is known about each
file), :mod:`.follow_files` (generations, reading one file),
:mod:`.follow_state` (the state file).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import UsageError
from .follow_catalog import Catalog, Entry, list_files
from .follow_files import Tail
from .follow_state import SavedFile, Saved, load_state, save_state, state_json

__all__ = ["NewLines", "Follower", "DEFAULT_MAX_READ"]

#: Bytes read per file per poll at most (the bound on memory).
DEFAULT_MAX_READ = 64 * 1024 * 1024


@dataclass(frozen=True)
class NewLines:
    """Lines appended to one file since the last poll.

    Attributes
    ----------
    path
        Display path, as :func:`forensics.ingest.discover.find_files` shows
        it (the generation's first name, see the module docstring).
    relative
        Path below the watched folder (the file name for a file given by name).
    first_line
        1-based line number, in its file, of the first line in ``data``.
    data
        Whole lines, each ending with ``b"\\n"`` (``\\r\\n`` kept as is).
    rotated
        These are the first lines of a new generation of ``path`` (after a
        rotation or truncation): what was held back of the previous one is
        complete.
    generation
        Number of the generation (grows with each new one; two generations of
        one path can both deliver lines in one poll, the older first).
    """

    path: str
    relative: str
    first_line: int
    data: bytes
    rotated: bool = False
    generation: int = 0


class Follower:
    """Follow files and folders; see the module docstring for the rules.

    A follower holds one open descriptor per followed file until
    :meth:`close` (or the end of a ``with`` block).  It is not thread-safe:
    poll it from one thread.

    Parameters
    ----------
    paths
        Files and folders (walked recursively, as ingest walks them); one
        path alone is taken as a list of one.
    from_start
        Read the content present at the start too.
    state
        JSON file to resume from (when it exists) and to write with
        :meth:`save_state`.
    max_read
        Bytes read per file per poll at most; a line longer than this is
        delivered in pieces of ``max_read`` bytes (each counted as a line).
    linger
        Polls a file renamed out of the watched paths is still read after it
        last grew.

    Attributes
    ----------
    errors
        One-line problems (a path missing, a file unreadable...), appended
        once each when they appear (again if they clear and come back); the
        caller may clear the list.  Files in trouble are retried each poll.

    Raises
    ------
    UsageError
        ``max_read`` or ``linger`` out of range.
    InputError
        The state file exists but cannot be read.
    """

    def __init__(self, paths: Sequence[str | os.PathLike], *, from_start: bool = False,
                 state: str | os.PathLike | None = None, max_read: int = DEFAULT_MAX_READ, linger: int = 2) -> None:
        if max_read < 1 or linger < 0:
            raise UsageError(f"max_read must be at least 1 and linger at least 0 (got {max_read}, {linger})")
        self.errors: list[str] = []
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        self._roots = [os.fspath(p) for p in paths]
        self._from_start = from_start
        self._state = os.path.abspath(state) if state is not None else None
        self._max_read = max_read
        self._linger = linger
        self._cat = Catalog()
        self._closed = False
        self._problems: set[str] = set()
        self._start(load_state(self._state) if self._state else None)

    # ------------------------------------------------------------ public

    def poll(self) -> list[NewLines]:
        """What was appended since the last poll (see the module docstring),
        ordered by path (in the order paths were first followed), an older
        generation before a newer one.  Never raises for a file's problems:
        they go to :attr:`errors`.  After :meth:`close`, nothing."""
        cat = self._cat
        if self._closed:
            return []
        out: list[tuple[tuple[int, int], NewLines]] = []
        entries = self._scan()
        present = {e.key: e for e in entries}
        for tail in list(cat.tails.values()):
            self._guard(tail.gen.display, self._step, tail, present.get(tail.key), out)
        for e in entries:
            if e.key in cat.tails or cat.is_done(e):
                continue
            self._guard(e.display, cat.take_in, e, cat.deferred.pop(e.key, None))
            if e.key in cat.tails:
                self._guard(e.display, self._step, cat.tails[e.key], e, out)
        cat.forget(present)
        self._flush()
        out.sort(key=lambda item: item[0])
        return [nl for _, nl in out]

    def followed(self) -> list[str]:
        """Display paths of the files open now, in report order."""
        if self._closed:
            return []
        names = {t.gen.display for t in self._cat.tails.values()}
        return sorted(names, key=lambda d: self._cat.order.get(d, 0))

    def save_state(self) -> None:
        """Write the state file atomically (nothing without ``state``).

        Raises
        ------
        OutputError
            It cannot be written.
        """
        if self._state is None:
            return
        cat = self._cat
        abs_roots = [os.path.abspath(r) for r in self._roots]
        save_state(self._state, state_json(abs_roots, list(cat.order), cat.saved_files(), list(cat.past),
                                           cat.saved_done()))

    def close(self) -> None:
        """Close every file (the state is not saved: call :meth:`save_state`,
        before or after)."""
        self._closed = True
        for tail in self._cat.tails.values():
            tail.close()

    def __enter__(self) -> Follower:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------ internals

    def _start(self, saved: Saved | None) -> None:
        """Take in the files present now: resumed from ``saved``, else followed
        from their end (from their start with ``from_start``, or when they
        appeared under a saved watched path while the watch was down)."""
        cat = self._cat
        entries = self._scan()
        known_roots: set[str] = set()
        if saved is not None:
            cat.restore(saved)
            known_roots = set(saved.roots)
        later: list[tuple[Entry, bool]] = []
        for e in entries:  # resume saved files first: the generations they no longer hold are retired
            rec = saved.files.pop(e.key, None) if saved is not None else None
            if rec is None:
                later.append((e, False))
            elif self._guard(e.display, cat.take_in, e, rec, admit=False) is False:
                later.append((e, True))
        if saved is not None:
            for rec in saved.files.values():  # gone while the watch was down
                cat.retire(rec.gen)
        for e, replaced in later:  # then the others (a copy of a retired generation is known now)
            if cat.is_done(e):
                continue
            rec = None
            if not (replaced or self._from_start or os.path.abspath(self._roots[e.root]) in known_roots):
                gen = cat.new_gen(e.display, e.relative)[0]  # followed from its end
                gen.count_to = e.size
                rec = SavedFile(e.key, gen, verified=True)
            self._guard(e.display, cat.take_in, e, rec)
        self._flush()

    def _step(self, tail: Tail, entry: Entry | None, out: list) -> None:
        """Read what ``tail`` has now (``entry``: where it is listed, ``None``
        when it left the watched paths), deliver its whole lines, and finish
        it when it is done."""
        cat = self._cat
        if tail.stream is None and tail.changed():
            cat.retire(tail.gen)
            tail.restart(cat.new_gen(tail.gen.display, tail.gen.relative)[0])
        data = tail.read(self._max_read)
        if entry is not None:
            tail.idle = 0
        else:
            tail.idle = 0 if data else tail.idle + 1
        final = tail.at_end and (tail.once or (entry is None and (tail.links == 0 or tail.idle >= self._linger)))
        first, lines, forced = tail.take(data, self._max_read, final=final)
        gen = tail.gen
        if forced and not tail.cutting:  # once per long line
            cat.problems.append(f"{gen.display}: line {first} is longer than {self._max_read} bytes: "
                                f"delivered in pieces of {self._max_read} bytes")
        if lines:
            tail.cutting = forced
            nl = NewLines(gen.display, gen.relative, first, lines, tail.rotated, gen.seq)
            out.append(((cat.order.get(gen.display, 0), gen.seq), nl))
            tail.rotated = False
        if final:
            self._finish(tail, entry)

    def _finish(self, tail: Tail, entry: Entry | None) -> None:
        """Close a file read to its end for good."""
        cat = self._cat
        damage = tail.read_state.damage if tail.read_state is not None else None
        if damage:
            cat.problems.append(f"{tail.gen.display}: {damage}")
        tail.close()
        del cat.tails[tail.key]
        tail.gen.complete = True
        cat.retire(tail.gen)
        if entry is not None:
            cat.done[tail.key] = entry.seen

    def _scan(self) -> list[Entry]:
        """The files under the watched paths now (their problems noted)."""
        entries, problems = list_files(self._roots, exclude=self._state)
        self._cat.problems.extend(problems)
        return entries

    def _guard(self, display: str, fn, *args, **kw):
        """Call ``fn`` and return what it returns; a problem becomes a
        one-line error (never a traceback) and ``None``."""
        try:
            return fn(*args, **kw)
        except OSError as exc:
            self._cat.problems.append(f"{display}: cannot read: {exc.strerror or exc}")
        except Exception as exc:  # noqa: BLE001 - a follower keeps following
            self._cat.problems.append(f"{display}: {type(exc).__name__}: {exc}")

    def _flush(self) -> None:
        """Append the problems not reported at the previous poll to ``errors``."""
        now = list(dict.fromkeys(self._cat.problems))
        self.errors.extend(p for p in now if p not in self._problems)
        self._problems = set(now)
        self._cat.problems.clear()
