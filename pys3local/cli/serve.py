"""``pys3local serve``: run the S3 server in the foreground."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path

import click
from click.core import ParameterSource
from fastapi import FastAPI

from pys3local import paths
from pys3local.app_factory import WorkersRefused, build_app
from pys3local.backends import BACKEND_NAMES, BackendSettings, backend_type, type_of
from pys3local.cache import CacheRefused
from pys3local.cli.config_cmd import (
    _terminal_password_prompt,
    open_store,
    resolve_backend_config,
)
from pys3local.cli.durations import Duration
from pys3local.cli.serve_checks import (
    open_backend,
    prepare_data_dir,
    reject_foreign_options,
    storage_line,
)
from pys3local.cli.serve_metrics import (
    bind_metrics,
    metrics_line,
    parse_metrics_listen,
    serve_one,
    serve_workers,
)
from pys3local.cli.serve_upstream import given_upstream_options, upstream_options
from pys3local.config import PASSWORD_ENV, BackendConfigError, settings_from_env
from pys3local.config.store import KEYS_FILE
from pys3local.rclone import render_rclone_config
from pys3local.runner import (
    EmbeddedServer,
    ListenAddress,
    bind_socket,
    configure_logging,
    parse_listen,
)
from pys3local.s3.service import ServiceSettings
from pys3local.settings import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY, ServerSettings
from pys3local.shared_port import listen_group
from pys3local.workers import run_workers

log = logging.getLogger("pys3local.cli")

_SIZE_SUFFIXES = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


class ByteSize(click.ParamType):
    """A size in bytes, optionally with a binary K/M/G/T suffix (``5G``)."""

    name = "size"

    def convert(self, value: object, param: object, ctx: object) -> int:
        if isinstance(value, int):
            return value
        text = str(value).strip().upper().removesuffix("B").removesuffix("I")
        suffix = text[-1:] if text[-1:] in _SIZE_SUFFIXES else ""
        number = text[: len(text) - len(suffix)]
        try:
            size = int(float(number) * _SIZE_SUFFIXES[suffix])
        except ValueError:
            self.fail(f"{value!r} is not a size like 512M or 5G", param, ctx)  # type: ignore[arg-type]
        if size <= 0:
            self.fail("size must be positive", param, ctx)  # type: ignore[arg-type]
        return size


def resolve_backend(
    backend: str,
    path: str,
    backend_config: str | None,
    root_folder: str | None,
    config_dir: Path | None,
    create_path: bool = False,
) -> BackendSettings:
    """The backend to serve: a saved config with command-line overrides, else the
    command line (and the environment, for the fields a type reads from it). Options
    given that do not apply to that backend are a usage error, never silently ignored."""
    ctx = click.get_current_context()
    path_given = ctx.get_parameter_source("path") is not ParameterSource.DEFAULT
    backend_given = ctx.get_parameter_source("backend") is not ParameterSource.DEFAULT
    given = {
        "--path": path_given,
        "--root-folder": root_folder is not None,
        "--create-path": create_path,
    }
    # What each backend-specific option would set (None: not given).
    values: dict[str, object | None] = {
        "--path": path if path_given else None,
        "--root-folder": root_folder,
        "--create-path": None,
    }
    upstream_given, upstream_values = given_upstream_options(ctx)
    given.update(upstream_given)
    values.update(upstream_values)
    try:
        if backend_config is not None:
            saved = resolve_backend_config(backend_config, config_dir)
            if backend_given and backend != saved.type:
                raise click.UsageError(
                    f"--backend {backend} contradicts backend config '{backend_config}' "
                    f"of type {saved.type}"
                )
            reject_foreign_options(saved.type, f"backend config '{backend_config}'", given)
            return saved.override(**_option_fields(saved.type, values)).settings
        reject_foreign_options(backend, f"--backend {backend}", given)
        # Without a saved config, --path names the data directory even when defaulted.
        values["--path"] = path
        return settings_from_env(backend, **_option_fields(backend, values))
    except BackendConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _option_fields(kind: str, values: dict[str, object | None]) -> dict[str, object | None]:
    """The fields that ``kind``'s own ``serve`` options set, by field name."""
    options = backend_type(kind).serve_options
    fields: dict[str, object | None] = {}
    for option, value in values.items():
        name = options.get(option)
        if name is not None:
            fields[name] = value
    return fields


def unlock_keys(config_dir: Path | None) -> Path:
    """The configuration directory whose keys.toml the server will read.

    An encrypted keys file needs the configuration password: from
    ``$PYS3LOCAL_CONFIG_PASSWORD``, else asked on a terminal, and then put in this
    process's environment so that the workers, and every later reading of the
    changed file, can decrypt it too.
    """
    directory = config_dir or paths.config_dir()
    keys_path = directory / KEYS_FILE
    if keys_path.is_file():
        store = open_store(directory, _terminal_password_prompt())
        password = store.password
        if password is not None:
            os.environ[PASSWORD_ENV] = password
    return directory


