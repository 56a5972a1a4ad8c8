"""The ``aidot`` command. Each command group lives in its own module and is added here."""

from __future__ import annotations

import click

from aidot import __version__
from aidot.cli._blobs import blobs_group
from aidot.cli._data import data_group
from aidot.cli._demo import demo_command
from aidot.cli._init import init_command
from aidot.cli._models import models_group
from aidot.cli._serve import serve_command
from aidot.cli._tracking import experiments_group, runs_group
from aidot.cli._tune import studies_group, tune_group
from aidot.cli._ui import ui_command

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="aidot")
def cli() -> None:
    """aidot: the whole machine-learning lifecycle in one library."""


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


def main() -> None:
    """Entry point of the ``aidot`` console script."""
    cli()
