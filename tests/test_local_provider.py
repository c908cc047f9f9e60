"""LocalStorageProvider on a real directory: layout, atomicity, recovery, containment."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pys3local.errors import (
    BadDigest,
    EntityTooSmall,
    InvalidPart,
    KeyTooLongError,
    NoSuchBucket,
    NoSuchKey,
    NoSuchUpload,
    ObjectNameConflict,
)
from pys3local.providers.base import CompletedPart, ObjectMetadata, RangeRequest, VerifiedBody
from pys3local.providers.local import LocalStorageProvider, files
from pys3local.providers.local.commit import recover
from pys3local.providers.local.layout import StoreLayout, decode_segment, encode_segment
from pys3local.providers.local.locks import StripedLocks


async def chunks(data: bytes, size: int = 7) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def failing_body(data: bytes) -> AsyncIterator[bytes]:
    yield data
    raise RuntimeError("client went away")


async def read_all(provider: LocalStorageProvider, bucket: str, key: str) -> bytes:
    reader = await provider.get_object(bucket, key)
    return b"".join([c async for c in reader])


def staging_files(root: Path) -> list[Path]:
    staging = root / ".pys3local" / "staging"
    return [p for p in staging.rglob("*") if p.is_file() and p.suffix != ".lock"]


async def test_PutObject_layout_matches_spec(provider: LocalStorageProvider) -> None:
    """Data lands at <root>/<bucket>/objects/<key>, metadata at .metadata/<key>.json, 0600/0700."""
    await provider.put_object("b", "dir/file.txt", chunks(b"hello"), ObjectMetadata())
    root = provider.base_path
    data = root / "b" / "objects" / "dir" / "file.txt"
    meta = root / "b" / ".metadata" / "dir" / "file.txt.json"
    assert data.read_bytes() == b"hello"
    assert json.loads(meta.read_bytes())["etag"] == hashlib.md5(b"hello").hexdigest()
    assert data.stat().st_mode & 0o777 == 0o600
    assert meta.stat().st_mode & 0o777 == 0o600
    assert (root / "b" / "objects" / "dir").stat().st_mode & 0o777 == 0o700
    assert staging_files(root) == []


@pytest.mark.parametrize(
    "segment", ["", ".", "..", "100%", "a\0b", "%2E", "plain", "ü✓", "%", "a.json"]
)
def test_segment_encoding_round_trips(segment: str) -> None:
    """Every key segment maps to one safe path component and back."""
    encoded = encode_segment(segment)
    assert encoded not in ("", ".", "..")
    assert "/" not in encoded and "\0" not in encoded
    assert decode_segment(encoded) == segment


@pytest.mark.parametrize(
    "key", ["../x", "a/../../x", "/etc/passwd", "//etc/x", "..", "a/./b", "x/..", "%2e%2e/x"]
)
def test_object_paths_stay_inside_the_bucket(tmp_path: Path, key: str) -> None:
    """No key, however hostile, maps outside <root>/<bucket>/objects."""
    layout = StoreLayout(tmp_path)
    paths = layout.object_paths("b", key)
    objects = (tmp_path / "b" / "objects").resolve()
    metadata = (tmp_path / "b" / ".metadata").resolve()
    assert objects in paths.data.resolve().parents
    assert metadata in paths.metadata.resolve().parents


async def test_PutObject_hostile_keys_round_trip(provider: LocalStorageProvider) -> None:
    """Traversal-looking keys are ordinary keys: stored inside the bucket, listed as sent."""
    keys = ["../escape", "a/../../escape", "/abs", "dir/", "x//y", ".", "100%"]
    for key in keys:
        await provider.put_object("b", key, chunks(key.encode()), ObjectMetadata())
    for key in keys:
        assert await read_all(provider, "b", key) == key.encode()
    listing = await provider.list_objects("b")
    assert [o.key for o in listing.objects] == sorted(keys)
    assert not (provider.base_path.parent / "escape").exists()
    assert not Path("/abs").exists()


async def test_PutObject_file_and_prefix_conflict_is_a_clear_error(
    provider: LocalStorageProvider,
) -> None:
    """'a' and 'a/b' cannot both be files on disk: the second is ObjectNameConflict."""
    await provider.put_object("b", "a", chunks(b"1"), ObjectMetadata())
    with pytest.raises(ObjectNameConflict):
        await provider.put_object("b", "a/b", chunks(b"2"), ObjectMetadata())
    await provider.put_object("b", "x/y", chunks(b"3"), ObjectMetadata())
    with pytest.raises(ObjectNameConflict):
        await provider.put_object("b", "x", chunks(b"4"), ObjectMetadata())
    assert await read_all(provider, "b", "a") == b"1"
    assert staging_files(provider.base_path) == []


async def test_PutObject_long_segment_is_KeyTooLong(provider: LocalStorageProvider) -> None:
    with pytest.raises(KeyTooLongError):
        await provider.put_object("b", "x" * 300, chunks(b"1"), ObjectMetadata())


async def test_PutObject_failed_body_keeps_old_version(provider: LocalStorageProvider) -> None:
    """A body that fails mid-stream stores nothing and leaves no temporary file."""
    await provider.put_object("b", "k", chunks(b"old"), ObjectMetadata())
    with pytest.raises(RuntimeError):
        await provider.put_object("b", "k", failing_body(b"new" * 1000), ObjectMetadata())
    assert await read_all(provider, "b", "k") == b"old"
    assert staging_files(provider.base_path) == []


async def test_PutObject_bad_content_md5_stores_nothing(provider: LocalStorageProvider) -> None:
    with pytest.raises(BadDigest):
        await provider.put_object(
            "b", "k", chunks(b"data"), ObjectMetadata(), content_md5=b"\0" * 16
        )
    with pytest.raises(NoSuchKey):
        await provider.head_object("b", "k")


class ChecksummedBody(VerifiedBody):
    """A body that carries checksums as the protocol layer's payload does: known only
    once it has been read to its end."""

    def __init__(self, data: bytes, checksums: dict[str, str]) -> None:
        self._data = data
        self._checksums = checksums
        self.finished = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        async for chunk in chunks(self._data, 64 * 1024):
            yield chunk
        self.finished = True

    @property
    def checksums(self) -> dict[str, str]:
        assert self.finished, "checksums read before the body was consumed"
        return self._checksums


@pytest.mark.parametrize("size", [10, 100 * 1024, 3 * 1024 * 1024])
async def test_PutObject_stores_the_checksums_its_body_returns(
    provider: LocalStorageProvider, size: int
) -> None:
    """The provider reads a verified body's checksums after consuming it, on every
    write path, and stores them without changing the caller's metadata."""
    metadata = ObjectMetadata(user={"a": "b"})
    body = ChecksummedBody(b"x" * size, {"CRC32": "AAAAAA=="})
    info = await provider.put_object("b", f"k{size}", body, metadata)
    assert info.metadata.checksums == {"CRC32": "AAAAAA=="}
    assert metadata.checksums == {}
    head = await provider.head_object("b", f"k{size}")
    assert head.metadata.checksums == {"CRC32": "AAAAAA=="}
    assert head.metadata.user == {"a": "b"}


