"""Conditional writes through boto3 against real ``pys3local serve`` processes:
``If-Match`` and ``If-None-Match: *`` on PutObject, CompleteMultipartUpload and
CopyObject, with AWS's answers (412 PreconditionFailed, 404 NoSuchKey for If-Match on
a missing key, 501 NotImplemented for what S3 does not take), in unversioned and
versioned buckets; Drime refuses every conditional write naming itself."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

MiB = 1024 * 1024
#: The answers to a refused conditional write.
FAILED = ("PreconditionFailed", 412)
MISSING = ("NoSuchKey", 404)
NOT_IMPLEMENTED = ("NotImplemented", 501)


def error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response = exc.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def refused(call: Callable[..., Any], **params: Any) -> tuple[str, int]:
    """The error code and status of a call that must fail."""
    with pytest.raises(ClientError) as exc:
        call(**params)
    return error(exc)


def body(s3: Any, bucket: str, key: str) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def keys(s3: Any, bucket: str) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


def new_upload(s3: Any, bucket: str, key: str, data: bytes) -> tuple[str, dict[str, Any]]:
    """A one-part multipart upload of ``data``, ready to complete."""
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    part = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=1, Body=data)
    return upload_id, {"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]}


def test_PutObject_If_Match(s3, bucket) -> None:
    """A stale ETag is 412 and the object stays; the current one (quoted or not, or in
    a list) replaces it; on a missing key it is 404 NoSuchKey and nothing is created."""
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"one")["ETag"]
    assert (
        refused(s3.put_object, Bucket=bucket, Key="k", Body=b"two", IfMatch='"0123456789abcdef"')
        == FAILED
    )
    assert body(s3, bucket, "k") == b"one"
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"two", IfMatch=etag)["ETag"]
    assert body(s3, bucket, "k") == b"two"
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"three", IfMatch=etag.strip('"'))["ETag"]
    s3.put_object(Bucket=bucket, Key="k", Body=b"four", IfMatch=f'"00", {etag}')
    assert body(s3, bucket, "k") == b"four"
    assert refused(s3.put_object, Bucket=bucket, Key="absent", Body=b"x", IfMatch=etag) == MISSING
    assert keys(s3, bucket) == ["k"]


def test_PutObject_If_Match_streamed_body(s3, bucket) -> None:
    """A body of several MiB (the streamed write path) is refused just the same, and
    the staged data does not become the object."""
    s3.put_object(Bucket=bucket, Key="big", Body=b"a" * (3 * MiB))
    assert (
        refused(s3.put_object, Bucket=bucket, Key="big", Body=b"b" * (3 * MiB), IfMatch='"00"')
        == FAILED
    )
    assert body(s3, bucket, "big") == b"a" * (3 * MiB)


def test_PutObject_If_Match_hand_placed_file(server, s3, bucket) -> None:
    """A file put into the data directory by other means (no sidecar) has the ETag HEAD
    shows it with, and If-Match compares against that one; If-None-Match sees it."""
    objects = server.data_dir / bucket / "objects"
    objects.mkdir(parents=True, exist_ok=True)
    (objects / "placed").write_bytes(b"by hand")
    etag = s3.head_object(Bucket=bucket, Key="placed")["ETag"]
    assert refused(s3.put_object, Bucket=bucket, Key="placed", Body=b"x", IfNoneMatch="*") == (
        FAILED
    )
    assert refused(s3.put_object, Bucket=bucket, Key="placed", Body=b"x", IfMatch='"00"') == (
        FAILED
    )
    s3.put_object(Bucket=bucket, Key="placed", Body=b"replaced", IfMatch=etag)
    assert body(s3, bucket, "placed") == b"replaced"


def test_PutObject_If_None_Match_other_than_star_is_NotImplemented(s3, bucket) -> None:
    """If-None-Match with an ETag, or together with If-Match, is 501 NotImplemented
    (as AWS answers), never a condition silently dropped; nothing is written."""
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"one")["ETag"]
    for conditions in ({"IfNoneMatch": etag}, {"IfNoneMatch": "*", "IfMatch": etag}):
        assert (
            refused(s3.put_object, Bucket=bucket, Key="k", Body=b"two", **conditions)
            == NOT_IMPLEMENTED
        )
    assert body(s3, bucket, "k") == b"one"


def test_CompleteMultipartUpload_If_None_Match(s3, bucket) -> None:
    """On an existing key the completion is 412, the object stays and the upload stays
    too (ListParts shows its part; it completes once the key is gone); on a new key it
    completes, and a retry of that completion answers the same object."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"old")
    upload_id, parts = new_upload(s3, bucket, "k", b"new")
    complete = {"Bucket": bucket, "Key": "k", "UploadId": upload_id, "MultipartUpload": parts}
    assert refused(s3.complete_multipart_upload, **complete, IfNoneMatch="*") == FAILED
    assert body(s3, bucket, "k") == b"old"
    listed = s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id)["Parts"]
    assert [p["PartNumber"] for p in listed] == [1]
    s3.delete_object(Bucket=bucket, Key="k")
    done = s3.complete_multipart_upload(**complete, IfNoneMatch="*")
    assert body(s3, bucket, "k") == b"new"
    again = s3.complete_multipart_upload(**complete, IfNoneMatch="*")
    assert again["ETag"] == done["ETag"]


