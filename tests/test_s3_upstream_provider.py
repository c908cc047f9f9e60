"""The ``s3`` backend's provider against a real SeaweedFS cluster (tests/seaweed.py):
both bucket layouts, streaming, metadata, ranges, server-side copies, paged listings,
multipart on the upstream's own uploads, and upstream failures."""

from __future__ import annotations

import asyncio
import hashlib
import http.server
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import ClassVar

import pytest
from seaweed import SeaweedCluster, free_port

from pys3local.errors import (
    BucketAlreadyOwnedByYou,
    BucketNotEmpty,
    InternalError,
    InvalidRange,
    NoSuchBucket,
    NoSuchKey,
    NoSuchUpload,
    NotImplementedOperation,
    PreconditionFailed,
    ServiceUnavailable,
    SlowDown,
)
from pys3local.providers.base import CompletedPart, ObjectMetadata, RangeRequest
from pys3local.providers.conditions import CREATE_ONLY
from pys3local.providers.s3 import BucketMap, Connection, S3UpstreamProvider

MiB = 1024 * 1024


def connection(cluster: SeaweedCluster, **overrides: object) -> Connection:
    options: dict[str, object] = {
        "endpoint": cluster.endpoint,
        "region": cluster.region,
        "access_key_id": cluster.access_key,
        "secret_access_key": cluster.secret_key,
        **overrides,
    }
    return Connection(**options)  # type: ignore[arg-type]


@pytest.fixture(params=["buckets", "prefix"])
async def upstream(request: pytest.FixtureRequest, seaweed: SeaweedCluster):
    """An open provider on the cluster with a bucket ``b``, in either layout."""
    if request.param == "buckets":
        layout = BucketMap("buckets", name_prefix=f"t{uuid.uuid4().hex[:8]}-")
    else:
        layout = BucketMap("prefix", bucket=seaweed.new_bucket(), key_prefix="gw")
    provider = S3UpstreamProvider(connection(seaweed), layout)
    await provider.open()
    await provider.create_bucket("b")
    yield provider
    await provider.close()


async def stream(data: bytes, chunk: int = 256 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(data), chunk):
        yield data[start : start + chunk]


