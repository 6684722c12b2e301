"""Rendering helpers shared by commands (the options are in :mod:`.options`)."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable
from typing import Any

import click


def stderr_console(quiet: bool = False):
    """A rich console on stderr (colour off with NO_COLOR or when not a tty)."""
    from rich.console import Console

    return Console(stderr=True, quiet=quiet, no_color=bool(os.environ.get("NO_COLOR")), highlight=False)


def progress_callback(quiet: bool):
    """A progress callback drawing on stderr, or None when stderr is no tty."""
    if quiet or not sys.stderr.isatty():
        return None, None
    from rich.progress import Progress

    prog = Progress(console=stderr_console(), transient=True)
    tasks: dict[str, Any] = {}

    def cb(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = prog.add_task(stage, total=total)
        prog.update(tasks[stage], completed=done, total=total)

    return prog, cb


#: Characters a terminal may act on that ``json.dumps(ensure_ascii=False)``
#: leaves raw: DEL, C1 controls (8-bit CSI/OSC), line separators, bidi controls.
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def json_text(doc: Any) -> str:
    r"""``doc`` as indented JSON that is safe to print on a terminal: C0
    controls are escaped by ``json`` itself, the characters above as
    ``\uXXXX`` (they only occur inside strings, so the data is unchanged).

    Examples
    --------
    >>> print(json_text({"a": "x\x9b2J\u202e"}))
    {
      "a": "x\u009b2J\u202e"
    }
    """
    text = json.dumps(doc, indent=2, default=str, ensure_ascii=False)
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def run_with_progress(quiet: bool, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call ``fn(*args, progress=cb, **kwargs)`` with a progress bar on stderr
    when it is a terminal (and not ``quiet``), else without one."""
    prog, cb = progress_callback(quiet)
    if prog is None:
        return fn(*args, **kwargs)
    with prog:
        return fn(*args, progress=cb, **kwargs)


def echo_json(doc: Any) -> None:
    """Print one JSON document on stdout (see :func:`json_text`)."""
    click.echo(json_text(doc))
