"""Bucket versioning on the local backend, through boto3 against a real server:
Get/PutBucketVersioning, versions made by every write, reads and deletes by version
id, delete markers, DeleteObjects with versions, suspended versioning and the null
version, copies of a version, and what a bucket that never had versioning keeps."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from pys3local.backends.registry import backend_type
from tests.clients import upload_in_one_part

VERSION_ID = re.compile(r"[0-9a-f]{24}")


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return exc.value.response["Error"]["Code"]


def status(exc: pytest.ExceptionInfo[ClientError]) -> int:
    return exc.value.response["ResponseMetadata"]["HTTPStatusCode"]


def enable(s3, bucket: str, state: str = "Enabled") -> None:
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": state})


def body(s3, bucket: str, key: str, **kwargs) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key, **kwargs)["Body"].read()


def versions(s3, bucket: str, **kwargs) -> list[tuple[str, str, bool, bool]]:
    """(key, version id, is latest, is a delete marker) of every entry, all pages."""
    found: list[tuple[str, str, bool, bool, str]] = []
    paginator = s3.get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=bucket, **kwargs):
        for v in page.get("Versions", []):
            found.append((v["Key"], v["VersionId"], v["IsLatest"], False, v["LastModified"]))
        for m in page.get("DeleteMarkers", []):
            found.append((m["Key"], m["VersionId"], m["IsLatest"], True, m["LastModified"]))
    # boto3 splits versions and markers into two lists: restore one order (key, newest).
    found.sort(key=lambda e: (e[0].encode(), -e[4].timestamp()))
    return [e[:4] for e in found]


def test_GetBucketVersioning_has_no_status_until_set(s3, bucket) -> None:
    """A new bucket answers no Status; Enabled and Suspended are then reported."""
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)
    enable(s3, bucket)
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    enable(s3, bucket, "Suspended")
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"


def test_PutBucketVersioning_refuses_bad_documents(s3, bucket) -> None:
    """A Status other than Enabled/Suspended is IllegalVersioningConfigurationException,
    MFA delete is NotImplemented, a missing bucket NoSuchBucket."""
    with pytest.raises(ClientError) as exc:
        enable(s3, bucket, "On")
    assert code(exc) == "IllegalVersioningConfigurationException"
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_versioning(
            Bucket=bucket, VersioningConfiguration={"Status": "Enabled", "MFADelete": "Enabled"}
        )
    assert code(exc) == "NotImplemented"
    with pytest.raises(ClientError) as exc:
        enable(s3, "no-such-bucket-here")
    assert code(exc) == "NoSuchBucket"
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)


def test_PutObject_makes_versions_and_GetObject_reads_each(s3, bucket) -> None:
    """Every PUT returns a new opaque version id; GET/HEAD give the latest and its id,
    ?versionId= any version."""
    enable(s3, bucket)
    ids = []
    for n in range(3):
        answer = s3.put_object(Bucket=bucket, Key="k", Body=f"v{n}".encode())
        assert VERSION_ID.fullmatch(answer["VersionId"])
        ids.append(answer["VersionId"])
    assert len(set(ids)) == 3
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["Body"].read() == b"v2" and got["VersionId"] == ids[2]
    assert s3.head_object(Bucket=bucket, Key="k")["VersionId"] == ids[2]
    for n, version_id in enumerate(ids):
        assert body(s3, bucket, "k", VersionId=version_id) == f"v{n}".encode()
        head = s3.head_object(Bucket=bucket, Key="k", VersionId=version_id)
        assert head["ContentLength"] == 2 and head["VersionId"] == version_id
    assert body(s3, bucket, "k", VersionId=ids[0], Range="bytes=1-1") == b"0"
    assert versions(s3, bucket) == [
        ("k", ids[2], True, False),
        ("k", ids[1], False, False),
        ("k", ids[0], False, False),
    ]
    # ListObjectsV2 shows the live object only.
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert [(o["Key"], o["Size"]) for o in listed] == [("k", 2)]


def test_GetObject_unknown_or_malformed_versionId(s3, bucket) -> None:
    """A well-formed unknown id is NoSuchVersion (404); a malformed one InvalidArgument."""
    enable(s3, bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="k", VersionId="0" * 24)
    assert code(exc) == "NoSuchVersion" and status(exc) == 404
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="k", VersionId="../../etc")
    assert code(exc) == "InvalidArgument" and status(exc) == 400


def test_DeleteObject_adds_a_delete_marker(s3, bucket) -> None:
    """DELETE without a version id adds a marker: GET is 404 NoSuchKey with
    x-amz-delete-marker; GET of the marker's id is 405; older versions stay readable."""
    enable(s3, bucket)
    first = s3.put_object(Bucket=bucket, Key="d", Body=b"one")["VersionId"]
    answer = s3.delete_object(Bucket=bucket, Key="d")
    assert answer["DeleteMarker"] is True
    marker = answer["VersionId"]
    assert VERSION_ID.fullmatch(marker) and marker != first
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="d")
    assert code(exc) == "NoSuchKey"
    headers = exc.value.response["ResponseMetadata"]["HTTPHeaders"]
    assert headers["x-amz-delete-marker"] == "true" and headers["x-amz-version-id"] == marker
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="d")
    assert status(exc) == 404
    assert exc.value.response["ResponseMetadata"]["HTTPHeaders"]["x-amz-delete-marker"] == "true"
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="d", VersionId=marker)
    assert code(exc) == "MethodNotAllowed" and status(exc) == 405
    assert exc.value.response["ResponseMetadata"]["HTTPHeaders"]["x-amz-delete-marker"] == "true"
    assert body(s3, bucket, "d", VersionId=first) == b"one"
    assert s3.list_objects_v2(Bucket=bucket).get("Contents") is None
    assert versions(s3, bucket) == [("d", marker, True, True), ("d", first, False, False)]


