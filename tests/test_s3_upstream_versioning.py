"""Versioning on ``pys3local serve --backend s3`` over a real SeaweedFS cluster
(tests/seaweed.py, whose S3 gateway keeps versions), through boto3: in the buckets
layout the versioning state, version ids, delete markers and ListObjectVersions are
the upstream's, passed through; in the prefix layout (every bucket in one upstream
bucket) versioning answers NotImplemented saying why; an upstream without versioning
has its refusal come back as NotImplemented naming it."""

from __future__ import annotations

import http.server
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from clients import upload_in_one_part
from conftest import RunningServer
from seaweed import SeaweedCluster
from test_s3_upstream_e2e import upstream_args, upstream_env

BUCKET = "ver"


@pytest.fixture
def gateway(
    seaweed: SeaweedCluster, make_server: Callable[..., RunningServer]
) -> Callable[..., RunningServer]:
    """Start a ``serve --backend s3`` over the cluster (``*extra`` options added) with a
    fresh bucket ``ver``."""

    def start(*extra: str) -> RunningServer:
        prefix = f"v{uuid.uuid4().hex[:8]}-"
        server = make_server(*upstream_args(seaweed, prefix), *extra, env=upstream_env(seaweed))
        server.client().create_bucket(Bucket=BUCKET)
        return server

    return start


def enable(s3: Any) -> None:
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})


def failure(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    response = exc.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def test_PutBucketVersioning_upstream(
    seaweed: SeaweedCluster, make_server: Callable[..., RunningServer]
) -> None:
    """The state set through the gateway is the upstream bucket's own, and reads back;
    before it is set, writes and deletes name no versions."""
    prefix = f"v{uuid.uuid4().hex[:8]}-"
    s3 = make_server(*upstream_args(seaweed, prefix), env=upstream_env(seaweed)).client()
    s3.create_bucket(Bucket=BUCKET)
    assert "Status" not in s3.get_bucket_versioning(Bucket=BUCKET)
    # Never set: no version ids, and a delete adds no marker.
    assert "VersionId" not in s3.put_object(Bucket=BUCKET, Key="k", Body=b"x")
    assert "VersionId" not in s3.head_object(Bucket=BUCKET, Key="k")
    deleted = s3.delete_object(Bucket=BUCKET, Key="k")
    assert "VersionId" not in deleted and "DeleteMarker" not in deleted
    enable(s3)
    assert s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    direct = seaweed.client().get_bucket_versioning(Bucket=prefix + BUCKET)
    assert direct["Status"] == "Enabled"
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Suspended"})
    assert s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Suspended"


def test_GetObject_versionId_upstream(gateway) -> None:
    """Two PUTs give two version ids; each reads back by id (whole and by Range), HEAD
    by id gives its size, and a plain GET names the latest version."""
    s3 = gateway().client()
    enable(s3)
    first = s3.put_object(Bucket=BUCKET, Key="k", Body=b"first body")["VersionId"]
    second = s3.put_object(Bucket=BUCKET, Key="k", Body=b"second")["VersionId"]
    assert first and second and first != second
    old = s3.get_object(Bucket=BUCKET, Key="k", VersionId=first)
    assert (old["Body"].read(), old["VersionId"]) == (b"first body", first)
    ranged = s3.get_object(Bucket=BUCKET, Key="k", VersionId=first, Range="bytes=6-9")
    assert ranged["Body"].read() == b"body"
    assert ranged["ContentRange"] == "bytes 6-9/10"
    assert s3.head_object(Bucket=BUCKET, Key="k", VersionId=first)["ContentLength"] == 10
    latest = s3.get_object(Bucket=BUCKET, Key="k")
    assert (latest["Body"].read(), latest["VersionId"]) == (b"second", second)
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=BUCKET, Key="k", VersionId="0123456789abcdef0123456789abcdef")
    assert failure(exc) == (404, "NoSuchVersion")


