"""Object Lock on ``pys3local serve --backend s3`` over a real SeaweedFS cluster
(tests/seaweed.py, whose S3 gateway keeps and enforces lock), through boto3: in the
buckets layout the lock configuration, retentions and legal holds are the upstream's
and it refuses the removal of a protected version; in the prefix layout Object Lock
answers NotImplemented saying why."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from botocore.exceptions import ClientError
from clients import upload_in_one_part
from conftest import RunningServer
from keys_support import add_key, error_code, key_client
from seaweed import SeaweedCluster
from test_s3_upstream_e2e import upstream_args, upstream_env

BUCKET = "locked"


def failure(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    response = exc.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def later(hours: int = 1) -> datetime:
    return (datetime.now(timezone.utc) + timedelta(hours=hours)).replace(microsecond=0)


@pytest.fixture
def locked(seaweed: SeaweedCluster, make_server: Callable[..., RunningServer]) -> tuple[Any, str]:
    """A gateway over the cluster with a bucket ``locked`` created with Object Lock;
    its client and the upstream bucket's name."""
    prefix = f"l{uuid.uuid4().hex[:8]}-"
    server = make_server(*upstream_args(seaweed, prefix), env=upstream_env(seaweed))
    s3 = server.client()
    s3.create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
    return s3, prefix + BUCKET


def test_CreateBucket_object_lock_upstream(locked, seaweed: SeaweedCluster) -> None:
    """A bucket created with lock is a versioned upstream bucket with lock enabled; a
    default retention set through the gateway is the upstream's and reads back."""
    s3, upstream = locked
    direct = seaweed.client()
    assert direct.get_bucket_versioning(Bucket=upstream)["Status"] == "Enabled"
    enabled = direct.get_object_lock_configuration(Bucket=upstream)["ObjectLockConfiguration"]
    assert enabled["ObjectLockEnabled"] == "Enabled"
    rule = {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 3}}
    s3.put_object_lock_configuration(
        Bucket=BUCKET, ObjectLockConfiguration={"ObjectLockEnabled": "Enabled", "Rule": rule}
    )
    got = s3.get_object_lock_configuration(Bucket=BUCKET)["ObjectLockConfiguration"]
    assert got == {"ObjectLockEnabled": "Enabled", "Rule": rule}
    upstream_rule = direct.get_object_lock_configuration(Bucket=upstream)
    assert upstream_rule["ObjectLockConfiguration"]["Rule"] == rule


def test_PutObject_retention_upstream(locked) -> None:
    """A GOVERNANCE retention asked on PutObject is the upstream's: HEAD and
    GetObjectRetention show it, the upstream refuses to delete the version or shorten
    the retention, and x-amz-bypass-governance-retention (admin key) lifts it."""
    s3, _ = locked
    until = later()
    version = s3.put_object(
        Bucket=BUCKET,
        Key="k",
        Body=b"kept",
        ObjectLockMode="GOVERNANCE",
        ObjectLockRetainUntilDate=until,
    )["VersionId"]
    head = s3.head_object(Bucket=BUCKET, Key="k")
    assert (head["ObjectLockMode"], head["ObjectLockRetainUntilDate"]) == ("GOVERNANCE", until)
    retention = s3.get_object_retention(Bucket=BUCKET, Key="k", VersionId=version)["Retention"]
    assert retention == {"Mode": "GOVERNANCE", "RetainUntilDate": until}
    with pytest.raises(ClientError) as exc:
        s3.delete_object(Bucket=BUCKET, Key="k", VersionId=version)
    assert failure(exc) == (403, "AccessDenied")
    with pytest.raises(ClientError) as exc:
        s3.put_object_retention(
            Bucket=BUCKET,
            Key="k",
            Retention={"Mode": "GOVERNANCE", "RetainUntilDate": until - timedelta(minutes=5)},
        )
    assert failure(exc) == (403, "AccessDenied")
    assert s3.get_object(Bucket=BUCKET, Key="k", VersionId=version)["Body"].read() == b"kept"
    s3.delete_object(Bucket=BUCKET, Key="k", VersionId=version, BypassGovernanceRetention=True)
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=BUCKET, Key="k", VersionId=version)
    assert failure(exc)[0] == 404


