"""Conditional writes on ``pys3local serve --backend s3`` over a real SeaweedFS cluster
(tests/seaweed.py), through boto3: with ``--upstream-conditional-writes`` the
If-None-Match / If-Match headers of PutObject and CompleteMultipartUpload go to the
upstream, which checks them atomically, and its 412 comes back (If-Match on a missing
key as 404 NoSuchKey, as on AWS, where SeaweedFS answers 412); racing writers get one
winner; without the setting every conditional write is NotImplemented."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError
from conftest import RunningServer
from seaweed import SeaweedCluster
from test_s3_conditional_races import one_winner, payload, race
from test_s3_conditional_writes import (
    FAILED,
    MISSING,
    NOT_IMPLEMENTED,
    error,
    new_upload,
    refused,
)
from test_s3_upstream_e2e import upstream_args, upstream_env

BUCKET = "cond"


@pytest.fixture
def gateway(
    seaweed: SeaweedCluster, make_server: Callable[..., RunningServer]
) -> Callable[..., RunningServer]:
    """Start a ``serve --backend s3`` over the cluster (``*extra`` options added) with a
    fresh bucket ``cond``."""

    def start(*extra: str) -> RunningServer:
        prefix = f"c{uuid.uuid4().hex[:8]}-"
        server = make_server(*upstream_args(seaweed, prefix), *extra, env=upstream_env(seaweed))
        server.client().create_bucket(Bucket=BUCKET)
        return server

    return start


def body(s3: Any, key: str) -> bytes:
    return s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()


def test_PutObject_conditions_upstream(gateway) -> None:
    """If-None-Match: * and If-Match are checked by the upstream: 412 on an existing key
    or a stale ETag, 404 NoSuchKey for If-Match on a missing key, the write otherwise."""
    s3 = gateway("--upstream-conditional-writes").client()
    etag = s3.put_object(Bucket=BUCKET, Key="k", Body=b"one", IfNoneMatch="*")["ETag"]
    assert refused(s3.put_object, Bucket=BUCKET, Key="k", Body=b"two", IfNoneMatch="*") == FAILED
    assert refused(s3.put_object, Bucket=BUCKET, Key="k", Body=b"two", IfMatch='"0123"') == FAILED
    assert refused(s3.put_object, Bucket=BUCKET, Key="absent", Body=b"two", IfMatch=etag) == MISSING
    assert body(s3, "k") == b"one"
    s3.put_object(Bucket=BUCKET, Key="k", Body=b"two", IfMatch=etag)
    assert body(s3, "k") == b"two"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]] == ["k"]


def test_CompleteMultipartUpload_conditions_upstream(gateway) -> None:
    """A refused completion (If-None-Match on an existing key, a stale If-Match) is 412,
    leaves the object and the upload; the current ETag completes it."""
    s3 = gateway("--upstream-conditional-writes").client()
    etag = s3.put_object(Bucket=BUCKET, Key="k", Body=b"old")["ETag"]
    upload_id, parts = new_upload(s3, BUCKET, "k", b"new")
    complete = {"Bucket": BUCKET, "Key": "k", "UploadId": upload_id, "MultipartUpload": parts}
    for conditions in ({"IfNoneMatch": "*"}, {"IfMatch": '"0123"'}):
        assert refused(s3.complete_multipart_upload, **complete, **conditions) == FAILED
        assert body(s3, "k") == b"old"
        assert s3.list_parts(Bucket=BUCKET, Key="k", UploadId=upload_id)["Parts"]
    s3.complete_multipart_upload(**complete, IfMatch=etag)
    assert body(s3, "k") == b"new"


def test_PutObject_conditional_race_upstream(gateway) -> None:
    """Racing If-None-Match: * writers, then racing If-Match writers with one old ETag:
    one winner each time, decided by the upstream."""
    server = gateway("--upstream-conditional-writes")
    s3 = server.client()

    def create(client: Any, i: int) -> None:
        client.put_object(Bucket=BUCKET, Key="race", Body=payload(i, 1000), IfNoneMatch="*")

    winner = one_winner(race(server, create))
    assert body(s3, "race") == payload(winner, 1000)
    etag = s3.head_object(Bucket=BUCKET, Key="race")["ETag"]

    def replace(client: Any, i: int) -> None:
        client.put_object(Bucket=BUCKET, Key="race", Body=payload(i, 1000, 1), IfMatch=etag)

    winner = one_winner(race(server, replace))
    assert body(s3, "race") == payload(winner, 1000, 1)


def test_PutObject_conditions_upstream_NotImplemented_unless_set(gateway) -> None:
    """Without --upstream-conditional-writes every conditional write is 501 naming the
    setting, and nothing is written."""
    s3 = gateway().client()
    etag = s3.put_object(Bucket=BUCKET, Key="k", Body=b"one")["ETag"]
    for conditions in ({"IfNoneMatch": "*"}, {"IfMatch": etag}):
        with pytest.raises(ClientError) as exc:
            s3.put_object(Bucket=BUCKET, Key="k", Body=b"two", **conditions)
        assert error(exc) == NOT_IMPLEMENTED
        assert "conditional_writes" in exc.value.response["Error"]["Message"]
    upload_id, parts = new_upload(s3, BUCKET, "k", b"three")
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(
            Bucket=BUCKET, Key="k", UploadId=upload_id, MultipartUpload=parts, IfMatch=etag
        )
    assert error(exc) == NOT_IMPLEMENTED
    assert body(s3, "k") == b"one"
