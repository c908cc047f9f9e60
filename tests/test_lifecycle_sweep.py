"""The lifecycle sweep applying each rule kind with AWS's semantics, on a real
``pys3local serve`` driven by boto3: sweeps run by the real ``pys3local lifecycle run``
command "as of" a later time (its testing option ``--now``), or by the server's own
timer (``--lifecycle-interval``). Objects are aged by that later time, and where a
test needs one version older than another, by backdating the time its sidecar
records, never by sleeping."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from clients import aws, aws_env
from conftest import RunningServer
from processes import run_command

from pys3local.providers.local.layout import StoreLayout

DAY = timedelta(days=1)


def lifecycle_command(*args: str) -> subprocess.CompletedProcess[str]:
    """``pys3local lifecycle run ARGS`` in a process of its own."""
    return run_command(
        [sys.executable, "-m", "pys3local", "lifecycle", "run", *args],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def lifecycle_run(server: RunningServer, now: datetime | None = None) -> str:
    """``pys3local lifecycle run`` on the server's data directory; its output."""
    args = ["--path", str(server.data_dir)]
    if now is not None:
        args += ["--now", now.isoformat()]
    done = lifecycle_command(*args)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def later(days: float) -> datetime:
    return datetime.now(timezone.utc) + timedelta(days=days)


def rule(rule_id: str, prefix: str = "", *, status: str = "Enabled", **actions: dict) -> dict:
    """A rule as boto3 takes it: ``actions`` are its Expiration and so on."""
    return {"ID": rule_id, "Status": status, "Filter": {"Prefix": prefix}, **actions}


def rules(s3, bucket: str, *rules: dict) -> None:
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket, LifecycleConfiguration={"Rules": list(rules)}
    )


def versions(s3, bucket: str, key: str) -> list[tuple[str, bool]]:
    """(version id, is a delete marker) of the key's versions, newest first."""
    page = s3.list_object_versions(Bucket=bucket, Prefix=key)
    found = [(v["VersionId"], False, v["LastModified"]) for v in page.get("Versions", [])]
    found += [(m["VersionId"], True, m["LastModified"]) for m in page.get("DeleteMarkers", [])]
    found = [f for f in found if f[0]]
    return [(f[0], f[1]) for f in sorted(found, key=lambda f: f[2], reverse=True)]


