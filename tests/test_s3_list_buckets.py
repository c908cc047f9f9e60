"""ListBuckets paging (max-buckets, continuation-token, prefix, bucket-region)
through boto3 and the aws cli against a real server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from clients import aws, aws_env
from conftest import RunningServer, start_server

NAMES = ["photos-a", "photos-b", "photos-c", "videos-a", "videos-b"]


@pytest.fixture(scope="module")
def buckets_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server of its own, holding exactly the buckets NAMES."""
    running = start_server(tmp_path_factory.mktemp("list-buckets"), "--allow-bucket-creation")
    s3 = running.client()
    for name in NAMES:
        s3.create_bucket(Bucket=name)
    yield running
    running.stop()


def test_ListBuckets_pages_with_max_buckets_and_continuation_token(
    buckets_server: RunningServer,
) -> None:
    """max-buckets cuts the list into pages joined by ContinuationToken, in name order."""
    s3 = buckets_server.client()
    seen: list[str] = []
    pages = 0
    kwargs: dict[str, object] = {"MaxBuckets": 2}
    while True:
        page = s3.list_buckets(**kwargs)
        pages += 1
        assert len(page["Buckets"]) <= 2
        assert all(b["BucketRegion"] == "us-east-1" for b in page["Buckets"])
        seen += [b["Name"] for b in page["Buckets"]]
        if "ContinuationToken" not in page:
            break
        kwargs["ContinuationToken"] = page["ContinuationToken"]
    assert seen == NAMES
    assert pages == 3
    # boto3's own paginator follows the same tokens.
    paginator = s3.get_paginator("list_buckets")
    names = [
        b["Name"]
        for page in paginator.paginate(PaginationConfig={"PageSize": 3})
        for b in page["Buckets"]
    ]
    assert names == NAMES


def test_ListBuckets_prefix_and_bucket_region(buckets_server: RunningServer) -> None:
    """prefix keeps the names that start with it (and is echoed); a bucket-region
    other than the server's lists nothing."""
    s3 = buckets_server.client()
    page = s3.list_buckets(Prefix="videos-")
    assert [b["Name"] for b in page["Buckets"]] == ["videos-a", "videos-b"]
    assert page["Prefix"] == "videos-"
    assert "ContinuationToken" not in page
    page = s3.list_buckets(Prefix="photos-", MaxBuckets=2)
    assert [b["Name"] for b in page["Buckets"]] == ["photos-a", "photos-b"]
    rest = s3.list_buckets(Prefix="photos-", ContinuationToken=page["ContinuationToken"])
    assert [b["Name"] for b in rest["Buckets"]] == ["photos-c"]
    assert [b["Name"] for b in s3.list_buckets(BucketRegion="us-east-1")["Buckets"]] == NAMES
    assert s3.list_buckets(BucketRegion="eu-west-1")["Buckets"] == []
    # Without paging parameters the answer is the classic one: no BucketRegion.
    assert all("BucketRegion" not in b for b in s3.list_buckets()["Buckets"])


def test_ListBuckets_bad_max_buckets_and_token(buckets_server: RunningServer) -> None:
    """max-buckets outside 1..10000 and a token we never issued answer InvalidArgument."""
    s3 = buckets_server.client(parameter_validation=False)
    for bad in (0, 10001):
        with pytest.raises(ClientError) as caught:
            s3.list_buckets(MaxBuckets=bad)
        assert caught.value.response["Error"]["Code"] == "InvalidArgument"
    with pytest.raises(ClientError) as caught:
        s3.list_buckets(ContinuationToken="not-a-token")
    assert caught.value.response["Error"]["Code"] == "InvalidArgument"


def test_ListBuckets_aws_cli_paging(buckets_server: RunningServer, tmp_path: Path) -> None:
    """``aws s3api list-buckets --max-buckets --prefix`` gets one page and its token."""
    env = aws_env(buckets_server, tmp_path)
    out = aws(
        buckets_server,
        env,
        "s3api",
        "list-buckets",
        "--max-buckets",
        "1",
        "--prefix",
        "videos-",
        "--no-paginate",
        "--output",
        "json",
    )
    page = json.loads(out.stdout)
    assert [b["Name"] for b in page["Buckets"]] == ["videos-a"]
    assert page["ContinuationToken"]