def test_PutObjectLegalHold_upstream(locked) -> None:
    """A legal hold set through the gateway blocks the version's removal upstream
    until it is lifted; a version without one has none (404 NoSuchObjectLockConfiguration)."""
    s3, _ = locked
    version = s3.put_object(Bucket=BUCKET, Key="h", Body=b"held")["VersionId"]
    with pytest.raises(ClientError) as exc:
        s3.get_object_legal_hold(Bucket=BUCKET, Key="h")
    assert failure(exc) == (404, "NoSuchObjectLockConfiguration")
    s3.put_object_legal_hold(Bucket=BUCKET, Key="h", LegalHold={"Status": "ON"})
    assert s3.get_object_legal_hold(Bucket=BUCKET, Key="h")["LegalHold"] == {"Status": "ON"}
    assert s3.head_object(Bucket=BUCKET, Key="h")["ObjectLockLegalHoldStatus"] == "ON"
    with pytest.raises(ClientError) as exc:
        s3.delete_object(Bucket=BUCKET, Key="h", VersionId=version, BypassGovernanceRetention=True)
    assert failure(exc) == (403, "AccessDenied")
    s3.put_object_legal_hold(Bucket=BUCKET, Key="h", LegalHold={"Status": "OFF"})
    s3.delete_object(Bucket=BUCKET, Key="h", VersionId=version)


def test_CopyObject_and_CreateMultipartUpload_lock_headers_upstream(locked) -> None:
    """The lock headers of a copy and of a multipart upload protect the version made
    (SeaweedFS ignores them on a copy: the gateway sets them on the new version)."""
    s3, _ = locked
    until = later()
    s3.put_object(Bucket=BUCKET, Key="src", Body=b"source")
    copy = s3.copy_object(
        Bucket=BUCKET,
        Key="copy",
        CopySource={"Bucket": BUCKET, "Key": "src"},
        ObjectLockMode="GOVERNANCE",
        ObjectLockRetainUntilDate=until,
        ObjectLockLegalHoldStatus="ON",
    )
    retention = s3.get_object_retention(Bucket=BUCKET, Key="copy", VersionId=copy["VersionId"])
    assert retention["Retention"] == {"Mode": "GOVERNANCE", "RetainUntilDate": until}
    assert s3.get_object_legal_hold(Bucket=BUCKET, Key="copy")["LegalHold"] == {"Status": "ON"}
    with pytest.raises(ClientError) as exc:
        s3.delete_object(Bucket=BUCKET, Key="copy", VersionId=copy["VersionId"])
    assert failure(exc) == (403, "AccessDenied")
    done = upload_in_one_part(
        s3, BUCKET, "mpu", b"x", ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=until
    )
    retention = s3.get_object_retention(Bucket=BUCKET, Key="mpu", VersionId=done["VersionId"])
    assert retention["Retention"] == {"Mode": "COMPLIANCE", "RetainUntilDate": until}
    with pytest.raises(ClientError) as exc:
        s3.delete_object(
            Bucket=BUCKET, Key="mpu", VersionId=done["VersionId"], BypassGovernanceRetention=True
        )
    assert failure(exc) == (403, "AccessDenied")