def live(s3, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        assert exc.response["Error"]["Code"] in ("404", "NoSuchKey")
        return False
    return True


@pytest.fixture
def srv(make_server) -> RunningServer:
    """A server of its own (the sweep walks its whole data directory) that never
    sweeps by itself."""
    return make_server("--allow-bucket-creation", "--lifecycle-interval", "0")


@pytest.fixture
def s3c(srv):
    return srv.client()


def make_bucket(s3, name: str, versioning: str | None = "Enabled") -> str:
    s3.create_bucket(Bucket=name)
    if versioning:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": versioning})
    return name


def put_versions(s3, bucket: str, key: str, count: int) -> list[str]:
    """``count`` versions of ``key``, oldest first; their ids."""
    return [
        s3.put_object(Bucket=bucket, Key=key, Body=f"v{n}".encode())["VersionId"]
        for n in range(count)
    ]


def test_Expiration_Days_adds_a_delete_marker_in_a_versioned_bucket(srv, s3c) -> None:
    """A current version older than Days (rounded up to midnight UTC) gets a delete
    marker and stays as a non-current version; keys outside the prefix and versions
    not old enough are untouched."""
    bucket = make_bucket(s3c, "exp-versioned")
    (kept,) = put_versions(s3c, bucket, "a/old", 1)
    put_versions(s3c, bucket, "b/other", 1)
    rules(
        s3c,
        bucket,
        rule("a", "a/", Expiration={"Days": 2}),
        # A rule elsewhere, so that the sweep walks b/ too.
        rule("c", "c/", NoncurrentVersionExpiration={"NoncurrentDays": 1}),
    )
    lifecycle_run(srv, later(1))  # not two days yet: nothing happens
    assert live(s3c, bucket, "a/old")
    out = lifecycle_run(srv, later(3))
    assert "expired  exp-versioned/a/old" in out
    assert not live(s3c, bucket, "a/old")
    assert versions(s3c, bucket, "a/old")[1] == (kept, False)
    assert versions(s3c, bucket, "a/old")[0][1] is True  # the marker is latest
    assert live(s3c, bucket, "b/other")


def test_Expiration_Days_deletes_in_an_unversioned_bucket(srv, s3c) -> None:
    """In a bucket that never had versioning, an expired object is deleted."""
    bucket = make_bucket(s3c, "exp-plain", versioning=None)
    s3c.put_object(Bucket=bucket, Key="logs/x", Body=b"x")
    rules(
        s3c, bucket, {"ID": "x", "Status": "Enabled", "Prefix": "logs/", "Expiration": {"Days": 1}}
    )
    lifecycle_run(srv, later(3))
    assert not live(s3c, bucket, "logs/x")
    assert "Versions" not in s3c.list_object_versions(Bucket=bucket)
    assert "DeleteMarkers" not in s3c.list_object_versions(Bucket=bucket)


def test_Disabled_rule_does_nothing(srv, s3c) -> None:
    """A Disabled rule is kept but never applied."""
    bucket = make_bucket(s3c, "disabled", versioning=None)
    s3c.put_object(Bucket=bucket, Key="k", Body=b"x")
    rules(
        s3c,
        bucket,
        rule("off", status="Disabled", Expiration={"Days": 1}),
    )
    lifecycle_run(srv, later(30))
    assert live(s3c, bucket, "k")


def test_ExpiredObjectDeleteMarker_removes_a_sole_delete_marker(srv, s3c) -> None:
    """A delete marker that is its key's only version goes; one with versions behind
    it stays."""
    bucket = make_bucket(s3c, "markers")
    (alone,) = put_versions(s3c, bucket, "alone", 1)
    s3c.delete_object(Bucket=bucket, Key="alone")
    s3c.delete_object(Bucket=bucket, Key="alone", VersionId=alone)
    assert [m for _, m in versions(s3c, bucket, "alone")] == [True]
    put_versions(s3c, bucket, "behind", 1)
    s3c.delete_object(Bucket=bucket, Key="behind")
    rules(
        s3c,
        bucket,
        rule("m", Expiration={"ExpiredObjectDeleteMarker": True}),
    )
    out = lifecycle_run(srv)
    assert "removed  markers/alone delete marker" in out
    assert versions(s3c, bucket, "alone") == []
    assert [m for _, m in versions(s3c, bucket, "behind")] == [True, False]


def backdate(data_dir: Path, bucket: str, key: str, version_id: str, moment: datetime) -> None:
    """Record ``moment`` as the write time of a non-current version (its sidecar)."""
    directory = StoreLayout(data_dir).key_versions_dir(bucket, key)
    sidecar = directory / f"{version_id}.json"
    document = json.loads(sidecar.read_text())
    document["last_modified"] = moment.isoformat()
    temporary = directory / ".backdate"
    temporary.write_text(json.dumps(document))
    temporary.replace(sidecar)


def test_NoncurrentDays_counts_from_when_a_version_became_noncurrent(srv, s3c) -> None:
    """A version written long ago but replaced only now is not yet expired: its age
    counts from its successor's time, and it goes once that is NoncurrentDays old."""
    bucket = make_bucket(s3c, "noncurrent")
    old, _new = put_versions(s3c, bucket, "k", 2)
    backdate(srv.data_dir, bucket, "k", old, datetime.now(timezone.utc) - 60 * DAY)
    rules(
        s3c,
        bucket,
        rule("nc", NoncurrentVersionExpiration={"NoncurrentDays": 10}),
    )
    lifecycle_run(srv, later(5))
    assert [v for v, _ in versions(s3c, bucket, "k")][1] == old
    out = lifecycle_run(srv, later(12))
    assert f"removed  noncurrent/k version {old}" in out
    assert len(versions(s3c, bucket, "k")) == 1
    assert s3c.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v1"


def test_NewerNoncurrentVersions_keeps_the_newest_noncurrent_ones(srv, s3c) -> None:
    """Of five versions, the current one and the two newest non-current ones stay."""
    bucket = make_bucket(s3c, "newer")
    ids = put_versions(s3c, bucket, "k", 5)
    rules(
        s3c,
        bucket,
        rule(
            "keep2",
            "k",
            NoncurrentVersionExpiration={"NoncurrentDays": 1, "NewerNoncurrentVersions": 2},
        ),
    )
    lifecycle_run(srv, later(3))
    assert [v for v, _ in versions(s3c, bucket, "k")] == ids[:1:-1]
    assert s3c.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v4"


def test_AbortIncompleteMultipartUpload_aborts_old_uploads(srv, s3c) -> None:
    """An upload started DaysAfterInitiation ago under the prefix is aborted; one
    outside it stays."""
    bucket = make_bucket(s3c, "uploads", versioning=None)
    gone = s3c.create_multipart_upload(Bucket=bucket, Key="tmp/big")["UploadId"]
    kept = s3c.create_multipart_upload(Bucket=bucket, Key="keep/big")["UploadId"]
    rules(
        s3c,
        bucket,
        rule("mpu", "tmp/", AbortIncompleteMultipartUpload={"DaysAfterInitiation": 1}),
    )
    out = lifecycle_run(srv, later(3))
    assert f"aborted  uploads/tmp/big upload {gone}" in out
    left = [u["UploadId"] for u in s3c.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]
    assert left == [kept]


def expire_since_midnight(s3, bucket: str, prefix: str) -> None:
    """A rule expiring every object under ``prefix`` since last midnight UTC."""
    midnight = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    rules(s3, bucket, rule("d", prefix, Expiration={"Date": midnight}))


def test_lifecycle_interval_sweeps_while_serving(make_server) -> None:
    """``serve --lifecycle-interval 1`` applies a rule whose Date has passed within
    seconds, by itself."""
    server = make_server("--allow-bucket-creation", "--lifecycle-interval", "1s")
    s3 = server.client()
    bucket = make_bucket(s3, "timed")
    s3.put_object(Bucket=bucket, Key="old/x", Body=b"x")
    s3.put_object(Bucket=bucket, Key="new/x", Body=b"x")
    expire_since_midnight(s3, bucket, "old/")
    deadline = time.monotonic() + 20
    while live(s3, bucket, "old/x") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not live(s3, bucket, "old/x")
    assert live(s3, bucket, "new/x")


def test_lifecycle_run_refuses_bad_input(tmp_path: Path) -> None:
    """A missing or foreign directory and a bad --now are one line and a non-zero
    exit."""
    store = tmp_path / "store"
    (store / ".pys3local").mkdir(parents=True)
    for args in (
        ["--path", str(tmp_path / "missing")],
        ["--path", str(tmp_path)],
        ["--path", str(store), "--now", "yesterday"],
    ):
        done = lifecycle_command(*args)
        assert done.returncode != 0
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert done.stderr.startswith("Error:"), done.stderr


def test_lifecycle_interval_with_workers(make_server) -> None:
    """With ``--workers 2`` (and the interval from the environment) the workers'
    timers share one sweep per interval (the sweep lock and the time of the last sweep
    in the data directory), and it runs."""
    server = make_server(
        "--allow-bucket-creation", "--workers", "2", env={"PYS3LOCAL_LIFECYCLE_INTERVAL": "1s"}
    )
    s3 = server.client()
    bucket = make_bucket(s3, "workers", versioning=None)
    for n in range(20):
        s3.put_object(Bucket=bucket, Key=f"old/{n}", Body=b"x")
    expire_since_midnight(s3, bucket, "old/")
    deadline = time.monotonic() + 20
    while s3.list_objects_v2(Bucket=bucket).get("KeyCount") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    state = json.loads((server.data_dir / ".pys3local" / "lifecycle.json").read_text())
    assert time.time() - state["finished"] < 30


def _md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def test_NoncurrentVersionExpiration_keeps_versions_Object_Lock_protects(srv, s3c) -> None:
    """Versions under a COMPLIANCE or GOVERNANCE retention or a legal hold are kept
    (and reported) by a sweep whose rules have expired them, judged by the real clock;
    an unprotected one beside them goes, and a protected current version gets a
    delete marker, as on AWS."""
    bucket = "locked-life"
    s3c.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    until = datetime.now(timezone.utc) + 2 * DAY

    def put(key: str, data: bytes, **lock) -> str:
        return s3c.put_object(Bucket=bucket, Key=key, Body=data, ContentMD5=_md5(data), **lock)[
            "VersionId"
        ]

    compliance = put("nc/k", b"1", ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=until)
    governance = put("nc/k", b"2", ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=until)
    held = put("nc/k", b"3", ObjectLockLegalHoldStatus="ON")
    free = put("nc/k", b"4")
    put("nc/k", b"5")
    current = put("cur/k", b"1", ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=until)
    rules(
        s3c,
        bucket,
        rule("nc", "nc/", NoncurrentVersionExpiration={"NoncurrentDays": 1}),
        rule("cur", "cur/", Expiration={"Days": 1}),
    )
    out = lifecycle_run(srv, later(30))
    for version in (compliance, governance, held):
        assert f"kept     {bucket}/nc/k version {version}: protected by Object Lock" in out
    assert f"removed  {bucket}/nc/k version {free}" in out
    assert [v for v, _ in versions(s3c, bucket, "nc/k")][1:] == [held, governance, compliance]
    assert f"expired  {bucket}/cur/k" in out
    left = versions(s3c, bucket, "cur/k")
    assert left[0][1] is True  # the marker
    assert [v for v, _ in left[1:]] == [current]


def test_serve_refuses_a_bad_lifecycle_interval(tmp_path: Path) -> None:
    """``serve --lifecycle-interval`` (and its environment variable) takes seconds or
    a number with s/m/h/d; anything else is one line and exit code 2."""
    for args, env in (
        (["--lifecycle-interval", "soon"], {}),
        ([], {"PYS3LOCAL_LIFECYCLE_INTERVAL": "-5"}),
    ):
        done = run_command(
            [sys.executable, "-m", "pys3local", "serve", "--path", str(tmp_path), *args],
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **env},
        )
        assert done.returncode == 2, done.stdout + done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert "lifecycle-interval" in done.stderr


