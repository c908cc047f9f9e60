"""Versioning with ``serve --workers 2``: the bucket's versioning state and its
versions, and Object Lock, are shared by every worker process through the store."""

from __future__ import annotations

import concurrent.futures

from botocore.exceptions import ClientError
from conftest import RunningServer


def test_PutObject_versions_from_concurrent_writers_on_two_workers(make_server) -> None:
    """Versioning enabled through one worker holds on the other; concurrent PUTs to one
    key through both keep every version, each readable by its id, one of them latest."""
    server: RunningServer = make_server("--workers", "2")
    server.client().put_bucket_versioning(
        Bucket="default", VersioningConfiguration={"Status": "Enabled"}
    )
    bodies = [bytes([65 + i]) * (1000 + i) for i in range(16)]

    def put(body: bytes) -> tuple[str, bytes]:
        answer = server.client().put_object(Bucket="default", Key="race", Body=body)
        return answer["VersionId"], body

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        made = dict(pool.map(put, bodies))
    assert len(made) == 16
    s3 = server.client()
    listed = s3.list_object_versions(Bucket="default")["Versions"]
    assert {v["VersionId"] for v in listed} == set(made)
    assert sum(v["IsLatest"] for v in listed) == 1
    for version_id, body in made.items():
        got = s3.get_object(Bucket="default", Key="race", VersionId=version_id)
        assert got["Body"].read() == body
    latest = next(v["VersionId"] for v in listed if v["IsLatest"])
    assert s3.get_object(Bucket="default", Key="race")["Body"].read() == made[latest]


def test_PutObjectRetention_on_one_worker_protects_on_every_worker(make_server) -> None:
    """Object Lock enabled and retention set through the workers holds on all of them:
    every removal of a protected version, on either worker (fresh connections), is
    AccessDenied, and versioning cannot be suspended."""
    server: RunningServer = make_server("--workers", "2")
    s3 = server.client()
    s3.put_bucket_versioning(Bucket="default", VersioningConfiguration={"Status": "Enabled"})
    s3.put_object_lock_configuration(
        Bucket="default",
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 1}},
        },
    )
    made = [s3.put_object(Bucket="default", Key=f"k{n}", Body=b"x")["VersionId"] for n in range(6)]
    refused = []
    for _attempt in range(3):
        for n, version_id in enumerate(made):
            client = server.client()  # a new connection: either worker may answer
            try:
                client.delete_object(Bucket="default", Key=f"k{n}", VersionId=version_id)
            except ClientError as exc:
                refused.append(exc.response["Error"]["Code"])
            try:
                client.put_bucket_versioning(
                    Bucket="default", VersioningConfiguration={"Status": "Suspended"}
                )
            except ClientError as exc:
                refused.append(exc.response["Error"]["Code"])
    assert refused == ["AccessDenied", "InvalidBucketState"] * 18
