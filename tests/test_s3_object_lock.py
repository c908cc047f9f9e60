"""Object Lock on the local backend, through boto3 against a real server: the bucket's
lock configuration and default retention, per-object lock headers on every write,
Put/GetObjectRetention and Put/GetObjectLegalHold with AWS's rules, and the refusal
of every removal of a protected version."""

from __future__ import annotations

import base64
import hashlib
import time
import zlib
from datetime import datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError
from reliability import RawResponse, raw_request, sign

from tests.clients import upload_in_one_part


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return exc.value.response["Error"]["Code"]


def status(exc: pytest.ExceptionInfo[ClientError]) -> int:
    return exc.value.response["ResponseMetadata"]["HTTPStatusCode"]


def later(**delta: float) -> datetime:
    return datetime.now(timezone.utc) + timedelta(**delta)


def md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def signed(
    server, method: str, target: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> RawResponse:
    """A request signed by hand (boto3 checks documents before it sends them), with
    Content-MD5 unless ``headers`` say otherwise."""
    headers = {"content-md5": md5(body), **(headers or {})} if body else dict(headers or {})
    headers = {k: v for k, v in headers.items() if v}
    return raw_request(
        server.port, method, target, sign(server, method, target, headers, body), body
    )


@pytest.fixture
def locked(s3, bucket) -> str:
    """A fresh bucket created with Object Lock."""
    name = bucket + "-lock"
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    return name


def put(s3, bucket: str, key: str, data: bytes = b"data", **kwargs) -> str:
    return s3.put_object(Bucket=bucket, Key=key, Body=data, ContentMD5=md5(data), **kwargs)[
        "VersionId"
    ]


def default_retention(s3, bucket: str, mode: str = "GOVERNANCE", **period: int) -> None:
    rule = {"DefaultRetention": {"Mode": mode, **(period or {"Days": 1})}}
    s3.put_object_lock_configuration(
        Bucket=bucket,
        ObjectLockConfiguration={"ObjectLockEnabled": "Enabled", "Rule": rule},
    )


# Bucket configuration --------------------------------------------------------------


def test_CreateBucket_with_object_lock_enables_versioning_and_lock(s3, locked) -> None:
    """A bucket created with x-amz-bucket-object-lock-enabled is versioned and locked,
    without default retention."""
    assert s3.get_bucket_versioning(Bucket=locked)["Status"] == "Enabled"
    configuration = s3.get_object_lock_configuration(Bucket=locked)["ObjectLockConfiguration"]
    assert configuration == {"ObjectLockEnabled": "Enabled"}


def test_GetObjectLockConfiguration_of_a_bucket_without_lock(s3, bucket) -> None:
    """A bucket whose lock was never enabled answers ObjectLockConfigurationNotFoundError."""
    with pytest.raises(ClientError) as exc:
        s3.get_object_lock_configuration(Bucket=bucket)
    assert (code(exc), status(exc)) == ("ObjectLockConfigurationNotFoundError", 404)


def test_PutObjectLockConfiguration_sets_and_clears_default_retention(s3, locked) -> None:
    """Days or Years with a mode are kept and answered; a document without a Rule
    clears the default but lock stays enabled."""
    default_retention(s3, locked, "COMPLIANCE", Years=2)
    rule = s3.get_object_lock_configuration(Bucket=locked)["ObjectLockConfiguration"]["Rule"]
    assert rule == {"DefaultRetention": {"Mode": "COMPLIANCE", "Years": 2}}
    default_retention(s3, locked, "GOVERNANCE", Days=7)
    rule = s3.get_object_lock_configuration(Bucket=locked)["ObjectLockConfiguration"]["Rule"]
    assert rule == {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 7}}
    s3.put_object_lock_configuration(
        Bucket=locked, ObjectLockConfiguration={"ObjectLockEnabled": "Enabled"}
    )
    assert s3.get_object_lock_configuration(Bucket=locked)["ObjectLockConfiguration"] == {
        "ObjectLockEnabled": "Enabled"
    }


