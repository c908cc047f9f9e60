"""boto3, rclone and restic end to end through a pys3local server on the Drime backend,
against the fake Drime (which runs in this process; the S3 server is a child process).

The server is ``pys3local serve --backend drime`` once serve builds Drime providers;
until then a small launcher serves ``create_s3_app(create_drime_provider(...))``
exactly as serve would. Either way the server finds the fake through DRIME_API_URL.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from clients import make_tree, rclone, rclone_env, restic, restic_env, tree_digest
from conftest import (
    ACCESS_KEY,
    REGION,
    SECRET_KEY,
    RunningServer,
    _drain_output,
    _wait_until_answering,
    start_server,
)
from fake_drime import FakeDrime
from fake_drime.testing import files_named, live_entries, path_of
from processes import spawn, stop_group

pytestmark = pytest.mark.slow
MiB = 1024 * 1024
ROOT = "backups/s3"

_LAUNCHER = textwrap.dedent(
    """
    import os, sys
    from pys3local.cli.serve import configure_logging
    from pys3local.providers.drime import create_drime_provider
    from pys3local.runner import EmbeddedServer, bind_socket, parse_listen
    from pys3local.server import create_s3_app

    configure_logging(False)
    advanced = sys.argv[2] == "advanced"
    provider = create_drime_provider(
        os.environ["DRIME_API_KEY"],
        int(os.environ.get("DRIME_WORKSPACE_ID", "0")),
        root_folder=sys.argv[1] or None,
        api_url=os.environ["DRIME_API_URL"],
        cache=None,
        default_bucket_is_root=not advanced,
    )
    app = create_s3_app(
        provider=provider, access_key=sys.argv[3], secret_key=sys.argv[4],
        region=sys.argv[5], allow_bucket_creation=advanced,
    )
    sock = bind_socket(parse_listen("127.0.0.1:0"))
    print(f"Starting S3 server at http://127.0.0.1:{sock.getsockname()[1]}/", flush=True)
    EmbeddedServer(app, sock).run()
    """
)


def serve_builds_drime() -> bool:
    """Whether ``pys3local serve --backend drime`` is wired to this backend yet."""
    # Asked of the registry, not built: building one may open the user's metadata cache.
    try:
        from pys3local.backends import BACKENDS
    except ImportError:
        return False
    return "drime" in BACKENDS


def start_drime_server(
    fake: FakeDrime,
    tmp: Path,
    *,
    advanced: bool = False,
    cache_db: Path | None = None,
    extra: tuple[str, ...] = (),
) -> RunningServer:
    """``pys3local serve --backend drime`` on ``fake`` (``cache_db``: its metadata cache,
    ``extra``: more serve options)."""
    env = {
        "DRIME_API_KEY": fake.api_key,
        "DRIME_API_URL": fake.api_url,
        "DRIME_WORKSPACE_ID": "0",
        "TMPDIR": str(tmp),
    }
    if serve_builds_drime():
        args = ["--backend", "drime", "--root-folder", ROOT]
        if advanced:
            args.append("--allow-bucket-creation")
        if cache_db is not None:
            args += ["--cache-db", str(cache_db)]
        return start_server(tmp, *args, *extra, env=env)
    mode = "advanced" if advanced else "default"
    process = spawn(
        [sys.executable, "-c", _LAUNCHER, ROOT, mode, ACCESS_KEY, SECRET_KEY, REGION],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **env},
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 20
    line = process.stdout.readline()
    if "Starting S3 server at " not in line:
        stop_group(process, signal.SIGKILL)
        raise RuntimeError("drime server did not start:\n" + line + process.stdout.read())
    endpoint = line.split("Starting S3 server at ", 1)[1].strip().rstrip("/")
    server = RunningServer(process, endpoint, tmp, output=[line])
    _drain_output(server)
    _wait_until_answering(server, deadline)
    return server


@pytest.fixture
def fake() -> Iterator[FakeDrime]:
    with FakeDrime(page_size_cap=7) as server:
        yield server


@pytest.fixture
def drime_server(fake: FakeDrime, tmp_path: Path) -> Iterator[RunningServer]:
    server = start_drime_server(fake, tmp_path / "server")
    yield server
    server.stop()


def assert_inside_root(fake: FakeDrime) -> None:
    for entry in live_entries(fake):
        path = path_of(fake, entry)
        assert path == "backups" or path.startswith("backups/"), path
        if entry.type != "folder":
            assert path.startswith(ROOT + "/"), path


def test_boto3_end_to_end(fake: FakeDrime, drime_server: RunningServer) -> None:
    """boto3: put/get/range/head, listing past Drime's page size, multipart, copy,
    overwrite, DeleteObjects, and a missing key's delete (204)."""
    from boto3.s3.transfer import TransferConfig

    s3 = drime_server.client()
    for i in range(20):
        s3.put_object(Bucket="default", Key=f"list/{i:02d}", Body=b"%d" % i)
    keys, token = [], None
    while True:
        extra = {"ContinuationToken": token} if token else {}
        page = s3.list_objects_v2(Bucket="default", Prefix="list/", MaxKeys=6, **extra)
        keys += [o["Key"] for o in page.get("Contents", [])]
        if not page["IsTruncated"]:
            break
        token = page["NextContinuationToken"]
    assert keys == [f"list/{i:02d}" for i in range(20)]
    top = s3.list_objects_v2(Bucket="default", Delimiter="/")
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["list/"]

    body = os.urandom(300_000)
    put = s3.put_object(Bucket="default", Key="a/b/c.bin", Body=body, ContentType="text/plain")
    head = s3.head_object(Bucket="default", Key="a/b/c.bin")
    assert head["ETag"] == put["ETag"] and head["ContentLength"] == len(body)
    got = s3.get_object(Bucket="default", Key="a/b/c.bin", Range="bytes=100-199")
    assert got["Body"].read() == body[100:200] and got["ContentRange"].endswith("/300000")

    for i in range(3):
        s3.put_object(Bucket="default", Key="over", Body=b"v%d" % i)
    assert s3.get_object(Bucket="default", Key="over")["Body"].read() == b"v2"
    assert len(files_named(fake, f"{ROOT}/over")) == 1

    big = drime_server.data_dir.parent / "big.bin"
    big.write_bytes(os.urandom(11 * MiB))
    config = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB)
    s3.upload_file(str(big), "default", "mp/big.bin", Config=config)
    info = s3.head_object(Bucket="default", Key="mp/big.bin")
    assert info["ETag"].strip('"').endswith("-3")
    out = big.with_suffix(".out")
    s3.download_file("default", "mp/big.bin", str(out))
    assert out.read_bytes() == big.read_bytes()

    s3.copy_object(Bucket="default", Key="copy/c.bin", CopySource="default/a/b/c.bin")
    assert s3.get_object(Bucket="default", Key="copy/c.bin")["Body"].read() == body
    assert (
        s3.delete_object(Bucket="default", Key="no/such/key")["ResponseMetadata"]["HTTPStatusCode"]
        == 204
    )
    result = s3.delete_objects(
        Bucket="default",
        Delete={"Objects": [{"Key": "a/b/c.bin"}, {"Key": "copy/c.bin"}, {"Key": "nope"}]},
    )
    assert len(result["Deleted"]) == 3 and not result.get("Errors")
    assert not files_named(fake, f"{ROOT}/a/b/c.bin")
    assert all(e.deleted_at is None for e in fake.drive.entries.values())  # nothing trashed
    assert_inside_root(fake)


