"""Building a storage provider from backend settings (``serve`` and the console)."""

from __future__ import annotations

from pys3local.config import DrimeBackendSettings, LocalBackendSettings
from pys3local.providers.base import StorageProvider

BackendSettings = LocalBackendSettings | DrimeBackendSettings


def build_provider(
    settings: BackendSettings,
    *,
    readonly: bool = False,
    allow_bucket_creation: bool = False,
    durable: bool = True,
) -> StorageProvider:
    """The provider for saved or command-line backend settings.

    ``allow_bucket_creation`` tells a backend whose default bucket is special (Drime
    maps it to its root folder) which bucket mode the server runs in. ``durable=False``
    skips the local backend's fsyncs (unsafe on power loss).
    """
    if isinstance(settings, LocalBackendSettings):
        from pys3local.providers.local import LocalStorageProvider

        return LocalStorageProvider(
            settings.path, readonly=readonly or settings.readonly, durable=durable
        )
    raise NotImplementedError("The Drime backend is not available in this version yet.")
