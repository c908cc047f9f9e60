"""Group commit of the local backend: small PutObjects share their flushes (``syncfs``
rounds of :mod:`pys3local.providers.local.group_sync`) on a real filesystem.

That an acknowledged write is durable is shown with a simulated power cut in
``test_durability_power_cut.py``; these tests count the flushes.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pys3local.providers.base import ObjectMetadata
from pys3local.providers.local import LocalStorageProvider


async def one_piece(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def read_all(provider: LocalStorageProvider, key: str) -> bytes:
    reader = await provider.get_object("b", key)
    return b"".join([c async for c in reader])


def body(n: int, size: int = 4096) -> bytes:
    seed = hashlib.sha256(str(n).encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


async def test_PutObject_alone_takes_two_flushes(provider: LocalStorageProvider) -> None:
    """An idle server makes a small PUT durable at once: one round for its files, one
    for their renames (no waiting for other writers)."""
    group = provider._group_sync
    if not group.available:
        pytest.skip("no syncfs on this system: small PUTs fsync their own files")
    before = group.rounds
    await provider.put_object("b", "alone", one_piece(body(0)), ObjectMetadata())
    assert group.rounds - before == 2
    assert await read_all(provider, "alone") == body(0)


async def test_PutObject_concurrent_small_writes_share_flushes(
    provider: LocalStorageProvider,
) -> None:
    """64 concurrent 4 KiB PUTs are made durable by a handful of shared rounds, not
    by two rounds each, and every object reads back whole."""
    group = provider._group_sync
    if not group.available:
        pytest.skip("no syncfs on this system: small PUTs fsync their own files")
    before = group.rounds
    await asyncio.gather(
        *(
            provider.put_object("b", f"k/{n}", one_piece(body(n)), ObjectMetadata())
            for n in range(64)
        )
    )
    rounds = group.rounds - before
    assert 2 <= rounds <= 16, rounds
    for n in range(64):
        assert await read_all(provider, f"k/{n}") == body(n)


async def test_PutObject_large_one_piece_fsyncs_its_own_files(
    provider: LocalStorageProvider,
) -> None:
    """A body over 64 KiB takes the one-hop path, which fsyncs its own files and
    shares no round."""
    group = provider._group_sync
    before = group.rounds
    data = body(1, 200 * 1024)
    await provider.put_object("b", "large", one_piece(data), ObjectMetadata())
    assert group.rounds == before
    assert await read_all(provider, "large") == data


async def test_PutObject_no_fsync_takes_no_flush(tmp_path: Path) -> None:
    """With durability off (``--no-fsync``) small PUTs flush nothing."""
    store = LocalStorageProvider(tmp_path / "data", durable=False)
    await store.open()
    try:
        await store.create_bucket("b")
        await asyncio.gather(
            *(
                store.put_object("b", f"k/{n}", one_piece(body(n)), ObjectMetadata())
                for n in range(8)
            )
        )
        assert store._group_sync.rounds == 0
        assert not store._group_sync.available
        assert await read_all(store, "k/7") == body(7)
    finally:
        await store.close()


async def test_PutObject_under_load_waits_for_two_rounds(provider: LocalStorageProvider) -> None:
    """Under steady load (16 writers, one PUT after another) a small PUT waits for two
    rounds, its files' and its renames': a writer served by one round renames its
    files in time to be served by the very next one."""
    group = provider._group_sync
    if not group.available:
        pytest.skip("no syncfs on this system: small PUTs fsync their own files")
    seen: list[int] = []

    async def writer(w: int) -> None:
        for n in range(12):
            started = group.rounds
            data = body(w * 100 + n)
            await provider.put_object("b", f"w{w}/{n}", one_piece(data), ObjectMetadata())
            seen.append(group.rounds - started)

    await asyncio.gather(*(writer(w) for w in range(16)))
    assert sum(seen) / len(seen) < 2.5, sorted(seen)
