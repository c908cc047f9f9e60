"""Objects made by CompleteMultipartUpload: a retried Complete, and reads by part
number (GetObject and HeadObject with ``partNumber``), through boto3 and the aws cli."""

from __future__ import annotations

import json
import os

import pytest
from botocore.exceptions import ClientError
from clients import aws, aws_env
from fake_drime import FakeDrime
from test_drime_e2e import start_drime_server

MiB = 1024 * 1024
#: Three full parts and a short last one, each with its own bytes.
PART_SIZES = (5 * MiB, 5 * MiB, 5 * MiB, 1234)


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response = exc.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def upload_in_parts(s3, bucket: str, key: str, parts: dict[int, bytes]) -> tuple[str, list]:
    """Upload ``parts`` (number -> bytes) and return the upload id and Complete's list."""
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    completed = []
    for number, body in sorted(parts.items()):
        etag = s3.upload_part(
            Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body
        )["ETag"]
        completed.append({"PartNumber": number, "ETag": etag})
    return upload_id, completed


def complete(s3, bucket: str, key: str, upload_id: str, parts: list) -> dict:
    return s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
    )


def four_parts() -> dict[int, bytes]:
    return {n: os.urandom(size) for n, size in enumerate(PART_SIZES, start=1)}


def test_CompleteMultipartUpload_retried_answers_the_same_result(s3, bucket) -> None:
    """A Complete sent again after success answers success with the same ETag, until
    the object is replaced; an unknown upload id stays NoSuchUpload."""
    upload_id, parts = upload_in_parts(s3, bucket, "retried", {1: b"a" * 5 * MiB, 2: b"b"})
    first = complete(s3, bucket, "retried", upload_id, parts)
    again = complete(s3, bucket, "retried", upload_id, parts)
    assert again["ETag"] == first["ETag"]
    assert (again["Bucket"], again["Key"]) == (bucket, "retried")
    assert s3.get_object(Bucket=bucket, Key="retried")["Body"].read() == b"a" * 5 * MiB + b"b"
    with pytest.raises(ClientError) as exc:
        complete(s3, bucket, "retried", "no-such-upload", parts)
    assert error_of(exc) == ("NoSuchUpload", 404)
    # Another part list is not the Complete that was answered.
    with pytest.raises(ClientError) as exc:
        complete(s3, bucket, "retried", upload_id, parts[:1])
    assert error_of(exc) == ("NoSuchUpload", 404)
    s3.put_object(Bucket=bucket, Key="retried", Body=b"replaced")
    with pytest.raises(ClientError) as exc:
        complete(s3, bucket, "retried", upload_id, parts)
    assert error_of(exc) == ("NoSuchUpload", 404)


def test_CompleteMultipartUpload_retried_after_a_restart_and_on_workers(
    make_server, tmp_path
) -> None:
    """The retry succeeds on a restarted server and on every worker of --workers."""
    first = make_server(data_dir=tmp_path)
    s3 = first.client()
    upload_id, parts = upload_in_parts(s3, "default", "kept", {1: b"x" * 5 * MiB, 2: b"y"})
    etag = complete(s3, "default", "kept", upload_id, parts)["ETag"]
    first.stop()
    workers = make_server("--workers", "2", data_dir=tmp_path)
    for _ in range(6):  # new connections: the kernel spreads them over both workers
        assert complete(workers.client(), "default", "kept", upload_id, parts)["ETag"] == etag


def test_GetObject_partNumber_serves_exactly_that_part(s3, bucket) -> None:
    """Each part number answers 206 with that part's bytes, its Content-Range and the
    object's parts count."""
    parts = four_parts()
    upload_id, listed = upload_in_parts(s3, bucket, "by-part", parts)
    complete(s3, bucket, "by-part", upload_id, listed)
    total = sum(PART_SIZES)
    start = 0
    for number, body in parts.items():
        got = s3.get_object(Bucket=bucket, Key="by-part", PartNumber=number)
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert got["Body"].read() == body
        assert got["ContentLength"] == len(body)
        assert got["ContentRange"] == f"bytes {start}-{start + len(body) - 1}/{total}"
        assert got["PartsCount"] == 4
        start += len(body)