class Declared:
    """A body that declares its length, as the protocol layer's payload does."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.declared_length = len(data)

    def __aiter__(self) -> AsyncIterator[bytes]:
        return stream(self.data)


async def read_all(reader: object) -> bytes:
    try:
        return b"".join([chunk async for chunk in reader])  # type: ignore[attr-defined]
    finally:
        await reader.aclose()  # type: ignore[attr-defined]


async def test_CreateBucket_ListBuckets_DeleteBucket(upstream: S3UpstreamProvider) -> None:
    """Buckets are created, listed (only the gateway's own), refused twice, and only
    deleted when empty."""
    await upstream.create_bucket("c")
    assert [b.name for b in await upstream.list_buckets()] == ["b", "c"]
    with pytest.raises(BucketAlreadyOwnedByYou):
        await upstream.create_bucket("c")
    await upstream.put_object("c", "k", Declared(b"x"), ObjectMetadata())
    with pytest.raises(BucketNotEmpty):
        await upstream.delete_bucket("c")
    await upstream.delete_object("c", "k")
    await upstream.delete_bucket("c")
    assert [b.name for b in await upstream.list_buckets()] == ["b"]
    with pytest.raises(NoSuchBucket):
        await upstream.get_bucket("c")


async def test_PutObject_GetObject_metadata(upstream: S3UpstreamProvider) -> None:
    """A body streams in and out unchanged with its MD5 ETag, Content-Type, stored
    headers, user metadata (non-UTF-8 bytes too) and verified checksums."""
    data = bytes(range(256)) * 8192  # 2 MiB
    metadata = ObjectMetadata(
        content_type="text/x-test",
        content_encoding="gzip",
        content_disposition="attachment",
        cache_control="no-cache",
        user={"mtime": "1700000000.5", "raw": "caf\xe9"},
        checksums={"CRC32": "AAAAAA=="},
    )
    info = await upstream.put_object("b", "dir/a b.bin", Declared(data), metadata)
    assert info.etag == hashlib.md5(data).hexdigest()
    head = await upstream.head_object("b", "dir/a b.bin")
    assert (head.size, head.etag) == (len(data), info.etag)
    assert head.metadata.content_type == "text/x-test"
    assert head.metadata.content_encoding == "gzip"
    assert head.metadata.content_disposition == "attachment"
    assert head.metadata.cache_control == "no-cache"
    assert head.metadata.user == {"mtime": "1700000000.5", "raw": "caf\xe9"}
    assert head.metadata.checksums == {"CRC32": "AAAAAA=="}
    reader = await upstream.get_object("b", "dir/a b.bin")
    assert reader.info.etag == info.etag
    assert await read_all(reader) == data  # gzip-labelled bytes come back as stored


async def test_PutObject_undeclared_length(upstream: S3UpstreamProvider) -> None:
    """A body without a declared length (a generic stream) is spooled and stored whole."""
    data = b"spooled" * 100_000
    await upstream.put_object("b", "s", stream(data), ObjectMetadata())
    assert await read_all(await upstream.get_object("b", "s")) == data


async def test_GetObject_Range(upstream: S3UpstreamProvider) -> None:
    """Ranges (first-last, first-, suffix) return exactly those bytes with their span;
    a range past the end is InvalidRange."""
    data = bytes(range(256)) * 4
    await upstream.put_object("b", "r", Declared(data), ObjectMetadata())
    for wanted, expected in [
        (RangeRequest(10, 19), data[10:20]),
        (RangeRequest(1000, None), data[1000:]),
        (RangeRequest(None, 5), data[-5:]),
        (RangeRequest(0, 10_000), data),
    ]:
        reader = await upstream.get_object("b", "r", wanted)
        assert reader.byte_range is not None
        assert reader.byte_range.length == len(expected)
        assert await read_all(reader) == expected
    with pytest.raises(InvalidRange):
        await upstream.get_object("b", "r", RangeRequest(5000, None))


async def test_GetObject_missing(upstream: S3UpstreamProvider) -> None:
    """A missing key is NoSuchKey, a missing bucket NoSuchBucket (GET, HEAD, list and
    writes into it, in both layouts)."""
    with pytest.raises(NoSuchKey):
        await upstream.get_object("b", "nope")
    with pytest.raises(NoSuchKey):
        await upstream.head_object("b", "nope")
    with pytest.raises(NoSuchBucket):
        await upstream.head_object("nobucket", "k")
    with pytest.raises(NoSuchBucket):
        await upstream.list_objects("nobucket")
    await upstream.delete_object("b", "nope")  # not an error
    with pytest.raises(NoSuchBucket):
        await upstream.put_object("nobucket", "k", Declared(b"x"), ObjectMetadata())
    with pytest.raises(NoSuchBucket):
        await upstream.create_multipart_upload("nobucket", "k", ObjectMetadata())
    with pytest.raises(NoSuchBucket):
        await upstream.copy_object("b", "nope", "nobucket", "k")


async def test_CopyObject_server_side(upstream: S3UpstreamProvider) -> None:
    """CopyObject copies upstream, keeping or replacing the metadata."""
    data = b"copy me" * 1000
    await upstream.put_object(
        "b", "src", Declared(data), ObjectMetadata(content_type="a/b", user={"k": "v"})
    )
    kept = await upstream.copy_object("b", "src", "b", "kept")
    assert kept.metadata.user == {"k": "v"} and kept.metadata.content_type == "a/b"
    replaced = await upstream.copy_object(
        "b", "src", "b", "replaced", ObjectMetadata(content_type="c/d", user={"n": "1"})
    )
    assert replaced.metadata.user == {"n": "1"} and replaced.metadata.content_type == "c/d"
    assert await read_all(await upstream.get_object("b", "replaced")) == data


async def test_ListObjectsV2_paged(upstream: S3UpstreamProvider) -> None:
    """Listings come a page at a time, with common prefixes, and a page's marker
    continues exactly where it ended."""
    keys = [f"k{i:02d}" for i in range(7)] + ["d/1", "d/2", "e/1"]
    for key in keys:
        await upstream.put_object("b", key, Declared(b"x"), ObjectMetadata())
    seen: list[str] = []
    marker = ""
    while True:
        page = await upstream.list_objects("b", delimiter="/", start_after=marker, max_keys=3)
        seen += sorted([o.key for o in page.objects] + page.common_prefixes)
        if not page.is_truncated:
            break
        assert page.next_marker
        marker = page.next_marker
    assert seen == ["d/", "e/", *[f"k{i:02d}" for i in range(7)]]
    page = await upstream.list_objects("b", prefix="d/")
    assert [o.key for o in page.objects] == ["d/1", "d/2"]
    assert page.objects[0].size == 1


async def test_CompleteMultipartUpload(upstream: S3UpstreamProvider) -> None:
    """A multipart upload goes onto the upstream's: parts, a part copied upstream,
    ListParts, ListMultipartUploads, Complete with the upstream's ETag."""
    part1 = b"a" * (5 * MiB)
    await upstream.put_object("b", "source", Declared(b"0123456789" * 1000), ObjectMetadata())
    upload = await upstream.create_multipart_upload("b", "big", ObjectMetadata(user={"m": "1"}))
    assert [u.upload_id for u in await upstream.list_multipart_uploads("b")] == [upload.upload_id]
    p1 = await upstream.upload_part("b", "big", upload.upload_id, 1, Declared(part1))
    p2 = await upstream.upload_part_copy(
        "b", "big", upload.upload_id, 2, "b", "source", RangeRequest(0, 99).resolve(10_000)
    )
    _, parts = await upstream.list_parts("b", "big", upload.upload_id)
    assert [(p.part_number, p.size) for p in parts] == [(1, 5 * MiB), (2, 100)]
    info = await upstream.complete_multipart_upload(
        "b",
        "big",
        upload.upload_id,
        [CompletedPart(1, p1.etag), CompletedPart(2, p2.etag)],
    )
    assert info.etag.endswith("-2") and info.size == 5 * MiB + 100
    assert info.metadata.user == {"m": "1"}
    body = await read_all(await upstream.get_object("b", "big"))
    assert body == part1 + (b"0123456789" * 10)
    assert await upstream.list_multipart_uploads("b") == []
    with pytest.raises(NoSuchUpload):
        await upstream.list_parts("b", "big", upload.upload_id)


async def test_AbortMultipartUpload(upstream: S3UpstreamProvider) -> None:
    """An aborted upload is gone; an unknown upload id is NoSuchUpload."""
    upload = await upstream.create_multipart_upload("b", "x", ObjectMetadata())
    await upstream.abort_multipart_upload("b", "x", upload.upload_id)
    with pytest.raises(NoSuchUpload):
        await upstream.get_multipart_upload("b", "x", upload.upload_id)
    with pytest.raises(NoSuchUpload):
        await upstream.upload_part("b", "x", "no-such-id", 1, Declared(b"x"))


async def test_ListBuckets_unreachable_upstream() -> None:
    """An upstream nobody listens on is ServiceUnavailable after the retries, quickly,
    not a hang."""
    dead = Connection(
        f"http://127.0.0.1:{free_port()}", "us-east-1", "k", "s", attempts=3, backoff=0.01
    )
    provider = S3UpstreamProvider(dead, BucketMap())
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable):
        await provider.open()
    assert time.monotonic() - started < 5
    await provider.close()