def test_CompleteMultipartUpload_If_Match(s3, bucket) -> None:
    """A stale ETag is 412 and a missing key 404 NoSuchKey, each leaving the object
    and the upload as they were; the current ETag completes it."""
    upload_id, parts = new_upload(s3, bucket, "k", b"new")
    complete = {"Bucket": bucket, "Key": "k", "UploadId": upload_id, "MultipartUpload": parts}
    assert refused(s3.complete_multipart_upload, **complete, IfMatch='"0123"') == MISSING
    assert keys(s3, bucket) == []
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"old")["ETag"]
    assert refused(s3.complete_multipart_upload, **complete, IfMatch='"0123"') == FAILED
    assert body(s3, bucket, "k") == b"old"
    assert s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id)["Parts"]
    s3.complete_multipart_upload(**complete, IfMatch=etag)
    assert body(s3, bucket, "k") == b"new"
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")


def test_CopyObject_If_Match_and_If_None_Match(s3, bucket) -> None:
    """The destination's conditions hold for a copy as for a PUT."""
    s3.put_object(Bucket=bucket, Key="src", Body=b"copied")
    etag = s3.put_object(Bucket=bucket, Key="dst", Body=b"old")["ETag"]
    source = {"Bucket": bucket, "Key": "src"}
    for conditions, code in (
        ({"IfMatch": '"00"'}, "PreconditionFailed"),
        ({"IfNoneMatch": "*"}, "PreconditionFailed"),
    ):
        with pytest.raises(ClientError) as exc:
            s3.copy_object(Bucket=bucket, Key="dst", CopySource=source, **conditions)
        assert error(exc)[0] == code
    assert (
        refused(s3.copy_object, Bucket=bucket, Key="none", CopySource=source, IfMatch=etag)
        == MISSING
    )
    assert body(s3, bucket, "dst") == b"old"
    s3.copy_object(Bucket=bucket, Key="dst", CopySource=source, IfMatch=etag)
    assert body(s3, bucket, "dst") == b"copied"


def test_PutObject_conditions_in_a_versioned_bucket(s3, bucket) -> None:
    """With a delete marker as the latest version the key counts as absent: If-None-Match
    creates, If-Match is 404; a matching If-Match adds a version and keeps the old one;
    a refused write adds no version."""
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    first = s3.put_object(Bucket=bucket, Key="k", Body=b"one")
    assert refused(s3.put_object, Bucket=bucket, Key="k", Body=b"x", IfNoneMatch="*") == FAILED
    assert refused(s3.put_object, Bucket=bucket, Key="k", Body=b"x", IfMatch='"00"') == FAILED
    second = s3.put_object(Bucket=bucket, Key="k", Body=b"two", IfMatch=first["ETag"])
    s3.delete_object(Bucket=bucket, Key="k")  # a delete marker is now the latest
    assert (
        refused(s3.put_object, Bucket=bucket, Key="k", Body=b"x", IfMatch=second["ETag"]) == MISSING
    )
    upload_id, parts = new_upload(s3, bucket, "k", b"x")
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(
            Bucket=bucket, Key="k", UploadId=upload_id, MultipartUpload=parts, IfMatch='"00"'
        )
    assert error(exc) == MISSING
    third = s3.put_object(Bucket=bucket, Key="k", Body=b"three", IfNoneMatch="*")
    assert body(s3, bucket, "k") == b"three"
    versions = s3.list_object_versions(Bucket=bucket)
    assert [v["VersionId"] for v in versions["Versions"]] == [
        third["VersionId"],
        second["VersionId"],
        first["VersionId"],
    ]
    assert len(versions["DeleteMarkers"]) == 1
    s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id)


def test_PutObject_conditions_on_Drime_are_NotImplemented(drime) -> None:
    """Drime cannot check and write in one step: every conditional PutObject and
    CompleteMultipartUpload is 501 naming the backend, and nothing is written."""
    s3 = drime.client()
    etag = s3.put_object(Bucket="default", Key="k", Body=b"one")["ETag"]
    for conditions in ({"IfMatch": etag}, {"IfNoneMatch": "*"}):
        with pytest.raises(ClientError) as exc:
            s3.put_object(Bucket="default", Key="k", Body=b"two", **conditions)
        assert error(exc) == NOT_IMPLEMENTED
        assert "Drime" in exc.value.response["Error"]["Message"]
    upload_id, parts = new_upload(s3, "default", "k", b"three")
    for conditions in ({"IfMatch": etag}, {"IfNoneMatch": "*"}):
        with pytest.raises(ClientError) as exc:
            s3.complete_multipart_upload(
                Bucket="default", Key="k", UploadId=upload_id, MultipartUpload=parts, **conditions
            )
        assert error(exc) == NOT_IMPLEMENTED
        assert "Drime" in exc.value.response["Error"]["Message"]
    assert body(s3, "default", "k") == b"one"
