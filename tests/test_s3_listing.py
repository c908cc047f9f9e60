"""ListObjects and ListObjectsV2: order, pagination, prefixes, delimiters, encoding."""

from __future__ import annotations

from urllib.parse import unquote_plus

import httpx
import pytest
from botocore.exceptions import ClientError


@pytest.fixture(scope="module")
def listed_bucket(server) -> tuple[str, list[str]]:
    """A bucket holding 1500 keys in a few directories (filled once, via the files)."""
    s3 = server.client()
    name = "listing-fixture"
    s3.create_bucket(Bucket=name)
    keys = [f"d{i % 3}/k{i:05d}" for i in range(1500)]
    objects = server.data_dir / name / "objects"
    for key in keys:
        path = objects / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    return name, sorted(keys)


def test_ListObjectsV2_paginates_every_key(server, listed_bucket) -> None:
    name, keys = listed_bucket
    s3 = server.client()
    pages = list(
        s3.get_paginator("list_objects_v2").paginate(
            Bucket=name, PaginationConfig={"PageSize": 400}
        )
    )
    assert [o["Key"] for p in pages for o in p["Contents"]] == keys
    assert [p["KeyCount"] for p in pages] == [400, 400, 400, 300]
    assert all(p["IsTruncated"] for p in pages[:-1]) and not pages[-1]["IsTruncated"]


def test_ListObjects_v1_paginates_every_key(server, listed_bucket) -> None:
    name, keys = listed_bucket
    s3 = server.client()
    pages = list(s3.get_paginator("list_objects").paginate(Bucket=name))
    assert [o["Key"] for p in pages for o in p["Contents"]] == keys
    assert pages[0]["NextMarker"] == keys[999]


def test_ListObjectsV2_StartAfter(server, listed_bucket) -> None:
    name, keys = listed_bucket
    page = server.client().list_objects_v2(Bucket=name, StartAfter=keys[1200], MaxKeys=5)
    assert [o["Key"] for o in page["Contents"]] == keys[1201:1206]
    assert page["StartAfter"] == keys[1200]


def test_ListObjectsV2_delimiter_and_prefix(server, listed_bucket) -> None:
    name, keys = listed_bucket
    s3 = server.client()
    top = s3.list_objects_v2(Bucket=name, Delimiter="/")
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["d0/", "d1/", "d2/"]
    assert "Contents" not in top
    one = s3.list_objects_v2(Bucket=name, Delimiter="/", MaxKeys=1)
    assert [p["Prefix"] for p in one["CommonPrefixes"]] == ["d0/"] and one["IsTruncated"]
    rest = s3.list_objects_v2(
        Bucket=name, Delimiter="/", ContinuationToken=one["NextContinuationToken"]
    )
    assert [p["Prefix"] for p in rest["CommonPrefixes"]] == ["d1/", "d2/"]
    sub = s3.list_objects_v2(Bucket=name, Prefix="d1/k0001")
    assert [o["Key"] for o in sub["Contents"]] == [k for k in keys if k.startswith("d1/k0001")]


def test_ListObjects_prefix_is_not_a_pattern(s3, bucket) -> None:
    """Prefix matching is exact and case-sensitive ('_' and '%' are not wildcards)."""
    for key in ["abc_lower", "ABC", "a_c", "aXc", "100%", "1000"]:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="ABC")["Contents"]] == [
        "ABC"
    ]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="a_c")["Contents"]] == [
        "a_c"
    ]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="100%")["Contents"]] == [
        "100%"
    ]


def test_ListObjects_order_is_utf8_byte_order(s3, bucket) -> None:
    keys = ["b", "a/b", "a-b", "a", "é", "z", "Z", "~", "a0", "aé", "𝄞"]
    keys.remove("a")  # 'a' would collide with the directory of 'a/b' on disk
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert listed == sorted(keys, key=lambda k: k.encode("utf-8"))


def test_ListObjectsV2_encoding_type_url(server, s3, bucket) -> None:
    """With encoding-type=url keys are percent-encoded ('+' as %2B) and botocore decodes them."""
    s3.put_object(Bucket=bucket, Key="a+b c/ü", Body=b"x")
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["a+b c/ü"]
    url = server.client(signature_version="s3v4").generate_presigned_url(
        "list_objects_v2", Params={"Bucket": bucket, "EncodingType": "url"}
    )
    raw = httpx.get(url).text
    assert "<Key>a%2Bb%20c/%C3%BC</Key>" in raw
    assert unquote_plus("a%2Bb%20c/%C3%BC") == "a+b c/ü"


def test_ListObjectsV2_fetch_owner_and_bad_arguments(s3, bucket) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    with_owner = s3.list_objects_v2(Bucket=bucket, FetchOwner=True)
    assert with_owner["Contents"][0]["Owner"]["ID"]
    assert "Owner" not in s3.list_objects_v2(Bucket=bucket)["Contents"][0]
    with pytest.raises(ClientError) as exc:
        s3.list_objects_v2(Bucket=bucket, ContinuationToken="not-a-token")
    assert exc.value.response["Error"]["Code"] == "InvalidArgument"


def test_ListObjects_missing_bucket(s3) -> None:
    with pytest.raises(ClientError) as exc:
        s3.list_objects_v2(Bucket="missing-bucket-x")
    assert exc.value.response["Error"]["Code"] == "NoSuchBucket"
