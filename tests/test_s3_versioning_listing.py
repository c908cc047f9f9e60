"""ListObjectVersions through boto3 and raw requests against a real server: order,
prefix, delimiter and CommonPrefixes, key-marker/version-id-marker paging, max-keys,
encoding-type=url; plus versioning on the default bucket in default mode and the
Drime backend's NotImplemented."""

from __future__ import annotations

import os

import pytest
from botocore.exceptions import ClientError
from conftest import RunningServer

from pys3local.providers.local.layout import StoreLayout


def enable(s3, bucket: str) -> None:
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})


def entries(page: dict) -> list[tuple[str, str, bool, bool]]:
    """A page's versions and markers in document order is not kept by boto3: sort
    them back (keys in byte order; versions newest first = ids ascending)."""
    found = [(v["Key"], v["VersionId"], v["IsLatest"], False) for v in page.get("Versions", [])]
    found += [
        (m["Key"], m["VersionId"], m["IsLatest"], True) for m in page.get("DeleteMarkers", [])
    ]
    return sorted(found, key=lambda e: (e[0].encode(), e[1]))


def paged(s3, bucket: str, max_keys: int) -> list[tuple[str, str, bool]]:
    """(key, version id, IsLatest) of every entry, listed ``max_keys`` at a time with
    NextKeyMarker/NextVersionIdMarker."""
    seen: list[tuple[str, str, bool]] = []
    kwargs: dict[str, str] = {}
    while True:
        page = s3.list_object_versions(Bucket=bucket, MaxKeys=max_keys, **kwargs)
        seen += [e[:3] for e in entries(page)]
        if not page["IsTruncated"]:
            return seen
        kwargs = {
            "KeyMarker": page["NextKeyMarker"],
            "VersionIdMarker": page["NextVersionIdMarker"],
        }


@pytest.fixture
def history(s3, bucket) -> dict[str, list[str]]:
    """Keys with several versions and markers; returns key -> version ids newest first."""
    enable(s3, bucket)
    made: dict[str, list[str]] = {}
    for key, count in [("a", 3), ("b/1", 2), ("b/2", 1), ("c", 2), ("é", 1), ("z/y/x", 2)]:
        for n in range(count):
            answer = s3.put_object(Bucket=bucket, Key=key, Body=f"{key}{n}".encode())
            made.setdefault(key, []).insert(0, answer["VersionId"])
    made["c"].insert(0, s3.delete_object(Bucket=bucket, Key="c")["VersionId"])
    return made


def test_ListObjectVersions_lists_every_version_in_order(s3, bucket, history) -> None:
    """Keys in byte order, versions newest first, IsLatest on the first of each key,
    the delete marker as a DeleteMarker entry."""
    page = s3.list_object_versions(Bucket=bucket)
    assert page["IsTruncated"] is False
    expected = []
    for key in sorted(history, key=str.encode):
        for n, version_id in enumerate(history[key]):
            expected.append((key, version_id, n == 0, key == "c" and n == 0))
    assert entries(page) == expected
    version = next(v for v in page["Versions"] if v["VersionId"] == history["a"][1])
    assert version["Size"] == 2 and version["ETag"].startswith('"')


def test_ListObjectVersions_pages_with_markers(s3, bucket, history) -> None:
    """max-keys pages continue with NextKeyMarker/NextVersionIdMarker, including in the
    middle of one key's versions, and together list everything once."""
    everything = entries(s3.list_object_versions(Bucket=bucket))
    seen: list[tuple[str, str, bool, bool]] = []
    kwargs: dict[str, str] = {}
    pages = 0
    while True:
        page = s3.list_object_versions(Bucket=bucket, MaxKeys=2, **kwargs)
        pages += 1
        got = entries(page)
        assert len(got) <= 2
        seen += got
        if not page["IsTruncated"]:
            break
        kwargs = {
            "KeyMarker": page["NextKeyMarker"],
            "VersionIdMarker": page["NextVersionIdMarker"],
        }
    assert seen == everything and pages == (len(everything) + 1) // 2
    # A key marker alone starts after that key.
    page = s3.list_object_versions(Bucket=bucket, KeyMarker="b/2")
    assert {e[0] for e in entries(page)} == {"c", "é", "z/y/x"}


