"""Provides the ``workbench`` command line: thin commands over the core.

Exit codes: 0 ok, 1 a threshold or regression check failed, 2 bad input (one clear line, no
traceback), 128 plus the signal's number for a command stopped by one (130 Ctrl+C, 143 SIGTERM, 129
SIGHUP). Heavy libraries are imported inside the commands that need them, so ``--help`` is fast.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

import click

from workbench import __version__
from workbench.errors import WorkbenchError


class ThresholdFailed(Exception):
    """A ``--fail-under`` or ``--fail-on-regression`` check failed (exit 1)."""


class AppCrashed(Exception):
    """The TUI ended on an unexpected exception: one line, exit 1 (never a traceback, never status 0)."""


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--project", "-p", "project_dir", type=click.Path(file_okay=False), default=None,
              help="The project folder (default: the one containing the current folder).")
@click.version_option(__version__, prog_name="workbench")
@click.pass_context
def cli(ctx: click.Context, project_dir: str | None) -> None:
    """Prompt Workbench: run prompt templates against test sets, compare versions, export
    fine-tuning data.

    With no command, opens the interactive workbench on the project.
    """
    ctx.obj = {"project_dir": project_dir}
    if ctx.invoked_subcommand is None:
        open_tui(project_dir)


def open_tui(project_dir: str | None) -> None:
    """Open the TUI on the project (Textual is imported only here)."""
    from workbench.project import open_project
    from workbench.tui.app import WorkbenchApp

    app = WorkbenchApp(open_project(project_dir))
    app.run()
    if app.crash is not None:
        from workbench.text import one_line

        where = f" (traceback in {app.crash_log})" if app.crash_log else ""
        raise AppCrashed(f"error: the workbench stopped on an unexpected error: {one_line(app.crash)}{where}")
    if app.return_code:
        raise AppCrashed(f"error: the workbench stopped with status {app.return_code}")


@cli.command()
@click.argument("project_dir", metavar="[PROJECT]", required=False, type=click.Path(file_okay=False))
@click.pass_context
def tui(ctx: click.Context, project_dir: str | None) -> None:
    """Open the interactive workbench on PROJECT (default: the current project)."""
    open_tui(project_dir or ctx.obj.get("project_dir"))


def load_commands() -> None:
    """Import the command modules (importing one registers its commands)."""
    from workbench.cli import analysis, batch, commands, decide, export, finetune, generate, optimize, report, review  # noqa: F401


INTERRUPTED = 128 + signal.SIGINT
"""The exit status of a command stopped by Ctrl+C (130); stopped by another signal, 128 plus its number."""
STOPPING = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))
"""Signals that stop a model command as Ctrl+C does (results kept), with their own exit status."""


@contextmanager
def stopping_as_ctrl_c(argv: list[str]) -> Iterator[list[int]]:
    """While a model command runs, SIGTERM (a CI job cancelled, ``kill``, a container stopping) and SIGHUP
    (a closed terminal) stop it as Ctrl+C does: completed results are saved, a batch being created is
    recorded. Yields the signals received, so that the exit status names the one that stopped the command
    (``exit_status``). A call that the stop cancels before litellm awaited its coroutine leaves no "never
    awaited" warning on stderr."""
    import warnings

    from workbench.cli.warm import COMMANDS, command_of

    received: list[int] = []
    if command_of(argv) not in COMMANDS or threading.current_thread() is not threading.main_thread():
        yield received
        return

    def stop(number: int, frame: FrameType | None) -> None:
        received.append(number)
        handler = signal.getsignal(signal.SIGINT)
        if callable(handler):  # Python's or asyncio's: what Ctrl+C would do
            handler(signal.SIGINT, frame)
        else:
            # Ctrl+C is ignored: a command started in the background by a script or a CI step (`cmd &`)
            # inherits an ignored SIGINT. A stopping signal is meant for this process all the same.
            raise KeyboardInterrupt

    previous = {number: signal.signal(number, stop) for number in STOPPING}
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"coroutine '[\w.]*acompletion' was never awaited",
                                    category=RuntimeWarning)
            yield received
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def exit_status(code: int, received: list[int]) -> int:
    """``code``, or for a command stopped as by Ctrl+C (``INTERRUPTED``) after a stopping signal, 128 plus
    that signal's number (143 for SIGTERM, 129 for SIGHUP), as a shell reports a process it ended."""
    return 128 + received[0] if code == INTERRUPTED and received else code


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and turn user-fixable errors into one line on stderr and exit code 2."""
    load_commands()
    with stopping_as_ctrl_c(sys.argv[1:] if argv is None else argv) as received:
        return exit_status(_main(argv), received)


def _main(argv: list[str] | None) -> int:
    try:
        # Without standalone mode, click returns the code of a ``click.exceptions.Exit`` (130 for a stop
        # with Ctrl+C) instead of raising it.
        code = cli.main(args=argv, prog_name="workbench", standalone_mode=False)
    except WorkbenchError as error:
        click.echo(f"error: {error}", err=True)
        return error.exit_code
    except (ThresholdFailed, AppCrashed) as failure:
        click.echo(str(failure), err=True)
        return 1
    except click.exceptions.Abort:
        click.echo("interrupted", err=True)
        return INTERRUPTED
    except click.ClickException as error:
        # One line, like every other error: what is wrong, then where the help is.
        context = getattr(error, "ctx", None)
        where = f" (see '{context.command_path} --help')" if context is not None else ""
        click.echo(f"error: {error.format_message()}{where}", err=True)
        return 2
    except KeyboardInterrupt:
        click.echo("\ninterrupted: completed results are saved; run the same command again to resume",
                   err=True)
        return INTERRUPTED
    except click.exceptions.Exit as done:
        return done.exit_code
    return code if isinstance(code, int) else 0


def entry_point() -> None:
    """The console script: a model command runs in a process forked by a warm process when there is one
    (``workbench.cli.warm``), else here, and then starts one for the next command."""
    from workbench.cli import warm

    argv = sys.argv[1:]
    target = warm.target(argv)
    code = warm.run_warm(target, argv) if target is not None else None
    if code is None:
        code = main(argv)
        if target is not None:
            warm.start_warm(target)
    sys.exit(code)