def test_PutObjectLockConfiguration_enables_lock_on_a_versioned_bucket(s3, bucket) -> None:
    """An existing bucket gets lock once versioning is Enabled; before, it is
    InvalidBucketState, and so is suspended versioning."""
    with pytest.raises(ClientError) as exc:
        default_retention(s3, bucket)
    assert (code(exc), status(exc)) == ("InvalidBucketState", 409)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    with pytest.raises(ClientError) as exc:
        default_retention(s3, bucket)
    assert code(exc) == "InvalidBucketState"
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    default_retention(s3, bucket)
    assert s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"][
        "ObjectLockEnabled"
    ] == ("Enabled")


def test_PutBucketVersioning_cannot_suspend_a_locked_bucket(s3, locked) -> None:
    """Versioning on a bucket with lock cannot be suspended (InvalidBucketState, 409);
    Enabled again is fine."""
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_versioning(Bucket=locked, VersioningConfiguration={"Status": "Suspended"})
    assert (code(exc), status(exc)) == ("InvalidBucketState", 409)
    s3.put_bucket_versioning(Bucket=locked, VersioningConfiguration={"Status": "Enabled"})
    assert s3.get_bucket_versioning(Bucket=locked)["Status"] == "Enabled"


@pytest.mark.parametrize(
    ("document", "error"),
    [
        ("<ObjectLockConfiguration/>", "MalformedXML"),
        (
            "<ObjectLockConfiguration><ObjectLockEnabled>Disabled</ObjectLockEnabled>"
            "</ObjectLockConfiguration>",
            "MalformedXML",
        ),
        (
            "<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule>"
            "<DefaultRetention><Mode>GOVERNANCE</Mode><Days>1</Days><Years>1</Years>"
            "</DefaultRetention></Rule></ObjectLockConfiguration>",
            "MalformedXML",
        ),
        (
            "<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule>"
            "<DefaultRetention><Mode>GOVERNANCE</Mode></DefaultRetention></Rule>"
            "</ObjectLockConfiguration>",
            "MalformedXML",
        ),
        (
            "<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule>"
            "<DefaultRetention><Mode>FOREVER</Mode><Days>1</Days></DefaultRetention></Rule>"
            "</ObjectLockConfiguration>",
            "MalformedXML",
        ),
        (
            "<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule>"
            "<DefaultRetention><Mode>COMPLIANCE</Mode><Days>0</Days></DefaultRetention>"
            "</Rule></ObjectLockConfiguration>",
            "InvalidArgument",
        ),
        (
            "<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule>"
            "<DefaultRetention><Mode>COMPLIANCE</Mode><Years>-1</Years></DefaultRetention>"
            "</Rule></ObjectLockConfiguration>",
            "InvalidArgument",
        ),
    ],
)
def test_PutObjectLockConfiguration_refuses_bad_documents(
    server, locked, document: str, error: str
) -> None:
    """Lock not Enabled, both or neither of Days and Years, an unknown mode: MalformedXML;
    a period that is not positive: InvalidArgument. Nothing changes."""
    response = signed(server, "PUT", f"/{locked}?object-lock", document.encode())
    assert response.status == 400, response.body
    assert f"<Code>{error}</Code>".encode() in response.body
    s3 = server.client()
    assert s3.get_object_lock_configuration(Bucket=locked)["ObjectLockConfiguration"] == {
        "ObjectLockEnabled": "Enabled"
    }


# Writes with lock headers ----------------------------------------------------------