def test_DeleteObject_delete_marker_upstream(gateway) -> None:
    """A plain DELETE adds the upstream's delete marker and says so; the key is then
    404, the old version still reads by id, and deleting the marker brings it back."""
    s3 = gateway().client()
    enable(s3)
    version = s3.put_object(Bucket=BUCKET, Key="k", Body=b"kept")["VersionId"]
    deleted = s3.delete_object(Bucket=BUCKET, Key="k")
    assert deleted["DeleteMarker"] is True
    marker = deleted["VersionId"]
    assert marker and marker != version
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=BUCKET, Key="k")
    assert failure(exc) == (404, "NoSuchKey")
    assert s3.get_object(Bucket=BUCKET, Key="k", VersionId=version)["Body"].read() == b"kept"
    removed = s3.delete_object(Bucket=BUCKET, Key="k", VersionId=marker)
    assert removed["VersionId"] == marker
    assert s3.get_object(Bucket=BUCKET, Key="k")["Body"].read() == b"kept"


def test_DeleteObject_versionId_upstream(gateway) -> None:
    """Deleting one version removes it for good and only it; the other still reads."""
    s3 = gateway().client()
    enable(s3)
    first = s3.put_object(Bucket=BUCKET, Key="k", Body=b"one")["VersionId"]
    second = s3.put_object(Bucket=BUCKET, Key="k", Body=b"two")["VersionId"]
    assert s3.delete_object(Bucket=BUCKET, Key="k", VersionId=first)["VersionId"] == first
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=BUCKET, Key="k", VersionId=first)
    assert failure(exc) == (404, "NoSuchVersion")
    versions = s3.list_object_versions(Bucket=BUCKET)["Versions"]
    assert [v["VersionId"] for v in versions] == [second]
    assert s3.get_object(Bucket=BUCKET, Key="k")["Body"].read() == b"two"


def test_ListObjectVersions_paging_upstream(gateway) -> None:
    """Versions and delete markers, a page of two at a time through the key and
    version-id markers, come out as the upstream keeps them: every one exactly once,
    newest first per key, the latest flagged."""
    s3 = gateway().client()
    enable(s3)
    written: dict[str, list[str]] = {}
    for key in ("a", "b", "c"):
        for body in (b"1", b"22"):
            written.setdefault(key, []).append(
                s3.put_object(Bucket=BUCKET, Key=key, Body=body)["VersionId"]
            )
    marker = s3.delete_object(Bucket=BUCKET, Key="b")["VersionId"]
    seen: list[tuple[str, str, bool, bool]] = []
    options: dict[str, str] = {}
    pages = 0
    while True:
        page = s3.list_object_versions(Bucket=BUCKET, MaxKeys=2, **options)
        pages += 1
        entries = [(v, False) for v in page.get("Versions", [])]
        entries += [(m, True) for m in page.get("DeleteMarkers", [])]
        assert len(entries) <= 2
        for entry, is_marker in entries:
            seen.append((entry["Key"], entry["VersionId"], entry["IsLatest"], is_marker))
        if not page["IsTruncated"]:
            break
        options = {
            "KeyMarker": page["NextKeyMarker"],
            "VersionIdMarker": page["NextVersionIdMarker"],
        }
    assert pages == 4
    assert sorted(seen) == sorted(
        [
            ("a", written["a"][1], True, False),
            ("a", written["a"][0], False, False),
            ("b", marker, True, True),
            ("b", written["b"][1], False, False),
            ("b", written["b"][0], False, False),
            ("c", written["c"][1], True, False),
            ("c", written["c"][0], False, False),
        ]
    )


def test_CopyObject_source_versionId_upstream(gateway) -> None:
    """A copy of an older version copies that version's bytes, and the copy and a
    completed multipart upload each report the version they made."""
    s3 = gateway().client()
    enable(s3)
    first = s3.put_object(Bucket=BUCKET, Key="k", Body=b"old bytes")["VersionId"]
    s3.put_object(Bucket=BUCKET, Key="k", Body=b"new bytes")
    copied = s3.copy_object(
        Bucket=BUCKET, Key="copy", CopySource={"Bucket": BUCKET, "Key": "k", "VersionId": first}
    )
    assert copied["CopySourceVersionId"] == first
    made = copied["VersionId"]
    assert made and made != first
    got = s3.get_object(Bucket=BUCKET, Key="copy", VersionId=made)
    assert got["Body"].read() == b"old bytes"
    done = upload_in_one_part(s3, BUCKET, "mpu", b"x")
    assert done["VersionId"]
    assert s3.head_object(Bucket=BUCKET, Key="mpu")["VersionId"] == done["VersionId"]


