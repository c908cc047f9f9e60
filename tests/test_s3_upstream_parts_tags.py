"""Object tags and multipart details on ``pys3local serve --backend s3`` over a real
SeaweedFS cluster (tests/seaweed.py), through boto3: tags set on PutObject,
CopyObject, CreateMultipartUpload and Put/DeleteObjectTagging are the upstream's
own and read back (with their count on GET and HEAD)."""

from __future__ import annotations

import base64
import uuid
import zlib
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError
from conftest import RunningServer
from seaweed import SeaweedCluster
from test_s3_upstream_e2e import upstream_args, upstream_env

BUCKET = "parts"


@pytest.fixture
def gateway(seaweed: SeaweedCluster, make_server: Callable[..., RunningServer]) -> Any:
    """A ``serve --backend s3`` over the cluster with a fresh bucket ``parts``; gives
    (gateway client, upstream client, upstream bucket name)."""
    prefix = f"t{uuid.uuid4().hex[:8]}-"
    s3 = make_server(*upstream_args(seaweed, prefix), env=upstream_env(seaweed)).client()
    s3.create_bucket(Bucket=BUCKET)
    return s3, seaweed.client(), prefix + BUCKET


def tags_of(s3: Any, bucket: str, key: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]}


def tag_count(answer: dict[str, Any]) -> str | None:
    return answer["ResponseMetadata"]["HTTPHeaders"].get("x-amz-tagging-count")


def test_PutObjectTagging_upstream(gateway: Any) -> None:
    """Tags given on PutObject (non-ASCII too) are the upstream object's, GET and HEAD
    count them; PutObjectTagging replaces and DeleteObjectTagging removes them."""
    s3, upstream, real = gateway
    s3.put_object(Bucket=BUCKET, Key="k", Body=b"data", Tagging="a=1&b=%C3%A9t%C3%A9")
    assert tags_of(s3, BUCKET, "k") == {"a": "1", "b": "été"}
    assert tags_of(upstream, real, "k") == {"a": "1", "b": "été"}
    assert tag_count(s3.head_object(Bucket=BUCKET, Key="k")) == "2"
    got = s3.get_object(Bucket=BUCKET, Key="k")
    assert got["Body"].read() == b"data" and tag_count(got) == "2"
    s3.put_object_tagging(
        Bucket=BUCKET, Key="k", Tagging={"TagSet": [{"Key": "z", "Value": "a b+c=d:@"}]}
    )
    assert tags_of(upstream, real, "k") == {"z": "a b+c=d:@"}
    assert tags_of(s3, BUCKET, "k") == {"z": "a b+c=d:@"}
    s3.delete_object_tagging(Bucket=BUCKET, Key="k")
    assert tags_of(s3, BUCKET, "k") == {} == tags_of(upstream, real, "k")
    assert tag_count(s3.head_object(Bucket=BUCKET, Key="k")) is None
    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.get_object_tagging(Bucket=BUCKET, Key="missing")


def test_CopyObject_TaggingDirective_upstream(gateway: Any) -> None:
    """A copy keeps the source's tags by default (with metadata replaced too), takes
    x-amz-tagging with TaggingDirective REPLACE, and none when REPLACE names none."""
    s3, _, _ = gateway
    s3.put_object(Bucket=BUCKET, Key="src", Body=b"x", Tagging="keep=yes")
    source = {"Bucket": BUCKET, "Key": "src"}
    s3.copy_object(Bucket=BUCKET, Key="same", CopySource=source)
    s3.copy_object(
        Bucket=BUCKET,
        Key="meta",
        CopySource=source,
        MetadataDirective="REPLACE",
        Metadata={"m": "1"},
    )
    s3.copy_object(
        Bucket=BUCKET, Key="new", CopySource=source, TaggingDirective="REPLACE", Tagging="n=2"
    )
    s3.copy_object(Bucket=BUCKET, Key="none", CopySource=source, TaggingDirective="REPLACE")
    assert tags_of(s3, BUCKET, "same") == {"keep": "yes"}
    assert tags_of(s3, BUCKET, "meta") == {"keep": "yes"}
    assert s3.head_object(Bucket=BUCKET, Key="meta")["Metadata"] == {"m": "1"}
    assert tags_of(s3, BUCKET, "new") == {"n": "2"}
    assert tags_of(s3, BUCKET, "none") == {}


def test_CreateMultipartUpload_Tagging_upstream(gateway: Any) -> None:
    """Tags given on CreateMultipartUpload are the completed object's."""
    s3, upstream, real = gateway
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key="mp", Tagging="mp=1")["UploadId"]
    etag = s3.upload_part(Bucket=BUCKET, Key="mp", UploadId=upload, PartNumber=1, Body=b"p")["ETag"]
    s3.complete_multipart_upload(
        Bucket=BUCKET,
        Key="mp",
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
    )
    assert tags_of(s3, BUCKET, "mp") == {"mp": "1"} == tags_of(upstream, real, "mp")


