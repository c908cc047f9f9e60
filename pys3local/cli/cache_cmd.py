"""``pys3local cache`` (placeholder until the metadata cache lands)."""

from __future__ import annotations

import click


@click.group()
def cache() -> None:
    """Manage the metadata cache."""
