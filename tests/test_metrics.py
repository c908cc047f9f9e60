"""``serve --metrics-listen``: Prometheus figures that move with real boto3 traffic,
summed over ``--workers``, and the health endpoints, scraped from a real server with
prometheus_client's own text-format parser."""

from __future__ import annotations

import os
import re
import signal
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from botocore.exceptions import ClientError
from conftest import RunningServer, start_server
from fake_drime import FakeDrime
from processes import run_command
from prometheus_client.parser import text_string_to_metric_families

_METRICS = re.compile(r"Metrics at (http://[^/\s]+)/metrics")
_PID = re.compile(r"\[(\d+)\] INFO pys3local\.access: ")

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def metrics_url(server: RunningServer, timeout: float = 10) -> str:
    """The listener's base URL, as the banner prints it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in list(server.output):
            match = _METRICS.search(line)
            if match:
                return match[1].replace("localhost", "127.0.0.1")
        time.sleep(0.05)
    raise AssertionError("no metrics line in the banner:\n" + "".join(server.output))


def scrape(url: str) -> Samples:
    """Every sample of ``/metrics``, by name and labels."""
    response = httpx.get(url + "/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples that carry ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def wait_for_value(url: str, name: str, expected: float, timeout: float = 20) -> Samples:
    deadline = time.monotonic() + timeout
    while True:
        samples = scrape(url)
        if value(samples, name) == expected or time.monotonic() > deadline:
            return samples
        time.sleep(0.2)


@pytest.fixture
def metered(tmp_path: Path) -> Iterator[RunningServer]:
    server = start_server(tmp_path / "data", "--metrics-listen", "127.0.0.1:0")
    try:
        yield server
    finally:
        server.stop()


def test_PutObject_GetObject_HeadObject_are_counted(metered: RunningServer) -> None:
    """Requests by operation and status, bytes in and out and the latency histogram
    move exactly with the traffic a boto3 client sends."""
    url = metrics_url(metered)
    s3 = metered.client()
    before = scrape(url)
    sizes = {"a": 1000, "b": 20_000, "c": 300_000}
    for key, size in sizes.items():
        s3.put_object(Bucket="default", Key=key, Body=os.urandom(size))
    got = sum(len(s3.get_object(Bucket="default", Key=k)["Body"].read()) for k in ("a", "c"))
    for _ in range(4):
        s3.head_object(Bucket="default", Key="b")
    after = scrape(url)

    assert (
        delta(before, after, "pys3local_requests_total", operation="PutObject", status="200") == 3
    )
    assert (
        delta(before, after, "pys3local_requests_total", operation="GetObject", status="200") == 2
    )
    assert (
        delta(before, after, "pys3local_requests_total", operation="HeadObject", status="200") == 4
    )
    assert delta(before, after, "pys3local_received_bytes_total", operation="PutObject") == sum(
        sizes.values()
    )
    assert delta(before, after, "pys3local_sent_bytes_total", operation="GetObject") == got
    assert delta(before, after, "pys3local_sent_bytes_total", operation="HeadObject") == 0
    count = "pys3local_request_duration_seconds_count"
    assert delta(before, after, count, operation="PutObject") == 3
    assert delta(before, after, count, operation="HeadObject") == 4
    inf_bucket = delta(
        before, after, "pys3local_request_duration_seconds_bucket", operation="PutObject", le="+Inf"
    )
    assert inf_bucket == 3
    assert delta(before, after, "pys3local_request_duration_seconds_sum", operation="PutObject") > 0
    assert value(after, "pys3local_requests_in_flight") == 0
    # The local backend knows its filesystem.
    assert value(after, "pys3local_storage_total_bytes") > 0
    assert (
        0
        < value(after, "pys3local_storage_used_bytes")
        <= value(after, "pys3local_storage_total_bytes")
    )


def test_GetObject_errors_are_counted_by_status_and_code(metered: RunningServer) -> None:
    """A missing key counts as a 404 with its S3 error code, a bad signature as 403."""
    url = metrics_url(metered)
    s3 = metered.client(retries={"total_max_attempts": 1})
    before = scrape(url)
    with pytest.raises(ClientError):
        s3.get_object(Bucket="default", Key="missing")
    with pytest.raises(ClientError):
        s3.head_object(Bucket="default", Key="missing")
    metered.secret_key = "wrong-secret"
    with pytest.raises(ClientError):
        metered.client(retries={"total_max_attempts": 1}).get_object(
            Bucket="default", Key="missing"
        )
    after = scrape(url)

    requests = "pys3local_requests_total"
    assert delta(before, after, requests, operation="GetObject", status="404") == 1
    assert delta(before, after, requests, operation="HeadObject", status="404") == 1
    assert delta(before, after, requests, operation="GetObject", status="403") == 1
    errors = "pys3local_request_errors_total"
    assert delta(before, after, errors, operation="GetObject", code="NoSuchKey") == 1
    assert delta(before, after, errors, operation="HeadObject", code="NoSuchKey") == 1
    assert delta(before, after, errors, operation="GetObject", code="SignatureDoesNotMatch") == 1
    assert delta(before, after, requests) == 3


def test_healthz_and_readyz_answer_on_the_metrics_listener(metered: RunningServer) -> None:
    """/healthz says the process lives, /readyz that its backend is open and answers;
    the S3 port knows neither, and the listener serves nothing else."""
    url = metrics_url(metered)
    assert httpx.get(url + "/healthz").status_code == 200
    samples = wait_for_value(url, "pys3local_ready_processes", 1)
    assert value(samples, "pys3local_ready_processes") == 1
    ready = httpx.get(url + "/readyz")
    assert (ready.status_code, ready.text.strip()) == (200, "ready")
    assert httpx.head(url + "/readyz").status_code == 200
    assert httpx.get(url + "/other").status_code == 404
    assert httpx.post(url + "/metrics").status_code == 405
    # The S3 listener treats the same paths as buckets (and wants a signature).
    assert httpx.get(metered.endpoint + "/healthz").status_code == 403


def test_metrics_are_off_by_default(tmp_path: Path) -> None:
    """Without --metrics-listen the banner names no metrics listener."""
    server = start_server(tmp_path / "data")
    try:
        time.sleep(0.5)
        assert not any("Metrics at" in line for line in server.output)
    finally:
        server.stop()


def _worker_pids(server: RunningServer) -> set[str]:
    return {m[1] for line in list(server.output) if (m := _PID.search(line))}


def test_HeadObject_counts_add_up_over_workers(tmp_path: Path) -> None:
    """With --workers 2 the supervisor's listener shows the sum over both workers:
    exactly the requests made, also after a worker is killed and replaced (its counts
    stay, its in-flight and readiness figures go); the figure files go at exit."""
    server = start_server(tmp_path / "data", "--workers", "2", "--metrics-listen", "127.0.0.1:0")
    try:
        url = metrics_url(server)
        assert (
            value(wait_for_value(url, "pys3local_ready_processes", 2), "pys3local_ready_processes")
            == 2
        )
        assert httpx.get(url + "/readyz").status_code == 200
        before = scrape(url)
        server.client().put_object(Bucket="default", Key="k", Body=b"x" * 5000)
        heads = 0
        for _round in range(10):  # the kernel picks the worker of each connection
            for _ in range(10):
                server.client().head_object(Bucket="default", Key="k")  # a new connection
                heads += 1
            time.sleep(0.2)  # access lines arrive through a pipe
            if len(_worker_pids(server)) == 2:
                break
        pids = _worker_pids(server)
        assert len(pids) == 2, "both workers should have served"
        after = scrape(url)
        requests = "pys3local_requests_total"
        assert delta(before, after, requests, operation="HeadObject", status="200") == heads
        assert delta(before, after, requests, operation="PutObject", status="200") == 1
        assert delta(before, after, requests) == heads + 1
        assert delta(before, after, "pys3local_received_bytes_total", operation="PutObject") == 5000
        assert value(after, "pys3local_requests_in_flight") == 0
        assert value(after, "pys3local_processes") == 2
        assert value(after, "pys3local_storage_total_bytes") > 0

        environ = Path(f"/proc/{min(pids)}/environ").read_bytes().split(b"\0")
        directory = next(
            Path(e.split(b"=", 1)[1].decode())
            for e in environ
            if e.startswith(b"PYS3LOCAL_WORKER_METRICS_DIR=")
        )
        assert directory.is_dir()

        dead = min(pids)
        os.kill(int(dead), signal.SIGKILL)
        # Replaced: the dead worker's live-only figures are dropped (not summed with
        # the replacement's), its counts stay in the totals.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            time.sleep(0.5)
            live_files = {f.name for f in directory.glob("gauge_livesum_*.db")}
            samples = scrape(url)
            if (
                f"gauge_livesum_{dead}.db" not in live_files
                and len(live_files) == 2
                and value(samples, "pys3local_ready_processes") == 2
                and httpx.get(url + "/readyz").status_code == 200
            ):
                break
        assert f"gauge_livesum_{dead}.db" not in live_files
        assert len(live_files) == 2, live_files
        assert value(samples, "pys3local_ready_processes") == 2
        assert delta(before, samples, requests) == heads + 1
    finally:
        assert server.stop() == 0
    assert not directory.exists()


@pytest.fixture
def fake() -> Iterator[FakeDrime]:
    with FakeDrime() as server:
        yield server


def test_PutObject_on_drime_counts_backend_retries_and_errors(
    fake: FakeDrime, tmp_path: Path
) -> None:
    """The Drime transport's retries and failures reach the backend counters: a 429
    retried once, then a rate limit that outlasts every retry (SlowDown, a 503)."""
    env = {
        "DRIME_API_KEY": fake.api_key,
        "DRIME_API_URL": fake.api_url,
        "DRIME_WORKSPACE_ID": "0",
    }
    server = start_server(
        tmp_path,
        "--backend", "drime", "--root-folder", "backups/s3",
        "--cache-db", str(tmp_path / "cache.db"),
        "--metrics-listen", "127.0.0.1:0",
        env=env,
    )  # fmt: skip
    try:
        url = metrics_url(server)
        s3 = server.client(retries={"total_max_attempts": 1})
        s3.put_object(Bucket="default", Key="warm", Body=b"w")
        before = scrape(url)
        fake.fault("status", status=429, retry_after="0", times=1)
        s3.put_object(Bucket="default", Key="k", Body=b"data")
        middle = scrape(url)
        retries = "pys3local_backend_retries_total"
        assert delta(before, middle, retries, backend="drime", reason="429") == 1
        fake.fault("status", status=429, retry_after="0", times=100)
        with pytest.raises(ClientError):
            s3.put_object(Bucket="default", Key="k2", Body=b"data")
        fake.clear_faults()
        after = scrape(url)
        errors = "pys3local_backend_errors_total"
        assert delta(middle, after, errors, backend="drime", reason="rate_limited") >= 1
        assert delta(middle, after, retries, backend="drime", reason="429") >= 1
        assert (
            delta(middle, after, "pys3local_requests_total", operation="PutObject", status="503")
            == 1
        )
    finally:
        server.stop()


def test_metrics_listen_from_the_environment(tmp_path: Path) -> None:
    """PYS3LOCAL_METRICS_LISTEN turns the listener on like the option."""
    server = start_server(tmp_path / "data", env={"PYS3LOCAL_METRICS_LISTEN": "127.0.0.1:0"})
    try:
        assert httpx.get(metrics_url(server) + "/healthz").status_code == 200
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("value", "status", "says"),
    [("127.0.0.1:99999", 2, "invalid port"), ("busy", 1, "for metrics")],
)
def test_bad_metrics_listen_is_one_line(tmp_path: Path, value: str, status: int, says: str) -> None:
    """A bad or busy --metrics-listen is one Error line and a non-zero exit, before
    anything is announced."""
    with socket.create_server(("127.0.0.1", 0)) as busy:
        if value == "busy":
            value = f"127.0.0.1:{busy.getsockname()[1]}"
        result = run_command(
            [sys.executable, "-m", "pys3local", "serve", "--path", str(tmp_path / "d"),
             "--listen", "127.0.0.1:0", "--metrics-listen", value],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert result.returncode == status, result.stderr
    assert len(errors) == 1 and says in errors[0], result.stderr
    assert "Traceback" not in result.stderr
    assert "Starting S3 server" not in result.stdout


def test_metrics_off_imports_no_metrics_library() -> None:
    """Without --metrics-listen the server's modules load neither prometheus_client
    nor pys3local.metrics."""
    code = (
        "import sys, pys3local.cli.serve, pys3local.app_factory, pys3local.workers, "
        "pys3local.providers.drime.transport; "
        "print(sorted(m for m in sys.modules "
        "if m.startswith(('prometheus_client', 'pys3local.metrics.'))))"
    )
    result = run_command([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
