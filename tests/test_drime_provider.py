"""DrimeStorageProvider against the fake Drime: the S3 → Drime mapping.

Each test sets up state through the provider (or the fake's drive), acts through the
provider, and asserts through both: what the provider answers and what Drime holds.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import AsyncIterator, Iterator

import pytest
from fake_drime import FakeDrime
from fake_drime.testing import (
    files_named,
    folders_named,
    live_entries,
    make_provider,
    meta,
    path_of,
    random_bytes,
    read_all,
    stream,
)

from pys3local.cache import MetadataCache
from pys3local.errors import (
    BadDigest,
    BucketAlreadyOwnedByYou,
    BucketNotEmpty,
    InvalidArgument,
    InvalidPart,
    NoSuchBucket,
    NoSuchKey,
    NoSuchUpload,
    ObjectNameConflict,
)
from pys3local.providers.base import CompletedPart, RangeRequest
from pys3local.providers.drime import DrimeStorageProvider

MiB = 1024 * 1024


@pytest.fixture
def fake() -> Iterator[FakeDrime]:
    with FakeDrime(page_size_cap=5) as server:
        yield server


@pytest.fixture
async def provider(fake: FakeDrime) -> AsyncIterator[DrimeStorageProvider]:
    p = make_provider(fake)
    await p.open()
    yield p
    await p.close()


async def test_open_creates_root_folder_once(fake: FakeDrime) -> None:
    """The root folder path is created at open and found (not re-created) next time."""
    for _ in range(2):
        p = make_provider(fake, root_folder="a/b/c")
        await p.open()
        await p.close()
    for path in ("a", "a/b", "a/b/c"):
        assert len(folders_named(fake, path)) == 1


async def test_PutObject_GetObject_round_trip(provider: DrimeStorageProvider) -> None:
    """A nested key's bytes come back whole and by range; HEAD agrees with PUT."""
    data = random_bytes(300_000)
    put = await provider.put_object("default", "x/y/z.bin", stream(data), meta("text/plain"))
    head = await provider.head_object("default", "x/y/z.bin")
    assert (head.size, head.etag, head.metadata.content_type) == (len(data), put.etag, "text/plain")
    assert await read_all(await provider.get_object("default", "x/y/z.bin")) == data
    reader = await provider.get_object("default", "x/y/z.bin", RangeRequest(1000, 1999))
    assert reader.byte_range is not None and reader.byte_range.length == 1000
    assert await read_all(reader) == data[1000:2000]
    suffix = await provider.get_object("default", "x/y/z.bin", RangeRequest(None, 10))
    assert await read_all(suffix) == data[-10:]


async def test_PutObject_empty_object(provider: DrimeStorageProvider) -> None:
    """A zero-byte object is stored and read back empty."""
    await provider.put_object("default", "empty", stream(b""), meta())
    assert (await provider.head_object("default", "empty")).size == 0
    assert await read_all(await provider.get_object("default", "empty")) == b""


async def test_PutObject_large_uses_drime_multipart(
    fake: FakeDrime, provider: DrimeStorageProvider
) -> None:
    """Above the simple-upload limit the body goes up as presigned parts, not /uploads."""
    provider.uploader.simple_limit = 6 * MiB
    provider.uploader.part_size = 5 * MiB
    data = random_bytes(12 * MiB + 7)
    await provider.put_object("default", "big.bin", stream(data, MiB), meta())
    paths = [r.path for r in fake.requests]
    assert paths.count("/api/v1/uploads") == 0
    assert sum(p.startswith("/storage/parts/") for p in paths) == 3
    assert await read_all(await provider.get_object("default", "big.bin")) == data


async def test_PutObject_overwrite_leaves_one_entry(
    fake: FakeDrime, provider: DrimeStorageProvider
) -> None:
    """After several PUTs to one key Drime holds exactly one entry: the latest."""
    for i in range(4):
        await provider.put_object("default", "dir/k", stream(b"v%d" % i), meta())
    assert len(files_named(fake, "backups/s3/dir/k")) == 1
    assert await read_all(await provider.get_object("default", "dir/k")) == b"v3"


async def test_PutObject_concurrent_overwrites_leave_one_entry(
    fake: FakeDrime, provider: DrimeStorageProvider
) -> None:
    """Racing PUTs to one key end with one entry, the one Drime stored last."""
    await asyncio.gather(
        *(provider.put_object("default", "race", stream(b"%d" % i), meta()) for i in range(8))
    )
    entries = files_named(fake, "backups/s3/race")
    assert len(entries) == 1
    assert await read_all(await provider.get_object("default", "race")) == (
        fake.drive.blob(entries[0].file_name or "").read_bytes()
    )


