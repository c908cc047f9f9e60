"""Backend types and building a storage provider from backend settings.

Each kind of backend is one :class:`BackendType` record (``local.py``,
``drime.py``) listed in :mod:`.registry`; everything that depends on the kind
(``serve``, the console, saved configs, cache commands) asks the record.
"""

from __future__ import annotations

import logging
from pathlib import Path

from pys3local.cache import CacheError, CacheRefused, MetadataCache, acquire_cache
from pys3local.paths import cache_db_path
from pys3local.providers.base import StorageProvider

from .drime import DrimeBackendSettings
from .local import LocalBackendSettings
from .registry import BACKEND_NAMES, BACKENDS, BackendSettings, backend_type, type_of
from .s3 import S3BackendSettings
from .spec import (
    BackendType,
    Capabilities,
    ConnectionProblem,
    FieldKind,
    FieldSpec,
    MultipartState,
    ProviderOptions,
)

log = logging.getLogger("pys3local.backends")


def build_provider(
    settings: BackendSettings,
    *,
    readonly: bool = False,
    allow_bucket_creation: bool = False,
    durable: bool = True,
    cache_db: Path | None = None,
) -> StorageProvider:
    """The provider for saved or command-line backend settings.

    ``allow_bucket_creation`` tells a backend whose default bucket is special (Drime
    maps it to its root folder) which bucket mode the server runs in. ``durable=False``
    skips the local backend's fsyncs (unsafe on power loss). ``cache_db`` is the
    metadata cache (default location if None): the local backend's index, the Drime
    backend's record of MD5s.
    """
    options = ProviderOptions(
        readonly=readonly,
        allow_bucket_creation=allow_bucket_creation,
        durable=durable,
        cache=open_cache(cache_db),
    )
    return type_of(settings).build(settings, options)


def cache_identity(settings: BackendSettings) -> tuple[int, str]:
    """The (workspace, store) under which a backend's entries are cached.

    The local backend: workspace 0 and its data directory's absolute path; Drime:
    its workspace id and root folder. The store tells the two apart even in
    workspace 0 (Drime's personal workspace).
    """
    return type_of(settings).cache_identity(settings)


def open_cache(path: Path | None) -> MetadataCache | None:
    """The process's shared metadata cache, or None when it cannot be opened: it only
    accelerates, so serving goes on without it. A file the user named that is not a
    cache database is an error (:class:`CacheRefused`): they asked for that file.

    The provider holds it for the life of the process (it is never released).
    """
    try:
        return acquire_cache(path or cache_db_path())
    except CacheRefused:
        raise
    except (CacheError, OSError) as exc:
        log.warning("metadata cache unavailable, serving without it: %s", exc)
        return None


__all__ = [
    "BACKENDS",
    "BACKEND_NAMES",
    "BackendSettings",
    "BackendType",
    "Capabilities",
    "ConnectionProblem",
    "DrimeBackendSettings",
    "FieldKind",
    "FieldSpec",
    "LocalBackendSettings",
    "MultipartState",
    "ProviderOptions",
    "S3BackendSettings",
    "backend_type",
    "build_provider",
    "cache_identity",
    "open_cache",
    "type_of",
]
