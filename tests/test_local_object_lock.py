"""Object Lock inside the local backend, on real files: the in-place replacements of a
``null`` version (suspended versioning) refuse a protected one, as removals by
version id do. Through the API a bucket with lock can never be suspended, so these
states are set up by writing the bucket's settings directly: they show that the
backend guards every path that replaces a version, not only the ones a client can
reach today."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from pys3local.errors import AccessDenied
from pys3local.providers.base import ObjectMetadata
from pys3local.providers.local import LocalStorageProvider


async def chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def read(provider: LocalStorageProvider, key: str, version_id: str) -> bytes:
    reader = await provider.get_object_version("b", key, version_id)
    try:
        return b"".join([chunk async for chunk in reader])
    finally:
        await reader.aclose()


def lock_and_suspend(provider: LocalStorageProvider) -> None:
    """Lock beside suspended versioning (a state the API refuses)."""
    provider._configs.update(
        "b", {"versioning": "Suspended", "object_lock": {"enabled": True}}, durable=True
    )


async def test_PutObject_suspended_does_not_replace_a_held_null_version(
    provider: LocalStorageProvider,
) -> None:
    """A new null version (suspended versioning) may not replace a null version under
    legal hold, current or kept in the versions directory: AccessDenied, both stay."""
    await provider.put_bucket_versioning("b", "Suspended")
    await provider.put_object("b", "k", chunks(b"current null"), ObjectMetadata())
    await provider.put_object("b", "old", chunks(b"kept null"), ObjectMetadata())
    await provider.put_bucket_versioning("b", "Enabled")
    await provider.put_object("b", "old", chunks(b"newer"), ObjectMetadata())
    lock_and_suspend(provider)
    await provider.put_object_legal_hold("b", "k", "null", True)
    await provider.put_object_legal_hold("b", "old", "null", True)
    for key in ("k", "old"):
        with pytest.raises(AccessDenied):
            await provider.put_object("b", key, chunks(b"replacement"), ObjectMetadata())
    assert await read(provider, "k", "null") == b"current null"
    assert await read(provider, "old", "null") == b"kept null"


async def test_DeleteObject_suspended_does_not_replace_a_held_null_version(
    provider: LocalStorageProvider,
) -> None:
    """A null delete marker (suspended versioning) may not replace a null version under
    legal hold: AccessDenied, the version stays; without the hold the marker goes in."""
    await provider.put_bucket_versioning("b", "Suspended")
    await provider.put_object("b", "k", chunks(b"null version"), ObjectMetadata())
    lock_and_suspend(provider)
    await provider.put_object_legal_hold("b", "k", "null", True)
    with pytest.raises(AccessDenied):
        await provider.delete_object("b", "k")
    assert await read(provider, "k", "null") == b"null version"
    await provider.put_object_legal_hold("b", "k", "null", False)
    outcome = await provider.delete_object("b", "k")
    assert outcome is not None and outcome.delete_marker