async def test_PutObject_concurrent_new_folders_created_once(fake: FakeDrime) -> None:
    """Concurrent uploads (from two servers) into new nested folders create each once."""
    one, two = make_provider(fake), make_provider(fake)
    await one.open()
    await two.open()
    keys = [f"n1/n2/n3/f{i}" for i in range(10)] + [f"n1/m2/f{i}" for i in range(5)]
    await asyncio.gather(
        *(
            (one if i % 2 else two).put_object("default", key, stream(b"x"), meta())
            for i, key in enumerate(keys)
        )
    )
    for path in ("n1", "n1/n2", "n1/n2/n3", "n1/m2"):
        assert len(folders_named(fake, f"backups/s3/{path}")) == 1, path
    assert len([e for e in live_entries(fake) if e.type != "folder"]) == len(keys)
    await one.close()
    await two.close()


async def test_root_folder_scoping(fake: FakeDrime, provider: DrimeStorageProvider) -> None:
    """Nothing is written outside the root folder; outside entries are invisible."""
    outside = fake.drive.create_folder("private", None, 0)
    fake.drive.create_folder("inner", outside.id, 0)
    await provider.put_object("default", "a/b", stream(b"1"), meta())
    await provider.put_object("default", "c", stream(b"2"), meta())
    await provider.copy_object("default", "c", "default", "d/e")
    for entry in live_entries(fake):
        path = path_of(fake, entry)
        assert path.startswith(("backups", "private")), path
        if entry.type != "folder":
            assert path.startswith("backups/s3/"), path
    listing = await provider.list_objects("default")
    assert [o.key for o in listing.objects] == ["a/b", "c", "d/e"]


async def test_DeleteObject_is_permanent_and_missing_is_fine(
    fake: FakeDrime, provider: DrimeStorageProvider
) -> None:
    """Delete removes the entry for good (not to the trash); a missing key is no error."""
    await provider.put_object("default", "gone/file", stream(b"abc"), meta())
    disk_name = files_named(fake, "backups/s3/gone/file")[0].file_name
    await provider.delete_object("default", "gone/file")
    await provider.delete_object("default", "gone/file")
    await provider.delete_object("default", "never/was/here")
    assert not [e for e in fake.drive.entries.values() if e.name == "file"]
    assert not fake.drive.blob(disk_name or "").exists()
    with pytest.raises(NoSuchKey):
        await provider.head_object("default", "gone/file")


async def test_DeleteObject_to_trash_when_configured(fake: FakeDrime) -> None:
    """With delete_forever=False deleted (and overwritten) files go to Drime's trash."""
    p = make_provider(fake, delete_forever=False)
    await p.open()
    await p.put_object("default", "t", stream(b"old"), meta())
    await p.put_object("default", "t", stream(b"new"), meta())
    await p.delete_object("default", "t")
    trashed = [e for e in fake.drive.entries.values() if e.name == "t"]
    assert len(trashed) == 2 and all(e.deleted_at is not None for e in trashed)
    await p.close()


async def test_ListObjects_s3_order_and_pagination(provider: DrimeStorageProvider) -> None:
    """Keys come in UTF-8 byte order across folders, a page at a time, past the
    Drime page size (5), with prefixes and delimiters."""
    keys = ["a-b", "a.b", "a/b", "a/c/d", "a/c/e", "ab", "b", "é", "z/9", "a/ä"] + [
        f"many/{i:03d}" for i in range(23)
    ]
    for key in keys:
        await provider.put_object("default", key, stream(key.encode()), meta())
    expected = sorted(keys, key=lambda k: k.encode())
    seen: list[str] = []
    marker = ""
    while True:
        page = await provider.list_objects("default", start_after=marker, max_keys=4)
        seen += [o.key for o in page.objects]
        if not page.is_truncated:
            break
        assert page.next_marker is not None
        marker = page.next_marker
    assert seen == expected
    top = await provider.list_objects("default", delimiter="/")
    assert [o.key for o in top.objects] == ["a-b", "a.b", "ab", "b", "é"]
    assert top.common_prefixes == ["a/", "many/", "z/"]
    inner = await provider.list_objects("default", prefix="a/", delimiter="/")
    assert [o.key for o in inner.objects] == ["a/b", "a/ä"]
    assert inner.common_prefixes == ["a/c/"]
    partial = await provider.list_objects("default", prefix="many/01")
    assert [o.key for o in partial.objects] == [f"many/{i:03d}" for i in range(10, 20)]
    dashes = await provider.list_objects("default", prefix="a", delimiter="-")
    assert dashes.common_prefixes == ["a-"]
    assert (await provider.list_objects("default", prefix="nope/")).objects == []


