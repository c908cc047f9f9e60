"""Running as a service: every ``serve`` option from a ``PYS3LOCAL_*`` variable, and
the systemd unit and environment file in ``contrib/systemd``."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import boto3
import click
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from click.testing import CliRunner
from conftest import _BANNER
from processes import run_command, spawned, stop_group
from reliability import wait_for

from pys3local.cli import main
from pys3local.cli.serve import serve

CONTRIB = Path(__file__).resolve().parents[1] / "contrib" / "systemd"
UNIT = CONTRIB / "pys3local.service"
ENV_FILE = CONTRIB / "pys3local.env.example"


def option_variables() -> dict[str, str]:
    """Option name -> its environment variable, as click will read it."""
    return {
        param.name: param.envvar
        for param in serve.params
        if isinstance(param, click.Option) and param.name
    }


def test_serve_every_option_has_its_environment_variable() -> None:
    """Each option of ``serve`` reads ``PYS3LOCAL_<NAME>``, and ``--help`` says so."""
    variables = option_variables()
    assert len(variables) >= 20
    for name, envvar in variables.items():
        assert envvar == f"PYS3LOCAL_{name.upper()}", name
    assert all(p.show_envvar for p in serve.params if isinstance(p, click.Option))
    shown = CliRunner().invoke(main, ["serve", "--help"], terminal_width=400).output
    for envvar in variables.values():
        assert f"env var: {envvar}" in shown, envvar


def test_serve_takes_its_settings_from_the_environment(tmp_path: Path) -> None:
    """A ``serve`` started with no options at all listens, authenticates and stores
    where its ``PYS3LOCAL_*`` variables say; the secret is not on its command line."""
    data = tmp_path / "data"
    env = {
        **os.environ,
        "PYS3LOCAL_LISTEN": "127.0.0.1:0",
        "PYS3LOCAL_PATH": str(data),
        "PYS3LOCAL_ACCESS_KEY_ID": "env-key",
        "PYS3LOCAL_SECRET_ACCESS_KEY": "env-secret-0123456789",
        "PYS3LOCAL_REGION": "eu-west-2",
        "PYS3LOCAL_ALLOW_BUCKET_CREATION": "true",
        "PYS3LOCAL_WORKERS": "2",
    }
    command = [sys.executable, "-m", "pys3local", "serve"]
    with spawned(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                 text=True) as process:  # fmt: skip
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)
        reader.start()
        assert wait_for(lambda: any(x.startswith("Workers:") for x in lines), 20, 0.05), lines
        text = "".join(lines)
        endpoint = _BANNER.search(text)
        assert endpoint, text
        assert "Bucket mode: advanced" in text and "Workers: 2" in text
        with open(f"/proc/{process.pid}/cmdline", "rb") as file:
            assert b"env-secret" not in file.read()

        def client(secret: str) -> object:
            return boto3.client(
                "s3",
                endpoint_url=endpoint[1].replace("localhost", "127.0.0.1"),
                aws_access_key_id="env-key",
                aws_secret_access_key=secret,
                region_name="eu-west-2",
                config=Config(retries={"max_attempts": 1}),
            )

        s3 = client("env-secret-0123456789")

        def answering() -> bool:
            try:
                s3.list_buckets()
            except Exception:
                return False
            return True

        assert wait_for(answering, timeout=20, interval=0.1)
        s3.create_bucket(Bucket="from-env")
        s3.put_object(Bucket="from-env", Key="k", Body=b"stored where PYS3LOCAL_PATH says")
        assert any(data.rglob("k")), sorted(data.rglob("*"))
        with pytest.raises(ClientError) as refused:
            client("another-secret").list_buckets()
        assert refused.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
        assert stop_group(process, signal.SIGTERM) in (0, -signal.SIGTERM)


def test_service_environment_file_names_only_serve_options() -> None:
    """Every ``PYS3LOCAL_*`` variable in the example environment file is one that
    ``serve`` reads (a misspelt name would be silently ignored)."""
    text = ENV_FILE.read_text()
    named = set(re.findall(r"^#?\s*(PYS3LOCAL_[A-Z_]+)=", text, re.MULTILINE))
    assert {"PYS3LOCAL_LISTEN", "PYS3LOCAL_ACCESS_KEY_ID", "PYS3LOCAL_SECRET_ACCESS_KEY",
            "PYS3LOCAL_PATH"} <= named  # fmt: skip
    assert named <= set(option_variables().values()), named - set(option_variables().values())


def test_service_unit_is_confined() -> None:
    """The unit runs as its own user, read-only system, writable data directory only,
    no new privileges, credentials from an environment file, workers stopped too."""
    settings: dict[str, str] = {}
    for line in UNIT.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.startswith("#"):
            settings[key.strip()] = value.strip()
    assert settings["User"] == "pys3local"
    assert settings["ProtectSystem"] == "strict"
    assert settings["NoNewPrivileges"] == "yes"
    assert settings["KillMode"] == "control-group"
    assert settings["EnvironmentFile"] == "/etc/pys3local/pys3local.env"
    assert settings["ReadWritePaths"].split() == ["/var/lib/pys3local", "/var/cache/pys3local"]
    assert settings["ExecStart"].endswith("pys3local serve")  # no option, no secret
    assert int(settings["TimeoutStopSec"]) > 30  # longer than the graceful shutdown


def test_service_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    """``systemd-analyze verify`` accepts the unit without a warning (its program
    path pointed at this installation, which verify checks exists)."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (systemd is not part of the test setup)")
    unit = tmp_path / "pys3local.service"
    text = UNIT.read_text()
    text = re.sub(r"^ExecStart=.*$", f"ExecStart={sys.executable} -m pys3local serve", text,
                  flags=re.MULTILINE)  # fmt: skip
    text = re.sub(r"^EnvironmentFile=.*$", f"EnvironmentFile={ENV_FILE}", text,
                  flags=re.MULTILINE)  # fmt: skip
    unit.write_text(text)
    result = run_command([analyze, "verify", unit], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "" and result.stdout.strip() == "", result.stderr
