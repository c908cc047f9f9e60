"""MD5 migration and index rebuild against the real local backend and a real cache file."""

from __future__ import annotations

import hashlib
import itertools
import threading
from pathlib import Path

import pytest

from pys3local import migrate as engine
from pys3local.cache import MetadataCache, drime_store, local_store
from pys3local.errors import NoSuchBucket
from pys3local.migrate import migrate, plan_migration, rebuild_index, run_migration
from pys3local.providers.base import ObjectMetadata, ObjectReader
from pys3local.providers.local import LocalStorageProvider

MiB = 1024 * 1024
OBJECTS = {
    ("default", "empty"): b"",
    ("default", "dir/small.txt"): b"hello world\n",
    ("default", "dir/sub/big.bin"): bytes(range(256)) * (40 * 1024 + 7),  # ~10 MiB: 3 chunks
    ("default", "ü n i c o d e/%_.txt"): b"x" * 5000,
    ("photos", "a.jpg"): b"\xff\xd8" * 40_000,
}


class InstrumentedProvider(LocalStorageProvider):
    """The real local backend, recording every read and failing the keys in ``fail``."""

    def __init__(self, base_path: Path) -> None:
        super().__init__(base_path, durable=False)
        self.reads: list[str] = []
        self.fail: set[str] = set()

    async def get_object(self, bucket: str, key: str, byte_range=None) -> ObjectReader:
        self.reads.append(key)
        if key in self.fail:
            raise OSError("disk on fire")
        return await super().get_object(bucket, key, byte_range)


async def put(provider: LocalStorageProvider, bucket: str, key: str, data: bytes) -> None:
    async def body():
        yield data

    await provider.put_object(bucket, key, body(), ObjectMetadata())


@pytest.fixture
async def provider(tmp_path: Path):
    backend = InstrumentedProvider(tmp_path / "data")
    await backend.open()
    for bucket in ("default", "photos"):
        await backend.create_bucket(bucket)
    for (bucket, key), data in OBJECTS.items():
        await put(backend, bucket, key, data)
    yield backend
    await backend.close()


@pytest.fixture
def db(tmp_path: Path):
    with MetadataCache(tmp_path / "metadata.db") as cache:
        yield cache


def store_of(provider: LocalStorageProvider) -> str:
    return local_store(provider.base_path)


async def test_migrate_records_md5_of_every_object(provider, db) -> None:
    """Every object is read once and its MD5, size and ETag are recorded."""
    result = await migrate(provider, db, 0, store=store_of(provider))
    assert (result.listed, result.hashed, result.already_cached) == (5, 5, 0)
    assert result.hashed_bytes == sum(len(d) for d in OBJECTS.values())
    assert sorted(provider.reads) == sorted(key for _, key in OBJECTS)
    for (bucket, key), data in OBJECTS.items():
        cached = db.get(0, bucket, key, store=store_of(provider))
        info = await provider.head_object(bucket, key)
        assert cached.md5 == hashlib.md5(data).hexdigest()
        assert (cached.size, cached.etag, cached.last_modified) == (
            len(data),
            info.etag,
            info.last_modified,
        )


async def test_second_run_reads_nothing(provider, db) -> None:
    """Objects whose MD5 is cached for their current size and ETag are skipped."""
    await migrate(provider, db, 0, store=store_of(provider))
    provider.reads.clear()
    result = await migrate(provider, db, 0, store=store_of(provider))
    assert (result.hashed, result.already_cached, provider.reads) == (0, 5, [])


async def test_interrupted_migration_resumes(provider, db) -> None:
    """A cancelled run keeps what it finished; the next run does only the rest."""
    stop = threading.Event()

    def progress(done: int, total: int, done_bytes: int, total_bytes: int) -> None:
        if done == 2:
            stop.set()

    first = await migrate(provider, db, 0, store=store_of(provider), progress=progress, cancel=stop)
    assert first.cancelled and first.hashed == 2
    second = await migrate(provider, db, 0, store=store_of(provider))
    assert (second.already_cached, second.hashed) == (2, 3)
    assert sorted(provider.reads) == sorted(key for _, key in OBJECTS)  # each read once


async def test_cancel_between_chunks(provider, db) -> None:
    """Cancelling inside a multi-chunk object stops at once and records nothing for it."""
    stop = threading.Event()
    plan = await plan_migration(provider, db, 0, store=store_of(provider), bucket="default")
    plan.pending = [p for p in plan.pending if p.info.key == "dir/sub/big.bin"]
    seen: list[int] = []

    def progress(done: int, total: int, done_bytes: int, total_bytes: int) -> None:
        seen.append(done_bytes)
        if 0 < done_bytes < total_bytes:
            stop.set()

    result = await run_migration(provider, db, plan, progress=progress, cancel=stop)
    assert result.cancelled and result.hashed == 0
    assert 0 < max(seen) < plan.total_bytes
    assert db.get(0, "default", "dir/sub/big.bin", store=store_of(provider)) is None


