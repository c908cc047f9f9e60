"""The ``local`` backend type: objects are files under a data directory."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pys3local.cache.entries import local_store

from .spec import (
    BackendType,
    Capabilities,
    ConnectionProblem,
    FieldSpec,
    MultipartState,
    ProviderOptions,
)

if TYPE_CHECKING:
    from pys3local.providers.base import StorageProvider


@dataclass(frozen=True)
class LocalBackendSettings:
    """A ``local`` backend: objects are files under ``path``."""

    path: Path
    readonly: bool = False


def local_path_problem(path: object, *, writable: bool = True) -> str | None:
    """Why a local data directory cannot be used, or None.

    It must be a writable directory, or not exist yet below a writable directory (the
    backend creates it when the server starts). A read-only backend only needs an
    existing, readable directory.
    """
    target = Path(str(path)).expanduser()
    if not target.is_absolute():
        return f"{target} is not an absolute path"
    if target.exists():
        if not target.is_dir():
            return f"{target} exists and is not a directory"
        needed, what = (os.W_OK | os.X_OK, "writable") if writable else (os.R_OK, "readable")
        return None if os.access(target, needed) else f"{target} is not {what}"
    if not writable:
        return f"{target} does not exist (a read-only backend cannot create it)"
    parent = target.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        return f"{target} does not exist and cannot be created ({parent} is not writable)"
    return None


def _problem(values: Mapping[str, object], *, readonly: bool = False) -> str | None:
    """A path that cannot serve (an empty one is the config's own error to report)."""
    path = values.get("path")
    if not path:
        return None
    return local_path_problem(path, writable=not (readonly or values.get("readonly")))


def _build(settings: LocalBackendSettings, options: ProviderOptions) -> StorageProvider:
    from pys3local.providers.local import LocalStorageProvider

    return LocalStorageProvider(
        settings.path,
        readonly=options.readonly or settings.readonly,
        durable=options.durable,
        cache=options.cache,
    )


async def _check(settings: LocalBackendSettings) -> str:
    problem = local_path_problem(settings.path, writable=not settings.readonly)
    if problem:
        raise ConnectionProblem(problem)
    return f"{settings.path} is {'readable' if settings.readonly else 'writable'}."


def _cache_identity(settings: LocalBackendSettings) -> tuple[int, str]:
    # Workspace 0, told apart from Drime's personal workspace by the store name.
    return 0, local_store(settings.path)


LOCAL: BackendType[LocalBackendSettings] = BackendType(
    name="local",
    settings_class=LocalBackendSettings,
    fields=(
        FieldSpec("path", "path", True, "directory that holds the data"),
        FieldSpec("readonly", "bool", False, "refuse writes and deletes", default=False),
    ),
    # Uploads are staged in the data directory under flock locks.
    capabilities=Capabilities(
        multipart_state=MultipartState.STORE, versioning=True, object_lock=True
    ),
    build=_build,
    check=_check,
    cache_identity=_cache_identity,
    serve_options={"--path": "path", "--create-path": None},
    problem=_problem,
    data_directory=lambda settings: settings.path,
)
