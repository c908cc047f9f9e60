"""The small-object load: ``settings.connections`` keep-alive connections in one event
loop (uvloop when installed) doing 4 KiB PUT, GET or HEAD for a fixed window after a
warm-up, with every request's latency recorded (see benchmarks/README.md)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Protocol

import servers
from client import AsyncConnection, LatencyRecorder, Payload, SigV4Signer

BUCKET = "bench"


class LoadSettings(Protocol):
    connections: int
    duration: float
    warmup: float


@dataclass
class SmallResult:
    op: str
    ops: int
    seconds: float
    latencies: LatencyRecorder
    client_cpu_seconds: float
    keys_written: list[str] = field(default_factory=list)

    @property
    def ops_per_second(self) -> float:
        return self.ops / self.seconds if self.seconds else 0.0

    def figures(self) -> dict:
        """The raw figures of one round; fails the phase if over 1 % of requests did."""
        lat = self.latencies
        if lat.errors:
            print(f"      {lat.errors} errors; first: {lat.first_error}", flush=True)
            if lat.errors > max(10, self.ops // 100):
                raise RuntimeError(f"{lat.errors} failed requests; first: {lat.first_error}")
        return {
            "ops": self.ops,
            "seconds": self.seconds,
            "samples": lat.samples,
            "errors": lat.errors,
            "first_error": lat.first_error,
            "client_cpu_seconds": self.client_cpu_seconds,
        }


async def _small_phase(
    ports: tuple[int, ...],
    signer: SigV4Signer,
    op: str,
    keys: list[str],
    body: bytes,
    settings: LoadSettings,
    verify_body: bool,
    extra_headers: dict[str, str] | None,
    key_prefix: str,
    bucket: str,
    key_space: int | None,
) -> SmallResult:
    # "PUT_UNSIGNED": UNSIGNED-PAYLOAD and no Content-MD5 (boto3 over HTTPS, Go/JS SDKs).
    payload = Payload.unsigned(body) if op == "PUT_UNSIGNED" else Payload.of(body)
    recorder = LatencyRecorder()
    written: list[str] = []
    # Several ports (separate gateway processes): connection i goes to port i mod n.
    conns = [
        AsyncConnection(servers.HOST, ports[i % len(ports)], signer)
        for i in range(settings.connections)
    ]
    begin = time.perf_counter() + 0.05
    window_start = begin + settings.warmup
    window_end = window_start + settings.duration
    counted = 0
    perf = time.perf_counter

    async def worker(index: int, conn: AsyncConnection) -> None:
        nonlocal counted
        n = 0
        stride = settings.connections
        samples = recorder.samples
        while True:
            t0 = perf()
            if t0 >= window_end:
                return
            if op.startswith("PUT"):
                key = f"{key_prefix}c{index:02d}-{n % key_space if key_space else n:07d}"
                path = f"/{bucket}/{key}"
                response = await conn.request("PUT", path, body=body, payload=payload)
            else:
                key = keys[(index + n * stride) % len(keys)]
                response = await conn.request(op, f"/{bucket}/{key}", headers=extra_headers)
            t1 = perf()
            n += 1
            ok = response.status == 200
            if ok and op == "GET":
                ok = len(response.body) == len(body) and (not verify_body or response.body == body)
            if ok and op == "HEAD":
                ok = response.headers.get("content-length") == str(len(body))
            if not ok:
                recorder.errors += 1
                if recorder.first_error is None:
                    recorder.first_error = (
                        f"{op} {key}: HTTP {response.status} {response.body[:200]!r}"
                    )
                continue
            if op.startswith("PUT"):
                written.append(key)
            if window_start <= t1 <= window_end:
                counted += 1
                samples.append(t1 - t0)

    cpu = time.process_time()
    await asyncio.gather(*(worker(i, c) for i, c in enumerate(conns)))
    cpu = time.process_time() - cpu
    await asyncio.gather(*(c.close() for c in conns))
    return SmallResult(op, counted, settings.duration, recorder, cpu, written)


def _event_loop_runner() -> asyncio.Runner:
    try:
        import uvloop

        return asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:
        return asyncio.Runner()


def small_phase(
    port: int | tuple[int, ...],
    signer: SigV4Signer,
    op: str,
    keys: list[str],
    body: bytes,
    settings: LoadSettings,
    verify_body: bool = True,
    extra_headers: dict[str, str] | None = None,
    key_prefix: str = "small/",
    *,
    bucket: str = BUCKET,
    key_space: int | None = None,
) -> SmallResult:
    """``settings.connections`` connections doing ``op`` for ``settings.duration``
    seconds after a warm-up; PUT writes new keys (with ``key_space``, each connection
    cycles over that many keys: overwrites), GET and HEAD read ``keys``."""
    ports = (port,) if isinstance(port, int) else port
    with _event_loop_runner() as runner:
        return runner.run(
            _small_phase(
                ports,
                signer,
                op,
                keys,
                body,
                settings,
                verify_body,
                extra_headers,
                key_prefix,
                bucket,
                key_space,
            )
        )
