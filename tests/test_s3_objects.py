"""Object operations through boto3 (default settings) against a real server."""

from __future__ import annotations

import base64
import hashlib
import os
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from botocore.exceptions import ClientError
from conftest import RunningServer


def error_code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return exc.value.response["Error"]["Code"]


def status(exc: pytest.ExceptionInfo[ClientError]) -> int:
    return exc.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_PutObject_GetObject_round_trip_with_metadata(s3, bucket) -> None:
    """Body, ETag (MD5), Content-Type, x-amz-meta-* and standard headers round-trip."""
    body = os.urandom(100_000)
    put = s3.put_object(
        Bucket=bucket,
        Key="dir/file.bin",
        Body=body,
        ContentType="application/x-test",
        ContentEncoding="identity",
        ContentDisposition='attachment; filename="f.bin"',
        CacheControl="max-age=60",
        ContentLanguage="en",
        Expires=datetime(2030, 1, 1, tzinfo=timezone.utc),
        Metadata={"mtime": "1700000000.5", "Owner": "Me"},
    )
    assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    got = s3.get_object(Bucket=bucket, Key="dir/file.bin")
    assert got["Body"].read() == body
    assert got["ETag"] == put["ETag"]
    assert got["ContentType"] == "application/x-test"
    assert got["ContentEncoding"] == "identity"
    assert got["ContentDisposition"] == 'attachment; filename="f.bin"'
    assert got["CacheControl"] == "max-age=60"
    assert got["ContentLanguage"] == "en"
    assert got["Metadata"] == {"mtime": "1700000000.5", "owner": "Me"}
    assert got["ContentLength"] == len(body)
    assert got["LastModified"].tzinfo is not None


def test_HeadObject(s3, bucket) -> None:
    s3.put_object(Bucket=bucket, Key="h", Body=b"12345", Metadata={"a": "b"})
    head = s3.head_object(Bucket=bucket, Key="h")
    assert head["ContentLength"] == 5
    assert head["Metadata"] == {"a": "b"}
    assert head["AcceptRanges"] == "bytes"
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="missing")
    assert status(exc) == 404


@pytest.mark.parametrize(
    "key",
    [
        "with space",
        "ünïcödé/✓",
        "plus+sign",
        "percent%20literal",
        "eq=amp&q?",
        "dir/",
        "a//b",
        "/leading",
        "../dots/../x",
        "~tilde'quote\"(paren)",
        ("k" * 200 + "/") * 5 + "k" * 19,  # 1024 bytes, the longest key S3 allows
    ],
)
def test_PutObject_unusual_keys(s3, bucket, key) -> None:
    """Keys S3 allows round-trip exactly, and list exactly as sent."""
    s3.put_object(Bucket=bucket, Key=key, Body=key.encode()[:50])
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == key.encode()[:50]
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert [o["Key"] for o in listed] == [key]
    s3.delete_object(Bucket=bucket, Key=key)
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_PutObject_key_over_1024_bytes_is_KeyTooLongError(s3, bucket) -> None:
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="k" * 1025, Body=b"x")
    assert error_code(exc) == "KeyTooLongError"


def test_PutObject_segment_over_255_bytes_is_a_clear_error(s3, bucket) -> None:
    """The local backend stores each '/'-separated segment as a file name (NAME_MAX 255)."""
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="d/" + "k" * 256, Body=b"x")
    assert error_code(exc) == "KeyTooLongError"
    assert "255 bytes" in exc.value.response["Error"]["Message"]


def test_PutObject_bad_Content_MD5_is_BadDigest_and_stores_nothing(s3, bucket) -> None:
    wrong = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="md5", Body=b"data", ContentMD5=wrong)
    assert error_code(exc) == "BadDigest"
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="md5")
    good = base64.b64encode(hashlib.md5(b"data").digest()).decode()
    s3.put_object(Bucket=bucket, Key="md5", Body=b"data", ContentMD5=good)


def test_GetObject_missing_key_is_NoSuchKey(s3, bucket) -> None:
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="nope")
    assert error_code(exc) == "NoSuchKey"
    assert status(exc) == 404


def test_GetObject_missing_bucket_is_NoSuchBucket(s3) -> None:
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket="no-such-bucket-here", Key="k")
    assert error_code(exc) == "NoSuchBucket"


