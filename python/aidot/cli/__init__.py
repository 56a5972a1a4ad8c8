"""The ``aidot`` command. Each command group lives in its own module and is added here."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

import click

from aidot import __version__
from aidot.cli import _common
from aidot.cli._blobs import blobs_group
from aidot.cli._data import data_group
from aidot.cli._demo import demo_command
from aidot.cli._init import init_command
from aidot.cli._models import models_group
from aidot.cli._serve import serve_command
from aidot.cli._tracking import experiments_group, runs_group
from aidot.cli._tune import studies_group, tune_group
from aidot.cli._ui import ui_command
from aidot.cli._verify import verify_command
from aidot.errors import AidotError

__all__ = ["cli", "main", "run"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="aidot")
@click.option(
    "--debug", is_flag=True, help="Show the Python traceback of an error [env: AIDOT_DEBUG=1]."
)
@click.option(
    "--workspace",
    "-w",
    "workspace",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Workspace folder for every command [default: $AIDOT_HOME, else ./.aidot]; "
    "a command's own --workspace wins.",
)
def cli(debug: bool, workspace: Path | None) -> None:
    """aidot: the whole machine-learning lifecycle in one library."""
    _common.debug = debug or os.environ.get("AIDOT_DEBUG") == "1"
    _common.workspace_default = workspace


cli.add_command(init_command)
cli.add_command(demo_command)
cli.add_command(blobs_group)
cli.add_command(data_group)
cli.add_command(experiments_group)
cli.add_command(runs_group)
cli.add_command(models_group)
cli.add_command(serve_command)
cli.add_command(tune_group)
cli.add_command(studies_group)
cli.add_command(ui_command)
cli.add_command(verify_command)


def main() -> None:
    """Entry point of the ``aidot`` console script."""
    sys.exit(run(sys.argv[1:]))


def run(args: Sequence[str]) -> int:
    """Runs the ``aidot`` command on ``args`` and returns its exit status. Whatever goes
    wrong ends as one line on stderr, ``error: ...`` with a hint, never a traceback unless
    ``--debug`` (or ``AIDOT_DEBUG=1``) asks for it."""
    args = list(args)
    _common.debug = "--debug" in args or os.environ.get("AIDOT_DEBUG") == "1"
    try:
        code = cli.main(args=args, prog_name="aidot", standalone_mode=False)
    except SystemExit as exc:  # a command's own exit status (reports_errors among them)
        return exc.code if isinstance(exc.code, int) else 1
    except KeyboardInterrupt:
        _common.print_error("interrupted")
        return 130
    except Exception as exc:
        if _common.debug and not isinstance(exc, click.ClickException):
            raise
        message, status = _explain(exc)
        _common.print_error(message)
        return status
    return code if isinstance(code, int) else 0


def _explain(exc: Exception) -> tuple[str, int]:
    """The one line and the exit status an exception ends the command with."""
    if isinstance(exc, click.UsageError):
        where = exc.ctx.command_path if exc.ctx is not None else "aidot"
        return f"{exc.format_message()} (see '{where} --help')", exc.exit_code
    if isinstance(exc, click.ClickException):
        return exc.format_message(), exc.exit_code
    if isinstance(exc, click.Abort):
        return "aborted", 1
    if isinstance(exc, AidotError):
        return str(exc), 1
    return (
        f"{type(exc).__name__}: {exc} (unexpected; rerun with --debug for the traceback, "
        "and please report it)",
        1,
    )
