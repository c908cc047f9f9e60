"""The local filesystem backend."""

from pys3local.providers.local.provider import LocalStorageProvider

__all__ = ["LocalStorageProvider"]
