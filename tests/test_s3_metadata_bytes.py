"""User metadata bytes come back exactly as sent, on the local and the Drime backend.

HTTP header values are bytes; the server sees them decoded as latin-1 (one character
per byte), stores that text (JSON in a sidecar or a Drime description) and sends it
back encoded as latin-1, so every byte comes back unchanged, UTF-8 or not. boto3
sends a non-ASCII ``str`` value as UTF-8 and reads response headers as latin-1, so
what it returns for ``é`` is ``Ã©``: the same two bytes, which the tests compare.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from botocore.handlers import validate_ascii_metadata
from clients import upload_in_one_part
from conftest import RunningServer
from fake_drime import FakeDrime
from test_drime_e2e import start_drime_server

VALUES = {
    "accent": "Hello World\xe9",
    "han": "中文 ünïcödé",
    "mixed": "a\u00ff\u0100b",
}


def _unicode_client(server: RunningServer) -> object:
    """A boto3 client that sends non-ASCII metadata (its ASCII check removed, as the
    conformance suites do)."""
    s3 = server.client()
    for operation in ("PutObject", "CopyObject", "CreateMultipartUpload"):
        s3.meta.events.unregister(f"before-parameter-build.s3.{operation}", validate_ascii_metadata)
    return s3


def _wire_metadata(response: dict) -> dict[str, bytes]:
    """The x-amz-meta-* header bytes of a response (botocore decodes them as latin-1)."""
    headers = response["ResponseMetadata"]["HTTPHeaders"]
    return {
        name.removeprefix("x-amz-meta-"): value.encode("latin-1")
        for name, value in headers.items()
        if name.startswith("x-amz-meta-") and name != "x-amz-meta-md5chksum"
    }


SENT = {name: value.encode("utf-8") for name, value in VALUES.items()}


def _check_round_trips(s3: object, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Metadata=VALUES)
    assert _wire_metadata(s3.head_object(Bucket=bucket, Key="k")) == SENT
    assert _wire_metadata(s3.get_object(Bucket=bucket, Key="k")) == SENT
    s3.copy_object(Bucket=bucket, Key="copied", CopySource=f"{bucket}/k")
    assert _wire_metadata(s3.head_object(Bucket=bucket, Key="copied")) == SENT
    s3.copy_object(
        Bucket=bucket,
        Key="replaced",
        CopySource=f"{bucket}/k",
        MetadataDirective="REPLACE",
        Metadata={"other": "\xe9t\xe9"},
    )
    replaced = _wire_metadata(s3.head_object(Bucket=bucket, Key="replaced"))
    assert replaced == {"other": "\xe9t\xe9".encode()}
    upload_in_one_part(s3, bucket, "mp", b"y", Metadata=VALUES)
    assert _wire_metadata(s3.head_object(Bucket=bucket, Key="mp")) == SENT


def _check_limit(s3: object, bucket: str) -> None:
    # 1 + 2000 bytes on the wire: within S3's 2 KB, though 1000 characters that each
    # re-encode to 4 bytes if the server counted its latin-1 view in UTF-8.
    fits = {"m": "é" * 1000}
    s3.put_object(Bucket=bucket, Key="big", Body=b"x", Metadata=fits)
    assert _wire_metadata(s3.head_object(Bucket=bucket, Key="big")) == {
        "m": fits["m"].encode("utf-8")
    }
    with pytest.raises(ClientError) as caught:
        s3.put_object(Bucket=bucket, Key="too-big", Body=b"x", Metadata={"m": "é" * 1100})
    assert caught.value.response["Error"]["Code"] == "MetadataTooLarge"


def test_PutObject_non_ascii_metadata_bytes_round_trip(server: RunningServer, bucket: str) -> None:
    """Non-ASCII x-amz-meta-* values come back byte for byte on HEAD, GET, CopyObject
    (COPY and REPLACE) and a completed multipart upload (local backend)."""
    _check_round_trips(_unicode_client(server), bucket)


def test_PutObject_metadata_size_limit_counts_wire_bytes(
    server: RunningServer, bucket: str
) -> None:
    """S3's 2 KB user-metadata limit counts the bytes sent: 2000 bytes of UTF-8 pass,
    2200 answer MetadataTooLarge (local backend)."""
    _check_limit(_unicode_client(server), bucket)


# --------------------------------------------------------------------------- raw bytes

RAW_VALUE = b"\xe9t\xc3\xa9 \x80\xff"


def _raw(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(request)
        data = b""
        while chunk := connection.recv(65536):
            data += chunk
    return data


def _raw_meta(port: int, path: bytes) -> bytes | None:
    answer = _raw(port, b"HEAD %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path)
    match = re.search(rb"\r\nx-amz-meta-raw: ([^\r\n]*)\r\n", answer)
    return match[1] if match else None


def _put_raw(port: int, path: bytes) -> None:
    answer = _raw(
        port,
        b"PUT %s HTTP/1.1\r\nHost: x\r\nx-amz-meta-raw: %s\r\nContent-Length: 1\r\n"
        b"Connection: close\r\n\r\nx" % (path, RAW_VALUE),
    )
    assert answer.startswith(b"HTTP/1.1 200"), answer


def test_PutObject_raw_latin1_and_utf8_bytes_round_trip(make_server) -> None:
    """A value mixing a lone 0xE9, UTF-8 and 0x80/0xFF comes back byte for byte."""
    server = make_server(auth=False)
    _put_raw(server.port, b"/default/raw")
    assert _raw_meta(server.port, b"/default/raw") == RAW_VALUE


# --------------------------------------------------------------------------- Drime


@pytest.fixture
def fake() -> Iterator[FakeDrime]:
    with FakeDrime() as server:
        yield server


@pytest.fixture
def drime_servers(fake: FakeDrime, tmp_path: Path) -> Iterator[object]:
    started: list[RunningServer] = []

    def start(name: str, *extra: str) -> RunningServer:
        (tmp_path / name).mkdir()
        server = start_drime_server(
            fake, tmp_path / name, cache_db=tmp_path / f"{name}.db", extra=extra
        )
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def test_PutObject_non_ascii_metadata_bytes_round_trip_on_drime(drime_servers) -> None:
    """On Drime the same bytes come back, from the server that stored them and from a
    new server with an empty cache (so from the Drime file's description); the size
    limit counts wire bytes there too."""
    first = drime_servers("a")
    s3 = _unicode_client(first)
    _check_round_trips(s3, "default")
    _check_limit(s3, "default")
    fresh = _unicode_client(drime_servers("b"))
    for key in ("k", "copied", "mp"):
        assert _wire_metadata(fresh.head_object(Bucket="default", Key=key)) == SENT, key


def test_PutObject_raw_bytes_round_trip_on_drime(drime_servers) -> None:
    """Raw non-UTF-8 header bytes survive a Drime description, read by a new server."""
    first = drime_servers("a", "--no-auth")
    _put_raw(first.port, b"/default/raw")
    assert _raw_meta(first.port, b"/default/raw") == RAW_VALUE
    fresh = drime_servers("b", "--no-auth")
    assert _raw_meta(fresh.port, b"/default/raw") == RAW_VALUE
