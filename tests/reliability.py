"""Helpers for the reliability and security tests (issue 9).

Raw HTTP over a socket (so hostile paths reach the server byte for byte), SigV4
signing of such raw requests, on-disk invariants of the local backend, and setting up
state through the provider. Everything talks to 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import http.client
import json
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from conftest import RunningServer

from pys3local.providers.base import ObjectMetadata
from pys3local.providers.local import LocalStorageProvider
from pys3local.providers.local.layout import StoreLayout, decode_segment

KiB = 1024
MiB = 1024 * 1024
UNSIGNED = "UNSIGNED-PAYLOAD"

#: One shared client: ``httpx.get()`` builds a client (and an SSL context) per call,
#: about 30 ms each, which thousands of checks cannot afford. It is thread-safe.
HTTP = httpx.Client(timeout=60, limits=httpx.Limits(max_connections=64))


# --------------------------------------------------------------------------- raw HTTP


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def error_code(self) -> str | None:
        start = self.body.find(b"<Code>")
        if start < 0:
            return None
        end = self.body.find(b"</Code>", start)
        return self.body[start + 6 : end].decode("utf-8", "replace")


def connect(port: int, timeout: float = 10) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def request_head(
    method: str,
    target: str,
    headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
    *,
    port: int,
    content_length: int | None = None,
    host: str | None = None,
) -> bytes:
    """The request line and header section, exactly as given (no normalisation)."""
    pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
    names = {n.lower() for n, _ in pairs}
    lines = [f"{method} {target} HTTP/1.1"]
    if "host" not in names:
        lines.append(f"Host: {host or f'127.0.0.1:{port}'}")
    if content_length is not None and "content-length" not in names:
        lines.append(f"Content-Length: {content_length}")
    lines += [f"{n}: {v}" for n, v in pairs]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def read_response(sock: socket.socket, method: str = "GET") -> RawResponse:
    response = http.client.HTTPResponse(sock, method=method)
    response.begin()
    body = response.read()
    headers = {k.lower(): v for k, v in response.getheaders()}
    return RawResponse(response.status, headers, body)


def raw_request(
    port: int,
    method: str,
    target: str,
    headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    *,
    timeout: float = 20,
    host: str | None = None,
) -> RawResponse:
    """Send one request on a fresh connection, byte for byte, and read the answer."""
    with connect(port, timeout) as sock:
        length = len(body) if body or method in ("PUT", "POST") else None
        sock.sendall(
            request_head(method, target, headers, port=port, content_length=length, host=host)
            + body
        )
        return read_response(sock, method)


def sign(
    server: RunningServer,
    method: str,
    target: str,
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
    *,
    payload_hash: str | None = None,
) -> dict[str, str]:
    """SigV4 headers for a raw request; ``target`` is the path (and query) as sent."""
    url = f"http://127.0.0.1:{server.port}{target}"
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    request.headers["host"] = f"127.0.0.1:{server.port}"
    request.headers["x-amz-content-sha256"] = payload_hash or hashlib.sha256(body).hexdigest()
    credentials = Credentials(server.access_key, server.secret_key)
    S3RawSigV4Auth(credentials, "s3", server.region).add_auth(request)
    return {k: v for k, v in request.headers.items() if k.lower() != "host"}


class S3RawSigV4Auth(SigV4Auth):
    """SigV4 as S3 does it: the path is signed as sent, not normalised again."""

    def _normalize_url_path(self, path: str) -> str:
        return path


# --------------------------------------------------------------------------- bodies


def pattern_block(label: bytes, size: int) -> bytes:
    """``size`` bytes: ``label`` then a repeating pattern derived from it."""
    seed = hashlib.sha256(label).digest()
    repeat = (seed * (size // len(seed) + 1))[: max(0, size - len(label))]
    return (label + repeat)[:size]


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def multipart_etag_of_file(path: Path, part_size: int) -> str:
    """The S3 multipart ETag of a file uploaded in parts of ``part_size`` bytes."""
    digests = []
    with path.open("rb") as f:
        while block := f.read(part_size):
            digests.append(hashlib.md5(block, usedforsecurity=False).digest())
    combined = hashlib.md5(b"".join(digests), usedforsecurity=False).hexdigest()
    return f"{combined}-{len(digests)}"


def file_md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as f:
        while block := f.read(4 * MiB):
            digest.update(block)
    return digest.hexdigest()


# --------------------------------------------------------------------------- the store on disk


@dataclass
class StoreReport:
    """What :func:`check_store` found."""

    objects: dict[tuple[str, str], dict[str, object]] = field(default_factory=dict)
    orphan_sidecars: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def iter_data_files(objects_dir: Path) -> Iterator[tuple[str, Path]]:
    """(key, path) of every data file under a bucket's ``objects/``."""
    for root, _dirs, files in os.walk(objects_dir):
        rel = Path(root).relative_to(objects_dir)
        prefix = [decode_segment(p) for p in rel.parts] if rel.parts else []
        for name in files:
            yield "/".join([*prefix, decode_segment(name)]), Path(root) / name