async def test_GetObject_reader_keeps_its_version(provider: LocalStorageProvider) -> None:
    """An open reader streams the version it opened even if the key is overwritten."""
    await provider.put_object("b", "k", chunks(b"A" * 100_000), ObjectMetadata())
    reader = await provider.get_object("b", "k")
    await provider.put_object("b", "k", chunks(b"B" * 50), ObjectMetadata())
    assert b"".join([c async for c in reader]) == b"A" * 100_000
    assert await read_all(provider, "b", "k") == b"B" * 50


async def test_GetObject_range(provider: LocalStorageProvider) -> None:
    await provider.put_object("b", "k", chunks(b"0123456789"), ObjectMetadata())
    reader = await provider.get_object("b", "k", RangeRequest(2, 4))
    assert b"".join([c async for c in reader]) == b"234"
    assert reader.byte_range is not None and reader.byte_range.length == 3
    reader = await provider.get_object("b", "k", RangeRequest(None, 3))
    assert b"".join([c async for c in reader]) == b"789"


async def test_concurrent_PutObject_same_key_leaves_one_whole_version(
    provider: LocalStorageProvider,
) -> None:
    """Eight writers race on one key: the survivor is one complete body with its own ETag."""
    bodies = [bytes([65 + i]) * (200_000 + i) for i in range(8)]
    infos = await asyncio.gather(
        *(provider.put_object("b", "race", chunks(b, 65536), ObjectMetadata()) for b in bodies)
    )
    data = await read_all(provider, "b", "race")
    assert data in bodies
    head = await provider.head_object("b", "race")
    assert head.etag == hashlib.md5(data).hexdigest()
    assert head.etag in {i.etag for i in infos}


