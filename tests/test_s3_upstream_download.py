"""The ``s3`` backend's object downloads (providers/s3/download.py) against a real
loopback HTTP/1.1 upstream that misbehaves on purpose: connections kept alive and
reused, a kept-alive connection the upstream dropped, a body broken off or stalled
mid-way, and a client reading slower than the upstream sends."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from pys3local.providers.s3 import BucketMap, Connection, S3UpstreamProvider

MiB = 1024 * 1024
Handler = Callable[[socket.socket, int], None]


class FakeUpstream:
    """A loopback server; each accepted connection runs ``handler(sock, index)`` in a
    thread of its own. Counts connections and the body bytes it managed to send."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.sent = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def _accept(self) -> None:
        self._listener.settimeout(0.1)
        while not self._stop.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            index = self.connections
            threading.Thread(target=self._serve, args=(sock, index), daemon=True).start()

    def _serve(self, sock: socket.socket, index: int) -> None:
        with sock, contextlib.suppress(OSError):  # the client went away
            self.handler(sock, index)

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        self._thread.join()


@pytest.fixture
def fake_upstream() -> Iterator[Callable[[Handler], FakeUpstream]]:
    started: list[FakeUpstream] = []

    def start(handler: Handler) -> FakeUpstream:
        started.append(FakeUpstream(handler))
        return started[-1]

    yield start
    for upstream in started:
        upstream.close()


def read_request(sock: socket.socket) -> bytes:
    """One request head (GETs have no body); b"" when the client closed."""
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(65536)
        if not piece:
            return b""
        data += piece
    return data


