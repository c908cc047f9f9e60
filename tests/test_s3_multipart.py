"""Multipart uploads through boto3."""

from __future__ import annotations

import hashlib
import os

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

MiB = 1024 * 1024


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return exc.value.response["Error"]["Code"]


def test_upload_file_and_download_file_multipart(s3, bucket, tmp_path) -> None:
    """boto3's managed transfer: parallel parts up, parallel ranged GETs down."""
    source = tmp_path / "src.bin"
    data = os.urandom(23 * MiB + 123)
    source.write_bytes(data)
    config = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB)
    s3.upload_file(str(source), bucket, "big/file", Config=config)
    head = s3.head_object(Bucket=bucket, Key="big/file")
    part_md5s = b"".join(
        hashlib.md5(data[i : i + 5 * MiB]).digest() for i in range(0, len(data), 5 * MiB)
    )
    assert head["ETag"] == f'"{hashlib.md5(part_md5s).hexdigest()}-5"'
    assert head["ContentLength"] == len(data)
    target = tmp_path / "dst.bin"
    s3.download_file(bucket, "big/file", str(target), Config=config)
    assert target.read_bytes() == data


def test_multipart_life_cycle(s3, bucket) -> None:
    upload = s3.create_multipart_upload(
        Bucket=bucket, Key="mp", ContentType="text/x", Metadata={"m": "1"}
    )
    upload_id = upload["UploadId"]
    part1 = s3.upload_part(
        Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=1, Body=b"a" * (5 * MiB)
    )
    # Re-uploading a part number replaces it.
    s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=2, Body=b"old")
    part2 = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=2, Body=b"b")
    parts = s3.list_parts(Bucket=bucket, Key="mp", UploadId=upload_id)["Parts"]
    assert [(p["PartNumber"], p["Size"], p["ETag"]) for p in parts] == [
        (1, 5 * MiB, part1["ETag"]),
        (2, 1, part2["ETag"]),
    ]
    listed = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert [(u["Key"], u["UploadId"]) for u in listed] == [("mp", upload_id)]
    done = s3.complete_multipart_upload(
        Bucket=bucket,
        Key="mp",
        UploadId=upload_id,
        MultipartUpload={
            "Parts": [
                {"PartNumber": 1, "ETag": part1["ETag"]},
                {"PartNumber": 2, "ETag": part2["ETag"]},
            ]
        },
    )
    assert done["ETag"].endswith('-2"')
    got = s3.get_object(Bucket=bucket, Key="mp")
    assert got["Body"].read() == b"a" * (5 * MiB) + b"b"
    assert got["ContentType"] == "text/x" and got["Metadata"] == {"m": "1"}
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_multipart_errors(s3, bucket) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="e")["UploadId"]
    small = s3.upload_part(Bucket=bucket, Key="e", UploadId=upload_id, PartNumber=1, Body=b"s")
    last = s3.upload_part(Bucket=bucket, Key="e", UploadId=upload_id, PartNumber=2, Body=b"l")

    def complete(parts: list[dict[str, object]]) -> None:
        s3.complete_multipart_upload(
            Bucket=bucket, Key="e", UploadId=upload_id, MultipartUpload={"Parts": parts}
        )

    with pytest.raises(ClientError) as exc:
        complete(
            [{"PartNumber": 1, "ETag": small["ETag"]}, {"PartNumber": 2, "ETag": last["ETag"]}]
        )
    assert code(exc) == "EntityTooSmall"
    with pytest.raises(ClientError) as exc:
        complete(
            [{"PartNumber": 2, "ETag": last["ETag"]}, {"PartNumber": 1, "ETag": small["ETag"]}]
        )
    assert code(exc) == "InvalidPartOrder"
    with pytest.raises(ClientError) as exc:
        complete([{"PartNumber": 3, "ETag": last["ETag"]}])
    assert code(exc) == "InvalidPart"
    with pytest.raises(ClientError) as exc:
        s3.upload_part(Bucket=bucket, Key="e", UploadId=upload_id, PartNumber=10001, Body=b"x")
    assert code(exc) == "InvalidArgument"
    with pytest.raises(ClientError) as exc:
        s3.upload_part(Bucket=bucket, Key="other", UploadId=upload_id, PartNumber=1, Body=b"x")
    assert code(exc) == "NoSuchUpload"
    s3.abort_multipart_upload(Bucket=bucket, Key="e", UploadId=upload_id)
    with pytest.raises(ClientError) as exc:
        s3.list_parts(Bucket=bucket, Key="e", UploadId=upload_id)
    assert code(exc) == "NoSuchUpload"
    with pytest.raises(ClientError) as exc:
        s3.abort_multipart_upload(Bucket=bucket, Key="e", UploadId="../../etc")
    assert code(exc) == "NoSuchUpload"
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="e")


def test_UploadPartCopy(s3, bucket) -> None:
    data = os.urandom(6 * MiB)
    s3.put_object(Bucket=bucket, Key="source", Body=data)
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="assembled")["UploadId"]
    first = s3.upload_part_copy(
        Bucket=bucket,
        Key="assembled",
        UploadId=upload_id,
        PartNumber=1,
        CopySource={"Bucket": bucket, "Key": "source"},
        CopySourceRange=f"bytes=0-{5 * MiB - 1}",
    )
    second = s3.upload_part_copy(
        Bucket=bucket,
        Key="assembled",
        UploadId=upload_id,
        PartNumber=2,
        CopySource={"Bucket": bucket, "Key": "source"},
        CopySourceRange=f"bytes={5 * MiB}-{6 * MiB - 1}",
    )
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="assembled",
        UploadId=upload_id,
        MultipartUpload={
            "Parts": [
                {"PartNumber": 1, "ETag": first["CopyPartResult"]["ETag"]},
                {"PartNumber": 2, "ETag": second["CopyPartResult"]["ETag"]},
            ]
        },
    )
    assert s3.get_object(Bucket=bucket, Key="assembled")["Body"].read() == data


def test_multipart_survives_a_restart(make_server, tmp_path) -> None:
    """Upload state lives in the data directory: a restarted server completes it."""
    first = make_server(data_dir=tmp_path)
    s3 = first.client()
    upload_id = s3.create_multipart_upload(Bucket="default", Key="resumed")["UploadId"]
    part = s3.upload_part(
        Bucket="default", Key="resumed", UploadId=upload_id, PartNumber=1, Body=b"persisted"
    )
    first.stop()
    second = make_server(data_dir=tmp_path)
    s3 = second.client()
    s3.complete_multipart_upload(
        Bucket="default",
        Key="resumed",
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    assert s3.get_object(Bucket="default", Key="resumed")["Body"].read() == b"persisted"