async def test_files_dropped_in_by_hand_are_listed(provider: LocalStorageProvider) -> None:
    """A file copied into objects/ without metadata is still an object (non-MD5 ETag)."""
    path = provider.base_path / "b" / "objects" / "manual.bin"
    path.write_bytes(b"by hand")
    info = await provider.head_object("b", "manual.bin")
    assert info.size == 7 and info.etag.endswith("-1")
    assert await read_all(provider, "b", "manual.bin") == b"by hand"


async def test_recover_rolls_forward_an_interrupted_commit(tmp_path: Path) -> None:
    """A crash between the data and metadata renames is finished at the next start."""
    store = LocalStorageProvider(tmp_path)
    await store.open()
    await store.create_bucket("b")
    await store.put_object("b", "k", chunks(b"old"), ObjectMetadata(content_type="text/old"))
    layout = store.layout
    # Simulate a writer that died after renaming its data but before its metadata.
    dead = layout.staging / "999999-dead"
    dead.mkdir()
    (layout.staging / "999999-dead.lock").touch()
    new_meta = {
        "bucket": "b",
        "key": "k",
        "size": 3,
        "etag": hashlib.md5(b"new").hexdigest(),
        "last_modified": "2026-01-01T00:00:00+00:00",
        "metadata": {"content_type": "text/new"},
    }
    (dead / "x.meta").write_text(json.dumps(new_meta))
    (layout.objects_dir("b") / "k").write_bytes(b"new")
    # And one that died before its commit started: both files stay in staging.
    (dead / "y.data").write_bytes(b"partial")
    (dead / "y.meta").write_text(json.dumps({**new_meta, "key": "other"}))
    await store.close()

    recover(layout)
    fresh = LocalStorageProvider(tmp_path)
    info = await fresh.head_object("b", "k")
    assert info.metadata.content_type == "text/new"
    assert info.etag == new_meta["etag"]
    with pytest.raises(NoSuchKey):
        await fresh.head_object("b", "other")
    assert not dead.exists()
    await fresh.close()


async def test_DeleteObject_prunes_empty_directories(provider: LocalStorageProvider) -> None:
    await provider.put_object("b", "deep/er/key", chunks(b"x"), ObjectMetadata())
    await provider.delete_object("b", "deep/er/key")
    await provider.delete_object("b", "never/existed")
    assert list((provider.base_path / "b" / "objects").iterdir()) == []
    assert list((provider.base_path / "b" / ".metadata").iterdir()) == []


async def test_DeleteBucket_missing_bucket(provider: LocalStorageProvider) -> None:
    with pytest.raises(NoSuchBucket):
        await provider.delete_bucket("nope")


async def test_multipart_rejects_small_parts_and_unknown_etags(
    provider: LocalStorageProvider,
) -> None:
    upload = await provider.create_multipart_upload("b", "mp", ObjectMetadata())
    small = await provider.upload_part("b", "mp", upload.upload_id, 1, chunks(b"a" * 10))
    last = await provider.upload_part("b", "mp", upload.upload_id, 2, chunks(b"b" * 10))
    with pytest.raises(EntityTooSmall):
        await provider.complete_multipart_upload(
            "b", "mp", upload.upload_id, [CompletedPart(1, small.etag), CompletedPart(2, last.etag)]
        )
    with pytest.raises(InvalidPart):
        await provider.complete_multipart_upload(
            "b", "mp", upload.upload_id, [CompletedPart(1, "0" * 32)]
        )
    with pytest.raises(InvalidPart):
        await provider.complete_multipart_upload(
            "b", "mp", upload.upload_id, [CompletedPart(1, "../../etc/passwd")]
        )
    # A single small part is fine: the last part may be any size.
    info = await provider.complete_multipart_upload(
        "b", "mp", upload.upload_id, [CompletedPart(2, last.etag)]
    )
    assert info.etag.endswith("-1")
    assert await read_all(provider, "b", "mp") == b"b" * 10
    with pytest.raises(NoSuchUpload):
        await provider.list_parts("b", "mp", upload.upload_id)


