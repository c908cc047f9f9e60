"""Concurrency: racing writers, readers during overwrites, racing multipart uploads
and DeleteObjects against PUTs, through boto3 against a real server process.

Every outcome is checked against what the clients were told: the surviving body's
ETag must be the one GET, HEAD and the PUT (or Complete) that wrote it returned, and
the store on disk must be consistent (each data file with its own sidecar, no
temporary file left).
"""

from __future__ import annotations

import functools
import hashlib
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from conftest import RunningServer, start_server
from reliability import (
    KiB,
    MiB,
    check_store,
    md5_hex,
    pattern_block,
    staging_files,
)

THREADS = 12


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """This module's own server (with auth), so on-disk checks see only its data."""
    running = start_server(tmp_path_factory.mktemp("concurrency"), "--allow-bucket-creation")
    yield running
    running.stop()


@pytest.fixture
def s3(server: RunningServer) -> object:
    return server.client(max_pool_connections=64)


@pytest.fixture
def bucket(s3) -> str:
    name = f"race-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=name)
    return name


def assert_store_consistent(server: RunningServer, bucket: str, **check: object) -> None:
    report = check_store(server.data_dir, buckets=[bucket], **check)  # type: ignore[arg-type]
    assert report.problems == []
    assert report.orphan_sidecars == []
    assert staging_files(server.data_dir) == []


def test_PutObject_concurrent_writers_leave_one_body(server, s3, bucket) -> None:
    """12 simultaneous PUTs of different 2 MiB bodies to one key, three rounds: one
    body survives whole, and GET, HEAD and the PUT that wrote it agree on its ETag."""
    for round_number in range(3):
        bodies = {
            f"r{round_number}-writer-{i:02d}".encode(): pattern_block(
                f"r{round_number}-writer-{i:02d}".encode(), 2 * MiB + i * 4099
            )
            for i in range(THREADS)
        }
        barrier = threading.Barrier(THREADS)

        def write(label: bytes, body: bytes, barrier: threading.Barrier) -> tuple[bytes, str]:
            barrier.wait(10)
            response = s3.put_object(Bucket=bucket, Key="race", Body=body)
            return label, response["ETag"].strip('"')

        with ThreadPoolExecutor(THREADS) as pool:
            returned = dict(pool.map(write, bodies, bodies.values(), [barrier] * THREADS))
        assert all(returned[label] == md5_hex(body) for label, body in bodies.items())

        got = s3.get_object(Bucket=bucket, Key="race")
        body = got["Body"].read()
        label = body[: len(next(iter(bodies)))]
        assert label in bodies, "the surviving body belongs to no writer"
        assert body == bodies[label], "the surviving body is a mix of several writers"
        etag = got["ETag"].strip('"')
        assert etag == md5_hex(body) == returned[label]
        assert s3.head_object(Bucket=bucket, Key="race")["ETag"].strip('"') == etag
        listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
        assert [(o["Key"], o["ETag"].strip('"'), o["Size"]) for o in listed] == [
            ("race", etag, len(body))
        ]
        assert_store_consistent(server, bucket)


