"""Building a storage provider from backend settings (``serve`` and the console)."""

from __future__ import annotations

import logging
from pathlib import Path

from pys3local.cache import (
    CacheError,
    CacheRefused,
    MetadataCache,
    acquire_cache,
    drime_store,
    local_store,
)
from pys3local.config import DrimeBackendSettings, LocalBackendSettings
from pys3local.paths import cache_db_path
from pys3local.providers.base import StorageProvider

log = logging.getLogger("pys3local.backends")

BackendSettings = LocalBackendSettings | DrimeBackendSettings


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
    if isinstance(settings, LocalBackendSettings):
        from pys3local.providers.local import LocalStorageProvider

        return LocalStorageProvider(
            settings.path,
            readonly=readonly or settings.readonly,
            durable=durable,
            cache=open_cache(cache_db),
        )
    from pys3local.providers.drime import create_drime_provider

    return create_drime_provider(
        settings.api_key,
        settings.workspace_id,
        root_folder=settings.root_folder,
        api_url=settings.api_url,
        delete_forever=settings.delete_forever,
        cache=open_cache(cache_db),
        default_bucket_is_root=not allow_bucket_creation,
        readonly=readonly,
    )


def cache_identity(settings: BackendSettings) -> tuple[int, str]:
    """The (workspace, store) under which a backend's entries are cached.

    The local backend: workspace 0 and its data directory's absolute path; Drime:
    its workspace id and root folder. The store tells the two apart even in
    workspace 0 (Drime's personal workspace).
    """
    if isinstance(settings, LocalBackendSettings):
        return 0, local_store(settings.path)
    return settings.workspace_id, drime_store(settings.root_folder)


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