async def test_ListObjects_hides_empty_folders(
    fake: FakeDrime, provider: DrimeStorageProvider
) -> None:
    """A folder without files below it is not a common prefix (S3 has no empty dirs)."""
    await provider.put_object("default", "keep/x", stream(b"1"), meta())
    await provider.put_object("default", "drop/x", stream(b"1"), meta())
    await provider.delete_object("default", "drop/x")
    listing = await provider.list_objects("default", delimiter="/")
    assert listing.common_prefixes == ["keep/"]


async def test_keys_drime_cannot_hold(provider: DrimeStorageProvider) -> None:
    """Empty, '.' and '..' segments are refused on write and absent on read."""
    for key in ("a//b", "dir/", "./x", "a/../b"):
        with pytest.raises(InvalidArgument):
            await provider.put_object("default", key, stream(b"x"), meta())
        with pytest.raises(NoSuchKey):
            await provider.head_object("default", key)
        await provider.delete_object("default", key)


async def test_PutObject_bad_digest_stores_nothing(
    fake: FakeDrime, provider: DrimeStorageProvider
) -> None:
    """A Content-MD5 mismatch is refused before anything reaches Drime."""
    with pytest.raises(BadDigest):
        await provider.put_object(
            "default", "bad/md5", stream(b"data"), meta(), content_md5=b"0" * 16
        )
    assert [e for e in live_entries(fake) if e.name in ("bad", "md5")] == []


async def test_CopyObject_server_side(fake: FakeDrime, provider: DrimeStorageProvider) -> None:
    """Copy uses Drime's duplicate (no download), renames, and replaces the target."""
    data = random_bytes(50_000)
    await provider.put_object("default", "src/a.bin", stream(data), meta())
    await provider.put_object("default", "dst/b.bin", stream(b"old"), meta())
    before = len(fake.requests)
    info = await provider.copy_object("default", "src/a.bin", "default", "dst/b.bin")
    used = [r.path for r in fake.requests[before:]]
    assert "/api/v1/file-entries/duplicate" in used
    assert not any(p.startswith("/storage/files/") for p in used)
    assert len(files_named(fake, "backups/s3/dst/b.bin")) == 1
    assert await read_all(await provider.get_object("default", "dst/b.bin")) == data
    assert info.etag == (await provider.head_object("default", "dst/b.bin")).etag
    same = await provider.copy_object("default", "src/a.bin", "default", "src/a.bin", meta())
    assert same.size == len(data)
    assert len(files_named(fake, "backups/s3/src/a.bin")) == 1
    with pytest.raises(NoSuchKey):
        await provider.copy_object("default", "src/none", "default", "x")


async def test_multipart_upload_mapping(fake: FakeDrime, provider: DrimeStorageProvider) -> None:
    """S3 parts go straight to Drime's store; Complete gives S3's multipart ETag, which
    HEAD and listings then show too."""
    parts_data = [random_bytes(5 * MiB), random_bytes(5 * MiB), random_bytes(1234)]
    upload = await provider.create_multipart_upload("default", "mp/obj", meta())
    done = []
    for number, data in enumerate(parts_data, 1):
        body = stream(data)
        part = await provider.upload_part("default", "mp/obj", upload.upload_id, number, body)
        assert part.etag == hashlib.md5(data).hexdigest()
        done.append(CompletedPart(number, part.etag))
    _, listed = await provider.list_parts("default", "mp/obj", upload.upload_id)
    assert [p.part_number for p in listed] == [1, 2, 3]
    with pytest.raises(InvalidPart):
        bad = [CompletedPart(1, "0" * 32), *done[1:]]
        await provider.complete_multipart_upload("default", "mp/obj", upload.upload_id, bad)
    info = await provider.complete_multipart_upload("default", "mp/obj", upload.upload_id, done)
    digests = b"".join(hashlib.md5(d).digest() for d in parts_data)
    assert info.etag == hashlib.md5(digests).hexdigest() + "-3"
    assert (await provider.head_object("default", "mp/obj")).etag == info.etag
    assert (await provider.list_objects("default", prefix="mp/")).objects[0].etag == info.etag
    assert await read_all(await provider.get_object("default", "mp/obj")) == b"".join(parts_data)
    assert fake.drive.uploads == {}
    other = await provider.create_multipart_upload("default", "mp/other", meta())
    await provider.abort_multipart_upload("default", "mp/other", other.upload_id)
    with pytest.raises(NoSuchUpload):
        await provider.list_parts("default", "mp/other", other.upload_id)