def test_lifecycle_with_the_aws_cli(srv, tmp_path: Path) -> None:
    """put/get/delete-bucket-lifecycle-configuration through aws s3api, and the rule
    it set applied by a sweep: the non-current version goes, the current one stays."""
    env = aws_env(srv, tmp_path / "home")

    def s3api(*args: str, check: bool = True):
        return aws(srv, env, "s3api", *args, check=check)

    bucket = make_bucket(srv.client(), "cli-life")
    s3 = srv.client()
    old, _new = put_versions(s3, bucket, "k", 2)
    cli_rule = rule("cli", NoncurrentVersionExpiration={"NoncurrentDays": 7})
    s3api(
        "put-bucket-lifecycle-configuration",
        "--bucket",
        bucket,
        "--lifecycle-configuration",
        json.dumps({"Rules": [cli_rule]}),
    )
    got = json.loads(s3api("get-bucket-lifecycle-configuration", "--bucket", bucket).stdout)
    assert got["Rules"] == [cli_rule]
    assert f"removed  cli-life/k version {old}" in lifecycle_run(srv, later(10))
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v1"
    s3api("delete-bucket-lifecycle", "--bucket", bucket)
    missing = s3api("get-bucket-lifecycle-configuration", "--bucket", bucket, check=False)
    assert missing.returncode != 0
    assert "NoSuchLifecycleConfiguration" in missing.output


