"""End-to-end runs of real backup clients against ``pys3local serve``.

Each test starts its own server (see ``servers``), drives rclone, restic, the aws cli,
s3cmd or boto3 through a realistic workflow and checks real outcomes: exit codes, the
bytes that come back, the objects the server holds, and (from the server's access log)
that the client took the protocol path the test is about (multipart, Range, server-side
copy, pagination). The rows of the predecessor's client table (predecessor.md §7) that
failed are covered here: multipart uploads (rclone, aws cli, s3cmd, boto3), ranged GETs
(rclone cat, multi-thread download, s3transfer), ListObjectsV2 pagination and
StartAfter, restic without a region and with STREAMING-AWS4-HMAC-SHA256-PAYLOAD
bodies, s3cmd ``info`` and SigV2 listing and space keys.

On failure the assertion message carries the client's output and the tail of the
server's log; the server logs are also printed at teardown (shown only for failures).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from boto3.s3.transfer import TransferConfig
from clients import (
    Access,
    MiB,
    SniffingProxy,
    access_records,
    aws,
    aws_env,
    binary,
    client_env,
    diff_trees,
    file_digest,
    make_tree,
    rclone,
    rclone_env,
    restic,
    restic_env,
    s3cmd,
    s3cmd_config,
    server_tail,
    settle_log,
    tree_digest,
    write_file,
)
from conftest import RunningServer
from processes import run_command

ADVANCED = ("--allow-bucket-creation",)

#: A small tree with awkward names: spaces, unicode, "+", an empty file, nesting, and
#: one file bigger than a network read (so streaming decoders see several reads).
SMALL_TREE = {
    "readme.txt": 1000,
    "empty.bin": 0,
    "dir one/file with space.txt": 3000,
    "dir one/ünïcødé.dat": 5000,
    "dir one/deeper/plus+sign=eq.bin": 70_000,
    "other/a.bin": 300_000,
}


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def servers(make_server: Callable[..., RunningServer]) -> Iterator[Callable[..., RunningServer]]:
    """Start servers for one test; their log tails are printed at teardown."""
    started: list[RunningServer] = []

    def start(*args: str, **kwargs: object) -> RunningServer:
        server = make_server(*args, **kwargs)
        started.append(server)
        return server

    yield start
    for server in started:
        print(f"\n===== server {server.endpoint} ({server.data_dir}) log tail =====")
        print(server_tail(server, 100))


def _seed(server: RunningServer, bucket: str, keys: list[str], body: bytes = b"x") -> None:
    """Create many small objects quickly with boto3 (the listing is the point, not PUT)."""
    s3 = server.client()
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda k: s3.put_object(Bucket=bucket, Key=k, Body=body), keys))


def _ops(records: list[Access], *names: str) -> list[Access]:
    return [r for r in records if r.operation in names]


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


# --------------------------------------------------------------------------- rclone


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["default", "advanced"])
def test_rclone_tree_with_multipart_file(
    mode: str, servers: Callable[..., RunningServer], tmp_path: Path
) -> None:
    """copy (201 MiB → multipart), check --download, multi-thread ranged download, cat
    ranges, server-side copyto/moveto, deletefile and purge, in both bucket modes."""
    server = servers(*(ADVANCED if mode == "advanced" else ()))
    env = rclone_env(server, tmp_path / "home")
    if mode == "advanced":
        bucket = "rclone-advanced"
        rclone(server, env, "mkdir", f"pys3:{bucket}")
    else:
        bucket = "default"
    listed = rclone(server, env, "lsd", "pys3:")
    assert [line.split()[-1] for line in _lines(listed.stdout)] == [bucket], listed.report()

    src = tmp_path / "src"
    expected = make_tree(src, {**SMALL_TREE, "big/big.bin": 201 * MiB})
    remote = f"pys3:{bucket}/tree"
    # A distinctive mtime that rclone must carry in x-amz-meta-mtime (not LastModified).
    old_mtime_ns = 1_577_934_245_123_456_789  # 2020-01-02T03:04:05.123456789Z
    os.utime(src / "readme.txt", ns=(old_mtime_ns, old_mtime_ns))

    mark = settle_log(server)
    copied = rclone(server, env, "copy", str(src), remote, "-v", timeout=300)
    settle_log(server)
    records = access_records(server, mark)
    big_key = f"/{bucket}/tree/big/big.bin"
    parts = [r for r in _ops(records, "UploadPart") if r.target == big_key]
    assert _ops(records, "CreateMultipartUpload"), copied.report("rclone did not use multipart")
    assert len(parts) == 41 and sum(r.bytes_in for r in parts) == 201 * MiB, copied.report()
    assert [r.status for r in _ops(records, "CompleteMultipartUpload")] == [200], copied.report()

    checked = rclone(server, env, "check", "--download", str(src), remote, timeout=300)
    assert "0 differences found" in checked.stderr, checked.report()
    assert f"{len(expected)} matching files" in checked.stderr, checked.report()
    # Hash check: MD5 from the ETag (single PUT) or from rclone's md5chksum metadata
    # (multipart); a missing hash is reported as "hashes could not be checked".
    hashed = rclone(server, env, "check", str(src), remote)
    assert f"{len(expected)} matching files" in hashed.stderr, hashed.report()
    assert "could not be checked" not in hashed.stderr, hashed.report()
    assert "no hashes in common" not in hashed.stderr, hashed.report()
    summed = rclone(server, env, "md5sum", f"{remote}/big/big.bin")
    assert summed.stdout.split()[0] == file_digest(src / "big/big.bin", "md5"), summed.report()

    # rclone stores the source mtime in x-amz-meta-mtime and reads it back.
    listing = json.loads(rclone(server, env, "lsjson", "-R", "--files-only", remote).stdout)
    remote_mtimes = {e["Path"]: e["ModTime"] for e in listing}
    assert sorted(remote_mtimes) == sorted(expected)
    remote_mtime = remote_mtimes["readme.txt"]
    assert remote_mtime.startswith("2020-01-02T03:04:05.123456"), remote_mtime

    # Multi-thread download: 4 ranged GETs, each must carry only its own range.
    mark = settle_log(server)
    down = tmp_path / "down"
    fetched = rclone(
        server,
        env,
        "copy",
        f"{remote}/big",
        str(down),
        "--multi-thread-cutoff",
        "32M",
        "--multi-thread-streams",
        "4",
        "-v",
        timeout=300,
    )
    assert "Multi-thread Copied" in fetched.stderr, fetched.report()
    assert file_digest(down / "big.bin") == expected["big/big.bin"][1], fetched.report()
    settle_log(server)
    gets = [r for r in _ops(access_records(server, mark), "GetObject") if r.target == big_key]
    assert len(gets) >= 2 and all(r.status == 206 for r in gets), fetched.report(str(gets))
    assert sum(r.bytes_out for r in gets) == 201 * MiB, fetched.report(str(gets))

    # Range: cat --offset/--count, and a negative offset (suffix range).
    data = (src / "readme.txt").read_bytes()
    cat_bytes = _rclone_cat_bytes(
        server, env, f"{remote}/readme.txt", "--offset", "5", "--count", "3"
    )
    assert cat_bytes == data[5:8], "cat --offset 5 --count 3 returned wrong bytes"
    cat_bytes = _rclone_cat_bytes(server, env, f"{remote}/readme.txt", "--offset", "5")
    assert cat_bytes == data[5:], "cat --offset 5 returned wrong bytes"
    cat_bytes = _rclone_cat_bytes(server, env, f"{remote}/readme.txt", "--offset", "-4")
    assert cat_bytes == data[-4:], "cat --offset -4 returned wrong bytes"
    cat_bytes = _rclone_cat_bytes(server, env, f"{remote}/readme.txt", "--head", "10")
    assert cat_bytes == data[:10], "cat --head 10 returned wrong bytes"

    # Server-side copyto and moveto: a CopyObject, no upload.
    mark = settle_log(server)
    rclone(server, env, "copyto", f"{remote}/other/a.bin", f"pys3:{bucket}/copies/a copy.bin")
    rclone(server, env, "moveto", f"{remote}/dir one/ünïcødé.dat", f"pys3:{bucket}/copies/moved")
    settle_log(server)
    records = access_records(server, mark)
    assert len(_ops(records, "CopyObject")) == 2, server_tail(server)
    assert not _ops(records, "PutObject", "UploadPart"), server_tail(server)
    got = _rclone_cat_bytes(server, env, f"pys3:{bucket}/copies/a copy.bin")
    assert got == (src / "other/a.bin").read_bytes()
    got = _rclone_cat_bytes(server, env, f"pys3:{bucket}/copies/moved")
    assert got == (src / "dir one/ünïcødé.dat").read_bytes()
    left = _lines(rclone(server, env, "lsf", "-R", "--files-only", remote).stdout)
    assert "dir one/ünïcødé.dat" not in left and "other/a.bin" in left, left

    # deletefile removes exactly one object.
    rclone(server, env, "deletefile", f"pys3:{bucket}/copies/moved")
    copies = _lines(rclone(server, env, "lsf", f"pys3:{bucket}/copies").stdout)
    assert copies == ["a copy.bin"], copies

    # purge removes a whole prefix; the rest of the bucket stays.
    rclone(server, env, "purge", remote, timeout=120)
    everything = _lines(rclone(server, env, "lsf", "-R", "--files-only", f"pys3:{bucket}").stdout)
    assert everything == ["copies/a copy.bin"], everything
    if mode == "advanced":
        rclone(server, env, "purge", f"pys3:{bucket}")
        listed = rclone(server, env, "lsd", "pys3:")
        assert _lines(listed.stdout) == [], listed.report("bucket survived purge")


def _rclone_cat_bytes(server: RunningServer, env: dict[str, str], path: str, *args: str) -> bytes:
    """rclone cat, returning raw stdout bytes (the helper decodes text)."""
    done = run_command(
        [binary("rclone"), "cat", *args, path],
        env=env,
        capture_output=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, (
        f"rclone cat {args} {path} failed:\n{done.stderr.decode(errors='replace')}\n"
        + server_tail(server)
    )
    return done.stdout


@pytest.mark.slow
def test_rclone_listing_over_1200_keys(
    servers: Callable[..., RunningServer], tmp_path: Path
) -> None:
    """lsf -R / size / ls over 1250 keys in one directory, with ListObjects v1 (the
    provider=Other default, marker-paginated) and v2, with and without --fast-list."""
    server = servers(*ADVANCED)
    server.client().create_bucket(Bucket="many")
    odd = [
        "many/with space.txt",
        "many/ünï.txt",
        "many/plus+sign.txt",
        "many/per%cent.txt",
        "many/x&y<z>'q\".txt",
    ]
    keys = [f"many/key-{i:05d}" for i in range(1246)] + odd
    keys += ["top.txt", "many/sub/nested.txt"]
    _seed(server, "many", keys, b"abc")
    expected_files = sorted(k for k in keys)

    for version, url_encode in (("1", "false"), ("2", "false"), ("1", "true"), ("2", "true")):
        env = rclone_env(
            server,
            tmp_path / f"home{version}{url_encode}",
            list_version=version,
            list_url_encode=url_encode,
        )
        for flags in ((), ("--fast-list",)):
            mark = settle_log(server)
            listed = rclone(server, env, "lsf", "-R", "--files-only", *flags, "pys3:many")
            got = sorted(_lines(listed.stdout))
            assert got == expected_files, listed.report(
                f"v{version} url_encode={url_encode} {flags}: {len(got)} keys, "
                + diff_trees(dict.fromkeys(expected_files), dict.fromkeys(got))
            )
            settle_log(server)
            lists = _ops(access_records(server, mark), "ListObjects", "ListObjectsV2")
            wanted = "ListObjects" if version == "1" else "ListObjectsV2"
            assert lists and {r.operation for r in lists} == {wanted}, listed.report()
            assert len(lists) >= 2, listed.report("expected a paginated listing")

        sized = rclone(server, env, "size", "--json", "pys3:many")
        assert json.loads(sized.stdout) == {
            "count": len(keys),
            "bytes": 3 * len(keys),
            "sizeless": 0,
        }, sized.report()

    env = rclone_env(server, tmp_path / "home")
    dirs = _lines(rclone(server, env, "lsf", "--dirs-only", "pys3:many/many").stdout)
    assert dirs == ["sub/"], dirs
    count = len(_lines(rclone(server, env, "lsf", "--files-only", "pys3:many/many").stdout))
    assert count == len(keys) - 2
    assert _rclone_cat_bytes(server, env, "pys3:many/many/x&y<z>'q\".txt") == b"abc"


@pytest.mark.slow
def test_listing_over_1000_common_prefixes(
    servers: Callable[..., RunningServer], tmp_path: Path
) -> None:
    """A delimiter listing whose >1000 entries are mostly CommonPrefixes: the page
    boundary falls on a prefix (NextMarker / continuation token must skip past it).
    rclone (v1 and v2), aws s3 ls and s3cmd ls must each see every entry exactly once."""
    server = servers()
    dirs = [f"dirs/d{i:04d}/" for i in range(1010)]
    _seed(server, "default", [d + "f" for d in dirs] + ["dirs/file-a", "dirs/zzz"])
    expected = [d.removeprefix("dirs/") for d in dirs] + ["file-a", "zzz"]

    for version in ("1", "2"):
        env = rclone_env(server, tmp_path / f"home{version}", list_version=version)
        listed = rclone(server, env, "lsf", "pys3:default/dirs")
        got = _lines(listed.stdout)
        assert sorted(got) == expected and len(got) == len(set(got)), listed.report(
            f"v{version}: {len(got)} entries, {len(set(got))} distinct"
        )

    env = aws_env(server, tmp_path / "aws")
    listed = aws(server, env, "s3", "ls", "s3://default/dirs/")
    names = [line.split()[-1] for line in _lines(listed.stdout)]
    assert sorted(names) == expected, listed.report(f"{len(names)} entries")

    cfg = s3cmd_config(server, tmp_path / "s3cfg")
    listed = s3cmd(server, client_env(tmp_path / "s3cmd"), cfg, "ls", "s3://default/dirs/")
    names = [line.split()[-1].removeprefix("s3://default/dirs/") for line in _lines(listed.stdout)]
    assert sorted(names) == expected, listed.report(f"{len(names)} entries")


@pytest.mark.slow
def test_rclone_sync_twice_is_a_noop(servers: Callable[..., RunningServer], tmp_path: Path) -> None:
    """sync uploads once; a second sync transfers nothing; a changed mtime alone is
    fixed with a metadata CopyObject; deletions propagate."""
    server = servers()
    env = rclone_env(server, tmp_path / "home")
    src = tmp_path / "src"
    make_tree(src, SMALL_TREE)
    remote = "pys3:default/synced"

    first = rclone(server, env, "sync", str(src), remote, "-v", "--stats-one-line")
    assert first.stderr.count("Copied (new)") == len(SMALL_TREE), first.report()

    mark = settle_log(server)
    second = rclone(server, env, "sync", str(src), remote, "-v", "--stats-one-line")
    settle_log(server)
    assert "Copied" not in second.stderr and "Deleted" not in second.stderr, second.report()
    writes = _ops(
        access_records(server, mark),
        "PutObject",
        "UploadPart",
        "CopyObject",
        "DeleteObject",
        "DeleteObjects",
    )
    assert not writes, second.report(f"second sync wrote: {writes}")

    # Same content, newer mtime: rclone updates the mtime metadata in place (CopyObject).
    touched = src / "readme.txt"
    stamp = time.time() - 3600
    os.utime(touched, (stamp, stamp))
    mark = settle_log(server)
    third = rclone(server, env, "sync", str(src), remote, "-v")
    settle_log(server)
    records = access_records(server, mark)
    assert not _ops(records, "PutObject", "UploadPart"), third.report("re-uploaded for an mtime")
    assert "Updated modification time" in third.stderr, third.report()
    fourth = rclone(server, env, "sync", str(src), remote, "-v")
    assert "Updated" not in fourth.stderr and "Copied" not in fourth.stderr, fourth.report(
        "mtime update did not stick"
    )

    # Deletions and modifications propagate.
    (src / "other/a.bin").unlink()
    (src / "dir one/file with space.txt").write_bytes(b"changed")
    rclone(server, env, "sync", str(src), remote, "-v")
    down = tmp_path / "down"
    rclone(server, env, "copy", remote, str(down))
    assert tree_digest(down) == tree_digest(src), diff_trees(tree_digest(src), tree_digest(down))


def test_rclone_v2_auth_copy_check(servers: Callable[..., RunningServer], tmp_path: Path) -> None:
    """rclone with v2_auth (AWS signature V2): copy with a multipart file (cutoff lowered
    to 5 MiB, so ?uploads / ?partNumber&uploadId are signed as V2 sub-resources),
    check --download, listing, ranges, rcat streaming upload of unknown size."""
    server = servers()
    env = rclone_env(server, tmp_path / "home", v2_auth="true", upload_cutoff="5M", chunk_size="5M")
    src = tmp_path / "src"
    expected = make_tree(src, {**SMALL_TREE, "twelve.bin": 12 * MiB + 17})
    remote = "pys3:default/v2"
    mark = settle_log(server)
    copied = rclone(server, env, "copy", str(src), remote, "-v")
    settle_log(server)
    parts = _ops(access_records(server, mark), "UploadPart")
    assert len(parts) == 3 and sum(r.bytes_in for r in parts) == 12 * MiB + 17, copied.report()
    checked = rclone(server, env, "check", "--download", str(src), remote)
    assert f"{len(expected)} matching files" in checked.stderr, checked.report()
    listed = sorted(_lines(rclone(server, env, "lsf", "-R", "--files-only", remote).stdout))
    assert listed == sorted(expected), listed
    data = (src / "dir one/file with space.txt").read_bytes()
    got = _rclone_cat_bytes(
        server, env, f"{remote}/dir one/file with space.txt", "--offset", "5", "--count", "3"
    )
    assert got == data[5:8]

    # rcat streams stdin of unknown length: multipart once it passes the chunk size.
    mark = settle_log(server)
    rclone(server, env, "rcat", f"{remote}/streamed.bin", stdin=src / "twelve.bin")
    settle_log(server)
    assert len(_ops(access_records(server, mark), "UploadPart")) == 3, server_tail(server)
    got = _rclone_cat_bytes(server, env, f"{remote}/streamed.bin")
    assert got == (src / "twelve.bin").read_bytes()

    rclone(server, env, "deletefile", f"{remote}/dir one/file with space.txt")
    rclone(server, env, "purge", remote)
    assert _lines(rclone(server, env, "lsf", "-R", "pys3:default").stdout) == []


# --------------------------------------------------------------------------- restic


def _restic_snapshots(server: RunningServer, env: dict[str, str]) -> list[dict]:
    return json.loads(restic(server, env, "snapshots", "--json").stdout)


@pytest.mark.slow
@pytest.mark.parametrize("auth", [True, False], ids=["auth", "no-auth"])
def test_restic_backup_restore_prune(
    auth: bool,
    servers: Callable[..., RunningServer],
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    """init (no region: GetBucketLocation), backup (STREAMING-AWS4-HMAC-SHA256-PAYLOAD
    pack files), check --read-data, restore byte for byte, second backup, forget --prune."""
    if auth:
        server = servers(*ADVANCED)  # restic creates the bucket itself
        bucket = "restic-bucket"
    else:
        server = servers(auth=False)
        bucket = "default"
    # restic talks through a transparent proxy that records x-amz-content-sha256.
    proxy = SniffingProxy(server)
    request.addfinalizer(proxy.close)
    env = restic_env(server, tmp_path / "home", bucket, "repo/one", endpoint=proxy.endpoint)
    assert "AWS_DEFAULT_REGION" not in env and "AWS_REGION" not in env

    src = tmp_path / "src"
    files = {f"docs/file-{i:02d}.txt": 20_000 + i * 7_919 for i in range(40)}
    files.update({"nested/a/b/c.bin": 1 * MiB, "big.bin": 40 * MiB, "empty": 0})
    make_tree(src, files)

    mark = settle_log(server)
    restic(server, env, "init")
    settle_log(server)
    records = access_records(server, mark)
    assert _ops(records, "GetBucketLocation"), server_tail(server)
    if auth:
        assert _ops(records, "CreateBucket"), server_tail(server)

    backup = restic(server, env, "backup", "--json", ".", timeout=300, cwd=src)
    summary = [json.loads(line) for line in _lines(backup.stdout)]
    summary = [m for m in summary if m.get("message_type") == "summary"]
    assert summary and summary[0]["files_new"] == len(files), backup.report()
    if auth:
        # minio-go over http signs bodies chunk by chunk; this is what broke before.
        assert "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" in proxy.content_sha256, sorted(
            set(proxy.content_sha256)
        )
    restic(server, env, "check", "--read-data", timeout=300)

    def restore_and_compare(label: str) -> None:
        target = tmp_path / f"restore-{label}"
        restic(server, env, "restore", "latest", "--target", str(target), timeout=300)
        # restic 0.14 stores "." as the snapshot root; later versions may keep the
        # absolute path, which would put the tree under target/<src>.
        nested = target / src.relative_to(src.anchor)
        restored = nested if nested.is_dir() else target
        want, got = tree_digest(src), tree_digest(restored)
        assert got == want, f"restore {label}: {diff_trees(want, got)}\n{server_tail(server)}"

    restore_and_compare("first")

    # Second backup after modifying, adding and deleting files.
    with (src / "docs/file-03.txt").open("ab") as f:
        f.write(os.urandom(5000))
    (src / "docs/file-04.txt").unlink()
    write_file(src / "docs/new.txt", 123_456)
    with (src / "big.bin").open("r+b") as f:
        f.seek(20 * MiB)
        f.write(os.urandom(MiB))
    restic(server, env, "backup", ".", timeout=300, cwd=src)
    assert len(_restic_snapshots(server, env)) == 2

    mark = settle_log(server)
    pruned = restic(server, env, "forget", "--keep-last", "1", "--prune", timeout=300)
    settle_log(server)
    assert len(_restic_snapshots(server, env)) == 1, pruned.report()
    assert _ops(access_records(server, mark), "DeleteObject"), pruned.report("nothing deleted")
    restic(server, env, "check", "--read-data", timeout=300)
    restore_and_compare("second")


# --------------------------------------------------------------------------- aws cli


@pytest.mark.slow
def test_awscli_s3_commands(servers: Callable[..., RunningServer], tmp_path: Path) -> None:
    """mb, cp 30 MiB up (multipart) and down, ls, sync twice (second is a no-op), rm
    --recursive, rb."""
    server = servers(*ADVANCED)
    env = aws_env(server, tmp_path / "home")
    aws(server, env, "s3", "mb", "s3://aws-bucket")
    listed = aws(server, env, "s3", "ls")
    assert [line.split()[-1] for line in _lines(listed.stdout)] == ["aws-bucket"], listed.report()

    big = tmp_path / "big.bin"
    digest = write_file(big, 30 * MiB)
    mark = settle_log(server)
    aws(server, env, "s3", "cp", str(big), "s3://aws-bucket/up/big.bin", timeout=180)
    settle_log(server)
    records = access_records(server, mark)
    parts = _ops(records, "UploadPart")
    assert len(parts) == 4 and sum(r.bytes_in for r in parts) == 30 * MiB, server_tail(server)
    assert [r.status for r in _ops(records, "CompleteMultipartUpload")] == [200]

    back = tmp_path / "back.bin"
    aws(server, env, "s3", "cp", "s3://aws-bucket/up/big.bin", str(back), timeout=180)
    assert back.stat().st_size == 30 * MiB and file_digest(back) == digest

    listed = aws(server, env, "s3", "ls", "s3://aws-bucket/up/")
    fields = listed.stdout.split()
    assert fields[-2:] == [str(30 * MiB), "big.bin"], listed.report()

    # Upload from a pipe (size unknown: multipart in 8 MiB parts), e.g. `pg_dump | aws s3 cp -`.
    piped = tmp_path / "piped.bin"
    piped_digest = write_file(piped, 20 * MiB + 5)
    mark = settle_log(server)
    aws(server, env, "s3", "cp", "-", "s3://aws-bucket/up/piped.bin", stdin=piped, timeout=180)
    settle_log(server)
    assert len(_ops(access_records(server, mark), "UploadPart")) == 3, server_tail(server)
    aws(server, env, "s3", "cp", "s3://aws-bucket/up/piped.bin", str(back), timeout=180)
    assert file_digest(back) == piped_digest

    src = tmp_path / "tree"
    make_tree(src, {**SMALL_TREE, "nine-mib.bin": 9 * MiB})
    synced = aws(server, env, "s3", "sync", str(src), "s3://aws-bucket/tree", timeout=180)
    assert synced.stdout.count("upload:") == len(SMALL_TREE) + 1, synced.report()
    mark = settle_log(server)
    again = aws(server, env, "s3", "sync", str(src), "s3://aws-bucket/tree")
    settle_log(server)
    assert again.stdout.strip() == "", again.report("second sync was not a no-op")
    assert not _ops(access_records(server, mark), "PutObject", "UploadPart", "CopyObject")

    down = tmp_path / "tree-down"
    aws(server, env, "s3", "sync", "s3://aws-bucket/tree", str(down), timeout=180)
    assert tree_digest(down) == tree_digest(src), diff_trees(tree_digest(src), tree_digest(down))

    removed = aws(server, env, "s3", "rm", "--recursive", "s3://aws-bucket/")
    assert removed.stdout.count("delete:") == len(SMALL_TREE) + 3, removed.report()
    leftover = aws(server, env, "s3", "ls", "--recursive", "s3://aws-bucket/", check=False)
    assert leftover.stdout.strip() == "", leftover.report()
    aws(server, env, "s3", "rb", "s3://aws-bucket")
    assert _lines(aws(server, env, "s3", "ls").stdout) == []


def test_awscli_s3api_metadata_and_pagination(
    servers: Callable[..., RunningServer], tmp_path: Path
) -> None:
    """put-object/head-object with user metadata; list-objects-v2 with --page-size and
    --max-items (continuation tokens) and --start-after."""
    server = servers(*ADVANCED)
    env = aws_env(server, tmp_path / "home")
    aws(server, env, "s3api", "create-bucket", "--bucket", "api-bucket")
    body = tmp_path / "body.txt"
    body.write_bytes(b"hello metadata\n")
    put = aws(
        server,
        env,
        "s3api",
        "put-object",
        "--bucket",
        "api-bucket",
        "--key",
        "meta/obj.txt",
        "--body",
        str(body),
        "--content-type",
        "text/x-test",
        "--cache-control",
        "max-age=60",
        "--metadata",
        "color=blue,Owner=Team-A",
    )
    etag = json.loads(put.stdout)["ETag"]
    assert etag == '"' + hashlib.md5(body.read_bytes()).hexdigest() + '"', put.report()
    head = json.loads(
        aws(
            server, env, "s3api", "head-object", "--bucket", "api-bucket", "--key", "meta/obj.txt"
        ).stdout
    )
    assert head["ContentLength"] == body.stat().st_size
    assert head["ETag"] == etag
    assert head["ContentType"] == "text/x-test"
    assert head.get("CacheControl") == "max-age=60", head
    assert head["Metadata"] == {"color": "blue", "owner": "Team-A"}, head

    keys = [f"page/k{i:03d}" for i in range(25)]
    _seed(server, "api-bucket", keys)
    mark = settle_log(server)
    common = ("s3api", "list-objects-v2", "--bucket", "api-bucket", "--prefix", "page/")
    first = json.loads(aws(server, env, *common, "--page-size", "7", "--max-items", "10").stdout)
    assert [o["Key"] for o in first["Contents"]] == keys[:10], first
    token = first.get("NextToken")
    assert token, first
    rest = json.loads(
        aws(server, env, *common, "--page-size", "7", "--starting-token", token).stdout
    )
    assert [o["Key"] for o in rest["Contents"]] == keys[10:], rest
    assert "NextToken" not in rest
    settle_log(server)
    lists = _ops(access_records(server, mark), "ListObjectsV2")
    assert len(lists) >= 4, server_tail(server)  # 7+7 (first), then 7+7+… (rest)

    after = json.loads(aws(server, env, *common, "--start-after", "page/k019").stdout)
    assert [o["Key"] for o in after["Contents"]] == keys[20:], after


# --------------------------------------------------------------------------- s3cmd


@pytest.mark.slow
def test_s3cmd_commands(servers: Callable[..., RunningServer], tmp_path: Path) -> None:
    """mb, put small and 20 MiB (multipart, 15 MB chunks), get, ls, info, del, sync, rm -r."""
    server = servers(*ADVANCED)
    env = client_env(tmp_path / "home")
    cfg = s3cmd_config(server, tmp_path / "s3cfg")
    s3cmd(server, env, cfg, "mb", "s3://cmd-bucket")
    buckets = s3cmd(server, env, cfg, "ls")
    assert buckets.stdout.split()[-1:] == ["s3://cmd-bucket"], buckets.report()

    small = tmp_path / "small.txt"
    small.write_bytes(os.urandom(5000))
    big = tmp_path / "big.bin"
    digest = write_file(big, 20 * MiB)
    s3cmd(server, env, cfg, "put", str(small), "s3://cmd-bucket/small.txt")
    mark = settle_log(server)
    s3cmd(server, env, cfg, "put", str(big), "s3://cmd-bucket/dir/big.bin", timeout=180)
    settle_log(server)
    parts = _ops(access_records(server, mark), "UploadPart")
    assert len(parts) == 2 and sum(r.bytes_in for r in parts) == 20 * MiB, server_tail(server)

    got_small, got_big = tmp_path / "got-small", tmp_path / "got-big"
    s3cmd(server, env, cfg, "get", "s3://cmd-bucket/small.txt", str(got_small))
    s3cmd(server, env, cfg, "get", "s3://cmd-bucket/dir/big.bin", str(got_big), timeout=180)
    assert got_small.read_bytes() == small.read_bytes()
    assert file_digest(got_big) == digest

    listed = s3cmd(server, env, cfg, "ls", "--recursive", "s3://cmd-bucket")
    urls = sorted(line.split()[-1] for line in _lines(listed.stdout))
    assert urls == ["s3://cmd-bucket/dir/big.bin", "s3://cmd-bucket/small.txt"], listed.report()

    info = s3cmd(server, env, cfg, "info", "s3://cmd-bucket/small.txt")
    fields = _info_fields(info.stdout)
    assert fields.get("File size") == "5000", info.report()
    assert fields.get("MD5 sum") == hashlib.md5(small.read_bytes()).hexdigest(), info.report()
    assert "<" not in info.stdout and "ListBucketResult" not in info.stdout, info.report()
    assert fields.get("Policy") == "none", info.report()
    info = s3cmd(server, env, cfg, "info", "s3://cmd-bucket/dir/big.bin")
    assert _info_fields(info.stdout).get("File size") == str(20 * MiB), info.report()
    assert "<" not in info.stdout, info.report()
    bucket_info = s3cmd(server, env, cfg, "info", "s3://cmd-bucket")
    assert "<" not in bucket_info.stdout, bucket_info.report()

    s3cmd(server, env, cfg, "del", "s3://cmd-bucket/small.txt")
    listed = s3cmd(server, env, cfg, "ls", "--recursive", "s3://cmd-bucket")
    assert [line.split()[-1] for line in _lines(listed.stdout)] == ["s3://cmd-bucket/dir/big.bin"]

    src = tmp_path / "tree"
    make_tree(src, SMALL_TREE)
    (src / "big.bin").hardlink_to(big)
    s3cmd(server, env, cfg, "sync", f"{src}/", "s3://cmd-bucket/tree/", timeout=180)
    again = s3cmd(server, env, cfg, "sync", f"{src}/", "s3://cmd-bucket/tree/")
    assert "upload:" not in again.stdout, again.report("second sync uploaded again")
    down = tmp_path / "tree-down"
    s3cmd(server, env, cfg, "sync", "s3://cmd-bucket/tree/", f"{down}/", timeout=180)
    assert tree_digest(down) == tree_digest(src), diff_trees(tree_digest(src), tree_digest(down))

    s3cmd(server, env, cfg, "rm", "-r", "--force", "s3://cmd-bucket/")
    listed = s3cmd(server, env, cfg, "ls", "--recursive", "s3://cmd-bucket")
    assert listed.stdout.strip() == "", listed.report()
    s3cmd(server, env, cfg, "rb", "s3://cmd-bucket")


def _info_fields(text: str) -> dict[str, str]:
    fields = {}
    for line in text.splitlines():
        name, sep, value = line.strip().partition(":")
        if sep:
            fields[name.strip()] = value.strip()
    return fields


def test_s3cmd_signature_v2(servers: Callable[..., RunningServer], tmp_path: Path) -> None:
    """put/get/ls/del with --signature-v2: a key with a space, a listing, and a 20 MiB
    multipart upload (V2 signs ?uploads, ?partNumber&uploadId, ?uploadId)."""
    server = servers()
    env = client_env(tmp_path / "home")
    cfg = s3cmd_config(server, tmp_path / "s3cfg", signature_v2=True)
    small = tmp_path / "small.txt"
    small.write_bytes(os.urandom(70_000))
    for key in ("v2/plain.txt", "v2/with space.txt"):
        s3cmd(server, env, cfg, "--signature-v2", "put", str(small), f"s3://default/{key}")
    listed = s3cmd(server, env, cfg, "--signature-v2", "ls", "s3://default/v2/")
    names = sorted(line.split(maxsplit=3)[-1] for line in _lines(listed.stdout))
    assert names == ["s3://default/v2/plain.txt", "s3://default/v2/with space.txt"], listed.report()
    got = tmp_path / "got"
    s3cmd(server, env, cfg, "--signature-v2", "get", "s3://default/v2/with space.txt", str(got))
    assert got.read_bytes() == small.read_bytes()

    big = tmp_path / "big.bin"
    digest = write_file(big, 20 * MiB)
    got_big = tmp_path / "got-big"
    mark = settle_log(server)
    s3cmd(server, env, cfg, "--signature-v2", "put", str(big), "s3://default/v2/big one.bin")
    settle_log(server)
    assert len(_ops(access_records(server, mark), "UploadPart")) == 2, server_tail(server)
    s3cmd(server, env, cfg, "--signature-v2", "get", "s3://default/v2/big one.bin", str(got_big))
    assert file_digest(got_big) == digest
    s3cmd(server, env, cfg, "--signature-v2", "del", "s3://default/v2/big one.bin")
    s3cmd(server, env, cfg, "--signature-v2", "del", "s3://default/v2/with space.txt")
    s3cmd(server, env, cfg, "--signature-v2", "del", "s3://default/v2/plain.txt")
    listed = s3cmd(server, env, cfg, "--signature-v2", "ls", "s3://default/v2/")
    assert listed.stdout.strip() == "", listed.report()


# --------------------------------------------------------------------------- boto3


@pytest.mark.slow
def test_boto3_transfer_50mib(servers: Callable[..., RunningServer], tmp_path: Path) -> None:
    """upload_file (multipart, parallel parts) and download_file (parallel ranged GETs)."""
    server = servers(*ADVANCED)
    s3 = server.client()
    s3.create_bucket(Bucket="transfer")
    src = tmp_path / "fifty.bin"
    write_file(src, 50 * MiB)
    config = TransferConfig(multipart_threshold=8 * MiB, multipart_chunksize=8 * MiB)

    mark = settle_log(server)
    s3.upload_file(str(src), "transfer", "dir/fifty.bin", Config=config)
    settle_log(server)
    records = access_records(server, mark)
    assert len(_ops(records, "UploadPart")) == 7, server_tail(server)

    head = s3.head_object(Bucket="transfer", Key="dir/fifty.bin")
    assert head["ContentLength"] == 50 * MiB
    assert head["ETag"].strip('"').endswith("-7"), head["ETag"]

    mark = settle_log(server)
    dst = tmp_path / "back.bin"
    s3.download_file("transfer", "dir/fifty.bin", str(dst), Config=config)
    settle_log(server)
    gets = _ops(access_records(server, mark), "GetObject")
    assert dst.stat().st_size == 50 * MiB
    assert file_digest(dst, "md5") == file_digest(src, "md5"), server_tail(server)
    assert len(gets) >= 2 and all(r.status == 206 for r in gets), gets
    assert sum(r.bytes_out for r in gets) == 50 * MiB, gets


@pytest.mark.slow
def test_boto3_list_objects_v2_paginator_1500(
    servers: Callable[..., RunningServer], tmp_path: Path
) -> None:
    server = servers(*ADVANCED)
    s3 = server.client()
    s3.create_bucket(Bucket="paged")
    keys = [f"k/{i:05d}" for i in range(1500)]
    _seed(server, "paged", keys)

    paginator = s3.get_paginator("list_objects_v2")
    pages = list(paginator.paginate(Bucket="paged"))
    got = [o["Key"] for page in pages for o in page.get("Contents", [])]
    assert len(pages) == 2 and [p["KeyCount"] for p in pages] == [1000, 500], [
        (p.get("KeyCount"), p.get("IsTruncated")) for p in pages
    ]
    assert got == keys
    assert pages[0]["IsTruncated"] and pages[0]["NextContinuationToken"]
    assert not pages[1]["IsTruncated"]

    pages = list(paginator.paginate(Bucket="paged", PaginationConfig={"PageSize": 400}))
    assert [p["KeyCount"] for p in pages] == [400, 400, 400, 300]
    assert [o["Key"] for page in pages for o in page["Contents"]] == keys

    after = list(paginator.paginate(Bucket="paged", StartAfter=keys[749]))
    assert [o["Key"] for page in after for o in page.get("Contents", [])] == keys[750:]
    single = s3.list_objects_v2(Bucket="paged", StartAfter="k/01234", MaxKeys=5)
    assert [o["Key"] for o in single["Contents"]] == keys[1235:1240]
    assert single["IsTruncated"] and single["StartAfter"] == "k/01234"
