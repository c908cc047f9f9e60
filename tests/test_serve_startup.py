"""``pys3local serve`` before it serves: a backend that cannot be opened, a data directory
in the wrong place, a cache file that is not ours, options for another backend.

Every refusal is one ``Error:`` line, a non-zero exit and no banner; every test runs the
real command in a child process.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_drime import FakeDrime
from processes import run_command

from pys3local.config import ConfigStore

BANNER = "Starting S3 server"


def run_serve(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``pys3local serve`` to its end (a server that starts is killed at ``timeout``)."""
    try:
        return run_command(
            [sys.executable, "-m", "pys3local", "serve", "--listen", "127.0.0.1:0", *args],
            capture_output=True,
            text=True,
            env={**os.environ, **(env or {})},
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        stderr = (exc.stderr or "") + "\n(still running: killed)"
        return subprocess.CompletedProcess(exc.cmd, None, exc.stdout or "", stderr)  # type: ignore[arg-type]


def assert_refused(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    """One ``Error:`` line naming ``fragments``, a non-zero exit, no banner, no traceback."""
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert result.returncode not in (0, None, -9), result.stderr
    assert len(errors) == 1, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert BANNER not in result.stdout, result.stdout
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    return errors[0]


@contextlib.contextmanager
def refusing_port() -> Iterator[int]:
    """A loopback port that refuses connections (bound, never listening)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture
def fake() -> Iterator[FakeDrime]:
    with FakeDrime() as server:
        yield server


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch) -> Path:
    directory = tmp_path / "config"
    monkeypatch.setenv("PYS3LOCAL_CONFIG_DIR", str(directory))
    monkeypatch.delenv("PYS3LOCAL_CONFIG_PASSWORD", raising=False)
    monkeypatch.delenv("DRIME_API_KEY", raising=False)
    return directory


# A backend that cannot be opened (point 2) ---------------------------------------------


def test_serve_with_a_wrong_drime_key_from_the_environment(fake: FakeDrime, tmp_path: Path) -> None:
    """A key Drime rejects: one line naming DRIME_API_KEY as its source, no banner."""
    env = {"DRIME_API_KEY": "wrong-key", "DRIME_API_URL": fake.api_url}
    result = run_serve("--backend", "drime", env=env)
    assert_refused(result, "401", "environment variable DRIME_API_KEY")


def test_serve_with_a_wrong_drime_key_from_a_saved_backend(
    fake: FakeDrime, config_dir: Path
) -> None:
    """A saved backend's rejected key names that saved backend, not DRIME_API_KEY."""
    ConfigStore(config_dir).add(
        "mydrime",
        {"type": "drime", "api_key": "wrong-key", "workspace_id": 0, "api_url": fake.api_url},
    )
    line = assert_refused(run_serve("--backend-config", "mydrime"), "401", "'mydrime'")
    assert "DRIME_API_KEY" not in line


@pytest.mark.slow
def test_serve_with_drime_unreachable(tmp_path: Path) -> None:
    """An API nobody answers: one line after the retries, no banner."""
    with refusing_port() as port:
        env = {"DRIME_API_KEY": "k", "DRIME_API_URL": f"http://127.0.0.1:{port}/api/v1"}
        result = run_serve("--backend", "drime", env=env)
    assert_refused(result, "unavailable")


def test_serve_with_a_path_that_is_a_file(tmp_path: Path) -> None:
    """--path naming a file is refused before anything is served."""
    target = tmp_path / "file"
    target.write_text("mine")
    assert_refused(run_serve("--path", str(target)), str(target), "not a directory")
    assert target.read_text() == "mine"


def test_serve_with_a_path_that_cannot_be_created(tmp_path: Path) -> None:
    """A data directory that cannot be created (under a file) is one line."""
    (tmp_path / "file").write_text("mine")
    target = tmp_path / "file" / "data"
    assert_refused(run_serve("--path", str(target), "--create-path"), "cannot create", str(target))


# --cache-db naming a file that is not a cache (point 3) ----------------------------------


@pytest.mark.parametrize("command", ["serve", "cache"])
def test_named_cache_file_that_is_not_a_database_is_left_alone(
    tmp_path: Path, command: str
) -> None:
    """--cache-db naming some other file: refused with one line; the file is never moved."""
    precious = tmp_path / "notes.txt"
    content = b"my notes, not a database\n" * 500
    precious.write_bytes(content)
    if command == "serve":
        result = run_serve("--path", str(tmp_path / "data"), "--cache-db", str(precious))
    else:
        result = run_command(
            [sys.executable, "-m", "pys3local", "cache", "--cache-db", str(precious), "stats"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert_refused(result, str(precious), "not a usable pys3local cache")
    assert precious.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("notes")) == ["notes.txt"]


# Where the data lives (point 4) -----------------------------------------------------------


def test_serve_refuses_a_path_whose_parent_is_missing(tmp_path: Path) -> None:
    """A mistyped or unmounted --path (missing parent) is refused and nothing is created."""
    target = tmp_path / "mnt" / "backup-disk" / "s3"
    assert_refused(run_serve("--path", str(target)), str(tmp_path / "mnt"), "--create-path")
    assert not (tmp_path / "mnt").exists()


def test_serve_creates_path_when_asked_and_says_where_the_data_lives(
    make_server, tmp_path: Path
) -> None:
    """--create-path creates the chain and says so; the banner names the filesystem and its
    free space."""
    target = tmp_path / "new" / "deeper" / "s3"
    server = make_server("--create-path", data_dir=target)
    output = "".join(server.output)
    assert target.is_dir()
    assert f"Created the data directory {target}" in output
    data = re.search(r"^Data: (.*)$", output, re.MULTILINE)
    assert data is not None, output
    assert str(target) in data[1] and "mounted at " in data[1]
    assert re.search(r"[\d.]+ [KMGTP]?B(ytes)? free of [\d.]+ [KMGTP]?B", data[1]), data[1]


def test_serve_existing_path_is_not_announced_as_created(make_server, tmp_path: Path) -> None:
    """An existing data directory is used silently (only its filesystem is named)."""
    server = make_server(data_dir=tmp_path)
    output = "".join(server.output)
    assert "Created" not in output and "Data: " in output


# Options for another backend (point 13) ----------------------------------------------------


def test_serve_root_folder_with_a_saved_local_backend_is_an_error(
    config_dir: Path, tmp_path: Path
) -> None:
    """--root-folder (Drime) with a saved local backend is refused, not silently ignored."""
    ConfigStore(config_dir).add("mylocal", {"type": "local", "path": str(tmp_path / "data")})
    result = run_serve("--backend-config", "mylocal", "--root-folder", "x", timeout=20)
    assert_refused(result, "--root-folder", "'mylocal'")
    assert result.returncode == 2


def test_serve_path_with_the_drime_backend_is_an_error(config_dir: Path, tmp_path: Path) -> None:
    """--path (local) with --backend drime is refused, not silently ignored."""
    result = run_serve(
        "--backend", "drime", "--path", str(tmp_path), env={"DRIME_API_KEY": "k"}, timeout=20
    )
    assert_refused(result, "--path", "drime")
    assert result.returncode == 2
