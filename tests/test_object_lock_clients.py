"""Object Lock through other ways in: the aws cli (s3api), documents without the S3
namespace as Veeam sends them, keys with limited rights, the ``default`` bucket in
default mode, and the Drime backend, which answers NotImplemented."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from clients import aws, aws_env
from conftest import RunningServer
from keys_support import Key, error_code, key_client, server_with_keys
from reliability import RawResponse, raw_request, sign


def md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def in_days(days: float) -> datetime:
    return (datetime.now(timezone.utc) + timedelta(days=days)).replace(microsecond=0)


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def signed(
    server: RunningServer, method: str, target: str, body: bytes, *, with_md5: bool = True
) -> RawResponse:
    headers = {"content-md5": md5(body)} if with_md5 else {}
    return raw_request(
        server.port, method, target, sign(server, method, target, headers, body), body
    )


# aws cli ---------------------------------------------------------------------------


@pytest.mark.slow
def test_object_lock_with_the_aws_cli(server: RunningServer, tmp_path: Path) -> None:
    """create-bucket --object-lock-enabled-for-bucket, put/get-object-lock-configuration,
    put-object with lock options, put/get-object-retention, put/get-object-legal-hold,
    and delete-object --version-id refused, then allowed with
    --bypass-governance-retention, all through aws s3api."""
    env = aws_env(server, tmp_path)
    bucket = "cli-lock"

    def s3api(*args: str, check: bool = True):
        return aws(server, env, "s3api", *args, check=check)

    def as_json(result) -> dict:
        return json.loads(result.stdout) if result.stdout.strip() else {}

    s3api("create-bucket", "--bucket", bucket, "--object-lock-enabled-for-bucket")
    target = ("--bucket", bucket)
    s3api(
        "put-object-lock-configuration", *target, "--object-lock-configuration",
        '{"ObjectLockEnabled":"Enabled","Rule":{"DefaultRetention":{"Mode":"GOVERNANCE","Days":1}}}',
    )  # fmt: skip
    rule = as_json(s3api("get-object-lock-configuration", *target))["ObjectLockConfiguration"]
    assert rule["Rule"]["DefaultRetention"] == {"Mode": "GOVERNANCE", "Days": 1}
    source = tmp_path / "body"
    source.write_bytes(b"backup")
    version = as_json(
        s3api("put-object", *target, "--key", "k", "--body", str(source))
    )["VersionId"]  # fmt: skip
    until = in_days(3)
    s3api(
        "put-object-retention", *target, "--key", "k", "--version-id", version,
        "--retention", json.dumps({"Mode": "GOVERNANCE", "RetainUntilDate": stamp(until)}),
    )  # fmt: skip
    got = as_json(s3api("get-object-retention", *target, "--key", "k", "--version-id", version))
    assert got["Retention"]["Mode"] == "GOVERNANCE"
    assert datetime.fromisoformat(got["Retention"]["RetainUntilDate"]) == until
    s3api("put-object-legal-hold", *target, "--key", "k", "--legal-hold", "Status=ON")
    hold = as_json(s3api("get-object-legal-hold", *target, "--key", "k"))
    assert hold["LegalHold"]["Status"] == "ON"
    refused = s3api("delete-object", *target, "--key", "k", "--version-id", version, check=False)
    assert refused.returncode != 0 and "AccessDenied" in refused.output
    s3api("put-object-legal-hold", *target, "--key", "k", "--legal-hold", "Status=OFF")
    refused = s3api("delete-object", *target, "--key", "k", "--version-id", version, check=False)
    assert refused.returncode != 0 and "AccessDenied" in refused.output
    shorter = json.dumps({"Mode": "GOVERNANCE", "RetainUntilDate": stamp(in_days(2))})
    refused = s3api(
        "put-object-retention", *target, "--key", "k", "--retention", shorter, check=False
    )
    assert refused.returncode != 0 and "AccessDenied" in refused.output
    s3api(
        "delete-object", *target, "--key", "k", "--version-id", version,
        "--bypass-governance-retention",
    )  # fmt: skip
    assert "Versions" not in as_json(s3api("list-object-versions", *target))


# Documents without the S3 namespace ------------------------------------------------


def test_PutObjectRetention_PutObjectLegalHold_without_namespace(server: RunningServer) -> None:
    """Veeam sends Retention, LegalHold and ObjectLockConfiguration documents without
    the S3 namespace: they are read all the same; a past date is InvalidArgument, and
    a document without Content-MD5 or a checksum is InvalidRequest."""
    s3 = server.client()
    bucket = "raw-lock"
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    config = (
        b"<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule>"
        b"<DefaultRetention><Mode>COMPLIANCE</Mode><Days>3</Days></DefaultRetention></Rule>"
        b"</ObjectLockConfiguration>"
    )
    assert signed(server, "PUT", f"/{bucket}?object-lock", config, with_md5=False).status == 400
    assert signed(server, "PUT", f"/{bucket}?object-lock", config).status == 200
    rule = s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]["Rule"]
    assert rule == {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 3}}
    version = s3.put_object(Bucket=bucket, Key="k", Body=b"x")["VersionId"]
    until = in_days(10)
    retention = (
        f"<Retention><Mode>COMPLIANCE</Mode><RetainUntilDate>{stamp(until)}"
        "</RetainUntilDate></Retention>"
    ).encode()
    target = f"/{bucket}/k?retention&versionId={version}"
    missing = signed(server, "PUT", target, retention, with_md5=False)
    assert missing.status == 400 and b"<Code>InvalidRequest</Code>" in missing.body
    assert signed(server, "PUT", target, retention).status == 200
    got = s3.get_object_retention(Bucket=bucket, Key="k", VersionId=version)["Retention"]
    assert got == {"Mode": "COMPLIANCE", "RetainUntilDate": until}
    past = retention.replace(stamp(until).encode(), b"2020-01-01T00:00:00.000Z")
    answer = signed(server, "PUT", target, past)
    assert answer.status == 400 and b"<Code>InvalidArgument</Code>" in answer.body
    hold = b"<LegalHold><Status>ON</Status></LegalHold>"
    assert signed(server, "PUT", f"/{bucket}/k?legal-hold", hold, with_md5=False).status == 400
    assert signed(server, "PUT", f"/{bucket}/k?legal-hold", hold).status == 200
    assert s3.get_object_legal_hold(Bucket=bucket, Key="k")["LegalHold"]["Status"] == "ON"
    for document in (b"<LegalHold><Status>on</Status></LegalHold>", b"<Retention><Mode/></x>"):
        kind = "legal-hold" if b"LegalHold" in document else "retention"
        answer = signed(server, "PUT", f"/{bucket}/k?{kind}", document)
        assert answer.status == 400 and b"<Code>MalformedXML</Code>" in answer.body


# Rights ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keyed(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningServer, dict[str, Key]]]:
    rights = {
        "reader": "read",
        "appender": "read,append-only",
        "writer": "read,write,delete",
        "admin": "read,write,delete,admin",
    }
    with server_with_keys(
        tmp_path_factory, "vault", rights, ObjectLockEnabledForBucket=True
    ) as keyed:
        yield keyed


def governance(days: float) -> dict[str, object]:
    return {"Mode": "GOVERNANCE", "RetainUntilDate": in_days(days)}


def test_PutObjectRetention_with_an_append_only_key_only_extends(keyed) -> None:
    """An append-only key may set retention and extend it, and set a legal hold; it
    may not shorten or remove retention (bypass header or not) nor lift a hold."""
    server, keys = keyed
    s3 = key_client(server, keys["appender"])
    version = s3.put_object(Bucket="vault", Key="a", Body=b"x")["VersionId"]  # type: ignore[attr-defined]
    s3.put_object_retention(Bucket="vault", Key="a", Retention=governance(2))  # type: ignore[attr-defined]
    s3.put_object_retention(Bucket="vault", Key="a", Retention=governance(3))  # type: ignore[attr-defined]
    for retention in (governance(1), {}):
        assert (
            error_code(
                s3.put_object_retention,  # type: ignore[attr-defined]
                Bucket="vault",
                Key="a",
                Retention=retention,
                BypassGovernanceRetention=True,
            )
            == "AccessDenied"
        )
    s3.put_object_legal_hold(Bucket="vault", Key="a", LegalHold={"Status": "ON"})  # type: ignore[attr-defined]
    assert (
        error_code(s3.put_object_legal_hold, Bucket="vault", Key="a", LegalHold={"Status": "OFF"})  # type: ignore[attr-defined]
        == "AccessDenied"
    )
    admin = key_client(server, keys["admin"])
    assert admin.get_object_legal_hold(Bucket="vault", Key="a", VersionId=version)["LegalHold"] == {  # type: ignore[attr-defined]
        "Status": "ON"
    }


def test_bypass_governance_retention_needs_the_admin_right(keyed) -> None:
    """x-amz-bypass-governance-retention from a key without admin is ignored: shortening
    GOVERNANCE retention and removing the version stay AccessDenied; an admin key
    does both."""
    server, keys = keyed
    writer, admin = key_client(server, keys["writer"]), key_client(server, keys["admin"])
    version = writer.put_object(  # type: ignore[attr-defined]
        Bucket="vault",
        Key="g",
        Body=b"x",
        ObjectLockMode="GOVERNANCE",
        ObjectLockRetainUntilDate=in_days(2),
    )["VersionId"]
    shorter = governance(1)
    bypass = {"BypassGovernanceRetention": True}
    args = {"Bucket": "vault", "Key": "g", "VersionId": version}
    assert (
        error_code(writer.put_object_retention, **args, Retention=shorter, **bypass)  # type: ignore[attr-defined]
        == "AccessDenied"
    )
    assert error_code(writer.delete_object, **args, **bypass) == "AccessDenied"  # type: ignore[attr-defined]
    admin.put_object_retention(**args, Retention=shorter, **bypass)  # type: ignore[attr-defined]
    admin.delete_object(**args, **bypass)  # type: ignore[attr-defined]


def test_object_lock_operations_and_the_rights_they_need(keyed) -> None:
    """PutObjectLockConfiguration needs admin; retention and legal hold changes need
    write or append-only; reads of them need read."""
    server, keys = keyed
    reader, writer = key_client(server, keys["reader"]), key_client(server, keys["writer"])
    writer.put_object(Bucket="vault", Key="r", Body=b"x", ObjectLockLegalHoldStatus="OFF")  # type: ignore[attr-defined]
    configuration = {"ObjectLockEnabled": "Enabled"}
    assert (
        error_code(
            writer.put_object_lock_configuration,  # type: ignore[attr-defined]
            Bucket="vault",
            ObjectLockConfiguration=configuration,
        )
        == "AccessDenied"
    )
    assert reader.get_object_legal_hold(Bucket="vault", Key="r")["LegalHold"]["Status"] == "OFF"  # type: ignore[attr-defined]
    assert (
        error_code(
            reader.put_object_legal_hold, Bucket="vault", Key="r", LegalHold={"Status": "ON"}
        )  # type: ignore[attr-defined]
        == "AccessDenied"
    )
    assert reader.get_object_lock_configuration(Bucket="vault")["ObjectLockConfiguration"]  # type: ignore[attr-defined]


# The default bucket and other backends ---------------------------------------------


def test_PutObjectLockConfiguration_on_the_default_bucket(make_server) -> None:
    """In default mode the default bucket gets lock once versioning is enabled;
    CreateBucket default with lock is not answered as if it had enabled it."""
    server = make_server()
    s3 = server.client()
    with pytest.raises(ClientError) as exc:
        s3.create_bucket(Bucket="default", ObjectLockEnabledForBucket=True)
    assert exc.value.response["Error"]["Code"] == "BucketAlreadyOwnedByYou"
    s3.put_bucket_versioning(Bucket="default", VersioningConfiguration={"Status": "Enabled"})
    s3.put_object_lock_configuration(
        Bucket="default",
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 1}},
        },
    )
    version = s3.put_object(Bucket="default", Key="k", Body=b"x")["VersionId"]
    assert s3.head_object(Bucket="default", Key="k")["ObjectLockMode"] == "COMPLIANCE"
    with pytest.raises(ClientError) as exc:
        s3.delete_object(Bucket="default", Key="k", VersionId=version)
    assert exc.value.response["Error"]["Code"] == "AccessDenied"


def test_backend_records_say_which_backends_keep_object_lock() -> None:
    """The registry's capabilities match the providers: only the local backend locks."""
    from pys3local.backends.registry import backend_type

    assert backend_type("local").capabilities.object_lock is True
    assert backend_type("drime").capabilities.object_lock is False
    assert backend_type("s3").capabilities.object_lock is False