async def test_upload_ids_cannot_name_paths(provider: LocalStorageProvider) -> None:
    for upload_id in ["../../b", "", "x" * 32, "/etc"]:
        with pytest.raises(NoSuchUpload):
            await provider.list_parts("b", "k", upload_id)


async def test_readonly_refuses_writes(tmp_path: Path) -> None:
    from pys3local.errors import AccessDenied

    writable = LocalStorageProvider(tmp_path)
    await writable.create_bucket("b")
    await writable.put_object("b", "k", chunks(b"v"), ObjectMetadata())
    await writable.close()
    readonly = LocalStorageProvider(tmp_path, readonly=True)
    with pytest.raises(AccessDenied):
        await readonly.put_object("b", "k2", chunks(b"v"), ObjectMetadata())
    with pytest.raises(AccessDenied):
        await readonly.delete_object("b", "k")
    assert await read_all(readonly, "b", "k") == b"v"
    await readonly.close()


async def test_listing_pages_in_s3_order(provider: LocalStorageProvider) -> None:
    """Keys come back in UTF-8 byte order across directories, paged without gaps."""
    keys = ["a", "a-b", "a0", "b/c", "b/c/", "b-", "é", "z/z/z", "A", "b0/x", "~"]
    keys.remove("b/c/")  # 'b/c' is a file; 'b/c/' would need 'b/c' to be a directory
    for key in keys:
        await provider.put_object("b", key, chunks(b"."), ObjectMetadata())
    expected = sorted(keys, key=lambda k: k.encode())
    seen: list[str] = []
    marker = ""
    while True:
        page = await provider.list_objects("b", start_after=marker, max_keys=3)
        seen += [o.key for o in page.objects]
        if not page.is_truncated:
            break
        assert page.next_marker is not None
        marker = page.next_marker
    assert seen == expected


async def test_listing_with_delimiter_and_prefix(provider: LocalStorageProvider) -> None:
    for key in ["p/a", "p/b/1", "p/b/2", "p/c/1", "p/d", "q/1", "pz"]:
        await provider.put_object("b", key, chunks(b"."), ObjectMetadata())
    page = await provider.list_objects("b", prefix="p/", delimiter="/")
    assert [o.key for o in page.objects] == ["p/a", "p/d"]
    assert page.common_prefixes == ["p/b/", "p/c/"]
    page = await provider.list_objects("b", prefix="p/", delimiter="/", max_keys=2)
    assert ([o.key for o in page.objects], page.common_prefixes) == (["p/a"], ["p/b/"])
    rest = await provider.list_objects(
        "b", prefix="p/", delimiter="/", start_after=page.next_marker or ""
    )
    assert ([o.key for o in rest.objects], rest.common_prefixes) == (["p/d"], ["p/c/"])
    page = await provider.list_objects("b", prefix="p/b")
    assert [o.key for o in page.objects] == ["p/b/1", "p/b/2"]
    page = await provider.list_objects("b", delimiter="/")
    assert ([o.key for o in page.objects], page.common_prefixes) == (["pz"], ["p/", "q/"])
    page = await provider.list_objects("b", prefix="p/", delimiter="b")
    assert page.common_prefixes == ["p/b"]
    assert [o.key for o in page.objects] == ["p/a", "p/c/1", "p/d"]


async def test_empty_directories_are_not_common_prefixes(provider: LocalStorageProvider) -> None:
    (provider.base_path / "b" / "objects" / "ghost" / "deeper").mkdir(parents=True)
    await provider.put_object("b", "real/x", chunks(b"."), ObjectMetadata())
    page = await provider.list_objects("b", delimiter="/")
    assert page.common_prefixes == ["real/"]


