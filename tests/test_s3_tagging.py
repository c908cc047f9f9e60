"""Object tagging through boto3 and the aws cli against real servers: Put/Get/
DeleteObjectTagging, x-amz-tagging on PutObject and CreateMultipartUpload, CopyObject's
tagging directive, x-amz-tagging-count, AWS's limits; NotImplemented on Drime."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlencode

import pytest
from botocore.exceptions import ClientError
from clients import aws, aws_env, upload_in_one_part
from conftest import RunningServer

TAGS = {"project": "blue sky", "owner": "Zoë", "empty": "", "path": "a/b+c=d&e"}


def _tag_set(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def _tags(s3, bucket: str, key: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]}


def _code(caught: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response = caught.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def test_PutObjectTagging_GetObjectTagging_DeleteObjectTagging(s3, bucket: str) -> None:
    """Tags are set, read back, counted on GET and HEAD and removed, while the object's
    data, ETag, Last-Modified and metadata stay as they were."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"data", Metadata={"m": "1"})
    before = s3.head_object(Bucket=bucket, Key="k")
    assert _tags(s3, bucket, "k") == {}
    assert "TagCount" not in before
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": _tag_set(TAGS)})
    assert _tags(s3, bucket, "k") == TAGS
    head = s3.head_object(Bucket=bucket, Key="k")
    assert head["TagCount"] == len(TAGS)
    assert (head["ETag"], head["LastModified"], head["Metadata"]) == (
        before["ETag"],
        before["LastModified"],
        before["Metadata"],
    )
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["TagCount"] == len(TAGS)
    assert got["Body"].read() == b"data"
    # A new tag set replaces the old one entirely.
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": _tag_set({"x": "y"})})
    assert _tags(s3, bucket, "k") == {"x": "y"}
    response = s3.delete_object_tagging(Bucket=bucket, Key="k")
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert _tags(s3, bucket, "k") == {}
    assert "TagCount" not in s3.head_object(Bucket=bucket, Key="k")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"data"
    for call in (
        lambda: s3.get_object_tagging(Bucket=bucket, Key="missing"),
        lambda: s3.put_object_tagging(Bucket=bucket, Key="missing", Tagging={"TagSet": []}),
        lambda: s3.delete_object_tagging(Bucket=bucket, Key="missing"),
    ):
        with pytest.raises(ClientError) as caught:
            call()
        assert _code(caught) == ("NoSuchKey", 404)


def test_PutObject_and_CreateMultipartUpload_x_amz_tagging(s3, bucket: str) -> None:
    """x-amz-tagging (URL-encoded) on PutObject and CreateMultipartUpload tags the
    object; an overwrite without it leaves the new object untagged."""
    s3.put_object(Bucket=bucket, Key="p", Body=b"x", Tagging=urlencode(TAGS))
    assert _tags(s3, bucket, "p") == TAGS
    upload_in_one_part(s3, bucket, "mp", b"y", Tagging="a=1&b=2")
    assert _tags(s3, bucket, "mp") == {"a": "1", "b": "2"}
    assert s3.head_object(Bucket=bucket, Key="mp")["TagCount"] == 2
    s3.put_object(Bucket=bucket, Key="p", Body=b"new")
    assert _tags(s3, bucket, "p") == {}


def test_CopyObject_tagging_directive(s3, bucket: str) -> None:
    """CopyObject copies the source's tags by default (also with the metadata
    directive REPLACE), takes x-amz-tagging with REPLACE, and refuses other values."""
    s3.put_object(Bucket=bucket, Key="src", Body=b"x", Tagging="a=1")
    source = f"{bucket}/src"
    s3.copy_object(Bucket=bucket, Key="c1", CopySource=source)
    assert _tags(s3, bucket, "c1") == {"a": "1"}
    s3.copy_object(
        Bucket=bucket, Key="c2", CopySource=source, MetadataDirective="REPLACE", Metadata={}
    )
    assert _tags(s3, bucket, "c2") == {"a": "1"}
    s3.copy_object(
        Bucket=bucket, Key="c3", CopySource=source, TaggingDirective="REPLACE", Tagging="b=2"
    )
    assert _tags(s3, bucket, "c3") == {"b": "2"}
    s3.copy_object(Bucket=bucket, Key="c4", CopySource=source, TaggingDirective="REPLACE")
    assert _tags(s3, bucket, "c4") == {}
    assert _tags(s3, bucket, "src") == {"a": "1"}
    with pytest.raises(ClientError) as caught:
        s3.copy_object(Bucket=bucket, Key="c5", CopySource=source, TaggingDirective="MERGE")
    assert _code(caught) == ("InvalidArgument", 400)


