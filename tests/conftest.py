"""Shared fixtures: real ``pys3local serve`` processes on 127.0.0.1 and real clients,
and an open local provider for the backend's own tests."""

from __future__ import annotations

import itertools
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import httpx
import pytest
from botocore.config import Config

# The end-of-run check that no process started by the tests is left running (a hook
# defined in a conftest module is active for the whole run).
from processes import pytest_sessionfinish, spawn, stop_group  # noqa: F401

# The SeaweedFS cluster of the s3 backend's tests: one per session, started only
# when a test asks for it.
from seaweed import seaweed  # noqa: F401

from pys3local.providers.local import LocalStorageProvider

ACCESS_KEY = "test-access-key"
SECRET_KEY = "test-secret-key-0123456789"
REGION = "us-east-1"
_BANNER = re.compile(r"Starting S3 server at (http[s]?://[^/\s]+)/")


@dataclass
class RunningServer:
    """A ``pys3local serve`` child process."""

    process: subprocess.Popen[str]
    endpoint: str
    data_dir: Path
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY
    region: str = REGION
    output: list[str] = field(default_factory=list)
    reader: object = None

    @property
    def port(self) -> int:
        return int(self.endpoint.rsplit(":", 1)[1])

    def client(self, **config: object) -> object:
        """A boto3 S3 client with default settings (plus ``config`` overrides)."""
        options = {"retries": {"max_attempts": 1}, **config}
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=Config(**options),
        )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        """Send ``sig`` to the server, then kill whatever is left of its process group."""
        stop_group(self.process, sig, timeout)
        if self.reader is not None:
            self.reader.join(5)  # type: ignore[attr-defined]
        return self.process.returncode


def start_server(
    data_dir: Path,
    *args: str,
    env: dict[str, str] | None = None,
    auth: bool = True,
    timeout: float = 20,
) -> RunningServer:
    """Start ``pys3local serve`` on a free loopback port and wait until it answers."""
    command = [
        sys.executable,
        "-m",
        "pys3local",
        "serve",
        # --path is the local backend's option; serve refuses it for Drime and s3
        # (data_dir is then only the test's scratch directory).
        *(() if _serves_remote(args) else ("--path", str(data_dir))),
        "--listen",
        "127.0.0.1:0",
        "--access-key-id",
        ACCESS_KEY,
        "--secret-access-key",
        SECRET_KEY,
        "--region",
        REGION,
        *(() if auth else ("--no-auth",)),
        *args,
    ]
    process = spawn(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )
    assert process.stdout is not None
    output: list[str] = []
    deadline = time.monotonic() + timeout
    endpoint = None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        output.append(line)
        match = _BANNER.search(line)
        if match:
            endpoint = match[1].replace("localhost", "127.0.0.1")
            break
    if endpoint is None:
        stop_group(process, signal.SIGKILL)
        rest = process.stdout.read()
        raise RuntimeError("server did not start:\n" + "".join(output) + rest)
    server = RunningServer(process, endpoint, data_dir, output=output)
    _drain_output(server)
    _wait_until_answering(server, deadline)
    return server


def _serves_remote(args: tuple[str, ...]) -> bool:
    return any(a == "--backend" and b in ("drime", "s3") for a, b in itertools.pairwise(args))


def _drain_output(server: RunningServer) -> None:
    """Keep reading the child's output so it never blocks on a full pipe."""

    def pump() -> None:
        assert server.process.stdout is not None
        for line in server.process.stdout:
            server.output.append(line)
            if len(server.output) > 5000:
                del server.output[:1000]

    server.reader = threading.Thread(target=pump, daemon=True)
    server.reader.start()


def _wait_until_answering(server: RunningServer, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            httpx.get(server.endpoint + "/", timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    server.stop(signal.SIGKILL)
    raise RuntimeError("server never answered:\n" + "".join(server.output))


@pytest.fixture(scope="session", autouse=True)
def isolated_user_files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep every test (and every server it starts) away from ~/.config/pys3local."""
    home = tmp_path_factory.mktemp("user-config")
    saved = {name: os.environ.get(name) for name in ("PYS3LOCAL_CONFIG_DIR", "PYS3LOCAL_CACHE_DB")}
    os.environ["PYS3LOCAL_CONFIG_DIR"] = str(home / "config")
    os.environ["PYS3LOCAL_CACHE_DB"] = str(home / "metadata.db")
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture
async def provider(tmp_path: Path) -> AsyncIterator[LocalStorageProvider]:
    """An open local provider with an empty bucket ``b`` (test modules of other
    backends define their own ``provider``)."""
    store = LocalStorageProvider(tmp_path / "data")
    await store.open()
    await store.create_bucket("b")
    yield store
    await store.close()


@pytest.fixture
def make_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """Factory for servers that live as long as the test."""
    started: list[RunningServer] = []

    def factory(*args: str, data_dir: Path | None = None, **kwargs: object) -> RunningServer:
        directory = data_dir or tmp_path_factory.mktemp("data")
        server = start_server(directory, *args, **kwargs)  # type: ignore[arg-type]
        started.append(server)
        return server

    yield factory
    for server in started:
        server.stop(signal.SIGKILL)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One advanced-mode server with auth, shared by the session's tests."""
    running = start_server(tmp_path_factory.mktemp("shared-data"), "--allow-bucket-creation")
    yield running
    running.stop()


@pytest.fixture
def s3(server: RunningServer) -> object:
    return server.client()


@pytest.fixture
def bucket(s3: object) -> str:
    """A fresh bucket on the shared server."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)  # type: ignore[attr-defined]
    return name


@pytest.fixture
def drime(tmp_path: Path) -> Iterator[RunningServer]:
    """A server on the Drime backend (our fake Drime server), default mode."""
    from fake_drime import FakeDrime  # imported here: these modules import conftest
    from test_drime_e2e import start_drime_server

    with FakeDrime() as fake:
        server = start_drime_server(fake, tmp_path, cache_db=tmp_path / "cache.db")
        try:
            yield server
        finally:
            server.stop()


def require_binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed; run the README's test setup")
    return path
