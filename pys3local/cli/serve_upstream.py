"""``serve`` options of the ``s3`` backend type (``--upstream-*``).

They set the fields named in the type's ``serve_options``; the secret comes from
``UPSTREAM_S3_SECRET_ACCESS_KEY`` (or a saved config), never from the command line,
where other users of the machine could read it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click
from click.core import ParameterSource

F = TypeVar("F", bound=Callable[..., Any])

#: The option names, in the order ``serve --help`` shows them.
UPSTREAM_OPTIONS = (
    click.option(
        "--upstream-endpoint",
        default=None,
        help="s3: upstream endpoint URL (or $UPSTREAM_S3_ENDPOINT).",
    ),
    click.option("--upstream-region", default=None, help="s3: upstream region."),
    click.option(
        "--upstream-bucket",
        default=None,
        help="s3: keep every bucket in this one upstream bucket (else one upstream bucket each).",
    ),
    click.option(
        "--upstream-prefix",
        default=None,
        help="s3: upstream bucket name prefix (a key prefix with --upstream-bucket).",
    ),
    click.option(
        "--upstream-addressing-style",
        type=click.Choice(["path", "virtual"]),
        default=None,
        help="s3: path (host/bucket) or virtual (bucket.host) addressing.",
    ),
    click.option(
        "--upstream-skip-tls-verify",
        is_flag=True,
        default=None,
        help="s3: do not verify the upstream's TLS certificate.",
    ),
    click.option(
        "--upstream-ca-bundle",
        default=None,
        help="s3: CA bundle that signs the upstream's certificate.",
    ),
    click.option(
        "--upstream-conditional-writes",
        is_flag=True,
        default=None,
        help=(
            "s3: the upstream honours If-None-Match: * and If-Match atomically "
            "(conditional writes; append-only keys)."
        ),
    ),
)


def upstream_options(command: F) -> F:
    """Add the ``--upstream-*`` options to a click command."""
    for option in reversed(UPSTREAM_OPTIONS):
        command = option(command)
    return command


def given_upstream_options(ctx: click.Context) -> tuple[dict[str, bool], dict[str, object | None]]:
    """Which ``--upstream-*`` options were given, and their values (None: not given)."""
    given: dict[str, bool] = {}
    values: dict[str, object | None] = {}
    for param in ctx.command.params:
        if param.name and param.name.startswith("upstream_"):
            option = "--" + param.name.replace("_", "-")
            was_given = ctx.get_parameter_source(param.name) is not ParameterSource.DEFAULT
            given[option] = was_given
            values[option] = ctx.params.get(param.name) if was_given else None
    return given, values