def _two_part_object(s3: Any, key: str) -> tuple[bytes, bytes, list[dict[str, Any]], str]:
    """Upload ``key`` in two parts (5 MiB and 1 KiB); give the parts, the Complete's
    part list and the upload id (completed)."""
    first, second = b"a" * (5 * 1024 * 1024), b"b" * 1024
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
    parts = [
        {"PartNumber": n, "ETag": s3.upload_part(**_part(key, upload, n, body))["ETag"]}
        for n, body in ((1, first), (2, second))
    ]
    s3.complete_multipart_upload(
        Bucket=BUCKET, Key=key, UploadId=upload, MultipartUpload={"Parts": parts}
    )
    return first, second, parts, upload


def _part(key: str, upload: str, number: int, body: bytes) -> dict[str, Any]:
    return {"Bucket": BUCKET, "Key": key, "UploadId": upload, "PartNumber": number, "Body": body}


def test_GetObject_partNumber_upstream(gateway: Any) -> None:
    """GetObject and HeadObject with partNumber give exactly that part of an object
    completed through the gateway (place, length, parts count); a part it does not
    have is InvalidPart; a single-part object's part 1 is its whole body."""
    s3, _, _ = gateway
    first, second, _, _ = _two_part_object(s3, "mp")
    got = s3.get_object(Bucket=BUCKET, Key="mp", PartNumber=2)
    assert got["Body"].read() == second
    assert got["ContentRange"] == f"bytes {len(first)}-{len(first) + 1023}/{len(first) + 1024}"
    assert got["PartsCount"] == 2
    head = s3.head_object(Bucket=BUCKET, Key="mp", PartNumber=1)
    assert head["ContentLength"] == len(first) and head["PartsCount"] == 2
    assert head["ResponseMetadata"]["HTTPStatusCode"] == 206
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=BUCKET, Key="mp", PartNumber=3)
    assert exc.value.response["Error"]["Code"] == "InvalidPart"
    s3.put_object(Bucket=BUCKET, Key="one", Body=b"single")
    assert s3.get_object(Bucket=BUCKET, Key="one", PartNumber=1)["Body"].read() == b"single"


def test_CompleteMultipartUpload_retried_upstream(gateway: Any) -> None:
    """A retried Complete answers the same success while the key holds the object
    those parts make (here after another upload of the same parts replaced it, where
    the upstream itself answers NoSuchUpload), and NoSuchUpload once other bytes did."""
    s3, _, _ = gateway
    _, _, parts, upload = _two_part_object(s3, "mp")
    etag = s3.head_object(Bucket=BUCKET, Key="mp")["ETag"]
    again = {"Bucket": BUCKET, "Key": "mp", "UploadId": upload, "MultipartUpload": {"Parts": parts}}
    assert s3.complete_multipart_upload(**again)["ETag"] == etag
    _two_part_object(s3, "mp")  # the same bytes again, by another upload
    assert s3.complete_multipart_upload(**again)["ETag"] == etag
    s3.put_object(Bucket=BUCKET, Key="mp", Body=b"other bytes")
    with pytest.raises(s3.exceptions.NoSuchUpload):
        s3.complete_multipart_upload(**again)


def _crc32(data: bytes) -> bytes:
    return zlib.crc32(data).to_bytes(4, "big")


@pytest.mark.parametrize("kind", ["COMPOSITE", "FULL_OBJECT"])
def test_CompleteMultipartUpload_ChecksumCRC32_upstream(gateway: Any, kind: str) -> None:
    """An upload created with CRC32 keeps its part checksums upstream, and the
    Complete reports the object checksum the upstream object carries: the CRC32 of
    the part CRC32s with -N (COMPOSITE) or of the whole body (FULL_OBJECT)."""
    s3, upstream, real = gateway
    bodies = (b"a" * (5 * 1024 * 1024), b"b" * 1024)
    created = s3.create_multipart_upload(
        Bucket=BUCKET, Key="ck", ChecksumAlgorithm="CRC32", ChecksumType=kind
    )
    upload = created["UploadId"]
    parts = []
    for number, body in enumerate(bodies, 1):
        answer = s3.upload_part(**_part("ck", upload, number, body), ChecksumAlgorithm="CRC32")
        assert answer["ChecksumCRC32"] == base64.b64encode(_crc32(body)).decode()
        parts.append(
            {"PartNumber": number, "ETag": answer["ETag"], "ChecksumCRC32": answer["ChecksumCRC32"]}
        )
    done = s3.complete_multipart_upload(
        Bucket=BUCKET, Key="ck", UploadId=upload, MultipartUpload={"Parts": parts}
    )
    if kind == "COMPOSITE":
        digest = _crc32(b"".join(_crc32(b) for b in bodies))
        expected = base64.b64encode(digest).decode() + "-2"
    else:
        expected = base64.b64encode(_crc32(b"".join(bodies))).decode()
    assert done["ChecksumCRC32"] == expected and done["ChecksumType"] == kind
    direct = upstream.head_object(Bucket=real, Key="ck", ChecksumMode="ENABLED")
    assert direct["ChecksumCRC32"] == expected
    assert s3.get_object(Bucket=BUCKET, Key="ck")["Body"].read() == b"".join(bodies)