def test_DeleteObject_of_the_marker_brings_the_object_back(s3, bucket) -> None:
    """Removing the delete marker by version id makes the version before it current."""
    enable(s3, bucket)
    first = s3.put_object(Bucket=bucket, Key="d", Body=b"one")["VersionId"]
    marker = s3.delete_object(Bucket=bucket, Key="d")["VersionId"]
    answer = s3.delete_object(Bucket=bucket, Key="d", VersionId=marker)
    assert answer["VersionId"] == marker and answer["DeleteMarker"] is True
    got = s3.get_object(Bucket=bucket, Key="d")
    assert got["Body"].read() == b"one" and got["VersionId"] == first
    assert versions(s3, bucket) == [("d", first, True, False)]


def test_DeleteObject_with_versionId_removes_that_version_for_good(s3, bucket) -> None:
    """Deleting the current version makes the previous one current; deleting an old
    one leaves the current; a deleted version id is then NoSuchVersion."""
    enable(s3, bucket)
    ids = [
        s3.put_object(Bucket=bucket, Key="k", Body=f"v{n}".encode())["VersionId"] for n in range(3)
    ]
    answer = s3.delete_object(Bucket=bucket, Key="k", VersionId=ids[2])
    assert answer["VersionId"] == ids[2] and "DeleteMarker" not in answer
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["Body"].read() == b"v1" and got["VersionId"] == ids[1]
    s3.delete_object(Bucket=bucket, Key="k", VersionId=ids[0])
    assert body(s3, bucket, "k") == b"v1"
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="k", VersionId=ids[0])
    assert code(exc) == "NoSuchVersion"
    s3.delete_object(Bucket=bucket, Key="k", VersionId=ids[1])
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="k")
    assert code(exc) == "NoSuchKey"
    assert "x-amz-delete-marker" not in exc.value.response["ResponseMetadata"]["HTTPHeaders"]
    assert versions(s3, bucket) == []
    s3.delete_bucket(Bucket=bucket)  # nothing is left behind


def test_DeleteBucket_refuses_a_bucket_with_versions(s3, bucket) -> None:
    """Non-current versions and delete markers keep a bucket from being deleted."""
    enable(s3, bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    s3.delete_object(Bucket=bucket, Key="k")
    with pytest.raises(ClientError) as exc:
        s3.delete_bucket(Bucket=bucket)
    assert code(exc) == "BucketNotEmpty"
    for key, version_id, _latest, _marker in versions(s3, bucket):
        s3.delete_object(Bucket=bucket, Key=key, VersionId=version_id)
    s3.delete_bucket(Bucket=bucket)


def test_DeleteObjects_with_version_ids_and_markers(s3, bucket) -> None:
    """DeleteObjects adds markers (DeleteMarker, DeleteMarkerVersionId) for keys without
    a VersionId and removes the named versions for keys with one."""
    enable(s3, bucket)
    a1 = s3.put_object(Bucket=bucket, Key="a", Body=b"a1")["VersionId"]
    a2 = s3.put_object(Bucket=bucket, Key="a", Body=b"a2")["VersionId"]
    s3.put_object(Bucket=bucket, Key="b", Body=b"b1")
    answer = s3.delete_objects(
        Bucket=bucket,
        Delete={"Objects": [{"Key": "a", "VersionId": a1}, {"Key": "b"}]},
    )
    deleted = {d["Key"]: d for d in answer["Deleted"]}
    assert deleted["a"]["VersionId"] == a1 and "DeleteMarker" not in deleted["a"]
    assert deleted["b"]["DeleteMarker"] is True
    marker = deleted["b"]["DeleteMarkerVersionId"]
    assert VERSION_ID.fullmatch(marker)
    listed = versions(s3, bucket)
    assert listed[:2] == [("a", a2, True, False), ("b", marker, True, True)]
    assert listed[2][0] == "b" and listed[2][2:] == (False, False) and len(listed) == 3
    answer = s3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": "b", "VersionId": marker}]}
    )
    assert answer["Deleted"][0]["DeleteMarker"] is True
    assert answer["Deleted"][0]["DeleteMarkerVersionId"] == marker
    assert body(s3, bucket, "b") == b"b1"


