"""Durability across restarts and graceful shutdown.

500 objects with awkward keys, content types and user metadata survive SIGTERM and a
restart unchanged. On SIGTERM or SIGINT an upload in flight may finish (the
graceful period); one that never finishes is cut off after the bounded period (30 s)
and leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import random
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest
from reliability import (
    HTTP,
    KiB,
    MiB,
    check_store,
    connect,
    md5_hex,
    pattern_block,
    read_response,
    request_head,
    staging_files,
    staging_writers,
    wait_for,
)

BUCKET = "durable"

NAME_PARTS = [
    "plain",
    "with space",
    "trailing space ",
    " leading",
    "caf\u00e9",
    "\u65e5\u672c\u8a9e",
    "\U0001f600emoji",
    "plus+sign",
    "amp&er=sand",
    "percent%41",
    "hash#tag",
    "question?",
    "tilde~",
    "semi;colon",
    "comma,",
    "quote'\"",
    "star*",
    "paren(s)",
    "brackets[]",
    "dot.",
    "..",
    ".",
    "x.json",
    "UPPER",
    "\u00fcml\u00e4ut",
    "tab\tchar",
    "\u200bzero-width",
    "\u00a0nbsp",
    "back\\slash",
    "<angle>",
    "dollar$",
    "at@",
    "colon:",
]
CONTENT_TYPES = [
    "application/octet-stream",
    "text/plain; charset=utf-8",
    "image/jpeg",
    "application/json",
    "application/x-custom+type; a=b",
    "text/html",
]


@dataclass
class Expected:
    key: str
    body_md5: str
    size: int
    etag: str
    content_type: str
    metadata: dict[str, str] = field(default_factory=dict)


def make_key(rng: random.Random, index: int) -> str:
    depth = rng.randrange(0, 4)
    parts = [rng.choice(NAME_PARTS) for _ in range(depth)]
    key = "/".join([*parts, f"{rng.choice(NAME_PARTS)}-{index:03d}"])
    if index % 50 == 7:
        key = "/" + key  # a leading slash
    if index % 50 == 9:
        key += "/"  # a folder marker
    return key


def test_500_objects_survive_SIGTERM_and_restart(make_server) -> None:
    """500 objects (spaces, non-ASCII, punctuation, folder markers, multipart ETags)
    with content types and user metadata: after SIGTERM and a restart each one is
    listed and served with the same content, ETag, Content-Type and metadata."""
    server = make_server("--allow-bucket-creation")
    s3 = server.client(max_pool_connections=16)
    s3.create_bucket(Bucket=BUCKET)
    rng = random.Random(2024)
    plans = []
    for index in range(500):
        size = rng.choice([0, 1, 100, 4 * KiB, 33 * KiB, rng.randrange(1, 64 * KiB)])
        metadata = {
            "index": str(index),
            "note": rng.choice(["a b c", "x=y;z", "", "with-dash", "UPPER lower"]),
        }
        if index % 3 == 0:
            metadata["mtime"] = f"{1700000000 + index}.123456789"
        plans.append((make_key(rng, index), size, rng.choice(CONTENT_TYPES), metadata))
    assert len({p[0] for p in plans}) == 500

    def put(plan: tuple[str, int, str, dict[str, str]]) -> Expected:
        key, size, content_type, metadata = plan
        body = pattern_block(key.encode(), size)
        if plans.index(plan) % 167 == 5:  # three multipart objects
            body = pattern_block(key.encode(), 5 * MiB + 1000)
            upload = s3.create_multipart_upload(
                Bucket=BUCKET, Key=key, ContentType=content_type, Metadata=metadata
            )
            parts = []
            for number, piece in enumerate((body[: 5 * MiB], body[5 * MiB :]), start=1):
                etag = s3.upload_part(
                    Bucket=BUCKET,
                    Key=key,
                    UploadId=upload["UploadId"],
                    PartNumber=number,
                    Body=piece,
                )["ETag"]
                parts.append({"PartNumber": number, "ETag": etag})
            etag = s3.complete_multipart_upload(
                Bucket=BUCKET,
                Key=key,
                UploadId=upload["UploadId"],
                MultipartUpload={"Parts": parts},
            )["ETag"]
        else:
            etag = s3.put_object(
                Bucket=BUCKET, Key=key, Body=body, ContentType=content_type, Metadata=metadata
            )["ETag"]
        return Expected(key, md5_hex(body), len(body), etag.strip('"'), content_type, metadata)

    with ThreadPoolExecutor(8) as pool:
        expected = {e.key: e for e in pool.map(put, plans)}

    started = time.monotonic()
    # uvicorn re-raises the signal after its graceful shutdown (exit by SIGTERM).
    assert server.stop(signal.SIGTERM) in (0, -signal.SIGTERM)
    assert time.monotonic() - started < 10
    assert staging_writers(server.data_dir) == [], "the provider was not closed"
    server = make_server("--allow-bucket-creation", data_dir=server.data_dir)
    s3 = server.client(max_pool_connections=16)

    listed = {
        o["Key"]: (o["ETag"].strip('"'), o["Size"])
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
        for o in page.get("Contents", [])
    }
    assert listed == {k: (e.etag, e.size) for k, e in expected.items()}
    listed_v1 = [
        o["Key"]
        for page in s3.get_paginator("list_objects").paginate(Bucket=BUCKET, MaxKeys=77)
        for o in page.get("Contents", [])
    ]
    assert sorted(listed_v1) == sorted(expected)

    def verify(item: Expected) -> None:
        got = s3.get_object(Bucket=BUCKET, Key=item.key)
        assert md5_hex(got["Body"].read()) == item.body_md5, item.key
        assert got["ETag"].strip('"') == item.etag, item.key
        assert got["ContentType"] == item.content_type, item.key
        assert got["Metadata"] == item.metadata, item.key
        head = s3.head_object(Bucket=BUCKET, Key=item.key)
        assert (head["ETag"].strip('"'), head["ContentLength"]) == (item.etag, item.size)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(verify, expected.values()))
    report = check_store(server.data_dir)
    assert report.problems == [] and report.orphan_sidecars == []
    assert staging_files(server.data_dir) == []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_in_flight_upload_finishes_during_graceful_shutdown(make_server, sig: int) -> None:
    """A PUT half sent when the shutdown signal arrives may finish: it is answered
    200, the server then exits, and the object is there after a restart."""
    server = make_server("--allow-bucket-creation", auth=False)
    HTTP.put(f"{server.endpoint}/{BUCKET}")
    body = pattern_block(b"in-flight", 8 * MiB)
    sock = connect(server.port, timeout=30)
    sock.sendall(
        request_head("PUT", f"/{BUCKET}/in-flight", port=server.port, content_length=len(body))
        + body[: 4 * MiB]
    )
    time.sleep(0.3)
    server.process.send_signal(sig)
    time.sleep(0.5)
    assert server.process.poll() is None, "the server did not wait for the upload"
    sock.sendall(body[4 * MiB :])
    response = read_response(sock, "PUT")
    sock.close()
    assert response.status == 200
    assert response.headers["etag"] == f'"{md5_hex(body)}"'
    # Exit by the signal (SIGTERM) or click's "Aborted!" status (SIGINT), after a
    # complete graceful shutdown.
    assert server.process.wait(15) in (0, 1, 130, -sig)
    assert staging_writers(server.data_dir) == [], "the provider was not closed"
    server = make_server("--allow-bucket-creation", data_dir=server.data_dir, auth=False)
    got = HTTP.get(f"{server.endpoint}/{BUCKET}/in-flight")
    assert got.status_code == 200 and hashlib.md5(got.content).hexdigest() == md5_hex(body)


@pytest.mark.slow
def test_graceful_shutdown_is_bounded_and_leaves_nothing(make_server) -> None:
    """An upload that trickles on forever (never stalling long enough for the read
    timeout) cannot hold the shutdown beyond the 30 s graceful period; it is cut
    off, nothing of it is stored, and no temporary file is left."""
    server = make_server("--allow-bucket-creation", auth=False)
    HTTP.put(f"{server.endpoint}/{BUCKET}")
    HTTP.put(f"{server.endpoint}/{BUCKET}/trickle", content=b"old version")
    sock = connect(server.port, timeout=60)
    sock.sendall(
        request_head("PUT", f"/{BUCKET}/trickle", port=server.port, content_length=10 * MiB)
        + b"t" * (3 * MiB)
    )
    stop = threading.Event()

    def trickle() -> None:
        while not stop.wait(0.5):
            try:
                sock.sendall(b"t")
            except OSError:
                return

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    assert wait_for(lambda: staging_files(server.data_dir), 5), "the upload has not started"
    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    try:
        server.process.wait(45)
    finally:
        stop.set()
        thread.join(5)
        sock.close()
    elapsed = time.monotonic() - started
    assert 25 < elapsed < 40, f"shutdown took {elapsed:.1f} s"
    assert staging_files(server.data_dir) == []
    server = make_server("--allow-bucket-creation", data_dir=server.data_dir, auth=False)
    assert HTTP.get(f"{server.endpoint}/{BUCKET}/trickle").content == b"old version"
    assert staging_files(server.data_dir) == []