async def test_listing_page_cost_does_not_grow_with_bucket(
    provider: LocalStorageProvider,
) -> None:
    """Paging from the middle reads only what it returns (counted in sidecar reads)."""
    for i in range(3000):
        key = f"d{i // 1000}/k{i:05d}"
        (provider.base_path / "b" / "objects" / f"d{i // 1000}").mkdir(exist_ok=True)
        (provider.base_path / "b" / "objects" / key).write_bytes(b"")
    from pys3local.providers.local import listing

    calls = 0
    original = listing.read_sidecar

    def counting(path: Path) -> object:
        nonlocal calls
        calls += 1
        return original(path)

    listing.read_sidecar = counting  # type: ignore[assignment]
    try:
        page = await provider.list_objects("b", start_after="d2/k02500", max_keys=10)
    finally:
        listing.read_sidecar = original  # type: ignore[assignment]
    assert page.objects[0].key == "d2/k02501"
    assert calls == 10
    assert os.path.isdir(provider.base_path / "b" / "objects" / "d0")


async def test_metadata_cache_indexes_writes_and_never_overrides_the_files(tmp_path: Path) -> None:
    """Commits are recorded in the cache; a stale or missing row falls back to the files."""
    from pys3local.cache import MetadataCache, local_store

    cache = MetadataCache(tmp_path / "cache.db").open()
    store = LocalStorageProvider(tmp_path / "data", cache=cache)
    await store.create_bucket("b")
    info = await store.put_object("b", "k", chunks(b"indexed"), ObjectMetadata())
    store.flush_index()  # rows are written behind the commits
    row = cache.get(0, "b", "k", store=local_store(tmp_path / "data"))
    assert row is not None and row.md5 == info.etag == hashlib.md5(b"indexed").hexdigest()
    # A row that lies is ignored: the file identity no longer matches.
    (tmp_path / "data" / "b" / "objects" / "k").write_bytes(b"changed by hand")
    listed = (await store.list_objects("b")).objects[0]
    assert listed.size == len(b"changed by hand") and listed.etag != info.etag
    await store.delete_object("b", "k")
    store.flush_index()
    assert cache.get(0, "b", "k", store=local_store(tmp_path / "data")) is None
    await store.close()
    cache.close()


async def test_index_rows_are_written_behind_in_order_and_survive_close(tmp_path: Path) -> None:
    """Concurrent commits all reach the index; the last change of a key wins; close()
    writes what is still queued."""
    from pys3local.cache import MetadataCache, local_store

    cache = MetadataCache(tmp_path / "cache.db").open()
    store = LocalStorageProvider(tmp_path / "data", cache=cache)
    await store.create_bucket("b")
    keys = [f"k{i:03d}" for i in range(64)]
    await asyncio.gather(
        *(store.put_object("b", k, chunks(k.encode()), ObjectMetadata()) for k in keys)
    )
    await store.delete_object("b", "k000")
    await store.put_object("b", "k001", chunks(b"second"), ObjectMetadata())
    await store.close()  # no flush: close must write the queue
    rows = cache.get_many(0, "b", keys, store=local_store(tmp_path / "data"))
    assert sorted(rows) == keys[1:]
    assert rows["k001"].md5 == hashlib.md5(b"second").hexdigest()
    assert rows["k002"].md5 == hashlib.md5(b"k002").hexdigest()
    cache.close()


async def test_cache_migrate_gives_hand_placed_files_an_md5_etag(tmp_path: Path) -> None:
    from pys3local.cache import MetadataCache, local_store
    from pys3local.migrate import migrate

    cache = MetadataCache(tmp_path / "cache.db").open()
    store = LocalStorageProvider(tmp_path / "data", cache=cache)
    await store.create_bucket("b")
    (tmp_path / "data" / "b" / "objects" / "dropped.bin").write_bytes(b"by hand")
    assert (await store.head_object("b", "dropped.bin")).etag.endswith("-1")
    await migrate(store, cache, 0, store=local_store(tmp_path / "data"))
    md5 = hashlib.md5(b"by hand").hexdigest()
    assert (await store.head_object("b", "dropped.bin")).etag == md5
    assert (await store.list_objects("b")).objects[0].etag == md5
    again = await migrate(store, cache, 0, store=local_store(tmp_path / "data"))
    assert again.hashed == 0  # nothing left to do, and the MD5 stays
    assert (await store.head_object("b", "dropped.bin")).etag == md5
    await store.close()
    cache.close()


async def test_readonly_store_never_served_before_can_be_read(tmp_path: Path) -> None:
    """A read-only provider on a directory no writer ever opened (no lock files)."""
    (tmp_path / "default" / "objects").mkdir(parents=True)
    (tmp_path / "default" / "objects" / "a.txt").write_bytes(b"hello")
    readonly = LocalStorageProvider(tmp_path, readonly=True)
    assert await read_all(readonly, "default", "a.txt") == b"hello"
    assert (await readonly.head_object("default", "a.txt")).size == 5
    await readonly.close()