def test_PutObject_with_lock_headers_and_HeadObject_GetObject_answer_them(s3, locked) -> None:
    """Mode, retain-until and legal hold given on PutObject come back on HEAD and GET
    of that version, and from GetObjectRetention and GetObjectLegalHold."""
    until = later(days=3).replace(microsecond=0)
    version = put(
        s3,
        locked,
        "k",
        ObjectLockMode="GOVERNANCE",
        ObjectLockRetainUntilDate=until,
        ObjectLockLegalHoldStatus="ON",
    )
    for answer in (
        s3.head_object(Bucket=locked, Key="k"),
        s3.get_object(Bucket=locked, Key="k", VersionId=version),
    ):
        assert answer["ObjectLockMode"] == "GOVERNANCE"
        assert answer["ObjectLockRetainUntilDate"] == until
        assert answer["ObjectLockLegalHoldStatus"] == "ON"
    retention = s3.get_object_retention(Bucket=locked, Key="k", VersionId=version)["Retention"]
    assert retention == {"Mode": "GOVERNANCE", "RetainUntilDate": until}
    assert s3.get_object_legal_hold(Bucket=locked, Key="k")["LegalHold"] == {"Status": "ON"}


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"x-amz-object-lock-mode": "GOVERNANCE"}, "must both be supplied"),
        ({"x-amz-object-lock-retain-until-date": "2099-01-01T00:00:00Z"}, "must both"),
        (
            {
                "x-amz-object-lock-mode": "FOREVER",
                "x-amz-object-lock-retain-until-date": "2099-01-01T00:00:00Z",
            },
            "Unknown wormMode",
        ),
        (
            {
                "x-amz-object-lock-mode": "COMPLIANCE",
                "x-amz-object-lock-retain-until-date": "2001-01-01T00:00:00Z",
            },
            "must be in the future",
        ),
        (
            {
                "x-amz-object-lock-mode": "COMPLIANCE",
                "x-amz-object-lock-retain-until-date": "next tuesday",
            },
            "ISO 8601",
        ),
        ({"x-amz-object-lock-legal-hold": "YES"}, "either of 'ON' or 'OFF'"),
    ],
)
def test_PutObject_refuses_bad_lock_headers(server, locked, headers, message) -> None:
    """Mode without date (or the reverse), an unknown mode, a date in the past or not a
    date, a legal hold other than ON/OFF: InvalidArgument, nothing stored."""
    response = signed(server, "PUT", f"/{locked}/bad", b"x", headers)
    assert response.status == 400, response.body
    assert b"<Code>InvalidArgument</Code>" in response.body
    assert message.encode() in response.body
    assert "Versions" not in server.client().list_object_versions(Bucket=locked)


def test_PutObject_with_lock_headers_needs_a_bucket_with_lock(server, s3, bucket) -> None:
    """Lock headers on a bucket without lock (versioned or not): InvalidRequest."""
    headers = {"x-amz-object-lock-legal-hold": "ON"}
    response = signed(server, "PUT", f"/{bucket}/k", b"x", headers)
    assert response.status == 400 and b"<Code>InvalidRequest</Code>" in response.body
    assert b"missing Object Lock Configuration" in response.body
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    response = signed(server, "PUT", f"/{bucket}/k", b"x", headers)
    assert response.status == 400 and b"<Code>InvalidRequest</Code>" in response.body


def test_PutObject_with_lock_parameters_needs_Content_MD5_or_a_checksum(server, locked) -> None:
    """Lock headers, or a bucket with default retention, without Content-MD5 or an
    x-amz-checksum-*: InvalidRequest; with either, the PUT succeeds."""
    s3 = server.client()
    hold = {"x-amz-object-lock-legal-hold": "OFF"}
    bare = signed(server, "PUT", f"/{locked}/k", b"x", {**hold, "content-md5": ""})
    assert bare.status == 400 and b"Content-MD5 OR x-amz-checksum-" in bare.body
    assert signed(server, "PUT", f"/{locked}/k", b"x", hold).status == 200
    plain = signed(server, "PUT", f"/{locked}/plain", b"x", {"content-md5": ""})
    assert plain.status == 200  # no lock parameters, no default retention
    default_retention(s3, locked)
    bare = signed(server, "PUT", f"/{locked}/plain", b"x", {"content-md5": ""})
    assert bare.status == 400 and b"Content-MD5 OR x-amz-checksum-" in bare.body
    crc32 = base64.b64encode(zlib.crc32(b"x").to_bytes(4, "big")).decode()
    crc = {"content-md5": "", "x-amz-checksum-crc32": crc32}
    assert signed(server, "PUT", f"/{locked}/plain", b"x", crc).status == 200
    assert signed(server, "PUT", f"/{locked}/plain", b"x").status == 200


def retain_until(s3, bucket: str, key: str, version: str) -> datetime:
    found = s3.get_object_retention(Bucket=bucket, Key=key, VersionId=version)["Retention"]
    return found["RetainUntilDate"]


def last_modified(s3, bucket: str, key: str, version: str) -> datetime:
    for entry in s3.list_object_versions(Bucket=bucket, Prefix=key)["Versions"]:
        if entry["VersionId"] == version:
            return entry["LastModified"]
    raise AssertionError(version)


