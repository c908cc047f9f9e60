"""Object metadata on the Drime backend: kept with the Drime file (its description),
so every server on the workspace returns it; boto3 and rclone through real
``pys3local serve --backend drime`` processes against the fake Drime."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from clients import make_tree, rclone, rclone_env
from conftest import RunningServer
from fake_drime import FakeDrime
from fake_drime.testing import files_named
from test_drime_e2e import ROOT, start_drime_server

MiB = 1024 * 1024
HEADERS = {
    "Metadata": {"mtime": "1700000000.123456789", "owner": 'Jane Doe, {quotes: "yes"}'},
    "CacheControl": "max-age=3600, public",
    "ContentDisposition": 'attachment; filename="report.pdf"',
    "ContentEncoding": "gzip",
    "ContentLanguage": "fr-CH",
    "Expires": "Wed, 21 Oct 2037 07:28:00 GMT",
    "ContentType": "application/x-custom-type",
}


@pytest.fixture
def fake() -> Iterator[FakeDrime]:
    with FakeDrime(page_size_cap=7) as server:
        yield server


def serve(fake: FakeDrime, tmp: Path, name: str) -> RunningServer:
    """A server process with its own (empty) metadata cache: what it knows of an
    object's metadata can only come from Drime."""
    tmp.mkdir(parents=True, exist_ok=True)
    server = start_drime_server(fake, tmp / name, cache_db=tmp / f"{name}.db")
    return server


@pytest.fixture
def servers(fake: FakeDrime, tmp_path: Path) -> Iterator[list[RunningServer]]:
    started: list[RunningServer] = []

    def start(name: str) -> RunningServer:
        server = serve(fake, tmp_path, name)
        started.append(server)
        return server

    yield start  # type: ignore[misc]
    for server in started:
        server.stop()


def assert_headers(response: dict, expected: dict = HEADERS) -> None:
    # md5chksum is added from the server's metadata cache when it knows the MD5.
    user = {k: v for k, v in response["Metadata"].items() if k != "md5chksum"}
    assert user == expected["Metadata"]
    for name in ("CacheControl", "ContentDisposition", "ContentEncoding", "ContentLanguage"):
        assert response[name] == expected[name], name
    assert response["ContentType"] == expected["ContentType"]
    assert response["ResponseMetadata"]["HTTPHeaders"]["expires"] == expected["Expires"]


def test_PutObject_metadata_on_HeadObject_GetObject_and_a_restarted_server(
    fake: FakeDrime, servers
) -> None:
    """x-amz-meta-*, Cache-Control, Content-Disposition/-Encoding/-Language, Expires and
    Content-Type come back on HEAD and GET, from this server and a new process."""
    first = servers("a")
    s3 = first.client()
    s3.put_object(Bucket="default", Key="docs/r.pdf", Body=b"%PDF-1", **HEADERS)
    assert_headers(s3.head_object(Bucket="default", Key="docs/r.pdf"))
    got = s3.get_object(Bucket="default", Key="docs/r.pdf")
    assert got["Body"].read() == b"%PDF-1"
    assert_headers(got)
    first.stop()
    second = servers("b").client()
    assert_headers(second.head_object(Bucket="default", Key="docs/r.pdf"))
    assert_headers(second.get_object(Bucket="default", Key="docs/r.pdf"))
    # It lives in the Drime file itself.
    (entry,) = files_named(fake, f"{ROOT}/docs/r.pdf")
    assert entry.description.startswith("s3meta:")
    assert json.loads(entry.description[7:])["u"]["mtime"] == "1700000000.123456789"


def test_PutObject_without_metadata_writes_no_description(fake: FakeDrime, servers) -> None:
    """A plain PUT costs no extra Drime call: the file's own MIME type says it all."""
    s3 = servers("a").client()
    s3.put_object(Bucket="default", Key="plain.txt", Body=b"x", ContentType="text/plain")
    (entry,) = files_named(fake, f"{ROOT}/plain.txt")
    assert not entry.description
    assert not [r for r in fake.requests if r.method == "PUT" and "/file-entries/" in r.path]
    head = s3.head_object(Bucket="default", Key="plain.txt")
    assert head["ContentType"] == "text/plain" and set(head["Metadata"]) <= {"md5chksum"}


