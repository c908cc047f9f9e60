"""GetObjectAttributes through boto3 and ``aws s3api get-object-attributes``."""

from __future__ import annotations

import base64
import hashlib
import json
import os

import pytest
from botocore.exceptions import ClientError
from clients import aws, aws_env

MiB = 1024 * 1024
ALL = ["ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"]


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response = exc.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def three_part_object(s3, bucket: str, key: str) -> list[bytes]:
    bodies = [os.urandom(5 * MiB), os.urandom(5 * MiB), b"last"]
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    parts = []
    for number, body in enumerate(bodies, start=1):
        etag = s3.upload_part(
            Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body
        )["ETag"]
        parts.append({"PartNumber": number, "ETag": etag})
    s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
    )
    return bodies


def test_GetObjectAttributes_of_a_single_put(s3, bucket) -> None:
    """ETag (unquoted), size, storage class and the verified checksum of a PUT; no
    parts for an object not uploaded in parts."""
    body = b"attributes of a plain object"
    put = s3.put_object(Bucket=bucket, Key="plain", Body=body, ChecksumAlgorithm="SHA256")
    got = s3.get_object_attributes(Bucket=bucket, Key="plain", ObjectAttributes=ALL)
    assert got["ETag"] == put["ETag"].strip('"') == hashlib.md5(body).hexdigest()
    assert got["ObjectSize"] == len(body)
    assert got["StorageClass"] == "STANDARD"
    sha256 = base64.b64encode(hashlib.sha256(body).digest()).decode()
    assert got["Checksum"] == {"ChecksumSHA256": sha256, "ChecksumType": "FULL_OBJECT"}
    assert "ObjectParts" not in got
    assert got["LastModified"] == s3.head_object(Bucket=bucket, Key="plain")["LastModified"]
    only_size = s3.get_object_attributes(
        Bucket=bucket, Key="plain", ObjectAttributes=["ObjectSize"]
    )
    assert "ETag" not in only_size and only_size["ObjectSize"] == len(body)


def test_GetObjectAttributes_ObjectParts_pages(s3, bucket) -> None:
    """A multipart object lists its parts, paged by MaxParts and PartNumberMarker."""
    bodies = three_part_object(s3, bucket, "parts")
    first = s3.get_object_attributes(
        Bucket=bucket, Key="parts", ObjectAttributes=["ObjectParts", "ETag"], MaxParts=2
    )
    assert first["ETag"].endswith("-3")
    page = first["ObjectParts"]
    assert page["TotalPartsCount"] == 3
    assert page["IsTruncated"] is True
    assert page["MaxParts"] == 2
    assert page["NextPartNumberMarker"] == 2
    assert [(p["PartNumber"], p["Size"]) for p in page["Parts"]] == [(1, 5 * MiB), (2, 5 * MiB)]
    rest = s3.get_object_attributes(
        Bucket=bucket, Key="parts", ObjectAttributes=["ObjectParts"], PartNumberMarker=2
    )["ObjectParts"]
    assert rest["IsTruncated"] is False
    assert rest["PartNumberMarker"] == 2
    assert [(p["PartNumber"], p["Size"]) for p in rest["Parts"]] == [(3, len(bodies[2]))]


def test_GetObjectAttributes_errors(s3, bucket) -> None:
    """An unknown attribute name is InvalidArgument; a missing key is NoSuchKey."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    with pytest.raises(ClientError) as exc:
        s3.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=["Colour"])
    assert error_of(exc) == ("InvalidArgument", 400)
    with pytest.raises(ClientError) as exc:
        s3.get_object_attributes(Bucket=bucket, Key="missing", ObjectAttributes=["ETag"])
    assert error_of(exc) == ("NoSuchKey", 404)


def test_GetObjectAttributes_through_the_aws_cli(server, s3, bucket, tmp_path) -> None:
    """``aws s3api get-object-attributes`` reads ETag, size and parts."""
    three_part_object(s3, bucket, "cli")
    env = aws_env(server, tmp_path / "home")
    attributes = ("ETag", "ObjectSize", "ObjectParts")
    result = aws(server, env, "s3api", "get-object-attributes", "--bucket", bucket,
                 "--key", "cli", "--object-attributes", *attributes)  # fmt: skip
    answer = json.loads(result.stdout)
    assert answer["ObjectSize"] == 10 * MiB + 4
    assert answer["ETag"].endswith("-3")
    assert answer["ObjectParts"]["TotalPartsCount"] == 3