def test_ListObjectVersions_prefix_delimiter_and_common_prefixes(s3, bucket, history) -> None:
    """Delimiter "/" rolls keys up into CommonPrefixes (paged like keys); a prefix
    limits the listing."""
    page = s3.list_object_versions(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in page["CommonPrefixes"]] == ["b/", "z/"]
    assert {e[0] for e in entries(page)} == {"a", "c", "é"}
    page = s3.list_object_versions(Bucket=bucket, Prefix="b/")
    assert [e[:2] for e in entries(page)] == sorted(
        [("b/1", v) for v in history["b/1"]] + [("b/2", v) for v in history["b/2"]]
    )
    page = s3.list_object_versions(Bucket=bucket, Prefix="z/", Delimiter="/")
    assert [p["Prefix"] for p in page["CommonPrefixes"]] == ["z/y/"]
    # A prefix ending in a common prefix page: max-keys counts it.
    page = s3.list_object_versions(Bucket=bucket, Delimiter="/", MaxKeys=4)
    assert page["IsTruncated"] is True
    page = s3.list_object_versions(Bucket=bucket, Delimiter="/", KeyMarker="b/")
    assert "b/" not in [p["Prefix"] for p in page.get("CommonPrefixes", [])]
    # Another delimiter rolls up too.
    page = s3.list_object_versions(Bucket=bucket, Delimiter="1")
    assert [p["Prefix"] for p in page["CommonPrefixes"]] == ["b/1"]


def test_ListObjectVersions_encoding_type_url(s3, bucket) -> None:
    """encoding-type=url encodes keys and prefixes (boto3 decodes them back)."""
    enable(s3, bucket)
    s3.put_object(Bucket=bucket, Key="a b+c/é", Body=b"x")
    # boto3 decodes only when it asked for the encoding itself, so ask by hand here.
    page = s3.list_object_versions(Bucket=bucket, EncodingType="url", Delimiter="/")
    assert page["EncodingType"] == "url"
    assert page["CommonPrefixes"][0]["Prefix"] == "a%20b%2Bc/"
    page = s3.list_object_versions(Bucket=bucket, EncodingType="url")
    assert page["Versions"][0]["Key"] == "a%20b%2Bc/%C3%A9"
    # Left to itself boto3 asks for url encoding and decodes.
    assert s3.list_object_versions(Bucket=bucket)["Versions"][0]["Key"] == "a b+c/é"


def test_ListObjectVersions_errors(s3, bucket) -> None:
    """A version-id-marker without a key-marker and a bad encoding-type are
    InvalidArgument; an unknown bucket NoSuchBucket; an unversioned bucket lists its
    objects as null versions."""
    with pytest.raises(ClientError) as exc:
        s3.list_object_versions(Bucket=bucket, VersionIdMarker="null")
    assert exc.value.response["Error"]["Code"] == "InvalidArgument"
    with pytest.raises(ClientError) as exc:
        s3.list_object_versions(Bucket="no-such-bucket-here")
    assert exc.value.response["Error"]["Code"] == "NoSuchBucket"
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    page = s3.list_object_versions(Bucket=bucket)
    assert [(v["Key"], v["VersionId"], v["IsLatest"]) for v in page["Versions"]] == [
        ("k", "null", True)
    ]