def test_default_retention_applies_to_PutObject_CopyObject_and_CompleteMultipartUpload(
    s3, locked
) -> None:
    """Each new version in a bucket with default retention gets its mode and a
    retain-until of the version's time plus the period; explicit headers win."""
    default_retention(s3, locked, "COMPLIANCE", Days=2)
    made = {"put": put(s3, locked, "put")}
    made["copy"] = s3.copy_object(Bucket=locked, Key="copy", CopySource=f"{locked}/put")[
        "VersionId"
    ]
    upload_in_one_part(s3, locked, "multi", b"m" * 100)
    made["multi"] = s3.head_object(Bucket=locked, Key="multi")["VersionId"]
    for key, version in made.items():
        head = s3.head_object(Bucket=locked, Key=key, VersionId=version)
        assert head["ObjectLockMode"] == "COMPLIANCE", key
        expected = last_modified(s3, locked, key, version) + timedelta(days=2)
        assert abs(retain_until(s3, locked, key, version) - expected) < timedelta(seconds=1)
    until = later(days=9).replace(microsecond=0)
    explicit = put(s3, locked, "own", ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=until)
    assert s3.get_object_retention(Bucket=locked, Key="own", VersionId=explicit)["Retention"] == {
        "Mode": "GOVERNANCE",
        "RetainUntilDate": until,
    }


def test_CopyObject_takes_its_own_lock_headers_not_the_sources(s3, locked) -> None:
    """A copy of a protected version is a new version: it has the retention its own
    headers give (or none), never the source's."""
    until = later(days=1).replace(microsecond=0)
    put(s3, locked, "src", ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=until)
    s3.copy_object(Bucket=locked, Key="plain", CopySource=f"{locked}/src")
    assert "ObjectLockMode" not in s3.head_object(Bucket=locked, Key="plain")
    s3.copy_object(
        Bucket=locked,
        Key="held",
        CopySource=f"{locked}/src",
        ObjectLockLegalHoldStatus="ON",
        MetadataDirective="REPLACE",
    )
    head = s3.head_object(Bucket=locked, Key="held")
    assert head["ObjectLockLegalHoldStatus"] == "ON" and "ObjectLockMode" not in head


def test_CreateMultipartUpload_lock_headers_survive_to_the_completed_version(s3, locked) -> None:
    """Lock headers given at CreateMultipartUpload are kept with the upload and applied
    by CompleteMultipartUpload."""
    until = later(days=5).replace(microsecond=0)
    upload_in_one_part(
        s3,
        locked,
        "mp",
        b"z" * 1000,
        ObjectLockMode="COMPLIANCE",
        ObjectLockRetainUntilDate=until,
        ObjectLockLegalHoldStatus="ON",
    )
    head = s3.head_object(Bucket=locked, Key="mp")
    assert (head["ObjectLockMode"], head["ObjectLockRetainUntilDate"]) == ("COMPLIANCE", until)
    assert head["ObjectLockLegalHoldStatus"] == "ON"


def test_CreateMultipartUpload_with_lock_headers_needs_a_bucket_with_lock(s3, bucket) -> None:
    """Lock headers on CreateMultipartUpload in a bucket without lock: InvalidRequest."""
    with pytest.raises(ClientError) as exc:
        s3.create_multipart_upload(Bucket=bucket, Key="k", ObjectLockLegalHoldStatus="ON")
    assert code(exc) == "InvalidRequest"


# Retention and legal hold ----------------------------------------------------------


def retention(mode: str, until: datetime) -> dict[str, object]:
    return {"Mode": mode, "RetainUntilDate": until}