def test_PutObjectLockConfiguration_on_Drime_is_NotImplemented(drime: RunningServer) -> None:
    """Drime keeps no lock: PutObjectLockConfiguration and PutObjectRetention answer
    NotImplemented naming the backend, GetObjectLockConfiguration truthfully finds
    none, and lock headers on a PUT are InvalidRequest; nothing is stored."""
    s3 = drime.client()
    with pytest.raises(ClientError) as exc:
        s3.put_object_lock_configuration(
            Bucket="default", ObjectLockConfiguration={"ObjectLockEnabled": "Enabled"}
        )
    error = exc.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 501
    assert "Drime backend" in error["Error"]["Message"]
    with pytest.raises(ClientError) as exc:
        s3.get_object_lock_configuration(Bucket="default")
    assert exc.value.response["Error"]["Code"] == "ObjectLockConfigurationNotFoundError"
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket="default", Key="k", Body=b"x", ObjectLockLegalHoldStatus="ON")
    assert exc.value.response["Error"]["Code"] == "InvalidRequest"
    s3.put_object(Bucket="default", Key="k", Body=b"x")
    with pytest.raises(ClientError) as exc:
        s3.put_object_retention(
            Bucket="default",
            Key="k",
            Retention={"Mode": "COMPLIANCE", "RetainUntilDate": in_days(1)},
        )
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501
    assert "Drime backend" in exc.value.response["Error"]["Message"]