def check_store(
    data_dir: Path,
    *,
    part_sizes: Mapping[str, int] | None = None,
    verify_content: bool = True,
    buckets: Iterable[str] | None = None,
) -> StoreReport:
    """Check the local backend's invariants on disk.

    Every data file has a sidecar naming its bucket and key with its size, and the
    sidecar's ETag is the MD5 of the data (for multipart ETags: recomputed with the
    part size given for the key in ``part_sizes``, else only the size is checked).
    Sidecars without data are reported separately (invisible, but worth knowing).
    """
    report = StoreReport()
    layout = StoreLayout(data_dir)
    wanted = set(buckets) if buckets is not None else None
    for bucket_dir in sorted(data_dir.iterdir()):
        if bucket_dir.name.startswith(".") or not (bucket_dir / "objects").is_dir():
            continue
        if wanted is not None and bucket_dir.name not in wanted:
            continue
        bucket = bucket_dir.name
        seen_sidecars: set[Path] = set()
        for key, path in iter_data_files(bucket_dir / "objects"):
            sidecar = layout.object_paths(bucket, key).metadata
            seen_sidecars.add(sidecar)
            try:
                document = json.loads(sidecar.read_bytes())
            except (FileNotFoundError, ValueError) as exc:
                report.problems.append(f"{bucket}/{key}: data without readable sidecar ({exc})")
                continue
            size = path.stat().st_size
            if document.get("size") != size:
                report.problems.append(
                    f"{bucket}/{key}: sidecar size {document.get('size')} != data size {size}"
                )
                continue
            if (document.get("bucket"), document.get("key")) != (bucket, key):
                report.problems.append(f"{bucket}/{key}: sidecar names another object")
            inode = document.get("ino")
            if inode is not None and inode != path.stat().st_ino:
                report.problems.append(f"{bucket}/{key}: sidecar describes another file")
            etag = str(document.get("etag"))
            if verify_content:
                if "-" not in etag:
                    actual = file_md5(path)
                    if actual != etag:
                        report.problems.append(f"{bucket}/{key}: md5 {actual} != etag {etag}")
                elif part_sizes and key in part_sizes:
                    actual = multipart_etag_of_file(path, part_sizes[key])
                    if actual != etag:
                        report.problems.append(f"{bucket}/{key}: parts etag {actual} != {etag}")
            report.objects[(bucket, key)] = document
        metadata_dir = bucket_dir / ".metadata"
        for root, _dirs, files in os.walk(metadata_dir):
            for name in files:
                sidecar = Path(root) / name
                if sidecar not in seen_sidecars:
                    report.orphan_sidecars.append(sidecar)
    return report


def staging_files(data_dir: Path) -> list[Path]:
    """Every file below ``.pys3local/staging/<writer>/`` (temporary files)."""
    staging = data_dir / ".pys3local" / "staging"
    if not staging.is_dir():
        return []
    return sorted(p for p in staging.rglob("*") if p.is_file() and p.parent != staging)


