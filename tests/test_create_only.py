"""Create-only writes in the local backend (``If-None-Match: *``, append-only keys):
the existence check and the write are one atomic step, across provider instances."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from pys3local.errors import PreconditionFailed
from pys3local.providers.base import CompletedPart, ObjectMetadata
from pys3local.providers.conditions import CREATE_ONLY
from pys3local.providers.local import LocalStorageProvider


async def _body(data: bytes, pieces: int = 1) -> object:
    size = max(1, len(data) // pieces)
    for start in range(0, len(data), size):
        await asyncio.sleep(0)
        yield data[start : start + size]


@pytest.mark.parametrize("size", [10, 3 * 1024 * 1024])
async def test_PutObject_create_only_one_winner(tmp_path: Path, size: int) -> None:
    """Of many concurrent create-only PUTs of one key, through two providers on the same
    directory (as two workers), exactly one stores; the others store nothing."""
    first = LocalStorageProvider(tmp_path / "data")
    second = LocalStorageProvider(tmp_path / "data")
    await first.open()
    await second.open()
    await first.create_bucket("b")
    try:
        bodies = [bytes([i]) * size for i in range(12)]

        async def put(i: int) -> bool:
            provider = first if i % 2 else second
            try:
                await provider.put_object(
                    "b", "k", _body(bodies[i], 3), ObjectMetadata(), condition=CREATE_ONLY
                )
            except PreconditionFailed:
                return False
            return True

        won = await asyncio.gather(*(put(i) for i in range(12)))
        assert won.count(True) == 1
        reader = await first.get_object("b", "k")
        data = b"".join([chunk async for chunk in reader])
        await reader.aclose()
        assert data == bodies[won.index(True)]
        staging = tmp_path / "data" / ".pys3local" / "staging"
        assert not [p for p in staging.rglob("*") if p.is_file() and p.suffix != ".lock"]
    finally:
        await first.close()
        await second.close()


async def test_CopyObject_and_Complete_create_only(provider: LocalStorageProvider) -> None:
    """A create-only copy or multipart completion onto an existing key is refused and
    changes nothing; the refused upload can still be completed elsewhere."""
    await provider.put_object("b", "existing", _body(b"keep"), ObjectMetadata())
    await provider.put_object("b", "src", _body(b"other"), ObjectMetadata())
    with pytest.raises(PreconditionFailed):
        await provider.copy_object("b", "src", "b", "existing", condition=CREATE_ONLY)
    upload = await provider.create_multipart_upload("b", "existing", ObjectMetadata())
    part = await provider.upload_part("b", "existing", upload.upload_id, 1, _body(b"part"))
    parts = [CompletedPart(1, part.etag)]
    with pytest.raises(PreconditionFailed):
        await provider.complete_multipart_upload(
            "b", "existing", upload.upload_id, parts, condition=CREATE_ONLY
        )
    reader = await provider.get_object("b", "existing")
    assert b"".join([c async for c in reader]) == b"keep"
    await reader.aclose()
    await provider.delete_object("b", "existing")
    await provider.complete_multipart_upload(
        "b", "existing", upload.upload_id, parts, condition=CREATE_ONLY
    )
    assert (await provider.head_object("b", "existing")).size == 4
