"""The watch loop: follow, parse, judge, alert, save state, wait.

:func:`run_watch` is what ``forensics watch`` runs; its clock and sleep are
parameters, so a test can drive it with a replayer's clock.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from datetime import datetime

from ..scan import ScanSettings
from .alerts import Alert
from .engine import Watch, WatchOptions, utc_now
from .follow import Follower
from .guard import GuardSequence
from .hooks import Hook


def run_watch(paths: Sequence[str | os.PathLike], *, settings: ScanSettings | None = None,
              options: WatchOptions = WatchOptions(), guards: Sequence[GuardSequence] = (),
              hooks: Sequence[Hook] = (), from_start: bool = False, state: str | os.PathLike | None = None,
              once: bool = False, on_alert: Callable[[Alert], None] = lambda a: None,
              on_problem: Callable[[str], None] = lambda m: None,
              clock: Callable[[], datetime] | str = utc_now,
              sleep: Callable[[float], None] = time.sleep, stop: Callable[[], bool] = lambda: False) -> Watch:
    """Follow ``paths`` until ``stop()`` (or, with ``once``, until what is
    there now has been read and judged); return the :class:`Watch`.

    Each alert goes to ``on_alert`` and to every hook (a failing hook is
    reported through ``on_problem``, as are unreadable files, once each).
    ``clock``: a function, ``"wall"`` (the default, live logs) or
    ``"data"`` (the latest event's time: logs of the past, ``--once``).
    The follower's state is saved to ``state`` after each poll's lines are
    judged, so a restart neither reads a line twice nor skips one.
    """
    watch = Watch(settings=settings, options=options, guards=guards)
    if clock == "wall":
        clock = utc_now
    elif clock == "data":  # the time of the latest event read: judging logs of the past
        clock = lambda: watch.latest or utc_now()  # noqa: E731
    seen_errors: set[str] = set()
    with Follower(paths, from_start=from_start, state=state) as follower:
        while True:
            batches = follower.poll()
            watch.add(batches, now=utc_now())  # (the wall clock bounds believable timestamps)
            now = clock()
            alerts = watch.evaluate(now=now) if watch.due(now) or (once and not batches) else []
            for alert in alerts:
                on_alert(alert)
                for hook in hooks:
                    problem = hook.run(alert)
                    if problem:
                        on_problem(problem)
            for msg in follower.errors:
                if msg not in seen_errors:
                    seen_errors.add(msg)
                    on_problem(msg)
            if state is not None:
                follower.save_state()
            if (once and not batches) or stop():
                return watch
            if not batches:
                sleep(options.interval_s)
