"""The Object Lock call sequences of backup products, replayed with boto3 and raw
requests against a real server: Veeam (retention per object, extended later by
PutObjectRetention, bodies without the S3 namespace), Kopia (retention on every PUT,
maintenance extending the latest versions, point-in-time reads by version id) and
Arq (GOVERNANCE per object, its own clean-up only adding markers).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest
from conftest import RunningServer
from reliability import raw_request, sign


def _md5(body: bytes) -> str:
    return base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode()


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _locked_bucket(server: RunningServer, name: str) -> object:
    s3 = server.client()
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    return s3


def _error_code(exc: pytest.ExceptionInfo[Exception]) -> str:
    return exc.value.response["Error"]["Code"]  # type: ignore[attr-defined]


def test_veeam_style_retention_per_block_then_extended(
    make_server: Callable[..., RunningServer],
) -> None:
    """PutObject with COMPLIANCE headers and Content-MD5; PutObjectRetention without the
    S3 namespace extends each version; ListObjectVersions pages through them; GET by
    version id reads the old block after it was rewritten."""
    server = make_server("--allow-bucket-creation")
    s3 = _locked_bucket(server, "veeam")
    now = datetime.now(timezone.utc)
    first_until = now + timedelta(days=7)
    blocks = {f"Veeam/Backup/blocks/{i:03d}": f"block {i}".encode() * 500 for i in range(12)}
    versions: dict[str, str] = {}
    for key, body in blocks.items():
        answer = s3.put_object(
            Bucket="veeam",
            Key=key,
            Body=body,
            ContentMD5=_md5(body),
            ObjectLockMode="COMPLIANCE",
            ObjectLockRetainUntilDate=first_until,
        )
        versions[key] = answer["VersionId"]

    # Veeam extends the immutability of existing blocks, sending XML without xmlns.
    extended = now + timedelta(days=30)
    document = (
        f"<Retention><Mode>COMPLIANCE</Mode><RetainUntilDate>{_iso(extended)}"
        "</RetainUntilDate></Retention>"
    ).encode()
    for key, version in versions.items():
        target = f"/veeam/{key}?retention&versionId={version}"
        headers = {"Content-MD5": _md5(document), "Content-Type": "application/xml"}
        headers = sign(server, "PUT", target, headers, document)
        answer = raw_request(server.port, "PUT", target, headers, document)
        assert answer.status == 200, answer.body
        got = s3.get_object_retention(Bucket="veeam", Key=key, VersionId=version)["Retention"]
        assert got["Mode"] == "COMPLIANCE"
        assert abs((got["RetainUntilDate"] - extended).total_seconds()) < 1

    # Shortening it again is refused, by anyone.
    key, version = next(iter(versions.items()))
    with pytest.raises(s3.exceptions.ClientError) as shortened:
        s3.put_object_retention(
            Bucket="veeam",
            Key=key,
            VersionId=version,
            Retention={"Mode": "COMPLIANCE", "RetainUntilDate": first_until},
        )
    assert _error_code(shortened) == "AccessDenied"

    # A block rewritten later keeps its old version readable by id.
    s3.put_object(
        Bucket="veeam",
        Key=key,
        Body=b"rewritten",
        ContentMD5=_md5(b"rewritten"),
        ObjectLockMode="COMPLIANCE",
        ObjectLockRetainUntilDate=first_until,
    )
    old = s3.get_object(Bucket="veeam", Key=key, VersionId=version)
    assert old["Body"].read() == blocks[key]
    assert old["ObjectLockMode"] == "COMPLIANCE"

    # ListObjectVersions with small pages sees every version exactly once.
    seen: list[tuple[str, str]] = []
    marker: dict[str, str] = {}
    while True:
        page = s3.list_object_versions(Bucket="veeam", Prefix="Veeam/", MaxKeys=5, **marker)
        seen += [(v["Key"], v["VersionId"]) for v in page.get("Versions", [])]
        if not page["IsTruncated"]:
            break
        marker = {
            "KeyMarker": page["NextKeyMarker"],
            "VersionIdMarker": page["NextVersionIdMarker"],
        }
    assert len(seen) == len(set(seen)) == len(blocks) + 1
    assert set(versions.items()) <= set(seen)


def test_kopia_style_retention_on_every_put_and_maintenance_extension(
    make_server: Callable[..., RunningServer],
) -> None:
    """Default GOVERNANCE retention from the bucket; maintenance extends the latest
    versions without a version id; deleting a blob adds a marker and the blob is still
    read by version id (point-in-time); removing the version needs the bypass."""
    server = make_server("--allow-bucket-creation")
    s3 = _locked_bucket(server, "kopia")
    s3.put_object_lock_configuration(
        Bucket="kopia",
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 2}},
        },
    )
    config = s3.get_object_lock_configuration(Bucket="kopia")["ObjectLockConfiguration"]
    assert config["Rule"]["DefaultRetention"] == {"Mode": "GOVERNANCE", "Days": 2}

    blobs = {f"p{i:04x}": bytes([i]) * 4096 for i in range(6)}
    written: dict[str, str] = {}
    for key, body in blobs.items():
        written[key] = s3.put_object(Bucket="kopia", Key=key, Body=body, ContentMD5=_md5(body))[
            "VersionId"
        ]
        head = s3.head_object(Bucket="kopia", Key=key)
        assert head["ObjectLockMode"] == "GOVERNANCE"
        assert head["ObjectLockRetainUntilDate"] > datetime.now(timezone.utc) + timedelta(days=1)

    until = datetime.now(timezone.utc) + timedelta(days=10)
    for key in blobs:  # maintenance: extend the latest version, no version id
        s3.put_object_retention(
            Bucket="kopia", Key=key, Retention={"Mode": "GOVERNANCE", "RetainUntilDate": until}
        )
        got = s3.get_object_retention(Bucket="kopia", Key=key)["Retention"]
        assert abs((got["RetainUntilDate"] - until).total_seconds()) < 1

    key = next(iter(blobs))
    deleted = s3.delete_object(Bucket="kopia", Key=key)
    assert deleted["DeleteMarker"] is True
    assert (
        s3.get_object(Bucket="kopia", Key=key, VersionId=written[key])["Body"].read()
        == (blobs[key])
    )
    with pytest.raises(s3.exceptions.ClientError) as refused:
        s3.delete_object(Bucket="kopia", Key=key, VersionId=written[key])
    assert _error_code(refused) == "AccessDenied"
    s3.delete_object(
        Bucket="kopia", Key=key, VersionId=written[key], BypassGovernanceRetention=True
    )
    with pytest.raises(s3.exceptions.ClientError) as gone:
        s3.head_object(Bucket="kopia", Key=key, VersionId=written[key])
    assert gone.value.response["ResponseMetadata"]["HTTPStatusCode"] in (400, 404)


def test_arq_style_legal_hold_outlives_its_retention_and_cleanup(
    make_server: Callable[..., RunningServer],
) -> None:
    """Per-object GOVERNANCE retention plus a legal hold: the hold blocks removal even
    with the bypass; once it is lifted the bypass removes the version; Arq's own
    clean-up (plain DELETE) only ever adds a marker."""
    server = make_server("--allow-bucket-creation")
    s3 = _locked_bucket(server, "arq")
    body = b"arq pack" * 1000
    version = s3.put_object(
        Bucket="arq",
        Key="packsets/a.pack",
        Body=body,
        ContentMD5=_md5(body),
        ObjectLockMode="GOVERNANCE",
        ObjectLockRetainUntilDate=datetime.now(timezone.utc) + timedelta(days=1),
        ObjectLockLegalHoldStatus="ON",
    )["VersionId"]
    assert s3.get_object_legal_hold(Bucket="arq", Key="packsets/a.pack", VersionId=version)[
        "LegalHold"
    ] == {"Status": "ON"}

    assert s3.delete_object(Bucket="arq", Key="packsets/a.pack")["DeleteMarker"] is True
    with pytest.raises(s3.exceptions.ClientError) as held:
        s3.delete_object(
            Bucket="arq", Key="packsets/a.pack", VersionId=version, BypassGovernanceRetention=True
        )
    assert _error_code(held) == "AccessDenied"

    s3.put_object_legal_hold(
        Bucket="arq", Key="packsets/a.pack", VersionId=version, LegalHold={"Status": "OFF"}
    )
    s3.delete_object(
        Bucket="arq", Key="packsets/a.pack", VersionId=version, BypassGovernanceRetention=True
    )
    listed = s3.list_object_versions(Bucket="arq", Prefix="packsets/")
    assert [v["VersionId"] for v in listed.get("Versions", [])] == []
    assert len(listed.get("DeleteMarkers", [])) == 1
