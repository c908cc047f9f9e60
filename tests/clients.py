"""Helpers for driving real S3 clients (rclone, restic, aws cli, s3cmd) at a test server.

Every client runs in a scrubbed environment whose HOME, XDG and config paths point into
the test's tmp directory, so nothing under the real ~/.config, ~/.aws or ~/.cache is
read or written. Every subprocess has a timeout, and a failed command raises an
AssertionError carrying the client's output and the tail of the server's log.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conftest import RunningServer, require_binary
from processes import run_command

MiB = 1024 * 1024

#: Variables that could point a client at a real account, config file or cache.
_SCRUBBED_PREFIXES = ("AWS_", "RCLONE_", "RESTIC_", "S3CMD", "BOTO_", "XDG_")


def binary(name: str) -> str:
    """The client executable, preferring the one installed next to this Python.

    pyenv shims work too, but going straight to the interpreter's bin directory
    saves a pyenv round trip per command and pins the client to this venv.
    """
    local = Path(sys.executable).parent / name
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    return require_binary(name)


def client_env(home: Path, **extra: str) -> dict[str, str]:
    """A clean environment with HOME and the XDG directories inside ``home``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED_PREFIXES)}
    for sub in ("config", "cache", "data"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_CACHE_HOME=str(home / "cache"),
        XDG_DATA_HOME=str(home / "data"),
    )
    # A CA bundle is harmless over plain http and some tools insist on finding one.
    if "AWS_CA_BUNDLE" in os.environ:
        env["AWS_CA_BUNDLE"] = os.environ["AWS_CA_BUNDLE"]
    env.update(extra)
    return env


def server_tail(server: RunningServer, lines: int = 60) -> str:
    return "".join(list(server.output)[-lines:])


@dataclass
class Result:
    args: Sequence[str]
    returncode: int | None
    stdout: str
    stderr: str
    seconds: float
    server: RunningServer

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def report(self, note: str = "") -> str:
        command = " ".join(str(a) for a in self.args)
        return (
            f"{note}\n$ {command}\n-> exit {self.returncode} after {self.seconds:.1f}s\n"
            f"--- stdout ---\n{self.stdout[-6000:]}\n--- stderr ---\n{self.stderr[-6000:]}\n"
            f"--- server log (tail) ---\n{server_tail(self.server)}"
        )


def run(
    args: Sequence[str],
    *,
    server: RunningServer,
    env: Mapping[str, str],
    timeout: float = 120,
    check: bool = True,
    cwd: Path | None = None,
    stdin: Path | None = None,
) -> Result:
    """Run a client command; with ``check`` a non-zero exit or a timeout fails the test.

    ``stdin`` names a file fed to the client's standard input (default: /dev/null).
    """
    started = time.monotonic()
    try:
        with stdin.open("rb") if stdin else open(os.devnull, "rb") as feed:
            done = run_command(
                [str(a) for a in args],
                env=dict(env),
                cwd=cwd,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=timeout,
                stdin=feed,
            )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else exc.stdout
        err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else exc.stderr
        result = Result(args, None, out or "", err or "", time.monotonic() - started, server)
        raise AssertionError(result.report(f"timed out after {timeout}s")) from None
    result = Result(
        args, done.returncode, done.stdout, done.stderr, time.monotonic() - started, server
    )
    if check and done.returncode != 0:
        raise AssertionError(result.report("client failed"))
    return result


# --------------------------------------------------------------------------- data


def upload_in_one_part(s3: Any, bucket: str, key: str, body: bytes, **create: Any) -> Any:
    """A multipart upload of one part through boto3 (``create``: the arguments of
    CreateMultipartUpload, e.g. Metadata or Tagging); returns Complete's answer."""
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key, **create)["UploadId"]
    part = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=1, Body=body)
    return s3.complete_multipart_upload(
        Bucket=bucket,
        Key=key,
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )


