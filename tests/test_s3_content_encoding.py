"""``Content-Encoding: aws-chunked`` over a body that is not aws-chunked: decoded by
the payload hash (x-amz-content-sha256) as AWS does, and ``aws-chunked`` left out of
the stored Content-Encoding; through boto3 and the aws cli against a real server."""

from __future__ import annotations

import gzip
from pathlib import Path

from clients import aws, aws_env
from conftest import RunningServer

#: Looks like an aws-chunked chunk header, so a server that decoded by
#: Content-Encoding would mangle or refuse it.
TRICKY = b"10;chunk-signature=" + b"0" * 64 + b"\r\n" + bytes(range(256)) * 64


def test_PutObject_content_encoding_aws_chunked_plain_body(s3, bucket: str) -> None:
    """A plain body sent with Content-Encoding aws-chunked is stored byte for byte and
    no Content-Encoding is stored; ``gzip, aws-chunked`` stores ``gzip``."""
    s3.put_object(Bucket=bucket, Key="plain", Body=TRICKY, ContentEncoding="aws-chunked")
    got = s3.get_object(Bucket=bucket, Key="plain")
    assert got["Body"].read() == TRICKY
    assert "ContentEncoding" not in got
    packed = gzip.compress(b"hello " * 1000)
    s3.put_object(Bucket=bucket, Key="gz", Body=packed, ContentEncoding="gzip, aws-chunked")
    head = s3.head_object(Bucket=bucket, Key="gz")
    assert head["ContentEncoding"] == "gzip"
    got = s3.get_object(Bucket=bucket, Key="gz")
    assert got["Body"].read() == packed


def test_UploadPart_content_encoding_aws_chunked_plain_body(s3, bucket: str) -> None:
    """A part sent with Content-Encoding aws-chunked over a plain body is stored as sent,
    and the upload's ``gzip, aws-chunked`` is stored as ``gzip``."""
    upload = s3.create_multipart_upload(
        Bucket=bucket, Key="mp", ContentEncoding="gzip, aws-chunked"
    )

    def declare_aws_chunked(params: dict, **_: object) -> None:
        # UploadPart has no ContentEncoding parameter; some clients send it anyway.
        params["headers"]["Content-Encoding"] = "aws-chunked"

    s3.meta.events.register("before-call.s3.UploadPart", declare_aws_chunked)
    part = s3.upload_part(
        Bucket=bucket,
        Key="mp",
        UploadId=upload["UploadId"],
        PartNumber=1,
        Body=TRICKY,
    )
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="mp",
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    got = s3.get_object(Bucket=bucket, Key="mp")
    assert got["Body"].read() == TRICKY
    assert got["ContentEncoding"] == "gzip"


def test_PutObject_aws_cli_content_encoding_aws_chunked(
    server: RunningServer, s3, bucket: str, tmp_path: Path
) -> None:
    """``aws s3api put-object --content-encoding aws-chunked`` stores the file as sent."""
    source = tmp_path / "data.bin"
    source.write_bytes(TRICKY)
    env = aws_env(server, tmp_path)
    aws(
        server,
        env,
        "s3api",
        "put-object",
        "--bucket",
        bucket,
        "--key",
        "cli",
        "--body",
        str(source),
        "--content-encoding",
        "aws-chunked",
    )
    got = s3.get_object(Bucket=bucket, Key="cli")
    assert got["Body"].read() == TRICKY
    assert "ContentEncoding" not in got