def test_rclone_end_to_end(fake: FakeDrime, drime_server: RunningServer, tmp_path: Path) -> None:
    """rclone: copy a tree with a folder bigger than one Drime page, check it byte for
    byte, overwrite, and purge (permanently)."""
    source = tmp_path / "src"
    files = {f"docs/{i:02d}.txt": 1000 + i for i in range(15)}
    files.update({"top.bin": 2 * MiB, "deep/er/still/x.dat": 12345})
    expected = make_tree(source, files)
    env = rclone_env(drime_server, tmp_path / "rclone")
    rclone(drime_server, env, "copy", str(source), "pys3:default/tree")
    rclone(drime_server, env, "check", "--download", str(source), "pys3:default/tree")
    back = tmp_path / "back"
    rclone(drime_server, env, "copy", "pys3:default/tree", str(back))
    assert tree_digest(back) == expected
    (source / "top.bin").write_bytes(b"changed")
    rclone(drime_server, env, "copy", str(source), "pys3:default/tree")
    assert len(files_named(fake, f"{ROOT}/tree/top.bin")) == 1
    rclone(drime_server, env, "check", "--download", str(source), "pys3:default/tree")
    rclone(drime_server, env, "delete", "pys3:default/tree")
    assert [e for e in fake.drive.entries.values() if e.type != "folder"] == []
    assert_inside_root(fake)


