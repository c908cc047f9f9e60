"""``pys3local config`` and ``pys3local obscure`` (placeholder until saved configs land)."""

from __future__ import annotations

import click


@click.group(invoke_without_command=True)
def config() -> None:
    """Manage saved backend configurations."""
    raise click.ClickException("not available yet")


@click.command()
def obscure() -> None:
    """Obscure a secret for use in a config file."""
    raise click.ClickException("not available yet")