async def test_progress_counts_files_and_bytes(provider, db) -> None:
    """Progress starts at zero, never goes back, and ends at the totals."""
    calls: list[tuple[int, int, int, int]] = []
    await migrate(provider, db, 0, store=store_of(provider), progress=lambda *a: calls.append(a))
    total = sum(len(d) for d in OBJECTS.values())
    assert calls[0] == (0, 5, 0, total)
    assert calls[-1] == (5, 5, total, total)
    assert all(a[0] <= b[0] and a[2] <= b[2] for a, b in itertools.pairwise(calls))


async def test_changed_object_is_hashed_again(provider, db) -> None:
    """An overwritten object no longer matches its cached entry and is hashed again."""
    await migrate(provider, db, 0, store=store_of(provider))
    await put(provider, "default", "dir/small.txt", b"changed")
    plan = await plan_migration(provider, db, 0, store=store_of(provider))
    assert [p.info.key for p in plan.pending] == ["dir/small.txt"]
    await run_migration(provider, db, plan)
    cached = db.get(0, "default", "dir/small.txt", store=store_of(provider))
    assert cached.md5 == hashlib.md5(b"changed").hexdigest()


async def test_plan_changes_nothing(provider, db) -> None:
    """Planning (what --dry-run shows) lists work without reading or recording anything."""
    plan = await plan_migration(provider, db, 0, store=store_of(provider))
    assert (plan.listed, len(plan.pending), plan.already_cached) == (5, 5, 0)
    assert plan.total_bytes == sum(len(d) for d in OBJECTS.values())
    assert provider.reads == [] and db.stats().overall.files == 0


async def test_failures_are_reported_and_the_run_goes_on(provider, db) -> None:
    """A failing object is named in the result; the others are still hashed."""
    provider.fail = {"dir/small.txt"}
    result = await migrate(provider, db, 0, store=store_of(provider))
    assert result.hashed == 4
    assert [(f.key, f.reason) for f in result.failures] == [
        ("dir/small.txt", "OSError: disk on fire")
    ]


async def test_stops_after_failures_in_a_row(provider, db) -> None:
    """When everything fails (backend down), the run stops instead of trying every object."""
    provider.fail = {key for _, key in OBJECTS}
    plan = await plan_migration(provider, db, 0, store=store_of(provider))
    result = await run_migration(provider, db, plan, max_consecutive_failures=3)
    assert result.aborted and len(result.failures) == 3 and len(provider.reads) == 3


async def test_object_deleted_before_reading_is_counted(provider, db) -> None:
    """An object deleted between listing and reading is 'vanished', not a failure."""
    plan = await plan_migration(provider, db, 0, store=store_of(provider))
    await provider.delete_object("photos", "a.jpg")
    result = await run_migration(provider, db, plan)
    assert (result.vanished, result.failures, result.hashed) == (1, [], 4)


async def test_one_bucket_only(provider, db) -> None:
    """--bucket limits the work to that bucket; an unknown bucket is NoSuchBucket."""
    result = await migrate(provider, db, 0, store=store_of(provider), bucket="photos")
    assert (result.listed, provider.reads) == (1, ["a.jpg"])
    with pytest.raises(NoSuchBucket):
        await migrate(provider, db, 0, store=store_of(provider), bucket="nope")


async def test_listing_follows_pages(provider, db, monkeypatch) -> None:
    """Buckets larger than one listing page are read to the end."""
    monkeypatch.setattr(engine, "PAGE_SIZE", 2)
    plan = await plan_migration(provider, db, 0, store=store_of(provider))
    assert sorted(p.info.key for p in plan.pending) == sorted(key for _, key in OBJECTS)


async def test_rebuild_index_from_disk(provider, db) -> None:
    """rebuild indexes every object, keeps known MD5s and forgets deleted objects."""
    store = store_of(provider)
    result = await rebuild_index(provider, db, 0, store=store)
    assert (result.indexed, result.buckets, result.removed) == (5, 2, 0)
    assert db.get(0, "default", "dir/small.txt", store=store).md5 is None
    await migrate(provider, db, 0, store=store, bucket="photos")
    await provider.delete_object("default", "empty")
    await put(provider, "default", "new.txt", b"new")
    result = await rebuild_index(provider, db, 0, store=store)
    assert (result.indexed, result.removed) == (5, 1)
    assert db.get(0, "default", "empty", store=store) is None
    assert db.get(0, "default", "new.txt", store=store).size == 3
    assert db.get(0, "photos", "a.jpg", store=store).md5 is not None  # unchanged: kept


