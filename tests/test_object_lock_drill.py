"""A ransomware drill: a restic repository in a bucket with COMPLIANCE default
retention survives someone who holds the very key that wrote it.

The attacker deletes everything (``aws s3 rm --recursive``), then tries to remove every
version by id (DeleteObjects), then overwrites every file of the repository. Object
Lock lets the deletes only add markers and the overwrites only add versions; the
versions restic wrote stay. Copying them back over the damage (CopyObject of the old
version ids) gives a repository that ``restic check --read-data`` accepts and that
restores the tree byte for byte.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from clients import (
    MiB,
    aws,
    aws_env,
    diff_trees,
    make_tree,
    restic,
    restic_env,
    server_tail,
    tree_digest,
)
from conftest import RunningServer

BUCKET = "vault"
REPO = "repo"


def _live_versions(s3: object, bucket: str, prefix: str) -> dict[str, str]:
    """Each live key under ``prefix`` and the id of its current version."""
    live: dict[str, str] = {}
    paginator = s3.get_paginator("list_object_versions")  # type: ignore[attr-defined]
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix, PaginationConfig={"PageSize": 50}):
        for version in page.get("Versions", []):
            if version["IsLatest"]:
                live[version["Key"]] = version["VersionId"]
    return live


def _all_versions(s3: object, bucket: str, prefix: str) -> list[tuple[str, str, bool]]:
    """Every (key, version id, is a delete marker) under ``prefix``."""
    found: list[tuple[str, str, bool]] = []
    paginator = s3.get_paginator("list_object_versions")  # type: ignore[attr-defined]
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix, PaginationConfig={"PageSize": 50}):
        found += [(v["Key"], v["VersionId"], False) for v in page.get("Versions", [])]
        found += [(m["Key"], m["VersionId"], True) for m in page.get("DeleteMarkers", [])]
    return found


@pytest.mark.slow
def test_ransomware_drill_restic_repository_survives_its_own_key(
    make_server: Callable[..., RunningServer], tmp_path: Path
) -> None:
    """restic backs up into a COMPLIANCE bucket; delete-all, delete-every-version and
    overwrite-all with the same key leave every protected version; copying them back
    passes ``restic check --read-data`` and restores the identical tree."""
    server = make_server("--allow-bucket-creation")
    s3 = server.client()
    s3.create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
    s3.put_object_lock_configuration(
        Bucket=BUCKET,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 1}},
        },
    )

    src = tmp_path / "src"
    files = {f"docs/file-{i:02d}.txt": 10_000 + i * 7_919 for i in range(20)}
    files.update({"nested/a/b/c.bin": MiB, "big.bin": 9 * MiB, "empty": 0})
    make_tree(src, files)
    env = restic_env(server, tmp_path / "home", BUCKET, REPO)
    restic(server, env, "init")
    restic(server, env, "backup", ".", timeout=300, cwd=src)
    restic(server, env, "check", timeout=300)

    before = _live_versions(s3, BUCKET, REPO + "/")
    assert any(k.startswith(f"{REPO}/data/") for k in before), before
    head = s3.head_object(Bucket=BUCKET, Key=next(iter(before)))
    assert head["ObjectLockMode"] == "COMPLIANCE", head

    # 1. Delete everything, as an attacker with the aws cli would.
    home = tmp_path / "aws-home"
    aws(server, aws_env(server, home), "s3", "rm", "--recursive", f"s3://{BUCKET}/{REPO}/")
    assert _live_versions(s3, BUCKET, REPO + "/") == {}

    # 2. Remove every version by id: only the delete markers go.
    targets = _all_versions(s3, BUCKET, REPO + "/")
    refused: set[tuple[str, str]] = set()
    for start in range(0, len(targets), 1000):
        batch = targets[start : start + 1000]
        answer = s3.delete_objects(
            Bucket=BUCKET,
            Delete={"Objects": [{"Key": k, "VersionId": v} for k, v, _ in batch]},
        )
        refused |= {(e["Key"], e["VersionId"]) for e in answer.get("Errors", [])}
        assert {e["Code"] for e in answer.get("Errors", [])} <= {"AccessDenied"}, answer
    assert {(k, v) for k, v in before.items()} <= refused, server_tail(server)
    assert not any(marker for k, v, marker in targets if (k, v) in refused)

    # 3. Overwrite every file of the repository with garbage, and try to shorten or
    # bypass the retention of what restic wrote.
    for key in before:
        s3.put_object(Bucket=BUCKET, Key=key, Body=os.urandom(1024))
    key, version = next(iter(before.items()))
    soon = datetime.now(timezone.utc) + timedelta(hours=1)
    for attempt in (
        {"Retention": {"Mode": "GOVERNANCE", "RetainUntilDate": soon + timedelta(days=30)}},
        {"Retention": {"Mode": "COMPLIANCE", "RetainUntilDate": soon}},
    ):
        with pytest.raises(s3.exceptions.ClientError) as refused_change:
            s3.put_object_retention(
                Bucket=BUCKET,
                Key=key,
                VersionId=version,
                BypassGovernanceRetention=True,
                **attempt,
            )
        assert refused_change.value.response["Error"]["Code"] == "AccessDenied"
    with pytest.raises(s3.exceptions.ClientError):
        s3.delete_object(Bucket=BUCKET, Key=key, VersionId=version, BypassGovernanceRetention=True)
    broken = restic(server, env, "check", "--read-data", timeout=300, check=False)
    assert broken.returncode != 0, broken.report("the overwritten repository still checks")

    # 4. Restore the bucket as it was: copy every protected version back over the
    # damage, and hide what appeared since (the failed check left a lock file).
    for key in set(_live_versions(s3, BUCKET, REPO + "/")) - set(before):
        s3.delete_object(Bucket=BUCKET, Key=key)
    for key, version in before.items():
        s3.copy_object(
            Bucket=BUCKET, Key=key, CopySource={"Bucket": BUCKET, "Key": key, "VersionId": version}
        )
    restic(server, env, "check", "--read-data", timeout=300)
    target = tmp_path / "restored"
    restic(server, env, "restore", "latest", "--target", str(target), timeout=300)
    nested = target / src.relative_to(src.anchor)
    restored = nested if nested.is_dir() else target
    want, got = tree_digest(src), tree_digest(restored)
    assert got == want, f"{diff_trees(want, got)}\n{server_tail(server)}"