def test_ListObjectVersions_shows_overwritten_unversioned_data_as_null(s3, bucket) -> None:
    """Data written before versioning is the null version, listed after newer ones."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"old")
    enable(s3, bucket)
    new = s3.put_object(Bucket=bucket, Key="k", Body=b"new")["VersionId"]
    page = s3.list_object_versions(Bucket=bucket)
    assert [(v["VersionId"], v["IsLatest"]) for v in page["Versions"]] == [
        (new, True),
        ("null", False),
    ]


def test_PutBucketVersioning_on_the_default_bucket(make_server) -> None:
    """Default mode: the default bucket can be versioned like any other."""
    server = make_server()
    s3 = server.client()
    enable(s3, "default")
    assert s3.get_bucket_versioning(Bucket="default")["Status"] == "Enabled"
    first = s3.put_object(Bucket="default", Key="k", Body=b"1")["VersionId"]
    s3.put_object(Bucket="default", Key="k", Body=b"2")
    assert s3.get_object(Bucket="default", Key="k", VersionId=first)["Body"].read() == b"1"


def test_versioning_on_Drime_is_NotImplemented(drime: RunningServer) -> None:
    """Drime keeps no versions: setting versioning, listing versions, reading, copying
    or deleting a version id answer NotImplemented naming the backend; GetBucketVersioning
    truthfully has no Status and versionId=null still names the object."""
    s3 = drime.client()
    s3.put_object(Bucket="default", Key="k", Body=b"x")
    attempts = [
        lambda: s3.put_bucket_versioning(
            Bucket="default", VersioningConfiguration={"Status": "Enabled"}
        ),
        lambda: s3.list_object_versions(Bucket="default"),
        lambda: s3.get_object(Bucket="default", Key="k", VersionId="0" * 24),
        lambda: s3.head_object(Bucket="default", Key="k", VersionId="0" * 24),
        lambda: s3.delete_object(Bucket="default", Key="k", VersionId="0" * 24),
        lambda: s3.copy_object(
            Bucket="default",
            Key="c",
            CopySource={"Bucket": "default", "Key": "k", "VersionId": "0" * 24},
        ),
    ]
    for n, attempt in enumerate(attempts):
        with pytest.raises(ClientError) as caught:
            attempt()
        error = caught.value.response
        assert error["ResponseMetadata"]["HTTPStatusCode"] == 501, n
        if n != 3:  # HEAD answers carry no body
            assert "Drime backend" in error["Error"]["Message"], n
    assert "Status" not in s3.get_bucket_versioning(Bucket="default")
    assert s3.get_object(Bucket="default", Key="k", VersionId="null")["Body"].read() == b"x"
    assert s3.get_object(Bucket="default", Key="k")["Body"].read() == b"x"


def test_ListObjectVersions_pages_one_at_a_time_through_null_versions(s3, bucket) -> None:
    """max-keys=1 pages through a key whose null version is the oldest (written before
    versioning) and one whose null version is current (written while suspended)."""
    s3.put_object(Bucket=bucket, Key="a", Body=b"legacy")
    enable(s3, bucket)
    a_ids = [s3.put_object(Bucket=bucket, Key="a", Body=b"x")["VersionId"] for _ in range(2)]
    b_ids = [s3.put_object(Bucket=bucket, Key="b", Body=b"x")["VersionId"] for _ in range(2)]
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    s3.put_object(Bucket=bucket, Key="b", Body=b"suspended")
    assert paged(s3, bucket, 1) == [
        ("a", a_ids[1], True),
        ("a", a_ids[0], False),
        ("a", "null", False),
        ("b", "null", True),
        ("b", b_ids[1], False),
        ("b", b_ids[0], False),
    ]


def test_ListObjectVersions_keys_with_and_without_versions_directories(s3, bucket) -> None:
    """Keys never overwritten (no versions directory: only their null or current
    version) between keys with older versions and markers list correctly page by page,
    whatever key a page starts or ends on."""
    for key in ("a", "c", "e"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"legacy")
    enable(s3, bucket)
    made: dict[str, list[str]] = {"a": ["null"], "c": ["null"], "e": ["null"]}
    for key, count in (("b", 2), ("c", 1), ("d", 1), ("f", 3)):
        for _ in range(count):
            made.setdefault(key, []).insert(0, s3.put_object(Bucket=bucket, Key=key)["VersionId"])
    made["d"].insert(0, s3.delete_object(Bucket=bucket, Key="d")["VersionId"])
    expected = [
        (key, version_id, n == 0) for key in sorted(made) for n, version_id in enumerate(made[key])
    ]
    assert [e[:3] for e in entries(s3.list_object_versions(Bucket=bucket))] == expected
    for max_keys in (1, 2, 3):
        assert paged(s3, bucket, max_keys) == expected, max_keys


def test_ListObjectVersions_skips_versions_whose_data_file_is_gone(server, s3, bucket) -> None:
    """A non-current version whose data file is gone (a removal cut short between its
    two unlinks) or is not a regular file is never listed, on any page; every version
    listed shows the Size, ETag and LastModified a HEAD of that version shows."""
    enable(s3, bucket)
    ids = [
        s3.put_object(Bucket=bucket, Key="k", Body=b"x" * (n + 1))["VersionId"] for n in range(5)
    ]
    marker = s3.delete_object(Bucket=bucket, Key="k")["VersionId"]
    layout = StoreLayout(server.data_dir)
    versions = layout.key_versions_dir(bucket, "k")
    os.unlink(versions / ids[3])  # the sidecar alone stays
    os.unlink(versions / ids[1])
    os.mkdir(versions / ids[1])  # a directory where the data file was
    expected = [("k", marker, True), ("k", ids[4], False), ("k", ids[2], False)]
    expected.append(("k", ids[0], False))
    for max_keys in (1, 2, 1000):
        assert paged(s3, bucket, max_keys) == expected
    listed = s3.list_object_versions(Bucket=bucket)["Versions"]
    assert [v["VersionId"] for v in listed] == [ids[4], ids[2], ids[0]]
    for version in listed:
        head = s3.head_object(Bucket=bucket, Key="k", VersionId=version["VersionId"])
        assert version["Size"] == head["ContentLength"]
        assert version["ETag"] == head["ETag"]
        assert version["LastModified"].replace(microsecond=0) == head["LastModified"]
    for gone in (ids[3], ids[1]):
        with pytest.raises(ClientError) as error:
            s3.head_object(Bucket=bucket, Key="k", VersionId=gone)
        assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