def test_PutObjectTagging_limits(s3, bucket: str) -> None:
    """AWS's limits: 10 tags (BadRequest past that), keys up to 128 and values up to
    256 characters, no aws: keys and no key twice (InvalidTag); a refused tag set
    changes nothing, and a PutObject with one stores nothing."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Tagging="keep=me")
    longest = {f"k{i}-" + "k" * 124: "v" * 256 for i in range(10)}
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": _tag_set(longest)})
    assert _tags(s3, bucket, "k") == longest
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": _tag_set({"keep": "me"})})
    refused = {
        "BadRequest": _tag_set({f"t{i}": "v" for i in range(11)}),
        "InvalidTag": _tag_set({"k" * 129: "v"}),
    }
    for code, tag_set in refused.items():
        with pytest.raises(ClientError) as caught:
            s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": tag_set})
        assert _code(caught) == (code, 400)
    for tag_set in (
        _tag_set({"k": "v" * 257}),
        _tag_set({"aws:owner": "me"}),
        [{"Key": "dup", "Value": "1"}, {"Key": "dup", "Value": "2"}],
    ):
        with pytest.raises(ClientError) as caught:
            s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": tag_set})
        assert _code(caught) == ("InvalidTag", 400)
    assert _tags(s3, bucket, "k") == {"keep": "me"}
    with pytest.raises(ClientError) as caught:
        s3.put_object(
            Bucket=bucket, Key="new", Body=b"x", Tagging="&".join(f"t{i}=v" for i in range(11))
        )
    assert _code(caught) == ("BadRequest", 400)
    with pytest.raises(ClientError) as caught:
        s3.put_object(Bucket=bucket, Key="new", Body=b"x", Tagging="a=1&a=2")
    assert _code(caught) == ("InvalidTag", 400)
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="new")


def test_PutObjectTagging_survives_a_restart(make_server, tmp_path: Path) -> None:
    """Tags are stored with the object: a new server process on the same directory
    reads them back."""
    first = make_server("--allow-bucket-creation", data_dir=tmp_path)
    s3 = first.client()
    s3.create_bucket(Bucket="tags")
    s3.put_object(Bucket="tags", Key="k", Body=b"x")
    s3.put_object_tagging(Bucket="tags", Key="k", Tagging={"TagSet": _tag_set(TAGS)})
    first.stop()
    second = make_server("--allow-bucket-creation", data_dir=tmp_path)
    assert _tags(second.client(), "tags", "k") == TAGS


def test_PutObjectTagging_aws_cli(server: RunningServer, s3, bucket: str, tmp_path: Path) -> None:
    """``aws s3api put-object-tagging`` / ``get-object-tagging`` /
    ``delete-object-tagging`` work end to end."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    env = aws_env(server, tmp_path)
    target = ("--bucket", bucket, "--key", "k")
    aws(server, env, "s3api", "put-object-tagging", *target, "--tagging",
        "TagSet=[{Key=team,Value=backup},{Key=tier,Value=cold}]")  # fmt: skip
    out = aws(server, env, "s3api", "get-object-tagging", *target, "--output", "json")
    assert {t["Key"]: t["Value"] for t in json.loads(out.stdout)["TagSet"]} == {
        "team": "backup",
        "tier": "cold",
    }
    aws(server, env, "s3api", "delete-object-tagging", *target)
    assert _tags(s3, bucket, "k") == {}


# --------------------------------------------------------------------------- Drime


def test_ObjectTagging_on_Drime_is_NotImplemented(drime: RunningServer) -> None:
    """Drime cannot keep tags: every request that would set some answers
    NotImplemented and stores nothing; its objects truthfully have none."""
    s3 = drime.client()
    s3.put_object(Bucket="default", Key="k", Body=b"x")
    attempts = [
        lambda: s3.put_object(Bucket="default", Key="t", Body=b"x", Tagging="a=1"),
        lambda: s3.put_object_tagging(
            Bucket="default", Key="k", Tagging={"TagSet": _tag_set({"a": "1"})}
        ),
        lambda: s3.create_multipart_upload(Bucket="default", Key="t", Tagging="a=1"),
        lambda: s3.copy_object(
            Bucket="default",
            Key="t",
            CopySource="default/k",
            TaggingDirective="REPLACE",
            Tagging="a=1",
        ),
    ]
    for attempt in attempts:
        with pytest.raises(ClientError) as caught:
            attempt()
        assert _code(caught) == ("NotImplemented", 501)
    with pytest.raises(ClientError):
        s3.head_object(Bucket="default", Key="t")
    assert s3.list_multipart_uploads(Bucket="default").get("Uploads", []) == []
    assert _tags(s3, "default", "k") == {}
    s3.put_object_tagging(Bucket="default", Key="k", Tagging={"TagSet": []})
    assert (
        s3.delete_object_tagging(Bucket="default", Key="k")["ResponseMetadata"]["HTTPStatusCode"]
        == 204
    )
    s3.copy_object(Bucket="default", Key="copy", CopySource="default/k")
    assert s3.get_object(Bucket="default", Key="copy")["Body"].read() == b"x"
