"""Drime multipart uploads kept in the metadata cache database: they survive a server
restart, complete with parts sent to different ``--workers``, and abandoned ones are
aborted at start. Real ``pys3local serve --backend drime`` processes, the fake Drime."""

from __future__ import annotations

import concurrent.futures
import os
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from conftest import RunningServer
from fake_drime import FakeDrime
from fake_drime.testing import files_named
from processes import run_command
from test_drime_e2e import ROOT, start_drime_server
from test_workers import served_by

MiB = 1024 * 1024


@pytest.fixture
def fake() -> Iterator[FakeDrime]:
    with FakeDrime() as server:
        yield server


@pytest.fixture
def servers(fake: FakeDrime, tmp_path: Path) -> Iterator[Callable[..., RunningServer]]:
    """Start servers on ``fake`` that share one metadata cache file."""
    started: list[RunningServer] = []

    def start(name: str, *extra: str) -> RunningServer:
        server = start_drime_server(
            fake, tmp_path / name, cache_db=tmp_path / "cache.db", extra=extra
        )
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def _part(s3, upload_id: str, number: int, body: bytes, key: str = "mp/big") -> dict:
    etag = s3.upload_part(
        Bucket="default", Key=key, UploadId=upload_id, PartNumber=number, Body=body
    )["ETag"]
    return {"PartNumber": number, "ETag": etag}


def test_CompleteMultipartUpload_after_a_server_restart(fake: FakeDrime, servers) -> None:
    """An upload begun on one server process, with a part, is listed, continued and
    completed on the next process; the object reads back byte for byte."""
    first = servers("a")
    s3 = first.client()
    upload_id = s3.create_multipart_upload(
        Bucket="default", Key="mp/big", Metadata={"mtime": "1234"}
    )["UploadId"]
    one, two, three = os.urandom(5 * MiB), os.urandom(5 * MiB), os.urandom(777)
    parts = [_part(s3, upload_id, 1, one)]
    first.stop()
    assert fake.drive.uploads, "stopping the server must not abort the Drime upload"

    second = servers("b")
    s3 = second.client()
    listed = s3.list_multipart_uploads(Bucket="default")["Uploads"]
    assert [(u["Key"], u["UploadId"]) for u in listed] == [("mp/big", upload_id)]
    parts += [_part(s3, upload_id, 2, two), _part(s3, upload_id, 3, three)]
    listed_parts = s3.list_parts(Bucket="default", Key="mp/big", UploadId=upload_id)["Parts"]
    assert [(p["PartNumber"], p["ETag"]) for p in listed_parts] == [
        (p["PartNumber"], p["ETag"]) for p in parts
    ]
    done = s3.complete_multipart_upload(
        Bucket="default", Key="mp/big", UploadId=upload_id, MultipartUpload={"Parts": parts}
    )
    assert done["ETag"].strip('"').endswith("-3")
    got = s3.get_object(Bucket="default", Key="mp/big")
    assert got["Body"].read() == one + two + three
    assert got["Metadata"]["mtime"] == "1234"
    assert len(files_named(fake, f"{ROOT}/mp/big")) == 1
    assert s3.list_multipart_uploads(Bucket="default").get("Uploads", []) == []
    # A retried Complete (its answer was lost) answers the same result, as S3 does.
    again = s3.complete_multipart_upload(
        Bucket="default", Key="mp/big", UploadId=upload_id, MultipartUpload={"Parts": parts}
    )
    assert again["ETag"] == done["ETag"]
    assert len(files_named(fake, f"{ROOT}/mp/big")) == 1


def test_AbortMultipartUpload_on_another_process(fake: FakeDrime, servers) -> None:
    """An upload begun before a restart is aborted after it, in Drime too."""
    first = servers("a")
    upload_id = first.client().create_multipart_upload(Bucket="default", Key="gone")["UploadId"]
    first.stop()
    s3 = servers("b").client()
    s3.abort_multipart_upload(Bucket="default", Key="gone", UploadId=upload_id)
    assert not fake.drive.uploads
    with pytest.raises(ClientError) as exc:
        _part(s3, upload_id, 1, b"x", key="gone")
    assert exc.value.response["Error"]["Code"] == "NoSuchUpload"