async def test_metadata_cache_records_md5(fake: FakeDrime, tmp_path) -> None:
    """The MD5 computed while uploading is recorded and offered as md5chksum."""
    cache = MetadataCache(tmp_path / "metadata.db").open()
    p = make_provider(fake, cache=cache)
    await p.open()
    data = b"hello drime"
    put = await p.put_object("default", "h/x", stream(data), meta())
    row = cache.get(0, "default", "h/x", store="drime:backups/s3")
    assert row is not None and row.md5 == hashlib.md5(data).hexdigest()
    assert row.etag == put.etag
    head = await p.head_object("default", "h/x")
    assert head.etag == put.etag  # the ETag stays the UUID
    assert head.metadata.user["md5chksum"] == base64.b64encode(hashlib.md5(data).digest()).decode()
    await p.delete_object("default", "h/x")
    assert cache.get(0, "default", "h/x", store="drime:backups/s3") is None
    await p.close()
    cache.close()


async def test_broken_cache_is_not_fatal(fake: FakeDrime, tmp_path) -> None:
    """A cache that cannot be opened is ignored; requests still succeed."""
    (tmp_path / "db").mkdir()
    p = make_provider(fake, cache=MetadataCache(tmp_path / "db"))
    await p.open()
    await p.put_object("default", "k", stream(b"v"), meta())
    assert (await p.head_object("default", "k")).size == 1
    await p.close()


async def test_advanced_mode_buckets(fake: FakeDrime) -> None:
    """Buckets are folders below the root: created, listed, refused when not empty."""
    p = make_provider(fake, default_mode=False)
    await p.open()
    await p.create_bucket("photos")
    with pytest.raises(BucketAlreadyOwnedByYou):
        await p.create_bucket("photos")
    await p.create_bucket("docs")
    assert [b.name for b in await p.list_buckets()] == ["docs", "photos"]
    await p.put_object("photos", "p.jpg", stream(b"jpg"), meta())
    with pytest.raises(NoSuchBucket):
        await p.put_object("nope", "k", stream(b"x"), meta())
    with pytest.raises(BucketNotEmpty):
        await p.delete_bucket("photos")
    await p.delete_bucket("docs")
    assert [b.name for b in await p.list_buckets()] == ["photos"]
    assert files_named(fake, "backups/s3/photos/p.jpg")
    await p.close()


async def test_folder_names_differing_in_case_conflict(provider: DrimeStorageProvider) -> None:
    """Drime treats 'Logs' and 'logs' as one folder name; two prefixes never share it."""
    await provider.put_object("default", "Logs/a", stream(b"1"), meta())
    provider.tree.invalidate(provider.root_id)
    with pytest.raises(ObjectNameConflict):
        await provider.put_object("default", "logs/b", stream(b"2"), meta())
    assert await read_all(await provider.get_object("default", "Logs/a")) == b"1"


async def test_default_mode_has_only_default_bucket(provider: DrimeStorageProvider) -> None:
    """In default mode the root folder is the 'default' bucket and nothing else."""
    assert [b.name for b in await provider.list_buckets()] == ["default"]
    with pytest.raises(NoSuchBucket):
        await provider.head_object("other", "k")
    with pytest.raises(BucketNotEmpty):
        await provider.delete_bucket("default")


async def test_memory_stays_flat_for_large_objects(provider: DrimeStorageProvider) -> None:
    """PUT and GET of a 64 MiB object (multipart path) never hold it in memory."""
    import tracemalloc

    size, chunk = 64 * MiB, MiB
    provider.uploader.simple_limit = 8 * MiB
    provider.uploader.part_size = 16 * MiB

    async def generated() -> AsyncIterator[bytes]:
        for i in range(size // chunk):
            yield bytes([i % 256]) * chunk

    tracemalloc.start()
    try:
        await provider.put_object("default", "huge.bin", generated(), meta())
        reader = await provider.get_object("default", "huge.bin")
        total = 0
        async for data in reader:
            total += len(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert total == size
    assert peak < 24 * MiB, f"peak {peak / MiB:.1f} MiB"