@pytest.mark.parametrize(
    ("header", "expected", "content_range"),
    [
        ("bytes=0-4", b"01234", "bytes 0-4/10"),
        ("bytes=5-", b"56789", "bytes 5-9/10"),
        ("bytes=-3", b"789", "bytes 7-9/10"),
        ("bytes=8-100", b"89", "bytes 8-9/10"),
        ("bytes=-100", b"0123456789", "bytes 0-9/10"),
    ],
)
def test_GetObject_Range(s3, bucket, header, expected, content_range) -> None:
    s3.put_object(Bucket=bucket, Key="r", Body=b"0123456789")
    got = s3.get_object(Bucket=bucket, Key="r", Range=header)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert got["Body"].read() == expected
    assert got["ContentRange"] == content_range


@pytest.mark.parametrize("header", ["bytes=10-", "bytes=20-30", "bytes=-0"])
def test_GetObject_unsatisfiable_Range_is_416(s3, bucket, header) -> None:
    s3.put_object(Bucket=bucket, Key="r", Body=b"0123456789")
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="r", Range=header)
    assert error_code(exc) == "InvalidRange"
    assert status(exc) == 416


@pytest.mark.parametrize("header", ["bytes=5-2", "bytes=0-1,3-4", "items=0-1", "garbage"])
def test_GetObject_unusable_Range_is_ignored(server: RunningServer, s3, bucket, header) -> None:
    """A Range header that is not one satisfiable byte range gets the whole object."""
    s3.put_object(Bucket=bucket, Key="r", Body=b"0123456789")
    url = server.client(signature_version="s3v4").generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "r"}
    )
    response = httpx.get(url, headers={"Range": header})
    assert response.status_code == 200
    assert response.content == b"0123456789"


def test_GetObject_conditional_requests(s3, bucket) -> None:
    put = s3.put_object(Bucket=bucket, Key="c", Body=b"v1")
    etag = put["ETag"]
    past = datetime.now(timezone.utc) - timedelta(days=1)
    future = datetime.now(timezone.utc) + timedelta(days=1)
    assert s3.get_object(Bucket=bucket, Key="c", IfMatch=etag)["Body"].read() == b"v1"
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="c", IfMatch='"0000"')
    assert status(exc) == 412
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="c", IfNoneMatch=etag)
    assert status(exc) == 304
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="c", IfModifiedSince=future)
    assert status(exc) == 304
    assert s3.get_object(Bucket=bucket, Key="c", IfModifiedSince=past)["Body"].read() == b"v1"
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="c", IfUnmodifiedSince=past)
    assert status(exc) == 412
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="c", IfNoneMatch=etag)
    assert status(exc) == 304


def test_GetObject_response_overrides(s3, bucket) -> None:
    s3.put_object(Bucket=bucket, Key="o", Body=b"x", ContentType="text/plain")
    got = s3.get_object(
        Bucket=bucket,
        Key="o",
        ResponseContentType="application/json",
        ResponseContentDisposition="inline",
    )
    assert got["ContentType"] == "application/json"
    assert got["ContentDisposition"] == "inline"


def test_PutObject_overwrite_replaces(s3, bucket) -> None:
    s3.put_object(Bucket=bucket, Key="o", Body=b"first", Metadata={"v": "1"})
    s3.put_object(Bucket=bucket, Key="o", Body=b"second")
    got = s3.get_object(Bucket=bucket, Key="o")
    assert got["Body"].read() == b"second"
    assert got["Metadata"] == {}


def test_PutObject_empty_body(s3, bucket) -> None:
    put = s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    assert put["ETag"] == '"d41d8cd98f00b204e9800998ecf8427e"'
    assert s3.get_object(Bucket=bucket, Key="empty")["Body"].read() == b""


def test_DeleteObject_missing_key_is_204(s3, bucket) -> None:
    response = s3.delete_object(Bucket=bucket, Key="never-existed")
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_DeleteObjects_quiet_and_verbose(s3, bucket) -> None:
    for key in ("a", "b", "c"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    verbose = s3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": "a"}, {"Key": "missing"}]}
    )
    assert sorted(d["Key"] for d in verbose["Deleted"]) == ["a", "missing"]
    quiet = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "b"}], "Quiet": True})
    assert "Deleted" not in quiet
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["c"]


def test_DeleteObjects_reports_per_key_errors(s3, bucket) -> None:
    s3.put_object(Bucket=bucket, Key="ok", Body=b"x")
    result = s3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": "ok"}, {"Key": "x" * 1100}]}
    )
    assert [d["Key"] for d in result["Deleted"]] == ["ok"]
    assert result["Errors"][0]["Code"] == "KeyTooLongError"