async def test_ListBuckets_refused_credentials(seaweed: SeaweedCluster) -> None:
    """Credentials the upstream refuses are the gateway's fault (InternalError naming
    them), never passed on as the client's own auth error."""
    provider = S3UpstreamProvider(connection(seaweed, secret_access_key="wrong"), BucketMap())
    with pytest.raises(InternalError, match="credentials"):
        await provider.open()
    await provider.close()


async def test_GetObject_concurrent_streams(upstream: S3UpstreamProvider) -> None:
    """Several downloads stream at once over the pooled connections."""
    data = b"z" * (3 * MiB)
    await upstream.put_object("b", "c", Declared(data), ObjectMetadata())
    bodies = await asyncio.gather(
        *[read_all(await upstream.get_object("b", "c")) for _ in range(4)]
    )
    assert all(body == data for body in bodies)


async def test_PutObject_create_only(seaweed: SeaweedCluster) -> None:
    """A create-only write is refused with NotImplemented unless the upstream is set to
    honour If-None-Match; then an existing key is PreconditionFailed and kept."""
    layout = BucketMap("prefix", bucket=seaweed.new_bucket())
    plain = S3UpstreamProvider(connection(seaweed), layout)
    await plain.create_bucket("b")
    with pytest.raises(NotImplementedOperation, match="conditional_writes"):
        await plain.put_object("b", "k", Declared(b"1"), ObjectMetadata(), condition=CREATE_ONLY)
    await plain.close()
    honouring = S3UpstreamProvider(connection(seaweed), layout, conditional_writes=True)
    await honouring.put_object("b", "k", Declared(b"1"), ObjectMetadata(), condition=CREATE_ONLY)
    with pytest.raises(PreconditionFailed):
        await honouring.put_object(
            "b", "k", Declared(b"2"), ObjectMetadata(), condition=CREATE_ONLY
        )
    assert await read_all(await honouring.get_object("b", "k")) == b"1"
    await honouring.close()


class _Failing(http.server.BaseHTTPRequestHandler):
    """An upstream whose buckets exist (HEAD answers 200) and that answers every
    other request with one S3 error, counting them."""

    status = 503
    code = "SlowDown"
    calls: ClassVar[list[str]] = []

    def _answer(self) -> None:
        type(self).calls.append(self.command)
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        if self.command == "HEAD":
            self.send_response(200)
            self.send_header("last-modified", "Mon, 01 Jan 2024 00:00:00 GMT")
            self.send_header("content-length", "0")
            self.end_headers()
            return
        body = f"<Error><Code>{self.code}</Code><Message>busy here</Message></Error>".encode()
        self.send_response(self.status)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_PUT = do_HEAD = do_POST = do_DELETE = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def failing_upstream() -> Iterator[str]:
    """A loopback HTTP server that answers 503 SlowDown to all but HEAD."""
    _Failing.calls = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Failing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


async def test_GetObject_retries_idempotent_calls_only(failing_upstream: str) -> None:
    """A 503 upstream: a GET is tried ``attempts`` times then answers SlowDown with the
    upstream's message; a PUT carrying a client's body is sent once, never repeated."""
    link = Connection(failing_upstream, "us-east-1", "k", "s", attempts=3, backoff=0.01)
    provider = S3UpstreamProvider(link, BucketMap("prefix", bucket="up"))
    with pytest.raises(SlowDown, match="busy here"):
        await provider.get_object("b", "k")
    assert _Failing.calls == ["GET"] * 3
    _Failing.calls.clear()
    with pytest.raises(SlowDown):
        await provider.put_object("b", "k", Declared(b"body"), ObjectMetadata())
    assert _Failing.calls == ["HEAD", "PUT"]  # the bucket's check, then the PUT once
    await provider.close()