def test_Expiration_Days_also_removes_old_sole_delete_markers(srv, s3c) -> None:
    """With Days, a delete marker that is its key's only version goes once it is Days
    old (S3 does this cleanup for Days rules without ExpiredObjectDeleteMarker)."""
    bucket = make_bucket(s3c, "days-markers")
    (first,) = put_versions(s3c, bucket, "k", 1)
    s3c.delete_object(Bucket=bucket, Key="k")
    s3c.delete_object(Bucket=bucket, Key="k", VersionId=first)
    rules(
        s3c,
        bucket,
        rule("d", Expiration={"Days": 5}),
    )
    lifecycle_run(srv, later(2))
    assert [m for _, m in versions(s3c, bucket, "k")] == [True]
    lifecycle_run(srv, later(7))
    assert versions(s3c, bucket, "k") == []


def test_Expiration_in_a_suspended_bucket_replaces_the_null_version(srv, s3c) -> None:
    """With versioning suspended, expiring an object adds a null delete marker that
    replaces the null version, as on AWS; older versions stay."""
    bucket = make_bucket(s3c, "suspended")
    (kept,) = put_versions(s3c, bucket, "k", 1)
    s3c.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    s3c.put_object(Bucket=bucket, Key="k", Body=b"null")
    rules(
        s3c,
        bucket,
        rule("d", Expiration={"Days": 1}),
    )
    lifecycle_run(srv, later(3))
    assert not live(s3c, bucket, "k")
    assert versions(s3c, bucket, "k") == [("null", True), (kept, False)]