def test_UploadPart_on_two_workers_completes(fake: FakeDrime, servers) -> None:
    """With ``--workers 2``, parts served by both workers complete into one object."""
    server = servers("w", "--workers", "2")
    s3 = server.client()
    bodies = [bytes([n]) * (5 * MiB) for n in range(1, 7)]
    for attempt in range(5):  # the kernel picks the worker; retry until both served parts
        key = f"mp/{attempt}"
        upload_id = s3.create_multipart_upload(Bucket="default", Key=key)["UploadId"]

        def upload(number: int, upload_id: str = upload_id, key: str = key) -> dict:
            return _part(server.client(), upload_id, number, bodies[number - 1], key=key)

        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            parts = list(pool.map(upload, range(1, 7)))
        s3.complete_multipart_upload(
            Bucket="default", Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
        )
        assert s3.get_object(Bucket="default", Key=key)["Body"].read() == b"".join(bodies)
        time.sleep(0.2)  # the access log lines arrive through a pipe
        if len(served_by(server, "UploadPart")) == 2:
            break
    assert len(served_by(server, "UploadPart")) == 2


def test_UploadPart_across_workers_is_refused_without_a_cache(
    fake: FakeDrime, tmp_path: Path
) -> None:
    """``--workers 2`` on Drime with no metadata cache (it cannot be opened) is refused
    with one line: each worker would know only the upload parts it received itself."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    env = {
        **os.environ,
        "DRIME_API_KEY": fake.api_key,
        "DRIME_API_URL": fake.api_url,
        "DRIME_WORKSPACE_ID": "0",
        "TMPDIR": str(tmp_path),
    }
    args = ["serve", "--backend", "drime", "--root-folder", ROOT, "--workers", "2"]
    args += ["--listen", "127.0.0.1:0", "--cache-db", str(blocker / "cache.db")]
    result = run_command(
        [sys.executable, "-m", "pys3local", *args],
        capture_output=True,
        text=True,
        timeout=20,
        env=env,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, result.stderr
    assert "--workers 2" in errors[0] and "metadata cache" in errors[0]
    assert "Traceback" not in result.stderr
    assert "Starting S3 server" not in result.stdout


def test_abandoned_uploads_are_aborted_at_start(fake: FakeDrime, servers, tmp_path: Path) -> None:
    """``--abandoned-upload-age``: a new server aborts older uploads (in Drime too) and
    keeps younger ones, which survive the restart."""
    first = servers("a")
    s3 = first.client()
    old_id = s3.create_multipart_upload(Bucket="default", Key="old")["UploadId"]
    _part(s3, old_id, 1, b"x" * 1000, key="old")
    young_id = s3.create_multipart_upload(Bucket="default", Key="young")["UploadId"]
    first.stop()
    assert len(fake.drive.uploads) == 2
    # Age the first upload by two hours in the shared database itself.
    with sqlite3.connect(tmp_path / "cache.db") as db:
        db.execute(
            "UPDATE multipart_uploads SET initiated = initiated - ? WHERE upload_id = ?",
            (2 * 3600 * 1_000_000, old_id),
        )
    db.close()
    second = servers("b", "--abandoned-upload-age", "1")
    s3 = second.client()
    listed = s3.list_multipart_uploads(Bucket="default")["Uploads"]
    assert [u["UploadId"] for u in listed] == [young_id]
    assert len(fake.drive.uploads) == 1
    with pytest.raises(ClientError) as exc:
        _part(s3, old_id, 2, b"y", key="old")
    assert exc.value.response["Error"]["Code"] == "NoSuchUpload"
