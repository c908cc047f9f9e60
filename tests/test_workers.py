"""`serve --workers N`: several processes on one port share all state through the store."""

from __future__ import annotations

import concurrent.futures
import errno
import hashlib
import ipaddress
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import RunningServer
from processes import run_command
from reliability import connect, pattern_block, read_response, request_head, sign, wait_for

from pys3local.runner import ListenAddress
from pys3local.shared_port import _overlap, foreign_listeners, listen_group

MiB = 1024 * 1024
_ACCESS = re.compile(r"\[(\d+)\] INFO pys3local\.access: .* [\d.]+ms (\w+)")


def served_by(server: RunningServer, operation: str) -> set[str]:
    """The worker pids whose access log shows ``operation``."""
    pids = set()
    for line in server.output:
        match = _ACCESS.search(line.strip())
        if match and match[2] == operation:
            pids.add(match[1])
    return pids


@pytest.fixture
def two_workers(make_server) -> RunningServer:
    return make_server("--workers", "2")


def test_multipart_parts_on_different_workers_complete(two_workers: RunningServer) -> None:
    """Parts uploaded through both workers assemble into one correct object."""
    s3 = two_workers.client()
    for _round in range(5):  # the kernel picks the worker; retry until both served parts
        upload_id = s3.create_multipart_upload(Bucket="default", Key="mp")["UploadId"]

        def upload(number: int, upload_id: str = upload_id) -> str:
            client = two_workers.client()
            body = bytes([number]) * (5 * MiB)
            return client.upload_part(
                Bucket="default", Key="mp", UploadId=upload_id, PartNumber=number, Body=body
            )["ETag"]

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            etags = list(pool.map(upload, range(1, 9)))
        s3.complete_multipart_upload(
            Bucket="default",
            Key="mp",
            UploadId=upload_id,
            MultipartUpload={
                "Parts": [{"PartNumber": i + 1, "ETag": e} for i, e in enumerate(etags)]
            },
        )
        time.sleep(0.2)
        if len(served_by(two_workers, "UploadPart")) == 2:
            break
    assert len(served_by(two_workers, "UploadPart")) == 2
    data = s3.get_object(Bucket="default", Key="mp")["Body"].read()
    assert data == b"".join(bytes([n]) * (5 * MiB) for n in range(1, 9))