def head(length: int, *extra: str) -> bytes:
    lines = [
        "HTTP/1.1 200 OK",
        f"Content-Length: {length}",
        'ETag: "e"',
        "Last-Modified: Mon, 01 Jan 2024 00:00:00 GMT",
        *extra,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def provider(endpoint: str, **options: object) -> S3UpstreamProvider:
    options = {"attempts": 2, "backoff": 0.01, **options}
    link = Connection(endpoint, "us-east-1", "k", "s", **options)  # type: ignore[arg-type]
    return S3UpstreamProvider(link, BucketMap("prefix", bucket="up"))


async def read_all(reader: object) -> bytes:
    try:
        return b"".join([chunk async for chunk in reader])  # type: ignore[attr-defined]
    finally:
        await reader.aclose()  # type: ignore[attr-defined]


async def test_GetObject_keeps_upstream_connection_alive(fake_upstream) -> None:
    """Five GETs in a row travel over one kept-alive upstream connection, each body whole."""

    def handler(sock: socket.socket, index: int) -> None:
        while read_request(sock):
            sock.sendall(head(5) + b"hello")

    upstream = fake_upstream(handler)
    gateway = provider(upstream.endpoint)
    for _ in range(5):
        assert await read_all(await gateway.get_object("b", "k")) == b"hello"
    assert upstream.connections == 1
    await gateway.close()


async def test_GetObject_after_upstream_dropped_idle_connection(fake_upstream) -> None:
    """A kept-alive connection the upstream closes on the next request (its idle
    timeout racing the request) is replaced by a new one at once, not counted as a
    failed attempt: the GET succeeds even with retries turned off."""

    def handler(sock: socket.socket, index: int) -> None:
        read_request(sock)
        sock.sendall(head(5) + b"first")
        if index == 1:
            read_request(sock)  # the second request arrives: closed without an answer
            return
        while read_request(sock):
            sock.sendall(head(5) + b"again")

    upstream = fake_upstream(handler)
    gateway = provider(upstream.endpoint, attempts=1)
    assert await read_all(await gateway.get_object("b", "k")) == b"first"
    assert await read_all(await gateway.get_object("b", "k")) == b"first"
    assert upstream.connections == 2
    await gateway.close()


async def test_GetObject_body_broken_off_is_an_error(fake_upstream) -> None:
    """An upstream that closes after part of the declared body makes the read fail;
    the short body is never handed out as the whole object."""

    def handler(sock: socket.socket, index: int) -> None:
        read_request(sock)
        sock.sendall(head(MiB) + b"x" * 100_000)

    upstream = fake_upstream(handler)
    gateway = provider(upstream.endpoint)
    reader = await gateway.get_object("b", "k")
    assert reader.info.size == MiB
    received = 0
    with pytest.raises(httpx.TransportError):
        async for chunk in reader:
            received += len(chunk)
    assert received == 100_000
    await reader.aclose()
    await gateway.close()


async def test_GetObject_stalled_body_times_out(fake_upstream) -> None:
    """An upstream that stops sending mid-body fails the read after ``io_timeout``
    instead of holding the client forever."""
    release = threading.Event()

    def handler(sock: socket.socket, index: int) -> None:
        read_request(sock)
        sock.sendall(head(MiB) + b"x" * 1000)
        release.wait(10)

    upstream = fake_upstream(handler)
    gateway = provider(upstream.endpoint, io_timeout=0.5)
    reader = await gateway.get_object("b", "k")
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        async for _ in reader:
            pass
    assert time.monotonic() - started < 5
    release.set()
    await reader.aclose()
    await gateway.close()


async def test_GetObject_slow_reader_bounds_buffering(fake_upstream) -> None:
    """While the client does not read, the gateway stops reading the upstream: of a
    64 MiB body the upstream gets only the socket buffers' and one bounded queue's
    worth out, so memory does not grow with the object."""
    size = 64 * MiB
    upstream: FakeUpstream

    def handler(sock: socket.socket, index: int) -> None:
        read_request(sock)
        sock.sendall(head(size))
        block = b"y" * (256 * 1024)
        for _ in range(size // len(block)):
            sock.sendall(block)
            upstream.sent += len(block)

    upstream = fake_upstream(handler)
    gateway = provider(upstream.endpoint)
    reader = await gateway.get_object("b", "k")
    iterator = reader.__aiter__()
    received = len(await iterator.__anext__())
    await asyncio.sleep(1.5)  # the event loop runs on; the reader takes nothing
    stalled_at = upstream.sent
    assert stalled_at < 32 * MiB, f"the upstream sent {stalled_at} bytes to a stalled reader"
    async for chunk in iterator:
        received += len(chunk)
    assert received == size
    await reader.aclose()
    await gateway.close()


async def test_HeadObject_then_GetObject_on_one_connection(fake_upstream) -> None:
    """A HEAD's answer announces a Content-Length but carries no body: the HEAD ends
    with its headers and the GET that follows on the same kept-alive connection reads
    its own answer whole."""
    methods: list[bytes] = []

    def handler(sock: socket.socket, index: int) -> None:
        while request := read_request(sock):
            methods.append(request.split(b" ", 1)[0])
            if request.startswith(b"HEAD "):
                sock.sendall(head(11))
            else:
                sock.sendall(head(11) + b"hello world")

    upstream = fake_upstream(handler)
    gateway = provider(upstream.endpoint)
    info = await gateway.head_object("b", "k")
    assert info.size == 11
    assert await read_all(await gateway.get_object("b", "k")) == b"hello world"
    assert (await gateway.head_object("b", "k")).size == 11
    assert methods == [b"HEAD", b"GET", b"HEAD"]
    assert upstream.connections == 1
    await gateway.close()


async def test_HeadObject_without_Last_Modified(fake_upstream) -> None:
    """An upstream answer without Last-Modified is no failure: the object's date is
    the answer's Date (or now without one), size and ETag as sent."""

    def handler(sock: socket.socket, index: int) -> None:
        answers = [
            b'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nETag: "e"\r\n'
            b"Date: Tue, 02 Jan 2024 03:04:05 GMT\r\n\r\n",
            b'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nETag: "e"\r\n\r\nabc',
        ]
        for answer in answers:
            if not read_request(sock):
                return
            sock.sendall(answer)

    upstream = fake_upstream(handler)
    gateway = provider(upstream.endpoint)
    info = await gateway.head_object("b", "k")
    assert (info.size, info.etag) == (3, "e")
    assert info.last_modified.isoformat() == "2024-01-02T03:04:05+00:00"
    before = time.time()
    reader = await gateway.get_object("b", "k")
    assert reader.info.last_modified.timestamp() >= before - 1
    assert await read_all(reader) == b"abc"
    await gateway.close()
