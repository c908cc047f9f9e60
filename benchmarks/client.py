"""A small, fast S3 client for the benchmark: raw HTTP/1.1 with keep-alive and its own
SigV4 signer.

Why not boto3: on a 2-core machine the client shares the CPU with the server, so
every microsecond it spends per request is taken from the server being measured.
This client signs each request with one SHA-256 and one HMAC (the signing key is
derived once per day), sends bodies with ``sendfile`` (bulk) or one ``write``
(small objects), and discards downloaded bytes without copying them.

A PUT carries either a real ``x-amz-content-sha256`` digest (as boto3 does over plain
HTTP) and a ``Content-MD5``, both computed before the timed section and verified by
the servers, or (:meth:`Payload.unsigned`) ``UNSIGNED-PAYLOAD`` and no Content-MD5,
as boto3 over HTTPS, the Go and JS SDKs and many tools send it.

Two connection types:

* :class:`AsyncConnection` -- asyncio streams, for many small requests over several
  connections in one event loop (uvloop when installed).
* :class:`BlockingConnection` -- a plain socket, for bulk transfers in threads:
  ``socket.sendfile`` uploads straight from the page cache and ``recv_into`` a
  reused buffer downloads without allocating.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import os
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import quote

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
_RECV_SIZE = 1024 * 1024


# --------------------------------------------------------------------------- signing


def encode_query(params: Iterable[tuple[str, str]] | dict[str, str] | None) -> str:
    """The query string in SigV4 canonical form (sorted, AWS-URI-encoded).

    The request sends exactly this string, so the raw and canonical query agree.
    """
    if not params:
        return ""
    items = params.items() if isinstance(params, dict) else params
    encoded = sorted((quote(k, safe="-_.~"), quote(v, safe="-_.~")) for k, v in items)
    return "&".join(f"{k}={v}" for k, v in encoded)


@dataclass(frozen=True, slots=True)
class Payload:
    """What a PUT declares about its body (digests computed ahead of time)."""

    length: int
    sha256_hex: str
    md5_b64: str | None = None

    @classmethod
    def of(cls, data: bytes, *, md5: bool = True) -> Payload:
        md5_b64 = base64.b64encode(hashlib.md5(data).digest()).decode() if md5 else None
        return cls(len(data), hashlib.sha256(data).hexdigest(), md5_b64)

    @classmethod
    def unsigned(cls, data: bytes) -> Payload:
        """``x-amz-content-sha256: UNSIGNED-PAYLOAD`` and no Content-MD5."""
        return cls(len(data), UNSIGNED_PAYLOAD)

    @classmethod
    def of_file(cls, path: str, offset: int = 0, length: int | None = None) -> Payload:
        """Digests of a file slice, read in 8 MiB pieces (never all in memory)."""
        size = os.path.getsize(path) if length is None else length
        sha, md5 = hashlib.sha256(), hashlib.md5()
        with open(path, "rb") as f:
            f.seek(offset)
            left = size
            while left:
                data = f.read(min(8 << 20, left))
                if not data:
                    raise ValueError(f"{path} is shorter than {offset + size} bytes")
                sha.update(data)
                md5.update(data)
                left -= len(data)
        return cls(size, sha.hexdigest(), base64.b64encode(md5.digest()).decode())


class SigV4Signer:
    """AWS Signature Version 4, header flavour, for one credential pair."""

    def __init__(self, access_key: str, secret_key: str, region: str = "us-east-1") -> None:
        self.access_key = access_key
        self._secret = secret_key
        self.region = region
        self._key_date = ""
        self._key = b""
        self._clock_second = -1
        self._amz_date = ""

    def _signing_key(self, date: str) -> bytes:
        if date != self._key_date:
            key = ("AWS4" + self._secret).encode()
            for part in (date, self.region, "s3", "aws4_request"):
                key = hmac.new(key, part.encode(), hashlib.sha256).digest()
            self._key_date, self._key = date, key
        return self._key

    def _now(self) -> str:
        second = int(time.time())
        if second != self._clock_second:
            self._clock_second = second
            self._amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(second))
        return self._amz_date

    def sign(
        self,
        method: str,
        host: str,
        path: str,
        query: str,
        headers: dict[str, str],
        payload_sha256: str,
    ) -> dict[str, str]:
        """Add ``x-amz-date``, ``x-amz-content-sha256`` and ``authorization`` to
        ``headers`` (lower-case names) and return it.

        ``path`` must already be URI-encoded and ``query`` in :func:`encode_query` form.
        Every header given is signed, except ``content-length``.
        """
        amz_date = self._now()
        date = amz_date[:8]
        headers["host"] = host
        headers["x-amz-date"] = amz_date
        headers["x-amz-content-sha256"] = payload_sha256
        names = sorted(n for n in headers if n != "content-length")
        signed = ";".join(names)
        canonical_headers = "".join(f"{n}:{headers[n].strip()}\n" for n in names)
        canonical = f"{method}\n{path}\n{query}\n{canonical_headers}\n{signed}\n{payload_sha256}"
        scope = f"{date}/{self.region}/s3/aws4_request"
        to_sign = (
            f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n"
            + hashlib.sha256(canonical.encode()).hexdigest()
        )
        signature = hmac.new(self._signing_key(date), to_sign.encode(), hashlib.sha256).hexdigest()
        headers["authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={self.access_key}/{scope}, "
            f"SignedHeaders={signed}, Signature={signature}"
        )
        return headers


def _request_head(method: str, path: str, query: str, headers: dict[str, str]) -> bytes:
    target = f"{path}?{query}" if query else path
    lines = [f"{method} {target} HTTP/1.1"]
    lines.extend(f"{name}: {value}" for name, value in headers.items())
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return status, headers


def _no_body(method: str, status: int) -> bool:
    return method == "HEAD" or status in (204, 304) or 100 <= status < 200


@dataclass(slots=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes = b""
    #: Bytes of body received when it was discarded rather than kept.
    received: int = 0


class HTTPError(Exception):
    def __init__(self, response: Response, what: str) -> None:
        snippet = response.body[:300].decode("utf-8", "replace")
        super().__init__(f"{what}: HTTP {response.status} {snippet}")
        self.response = response


def checked(response: Response, what: str, *expected: int) -> Response:
    """``response`` if its status is one of ``expected`` (default 200), else HTTPError."""
    if response.status not in (expected or (200,)):
        raise HTTPError(response, what)
    return response


# --------------------------------------------------------------------------- asyncio


class AsyncConnection:
    """One keep-alive HTTP/1.1 connection driven by asyncio streams."""

    def __init__(self, host: str, port: int, signer: SigV4Signer) -> None:
        self.host, self.port = host, port
        self.host_header = f"{host}:{port}"
        self.signer = signer
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _connect(self) -> None:
        self._reader, self._writer = await asyncio.open_connection(
            self.host, self.port, limit=1 << 20
        )
        sock = self._writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await self._writer.wait_closed()
            self._writer = self._reader = None

    async def request(
        self,
        method: str,
        path: str,
        query: str = "",
        *,
        body: bytes = b"",
        payload: Payload | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        if self._writer is None:
            await self._connect()
        assert self._reader is not None and self._writer is not None
        hdrs = dict(headers) if headers else {}
        if payload is not None and payload.md5_b64:
            hdrs["content-md5"] = payload.md5_b64
        sha = payload.sha256_hex if payload is not None else hashlib.sha256(body).hexdigest()
        self.signer.sign(method, self.host_header, path, query, hdrs, sha)
        if body or method in ("PUT", "POST"):
            hdrs["content-length"] = str(len(body))
        self._writer.write(_request_head(method, path, query, hdrs) + body)
        reader = self._reader
        head = await reader.readuntil(b"\r\n\r\n")
        status, rheaders = _parse_head(head)
        data = b""
        if not _no_body(method, status):
            length = rheaders.get("content-length")
            if length is not None:
                data = await reader.readexactly(int(length))
            elif "chunked" in rheaders.get("transfer-encoding", ""):
                data = await self._read_chunked()
            else:
                data = await reader.read()
                rheaders["connection"] = "close"
        if rheaders.get("connection", "").lower() == "close":
            await self.close()
        return Response(status, rheaders, data, len(data))

    async def _read_chunked(self) -> bytes:
        assert self._reader is not None
        parts = []
        while True:
            line = await self._reader.readuntil(b"\r\n")
            size = int(line.split(b";", 1)[0], 16)
            if size == 0:
                while await self._reader.readuntil(b"\r\n") != b"\r\n":
                    pass
                return b"".join(parts)
            parts.append(await self._reader.readexactly(size))
            await self._reader.readexactly(2)


# --------------------------------------------------------------------------- blocking


@dataclass(frozen=True, slots=True)
class FileSlice:
    """A request body sent with ``sendfile`` from an open file."""

    file: object  # a binary file object
    offset: int
    length: int


class BlockingConnection:
    """One keep-alive HTTP/1.1 connection on a blocking socket (use one per thread)."""

    def __init__(self, host: str, port: int, signer: SigV4Signer, timeout: float = 300) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.host_header = f"{host}:{port}"
        self.signer = signer
        self._sock: socket.socket | None = None
        self._buf = bytearray(_RECV_SIZE)
        self._view = memoryview(self._buf)
        self._start = 0  # unread bytes are self._buf[_start:_end]
        self._end = 0

    def _connect(self) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock, self._start, self._end = sock, 0, 0
        return sock

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def request(
        self,
        method: str,
        path: str,
        query: str = "",
        *,
        body: bytes | FileSlice = b"",
        payload: Payload | None = None,
        headers: dict[str, str] | None = None,
        sink: Callable[[memoryview, int], None] | None = None,
    ) -> Response:
        """Send one request and read its answer.

        With ``sink``, the body is not kept: ``sink(view, offset)`` sees each piece
        (a view into a reused buffer, valid only during the call) and the response
        records how many bytes came.
        """
        sock = self._sock or self._connect()
        hdrs = dict(headers) if headers else {}
        if payload is not None and payload.md5_b64:
            hdrs["content-md5"] = payload.md5_b64
        if payload is not None:
            sha = payload.sha256_hex
        else:
            assert isinstance(body, bytes)
            sha = hashlib.sha256(body).hexdigest()
        self.signer.sign(method, self.host_header, path, query, hdrs, sha)
        length = body.length if isinstance(body, FileSlice) else len(body)
        if length or method in ("PUT", "POST"):
            hdrs["content-length"] = str(length)
        head = _request_head(method, path, query, hdrs)
        if isinstance(body, FileSlice):
            sock.sendall(head)
            sent = sock.sendfile(body.file, body.offset, body.length)  # type: ignore[arg-type]
            if sent != body.length:
                raise OSError(f"sendfile sent {sent} of {body.length} bytes")
        else:
            sock.sendall(head + body)
        return self._read_response(method, sink)

    # ----------------------------------------------------------------- reading

    def _fill(self) -> int:
        """Read more bytes into the buffer (compacting it first); 0 at EOF."""
        assert self._sock is not None
        if self._start == self._end:
            self._start = self._end = 0
        elif self._end == len(self._buf):
            rest = self._end - self._start
            self._buf[:rest] = self._buf[self._start : self._end]
            self._start, self._end = 0, rest
        n = self._sock.recv_into(self._view[self._end :])
        self._end += n
        return n

    def _read_until(self, marker: bytes) -> bytes:
        while True:
            at = self._buf.find(marker, self._start, self._end)
            if at >= 0:
                data = bytes(self._buf[self._start : at + len(marker)])
                self._start = at + len(marker)
                return data
            if not self._fill():
                raise ConnectionError("connection closed in the middle of a response")

    def _read_body(
        self, length: int, sink: Callable[[memoryview, int], None] | None, kept: list[bytes]
    ) -> int:
        offset = 0
        while offset < length:
            if self._start == self._end and not self._fill():
                raise ConnectionError("connection closed in the middle of a body")
            take = min(self._end - self._start, length - offset)
            piece = self._view[self._start : self._start + take]
            if sink is not None:
                sink(piece, offset)
            else:
                kept.append(bytes(piece))
            self._start += take
            offset += take
        return offset

    def _read_response(
        self, method: str, sink: Callable[[memoryview, int], None] | None
    ) -> Response:
        status, headers = _parse_head(self._read_until(b"\r\n\r\n"))
        kept: list[bytes] = []
        received = 0
        if not _no_body(method, status):
            if "content-length" in headers:
                received = self._read_body(int(headers["content-length"]), sink, kept)
            elif "chunked" in headers.get("transfer-encoding", ""):
                while True:
                    size = int(self._read_until(b"\r\n").split(b";", 1)[0], 16)
                    if size == 0:
                        while self._read_until(b"\r\n") != b"\r\n":
                            pass
                        break
                    received += self._read_body(size, sink, kept)
                    self._read_until(b"\r\n")
            else:
                headers["connection"] = "close"
                while self._fill():
                    pass
                kept.append(bytes(self._buf[self._start : self._end]))
                received = self._end - self._start
        if headers.get("connection", "").lower() == "close":
            self.close()
        return Response(status, headers, b"".join(kept), received)


# --------------------------------------------------------------------------- results


@dataclass
class LatencyRecorder:
    """Per-request latencies of one load phase (seconds)."""

    samples: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str | None = None
