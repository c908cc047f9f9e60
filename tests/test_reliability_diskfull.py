"""Disk full: the data directory lives on a 24 MiB tmpfs mounted for the test.

A write that does not fit must answer a clean S3 error (507 InsufficientStorage),
leave no partial object and no temporary file (the free space returns exactly to
where it was), keep every existing object intact, and leave the server able to
take the next write. The tests skip, saying why, where a tmpfs cannot be mounted.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from conftest import RunningServer
from processes import run_command
from reliability import MiB, check_store, md5_hex, pattern_block, staging_files

PAGE = 4096
BUCKET = "full"


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 24 MiB tmpfs, unmounted at the end (skips where mounting is not allowed)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("the disk-full tests mount a 24 MiB tmpfs, which needs root")
    mount_point = tmp_path / "small-fs"
    mount_point.mkdir()
    mounted = run_command(
        ["mount", "-t", "tmpfs", "-o", "size=24m,mode=0700", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs for the disk-full tests: {mounted.stderr.strip()}")
    yield mount_point
    for _ in range(50):
        if run_command(["umount", mount_point], capture_output=True, timeout=60).returncode == 0:
            return
        time.sleep(0.1)
    run_command(["umount", "-l", mount_point], check=False, timeout=60)


@pytest.fixture
def full_server(small_fs: Path, make_server) -> RunningServer:
    """A server whose data directory is on the small filesystem (stopped before it
    is unmounted: fixtures tear down in reverse order)."""
    return make_server("--allow-bucket-creation", data_dir=small_fs / "data")


def free_pages(path: Path) -> int:
    return os.statvfs(path).f_bfree


def expect_error(call, code: str, status: int) -> None:
    with pytest.raises(ClientError) as info:
        call()
    error = info.value.response
    assert error["Error"]["Code"] == code, error
    assert error["ResponseMetadata"]["HTTPStatusCode"] == status


def assert_intact(server: RunningServer, s3, objects: dict[str, bytes]) -> None:
    """Exactly ``objects`` exist, whole, and nothing temporary is left on disk."""
    listed = {
        o["Key"]: o["ETag"].strip('"')
        for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    }
    assert listed == {key: md5_hex(body) for key, body in objects.items()}
    for key, body in objects.items():
        got = s3.get_object(Bucket=BUCKET, Key=key)
        assert got["Body"].read() == body
    assert staging_files(server.data_dir) == []
    report = check_store(server.data_dir)
    assert report.problems == [] and report.orphan_sidecars == []


def fill(filler: Path) -> None:
    """Fill the filesystem completely with ``filler``."""
    with filler.open("ab", buffering=0) as f:
        for block in (MiB, PAGE):
            data = b"\0" * block
            while True:
                try:
                    f.write(data)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC
                    break


def test_PutObject_that_does_not_fit_is_a_clean_error(full_server, small_fs) -> None:
    """A 40 MiB PUT on a 24 MiB disk: 507 InsufficientStorage, no partial object, no
    temporary file, the space is given back, other objects stay, the next PUT works."""
    s3 = full_server.client()
    s3.create_bucket(Bucket=BUCKET)
    objects = {
        "keep/a": pattern_block(b"keep-a", 3 * MiB),
        "keep/b": pattern_block(b"keep-b", 100_000),
        "victim": pattern_block(b"victim", 2 * MiB),
    }
    for key, body in objects.items():
        s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    before = free_pages(small_fs)
    big = pattern_block(b"too-big", 40 * MiB)
    for key in ("new-key", "victim", "keep/new/deeper/key"):
        expect_error(
            lambda key=key: s3.put_object(Bucket=BUCKET, Key=key, Body=big),
            "InsufficientStorage",
            507,
        )
        assert free_pages(small_fs) == before, "the failed upload did not give its space back"
        assert_intact(full_server, s3, objects)
    assert s3.put_object(Bucket=BUCKET, Key="next", Body=b"small")["ETag"] == (
        f'"{md5_hex(b"small")}"'
    )
    assert_intact(full_server, s3, {**objects, "next": b"small"})


def test_PutObject_metadata_write_hits_a_full_disk(full_server, small_fs) -> None:
    """The body fits exactly but its sidecar does not: 507, the staged body and any
    half-written metadata are removed, the earlier version stays."""
    s3 = full_server.client()
    s3.create_bucket(Bucket=BUCKET)
    old = pattern_block(b"old-version", 50_000)
    s3.put_object(Bucket=BUCKET, Key="exact", Body=old)
    filler = small_fs / "filler"
    fill(filler)
    pages = 64
    os.truncate(filler, filler.stat().st_size - pages * PAGE)
    before = free_pages(small_fs)
    assert before == pages
    body = pattern_block(b"fits-exactly", pages * PAGE)
    for key in ("exact", "brand-new"):
        expect_error(
            lambda key=key: s3.put_object(Bucket=BUCKET, Key=key, Body=body),
            "InsufficientStorage",
            507,
        )
        assert free_pages(small_fs) == before
        assert_intact(full_server, s3, {"exact": old})
    filler.unlink()
    s3.put_object(Bucket=BUCKET, Key="exact", Body=body)
    assert_intact(full_server, s3, {"exact": body})


def test_multipart_and_copy_that_do_not_fit(full_server, small_fs) -> None:
    """UploadPart, CompleteMultipartUpload and CopyObject that run out of space
    answer 507, leave nothing behind, and keep the upload and the source usable."""
    s3 = full_server.client()
    s3.create_bucket(Bucket=BUCKET)
    source = pattern_block(b"copy-source", 10 * MiB)
    s3.put_object(Bucket=BUCKET, Key="source", Body=source)
    part = pattern_block(b"part", 5 * MiB)
    upload_id = s3.create_multipart_upload(Bucket=BUCKET, Key="assembled")["UploadId"]
    etags = []
    # Parts 1 and 3: with the gap, Complete has to copy them together.
    for number in (1, 3):
        etag = s3.upload_part(
            Bucket=BUCKET, Key="assembled", UploadId=upload_id, PartNumber=number, Body=part
        )["ETag"]
        etags.append({"PartNumber": number, "ETag": etag})
    # 10 + 10 MiB are used, about 4 MiB left: neither another 5 MiB part (whose slot
    # in the upload's data file is freed again)...
    before = free_pages(small_fs)
    expect_error(
        lambda: s3.upload_part(
            Bucket=BUCKET, Key="assembled", UploadId=upload_id, PartNumber=2, Body=part
        ),
        "InsufficientStorage",
        507,
    )
    assert free_pages(small_fs) == before
    # ...nor the 10 MiB assembled object, nor a 10 MiB copy fit.
    expect_error(
        lambda: s3.complete_multipart_upload(
            Bucket=BUCKET, Key="assembled", UploadId=upload_id, MultipartUpload={"Parts": etags}
        ),
        "InsufficientStorage",
        507,
    )
    assert free_pages(small_fs) == before
    expect_error(
        lambda: s3.copy_object(
            Bucket=BUCKET, Key="copy", CopySource={"Bucket": BUCKET, "Key": "source"}
        ),
        "InsufficientStorage",
        507,
    )
    assert free_pages(small_fs) == before
    assert_intact(full_server, s3, {"source": source})
    parts = s3.list_parts(Bucket=BUCKET, Key="assembled", UploadId=upload_id)["Parts"]
    assert [(p["PartNumber"], p["Size"]) for p in parts] == [(1, 5 * MiB), (3, 5 * MiB)]
    # Freeing space is enough for the same upload to complete.
    s3.delete_object(Bucket=BUCKET, Key="source")
    done = s3.complete_multipart_upload(
        Bucket=BUCKET, Key="assembled", UploadId=upload_id, MultipartUpload={"Parts": etags}
    )
    got = s3.get_object(Bucket=BUCKET, Key="assembled")
    assert got["Body"].read() == part + part
    assert got["ETag"] == done["ETag"]
    assert staging_files(full_server.data_dir) == []
