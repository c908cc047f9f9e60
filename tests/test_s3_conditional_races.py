"""Conditional writes racing each other through boto3 against real servers: of N
PutObject (or CompleteMultipartUpload) requests with ``If-None-Match: *``, or with
``If-Match`` naming the same old ETag, sent to one key at the same moment, exactly one
succeeds and every other gets 412, on one process and with ``serve --workers 2``, in
unversioned and versioned buckets: the check and the write are one step under the
key's lock."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError
from conftest import RunningServer
from test_workers import served_by

#: Writers per race, and how many races a test runs.
WRITERS = 8
ROUNDS = 3
KiB = 1024


def race(server: RunningServer, write: Callable[[Any, int], None]) -> list[str]:
    """Run ``write(client, i)`` for every writer at once (each with its own client and
    connection, released together by a barrier); return each one's outcome, ``ok`` or
    the error code."""
    clients = [server.client() for _ in range(WRITERS)]
    barrier = threading.Barrier(WRITERS)
    outcomes = ["unfinished"] * WRITERS

    def run(i: int) -> None:
        barrier.wait(timeout=20)
        try:
            write(clients[i], i)
            outcomes[i] = "ok"
        except ClientError as exc:
            outcomes[i] = exc.response["Error"]["Code"]

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a writer hung"
    return outcomes


def payload(i: int, size: int, round_: int = 0) -> bytes:
    """Writer ``i``'s body, different in each round (a winner whose body had the ETag
    named in If-Match would rightly let the next writer through too)."""
    return bytes([65 + i]) * (size - 1) + bytes([round_])


def one_winner(outcomes: list[str]) -> int:
    """The index of the one writer that succeeded; every other one got 412."""
    assert sorted(outcomes) == ["PreconditionFailed"] * (WRITERS - 1) + ["ok"], outcomes
    return outcomes.index("ok")


def check_races(server: RunningServer, bucket: str, size: int) -> None:
    """Races of If-None-Match: * on new keys, then of If-Match with the same old ETag;
    the stored body is the winner's each time (and in a versioned bucket each race
    adds exactly one version)."""
    s3 = server.client()
    versioned = s3.get_bucket_versioning(Bucket=bucket).get("Status") == "Enabled"
    for round_ in range(ROUNDS):
        key = f"create-{size}-{round_}"

        def create(client: Any, i: int, key: str = key) -> None:
            client.put_object(Bucket=bucket, Key=key, Body=payload(i, size), IfNoneMatch="*")

        winner = one_winner(race(server, create))
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == payload(winner, size)
    key = f"replace-{size}"
    s3.put_object(Bucket=bucket, Key=key, Body=b"base")
    for round_ in range(1, ROUNDS + 1):
        etag = s3.head_object(Bucket=bucket, Key=key)["ETag"]

        def replace(client: Any, i: int, etag: str = etag, round_: int = round_) -> None:
            body = payload(i, size, round_)
            client.put_object(Bucket=bucket, Key=key, Body=body, IfMatch=etag)

        winner = one_winner(race(server, replace))
        stored = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        assert stored == payload(winner, size, round_)
    if versioned:
        versions = s3.list_object_versions(Bucket=bucket, Prefix=key)["Versions"]
        assert len(versions) == 1 + ROUNDS


@pytest.mark.parametrize("versioned", [False, True], ids=["unversioned", "versioned"])
@pytest.mark.parametrize("size", [100, 300 * KiB], ids=["small", "large"])
def test_PutObject_conditional_race_one_process(server, s3, bucket, size, versioned) -> None:
    """On one server process exactly one of the racing conditional PUTs wins."""
    if versioned:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    check_races(server, bucket, size)


@pytest.mark.parametrize("versioned", [False, True], ids=["unversioned", "versioned"])
def test_PutObject_conditional_race_two_workers(make_server, versioned) -> None:
    """With ``--workers 2`` (the racing requests served by both processes) exactly one
    conditional PUT wins each race."""
    server = make_server("--workers", "2", "--allow-bucket-creation")
    s3 = server.client()
    s3.create_bucket(Bucket="race")
    if versioned:
        s3.put_bucket_versioning(Bucket="race", VersioningConfiguration={"Status": "Enabled"})
    check_races(server, "race", 64 * KiB)
    assert len(served_by(server, "PutObject")) == 2, "one worker served every PUT"


def test_CompleteMultipartUpload_If_None_Match_race(server, s3, bucket) -> None:
    """Of several uploads of one key completed at once with If-None-Match: *, exactly one
    becomes the object; the others are refused and stay, to be aborted."""
    uploads = []
    for i in range(WRITERS):
        upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
        part = s3.upload_part(
            Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=1, Body=payload(i, 1000)
        )
        uploads.append((upload_id, [{"PartNumber": 1, "ETag": part["ETag"]}]))

    def complete(client: Any, i: int) -> None:
        upload_id, parts = uploads[i]
        client.complete_multipart_upload(
            Bucket=bucket,
            Key="k",
            UploadId=upload_id,
            MultipartUpload={"Parts": parts},
            IfNoneMatch="*",
        )

    winner = one_winner(race(server, complete))
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == payload(winner, 1000)
    left = {u["UploadId"] for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])}
    assert left == {u for i, (u, _) in enumerate(uploads) if i != winner}
    for upload_id in left:
        s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id)