def test_PutBucketVersioning_prefix_layout_NotImplemented(gateway, seaweed) -> None:
    """With every bucket in one upstream bucket, versioning is 501 saying why, and
    nothing reports version ids; plain reads, writes and deletes still work."""
    upstream = seaweed.new_bucket()
    s3 = gateway("--upstream-bucket", upstream).client()
    with pytest.raises(ClientError) as exc:
        enable(s3)
    assert failure(exc) == (501, "NotImplemented")
    assert "prefix layout" in exc.value.response["Error"]["Message"]
    assert "Status" not in s3.get_bucket_versioning(Bucket=BUCKET)
    with pytest.raises(ClientError) as exc:
        s3.list_object_versions(Bucket=BUCKET)
    assert failure(exc) == (501, "NotImplemented")
    put = s3.put_object(Bucket=BUCKET, Key="k", Body=b"one")
    assert "VersionId" not in put
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=BUCKET, Key="k", VersionId="0123456789abcdef")
    assert failure(exc) == (501, "NotImplemented")
    assert s3.get_object(Bucket=BUCKET, Key="k", VersionId="null")["Body"].read() == b"one"
    assert "DeleteMarker" not in s3.delete_object(Bucket=BUCKET, Key="k")


class _Unversioned(http.server.BaseHTTPRequestHandler):
    """An S3 store without versioning (as Garage is): its one bucket ``ver`` exists,
    and every versioning request is 501 NotImplemented."""

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        if "versioning" in self.path or "versions" in self.path:
            status, body = (
                501,
                (
                    b"<Error><Code>NotImplemented</Code>"
                    b"<Message>versioning is not implemented here</Message></Error>"
                ),
            )
        elif self.command == "GET" and self.path.split("?")[0] == "/":
            status, body = (
                200,
                (
                    b"<ListAllMyBucketsResult><Buckets><Bucket><Name>ver</Name>"
                    b"<CreationDate>2024-01-01T00:00:00.000Z</CreationDate></Bucket>"
                    b"</Buckets></ListAllMyBucketsResult>"
                ),
            )
        elif self.command == "HEAD" and self.path.rstrip("/") == "/ver":
            status, body = 200, b""
        else:
            status, body = 404, b"<Error><Code>NoSuchKey</Code><Message>none</Message></Error>"
        self.send_response(status)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_PUT = do_HEAD = do_POST = do_DELETE = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def unversioned_upstream() -> Iterator[str]:
    """A loopback S3 endpoint without versioning (see :class:`_Unversioned`)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Unversioned)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_PutBucketVersioning_upstream_without_versioning(
    unversioned_upstream: str, make_server: Callable[..., RunningServer]
) -> None:
    """An upstream that answers NotImplemented to PutBucketVersioning: the client gets
    501 NotImplemented naming the upstream, GetBucketVersioning says never set, and
    ListObjectVersions is 501 too; nothing pretends to keep versions."""
    env = {"UPSTREAM_S3_ACCESS_KEY_ID": "k", "UPSTREAM_S3_SECRET_ACCESS_KEY": "s"}
    server = make_server(
        "--backend",
        "s3",
        "--upstream-endpoint",
        unversioned_upstream,
        "--allow-bucket-creation",
        env=env,
    )
    s3 = server.client()
    with pytest.raises(ClientError) as exc:
        enable(s3)
    assert failure(exc) == (501, "NotImplemented")
    message = exc.value.response["Error"]["Message"]
    assert unversioned_upstream in message and "versioning is not implemented" in message
    assert "Status" not in s3.get_bucket_versioning(Bucket=BUCKET)
    with pytest.raises(ClientError) as exc:
        s3.list_object_versions(Bucket=BUCKET)
    assert failure(exc) == (501, "NotImplemented")
