"""``pys3local serve``."""

from __future__ import annotations

import click


@click.command()
def serve() -> None:
    """Start the S3-compatible server."""
