"""The ``forensics`` command: parses options, calls the library, renders, and
maps errors to exit codes.  No analysis happens here.

Each command lives in its own module (``<name>_cmd.py``) exposing ``command``.
"""

from __future__ import annotations

import importlib
import sys
import traceback

import click

from .. import __version__
from ..errors import ExitCode, ForensicsError, exit_code_for

_COMMAND_MODULES = ("ingest", "formats", "simulate", "bursts", "scan", "show", "repro", "watch")


class ForensicsGroup(click.Group):
    """A click group that turns every exception into a one-line message on
    stderr and the documented exit code (a traceback only with --traceback)."""

    def invoke(self, ctx: click.Context):  # noqa: D401
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort):
            raise
        except KeyboardInterrupt:
            click.echo("forensics: interrupted", err=True)
            ctx.exit(ExitCode.INTERRUPTED)
        except BrokenPipeError:
            ctx.exit(ExitCode.OK)
        except Exception as exc:  # the single place exceptions become exit codes
            code = exit_code_for(exc)
            show_tb = bool(ctx.obj and ctx.obj.get("traceback"))
            if show_tb:
                traceback.print_exc(file=sys.stderr)
            if isinstance(exc, ForensicsError):
                msg = str(exc)
            elif isinstance(exc, OSError):
                msg = f"{getattr(exc, 'filename', '') or ''}: {exc.strerror or exc}".lstrip(": ")
            else:
                msg = f"internal error: {type(exc).__name__}: {exc} (rerun with --traceback and report it)"
            from ..sanitize import terminal_safe

            click.echo(f"forensics: {terminal_safe(msg, max_len=300)}", err=True)
            ctx.exit(code)


@click.group(cls=ForensicsGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="forensics", message="%(prog)s %(version)s")
@click.option("--traceback", is_flag=True, help="Show the Python traceback when a command fails.")
@click.pass_context
def cli(ctx: click.Context, traceback: bool) -> None:
    """Find the rare user-action sequences that set off an outage.

    Typical use: forensics scan logs/   (see `forensics COMMAND --help`)
    """
    ctx.ensure_object(dict)
    ctx.obj["traceback"] = traceback


def _load_commands() -> None:
    for name in _COMMAND_MODULES:
        try:
            mod = importlib.import_module(f"{__name__}.{name}_cmd")
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.endswith(f"{name}_cmd"):
                continue
            raise
        cli.add_command(mod.command)


try:
    _load_commands()
except KeyboardInterrupt:  # Ctrl-C while the heavy libraries load
    sys.stderr.write("forensics: interrupted\n")
    raise SystemExit(ExitCode.INTERRUPTED) from None


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="forensics")
