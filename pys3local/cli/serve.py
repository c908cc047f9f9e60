"""``pys3local serve``: run the S3 server in the foreground."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from pys3local.providers.base import StorageProvider
from pys3local.rclone import render_rclone_config
from pys3local.runner import EmbeddedServer, ListenAddress, bind_socket, parse_listen
from pys3local.server import create_s3_app
from pys3local.settings import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY

log = logging.getLogger("pys3local.cli")


def configure_logging(debug: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    # Third-party debug chatter (HTTP parsers, asyncio) is not what --debug is for.
    for noisy in ("asyncio", "uvicorn.error", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.INFO)


def build_provider(
    backend: str, path: str, readonly: bool, backend_config: str | None, root_folder: str | None
) -> StorageProvider:
    if backend_config is not None:
        raise click.ClickException(
            f"Backend config '{backend_config}' not found\n"
            "Create one with: pys3local config add NAME --type local --path DIR"
        )
    if backend == "drime":
        raise click.ClickException("The Drime backend is not available in this version yet.")
    from pys3local.providers.local import LocalStorageProvider

    return LocalStorageProvider(Path(path), readonly=readonly)


def print_banner(
    address: ListenAddress, access_key: str, secret_key: str, region: str, no_auth: bool
) -> None:
    endpoint = address.url()
    if no_auth:
        click.echo("Authentication disabled: clients may use any credentials (e.g. test/test).")
    click.echo(f"Starting S3 server at {endpoint}/")
    click.echo(f"Access key: {access_key}")
    click.echo(f"Secret key: {secret_key}")
    click.echo("")
    click.echo("rclone configuration (add to ~/.config/rclone/rclone.conf):")
    click.echo("")
    click.echo(render_rclone_config(endpoint, access_key, secret_key, region))


def warn_if_exposed(
    address: ListenAddress, access_key: str, secret_key: str, no_auth: bool
) -> None:
    if address.is_loopback:
        return
    if no_auth:
        click.secho(
            f"WARNING: listening on {address.host} with --no-auth: anyone who can reach "
            "this port can read and overwrite your data.",
            fg="yellow",
            err=True,
        )
    elif (access_key, secret_key) == (DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY):
        click.secho(
            f"WARNING: listening on {address.host} with the default credentials test/test: "
            "set --access-key-id and --secret-access-key.",
            fg="yellow",
            err=True,
        )


@click.command()
@click.option("--path", default="/tmp/s3store", show_default=True, help="Data directory.")
@click.option("--listen", default=":10001", show_default=True, help="Listen address, [HOST]:PORT.")
@click.option("--access-key-id", default=DEFAULT_ACCESS_KEY, show_default=True)
@click.option("--secret-access-key", default=DEFAULT_SECRET_KEY, show_default=True)
@click.option("--region", default="us-east-1", show_default=True)
@click.option("--no-auth", is_flag=True, help="Accept requests without valid signatures.")
@click.option("--debug", is_flag=True, help="Log details (never secrets).")
@click.option(
    "--backend",
    type=click.Choice(["local", "drime"]),
    default="local",
    show_default=True,
    help="Storage backend.",
)
@click.option("--backend-config", default=None, help="Name of a saved backend configuration.")
@click.option("--root-folder", default=None, help="Drime: limit S3 to this folder.")
@click.option(
    "--allow-bucket-creation",
    is_flag=True,
    help="Advanced mode: real buckets instead of the single 'default' bucket.",
)
@click.option("--readonly", is_flag=True, help="Refuse every write.")
def serve(
    path: str,
    listen: str,
    access_key_id: str,
    secret_access_key: str,
    region: str,
    no_auth: bool,
    debug: bool,
    backend: str,
    backend_config: str | None,
    root_folder: str | None,
    allow_bucket_creation: bool,
    readonly: bool,
) -> None:
    """Start the S3-compatible server."""
    configure_logging(debug)
    try:
        address = parse_listen(listen)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--listen") from None
    if not access_key_id or not secret_access_key:
        raise click.BadParameter("credentials must not be empty", param_hint="--access-key-id")
    provider = build_provider(backend, path, readonly, backend_config, root_folder)
    app = create_s3_app(
        provider=provider,
        access_key=access_key_id,
        secret_key=secret_access_key,
        region=region,
        no_auth=no_auth,
        allow_bucket_creation=allow_bucket_creation,
    )
    try:
        sock = bind_socket(address)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {listen}: {exc.strerror or exc}") from None
    address = ListenAddress(address.host, sock.getsockname()[1])
    warn_if_exposed(address, access_key_id, secret_access_key, no_auth)
    print_banner(address, access_key_id, secret_access_key, region, no_auth)
    click.echo(f"Backend: {provider.description}")
    click.echo(
        "Bucket mode: " + ("advanced (custom buckets)" if allow_bucket_creation else "default")
    )
    sys.stdout.flush()
    EmbeddedServer(app, sock).run()
