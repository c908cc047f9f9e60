"""Helpers for tests that use the fake Drime: providers on it, bodies, drive queries."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

from pys3local.cache import MetadataCache
from pys3local.providers.base import ObjectMetadata
from pys3local.providers.drime import DrimeStorageProvider, RetryPolicy, create_drime_provider

from .server import FakeDrime
from .state import Entry

#: Quick retries, so fault tests take milliseconds, not seconds.
FAST_RETRY = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05, max_retry_after=2.0)


def make_provider(
    fake: FakeDrime,
    *,
    root_folder: str | None = "backups/s3",
    default_mode: bool = True,
    delete_forever: bool = True,
    cache: MetadataCache | None = None,
    workspace_id: int = 0,
    retry: RetryPolicy | None = FAST_RETRY,
) -> DrimeStorageProvider:
    return create_drime_provider(
        fake.api_key,
        workspace_id,
        root_folder=root_folder,
        api_url=fake.api_url,
        delete_forever=delete_forever,
        cache=cache,
        default_bucket_is_root=default_mode,
        retry=retry,
    )


async def stream(data: bytes, chunk: int = 64 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(data), chunk):
        yield data[start : start + chunk]
    if not data:
        return


async def read_all(reader: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in reader])


def meta(content_type: str = "application/octet-stream") -> ObjectMetadata:
    return ObjectMetadata(content_type=content_type)


def random_bytes(size: int) -> bytes:
    return os.urandom(size)


def live_entries(fake: FakeDrime) -> list[Entry]:
    return [e for e in fake.drive.entries.values() if e.deleted_at is None]


def path_of(fake: FakeDrime, entry: Entry) -> str:
    """The entry's path from the workspace root, e.g. ``backups/s3/a/b.txt``."""
    names = [entry.name]
    parent = entry.parent_id
    while parent is not None:
        folder = fake.drive.entries[parent]
        names.append(folder.name)
        parent = folder.parent_id
    return "/".join(reversed(names))


def files_named(fake: FakeDrime, path: str) -> list[Entry]:
    """Live file entries at ``path`` (Drime may hold several of one name)."""
    return [e for e in live_entries(fake) if e.type != "folder" and path_of(fake, e) == path]


def folders_named(fake: FakeDrime, path: str) -> list[Entry]:
    return [e for e in live_entries(fake) if e.type == "folder" and path_of(fake, e) == path]
