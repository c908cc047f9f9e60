"""Multipart parts written in place: the zero-copy Complete and every way out of it.

Each test checks the assembled object byte for byte; the in-place path is only an
optimisation, so whatever order, sizes or repeats the parts come in, the object must
be exactly the parts the client named.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pys3local.errors import InvalidPart
from pys3local.providers.base import MIN_PART_SIZE, CompletedPart, ObjectMetadata
from pys3local.providers.local import LocalStorageProvider

P = MIN_PART_SIZE  # 5 MiB: the smallest part size a client may use


async def body(data: bytes, piece: int = 256 * 1024) -> AsyncIterator[bytes]:
    for i in range(0, len(data), piece):
        await asyncio.sleep(0)
        yield data[i : i + piece]


def block(label: str, size: int) -> bytes:
    seed = hashlib.sha256(label.encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


async def upload(
    provider: LocalStorageProvider,
    upload_id: str,
    number: int,
    data: bytes,
    *,
    declared: bool = True,
) -> CompletedPart:
    part = await provider.upload_part(
        "b", "k", upload_id, number, body(data), size=len(data) if declared else None
    )
    assert part.etag == hashlib.md5(data).hexdigest()
    return CompletedPart(number, part.etag)


async def read(provider: LocalStorageProvider, key: str = "k") -> bytes:
    reader = await provider.get_object("b", key)
    return b"".join([chunk async for chunk in reader])


def upload_dir(provider: LocalStorageProvider, upload_id: str) -> Path:
    return provider.base_path / ".pys3local" / "uploads" / upload_id


async def test_uniform_parts_are_committed_without_a_copy(provider: LocalStorageProvider) -> None:
    """Parts of one size (and a shorter last one), uploaded out of order and side by
    side: the upload's data file becomes the object itself (same inode)."""
    upload_id = (await provider.create_multipart_upload("b", "k", ObjectMetadata())).upload_id
    datas = [block(f"part{n}", P) for n in (1, 2, 3)] + [block("last", 1234)]
    # Part 2 first, then the rest at once: part 2 fixes the part size.
    first = await upload(provider, upload_id, 2, datas[1])
    rest = await asyncio.gather(*(upload(provider, upload_id, n, datas[n - 1]) for n in (4, 1, 3)))
    completed = sorted([first, *rest], key=lambda p: p.part_number)
    inode = (upload_dir(provider, upload_id) / "data").stat().st_ino
    info = await provider.complete_multipart_upload("b", "k", upload_id, completed)
    assert await read(provider) == b"".join(datas)
    assert info.size == 3 * P + 1234
    assert (provider.base_path / "b" / "objects" / "k").stat().st_ino == inode
    assert not upload_dir(provider, upload_id).exists()


async def test_parts_that_all_start_at_once_agree_on_the_part_size(
    provider: LocalStorageProvider,
) -> None:
    """No part has fixed the part size yet and six arrive together: each must see the
    size the winner recorded (never a file still being written), so all of them land
    in place and Complete copies nothing."""
    upload_id = (await provider.create_multipart_upload("b", "k", ObjectMetadata())).upload_id
    datas = [block(f"together{n}", P) for n in range(1, 7)]
    parts = await asyncio.gather(
        *(upload(provider, upload_id, n, d) for n, d in enumerate(datas, 1))
    )
    inode = (upload_dir(provider, upload_id) / "data").stat().st_ino
    assert not list(upload_dir(provider, upload_id).glob("part-size.*"))  # drafts cleaned up
    await provider.complete_multipart_upload("b", "k", upload_id, list(parts))
    assert await read(provider) == b"".join(datas)
    assert (provider.base_path / "b" / "objects" / "k").stat().st_ino == inode


async def test_short_last_part_first_falls_back_to_copying(provider: LocalStorageProvider) -> None:
    """The last part arrives first and fixes a wrong part size: the larger parts go to
    files of their own, and Complete copies everything together correctly."""
    upload_id = (await provider.create_multipart_upload("b", "k", ObjectMetadata())).upload_id
    big, last = block("big", P + 4096), block("last", P)
    parts = [await upload(provider, upload_id, 3, last)]
    parts += [await upload(provider, upload_id, n, big) for n in (1, 2)]
    parts.sort(key=lambda p: p.part_number)
    await provider.complete_multipart_upload("b", "k", upload_id, parts)
    assert await read(provider) == big + big + last