def test_PutObjectRetention_COMPLIANCE_can_only_be_extended(s3, locked) -> None:
    """COMPLIANCE retention can be made longer; shorter, removed or turned into
    GOVERNANCE is AccessDenied, with the bypass header too, and it stays as it was."""
    version = put(s3, locked, "k")
    first = later(days=2).replace(microsecond=0)
    s3.put_object_retention(
        Bucket=locked, Key="k", VersionId=version, Retention=retention("COMPLIANCE", first)
    )
    longer = first + timedelta(days=1)
    s3.put_object_retention(Bucket=locked, Key="k", Retention=retention("COMPLIANCE", longer))
    for attempt in (
        retention("COMPLIANCE", first),
        retention("GOVERNANCE", longer + timedelta(days=1)),
        {},
    ):
        with pytest.raises(ClientError) as exc:
            s3.put_object_retention(
                Bucket=locked,
                Key="k",
                VersionId=version,
                Retention=attempt,
                BypassGovernanceRetention=True,
            )
        assert (code(exc), status(exc)) == ("AccessDenied", 403), attempt
    assert retain_until(s3, locked, "k", version) == longer


def test_PutObjectRetention_GOVERNANCE_weakened_only_with_bypass(s3, locked) -> None:
    """GOVERNANCE retention can be extended freely; shortened or removed only with
    x-amz-bypass-governance-retention (AccessDenied without)."""
    version = put(s3, locked, "k")
    until = later(days=3).replace(microsecond=0)
    s3.put_object_retention(Bucket=locked, Key="k", Retention=retention("GOVERNANCE", until))
    shorter = retention("GOVERNANCE", until - timedelta(days=1))
    with pytest.raises(ClientError) as exc:
        s3.put_object_retention(Bucket=locked, Key="k", Retention=shorter)
    assert code(exc) == "AccessDenied"
    s3.put_object_retention(
        Bucket=locked, Key="k", Retention=shorter, BypassGovernanceRetention=True
    )
    assert retain_until(s3, locked, "k", version) == shorter["RetainUntilDate"]
    with pytest.raises(ClientError) as exc:
        s3.put_object_retention(Bucket=locked, Key="k", Retention={})
    assert code(exc) == "AccessDenied"
    s3.put_object_retention(Bucket=locked, Key="k", Retention={}, BypassGovernanceRetention=True)
    with pytest.raises(ClientError) as exc:
        s3.get_object_retention(Bucket=locked, Key="k")
    assert (code(exc), status(exc)) == ("NoSuchObjectLockConfiguration", 404)
    # GOVERNANCE may become COMPLIANCE (stronger) without bypass.
    s3.put_object_retention(Bucket=locked, Key="k", Retention=retention("GOVERNANCE", until))
    s3.put_object_retention(Bucket=locked, Key="k", Retention=retention("COMPLIANCE", until))
    assert s3.head_object(Bucket=locked, Key="k")["ObjectLockMode"] == "COMPLIANCE"


def test_PutObjectRetention_refuses_a_date_in_the_past(s3, locked) -> None:
    """A RetainUntilDate that is not in the future is InvalidArgument."""
    put(s3, locked, "k")
    with pytest.raises(ClientError) as exc:
        s3.put_object_retention(
            Bucket=locked, Key="k", Retention=retention("GOVERNANCE", later(days=-1))
        )
    assert (code(exc), status(exc)) == ("InvalidArgument", 400)


def test_GetObjectRetention_and_GetObjectLegalHold_of_a_version_without_them(s3, locked) -> None:
    """A version without retention or legal hold: NoSuchObjectLockConfiguration (404)."""
    put(s3, locked, "k")
    for call in (s3.get_object_retention, s3.get_object_legal_hold):
        with pytest.raises(ClientError) as exc:
            call(Bucket=locked, Key="k")
        assert (code(exc), status(exc)) == ("NoSuchObjectLockConfiguration", 404)


def test_object_lock_operations_need_a_bucket_with_lock(s3, bucket) -> None:
    """Retention and legal hold on a bucket without lock: InvalidRequest."""
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    calls = [
        lambda: s3.get_object_retention(Bucket=bucket, Key="k"),
        lambda: s3.get_object_legal_hold(Bucket=bucket, Key="k"),
        lambda: s3.put_object_legal_hold(Bucket=bucket, Key="k", LegalHold={"Status": "ON"}),
        lambda: s3.put_object_retention(
            Bucket=bucket, Key="k", Retention=retention("GOVERNANCE", later(days=1))
        ),
    ]
    for call in calls:
        with pytest.raises(ClientError) as exc:
            call()
        assert (code(exc), status(exc)) == ("InvalidRequest", 400)