def deleted_files_held_open(root: Path) -> list[str]:
    """Files under ``root`` that this process still holds open although unlinked."""
    held = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith(str(root)) and target.endswith(" (deleted)"):
                held.append(target)
    return held


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
async def test_replaced_and_deleted_large_objects_are_freed(provider: LocalStorageProvider) -> None:
    """A replaced or deleted version of at least RELEASE_IN_BACKGROUND bytes is freed
    by a background thread (so the request does not wait for its blocks); readers
    never see it, and once the releases are done nothing of it is left open."""
    big = b"a" * files.RELEASE_IN_BACKGROUND
    await provider.put_object("b", "k", chunks(big, 1 << 20), ObjectMetadata())
    await provider.put_object("b", "k", chunks(b"new", 1 << 20), ObjectMetadata())
    assert await read_all(provider, "b", "k") == b"new"
    await provider.put_object("b", "gone", chunks(big, 1 << 20), ObjectMetadata())
    await provider.delete_object("b", "gone")
    with pytest.raises(NoSuchKey):
        await provider.get_object("b", "gone")
    files.wait_for_releases()
    assert deleted_files_held_open(provider.base_path) == []


def test_only_large_regular_files_are_held_for_release(tmp_path: Path) -> None:
    large, small = tmp_path / "large", tmp_path / "small"
    large.write_bytes(b"x" * files.RELEASE_IN_BACKGROUND)
    small.write_bytes(b"x" * (files.RELEASE_IN_BACKGROUND - 1))
    (tmp_path / "link").symlink_to(large)
    for not_held in (small, tmp_path / "link", tmp_path, tmp_path / "missing"):
        assert files.hold_for_release(not_held) is None
    fd = files.hold_for_release(large)
    assert fd is not None
    large.unlink()
    files.release_later(fd)
    files.wait_for_releases()
    with pytest.raises(OSError):
        os.fstat(fd)


@pytest.mark.parametrize("size", [10, 100 * 1024, 3 * 1024 * 1024])
async def test_PutObject_waits_for_a_reader_holding_the_key(
    provider: LocalStorageProvider, size: int
) -> None:
    """On every write path (inline small, one hop, streamed), a PutObject whose key is
    held by a reader waits for it, then commits: the reader never sees the new version
    half made, and the write does not fail."""
    await provider.put_object("b", "held", chunks(b"old"), ObjectMetadata())
    locks = StripedLocks(StoreLayout(provider.base_path))
    new = os.urandom(size)
    with locks.hold("b", "held", exclusive=False):
        put = asyncio.ensure_future(
            provider.put_object("b", "held", chunks(new, 64 * 1024), ObjectMetadata())
        )
        await asyncio.sleep(0.3)
        assert not put.done()
        assert (provider.base_path / "b" / "objects" / "held").read_bytes() == b"old"
    info = await asyncio.wait_for(put, 10)
    assert info.size == size
    assert await read_all(provider, "b", "held") == new
    assert staging_files(provider.base_path) == []


def test_read_sidecar_reads_any_size_and_refuses_what_is_not_one(tmp_path: Path) -> None:
    """A sidecar larger than one read comes back whole; a missing file, a directory, a
    torn or non-UTF-8 file or JSON that is not an object read as no sidecar."""
    from pys3local.providers.local.sidecar import read_sidecar

    document = {"etag": "e", "metadata": {f"k{i}": "v" * 100 for i in range(400)}}
    big = tmp_path / "big.json"
    big.write_text(json.dumps(document))
    assert big.stat().st_size > 32 * 1024
    assert read_sidecar(big) == document
    assert read_sidecar(str(big)) == document
    (tmp_path / "dir.json").mkdir()
    (tmp_path / "torn.json").write_bytes(json.dumps(document).encode()[:1000])
    (tmp_path / "latin.json").write_bytes(b'{"etag": "\xe9"}')
    (tmp_path / "list.json").write_text("[1, 2]")
    for name in ("missing.json", "dir.json", "torn.json", "latin.json", "list.json"):
        assert read_sidecar(tmp_path / name) is None, name
