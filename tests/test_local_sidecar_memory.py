"""The local backend's memory of sidecars read for HEAD and GET answers: it serves a
sidecar again only while the file on disk is the one it read, so every change of an
object's metadata (retention, legal hold, tags, a new version) shows at once."""

from __future__ import annotations

import base64
import hashlib
import os
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from pys3local.providers.local.files import COARSE_SETTLE_SECONDS, SETTLE_SECONDS
from pys3local.providers.local.sidecar_memory import SidecarMemory

#: Long enough for any sidecar written before it to be remembered when read.
SETTLE = max(SETTLE_SECONDS, 0.1)


def md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def replace_file(path: Path, data: bytes) -> None:
    """As every writer of a sidecar does: a new file renamed over the old one."""
    temporary = path.with_name(path.name + ".new")
    temporary.write_bytes(data)
    os.rename(temporary, path)


def settled_file(
    tmp_path: Path, data: bytes, name: str = "sidecar.json"
) -> tuple[Path, os.stat_result]:
    path = tmp_path / name
    path.write_bytes(data)
    old = time.time() - 10
    os.utime(path, (old, old))
    return path, os.stat(path)


def test_SidecarMemory_recalls_the_file_it_read(tmp_path) -> None:
    """A settled file is remembered and recalled while it is unchanged."""
    path, st = settled_file(tmp_path, b'{"a":1}')
    memory = SidecarMemory()
    memory.remember(str(path), st, b'{"a":1}')
    assert memory.recall(str(path)) == b'{"a":1}'


def test_SidecarMemory_forgets_a_replaced_file(tmp_path) -> None:
    """A file renamed over the remembered one (same size, same content length) is
    not taken for it."""
    path, st = settled_file(tmp_path, b'{"a":1}')
    memory = SidecarMemory()
    memory.remember(str(path), st, b'{"a":1}')
    replace_file(path, b'{"a":2}')
    assert memory.recall(str(path)) is None
    path.unlink()
    assert memory.recall(str(path)) is None


def test_SidecarMemory_does_not_remember_a_file_changed_just_now(tmp_path) -> None:
    """A file whose mtime has not settled could be replaced within the same tick
    without any visible change, so it is not remembered."""
    path = tmp_path / "sidecar.json"
    path.write_bytes(b"{}")
    memory = SidecarMemory()
    memory.remember(str(path), os.stat(path), b"{}")
    assert memory.recall(str(path)) is None
    assert len(memory) == 0
    assert COARSE_SETTLE_SECONDS >= 1  # whole-second timestamps wait a full second


def test_SidecarMemory_stays_within_its_bound(tmp_path) -> None:
    """Old entries go first once the bytes remembered pass the bound."""
    memory = SidecarMemory(max_bytes=4096)
    paths = []
    for i in range(40):
        path, st = settled_file(tmp_path, b"x" * 100, f"{i}.json")
        memory.remember(str(path), st, b"x" * 100)
        paths.append(str(path))
    assert 0 < len(memory) < 40
    assert memory.recall(paths[-1]) is not None
    assert memory.recall(paths[0]) is None


def head_lock(s3, bucket: str, key: str) -> tuple[str | None, str | None]:
    head = s3.head_object(Bucket=bucket, Key=key)
    until = head.get("ObjectLockRetainUntilDate")
    return (until.isoformat() if until else None, head.get("ObjectLockLegalHoldStatus"))


def test_HeadObject_and_GetObject_show_retention_and_legal_hold_changes_at_once(s3, bucket) -> None:
    """A HEAD that remembered the sidecar, then PutObjectRetention and
    PutObjectLegalHold: the next HEAD and GET answer the new values."""
    name = bucket + "-lock"
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    first = (datetime.now(timezone.utc) + timedelta(days=1)).replace(microsecond=0)
    s3.put_object(
        Bucket=name,
        Key="k",
        Body=b"data",
        ContentMD5=md5(b"data"),
        ObjectLockMode="GOVERNANCE",
        ObjectLockRetainUntilDate=first,
    )
    time.sleep(SETTLE)
    for _ in range(2):  # read, then served from memory
        assert head_lock(s3, name, "k") == (first.isoformat(), None)
    later = first + timedelta(days=1)
    s3.put_object_retention(
        Bucket=name, Key="k", Retention={"Mode": "GOVERNANCE", "RetainUntilDate": later}
    )
    assert head_lock(s3, name, "k") == (later.isoformat(), None)
    time.sleep(SETTLE)
    head_lock(s3, name, "k")  # remembered again
    s3.put_object_legal_hold(Bucket=name, Key="k", LegalHold={"Status": "ON"})
    assert head_lock(s3, name, "k") == (later.isoformat(), "ON")
    got = s3.get_object(Bucket=name, Key="k")
    assert got["ObjectLockLegalHoldStatus"] == "ON"
    assert got["ObjectLockRetainUntilDate"] == later
    s3.put_object_legal_hold(Bucket=name, Key="k", LegalHold={"Status": "OFF"})


def test_HeadObject_and_GetObject_show_new_tags_and_metadata_at_once(s3, bucket) -> None:
    """Tags set after a remembered read, and a metadata-only CopyObject onto the
    key, show in the next answers."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"data", Metadata={"v": "1"})
    time.sleep(SETTLE)
    for _ in range(2):
        assert s3.head_object(Bucket=bucket, Key="k")["Metadata"] == {"v": "1"}
        assert "TagCount" not in s3.get_object(Bucket=bucket, Key="k")
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": [{"Key": "a", "Value": "b"}]})
    assert s3.get_object(Bucket=bucket, Key="k")["TagCount"] == 1
    time.sleep(SETTLE)
    s3.head_object(Bucket=bucket, Key="k")
    s3.copy_object(
        Bucket=bucket,
        Key="k",
        CopySource={"Bucket": bucket, "Key": "k"},
        Metadata={"v": "2"},
        MetadataDirective="REPLACE",
    )
    assert s3.head_object(Bucket=bucket, Key="k")["Metadata"] == {"v": "2"}
    assert s3.get_object(Bucket=bucket, Key="k")["Metadata"] == {"v": "2"}