def test_PutObjectRetention_names_versions_by_id(s3, locked) -> None:
    """Retention goes to the version versionId names (an older one included); an
    unknown id is NoSuchVersion, a delete marker MethodNotAllowed, a deleted key
    NoSuchKey."""
    old = put(s3, locked, "k", b"old")
    new = put(s3, locked, "k", b"new")
    until = later(days=1).replace(microsecond=0)
    s3.put_object_retention(
        Bucket=locked, Key="k", VersionId=old, Retention=retention("GOVERNANCE", until)
    )
    assert retain_until(s3, locked, "k", old) == until
    with pytest.raises(ClientError) as exc:
        s3.get_object_retention(Bucket=locked, Key="k", VersionId=new)
    assert code(exc) == "NoSuchObjectLockConfiguration"
    with pytest.raises(ClientError) as exc:
        s3.get_object_retention(Bucket=locked, Key="k", VersionId="f" * 24)
    assert code(exc) == "NoSuchVersion"
    marker = s3.delete_object(Bucket=locked, Key="k")["VersionId"]
    with pytest.raises(ClientError) as exc:
        s3.put_object_legal_hold(
            Bucket=locked, Key="k", VersionId=marker, LegalHold={"Status": "ON"}
        )
    assert code(exc) == "MethodNotAllowed"
    with pytest.raises(ClientError) as exc:
        s3.get_object_retention(Bucket=locked, Key="k")
    assert code(exc) == "NoSuchKey"


def test_PutObjectLegalHold_sets_and_lifts_a_hold(s3, locked) -> None:
    """A legal hold is set and lifted by PutObjectLegalHold and answered by
    GetObjectLegalHold and HEAD."""
    version = put(s3, locked, "k")
    s3.put_object_legal_hold(Bucket=locked, Key="k", VersionId=version, LegalHold={"Status": "ON"})
    assert s3.head_object(Bucket=locked, Key="k")["ObjectLockLegalHoldStatus"] == "ON"
    s3.put_object_legal_hold(Bucket=locked, Key="k", LegalHold={"Status": "OFF"})
    hold = s3.get_object_legal_hold(Bucket=locked, Key="k", VersionId=version)
    assert hold["LegalHold"] == {"Status": "OFF"}


# Removal of protected versions -----------------------------------------------------


def test_DeleteObject_with_versionId_of_a_COMPLIANCE_version_is_refused(s3, locked) -> None:
    """A version under COMPLIANCE retention cannot be removed, bypass or not (403
    AccessDenied), and stays readable."""
    version = put(
        s3,
        locked,
        "k",
        b"keep",
        ObjectLockMode="COMPLIANCE",
        ObjectLockRetainUntilDate=later(days=1),
    )
    for bypass in (False, True):
        with pytest.raises(ClientError) as exc:
            s3.delete_object(
                Bucket=locked, Key="k", VersionId=version, BypassGovernanceRetention=bypass
            )
        assert (code(exc), status(exc)) == ("AccessDenied", 403)
    assert s3.get_object(Bucket=locked, Key="k", VersionId=version)["Body"].read() == b"keep"


def test_DeleteObject_with_versionId_of_a_GOVERNANCE_version_needs_bypass(s3, locked) -> None:
    """A version under GOVERNANCE retention is removed only with the bypass header."""
    version = put(
        s3, locked, "k", ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=later(days=1)
    )
    with pytest.raises(ClientError) as exc:
        s3.delete_object(Bucket=locked, Key="k", VersionId=version)
    assert code(exc) == "AccessDenied"
    s3.delete_object(Bucket=locked, Key="k", VersionId=version, BypassGovernanceRetention=True)
    assert "Versions" not in s3.list_object_versions(Bucket=locked)


def test_DeleteObject_with_versionId_of_a_held_version_is_refused(s3, locked) -> None:
    """A legal hold blocks removal whatever the retention (none here, bypass or not);
    once lifted, the version can go."""
    old = put(s3, locked, "k", b"old", ObjectLockLegalHoldStatus="ON")
    put(s3, locked, "k", b"new")
    for bypass in (False, True):
        with pytest.raises(ClientError) as exc:
            s3.delete_object(
                Bucket=locked, Key="k", VersionId=old, BypassGovernanceRetention=bypass
            )
        assert code(exc) == "AccessDenied"
    s3.put_object_legal_hold(Bucket=locked, Key="k", VersionId=old, LegalHold={"Status": "OFF"})
    s3.delete_object(Bucket=locked, Key="k", VersionId=old)