async def test_rebuild_keeps_data_directories_apart(provider, db, tmp_path: Path) -> None:
    """Rebuilding a second data directory leaves the first one's entries alone."""
    other = LocalStorageProvider(tmp_path / "other", durable=False)
    await other.open()
    await other.create_bucket("default")
    await put(other, "default", "only-here", b"1")
    await rebuild_index(provider, db, 0, store=store_of(provider))
    result = await rebuild_index(other, db, 0, store=store_of(other))
    await other.close()
    assert (result.indexed, result.removed) == (1, 0)
    assert db.stats().overall.files == 6
    assert db.get(0, "default", "only-here", store=store_of(provider)) is None


# Against the Drime backend (the fake Drime API) --------------------------------------------

DRIME_ROOT = "backups/s3"
DRIME_OBJECTS = {
    "legacy/one.txt": b"uploaded before MD5s were cached\n",
    "legacy/two.bin": bytes(range(256)) * 4000,
    "three": b"3",
    "x/y/z/four": b"",
    "five": b"5" * 70_000,
}


@pytest.fixture
def fake_drime():
    fake_drime = pytest.importorskip("fake_drime")
    with fake_drime.FakeDrime(page_size_cap=2) as fake:  # tiny pages: pagination is used
        yield fake


def drime_provider(fake, *, cache=None, readonly=True):
    from pys3local.providers.drime import create_drime_provider
    from pys3local.providers.drime.transport import RetryPolicy

    return create_drime_provider(
        fake.api_key,
        1465,
        root_folder=DRIME_ROOT,
        api_url=fake.api_url,
        cache=cache,
        default_bucket_is_root=True,
        readonly=readonly,
        retry=RetryPolicy(attempts=2, base_delay=0.01, jitter=0),
    )


def body_reads(fake) -> int:
    """Object bodies fetched from the (fake) object store; a 0-byte file needs none."""
    return sum(r.method == "GET" and r.path.startswith("/storage/files/") for r in fake.requests)


@pytest.fixture
async def legacy_drime(fake_drime):
    """Files uploaded by a server that kept no MD5s (no cache), as 0.2.x left them."""
    uploader = drime_provider(fake_drime, readonly=False)
    await uploader.open()
    for key, data in DRIME_OBJECTS.items():
        await put(uploader, "default", key, data)
    await uploader.close()
    return fake_drime


async def test_migrate_drime_files(legacy_drime, db) -> None:
    """Each Drime file is downloaded once; its MD5 lands under the workspace and root folder."""
    provider = drime_provider(legacy_drime)
    await provider.open()
    store = drime_store(DRIME_ROOT)
    try:
        before = body_reads(legacy_drime)
        result = await migrate(provider, db, 1465, store=store)
        assert (result.listed, result.hashed, result.failures) == (5, 5, [])
        assert body_reads(legacy_drime) - before == sum(1 for d in DRIME_OBJECTS.values() if d)
        for key, data in DRIME_OBJECTS.items():
            cached = db.get(1465, "default", key, store=store)
            info = await provider.head_object("default", key)
            assert cached.md5 == hashlib.md5(data).hexdigest()
            assert (cached.size, cached.etag) == (len(data), info.etag)
        before = body_reads(legacy_drime)
        again = await migrate(provider, db, 1465, store=store)
        assert (again.already_cached, again.hashed) == (5, 0)
        assert body_reads(legacy_drime) == before  # resumable: nothing is read twice
    finally:
        await provider.close()


async def test_migrate_drime_survives_a_flaky_api(legacy_drime, db) -> None:
    """Failing and broken-off downloads never record a wrong MD5; a rerun completes the job."""
    provider = drime_provider(legacy_drime)
    await provider.open()
    store = drime_store(DRIME_ROOT)
    try:
        # More 503s than the client retries: the first object read fails for good.
        legacy_drime.fault("status", status=503, path="^/storage/files/", times=2)
        legacy_drime.fault("truncate", path="^/storage/files/", after_bytes=10, skip=2)
        first = await migrate(provider, db, 1465, store=store)
        legacy_drime.clear_faults()
        second = await migrate(provider, db, 1465, store=store)
    finally:
        await provider.close()
    assert len(first.failures) >= 1 and first.hashed + len(first.failures) == 5
    assert first.hashed + second.hashed == 5
    assert second.already_cached == first.hashed and second.failures == []
    for key, data in DRIME_OBJECTS.items():
        assert db.get(1465, "default", key, store=store).md5 == hashlib.md5(data).hexdigest()


async def test_drime_serves_migrated_md5s(legacy_drime, db) -> None:
    """After migrate, the Drime backend hands out the migrated MD5 (x-amz-meta-md5chksum)."""
    provider = drime_provider(legacy_drime)
    await provider.open()
    await migrate(provider, db, 1465, store=drime_store(DRIME_ROOT))
    await provider.close()
    serving = drime_provider(legacy_drime, cache=db)
    await serving.open()
    try:
        info = await serving.head_object("default", "three")
    finally:
        await serving.close()
    assert info.metadata.user.get("md5chksum") == "7MvIfktc4v4oMI/Z8qe68w=="  # md5(b"3")