def test_DeleteObjects_over_1000_keys_is_MalformedXML(s3, bucket) -> None:
    with pytest.raises(ClientError) as exc:
        s3.delete_objects(
            Bucket=bucket, Delete={"Objects": [{"Key": f"k{i}"} for i in range(1001)]}
        )
    assert error_code(exc) == "MalformedXML"


def test_CopyObject_within_and_across_buckets(s3, bucket) -> None:
    s3.create_bucket(Bucket=bucket + "-dst")
    put = s3.put_object(
        Bucket=bucket, Key="src key+ü", Body=b"payload", ContentType="text/x", Metadata={"m": "1"}
    )
    s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "src key+ü"})
    copied = s3.get_object(Bucket=bucket, Key="copy")
    assert copied["Body"].read() == b"payload"
    assert copied["ETag"] == put["ETag"]
    assert copied["Metadata"] == {"m": "1"} and copied["ContentType"] == "text/x"
    s3.copy_object(
        Bucket=bucket + "-dst",
        Key="other",
        CopySource={"Bucket": bucket, "Key": "src key+ü"},
        MetadataDirective="REPLACE",
        ContentType="text/replaced",
        Metadata={"new": "2"},
    )
    replaced = s3.head_object(Bucket=bucket + "-dst", Key="other")
    assert replaced["Metadata"] == {"new": "2"}
    assert replaced["ContentType"] == "text/replaced"


def test_CopyObject_onto_itself_needs_REPLACE(s3, bucket) -> None:
    """rclone updates metadata by copying an object onto itself with REPLACE."""
    s3.put_object(Bucket=bucket, Key="self", Body=b"x", Metadata={"mtime": "1"})
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=bucket, Key="self", CopySource={"Bucket": bucket, "Key": "self"})
    assert error_code(exc) == "InvalidRequest"
    s3.copy_object(
        Bucket=bucket,
        Key="self",
        CopySource={"Bucket": bucket, "Key": "self"},
        MetadataDirective="REPLACE",
        Metadata={"mtime": "2"},
    )
    assert s3.head_object(Bucket=bucket, Key="self")["Metadata"] == {"mtime": "2"}
    assert s3.get_object(Bucket=bucket, Key="self")["Body"].read() == b"x"


def test_CopyObject_missing_source_is_NoSuchKey(s3, bucket) -> None:
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "nope"})
    assert error_code(exc) == "NoSuchKey"


def test_CopyObject_source_conditions(s3, bucket) -> None:
    s3.put_object(Bucket=bucket, Key="src", Body=b"x")
    with pytest.raises(ClientError) as exc:
        s3.copy_object(
            Bucket=bucket,
            Key="dst",
            CopySource={"Bucket": bucket, "Key": "src"},
            CopySourceIfMatch='"nope"',
        )
    assert status(exc) == 412


def test_GetObjectAcl_and_unsupported_operations(s3, bucket) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    acl = s3.get_object_acl(Bucket=bucket, Key="k")
    assert acl["Grants"][0]["Permission"] == "FULL_CONTROL"
    with pytest.raises(ClientError) as exc:
        s3.restore_object(Bucket=bucket, Key="k", RestoreRequest={"Days": 1})
    assert error_code(exc) == "NotImplemented"
    assert status(exc) == 501


@pytest.mark.parametrize("size", [10, 100 * 1024, 3 * 1024 * 1024 + 5])
def test_PutObject_checksum_is_stored_on_every_write_path(s3, bucket, size) -> None:
    """The verified checksum of a small (inline), medium (one hop) and large (streamed)
    PutObject is answered by the PUT and stored with the object."""
    data = os.urandom(size)
    expected = base64.b64encode(hashlib.sha256(data).digest()).decode()
    put = s3.put_object(Bucket=bucket, Key=f"sum-{size}", Body=data, ChecksumAlgorithm="SHA256")
    assert put["ChecksumSHA256"] == expected
    head = s3.head_object(Bucket=bucket, Key=f"sum-{size}", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == expected


def test_checksum_mode_returns_stored_checksum(s3, bucket) -> None:
    """boto3 sends a CRC32 by default; it is verified, stored and returned on request."""
    s3.put_object(Bucket=bucket, Key="crc", Body=b"checksummed", ChecksumAlgorithm="SHA256")
    head = s3.head_object(Bucket=bucket, Key="crc", ChecksumMode="ENABLED")
    expected = base64.b64encode(hashlib.sha256(b"checksummed").digest()).decode()
    assert head["ChecksumSHA256"] == expected
    got = s3.get_object(Bucket=bucket, Key="crc", ChecksumMode="ENABLED")
    assert got["Body"].read() == b"checksummed"
