"""``pys3local keys``: access keys, each with its own buckets and rights.

The keys live in ``<config dir>/keys.toml`` (:mod:`pys3local.config.keys`); a running
server reads the file again within a few seconds of a change. A new or rotated
secret is printed once, with the rclone remote that uses it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import click

from pys3local.cli.config_cmd import _cli_errors, _terminal_password_prompt, open_store
from pys3local.config.keys import KeysFile, read_last_use
from pys3local.rclone import render_rclone_config
from pys3local.s3.rights import AccessKey, Right, format_rights, parse_rights
from pys3local.settings import DEFAULT_REGION

DEFAULT_ENDPOINT = "http://127.0.0.1:10001"


class RightsType(click.ParamType):
    """``read,append-only``: a comma-separated set of rights."""

    name = "rights"

    def convert(self, value: object, param: object, ctx: object) -> frozenset[Right]:
        if isinstance(value, frozenset):
            return value
        try:
            return parse_rights(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)  # type: ignore[arg-type]


@dataclass(frozen=True)
class _Options:
    config_dir: Path | None


_pass_options = click.make_pass_decorator(_Options)


def _keys_file(options: _Options) -> KeysFile:
    return KeysFile(open_store(options.config_dir, _terminal_password_prompt()))


def _remote_name(key: AccessKey) -> str:
    return f"pys3local-{key.name}"


def _print_secret(key: AccessKey, endpoint: str, region: str) -> None:
    click.echo(f"Access key id:     {key.access_key_id}")
    click.echo(f"Secret access key: {key.secret}")
    click.echo("Keep the secret now: only `pys3local keys show NAME --secret` shows it again.")
    click.echo("")
    click.echo("rclone remote (add to ~/.config/rclone/rclone.conf):")
    click.echo("")
    click.echo(
        render_rclone_config(
            endpoint, key.access_key_id, key.secret, region, name=_remote_name(key)
        ),
        nl=False,
    )


def _when(moment: float | None) -> str:
    if moment is None:
        return "never"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(moment))


_endpoint_option = click.option(
    "--endpoint",
    default=DEFAULT_ENDPOINT,
    show_default=True,
    help="Server URL for the printed rclone remote.",
)
_region_option = click.option(
    "--region", default=DEFAULT_REGION, show_default=True, help="Region for the rclone remote."
)


@click.group()
@click.option(
    "--config-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Config directory (default: $PYS3LOCAL_CONFIG_DIR, else ~/.config/pys3local).",
)
@click.pass_context
def keys(ctx: click.Context, config_dir: Path | None) -> None:
    """Access keys with their own buckets and rights (read, write, append-only,
    delete, admin), kept in keys.toml; a running server picks up changes within
    seconds."""
    ctx.obj = _Options(config_dir)


@keys.command()
@click.argument("name")
@click.option(
    "--bucket",
    "buckets",
    multiple=True,
    help="A bucket the key may use, or a pattern with '*' (repeatable; default: default).",
)
@click.option(
    "--allow",
    "rights",
    type=RightsType(),
    required=True,
    help="Comma-separated rights: read, write, append-only, delete, admin.",
)
@_endpoint_option
@_region_option
@_pass_options
def add(
    options: _Options,
    name: str,
    buckets: tuple[str, ...],
    rights: frozenset[Right],
    endpoint: str,
    region: str,
) -> None:
    """Create a key; prints its id and secret once, with an rclone remote."""
    with _cli_errors():
        key = _keys_file(options).add(name, buckets or ("default",), rights)
    click.echo(f"Added key '{key.name}': {format_rights(key.rights)} on {', '.join(key.buckets)}")
    _print_secret(key, endpoint, region)


@keys.command("list")
@_pass_options
def list_keys(options: _Options) -> None:
    """Show every key (never a secret) with its rights and last use."""
    keys_file = _keys_file(options)
    with _cli_errors():
        stored = keys_file.load()
    if not stored:
        click.echo(
            f"No keys in {keys_file.path}. Add one with: pys3local keys add NAME --allow read"
        )
        return
    last_use = read_last_use(keys_file.path.parent)
    width = max(len(k.name) for k in stored)
    for key in stored:
        state = "" if key.enabled else "  DISABLED"
        click.echo(
            f"{key.name:{width}}  {key.access_key_id}  {format_rights(key.rights)}  "
            f"buckets={','.join(key.buckets)}  last used {_when(last_use.get(key.access_key_id))}"
            f"{state}"
        )


@keys.command()
@click.argument("name")
@click.option("--secret", is_flag=True, help="Show the secret and the rclone remote too.")
@_endpoint_option
@_region_option
@_pass_options
def show(options: _Options, name: str, secret: bool, endpoint: str, region: str) -> None:
    """Show one key (its secret only with --secret)."""
    keys_file = _keys_file(options)
    with _cli_errors():
        key = keys_file.get(name)
    last = read_last_use(keys_file.path.parent).get(key.access_key_id)
    click.echo(f"Name:      {key.name}")
    click.echo(f"Rights:    {format_rights(key.rights)}")
    click.echo(f"Buckets:   {', '.join(key.buckets)}")
    click.echo(f"Enabled:   {'yes' if key.enabled else 'no'}")
    click.echo(f"Last used: {_when(last)}")
    if secret:
        _print_secret(key, endpoint, region)
    else:
        click.echo(f"Access key id:     {key.access_key_id}")


@keys.command()
@click.argument("name")
@_endpoint_option
@_region_option
@_pass_options
def rotate(options: _Options, name: str, endpoint: str, region: str) -> None:
    """Give a key a new secret; the old secret is refused from then on."""
    with _cli_errors():
        key = _keys_file(options).rotate(name)
    click.echo(f"New secret for key '{key.name}'")
    _print_secret(key, endpoint, region)


@keys.command()
@click.argument("name")
@_pass_options
def disable(options: _Options, name: str) -> None:
    """Refuse a key from now on (kept in the file; `keys enable` brings it back)."""
    with _cli_errors():
        _keys_file(options).set_enabled(name, False)
    click.echo(f"Disabled key '{name}'")


@keys.command()
@click.argument("name")
@_pass_options
def enable(options: _Options, name: str) -> None:
    """Accept a disabled key again."""
    with _cli_errors():
        _keys_file(options).set_enabled(name, True)
    click.echo(f"Enabled key '{name}'")


@keys.command()
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@_pass_options
def remove(options: _Options, name: str, yes: bool) -> None:
    """Delete a key; clients using it are refused from then on."""
    keys_file = _keys_file(options)
    with _cli_errors():
        keys_file.get(name)
        if not yes:
            click.confirm(f"Remove key '{name}'?", abort=True)
        keys_file.remove(name)
    click.echo(f"Removed key '{name}'")