def print_banner(
    address: ListenAddress,
    scheme: str,
    access_key: str,
    secret_key: str,
    region: str,
    no_auth: bool,
) -> None:
    endpoint = address.url(scheme)
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


#: ``--access-key-id`` can also be given as ``PYS3LOCAL_ACCESS_KEY_ID``, and so on.
ENV_PREFIX = "PYS3LOCAL_"


def options_from_environment(command: click.Command) -> click.Command:
    """Let every option of ``command`` come from ``PYS3LOCAL_<OPTION NAME>`` too (the
    command line wins), and say so in ``--help``.

    A service manager can then pass settings, and above all the secret key, in an
    environment file readable only by the service's user, instead of a command line
    that every local user can read in the process list. Done here for all options at
    once, so a new option cannot be forgotten.
    """
    for param in command.params:
        if isinstance(param, click.Option) and param.name:
            param.envvar = ENV_PREFIX + param.name.upper()
            param.show_envvar = True
    return command


@options_from_environment
@click.command()
@click.option("--path", default="/tmp/s3store", show_default=True, help="Data directory.")
@click.option(
    "--create-path",
    is_flag=True,
    help="Create --path with its missing parent directories (else only a missing last one).",
)
@click.option("--listen", default=":10001", show_default=True, help="Listen address, [HOST]:PORT.")
@click.option("--access-key-id", default=DEFAULT_ACCESS_KEY, show_default=True)
@click.option("--secret-access-key", default=DEFAULT_SECRET_KEY, show_default=True)
@click.option("--region", default="us-east-1", show_default=True)
@click.option("--no-auth", is_flag=True, help="Accept requests without valid signatures.")
@click.option("--debug", is_flag=True, help="Log details (never secrets).")
@click.option(
    "--backend",
    type=click.Choice(BACKEND_NAMES),
    default=BACKEND_NAMES[0],
    show_default=True,
    help="Storage backend.",
)
@click.option("--backend-config", default=None, help="Name of a saved backend configuration.")
@click.option("--root-folder", default=None, help="Drime: limit S3 to this folder.")
@upstream_options
@click.option(
    "--allow-bucket-creation",
    is_flag=True,
    help="Advanced mode: real buckets instead of the single 'default' bucket.",
)
@click.option("--readonly", is_flag=True, help="Refuse every write.")
@click.option(
    "--max-object-size",
    type=ByteSize(),
    default="5G",
    show_default=True,
    help="Largest object accepted in one PUT or part (K, M, G, T suffixes).",
)
@click.option(
    "--max-header-size",
    type=ByteSize(),
    default="64K",
    show_default=True,
    help="Largest request header section accepted.",
)
@click.option(
    "--read-timeout",
    type=click.FloatRange(min=1),
    default=60.0,
    show_default=True,
    help="Seconds a request body may stall before the request is abandoned.",
)
@click.option(
    "--idle-timeout",
    type=click.IntRange(min=1),
    default=75,
    show_default=True,
    help="Seconds an idle keep-alive connection is kept open.",
)
@click.option(
    "--abandoned-upload-age",
    type=click.FloatRange(min=0),
    default=24.0,
    show_default=True,
    help="Hours after which unfinished multipart uploads are removed at start.",
)
@click.option(
    "--lifecycle-interval",
    type=Duration(),
    default="1h",
    show_default=True,
    help="How often bucket lifecycle rules are applied (seconds, or with s/m/h/d); 0: never.",
)
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False), help="Serve HTTPS.")
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False), help="Key of --tls-cert.")
@click.option(
    "--no-fsync",
    is_flag=True,
    help="UNSAFE: do not fsync writes; a power failure can lose acknowledged objects.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1, max=64),
    default=1,
    show_default=True,
    help="Server processes sharing the port.",
)
@click.option(
    "--metrics-listen",
    default=None,
    metavar="[HOST]:PORT",
    help="Serve Prometheus metrics, /healthz and /readyz here (no authentication: "
    "bind to loopback or a private network). Off by default.",
)
@click.option(
    "--cache-db",
    type=click.Path(dir_okay=False),
    default=None,
    help="Metadata cache database (default: <config dir>/metadata.db).",
)
@click.option(
    "--config-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Directory of backends.toml and keys.toml (default: ~/.config/pys3local).",
)
def serve(
    path: str,
    create_path: bool,
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
    max_object_size: int,
    max_header_size: int,
    read_timeout: float,
    idle_timeout: int,
    abandoned_upload_age: float,
    lifecycle_interval: float,
    tls_cert: str | None,
    tls_key: str | None,
    no_fsync: bool,
    workers: int,
    metrics_listen: str | None,
    cache_db: str | None,
    config_dir: Path | None,
    **upstream: object,  # the --upstream-* options, read by resolve_backend
) -> None:
    """Start the S3-compatible server."""
    configure_logging(debug)
    if (tls_cert is None) != (tls_key is None):
        raise click.UsageError("--tls-cert and --tls-key go together")
    try:
        address = parse_listen(listen)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--listen") from None
    metrics_address = parse_metrics_listen(metrics_listen) if metrics_listen else None
    if not access_key_id or not secret_access_key:
        raise click.BadParameter("credentials must not be empty", param_hint="--access-key-id")
    backend_settings = resolve_backend(
        backend, path, backend_config, root_folder, config_dir, create_path
    )
    data_directory = type_of(backend_settings).data_directory(backend_settings)
    if data_directory is not None:
        prepare_data_dir(data_directory, create_path)
    settings = ServerSettings(
        backend=backend_settings,
        access_key=access_key_id,
        secret_key=secret_access_key,
        no_auth=no_auth,
        readonly=readonly,
        durable=not no_fsync,
        service=ServiceSettings(
            region=region,
            allow_bucket_creation=allow_bucket_creation,
            max_object_size=max_object_size,
            read_timeout=read_timeout,
            abandoned_upload_age=abandoned_upload_age * 3600,
            lifecycle_interval=lifecycle_interval,
        ),
        max_header_bytes=max_header_size,
        idle_timeout=idle_timeout,
        tls_cert=tls_cert,
        tls_key=tls_key,
        cache_db=cache_db,
        keys_dir=None if no_auth else str(unlock_keys(config_dir)),
        debug=debug,
        workers=workers,
        metrics_listen=metrics_listen or None,
    )
    try:
        app = build_app(settings)
    except (NotImplementedError, CacheRefused, WorkersRefused, BackendConfigError) as exc:
        raise click.ClickException(str(exc)) from None
    try:
        sockets = listen_group(address, workers) if workers > 1 else [bind_socket(address)]
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {listen}: {exc.strerror or exc}") from None
    address = ListenAddress(address.host, sockets[0].getsockname()[1])
    metrics_socket = bind_metrics(metrics_address) if metrics_address is not None else None

    def announce() -> None:
        """The banner, once the backend is open: only a server that serves announces."""
        warn_if_exposed(address, access_key_id, secret_access_key, no_auth)
        scheme = "https" if tls_cert else "http"
        print_banner(address, scheme, access_key_id, secret_access_key, region, no_auth)
        click.echo(f"Backend: {app.state.s3.service.provider.description}")
        if data_directory is not None:
            click.echo(storage_line(data_directory))
        click.echo(
            "Bucket mode: "
            + (
                "advanced (custom buckets)"
                if allow_bucket_creation
                else "default (use the bucket 'default'; --allow-bucket-creation for others)"
            )
        )
        if no_fsync:
            click.secho(
                "WARNING: --no-fsync: a power failure can lose acknowledged writes.", err=True
            )
        if workers > 1:
            click.echo(f"Workers: {workers}")
        if metrics_socket is not None:
            click.echo(metrics_line(metrics_socket))
        if settings.keys_dir is not None:
            count = len(app.state.s3.authenticator.keyring) - 1
            click.echo(f"Access keys: {count} more from {Path(settings.keys_dir) / KEYS_FILE}")
        sys.stdout.flush()

    if workers > 1:
        # Recovery, the default bucket and old uploads are dealt with once, here,
        # before any worker accepts a request.
        asyncio.run(_prepare(app, backend_settings, backend_config))
        if metrics_socket is None:
            announce()
            status = run_workers(settings, sockets)
        else:
            with serve_workers(metrics_socket, workers) as figures:
                announce()
                status = run_workers(settings, sockets, figures)
        if status:
            sys.exit(status)
        return

    listener = serve_one(app, metrics_socket) if metrics_socket is not None else None

    async def open_and_announce() -> None:
        await open_backend(app, backend_settings, backend_config)
        if listener is not None:
            listener.start()
        announce()

    try:
        EmbeddedServer.from_settings(settings, app, sockets[0]).run(before=open_and_announce)
    finally:
        if listener is not None:
            listener.stop()


async def _prepare(app: FastAPI, backend: BackendSettings, backend_config: str | None) -> None:
    await open_backend(app, backend, backend_config)
    await app.state.s3.stop()