def test_concurrent_overwrites_stay_atomic_across_workers(two_workers: RunningServer) -> None:
    bodies = [bytes([65 + i]) * (256 * 1024 + i) for i in range(12)]

    def put(body: bytes) -> str:
        return two_workers.client().put_object(Bucket="default", Key="race", Body=body)["ETag"]

    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        etags = set(pool.map(put, bodies))
    s3 = two_workers.client()
    got = s3.get_object(Bucket="default", Key="race")
    data = got["Body"].read()
    assert data in bodies
    assert got["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    assert got["ETag"] in etags
    assert s3.head_object(Bucket="default", Key="race")["ETag"] == got["ETag"]


def worker_pids(server: RunningServer) -> set[int]:
    """The supervisor's worker processes (not multiprocessing's resource tracker)."""
    children = f"/proc/{server.process.pid}/task/{server.process.pid}/children"
    with open(children) as file:
        pids = {int(pid) for pid in file.read().split()}
    workers = set()
    for pid in pids:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as file:
                command = file.read()
        except FileNotFoundError:
            continue
        if b"resource_tracker" not in command:
            workers.add(pid)
    return workers


def test_connections_spread_over_workers_and_a_dead_worker_is_replaced(
    two_workers: RunningServer,
) -> None:
    """Each worker listens with its own socket: eight fresh connections reach both.
    A worker killed with SIGKILL is replaced, and the server keeps answering; SIGTERM
    then stops the supervisor and every worker."""
    import os
    import signal

    assert wait_for(lambda: len(worker_pids(two_workers)) == 2, timeout=20, interval=0.1)
    first = worker_pids(two_workers)

    def both_serve() -> bool:
        # New clients, new connections; a worker still starting has no socket yet.
        for _ in range(4):
            two_workers.client().list_buckets()
        time.sleep(0.2)  # access lines are written in batches
        return len(served_by(two_workers, "ListBuckets")) == 2

    assert wait_for(both_serve, timeout=20, interval=0.1)
    victim = min(first)
    os.kill(victim, signal.SIGKILL)
    assert wait_for(
        lambda: len(worker_pids(two_workers)) == 2 and victim not in worker_pids(two_workers),
        timeout=20,
        interval=0.1,
    )
    s3 = two_workers.client()
    for number in range(6):
        s3.put_object(Bucket="default", Key=f"after-{number}", Body=b"x")
    assert {o["Key"] for o in s3.list_objects_v2(Bucket="default")["Contents"]} >= {
        f"after-{n}" for n in range(6)
    }
    workers = worker_pids(two_workers)
    two_workers.process.send_signal(signal.SIGTERM)
    assert two_workers.process.wait(timeout=60) == 0
    for pid in workers:
        assert not os.path.exists(f"/proc/{pid}"), f"worker {pid} outlived the server"


def test_PutObject_in_flight_completes_and_workers_exit_when_the_supervisor_is_killed(
    make_server,
) -> None:
    """SIGKILL of the supervisor: a PutObject in flight still completes, then every
    worker exits within seconds (none keeps serving the old settings)."""
    server = make_server("--workers", "2")
    assert wait_for(lambda: len(worker_pids(server)) == 2, timeout=20, interval=0.1)
    workers = worker_pids(server)
    body = pattern_block(b"in-flight", 2 * MiB)
    headers = sign(server, "PUT", "/default/in-flight", {}, body)
    with connect(server.port, timeout=30) as sock:
        sock.sendall(request_head("PUT", "/default/in-flight", headers, port=server.port,
                                  content_length=len(body)) + body[: MiB])  # fmt: skip
        time.sleep(0.5)  # the request is in its handler, waiting for the rest
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(10)
        time.sleep(1.5)  # the workers have noticed by now and are shutting down
        sock.sendall(body[MiB:])
        assert read_response(sock, "PUT").status == 200
    assert wait_for(
        lambda: not any(os.path.exists(f"/proc/{pid}") for pid in workers),
        timeout=10,
        interval=0.1,
    ), f"workers {workers} outlived their supervisor"
    check = make_server(data_dir=server.data_dir).client()
    assert check.get_object(Bucket="default", Key="in-flight")["Body"].read() == body


@pytest.mark.parametrize("first_workers", ["2", "1"], ids=["workers", "single"])
def test_serve_workers_refuses_a_port_another_server_listens_on(
    make_server, tmp_path: Path, first_workers: str
) -> None:
    """A second ``serve --workers`` on a port held by a running server (with workers,
    or a single process) fails with one line and a non-zero exit; the first server
    keeps every connection and its key."""
    first = make_server("--workers", first_workers)

    def serve(*options: str) -> subprocess.CompletedProcess[str]:
        return run_command(
            [sys.executable, "-m", "pys3local", "serve", *options,
             "--listen", f"127.0.0.1:{first.port}", "--path", str(tmp_path / "other"),
             "--access-key-id", "new-key", "--secret-access-key", "new-secret-key"],
            timeout=20, capture_output=True, text=True,
        )  # fmt: skip

    second = serve("--workers", "2")
    assert second.returncode != 0
    assert second.stderr.startswith(
        f"Error: cannot listen on 127.0.0.1:{first.port}: Address already in use"
    ), second.stderr
    assert second.stderr == serve().stderr  # what a single process says
    assert len(second.stderr.strip().splitlines()) == 1
    for _ in range(20):  # fresh connections: the kernel would spread them over a joiner
        assert first.client().list_buckets()["Buckets"]


def _reuseport_listener(port: int, host: str = "127.0.0.1") -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen()
    return sock


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not os.path.exists("/proc/net/tcp"), reason="needs /proc/net/tcp")
@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_listen_group_sees_a_server_that_joined_the_port_in_the_meantime(host: str) -> None:
    """The check after the reuse-port sockets exist finds a listener of another
    server that slipped onto the port between the probe and the bind (the race)."""
    if ":" in host and not _has_ipv6_loopback():
        pytest.skip("no IPv6 loopback")
    group = listen_group(ListenAddress(host, 0), 2)
    try:
        assert foreign_listeners(group) == []
        port = group[0].getsockname()[1]
        with _reuseport_listener(port, host) as intruder:
            assert foreign_listeners(group) == [os.fstat(intruder.fileno()).st_ino]
            with pytest.raises(OSError) as refused:  # and a newcomer is refused
                listen_group(ListenAddress(host, port), 2)
            assert refused.value.errno == errno.EADDRINUSE
    finally:
        for sock in group:
            sock.close()


@pytest.mark.parametrize(
    ("ours", "theirs", "shared"),
    [
        ("127.0.0.1", "127.0.0.1", True),
        ("127.0.0.1", "0.0.0.0", True),
        ("0.0.0.0", "127.0.0.2", True),
        ("127.0.0.1", "127.0.0.2", False),
        ("0.0.0.0", "::1", False),  # IPv4 and IPv6 loopback: different connections
        ("127.0.0.1", "::", True),  # a dual-stack wildcard takes IPv4 too
        ("::", "127.0.0.1", True),
        ("::1", "::1", True),
        ("::1", "::", True),
    ],
)
def test_listen_group_counts_listeners_that_could_take_its_connections(
    ours: str, theirs: str, shared: bool
) -> None:
    """Only a listener whose address overlaps ours counts as holding the port."""
    assert _overlap(ipaddress.ip_address(ours), ipaddress.ip_address(theirs)) is shared