def test_HeadObject_partNumber_describes_that_part(s3, bucket) -> None:
    """HEAD with a part number gives the part's length and range, 206."""
    parts = four_parts()
    upload_id, listed = upload_in_parts(s3, bucket, "head-part", parts)
    complete(s3, bucket, "head-part", upload_id, listed)
    head = s3.head_object(Bucket=bucket, Key="head-part", PartNumber=4)
    assert head["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert head["ContentLength"] == 1234
    assert head["ContentRange"] == f"bytes {15 * MiB}-{15 * MiB + 1233}/{15 * MiB + 1234}"
    assert head["PartsCount"] == 4


def test_GetObject_partNumber_out_of_range_is_InvalidPart(s3, bucket) -> None:
    """A part the object does not have is 400 InvalidPart, on GET and HEAD; a part
    number together with a Range header is InvalidRequest."""
    upload_id, listed = upload_in_parts(s3, bucket, "few", {1: b"p" * 5 * MiB, 2: b"q"})
    complete(s3, bucket, "few", upload_id, listed)
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="few", PartNumber=3)
    assert error_of(exc) == ("InvalidPart", 400)
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="few", PartNumber=3)
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="few", PartNumber=1, Range="bytes=0-1")
    assert error_of(exc) == ("InvalidRequest", 400)


def test_GetObject_partNumber_on_parts_numbered_with_gaps(s3, bucket) -> None:
    """Parts completed as 1 and 3 are read by those numbers; 2 is not a part."""
    upload_id, listed = upload_in_parts(s3, bucket, "gaps", {1: b"1" * 5 * MiB, 3: b"three"})
    complete(s3, bucket, "gaps", upload_id, listed)
    got = s3.get_object(Bucket=bucket, Key="gaps", PartNumber=3)
    assert got["Body"].read() == b"three"
    assert got["PartsCount"] == 2
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="gaps", PartNumber=2)
    assert error_of(exc) == ("InvalidPart", 400)


def test_GetObject_partNumber_on_an_object_not_uploaded_in_parts(s3, bucket) -> None:
    """Part 1 of a single PUT is the whole object (206); part 2 is InvalidPart."""
    s3.put_object(Bucket=bucket, Key="single", Body=b"whole object")
    got = s3.get_object(Bucket=bucket, Key="single", PartNumber=1)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert got["Body"].read() == b"whole object"
    assert got["ContentRange"] == "bytes 0-11/12"
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="single", PartNumber=2)
    assert error_of(exc) == ("InvalidPart", 400)


def test_GetObject_partNumber_through_the_aws_cli(server, s3, bucket, tmp_path) -> None:
    """``aws s3api get-object --part-number`` writes exactly that part."""
    parts = {1: os.urandom(5 * MiB), 2: b"the last part"}
    upload_id, listed = upload_in_parts(s3, bucket, "cli", parts)
    complete(s3, bucket, "cli", upload_id, listed)
    target = tmp_path / "part2"
    env = aws_env(server, tmp_path / "home")
    result = aws(server, env, "s3api", "get-object", "--bucket", bucket, "--key", "cli",
                 "--part-number", "2", str(target))  # fmt: skip
    assert json.loads(result.stdout)["PartsCount"] == 2
    assert target.read_bytes() == b"the last part"


def test_CompleteMultipartUpload_retry_and_GetObject_partNumber_on_Drime(tmp_path) -> None:
    """On the Drime backend (the fake Drime), a retried Complete succeeds, also on a
    restarted server, and each part number reads exactly that part's bytes."""
    parts = {1: os.urandom(5 * MiB), 2: os.urandom(5 * MiB), 3: b"tail of the object"}
    with FakeDrime() as fake:
        first = start_drime_server(fake, tmp_path / "a", cache_db=tmp_path / "cache.db")
        try:
            s3 = first.client()
            upload_id, listed = upload_in_parts(s3, "default", "mp/obj", parts)
            etag = complete(s3, "default", "mp/obj", upload_id, listed)["ETag"]
            assert complete(s3, "default", "mp/obj", upload_id, listed)["ETag"] == etag
        finally:
            first.stop()
        second = start_drime_server(fake, tmp_path / "b", cache_db=tmp_path / "cache.db")
        try:
            s3 = second.client()
            assert complete(s3, "default", "mp/obj", upload_id, listed)["ETag"] == etag
            for number, body in parts.items():
                got = s3.get_object(Bucket="default", Key="mp/obj", PartNumber=number)
                assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
                assert got["PartsCount"] == 3
                assert got["Body"].read() == body
            with pytest.raises(ClientError) as exc:
                s3.head_object(Bucket="default", Key="mp/obj", PartNumber=4)
            assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        finally:
            second.stop()