def test_CopyObject_COPY_and_REPLACE_directives(fake: FakeDrime, servers) -> None:
    """COPY carries every header to the new key; REPLACE sets new ones (to another key
    and onto the object itself); a new server process sees the results."""
    s3 = servers("a").client()
    s3.put_object(Bucket="default", Key="src", Body=b"data", **HEADERS)
    s3.copy_object(Bucket="default", Key="dir/copied", CopySource="default/src")
    assert_headers(s3.head_object(Bucket="default", Key="dir/copied"))
    replaced = {
        "Metadata": {"mtime": "1800000000"},
        "CacheControl": "no-cache",
        "ContentDisposition": "inline",
        "ContentEncoding": "identity",
        "ContentLanguage": "de",
        "Expires": "Thu, 01 Jan 2037 00:00:00 GMT",
        "ContentType": "text/x-other",
    }
    s3.copy_object(
        Bucket="default",
        Key="replaced",
        CopySource="default/src",
        MetadataDirective="REPLACE",
        **replaced,
    )
    assert_headers(s3.head_object(Bucket="default", Key="replaced"), replaced)
    assert_headers(s3.head_object(Bucket="default", Key="src"))  # the source is unchanged
    etag = s3.head_object(Bucket="default", Key="src")["ETag"]
    s3.copy_object(
        Bucket="default",
        Key="src",
        CopySource="default/src",
        MetadataDirective="REPLACE",
        **replaced,
    )
    head = s3.head_object(Bucket="default", Key="src")
    assert_headers(head, replaced)
    assert head["ETag"] == etag  # a metadata update keeps the object
    assert len(files_named(fake, f"{ROOT}/src")) == 1
    other = servers("b").client()
    assert_headers(other.head_object(Bucket="default", Key="src"), replaced)
    assert_headers(other.head_object(Bucket="default", Key="dir/copied"))
    assert other.get_object(Bucket="default", Key="replaced")["Body"].read() == b"data"


def test_CompleteMultipartUpload_keeps_metadata_and_multipart_ETag(
    fake: FakeDrime, servers
) -> None:
    """The metadata of CreateMultipartUpload is on the assembled object, beside its
    multipart ETag, and survives a COPY to another key; a new process sees both."""
    s3 = servers("a").client()
    args = {k: v for k, v in HEADERS.items()}
    upload = s3.create_multipart_upload(Bucket="default", Key="mp/big", **args)
    first, last = os.urandom(5 * MiB), os.urandom(1000)
    parts = []
    for number, body in ((1, first), (2, last)):
        part = s3.upload_part(
            Bucket="default",
            Key="mp/big",
            UploadId=upload["UploadId"],
            PartNumber=number,
            Body=body,
        )
        parts.append({"PartNumber": number, "ETag": part["ETag"]})
    done = s3.complete_multipart_upload(
        Bucket="default",
        Key="mp/big",
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": parts},
    )
    assert done["ETag"].strip('"').endswith("-2")
    s3.copy_object(Bucket="default", Key="mp/copy", CopySource="default/mp/big")
    other = servers("b").client()
    for key in ("mp/big", "mp/copy"):
        head = other.head_object(Bucket="default", Key=key)
        assert head["ETag"] == done["ETag"], key
        assert_headers(head)
    assert other.get_object(Bucket="default", Key="mp/big")["Body"].read() == first + last


