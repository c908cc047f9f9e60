"""What ``serve`` checks before it says it is serving: the options fit the backend,
the data directory is where the operator meant, and the backend opens.

Each failure is one ``Error:`` line and a non-zero exit, and comes before the
banner: a server that is not serving never announces an address.
"""

from __future__ import annotations

import os
from pathlib import Path

import click
from fastapi import FastAPI

from pys3local.backends import BACKENDS, BackendSettings, type_of
from pys3local.errors import S3Error
from pys3local.filesystems import filesystem_of
from pys3local.sizes import format_size

#: Mode of a data directory serve creates (the local backend's own directory mode).
_DIR_MODE = 0o700


def reject_foreign_options(kind: str, origin: str, given: dict[str, bool]) -> None:
    """A usage error for options given that do not apply to a ``kind`` backend.

    ``origin`` says where the backend was chosen (``backend config 'x'``,
    ``--backend drime``); ``given`` maps an option name to whether it was given.
    """
    only = {option: other.name for other in BACKENDS.values() for option in other.serve_options}
    for option, was_given in given.items():
        if was_given and only[option] != kind:
            raise click.UsageError(
                f"{option} applies to the {only[option]} backend only, and {origin} is {kind}"
            )


def prepare_data_dir(path: Path, create_path: bool) -> None:
    """Make sure the local backend's data directory exists, as the operator meant it.

    An existing directory is used as it is. A missing one is created, with a line
    saying so, when its parent exists; a missing parent (a typo, an unmounted disk)
    is refused unless ``create_path`` asks for the whole chain.
    """
    if path.is_dir():
        return
    if path.exists() or path.is_symlink():
        raise click.ClickException(f"--path {path} exists and is not a directory")
    missing = path
    while not missing.parent.exists() and missing.parent != missing:
        missing = missing.parent
    if missing != path and not create_path:
        raise click.ClickException(
            f"--path {path}: {missing} does not exist (a typo, or a disk not mounted?); "
            "pass --create-path to create it"
        )
    try:
        os.makedirs(path, mode=_DIR_MODE)
    except OSError as exc:
        raise click.ClickException(
            f"cannot create the data directory {path}: {exc.strerror or exc}"
        ) from None
    click.echo(f"Created the data directory {path}")


def storage_line(path: Path) -> str:
    """Where the data lives, e.g.
    ``Data: /srv/s3 on /dev/sdb1 (ext4, mounted at /srv), 1.2 TB free of 2.0 TB``."""
    try:
        fs = filesystem_of(path)
    except OSError as exc:
        return f"Data: {path} (filesystem unknown: {exc.strerror or exc})"
    where = ", ".join(part for part in (fs.fstype, f"mounted at {fs.mount_point}") if part)
    device = f" on {fs.device}" if fs.device else ""
    return f"Data: {path}{device} ({where}), {format_size(fs.free)} free of {format_size(fs.total)}"


def credential_origin(settings: BackendSettings, backend_config: str | None) -> str | None:
    """Where ``serve`` took the backend's secret from (e.g. ``API key from environment
    variable DRIME_API_KEY``), for error messages; None for a backend without one."""
    kind = type_of(settings)
    if kind.credential is None:
        return None
    if backend_config is not None:
        return f"{kind.credential} from saved backend '{backend_config}'"
    envs = [spec.env for spec in kind.secret_fields if spec.env]
    return f"{kind.credential} from environment variable {', '.join(envs)}"


async def open_backend(app: FastAPI, settings: BackendSettings, backend_config: str | None) -> None:
    """Open the provider (and prepare the store) in the loop that will serve it.

    Raises a one-line :class:`click.ClickException` naming the backend, and where
    its secret came from (Drime's API key).
    """
    s3 = app.state.s3
    try:
        await s3.start()
    except S3Error as exc:
        reason = exc.message
    except OSError as exc:
        reason = f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")
    except Exception as exc:  # any backend failure is one line, never a traceback
        reason = f"{type(exc).__name__}: {exc}"
    else:
        return
    what = s3.service.provider.description
    origin = credential_origin(settings, backend_config)
    if origin is not None:
        what = f"{what} ({origin})"
    raise click.ClickException(f"cannot open the backend {what}: {reason}")