def staging_writers(data_dir: Path) -> list[str]:
    staging = data_dir / ".pys3local" / "staging"
    if not staging.is_dir():
        return []
    return sorted(p.name for p in staging.iterdir() if p.is_dir())


def wait_for(predicate: Callable[[], object], timeout: float, interval: float = 0.0005) -> object:
    """Poll ``predicate`` until it returns something truthy; return it (or None)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if interval:
            time.sleep(interval)
    return None


# --------------------------------------------------------------------------- processes


def kill9_while(
    server: RunningServer,
    workload: Callable[..., None],
    workers: range,
    seconds: float,
) -> None:
    """Run ``workload(n, stop=event)`` in a thread for each ``n`` of ``workers`` for
    ``seconds``, kill -9 ``server`` under them, then wait for the threads to end."""
    stop = threading.Event()
    threads = [threading.Thread(target=workload, args=(n,), kwargs={"stop": stop}) for n in workers]
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    kill9(server)
    stop.set()
    for thread in threads:
        thread.join(30)


@contextlib.contextmanager
def serving(server: RunningServer) -> Iterator[RunningServer]:
    """Stop ``server`` however the code using it ends, failed set-up included (a
    module fixture that fails before its ``yield`` gets no teardown)."""
    try:
        yield server
    finally:
        server.stop()


def kill9(server: RunningServer) -> None:
    """SIGKILL the server process (the one this test started) and reap it."""
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGKILL)
    server.process.wait(10)


def proc_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def proc_hwm_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM")


def proc_fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


#: What a metadata cache connection holds open (the database, its WAL and shared
#: memory): one connection per thread that used the cache.
CACHE_FILE_SUFFIXES = (".db", ".db-wal", ".db-shm")


def proc_fd_counts(pid: int) -> tuple[int, int]:
    """(descriptors other than the cache's, descriptors of the cache's files)."""
    other = cache = 0
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{name}")
        except OSError:
            continue  # closed since listed
        if target.endswith(CACHE_FILE_SUFFIXES):
            cache += 1
        else:
            other += 1
    return other, cache


def healthy(server: RunningServer, timeout: float = 5) -> bool:
    """The server still answers a plain request quickly."""
    try:
        response = httpx.get(server.endpoint + "/", timeout=timeout)
    except httpx.TransportError:
        return False
    return response.status_code in (200, 403)


# --------------------------------------------------------------------------- provider set-up


def populate(
    data_dir: Path,
    bucket: str,
    objects: Mapping[str, bytes],
    *,
    create_bucket: bool = False,
    content_type: str | None = None,
) -> None:
    """Write objects through the local provider itself (fast set-up, no HTTP)."""

    async def body(data: bytes) -> Iterator[bytes]:  # type: ignore[misc]
        yield data

    async def run() -> None:
        provider = LocalStorageProvider(data_dir, durable=False)
        await provider.open()
        try:
            if create_bucket and not await provider.bucket_exists(bucket):
                await provider.create_bucket(bucket)
            semaphore = asyncio.Semaphore(16)

            async def put(key: str, data: bytes) -> None:
                async with semaphore:
                    metadata = ObjectMetadata()
                    if content_type:
                        metadata.content_type = content_type
                    await provider.put_object(bucket, key, body(data), metadata)

            await asyncio.gather(*(put(k, v) for k, v in objects.items()))
        finally:
            await provider.close()

    asyncio.run(run())


# --------------------------------------------------------------------------- background senders


class BackgroundSender:
    """Send a request (head + body pieces) from a thread; the test kills the server
    meanwhile. Errors from the dead peer are expected and swallowed."""

    def __init__(self, sock: socket.socket, pieces: Iterable[bytes]) -> None:
        self.sock = sock
        self.pieces = pieces
        self.sent = 0
        self.error: BaseException | None = None
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            for piece in self.pieces:
                self.sock.sendall(piece)
                self.sent += len(piece)
        except OSError as exc:
            self.error = exc
        finally:
            self.done.set()

    def join(self, timeout: float = 10) -> None:
        self.thread.join(timeout)
        with contextlib.suppress(OSError):
            self.sock.close()
