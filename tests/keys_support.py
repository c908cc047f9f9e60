"""Helpers for the access-key tests: keys made by the real ``pys3local keys`` command,
and boto3 clients signing with them."""

from __future__ import annotations

import contextlib
import dataclasses
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from botocore.exceptions import ClientError
from click.testing import CliRunner
from conftest import RunningServer, start_server
from processes import run_command

from pys3local.cli import main


@dataclass(frozen=True)
class Key:
    name: str
    access_key_id: str
    secret: str
    output: str


@dataclass(frozen=True)
class Done:
    returncode: int
    stdout: str
    stderr: str


def keys_command(config_dir: Path, *args: str, check: bool = True) -> Done:
    """Run ``pys3local keys --config-dir DIR ARGS`` (the real command, in this process:
    a new interpreter per command would cost two seconds) and return what it did."""
    result = CliRunner().invoke(main, ["keys", "--config-dir", str(config_dir), *args])
    done = Done(result.exit_code, result.stdout, result.stderr)
    if check and done.returncode != 0:
        raise AssertionError(f"keys {args} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return done


def keys_process(config_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The same as a separate ``python -m pys3local keys`` process."""
    return run_command(
        [sys.executable, "-m", "pys3local", "keys", "--config-dir", str(config_dir), *args],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def add_key(config_dir: Path, name: str, *args: str) -> Key:
    """``keys add NAME ARGS``; the id and secret read from what it prints."""
    out = keys_command(config_dir, "add", name, *args).stdout
    key_id = re.search(r"^Access key id:\s+(\S+)", out, re.M)
    secret = re.search(r"^Secret access key:\s+(\S+)", out, re.M)
    assert key_id and secret, out
    return Key(name, key_id[1], secret[1], out)


def key_client(server: RunningServer, key: Key, **config: object) -> object:
    """A boto3 client signing with ``key``."""
    return dataclasses.replace(server, access_key=key.access_key_id, secret_key=key.secret).client(
        **config
    )


def error_code(call: object, **kwargs: object) -> str | None:
    """The S3 error code of a boto3 call, None when it succeeds."""
    try:
        call(**kwargs)  # type: ignore[operator]
    except ClientError as exc:
        return str(exc.response["Error"]["Code"])
    return None


def object_state(server: RunningServer, bucket: str) -> dict[str, bytes]:
    """Every object of ``bucket`` and its bytes, read with the serve key."""
    s3 = server.client()
    listing = s3.list_objects_v2(Bucket=bucket)  # type: ignore[attr-defined]
    return {
        item["Key"]: s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()  # type: ignore[attr-defined]
        for item in listing.get("Contents", [])
    }


@contextlib.contextmanager
def server_with_keys(
    tmp_path_factory: object, bucket: str, rights: dict[str, str], **create: object
) -> Iterator[tuple[RunningServer, dict[str, Key]]]:
    """An advanced-mode server whose keys (name to ``--allow`` rights) may use
    ``bucket``, created with ``create`` (CreateBucket arguments) by the serve key."""
    config_dir = tmp_path_factory.mktemp(f"{bucket}-keys")  # type: ignore[attr-defined]
    keys = {
        name: add_key(config_dir, name, "--bucket", bucket, "--allow", allowed)
        for name, allowed in rights.items()
    }
    data_dir = tmp_path_factory.mktemp(f"{bucket}-data")  # type: ignore[attr-defined]
    server = start_server(data_dir, "--allow-bucket-creation", "--config-dir", str(config_dir))
    try:
        server.client().create_bucket(Bucket=bucket, **create)  # type: ignore[attr-defined]
        yield server, keys
    finally:
        server.stop()
