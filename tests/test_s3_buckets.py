"""Bucket operations and the two bucket modes, as the spec states them."""

from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError
from conftest import RunningServer


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return exc.value.response["Error"]["Code"]


@pytest.fixture(scope="module")
def default_server(tmp_path_factory) -> RunningServer:
    from conftest import start_server

    running = start_server(tmp_path_factory.mktemp("default-mode"))
    yield running
    running.stop()


def test_default_mode_ListBuckets_shows_only_default(default_server: RunningServer) -> None:
    s3 = default_server.client()
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["default"]


def test_default_mode_CreateBucket(default_server: RunningServer) -> None:
    """CreateBucket 'default' succeeds; another name is TooManyBuckets saying what to do."""
    s3 = default_server.client()
    s3.create_bucket(Bucket="default")
    with pytest.raises(ClientError) as exc:
        s3.create_bucket(Bucket="other-bucket")
    assert code(exc) == "TooManyBuckets"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    message = exc.value.response["Error"]["Message"]
    assert "'default'" in message and "--allow-bucket-creation" in message
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["default"]
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket="other-bucket", Key="k", Body=b"x")
    assert code(exc) == "NoSuchBucket"
    message = exc.value.response["Error"]["Message"]
    assert "'default'" in message and "--allow-bucket-creation" in message
    with pytest.raises(ClientError) as exc:
        s3.head_bucket(Bucket="other-bucket")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_default_mode_CreateBucket_invalid_name(default_server: RunningServer) -> None:
    """In default mode a name no bucket can have is still InvalidBucketName."""
    with pytest.raises(ClientError) as exc:
        default_server.client().create_bucket(Bucket="Bad_Name")
    assert code(exc) == "InvalidBucketName"


def test_default_mode_DeleteBucket_default_is_BucketNotEmpty(default_server) -> None:
    s3 = default_server.client()
    with pytest.raises(ClientError) as exc:
        s3.delete_bucket(Bucket="default")
    assert code(exc) == "BucketNotEmpty"
    s3.head_bucket(Bucket="default")


def test_default_bucket_data_survives_a_mode_switch(make_server, tmp_path) -> None:
    """The default bucket is stored like any other bucket, so advanced mode shows it."""
    first = make_server(data_dir=tmp_path)
    first.client().put_object(Bucket="default", Key="keep/me", Body=b"data")
    first.stop()
    second = make_server("--allow-bucket-creation", data_dir=tmp_path)
    s3 = second.client()
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["default"]
    assert s3.get_object(Bucket="default", Key="keep/me")["Body"].read() == b"data"
    assert (tmp_path / "default" / "objects" / "keep" / "me").read_bytes() == b"data"


def test_advanced_mode_bucket_life_cycle(s3) -> None:
    name = f"life-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    s3.head_bucket(Bucket=name)
    with pytest.raises(ClientError) as exc:
        s3.create_bucket(Bucket=name)
    assert code(exc) == "BucketAlreadyOwnedByYou"
    s3.put_object(Bucket=name, Key="k", Body=b"x")
    with pytest.raises(ClientError) as exc:
        s3.delete_bucket(Bucket=name)
    assert code(exc) == "BucketNotEmpty"
    s3.delete_object(Bucket=name, Key="k")
    s3.delete_bucket(Bucket=name)
    with pytest.raises(ClientError) as exc:
        s3.head_bucket(Bucket=name)
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(ClientError) as exc:
        s3.delete_bucket(Bucket=name)
    assert code(exc) == "NoSuchBucket"


@pytest.mark.parametrize(
    "name", ["ab", "UPPER", "-dash", "dot..dot", "192.168.1.1", "under_score", "a" * 64]
)
def test_CreateBucket_invalid_names(s3, name) -> None:
    with pytest.raises(ClientError) as exc:
        s3.create_bucket(Bucket=name)
    assert code(exc) == "InvalidBucketName"


def test_GetBucketLocation_answers_the_configured_region(s3, bucket) -> None:
    location = s3.get_bucket_location(Bucket=bucket)
    # us-east-1 is answered as an empty constraint, as AWS does.
    assert location.get("LocationConstraint") in (None, "")


def test_GetBucketLocation_other_region(make_server) -> None:
    server = make_server("--allow-bucket-creation", "--region", "eu-west-3")
    server.region = "eu-west-3"
    s3 = server.client()
    s3.create_bucket(
        Bucket="regional", CreateBucketConfiguration={"LocationConstraint": "eu-west-3"}
    )
    assert s3.get_bucket_location(Bucket="regional")["LocationConstraint"] == "eu-west-3"


def test_bucket_subresources(s3, bucket) -> None:
    assert s3.get_bucket_versioning(Bucket=bucket).get("Status") is None
    assert s3.get_bucket_acl(Bucket=bucket)["Grants"][0]["Permission"] == "FULL_CONTROL"
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_policy(Bucket=bucket)
    assert code(exc) == "NoSuchBucketPolicy"
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert code(exc) == "NoSuchLifecycleConfiguration"
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"


def test_readonly_server_refuses_writes(make_server, tmp_path) -> None:
    writable = make_server(data_dir=tmp_path)
    writable.client().put_object(Bucket="default", Key="k", Body=b"v")
    writable.stop()
    readonly = make_server("--readonly", data_dir=tmp_path)
    s3 = readonly.client()
    assert s3.get_object(Bucket="default", Key="k")["Body"].read() == b"v"
    for call in (
        lambda: s3.put_object(Bucket="default", Key="k2", Body=b"x"),
        lambda: s3.delete_object(Bucket="default", Key="k"),
        lambda: s3.create_multipart_upload(Bucket="default", Key="m"),
    ):
        with pytest.raises(ClientError) as exc:
            call()
        assert code(exc) == "AccessDenied"
    assert s3.get_object(Bucket="default", Key="k")["Body"].read() == b"v"