def test_suspended_versioning_replaces_the_null_version(s3, bucket) -> None:
    """Data written before versioning is the null version; while suspended, writes get
    the id "null" and replace the null version, older versions stay."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"before")
    enable(s3, bucket)
    assert body(s3, bucket, "k", VersionId="null") == b"before"
    enabled = s3.put_object(Bucket=bucket, Key="k", Body=b"enabled")["VersionId"]
    assert body(s3, bucket, "k", VersionId="null") == b"before"
    enable(s3, bucket, "Suspended")
    answer = s3.put_object(Bucket=bucket, Key="k", Body=b"suspended-1")
    assert answer["VersionId"] == "null"
    s3.put_object(Bucket=bucket, Key="k", Body=b"suspended-2")
    assert body(s3, bucket, "k") == b"suspended-2"
    assert body(s3, bucket, "k", VersionId="null") == b"suspended-2"
    assert body(s3, bucket, "k", VersionId=enabled) == b"enabled"
    assert [(v[1], v[2]) for v in versions(s3, bucket)] == [("null", True), (enabled, False)]
    # A plain DELETE while suspended: a null delete marker replaces the null version.
    answer = s3.delete_object(Bucket=bucket, Key="k")
    assert answer["DeleteMarker"] is True and answer["VersionId"] == "null"
    assert versions(s3, bucket) == [("k", "null", True, True), ("k", enabled, False, False)]


def test_CopyObject_of_a_version(s3, bucket) -> None:
    """CopyObject with ?versionId on the source copies that version, answers
    x-amz-copy-source-version-id and the new version's id; copying an old version onto
    its own key restores it."""
    enable(s3, bucket)
    old = s3.put_object(Bucket=bucket, Key="src", Body=b"old")["VersionId"]
    s3.put_object(Bucket=bucket, Key="src", Body=b"new")
    answer = s3.copy_object(
        Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src", "VersionId": old}
    )
    assert answer["CopySourceVersionId"] == old
    assert VERSION_ID.fullmatch(answer["VersionId"])
    assert body(s3, bucket, "dst") == b"old"
    restored = s3.copy_object(
        Bucket=bucket, Key="src", CopySource={"Bucket": bucket, "Key": "src", "VersionId": old}
    )
    assert body(s3, bucket, "src") == b"old"
    assert s3.head_object(Bucket=bucket, Key="src")["VersionId"] == restored["VersionId"]
    assert len(versions(s3, bucket, Prefix="src")) == 3
    with pytest.raises(ClientError) as exc:
        s3.copy_object(
            Bucket=bucket,
            Key="dst",
            CopySource={"Bucket": bucket, "Key": "src", "VersionId": "0" * 24},
        )
    assert code(exc) == "NoSuchVersion"


def test_UploadPartCopy_and_CompleteMultipartUpload_versions(s3, bucket) -> None:
    """UploadPartCopy reads the named source version (x-amz-copy-source-version-id) and
    CompleteMultipartUpload makes a new version."""
    enable(s3, bucket)
    old = s3.put_object(Bucket=bucket, Key="src", Body=b"0123456789")["VersionId"]
    s3.put_object(Bucket=bucket, Key="src", Body=b"later")
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    part = s3.upload_part_copy(
        Bucket=bucket,
        Key="mp",
        UploadId=upload,
        PartNumber=1,
        CopySource={"Bucket": bucket, "Key": "src", "VersionId": old},
        CopySourceRange="bytes=2-5",
    )
    assert part["CopySourceVersionId"] == old
    done = s3.complete_multipart_upload(
        Bucket=bucket,
        Key="mp",
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["CopyPartResult"]["ETag"]}]},
    )
    assert VERSION_ID.fullmatch(done["VersionId"])
    assert body(s3, bucket, "mp") == b"2345"
    upload_in_one_part(s3, bucket, "mp", b"again")
    assert body(s3, bucket, "mp") == b"again"
    assert [v[1] for v in versions(s3, bucket, Prefix="mp")][1] == done["VersionId"]


def test_unversioned_bucket_keeps_its_layout(server, s3, bucket) -> None:
    """A bucket whose versioning was never set answers no version ids and keeps no
    version tree or settings file; versionId=null still reads its objects."""
    answer = s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert "VersionId" not in answer
    assert "VersionId" not in s3.get_object(Bucket=bucket, Key="k")
    assert body(s3, bucket, "k", VersionId="null") == b"x"
    answer = s3.delete_object(Bucket=bucket, Key="k")
    assert "DeleteMarker" not in answer
    directory = Path(server.data_dir) / bucket
    assert sorted(os.listdir(directory)) == [".metadata", "objects"]


def test_backend_records_say_which_backends_keep_versions() -> None:
    """The registry's capabilities say what the providers do: the local backend keeps
    versions, Drime and the s3 backend do not."""
    assert backend_type("local").capabilities.versioning is True
    assert backend_type("drime").capabilities.versioning is False
    assert backend_type("s3").capabilities.versioning is False
