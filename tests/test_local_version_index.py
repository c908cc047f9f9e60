"""The local backend's versions-directory rows in process, with a real cache file and
real directories: a change is stored once the key is quiet, and a refresh the queue
refuses never leaves the key waiting for good."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from pys3local.cache import MetadataCache, local_store
from pys3local.cache.version_dirs import VersionDirTable
from pys3local.providers.base import ObjectMetadata
from pys3local.providers.local import version_index
from pys3local.providers.local.provider import LocalStorageProvider


async def _body(data: bytes):  # type: ignore[no-untyped-def]
    yield data


@pytest.fixture
def overwritten(tmp_path: Path):
    """A provider with a cache, and key "k" of a versioned bucket written twice."""
    cache = MetadataCache(tmp_path / "cache.db").open()
    provider = LocalStorageProvider(tmp_path / "data", cache=cache)

    async def write() -> None:
        await provider.create_bucket("b")
        await provider.put_bucket_versioning("b", "Enabled")
        for n in range(2):
            await provider.put_object("b", "k", _body(b"v%d" % n), ObjectMetadata())

    asyncio.run(write())
    table = VersionDirTable(cache, 0, local_store(provider.base_path))
    yield provider, provider._version_index, table
    asyncio.run(provider.close())
    cache.close()


def _handle_when_quiet(index: version_index.VersionIndex) -> None:
    time.sleep(version_index._QUIET_SECONDS + 0.1)
    index.flush()


def test_PutObject_overwrite_stores_the_row_once_the_key_is_quiet(overwritten) -> None:
    """The overwrite's refresh waits while the key is busy, then stores the row of
    the directory as it is (one older version)."""
    _provider, index, table = overwritten
    index.flush()  # within the quiet time: the refresh waits
    assert table.get_many("b", ["k"]) == {}
    _handle_when_quiet(index)
    row = table.get_many("b", ["k"])["k"]
    assert len(version_index.decode(row[1]) or []) == 1


def test_PutObject_refresh_refused_by_a_full_queue_lets_the_next_change_queue_again(
    overwritten, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the queue refuses a refresh, the key does not stay marked as waiting: its
    next change queues a refresh, and the row is stored."""
    provider, index, table = overwritten
    index.flush()
    index._queue._pending.clear()  # the overwrite's refresh is lost, as if refused
    with index._changes_lock:
        index._changes.clear()
    monkeypatch.setattr(index._queue, "_max_pending", 0)
    index.changed("b", "k")  # refused
    monkeypatch.setattr(index._queue, "_max_pending", 100)
    asyncio.run(provider.put_object("b", "k", _body(b"v2"), ObjectMetadata()))
    _handle_when_quiet(index)
    row = table.get_many("b", ["k"])["k"]
    assert len(version_index.decode(row[1]) or []) == 2