def write_file(path: Path, size: int, *, chunk: int = 4 * MiB) -> str:
    """Write ``size`` random bytes to ``path`` in chunks; return the SHA-256 hex digest.

    Every byte is random (os.urandom), so swapped, repeated or truncated parts are caught.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with path.open("wb") as f:
        left = size
        while left > 0:
            block = os.urandom(min(chunk, left))
            f.write(block)
            digest.update(block)
            left -= len(block)
    return digest.hexdigest()


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    digest = hashlib.new(algorithm)
    with path.open("rb") as f:
        while block := f.read(4 * MiB):
            digest.update(block)
    return digest.hexdigest()


def tree_digest(root: Path) -> dict[str, tuple[int, str]]:
    """Map each regular file under ``root`` (as a POSIX relative path) to (size, sha256)."""
    return {
        p.relative_to(root).as_posix(): (p.stat().st_size, file_digest(p))
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def make_tree(root: Path, files: Mapping[str, int]) -> dict[str, tuple[int, str]]:
    """Create ``files`` (relative path -> size) under ``root``; return its tree_digest."""
    for name, size in files.items():
        write_file(root / name, size)
    return tree_digest(root)


def diff_trees(expected: Mapping[str, object], actual: Mapping[str, object]) -> str:
    """A short human description of how two tree digests differ ("" when equal)."""
    missing = sorted(set(expected) - set(actual))
    extra = sorted(set(actual) - set(expected))
    changed = sorted(k for k in set(expected) & set(actual) if expected[k] != actual[k])
    parts = []
    if missing:
        parts.append(f"missing: {missing[:20]}")
    if extra:
        parts.append(f"unexpected: {extra[:20]}")
    if changed:
        parts.append(
            "different: " + ", ".join(f"{k} {expected[k]} != {actual[k]}" for k in changed[:10])
        )
    return "; ".join(parts)


# --------------------------------------------------------------------------- access log

_ACCESS = re.compile(
    r"pys3local\.access: \S+ (?P<method>[A-Z]+) (?P<target>.+?) (?P<status>\d{3}) "
    r"in=(?P<inb>\d+) out=(?P<outb>\d+) \S+ (?P<operation>\w+)"
)


@dataclass(frozen=True)
class Access:
    method: str
    target: str
    status: int
    bytes_in: int
    bytes_out: int
    operation: str


def access_records(server: RunningServer, since: int = 0) -> list[Access]:
    """The server's access-log lines from index ``since`` of ``server.output`` on."""
    records = []
    for line in list(server.output)[since:]:
        m = _ACCESS.search(line)
        if m:
            records.append(
                Access(
                    m["method"],
                    m["target"],
                    int(m["status"]),
                    int(m["inb"]),
                    int(m["outb"]),
                    m["operation"],
                )
            )
    return records


def settle_log(server: RunningServer, quiet: float = 0.3, timeout: float = 5) -> int:
    """Wait until the log pump has caught up (no new line for ``quiet`` s); return its length.

    Access lines are written after the response, so a client may exit a moment before
    the line for its last request reaches ``server.output``.
    """
    deadline = time.monotonic() + timeout
    seen = len(server.output)
    last_change = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.05)
        now = len(server.output)
        if now != seen:
            seen, last_change = now, time.monotonic()
        elif time.monotonic() - last_change >= quiet:
            break
    return len(server.output)


def operations(records: Sequence[Access]) -> list[str]:
    return [r.operation for r in records]


# --------------------------------------------------------------------------- rclone


def rclone_env(
    server: RunningServer, home: Path, remote: str = "pys3", **options: str
) -> dict[str, str]:
    """Environment defining an rclone remote ``remote`` for ``server`` (no config file)."""
    prefix = f"RCLONE_CONFIG_{remote.upper()}_"
    values = {
        "TYPE": "s3",
        "PROVIDER": "Other",
        "ACCESS_KEY_ID": server.access_key,
        "SECRET_ACCESS_KEY": server.secret_key,
        "ENDPOINT": server.endpoint,
        "REGION": server.region,
        "FORCE_PATH_STYLE": "true",
        **{k.upper(): v for k, v in options.items()},
    }
    home.mkdir(parents=True, exist_ok=True)
    config = home / "rclone.conf"
    config.touch()
    return client_env(
        home,
        RCLONE_CONFIG=str(config),
        **{prefix + k: v for k, v in values.items()},
    )


def rclone(server: RunningServer, env: Mapping[str, str], *args: str, **options: Any) -> Result:
    """Run rclone; ``options`` (timeout, check, cwd, stdin) go to :func:`run`."""
    options.setdefault("timeout", 120)
    return run(
        [binary("rclone"), "--retries", "1", "--low-level-retries", "1", *args],
        server=server,
        env=env,
        **options,
    )


# --------------------------------------------------------------------------- restic


