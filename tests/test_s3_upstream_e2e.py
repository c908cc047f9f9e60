"""``pys3local serve --backend s3`` over a real SeaweedFS cluster (tests/seaweed.py),
driven by boto3, the aws cli, rclone and restic; a volume server lost mid-run; two
gateways sharing one multipart upload; a clear failure at start."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from boto3.s3.transfer import TransferConfig
from click.testing import CliRunner
from clients import (
    aws,
    aws_env,
    diff_trees,
    make_tree,
    rclone,
    rclone_env,
    restic,
    restic_env,
    tree_digest,
)
from conftest import RunningServer
from seaweed import SeaweedCluster, _volume_servers

from pys3local.backends import type_of
from pys3local.cli import main
from pys3local.config import load_backend_config

MiB = 1024 * 1024


def upstream_args(cluster: SeaweedCluster, prefix: str) -> tuple[str, ...]:
    return (
        "--backend",
        "s3",
        "--upstream-endpoint",
        cluster.endpoint,
        "--upstream-prefix",
        prefix,
        "--allow-bucket-creation",
    )


def upstream_env(cluster: SeaweedCluster, secret: str | None = None) -> dict[str, str]:
    return {
        "UPSTREAM_S3_ACCESS_KEY_ID": cluster.access_key,
        "UPSTREAM_S3_SECRET_ACCESS_KEY": secret or cluster.secret_key,
    }


@pytest.fixture
def gateway(
    seaweed: SeaweedCluster,
    make_server: Callable[..., RunningServer],
) -> Callable[..., RunningServer]:
    """Start gateways over the cluster: each call one more ``serve --backend s3``
    process; gateways started by one test share a bucket name prefix."""
    prefix = f"g{uuid.uuid4().hex[:8]}-"

    def start() -> RunningServer:
        return make_server(*upstream_args(seaweed, prefix), env=upstream_env(seaweed))

    start.prefix = prefix  # type: ignore[attr-defined]
    return start


def test_PutObject_GetObject_boto3(
    gateway: Callable[..., RunningServer],
    seaweed: SeaweedCluster,
    tmp_path: Path,
) -> None:
    """boto3 through the gateway: metadata, ranges, copies, paged listings and a
    multipart upload_file/download_file; the objects are in SeaweedFS as sent."""
    server = gateway()
    s3 = server.client()
    s3.create_bucket(Bucket="data")
    s3.put_object(
        Bucket="data",
        Key="dir/obj",
        Body=b"hello world",
        ContentType="text/plain",
        Metadata={"mtime": "123"},
    )
    head = s3.head_object(Bucket="data", Key="dir/obj")
    assert head["ContentType"] == "text/plain" and head["Metadata"] == {"mtime": "123"}
    assert head["ETag"] == f'"{hashlib.md5(b"hello world").hexdigest()}"'
    ranged = s3.get_object(Bucket="data", Key="dir/obj", Range="bytes=6-")
    assert ranged["Body"].read() == b"world" and ranged["ContentRange"] == "bytes 6-10/11"
    s3.copy_object(Bucket="data", Key="copy", CopySource={"Bucket": "data", "Key": "dir/obj"})
    assert s3.get_object(Bucket="data", Key="copy")["Body"].read() == b"hello world"
    for i in range(5):
        s3.put_object(Bucket="data", Key=f"many/{i}", Body=b"x")
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket="data", Prefix="many/", PaginationConfig={"PageSize": 2}
    )
    assert [o["Key"] for p in pages for o in p.get("Contents", [])] == [
        f"many/{i}" for i in range(5)
    ]

    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(12 * MiB))
    config = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB)
    s3.upload_file(str(source), "data", "big.bin", Config=config)
    head = s3.head_object(Bucket="data", Key="big.bin")
    assert head["ETag"].endswith('-3"') and head["ContentLength"] == 12 * MiB
    target = tmp_path / "down.bin"
    s3.download_file("data", "big.bin", str(target), Config=config)
    assert target.read_bytes() == source.read_bytes()

    upstream = seaweed.client()
    stored = upstream.get_object(Bucket=gateway.prefix + "data", Key="big.bin")  # type: ignore[attr-defined]
    assert stored["Body"].read() == source.read_bytes()
    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.get_object(Bucket="data", Key="missing")
    with pytest.raises(s3.exceptions.ClientError, match="BucketNotEmpty"):
        s3.delete_bucket(Bucket="data")


def test_UploadPartCopy_server_side(gateway: Callable[..., RunningServer]) -> None:
    """UploadPartCopy through the gateway builds an object from ranges of another."""
    s3 = gateway().client()
    s3.create_bucket(Bucket="parts")
    body = os.urandom(6 * MiB)
    s3.put_object(Bucket="parts", Key="src", Body=body)
    upload = s3.create_multipart_upload(Bucket="parts", Key="dst")["UploadId"]
    etags = []
    for number, span in enumerate([(0, 5 * MiB - 1), (5 * MiB, 6 * MiB - 1)], start=1):
        part = s3.upload_part_copy(
            Bucket="parts",
            Key="dst",
            UploadId=upload,
            PartNumber=number,
            CopySource={"Bucket": "parts", "Key": "src"},
            CopySourceRange=f"bytes={span[0]}-{span[1]}",
        )
        etags.append(part["CopyPartResult"]["ETag"])
    s3.complete_multipart_upload(
        Bucket="parts",
        Key="dst",
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": i + 1, "ETag": e} for i, e in enumerate(etags)]},
    )
    assert s3.get_object(Bucket="parts", Key="dst")["Body"].read() == body


def test_awscli_cp_ls_rm(gateway: Callable[..., RunningServer], tmp_path: Path) -> None:
    """aws s3 cp up (multipart) and down, ls, rm through the gateway."""
    server = gateway()
    server.client().create_bucket(Bucket="cli")
    env = aws_env(server, tmp_path / "home")
    source = tmp_path / "up.bin"
    source.write_bytes(os.urandom(10 * MiB))
    aws(server, env, "s3", "cp", str(source), "s3://cli/a/up.bin")
    listing = aws(server, env, "s3", "ls", "s3://cli/a/").stdout
    assert "up.bin" in listing and str(10 * MiB) in listing
    aws(server, env, "s3", "cp", "s3://cli/a/up.bin", str(tmp_path / "down.bin"))
    assert (tmp_path / "down.bin").read_bytes() == source.read_bytes()
    aws(server, env, "s3", "rm", "s3://cli/a/up.bin")
    assert server.client().list_objects_v2(Bucket="cli")["KeyCount"] == 0


def test_rclone_copy_check(gateway: Callable[..., RunningServer], tmp_path: Path) -> None:
    """rclone copy a tree, check --download byte for byte, and copy again (a no-op)."""
    server = gateway()
    env = rclone_env(server, tmp_path / "home")
    src = tmp_path / "src"
    make_tree(src, {"a.txt": 1000, "d/b.bin": 300_000, "d/e/c.bin": 2 * MiB, "empty": 0})
    rclone(server, env, "mkdir", "pys3:rcl")
    rclone(server, env, "copy", str(src), "pys3:rcl/tree")
    rclone(server, env, "check", "--download", str(src), "pys3:rcl/tree")
    again = rclone(server, env, "copy", "-v", str(src), "pys3:rcl/tree")
    assert "Copied" not in again.output, again.report()


@pytest.mark.slow
def test_restic_backup_restore(gateway: Callable[..., RunningServer], tmp_path: Path) -> None:
    """restic init, backup, check --read-data and restore through the gateway."""
    server = gateway()
    env = restic_env(server, tmp_path / "home", "restic", "repo")
    src = tmp_path / "src"
    make_tree(src, {f"f{i}.txt": 10_000 + i for i in range(10)} | {"big.bin": 3 * MiB})
    restic(server, env, "init")
    restic(server, env, "backup", ".", cwd=src)
    restic(server, env, "check", "--read-data")
    target = tmp_path / "restore"
    restic(server, env, "restore", "latest", "--target", str(target))
    nested = target / src.relative_to(src.anchor)
    restored = nested if nested.is_dir() else target
    want, got = tree_digest(src), tree_digest(restored)
    assert got == want, diff_trees(want, got)


def test_CompleteMultipartUpload_across_gateways(gateway: Callable[..., RunningServer]) -> None:
    """Two gateways over one cluster: an upload begun on one takes parts on both and
    completes on the other; both serve the result."""
    first, second = gateway(), gateway()
    a, b = first.client(), second.client()
    a.create_bucket(Bucket="shared")
    upload = a.create_multipart_upload(Bucket="shared", Key="obj")["UploadId"]
    part1, part2 = os.urandom(5 * MiB), os.urandom(MiB)
    e1 = a.upload_part(Bucket="shared", Key="obj", UploadId=upload, PartNumber=1, Body=part1)
    e2 = b.upload_part(Bucket="shared", Key="obj", UploadId=upload, PartNumber=2, Body=part2)
    listed = b.list_multipart_uploads(Bucket="shared")["Uploads"]
    assert [u["UploadId"] for u in listed] == [upload]
    b.complete_multipart_upload(
        Bucket="shared",
        Key="obj",
        UploadId=upload,
        MultipartUpload={
            "Parts": [
                {"PartNumber": 1, "ETag": e1["ETag"]},
                {"PartNumber": 2, "ETag": e2["ETag"]},
            ]
        },
    )
    assert a.get_object(Bucket="shared", Key="obj")["Body"].read() == part1 + part2
    assert b.head_object(Bucket="shared", Key="obj")["ContentLength"] == 6 * MiB


def test_ListBuckets_saved_s3_config(
    seaweed: SeaweedCluster,
    make_server: Callable[..., RunningServer],
) -> None:
    """A saved backend of type s3 (config add, secret stored obscured) passes its
    connection test and serves through --backend-config."""
    added = CliRunner().invoke(
        main,
        [
            "config", "add", "up", "--type", "s3", "--endpoint", seaweed.endpoint,
            "--access-key-id", seaweed.access_key,
            "--secret-access-key", seaweed.secret_key,
            "--bucket", seaweed.new_bucket(), "--prefix", "saved",
        ],
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    stored = (Path(os.environ["PYS3LOCAL_CONFIG_DIR"]) / "backends.toml").read_text()
    assert seaweed.secret_key not in stored
    settings = load_backend_config("up").settings
    assert "Connected to" in asyncio.run(type_of(settings).check(settings))
    # --backend s3 as well: the test helper then passes no --path.
    server = make_server("--backend", "s3", "--backend-config", "up", "--allow-bucket-creation")
    s3 = server.client()
    s3.create_bucket(Bucket="kept")
    s3.put_object(Bucket="kept", Key="k", Body=b"v")
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["kept"]


def test_serve_refuses_unusable_upstream(
    seaweed: SeaweedCluster,
) -> None:
    """serve --backend s3 with credentials the upstream refuses, or an endpoint nobody
    answers on, exits non-zero with one Error line and never announces an address."""
    for endpoint, secret in [(seaweed.endpoint, "wrong-secret"), ("http://127.0.0.1:9", None)]:
        command = [
            sys.executable,
            "-m",
            "pys3local",
            "serve",
            "--listen",
            "127.0.0.1:0",
            *upstream_args(seaweed, "x-"),
            "--upstream-endpoint",
            endpoint,
        ]
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, **upstream_env(seaweed, secret)},
        )
        assert done.returncode != 0
        errors = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
        assert len(errors) == 1 and "cannot open the backend s3:" in errors[0], done.stderr
        assert "Starting S3 server" not in done.stdout


def test_GetObject_after_volume_server_stopped(
    gateway: Callable[..., RunningServer],
    seaweed: SeaweedCluster,
) -> None:
    """With replication 001, stopping one volume server mid-run loses nothing: every
    object written so far still reads back through the gateway."""
    s3 = gateway().client()
    s3.create_bucket(Bucket="durable")
    written = {f"obj-{i}": os.urandom(200_000 + i) for i in range(8)}
    for key, body in written.items():
        s3.put_object(Bucket="durable", Key=key, Body=body)
    volume = seaweed.processes["volume2"]
    volume.stop(signal.SIGKILL)
    try:
        for key, body in written.items():
            assert s3.get_object(Bucket="durable", Key=key)["Body"].read() == body, key
        listed = s3.list_objects_v2(Bucket="durable")["Contents"]
        assert sorted(o["Key"] for o in listed) == sorted(written)
    finally:
        # The cluster is shared by the session: bring the volume server back.
        volume.start()
        deadline = time.monotonic() + 30
        while _volume_servers(seaweed.master_port) < 2 and time.monotonic() < deadline:
            time.sleep(0.3)


def _peak_rss(pid: int) -> int:
    """The process's peak resident set size (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def test_PutObject_GetObject_memory_flat(
    gateway: Callable[..., RunningServer], tmp_path: Path
) -> None:
    """A 96 MiB object goes up in one PUT and comes back through the gateway while
    its peak memory grows by far less than the object: bodies stream both ways."""
    server = gateway()
    s3 = server.client()
    s3.create_bucket(Bucket="memory")
    s3.put_object(Bucket="memory", Key="warm", Body=os.urandom(MiB))
    s3.get_object(Bucket="memory", Key="warm")["Body"].read()
    before = _peak_rss(server.process.pid)
    source = tmp_path / "big.bin"
    with source.open("wb") as out:
        for _ in range(96):
            out.write(os.urandom(MiB))
    with source.open("rb") as body:
        s3.put_object(Bucket="memory", Key="big", Body=body)
    digest = hashlib.md5()
    for chunk in s3.get_object(Bucket="memory", Key="big")["Body"].iter_chunks(MiB):
        digest.update(chunk)
    assert digest.hexdigest() == hashlib.md5(source.read_bytes()).hexdigest()
    grown = _peak_rss(server.process.pid) - before
    assert grown < 32 * MiB, f"peak RSS grew by {grown / MiB:.0f} MiB for a 96 MiB object"
