"""The Drime backend when Drime misbehaves: bad keys, throttling, errors, slowness and
dropped connections (injected by the fake), plus the API facts the client relies on."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from fake_drime import FakeDrime, entry_hash
from fake_drime.testing import (
    FAST_RETRY,
    files_named,
    folders_named,
    make_provider,
    meta,
    random_bytes,
    read_all,
    stream,
)

from pys3local.errors import InternalError, SlowDown
from pys3local.providers.drime import DrimeClient, DrimeStorageProvider
from pys3local.providers.drime.models import entry_hash as client_entry_hash

MiB = 1024 * 1024


@pytest.fixture
def fake() -> Iterator[FakeDrime]:
    with FakeDrime(page_size_cap=5) as server:
        yield server


async def opened(fake: FakeDrime, **options: object) -> DrimeStorageProvider:
    provider = make_provider(fake, **options)  # type: ignore[arg-type]
    await provider.open()
    return provider


def test_hash_is_base64_of_id_without_padding() -> None:
    """Drime's entry hash: base64("<id>|") without '=' (the reference's example)."""
    assert client_entry_hash(480424796) == entry_hash(480424796) == "NDgwNDI0Nzk2fA"


async def test_bad_api_key_fails_clearly(fake: FakeDrime) -> None:
    """A wrong key is a 401 from Drime and a clear error at start, not a hang."""
    provider = DrimeStorageProvider(DrimeClient("wrong", api_url=fake.api_url, retry=FAST_RETRY))
    with pytest.raises(InternalError, match="API key"):
        await provider.open()
    await provider.close()


async def test_listing_always_names_the_parent(fake: FakeDrime) -> None:
    """Every listing asks for one folder (parentIds, 0 for the root): without it Drime
    answers with the whole drive."""
    fake.drive.create_folder("elsewhere", None, 0)
    provider = await opened(fake, root_folder=None)
    await provider.put_object("default", "deep/down/file", stream(b"1"), meta())
    listing = await provider.list_objects("default", delimiter="/")
    assert listing.common_prefixes == ["deep/"]
    queries = [r.query for r in fake.requests if r.path.endswith("/drive/file-entries")]
    assert queries and all("parentIds=" in q for q in queries)
    assert any("parentIds=0" in q for q in queries)
    await provider.close()


async def test_folder_listing_reads_every_page(fake: FakeDrime) -> None:
    """A folder with more entries than one Drime page is listed whole."""
    provider = await opened(fake)
    for i in range(17):
        await provider.put_object("default", f"many/{i:02d}", stream(b"x"), meta())
    fresh = await opened(fake)
    assert len((await fresh.list_objects("default", prefix="many/")).objects) == 17
    pages = [r.query for r in fake.requests if r.path.endswith("/drive/file-entries")]
    assert any("page=4" in q for q in pages)
    await provider.close()
    await fresh.close()


async def test_429_honours_retry_after(fake: FakeDrime) -> None:
    """A 429 is retried after the Retry-After it names."""
    provider = await opened(fake)
    fake.fault("status", status=429, retry_after="1", path="/drive/file-entries")
    provider.tree.invalidate(provider.root_id)
    started = time.monotonic()
    await provider.list_objects("default")
    assert time.monotonic() - started >= 0.9
    await provider.close()


async def test_throttling_that_never_ends_is_SlowDown(fake: FakeDrime) -> None:
    """When every retry is throttled the client gets 503 SlowDown, promptly."""
    provider = await opened(fake)
    provider.tree.invalidate(provider.root_id)
    fake.fault("status", status=429, retry_after="0", path="/drive/file-entries", times=99)
    with pytest.raises(SlowDown):
        await provider.list_objects("default")
    await provider.close()


async def test_5xx_is_retried_then_InternalError(fake: FakeDrime) -> None:
    """A GET that fails with 500 twice succeeds; one that keeps failing is an
    InternalError naming Drime."""
    provider = await opened(fake)
    await provider.put_object("default", "k", stream(b"v"), meta())
    provider.tree.invalidate(provider.root_id)
    fake.fault("status", status=500, path="/drive/file-entries", times=2)
    assert (await provider.head_object("default", "k")).size == 1
    provider.tree.invalidate(provider.root_id)
    fake.fault("status", status=502, path="/drive/file-entries", times=99)
    with pytest.raises(InternalError, match="Drime"):
        await provider.head_object("default", "k")
    await provider.close()


async def test_slow_drime_times_out_instead_of_hanging(fake: FakeDrime) -> None:
    """A Drime that stops answering costs a bounded time, then an error."""
    client = DrimeClient(
        fake.api_key, api_url=fake.api_url, retry=FAST_RETRY, timeout=httpx.Timeout(0.3)
    )
    provider = DrimeStorageProvider(client, root_folder="r")
    await provider.open()
    provider.tree.invalidate(provider.root_id)
    fake.fault("slow", delay=2.0, path="/drive/file-entries", times=99)
    started = time.monotonic()
    with pytest.raises(InternalError):
        await provider.list_objects("default")
    assert time.monotonic() - started < 4
    fake.clear_faults()
    await provider.close()


@pytest.mark.parametrize("kind", ["drop", "drop_after", "status"])
async def test_simple_upload_failure_never_leaves_two_entries(fake: FakeDrime, kind: str) -> None:
    """An upload whose answer is lost or failed (before or after Drime stored it) is
    redone, and the folder is listed afresh so no second entry survives."""
    provider = await opened(fake)
    await provider.put_object("default", "u/v", stream(b"old"), meta())
    fake.fault(kind, path="/api/v1/uploads", status=500)
    await provider.put_object("default", "u/v", stream(b"new"), meta())
    assert await read_all(await provider.get_object("default", "u/v")) == b"new"
    assert len(files_named(fake, "backups/s3/u/v")) == 1
    await provider.close()


async def test_lost_entry_creation_is_reconciled(fake: FakeDrime) -> None:
    """If the answer to /s3/entries is lost after Drime made the entry, the entry is
    found by its disk name instead of being made twice."""
    provider = await opened(fake)
    provider.uploader.simple_limit = 0
    fake.fault("drop_after", path="/api/v1/s3/entries")
    data = random_bytes(6 * MiB)
    await provider.put_object("default", "mp/file", stream(data, MiB), meta())
    assert len(files_named(fake, "backups/s3/mp/file")) == 1
    assert await read_all(await provider.get_object("default", "mp/file")) == data
    await provider.close()


async def test_lost_folder_creation_answer(fake: FakeDrime) -> None:
    """A folder create whose answer is lost is retried, meets 422 and uses the folder."""
    provider = await opened(fake)
    fake.fault("drop_after", path="/api/v1/folders")
    await provider.put_object("default", "newdir/f", stream(b"1"), meta())
    assert len(folders_named(fake, "backups/s3/newdir")) == 1
    await provider.close()


async def test_part_upload_retried_on_store_errors(fake: FakeDrime) -> None:
    """Part PUTs to the store are retried on 5xx and dropped connections."""
    provider = await opened(fake)
    provider.uploader.simple_limit = 0
    fake.fault("status", status=503, path="/storage/parts/", times=1)
    fake.fault("drop", path="/storage/parts/", times=1)
    data = random_bytes(5 * MiB + 3)
    await provider.put_object("default", "p", stream(data, MiB), meta())
    assert await read_all(await provider.get_object("default", "p")) == data
    await provider.close()


async def test_download_resumes_after_broken_connection(fake: FakeDrime) -> None:
    """A download that breaks off mid-body continues from the first missing byte."""
    provider = await opened(fake)
    data = random_bytes(2 * MiB)
    await provider.put_object("default", "d", stream(data, MiB), meta())
    fake.fault("truncate", path="/storage/files/", after_bytes=300_000, times=2)
    assert await read_all(await provider.get_object("default", "d")) == data
    ranges = [r for r in fake.requests if r.path.startswith("/storage/files/")]
    assert len(ranges) == 3
    await provider.close()


async def test_lost_duplicate_answer_is_reconciled(fake: FakeDrime) -> None:
    """CopyObject whose duplicate answer is lost adopts the copy Drime made."""
    provider = await opened(fake)
    await provider.put_object("default", "s/a", stream(b"abc"), meta())
    fake.fault("drop_after", path="/api/v1/file-entries/duplicate")
    await provider.copy_object("default", "s/a", "default", "t/a")
    assert len(files_named(fake, "backups/s3/t/a")) == 1
    assert await read_all(await provider.get_object("default", "t/a")) == b"abc"
    await provider.close()