def test_GetObject_during_overwrites_gets_whole_versions(server, s3, bucket) -> None:
    """Readers of an 8 MiB object that is overwritten again and again always get
    one complete version, with that version's ETag and length (full and ranged)."""
    size = 8 * MiB
    versions: dict[str, bytes] = {}  # etag -> label

    @functools.lru_cache(maxsize=8)
    def body_of(label: bytes) -> bytes:
        return pattern_block(label, size + len(label))

    first = b"overwrite-000"
    s3.put_object(Bucket=bucket, Key="hot", Body=body_of(first))
    versions[md5_hex(body_of(first))] = first
    stop = threading.Event()
    checked = {"full": 0, "ranged": 0, "head": 0}
    errors: list[str] = []

    def writer() -> None:
        try:
            for n in range(1, 16):
                label = f"overwrite-{n:03d}".encode()
                data = body_of(label)
                versions[md5_hex(data)] = label  # before the PUT: readers may see it
                etag = s3.put_object(Bucket=bucket, Key="hot", Body=data)["ETag"].strip('"')
                if etag != md5_hex(data):
                    errors.append(f"PUT {label!r} returned {etag}")
        finally:
            stop.set()

    def reader(ranged: bool) -> None:
        rng = random.Random(ranged)
        while not stop.is_set():
            start = rng.randrange(0, size) if ranged else 0
            extra = {"Range": f"bytes={start}-"} if ranged else {}
            got = s3.get_object(Bucket=bucket, Key="hot", **extra)
            data = got["Body"].read()
            etag = got["ETag"].strip('"')
            label = versions.get(etag)
            if label is None:
                errors.append(f"GET returned unknown ETag {etag}")
                continue
            if len(data) != got["ContentLength"]:
                errors.append(f"GET length {len(data)} != Content-Length {got['ContentLength']}")
            if ranged:
                if data != body_of(label)[start:]:
                    errors.append(f"ranged GET bytes={start}- is not from version {label!r}")
                checked["ranged"] += 1
            else:
                if md5_hex(data) != etag:
                    errors.append(f"GET body of {len(data)} bytes does not match ETag {etag}")
                checked["full"] += 1

    def header_reader() -> None:
        # Every version has the same size, so only the ETag tells them apart: a HEAD
        # pairing one version's metadata with another's data would go unnoticed by size.
        while not stop.is_set():
            head = s3.head_object(Bucket=bucket, Key="hot")
            etag = head["ETag"].strip('"')
            if etag not in versions or head["ContentLength"] != size + len(first):
                errors.append(f"HEAD gave ETag {etag}, length {head['ContentLength']}")
            checked["head"] += 1

    threads = [threading.Thread(target=writer), threading.Thread(target=header_reader)]
    threads += [threading.Thread(target=reader, args=(i % 2 == 1,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    assert checked["full"] >= 5 and checked["ranged"] >= 5 and checked["head"] >= 5, checked
    assert_store_consistent(server, bucket)


def test_CompleteMultipartUpload_concurrent_uploads_to_one_key(server, s3, bucket) -> None:
    """Eight multipart uploads to one key, completed at the same moment: the key is
    exactly one of them, with the ETag its Complete returned; no upload is left."""
    count = 8

    def upload(index: int) -> tuple[str, str, bytes]:
        label = f"multipart-{index}".encode()
        first = pattern_block(label, 5 * MiB)
        second = pattern_block(label + b"-tail", 300 * KiB + index)
        created = s3.create_multipart_upload(Bucket=bucket, Key="mp")
        upload_id = created["UploadId"]
        parts = []
        for number, data in ((1, first), (2, second)):
            etag = s3.upload_part(
                Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=number, Body=data
            )["ETag"]
            parts.append({"PartNumber": number, "ETag": etag})
        barrier.wait(30)
        done = s3.complete_multipart_upload(
            Bucket=bucket, Key="mp", UploadId=upload_id, MultipartUpload={"Parts": parts}
        )
        return label, done["ETag"].strip('"'), hashlib.sha256(first + second).digest()

    barrier = threading.Barrier(count)
    with ThreadPoolExecutor(count) as pool:
        results = list(pool.map(upload, range(count)))
    by_etag = {etag: digest for _label, etag, digest in results}
    assert len(by_etag) == count
    got = s3.get_object(Bucket=bucket, Key="mp")
    etag = got["ETag"].strip('"')
    assert etag in by_etag, "the object's ETag is not what any Complete returned"
    assert hashlib.sha256(got["Body"].read()).digest() == by_etag[etag]
    assert s3.head_object(Bucket=bucket, Key="mp")["ETag"].strip('"') == etag
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert_store_consistent(server, bucket, part_sizes={"mp": 5 * MiB})


def test_DeleteObjects_racing_PutObject(server, s3, bucket) -> None:
    """DeleteObjects of 40 keys in a loop while 4 threads keep overwriting them: no
    error anywhere, and every surviving key is a whole version some PUT returned."""
    keys = [f"dir{i % 5}/sub/key-{i:02d}" for i in range(40)]
    written: dict[str, set[str]] = {key: set() for key in keys}
    errors: list[str] = []
    lock = threading.Lock()
    deadline = time.monotonic() + 4

    def writer(seed: int) -> None:
        rng = random.Random(seed)
        n = 0
        while time.monotonic() < deadline:
            key = rng.choice(keys)
            data = pattern_block(f"{key}-{seed}-{n}".encode(), rng.randrange(1, 64 * KiB))
            n += 1
            try:
                etag = s3.put_object(Bucket=bucket, Key=key, Body=data)["ETag"].strip('"')
            except Exception as exc:
                errors.append(f"PUT {key}: {exc!r}")
                continue
            with lock:
                written[key].add(etag)
            if etag != md5_hex(data):
                errors.append(f"PUT {key} returned {etag}")

    def deleter() -> None:
        while time.monotonic() < deadline:
            try:
                result = s3.delete_objects(
                    Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys]}
                )
            except Exception as exc:
                errors.append(f"DeleteObjects: {exc!r}")
                continue
            if result.get("Errors"):
                errors.append(f"DeleteObjects errors: {result['Errors'][:3]}")

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    threads += [threading.Thread(target=deleter) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    listed = {
        o["Key"]: (o["ETag"].strip('"'), o["Size"])
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for o in page.get("Contents", [])
    }
    for key in keys:
        try:
            got = s3.get_object(Bucket=bucket, Key=key)
        except s3.exceptions.NoSuchKey:
            if key in listed:
                errors.append(f"{key} is listed but GET says NoSuchKey")
            continue
        data = got["Body"].read()
        etag = got["ETag"].strip('"')
        if etag != md5_hex(data):
            errors.append(f"{key}: GET ETag {etag} is not the MD5 of its body")
        if etag not in written[key]:
            errors.append(f"{key} holds a version no PUT returned (ETag {etag})")
        if listed.get(key) != (etag, len(data)):
            errors.append(f"{key}: listed as {listed.get(key)}, GET gives {etag}")
    report = check_store(server.data_dir, buckets=[bucket])
    errors += report.problems
    errors += [f"orphan sidecar {p}" for p in report.orphan_sidecars]
    errors += [f"temporary file left: {p}" for p in staging_files(server.data_dir)]
    assert errors == []
    assert set(listed) <= set(keys)
    # The race left the bucket usable: a fresh write and delete of every key work.
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"after")
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys]})
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    assert_store_consistent(server, bucket)


def test_GET_stops_reading_the_object_when_the_client_goes_away(make_server) -> None:
    """A client that reads 1 MiB of a 96 MiB object and hangs up: the server stops
    reading the file instead of streaming the rest to nobody."""
    server = make_server("--allow-bucket-creation", auth=False)
    httpx.put(f"{server.endpoint}/drop", timeout=30)
    size = 96 * 1024 * 1024
    body = os.urandom(1024 * 1024) * 96
    assert httpx.put(f"{server.endpoint}/drop/big", content=body, timeout=120).status_code == 200

    def read_bytes() -> int:
        with open(f"/proc/{server.process.pid}/io") as file:
            fields = dict(line.split(": ") for line in file.read().splitlines())
        return int(fields["rchar"])

    before = read_bytes()
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(b"GET /drop/big HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        received = 0
        while received < 1024 * 1024:
            received += len(sock.recv(65536))
    time.sleep(2)
    assert read_bytes() - before < size // 2, "the server read on after the client left"
    # It still serves the whole object to a client that stays.
    assert httpx.get(f"{server.endpoint}/drop/big", timeout=120).content == body