def test_DeleteObject_without_versionId_adds_a_marker_over_a_protected_version(s3, locked) -> None:
    """A plain DELETE of a protected object adds a delete marker, as on AWS; the
    protected version stays and can be read by id."""
    version = put(
        s3,
        locked,
        "k",
        b"keep",
        ObjectLockMode="COMPLIANCE",
        ObjectLockRetainUntilDate=later(days=1),
    )
    assert s3.delete_object(Bucket=locked, Key="k")["DeleteMarker"] is True
    assert s3.get_object(Bucket=locked, Key="k", VersionId=version)["Body"].read() == b"keep"


def test_DeleteObjects_with_VersionIds_refuses_protected_versions(s3, locked) -> None:
    """DeleteObjects reports AccessDenied for each protected version and removes the
    others; the bypass header lifts GOVERNANCE only."""
    until = later(days=1)
    compliance = put(s3, locked, "c", ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=until)
    governance = put(s3, locked, "g", ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=until)
    free = put(s3, locked, "f")
    objects = [
        {"Key": "c", "VersionId": compliance},
        {"Key": "g", "VersionId": governance},
        {"Key": "f", "VersionId": free},
    ]
    answer = s3.delete_objects(Bucket=locked, Delete={"Objects": objects})
    assert [d["Key"] for d in answer["Deleted"]] == ["f"]
    assert sorted((e["Key"], e["Code"]) for e in answer["Errors"]) == [
        ("c", "AccessDenied"),
        ("g", "AccessDenied"),
    ]
    answer = s3.delete_objects(
        Bucket=locked, Delete={"Objects": objects[:2]}, BypassGovernanceRetention=True
    )
    assert [d["Key"] for d in answer["Deleted"]] == ["g"]
    assert [(e["Key"], e["Code"]) for e in answer["Errors"]] == [("c", "AccessDenied")]


def test_DeleteObject_of_an_expired_retention_is_allowed(s3, locked) -> None:
    """Once its retain-until date has passed, a version can be removed."""
    version = put(
        s3, locked, "k", ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=later(seconds=2)
    )
    with pytest.raises(ClientError):
        s3.delete_object(Bucket=locked, Key="k", VersionId=version)
    time.sleep(2.2)
    s3.delete_object(Bucket=locked, Key="k", VersionId=version)


def test_DeleteBucket_refuses_a_bucket_with_locked_versions(s3, locked) -> None:
    """A bucket holding protected versions is not empty (BucketNotEmpty)."""
    put(s3, locked, "k", ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=later(days=1))
    s3.delete_object(Bucket=locked, Key="k")
    with pytest.raises(ClientError) as exc:
        s3.delete_bucket(Bucket=locked)
    assert (code(exc), status(exc)) == ("BucketNotEmpty", 409)


def test_PutObjectRetention_on_the_latest_version_stays_with_it_when_replaced(s3, locked) -> None:
    """Retention and hold set on the latest version stay with that version when a new
    version or a delete marker takes its place, and keep refusing its removal."""
    until = later(days=1).replace(microsecond=0)
    first = put(s3, locked, "k", b"first")
    s3.put_object_retention(Bucket=locked, Key="k", Retention=retention("COMPLIANCE", until))
    second = put(s3, locked, "k", b"second")
    s3.put_object_legal_hold(Bucket=locked, Key="k", LegalHold={"Status": "ON"})
    s3.delete_object(Bucket=locked, Key="k")  # a marker: "second" leaves objects/
    assert retain_until(s3, locked, "k", first) == until
    held = s3.get_object_legal_hold(Bucket=locked, Key="k", VersionId=second)
    assert held["LegalHold"] == {"Status": "ON"}
    for version in (first, second):
        with pytest.raises(ClientError) as exc:
            s3.delete_object(Bucket=locked, Key="k", VersionId=version)
        assert code(exc) == "AccessDenied"
    assert s3.get_object(Bucket=locked, Key="k", VersionId=first)["Body"].read() == b"first"
