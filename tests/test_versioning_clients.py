"""Bucket versioning through real clients other than boto3: the aws cli (s3api) and
rclone (``backend versioning``, ``--s3-versions`` listings, ``--s3-version-at`` reads)
against a real server."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from clients import aws, aws_env, rclone, rclone_env


def s3api(server, env, *args: str, check: bool = True):
    result = aws(server, env, "s3api", *args, check=check)
    return result


def as_json(result) -> dict:
    return json.loads(result.stdout) if result.stdout.strip() else {}


@pytest.mark.slow
def test_versioning_with_the_aws_cli(server, bucket, tmp_path: Path) -> None:
    """put/get-bucket-versioning, versions from put-object, get-object --version-id,
    delete markers, delete-object --version-id, list-object-versions and the error
    codes, all through aws s3api."""
    env = aws_env(server, tmp_path)
    target = ("--bucket", bucket)
    assert as_json(s3api(server, env, "get-bucket-versioning", *target)).get("Status") is None
    s3api(
        server, env, "put-bucket-versioning", *target,
        "--versioning-configuration", "Status=Enabled",
    )  # fmt: skip
    assert as_json(s3api(server, env, "get-bucket-versioning", *target))["Status"] == "Enabled"
    source = tmp_path / "body"
    ids = []
    for n in range(2):
        source.write_bytes(f"v{n}".encode())
        put = s3api(server, env, "put-object", *target, "--key", "k", "--body", str(source))
        ids.append(as_json(put)["VersionId"])
    out = tmp_path / "out"
    got = s3api(server, env, "get-object", *target, "--key", "k", "--version-id", ids[0], str(out))
    assert as_json(got)["VersionId"] == ids[0] and out.read_bytes() == b"v0"
    deleted = as_json(s3api(server, env, "delete-object", *target, "--key", "k"))
    assert deleted["DeleteMarker"] is True
    marker = deleted["VersionId"]
    failed = s3api(server, env, "get-object", *target, "--key", "k", str(out), check=False)
    assert failed.returncode != 0 and "NoSuchKey" in failed.output
    failed = s3api(
        server, env, "get-object", *target, "--key", "k", "--version-id", marker, str(out),
        check=False,
    )  # fmt: skip
    assert failed.returncode != 0 and "MethodNotAllowed" in failed.output
    listed = as_json(s3api(server, env, "list-object-versions", *target))
    assert [v["VersionId"] for v in listed["Versions"]] == [ids[1], ids[0]]
    assert [(m["VersionId"], m["IsLatest"]) for m in listed["DeleteMarkers"]] == [(marker, True)]
    s3api(server, env, "delete-object", *target, "--key", "k", "--version-id", marker)
    s3api(server, env, "get-object", *target, "--key", "k", str(out))
    assert out.read_bytes() == b"v1"
    failed = s3api(
        server, env, "put-bucket-versioning", *target,
        "--versioning-configuration", "Status=Sometimes", check=False,
    )  # fmt: skip
    assert failed.returncode != 0 and "IllegalVersioningConfigurationException" in failed.output
    s3api(
        server, env, "put-bucket-versioning", *target,
        "--versioning-configuration", "Status=Suspended",
    )  # fmt: skip
    source.write_bytes(b"suspended")
    put = s3api(server, env, "put-object", *target, "--key", "k", "--body", str(source))
    assert as_json(put)["VersionId"] == "null"


def test_versioning_with_rclone(server, bucket, tmp_path: Path) -> None:
    """rclone enables versioning with ``backend versioning``, lists old versions with
    ``--s3-versions`` and reads the tree as it was with ``--s3-version-at``."""
    env = rclone_env(server, tmp_path / "home")
    remote = f"pys3:{bucket}"
    state = rclone(server, env, "backend", "versioning", remote).stdout.strip()
    assert state == '"Unversioned"'
    result = rclone(server, env, "backend", "versioning", remote, "Enabled")
    assert result.stdout.strip() == '"Enabled"'
    state = rclone(server, env, "backend", "versioning", remote).stdout.strip()
    assert state == '"Enabled"'
    local = tmp_path / "file.txt"
    local.write_text("first")
    rclone(server, env, "copyto", str(local), f"{remote}/dir/file.txt")
    time.sleep(1.1)  # rclone names versions and reads --s3-version-at to the second
    between = datetime.now(timezone.utc)
    time.sleep(1.1)
    local.write_text("second!")
    rclone(server, env, "copyto", str(local), f"{remote}/dir/file.txt")
    rclone(server, env, "deletefile", f"{remote}/dir/file.txt")
    assert rclone(server, env, "lsf", "-R", remote).stdout.strip() == ""
    listed = rclone(server, env, "lsf", "-R", "--s3-versions", remote).stdout.split()
    versions = sorted(name for name in listed if name.startswith("dir/file-v"))
    assert len(versions) == 2, listed
    older = rclone(server, env, "cat", "--s3-versions", f"{remote}/{versions[0]}").stdout
    newer = rclone(server, env, "cat", "--s3-versions", f"{remote}/{versions[1]}").stdout
    assert (older, newer) == ("first", "second!")
    at = between.strftime("%Y-%m-%dT%H:%M:%SZ")
    tree = rclone(server, env, "lsf", "-R", "--s3-version-at", at, remote).stdout.split()
    assert "dir/file.txt" in tree
    read = rclone(server, env, "cat", "--s3-version-at", at, f"{remote}/dir/file.txt")
    assert read.stdout == "first"
