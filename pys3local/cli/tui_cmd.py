"""``pys3local tui``: the Textual admin console (see docs/tui.md)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from pys3local import paths
from pys3local.runner import parse_listen
from pys3local.settings import DEFAULT_PATH


def on_terminal() -> bool:
    """Whether standard input and output are both a terminal, as the console needs."""
    return sys.stdin.isatty() and sys.stdout.isatty()


@click.command()
@click.option(
    "--config-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Directory of backends.toml (default: $PYS3LOCAL_CONFIG_DIR, else ~/.config/pys3local).",
)
@click.option(
    "--cache-db",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    metavar="PATH",
    help=f"The cache database (default: ${paths.CACHE_DB_ENV}, else <config dir>/metadata.db).",
)
@click.option(
    "--path",
    "data_path",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help=(
        "Data directory offered for an ad-hoc local backend "
        f"(default: the one used last, else {DEFAULT_PATH})."
    ),
)
@click.option(
    "--listen",
    default=None,
    help="Listen address offered in the start form, [HOST]:PORT (default: 127.0.0.1:10001).",
)
def tui(
    config_dir: Path | None, cache_db: Path | None, data_path: Path | None, listen: str | None
) -> None:
    """Open the admin console: run the server, watch requests, manage backends and cache."""
    if listen is not None:
        try:
            parse_listen(listen)  # checked now, like --path, not only when the server starts
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--listen") from None
    if not on_terminal():
        # Textual would write escape sequences into the pipe and wait for keys forever.
        raise click.ClickException(
            "pys3local tui needs a terminal (standard input and output are not one); "
            "use pys3local serve, config and cache for scripts"
        )
    try:
        from pys3local_tui.app import AdminApp
    except ImportError as exc:  # textual is a dependency, but the console is optional
        raise click.ClickException(f"the admin console is not available: {exc}") from None
    if cache_db is None and config_dir is not None and not os.environ.get(paths.CACHE_DB_ENV):
        # The cache lives next to the configs unless it is set explicitly.
        cache_db = config_dir / "metadata.db"
    AdminApp(
        config_dir=config_dir,
        cache_db=cache_db,
        data_path=data_path.expanduser().absolute() if data_path is not None else None,
        listen=listen,
    ).run()
