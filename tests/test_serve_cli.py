"""`pys3local serve` as a user runs it: options, banner, warnings, errors, shutdown."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import boto3
import pytest
import uvicorn
from botocore.config import Config
from processes import run_command, spawn, stop_group

from pys3local.providers.local import LocalStorageProvider
from pys3local.runner import parse_listen
from pys3local.server import create_s3_app


def run_cli(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return run_command(
        [sys.executable, "-m", "pys3local", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["serve", "--listen", "host:notaport"], "--listen"),
        (["serve", "--listen", ":99999"], "--listen"),
        (["serve", "--backend", "ftp"], "--backend"),
        (["serve", "--no-such-option"], "no-such-option"),
    ],
)
def test_bad_options_give_one_line_and_exit_2(args: list[str], fragment: str) -> None:
    result = run_cli(*args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ") and fragment in lines[0]
    assert "Traceback" not in result.stderr + result.stdout


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        result = run_cli("serve", "--path", str(tmp_path), "--listen", f"127.0.0.1:{port}")
    assert result.returncode == 1
    assert "Error: cannot listen on" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("value", "host", "port"),
    [
        (":10001", "0.0.0.0", 10001),
        ("127.0.0.1:9000", "127.0.0.1", 9000),
        ("localhost", "localhost", 10001),
        ("[::1]:9000", "::1", 9000),
    ],
)
def test_parse_listen(value: str, host: str, port: int) -> None:
    address = parse_listen(value)
    assert (address.host, address.port) == (host, port)


def test_banner_prints_credentials_and_rclone_block(make_server) -> None:
    server = make_server()
    text = "".join(server.output)
    assert f"Access key: {server.access_key}" in text
    for line in [
        "[pys3local]",
        "type = s3",
        "provider = Other",
        f"endpoint = {server.endpoint}",
        "force_path_style = true",
        "disable_http2 = true",
        "no_check_bucket = true",
    ]:
        assert line in text.replace("localhost", "127.0.0.1")


def test_warning_when_exposed_with_default_credentials(tmp_path: Path) -> None:
    process = spawn(
        [sys.executable, "-m", "pys3local", "serve", "--path", str(tmp_path), "--listen", ":0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        seen = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            seen.append(line)
            if "Starting S3 server" in line:
                break
        assert any("WARNING" in line and "test/test" in line for line in seen), seen
    finally:
        stop_group(process, signal.SIGKILL)


def test_requests_are_logged_without_secrets(make_server) -> None:
    server = make_server()
    s3 = server.client()
    s3.put_object(Bucket="default", Key="logged/key", Body=b"x")
    s3.get_object(Bucket="default", Key="logged/key")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not any("GetObject" in x for x in server.output):
        time.sleep(0.05)
    log = "".join(server.output)
    assert "PUT /default/logged/key 200" in log and "PutObject" in log
    assert "GET /default/logged/key 200" in log
    assert server.secret_key not in log.split("rclone configuration")[1].split("Backend:")[1]


def test_sigterm_shuts_down_cleanly(make_server) -> None:
    server = make_server()
    server.client().put_object(Bucket="default", Key="k", Body=b"x")
    # uvicorn finishes in-flight requests, then re-raises the signal (exit by SIGTERM,
    # which service managers count as a clean stop).
    assert server.stop(signal.SIGTERM) in (0, -signal.SIGTERM)
    assert any("Application shutdown complete" in line for line in server.output)
    staging = server.data_dir / ".pys3local" / "staging"
    assert [p for p in staging.rglob("*") if p.is_file()] == []


def test_programmatic_api_as_documented(tmp_path: Path) -> None:
    """LocalStorageProvider + create_s3_app + uvicorn, exactly as the README shows."""
    provider = LocalStorageProvider(base_path=tmp_path, readonly=False)
    app = create_s3_app(
        provider=provider,
        access_key="mykey",
        secret_key="mysecret",
        region="us-east-1",
        no_auth=False,
        allow_bucket_creation=True,
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        s3 = boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{port}",
            aws_access_key_id="mykey",
            aws_secret_access_key="mysecret",
            region_name="us-east-1",
            config=Config(retries={"max_attempts": 1}),
        )
        s3.create_bucket(Bucket="mybucket")
        s3.put_object(Bucket="mybucket", Key="file.txt", Body=b"hello")
        assert (tmp_path / "mybucket" / "objects" / "file.txt").read_bytes() == b"hello"
    finally:
        server.should_exit = True
        thread.join(10)