def test_PutObjectRetention_append_only_and_bypass_rights_upstream(
    seaweed: SeaweedCluster,
    make_server: Callable[..., RunningServer],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Through the s3 backend an append-only key may set and extend a retention and set
    a legal hold but never shorten, remove or lift one, bypass header or not; a writer
    without admin has its bypass header ignored (the version stays protected)."""
    config_dir = tmp_path_factory.mktemp("lock-keys")
    appender = add_key(config_dir, "appender", "--bucket", BUCKET, "--allow", "read,append-only")
    writer = add_key(config_dir, "writer", "--bucket", BUCKET, "--allow", "read,write,delete")
    prefix = f"l{uuid.uuid4().hex[:8]}-"
    server = make_server(
        *upstream_args(seaweed, prefix),
        "--upstream-conditional-writes",  # append-only keys write create-only
        "--config-dir",
        str(config_dir),
        env=upstream_env(seaweed),
    )
    server.client().create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
    s3 = key_client(server, appender)
    version = s3.put_object(Bucket=BUCKET, Key="a", Body=b"x")["VersionId"]  # type: ignore[attr-defined]
    two, three = later(48), later(72)
    for until in (two, three):
        s3.put_object_retention(  # type: ignore[attr-defined]
            Bucket=BUCKET, Key="a", Retention={"Mode": "GOVERNANCE", "RetainUntilDate": until}
        )
    for retention in ({"Mode": "GOVERNANCE", "RetainUntilDate": two}, {}):
        refused = error_code(
            s3.put_object_retention,  # type: ignore[attr-defined]
            Bucket=BUCKET,
            Key="a",
            Retention=retention,
            BypassGovernanceRetention=True,
        )
        assert refused == "AccessDenied"
    s3.put_object_legal_hold(Bucket=BUCKET, Key="a", LegalHold={"Status": "ON"})  # type: ignore[attr-defined]
    lift = {"Bucket": BUCKET, "Key": "a", "LegalHold": {"Status": "OFF"}}
    assert error_code(s3.put_object_legal_hold, **lift) == "AccessDenied"  # type: ignore[attr-defined]
    retention = server.client().get_object_retention(Bucket=BUCKET, Key="a", VersionId=version)
    assert retention["Retention"]["RetainUntilDate"] == three
    assert server.client().get_object_legal_hold(Bucket=BUCKET, Key="a")["LegalHold"] == {
        "Status": "ON"
    }
    w = key_client(server, writer)
    guarded = w.put_object(  # type: ignore[attr-defined]
        Bucket=BUCKET,
        Key="g",
        Body=b"x",
        ObjectLockMode="GOVERNANCE",
        ObjectLockRetainUntilDate=two,
    )["VersionId"]
    delete = {"Bucket": BUCKET, "Key": "g", "VersionId": guarded, "BypassGovernanceRetention": True}
    assert error_code(w.delete_object, **delete) == "AccessDenied"  # type: ignore[attr-defined]
    server.client().delete_object(**delete)


def test_PutObjectLockConfiguration_prefix_layout_NotImplemented(
    seaweed: SeaweedCluster, make_server: Callable[..., RunningServer]
) -> None:
    """With every bucket in one upstream bucket, Object Lock is 501 saying why: on
    CreateBucket with lock and on PutObjectLockConfiguration; lock headers on a write
    are refused (the bucket has no lock), never ignored."""
    upstream = seaweed.new_bucket()
    args = (*upstream_args(seaweed, "gw"), "--upstream-bucket", upstream)
    s3 = make_server(*args, env=upstream_env(seaweed)).client()
    with pytest.raises(ClientError) as exc:
        s3.create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
    assert failure(exc) == (501, "NotImplemented")
    s3.create_bucket(Bucket=BUCKET)
    with pytest.raises(ClientError) as exc:
        s3.put_object_lock_configuration(
            Bucket=BUCKET, ObjectLockConfiguration={"ObjectLockEnabled": "Enabled"}
        )
    assert failure(exc) == (501, "NotImplemented")
    assert "prefix layout" in exc.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as exc:
        s3.get_object_lock_configuration(Bucket=BUCKET)
    assert failure(exc) == (404, "ObjectLockConfigurationNotFoundError")
    with pytest.raises(ClientError) as exc:
        s3.put_object(
            Bucket=BUCKET,
            Key="k",
            Body=b"x",
            ObjectLockMode="GOVERNANCE",
            ObjectLockRetainUntilDate=later(),
        )
    assert failure(exc) == (400, "InvalidRequest")