def _restic_tree(root: Path) -> dict[str, tuple[int, str]]:
    files = {f"d{i % 4}/f{i:02d}.bin": 20_000 + 7919 * i for i in range(24)}
    files["large.bin"] = 3 * MiB
    return make_tree(root, files)


def _restic_round_trip(server: RunningServer, tmp_path: Path, expected_source: Path) -> None:
    env = restic_env(server, tmp_path / "restic", "default", "repo")
    restic(server, env, "init")
    restic(server, env, "backup", str(expected_source))
    restic(server, env, "check", "--read-data")
    target = tmp_path / "restore"
    restic(server, env, "restore", "latest", "--target", str(target))
    restored = target / expected_source.relative_to(expected_source.anchor)
    assert tree_digest(restored) == tree_digest(expected_source)


def test_restic_backup_check_restore(
    fake: FakeDrime, drime_server: RunningServer, tmp_path: Path
) -> None:
    """restic: init, backup, check --read-data, restore byte for byte, all in the root."""
    source = tmp_path / "data"
    _restic_tree(source)
    _restic_round_trip(drime_server, tmp_path, source)
    assert_inside_root(fake)
    assert all(e.deleted_at is None for e in fake.drive.entries.values())


def test_restic_with_faults_mid_backup(
    fake: FakeDrime, drime_server: RunningServer, tmp_path: Path
) -> None:
    """Throttling, 5xx, dropped connections and broken downloads during a backup are
    retried inside the server; the backup still checks and restores."""
    source = tmp_path / "data"
    _restic_tree(source)
    fake.fault("status", status=429, retry_after="1", path="/api/v1/uploads", skip=3, times=2)
    fake.fault("status", status=500, path="/drive/file-entries", skip=1, times=2)
    fake.fault("drop", path="/api/v1/uploads", skip=4, times=1)
    fake.fault("drop_after", path="/api/v1/uploads", skip=5, times=1)
    fake.fault("status", status=503, path="/storage/files/", skip=2, times=1)
    fake.fault("truncate", path="/storage/files/", after_bytes=4096, skip=4, times=2)
    _restic_round_trip(drime_server, tmp_path, source)
    hits = [(f.kind, f.status, f.hits) for f in fake.injector.faults]
    assert all(h[2] for h in hits), hits
    # No key holds two entries, whatever failed on the way.
    files = [e for e in live_entries(fake) if e.type != "folder"]
    paths = [path_of(fake, e) for e in files]
    assert len(paths) == len(set(paths))


def test_advanced_mode_buckets_via_rclone(fake: FakeDrime, tmp_path: Path) -> None:
    """Advanced mode: rclone mkdir makes a bucket folder under the root; rmdir drops it."""
    server = start_drime_server(fake, tmp_path / "server", advanced=True)
    try:
        env = rclone_env(server, tmp_path / "rclone")
        rclone(server, env, "mkdir", "pys3:photos")
        out = rclone(server, env, "lsd", "pys3:").stdout
        assert "photos" in out
        assert [e.name for e in live_entries(fake) if path_of(fake, e) == f"{ROOT}/photos"]
        data = tmp_path / "one.txt"
        data.write_text("hello")
        rclone(server, env, "copy", str(data), "pys3:photos/2024")
        digest = hashlib.sha256(b"hello").hexdigest()
        sums = rclone(server, env, "hashsum", "sha256", "--download", "pys3:photos").stdout
        assert sums.startswith(digest)
        rclone(server, env, "purge", "pys3:photos")
        assert "photos" not in rclone(server, env, "lsd", "pys3:").stdout
    finally:
        server.stop()