async def test_reuploaded_part_replaces_the_first_and_the_old_etag_is_refused(
    provider: LocalStorageProvider,
) -> None:
    upload_id = (await provider.create_multipart_upload("b", "k", ObjectMetadata())).upload_id
    one, two_old, two_new = block("1", P), block("2-old", P), block("2-new", P)
    first = await upload(provider, upload_id, 1, one)
    old = await upload(provider, upload_id, 2, two_old)
    new = await upload(provider, upload_id, 2, two_new)
    with pytest.raises(InvalidPart):
        await provider.complete_multipart_upload("b", "k", upload_id, [first, old])
    await provider.complete_multipart_upload("b", "k", upload_id, [first, new])
    assert await read(provider) == one + two_new


async def test_skipped_parts_and_undeclared_lengths_are_copied(
    provider: LocalStorageProvider,
) -> None:
    """Completing parts 1 and 3 only (a gap), one of them sent without a length."""
    upload_id = (await provider.create_multipart_upload("b", "k", ObjectMetadata())).upload_id
    datas = {n: block(f"p{n}", P) for n in (1, 2, 3)}
    one = await upload(provider, upload_id, 1, datas[1])
    await upload(provider, upload_id, 2, datas[2])
    three = await upload(provider, upload_id, 3, datas[3], declared=False)
    await provider.complete_multipart_upload("b", "k", upload_id, [one, three])
    assert await read(provider) == datas[1] + datas[3]


async def test_parts_beyond_the_completed_ones_are_cut_off(provider: LocalStorageProvider) -> None:
    """Parts 1-2 in place plus a part 3 that Complete does not name: the zero-copy
    object ends where part 2 ends."""
    upload_id = (await provider.create_multipart_upload("b", "k", ObjectMetadata())).upload_id
    datas = {n: block(f"q{n}", P) for n in (1, 2, 3)}
    named = [await upload(provider, upload_id, n, datas[n]) for n in (1, 2)]
    await upload(provider, upload_id, 3, datas[3])
    await provider.complete_multipart_upload("b", "k", upload_id, named)
    assert await read(provider) == datas[1] + datas[2]


async def test_same_part_number_at_once_is_never_mixed(provider: LocalStorageProvider) -> None:
    """Two uploads of part 1 with different bytes at the same time: the stored part is
    one of them whole, and its ETag is the one Complete accepts."""
    upload_id = (await provider.create_multipart_upload("b", "k", ObjectMetadata())).upload_id
    a, b = block("a", 2 * P), block("b", 2 * P)
    parts = await asyncio.gather(
        upload(provider, upload_id, 1, a), upload(provider, upload_id, 1, b)
    )
    listed = (await provider.list_parts("b", "k", upload_id))[1]
    assert [p.etag for p in listed] in ([parts[0].etag], [parts[1].etag])
    await provider.complete_multipart_upload(
        "b", "k", upload_id, [CompletedPart(1, listed[0].etag)]
    )
    assert await read(provider) in (a, b)


async def test_failed_part_body_claims_nothing(provider: LocalStorageProvider) -> None:
    """A body that breaks off mid-part leaves no record; the part can be sent again."""

    async def broken(data: bytes) -> AsyncIterator[bytes]:
        yield data[: len(data) // 2]
        raise ConnectionResetError("client went away")

    upload_id = (await provider.create_multipart_upload("b", "k", ObjectMetadata())).upload_id
    data = block("whole", P)
    with pytest.raises(ConnectionResetError):
        await provider.upload_part("b", "k", upload_id, 1, broken(data), size=len(data))
    assert (await provider.list_parts("b", "k", upload_id))[1] == []
    part = await upload(provider, upload_id, 1, data)
    await provider.complete_multipart_upload("b", "k", upload_id, [part])
    assert await read(provider) == data


async def test_restart_removes_an_upload_committed_before_a_crash(tmp_path: Path) -> None:
    """An upload whose data file became its object, left behind by a crash before the
    upload directory was removed, is cleaned up at the next start."""
    provider = LocalStorageProvider(tmp_path / "data")
    await provider.open()
    await provider.create_bucket("b")
    upload_id = (await provider.create_multipart_upload("b", "k", ObjectMetadata())).upload_id
    part = await upload(provider, upload_id, 1, block("only", P))
    # What a crash between the commit and the removal leaves: markers, no data file.
    os.rename(upload_dir(provider, upload_id) / "data", tmp_path / "elsewhere")
    await provider.close()
    again = LocalStorageProvider(tmp_path / "data")
    await again.open()
    assert not upload_dir(again, upload_id).exists()
    assert part.part_number == 1
    await again.close()
