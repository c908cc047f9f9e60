"""The ``pys3local`` command line: serve, config, obscure, cache."""

from __future__ import annotations

import click

from pys3local import __version__
from pys3local.cli.cache_cmd import cache
from pys3local.cli.config_cmd import config, obscure
from pys3local.cli.serve import serve


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pys3local")
def main() -> None:
    """Local S3-compatible server for backup software."""


main.add_command(serve)
main.add_command(config)
main.add_command(obscure)
main.add_command(cache)