def test_PutObject_MetadataTooLarge_stores_nothing(fake: FakeDrime, servers) -> None:
    """Headers too large to keep with the Drime file are refused with MetadataTooLarge
    (PutObject, CopyObject REPLACE, CreateMultipartUpload), and nothing is stored."""
    s3 = servers("a").client()
    huge = {"CacheControl": "x" * 9000}
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket="default", Key="big-meta", Body=b"data", **huge)
    assert exc.value.response["Error"]["Code"] == "MetadataTooLarge"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert not files_named(fake, f"{ROOT}/big-meta")
    s3.put_object(Bucket="default", Key="small", Body=b"data")
    with pytest.raises(ClientError) as exc:
        s3.copy_object(
            Bucket="default",
            Key="small-copy",
            CopySource="default/small",
            MetadataDirective="REPLACE",
            **huge,
        )
    assert exc.value.response["Error"]["Code"] == "MetadataTooLarge"
    assert not files_named(fake, f"{ROOT}/small-copy")
    with pytest.raises(ClientError) as exc:
        s3.create_multipart_upload(Bucket="default", Key="mp-meta", **huge)
    assert exc.value.response["Error"]["Code"] == "MetadataTooLarge"


def test_HeadObject_reads_older_descriptions(fake: FakeDrime, servers) -> None:
    """Entries written before metadata was kept still read: ``s3etag:`` gives the
    multipart ETag, and a description that is not ours (a note) is ignored."""
    s3 = servers("a").client()
    s3.put_object(Bucket="default", Key="old-mp", Body=b"a")
    s3.put_object(Bucket="default", Key="noted", Body=b"b", ContentType="text/plain")
    (old,) = files_named(fake, f"{ROOT}/old-mp")
    (noted,) = files_named(fake, f"{ROOT}/noted")
    old.description = "s3etag:" + "a" * 32 + "-4"
    noted.description = "my holiday photos {not json"
    other = servers("b").client()
    head = other.head_object(Bucket="default", Key="old-mp")
    assert head["ETag"] == '"' + "a" * 32 + '-4"' and head["Metadata"] == {}
    head = other.head_object(Bucket="default", Key="noted")
    assert head["ContentType"] == "text/plain" and head["Metadata"] == {}
    other.copy_object(Bucket="default", Key="noted-copy", CopySource="default/noted")
    (copied,) = files_named(fake, f"{ROOT}/noted-copy")
    assert copied.description == noted.description  # a note not ours is left alone


_WRITES = re.compile(r"/(uploads|s3/|file-entries/(delete|duplicate|move|\d+))")


def test_rclone_sync_twice_changes_nothing_the_second_time(
    fake: FakeDrime, servers, tmp_path: Path
) -> None:
    """rclone keeps modification times in x-amz-meta-mtime: a second ``rclone sync`` of
    the same tree (through a new server process) transfers and re-stamps nothing."""
    source = tmp_path / "src"
    files = {f"docs/{i:02d}.txt": 1000 + i for i in range(12)}
    files.update({"top.bin": 200_000, "deep/er/x.dat": 12345})
    make_tree(source, files)
    for number, path in enumerate(sorted(p for p in source.rglob("*") if p.is_file())):
        stamp = 1_600_000_000 + number * 3600 + 0.5
        os.utime(path, (stamp, stamp))
    first = servers("a")
    env = rclone_env(first, tmp_path / "rclone")
    rclone(first, env, "sync", str(source), "pys3:default/tree")
    first.stop()
    second = servers("b")
    env = {**rclone_env(second, tmp_path / "rclone"), "TZ": "UTC"}
    before = len(fake.requests)
    result = rclone(second, env, "sync", "-v", "--stats-one-line", str(source), "pys3:default/tree")
    log = result.stdout + result.stderr
    writes = [
        (r.method, r.path)
        for r in fake.requests[before:]
        if r.method != "GET" and _WRITES.search(r.path)
    ]
    assert writes == [], writes
    assert "Updated modification time" not in log, log
    assert "Copied" not in log, log
    assert re.search(r"Transferred:\s+0 B / 0 B", log) or "0 B / 0 B" in log, log
    listed = rclone(second, env, "lsl", "pys3:default/tree").stdout
    assert "2020-09-13 12:26:40.500000000" in listed, listed  # the first file's mtime
