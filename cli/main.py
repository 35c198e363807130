"""The ``companion`` command: the group every command hangs from.

Every ``CompanionError`` becomes its message on stderr and a non-zero exit status
(see ``companion.errors``); the heavy captioner imports happen inside commands, so
``companion --help`` is quick.
"""

from __future__ import annotations

import logging
from typing import Any

import click

from cli.admin import config_group, export, model
from cli.bench import bench
from cli.replay import replay
from cli.serve import serve
from cli.worker import worker
from cli.youtube import youtube
from companion.errors import CompanionError, exit_code


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CompanionError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exit_code(exc))


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More logging (-vv for debug).")
def main(verbose: int) -> None:
    """Live interpretation companion: captions for conferences with interpretation."""
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


for command in (replay, serve, worker, youtube, export, bench, model, config_group):
    main.add_command(command)
