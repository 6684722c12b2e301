"""``forensics watch --exec CMD``: run a command for each alert, the alert's
JSON on its stdin.

The command is split like a shell would split it (:func:`shlex.split`) but
run without a shell, so alert content never reaches a shell.  A hook that
fails (cannot start, exits non-zero, or runs past ``timeout_s``) is
reported in one line; it never stops the watch.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from dataclasses import dataclass

from ..errors import UsageError
from .alerts import Alert

#: Seconds a hook may run before it is stopped (and reported).
HOOK_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Hook:
    """A command to run per alert (its argument list)."""

    argv: tuple[str, ...]
    timeout_s: float = HOOK_TIMEOUT_S

    @classmethod
    def parse(cls, command: str, *, timeout_s: float = HOOK_TIMEOUT_S) -> Hook:
        """``--exec`` text as an argument list.

        >>> Hook.parse("notify --channel 'on call'").argv
        ('notify', '--channel', 'on call')
        """
        try:
            argv = tuple(shlex.split(command))
        except ValueError as exc:
            raise UsageError(f"--exec {command!r}: {exc}") from None
        if not argv:
            raise UsageError("--exec needs a command")
        return cls(argv, timeout_s)

    def run(self, alert: Alert) -> str | None:
        """Run the command with ``alert`` as JSON on stdin; a one-line
        problem, or None when it exited 0."""
        payload = json.dumps(alert.to_json(), ensure_ascii=False) + "\n"
        name = self.argv[0]
        try:
            done = subprocess.run(list(self.argv), input=payload.encode(), capture_output=True,
                                  timeout=self.timeout_s, check=False)
        except FileNotFoundError:
            return f"--exec {name}: command not found"
        except PermissionError:
            return f"--exec {name}: permission denied"
        except subprocess.TimeoutExpired:
            return f"--exec {name}: still running after {self.timeout_s:g} s, stopped ({alert.kind} alert)"
        except OSError as exc:
            return f"--exec {name}: {exc.strerror or exc}"
        if done.returncode != 0:
            err = done.stderr.decode("utf-8", "replace").strip().splitlines()
            return f"--exec {name}: exit code {done.returncode} ({alert.kind} alert)" + (f": {err[-1]}" if err else "")
        return None
