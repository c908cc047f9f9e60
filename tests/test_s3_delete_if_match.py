"""DeleteObject with If-Match through boto3 and the aws cli against a real server: the
delete happens only when the current ETag matches (checked under the key's lock with
the delete), 412 PreconditionFailed otherwise, 404 NoSuchKey for a missing key; in a
versioned bucket a matching delete adds a delete marker; Drime answers NotImplemented."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from clients import aws, aws_env


def error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response = exc.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def test_DeleteObject_If_Match(s3, bucket) -> None:
    """A wrong ETag is 412 and the object stays; the right one (quoted or not) or
    ``*`` deletes; a missing key is 404."""
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"one")["ETag"]
    with pytest.raises(ClientError) as exc:
        s3.delete_object(Bucket=bucket, Key="k", IfMatch='"0123456789abcdef0123456789abcdef"')
    assert error(exc) == ("PreconditionFailed", 412)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"one"
    s3.delete_object(Bucket=bucket, Key="k", IfMatch=etag)
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="k")
    assert error(exc)[1] == 404
    with pytest.raises(ClientError) as exc:
        s3.delete_object(Bucket=bucket, Key="k", IfMatch=etag)
    assert error(exc) == ("NoSuchKey", 404)
    s3.put_object(Bucket=bucket, Key="star", Body=b"x")
    s3.delete_object(Bucket=bucket, Key="star", IfMatch="*")
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)


def test_DeleteObject_If_Match_in_a_versioned_bucket(s3, bucket) -> None:
    """A matching conditional delete adds a delete marker; with the latest version a
    marker, the key is absent (404)."""
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"one")
    with pytest.raises(ClientError) as exc:
        s3.delete_object(Bucket=bucket, Key="k", IfMatch='"ffffffffffffffffffffffffffffffff"')
    assert error(exc) == ("PreconditionFailed", 412)
    answer = s3.delete_object(Bucket=bucket, Key="k", IfMatch=put["ETag"])
    assert answer["DeleteMarker"] is True
    assert (
        s3.get_object(Bucket=bucket, Key="k", VersionId=put["VersionId"])["Body"].read() == b"one"
    )
    with pytest.raises(ClientError) as exc:
        s3.delete_object(Bucket=bucket, Key="k", IfMatch=put["ETag"])
    assert error(exc) == ("NoSuchKey", 404)


def test_DeleteObject_If_Match_with_the_aws_cli(server, bucket, tmp_path: Path) -> None:
    """aws s3api delete-object --if-match refuses a stale ETag and deletes with the
    current one."""
    env = aws_env(server, tmp_path)
    body = tmp_path / "body"
    body.write_bytes(b"data")
    target = ("--bucket", bucket, "--key", "k")
    aws(server, env, "s3api", "put-object", *target, "--body", str(body))
    stale = aws(server, env, "s3api", "delete-object", *target, "--if-match", '"00"', check=False)
    assert stale.returncode != 0 and "PreconditionFailed" in stale.output
    etag = json.loads(aws(server, env, "s3api", "head-object", *target).stdout)["ETag"]
    aws(server, env, "s3api", "delete-object", *target, "--if-match", etag)
    gone = aws(server, env, "s3api", "head-object", *target, check=False)
    assert gone.returncode != 0


def test_DeleteObject_If_Match_on_Drime_is_NotImplemented(drime) -> None:
    """Drime cannot check and delete in one step: NotImplemented naming it, nothing
    deleted."""
    s3 = drime.client()
    etag = s3.put_object(Bucket="default", Key="k", Body=b"x")["ETag"]
    with pytest.raises(ClientError) as exc:
        s3.delete_object(Bucket="default", Key="k", IfMatch=etag)
    assert error(exc) == ("NotImplemented", 501)
    assert "Drime" in exc.value.response["Error"]["Message"]
    assert s3.get_object(Bucket="default", Key="k")["Body"].read() == b"x"