def restic_env(
    server: RunningServer,
    home: Path,
    bucket: str,
    path: str,
    *,
    password: str = "pw-1234",
    endpoint: str | None = None,
) -> dict[str, str]:
    """restic against ``s3:<endpoint>/<bucket>/<path>``; AWS_DEFAULT_REGION deliberately unset."""
    return client_env(
        home,
        RESTIC_REPOSITORY=f"s3:{endpoint or server.endpoint}/{bucket}/{path}",
        RESTIC_PASSWORD=password,
        RESTIC_CACHE_DIR=str(home / "cache" / "restic"),
        AWS_ACCESS_KEY_ID=server.access_key,
        AWS_SECRET_ACCESS_KEY=server.secret_key,
    )


def restic(server: RunningServer, env: Mapping[str, str], *args: str, **options: Any) -> Result:
    """Run restic; ``options`` (timeout, check, cwd, stdin) go to :func:`run`."""
    options.setdefault("timeout", 180)
    return run([binary("restic"), *args], server=server, env=env, **options)


# --------------------------------------------------------------------------- aws cli


def aws_env(server: RunningServer, home: Path) -> dict[str, str]:
    return client_env(
        home,
        AWS_ACCESS_KEY_ID=server.access_key,
        AWS_SECRET_ACCESS_KEY=server.secret_key,
        AWS_DEFAULT_REGION=server.region,
        AWS_CONFIG_FILE="/dev/null",
        AWS_SHARED_CREDENTIALS_FILE="/dev/null",
        AWS_PAGER="",
        AWS_MAX_ATTEMPTS="1",
    )


def aws(server: RunningServer, env: Mapping[str, str], *args: str, **options: Any) -> Result:
    """Run aws; ``options`` (timeout, check, cwd, stdin) go to :func:`run`."""
    options.setdefault("timeout", 120)
    return run(
        [binary("aws"), "--endpoint-url", server.endpoint, *args], server=server, env=env, **options
    )


# --------------------------------------------------------------------------- s3cmd


def s3cmd_config(server: RunningServer, path: Path, *, signature_v2: bool = False) -> Path:
    host = server.endpoint.split("://", 1)[1]
    path.write_text(
        "[default]\n"
        f"access_key = {server.access_key}\n"
        f"secret_key = {server.secret_key}\n"
        f"bucket_location = {server.region}\n"
        f"host_base = {host}\n"
        f"host_bucket = {host}\n"
        "use_https = False\n"
        f"signature_v2 = {signature_v2}\n"
        "check_ssl_certificate = False\n"
        "check_ssl_hostname = False\n"
        "progress_meter = False\n"
        "multipart_chunk_size_mb = 15\n"
    )
    return path


def s3cmd(
    server: RunningServer, env: Mapping[str, str], config: Path, *args: str, **options: Any
) -> Result:
    """Run s3cmd with config file ``config``; ``options`` go to :func:`run`."""
    return run(
        [binary("s3cmd"), "-c", str(config), "--no-progress", *args],
        server=server,
        env=env,
        **options,
    )


# --------------------------------------------------------------------------- wire sniffing


class SniffingProxy:
    """A loopback TCP forwarder that records the ``x-amz-content-sha256`` values clients send.

    Clients are pointed at ``endpoint`` instead of the server's; bytes pass through
    unchanged (the Host header, and so the signature, is the proxy's address, which the
    server accepts like any other). Used to prove that a client really took a given
    body encoding (e.g. minio-go's STREAMING-AWS4-HMAC-SHA256-PAYLOAD).
    """

    _HEADER = re.compile(rb"\r\nx-amz-content-sha256:[ \t]*([^\r\n]*)", re.IGNORECASE)

    def __init__(self, server: RunningServer) -> None:
        self._target = ("127.0.0.1", server.port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.endpoint = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self.content_sha256: list[str] = []
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        self._spawn(self._accept)

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            upstream = socket.create_connection(self._target, timeout=30)
            client.settimeout(None)
            upstream.settimeout(None)
            self._sockets += [client, upstream]
            self._spawn(self._pump, client, upstream, True)
            self._spawn(self._pump, upstream, client, False)

    def _pump(self, source: socket.socket, sink: socket.socket, sniff: bool) -> None:
        tail = b""
        try:
            while block := source.recv(256 * 1024):
                if sniff:
                    window = tail + block
                    # Count a header once: when its terminating CR is in view, and
                    # not if it already ended (and was counted) inside the old tail.
                    for m in self._HEADER.finditer(window):
                        if len(tail) <= m.end() < len(window):
                            with self._lock:
                                self.content_sha256.append(m[1].decode("latin-1").strip())
                    tail = window[-256:]
                sink.sendall(block)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._closed.set()
        self._listener.close()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.close()
        for thread in self._threads:
            thread.join(timeout=2)
