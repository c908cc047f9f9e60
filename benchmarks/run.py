"""pys3local vs ``rclone serve s3``: one command, same run, same machine.

    python benchmarks/run.py [--quick] [--workers N] [--out benchmarks/results]

Starts the servers side by side on 127.0.0.1 (pys3local with its defaults: local
backend, auth on, fsync on; ``rclone serve s3`` on a plain directory;
``pys3local serve --workers N`` for the small-object rows), runs each phase on each
server in turn (ABBA order over the rounds) with the client in :mod:`client`, and
prints every figure for both and their ratio. Ratios are the result: absolute
numbers on a shared 2-core machine move by tens of percent from run to run. A
trivial ASGI app is measured first, to show the client's ceiling.

See benchmarks/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import base64
import html
import json
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import profiling
import report
import servers
import upstream
import versions
from client import (
    BlockingConnection,
    FileSlice,
    HTTPError,
    Payload,
    SigV4Signer,
    encode_query,
)
from client import checked as _check
from listing import LIST_BUCKET, list_keys, listing_prefixes, timed_passes, write_listing_keys
from small import BUCKET, small_phase

MiB = 1024 * 1024


@dataclass
class Settings:
    quick: bool
    object_size: int
    part_size: int = 8 * MiB
    part_parallel: int = 4
    small_size: int = 4096
    connections: int = 16
    duration: float = 8.0
    warmup: float = 1.0
    range_length: int = 8 * MiB
    list_sizes: tuple[int, ...] = (10_000, 100_000)
    list_page: int = 1000
    workers: int = 2
    #: Each phase runs this many times per server, alternating the server order
    #: (ABBA), so that a change in the machine's load affects both servers alike.
    rounds: int = 2
    #: Transfers per round in the bulk phases (1 GiB PUT, GET, multipart PUT).
    bulk_runs: int = 2
    servers: tuple[str, ...] = ("trivial", "pys3local", "rclone", "workers")
    profile_dir: Path | None = None
    profile_args: tuple[str, ...] = ()
    #: Phases to run (None: all); GET/HEAD/list_api need the PUT phases before them.
    only_phases: tuple[str, ...] | None = None


# --------------------------------------------------------------------------- the data


@dataclass
class SourceObject:
    """The large object: a file of random bytes and its digests (whole and per part)."""

    path: Path
    size: int
    payload: Payload
    parts: list[Payload]
    part_size: int


def make_source(workdir: Path, size: int, part_size: int) -> SourceObject:
    path = workdir / f"source-{size}.bin"
    with open(path, "wb") as f:
        left = size
        while left:
            block = os.urandom(min(8 * MiB, left))
            f.write(block)
            left -= len(block)
    payload = Payload.of_file(str(path))
    parts = [
        Payload.of_file(str(path), offset, min(part_size, size - offset))
        for offset in range(0, size, part_size)
    ]
    return SourceObject(path, size, payload, parts, part_size)


# --------------------------------------------------------------------------- bulk


def put_large(
    conn: BlockingConnection, key: str, src: SourceObject, check_etag: bool = True
) -> float:
    with open(src.path, "rb") as f:
        started = time.perf_counter()
        response = conn.request(
            "PUT", f"/{BUCKET}/{key}", body=FileSlice(f, 0, src.size), payload=src.payload
        )
        elapsed = time.perf_counter() - started
    _check(response, "PUT large object")
    expected = base64.b64decode(src.payload.md5_b64 or "").hex()
    if check_etag and response.headers.get("etag", "").strip('"') != expected:
        raise RuntimeError(f"PUT ETag {response.headers.get('etag')} is not the MD5 {expected}")
    return elapsed


class SampledVerifier:
    """Compares a few 4 KiB windows of a downloaded body with the source file, at
    almost no cost to the client (the whole body is not hashed)."""

    def __init__(self, src: SourceObject, start: int, length: int, windows: int = 16) -> None:
        step = max(1, length // windows)
        self._start = start
        self._windows = {
            min(i * step + 4093, max(0, length - 4096)): bytearray(min(4096, length))
            for i in range(windows)
        }
        self._src = src

    def sink(self, piece: memoryview, offset: int) -> None:
        end = offset + len(piece)
        for at, window in self._windows.items():
            lo, hi = max(at, offset), min(at + len(window), end)
            if lo < hi:
                window[lo - at : hi - at] = piece[lo - offset : hi - offset]

    def ok(self) -> bool:
        with open(self._src.path, "rb") as f:
            for at, window in self._windows.items():
                if os.pread(f.fileno(), len(window), self._start + at) != bytes(window):
                    return False
        return True


def get_large(
    conn: BlockingConnection,
    key: str,
    src: SourceObject,
    headers: dict[str, str] | None = None,
    verify: bool = True,
) -> float:
    verifier = SampledVerifier(src, 0, src.size)
    started = time.perf_counter()
    response = conn.request("GET", f"/{BUCKET}/{key}", headers=headers, sink=verifier.sink)
    elapsed = time.perf_counter() - started
    _check(response, "GET large object")
    if response.received != src.size:
        raise RuntimeError(f"GET returned {response.received} bytes, expected {src.size}")
    if verify and not verifier.ok():
        raise RuntimeError("GET returned wrong bytes")
    return elapsed


def range_get(conn: BlockingConnection, key: str, src: SourceObject, length: int) -> dict:
    start = src.size // 3 + 12345
    last = min(src.size, start + length) - 1
    started = time.perf_counter()
    response = conn.request("GET", f"/{BUCKET}/{key}", headers={"range": f"bytes={start}-{last}"})
    elapsed = time.perf_counter() - started
    with open(src.path, "rb") as f:
        expected = os.pread(f.fileno(), last - start + 1, start)
    content_range = response.headers.get("content-range", "")
    if response.status not in (200, 206) or response.body != expected:
        raise RuntimeError(
            f"Range GET: status {response.status}, content-range {content_range!r}, "
            f"{len(response.body)} bytes, bytes equal: {response.body == expected}"
        )
    # The status is recorded, not required: the target (206) applies to pys3local.
    exact = response.body == expected and content_range == f"bytes {start}-{last}/{src.size}"
    return {
        "seconds": elapsed,
        "range": f"bytes={start}-{last}",
        "status": response.status,
        "exact": exact,
    }


def multipart_put(port: int, signer: SigV4Signer, key: str, src: SourceObject, parallel: int):
    path = f"/{BUCKET}/{key}"
    first = BlockingConnection(servers.HOST, port, signer)
    started = time.perf_counter()
    created = _check(first.request("POST", path, encode_query({"uploads": ""})), "Create MPU")
    upload_id = html.unescape(re.search(rb"<UploadId>(.*?)</UploadId>", created.body)[1].decode())
    numbers = iter(range(1, len(src.parts) + 1))
    lock = threading.Lock()
    etags: dict[int, str] = {}

    def uploader(conn: BlockingConnection) -> None:
        with open(src.path, "rb") as f:
            while True:
                with lock:
                    number = next(numbers, None)
                if number is None:
                    return
                part = src.parts[number - 1]
                offset = (number - 1) * src.part_size
                query = encode_query({"partNumber": str(number), "uploadId": upload_id})
                response = conn.request(
                    "PUT", path, query, body=FileSlice(f, offset, part.length), payload=part
                )
                etags[number] = _check(response, f"UploadPart {number}").headers["etag"]

    conns = [first] + [BlockingConnection(servers.HOST, port, signer) for _ in range(parallel - 1)]
    with ThreadPoolExecutor(parallel) as pool:
        for future in [pool.submit(uploader, conn) for conn in conns]:
            future.result()
    body = "<CompleteMultipartUpload>" + "".join(
        f"<Part><PartNumber>{n}</PartNumber><ETag>{html.escape(etags[n])}</ETag></Part>"
        for n in sorted(etags)
    )
    body += "</CompleteMultipartUpload>"
    data = body.encode()
    done = first.request("POST", path, encode_query({"uploadId": upload_id}), body=data)
    _check(done, "CompleteMultipartUpload")
    if b"<Error>" in done.body:  # S3 may report a failed Complete inside a 200
        raise HTTPError(done, "CompleteMultipartUpload")
    elapsed = time.perf_counter() - started
    for conn in conns:
        conn.close()
    return elapsed


# --------------------------------------------------------------------------- one server


class ServerBench:
    """The phases against one running server.

    Each phase may run once per round; :meth:`summary` merges the rounds.
    """

    def __init__(
        self, kind: str, server: servers.Server, settings: Settings, src: SourceObject
    ) -> None:
        self.kind = kind
        self.server = server
        self.settings = settings
        self.src = src
        self.signer = SigV4Signer(servers.ACCESS_KEY, servers.SECRET_KEY)
        self.monitor = servers.ProcessMonitor(getattr(server, "pids", server.pid))
        #: Other processes whose CPU each phase records (the SeaweedFS cluster).
        self.cluster_pids: list[int] = []
        self.rounds: dict[str, list[dict]] = {}
        self.errors: dict[str, str] = {}
        self.small_keys: list[str] = []
        self.body = random.Random(7).randbytes(settings.small_size)

    @property
    def name(self) -> str:
        return self.server.name

    def conn(self) -> BlockingConnection:
        return BlockingConnection(servers.HOST, self.server.port, self.signer)

    def create_bucket(self, bucket: str) -> None:
        conn = self.conn()
        _check(conn.request("PUT", f"/{bucket}"), f"CreateBucket {bucket}", 200, 409)
        conn.close()

    def applies(self, phase: str) -> bool:
        if versions.is_phase(phase):
            return versions.applies(self.kind, phase)
        if self.kind in upstream.KINDS:
            return upstream.applies(self.kind, phase)
        return self.kind != "workers" or phase.startswith("small_")

    def run(self, phase: str, round_index: int) -> None:
        """Run one round of a phase with RSS/CPU accounting (and py-spy with --profile)."""
        if phase in self.errors:
            return  # it failed in an earlier round
        os.sync()  # earlier writeback must not land in this phase's time
        label = f"{self.kind}-{phase}-r{round_index}"
        profile_dir = (
            self.settings.profile_dir if self.kind not in ("rclone", upstream.SEAWEED) else None
        )
        profiler = profiling.Profiler(
            profile_dir, self.server.pid, label, self.settings.profile_args
        )
        client_cpu = time.process_time()
        cluster_cpu = sum(servers._cpu_seconds(p) for p in self.cluster_pids)
        try:
            with self.monitor.phase() as usage:
                raw = self._handler(phase)(phase, round_index)
        except Exception as exc:  # a failing phase is reported, the run goes on
            error = f"{type(exc).__name__}: {exc}"
            if self.server.process.poll() is not None:
                error += f" (server exited: {self.server.output()[-2000:]})"
            self.errors[phase] = error
            print(f"    {self.name:<22} {phase}: FAILED {error}", flush=True)
            return
        finally:
            profiler.stop()
        raw.setdefault("client_cpu_seconds", time.process_time() - client_cpu)
        raw["peak_rss_bytes"] = usage.peak_rss_bytes
        raw["server_cpu_seconds"] = usage.cpu_seconds
        raw["wall_seconds"] = usage.wall_seconds
        if self.cluster_pids:
            raw["cluster_cpu_seconds"] = (
                sum(servers._cpu_seconds(p) for p in self.cluster_pids) - cluster_cpu
            )
        self.rounds.setdefault(phase, []).append(raw)
        print(
            f"    {self.name:<22} {phase} (round {round_index + 1}): "
            f"{report.describe_phase(merge_rounds(phase, [raw], self.src.size))}",
            flush=True,
        )

    # ------------------------------------------------------------------ phases

    def _bulk_runs(self, run_once: Callable[[], float]) -> dict:
        runs = []
        for _ in range(self.settings.bulk_runs):
            os.sync()
            runs.append(run_once())
        return {"seconds": runs, "ops": len(runs) * self.src.size / MiB}

    def _put_large(self, phase: str, round_index: int) -> dict:
        conn = self.conn()
        result = self._bulk_runs(lambda: put_large(conn, "big", self.src))
        conn.close()
        return result

    def _get_large(self, phase: str, round_index: int) -> dict:
        conn = self.conn()
        result = self._bulk_runs(lambda: get_large(conn, "big", self.src))
        conn.close()
        return result

    def _range_get(self, phase: str, round_index: int) -> dict:
        conn = self.conn()
        result = range_get(conn, "big", self.src, self.settings.range_length)
        conn.close()
        return {**result, "ops": 1}

    def _multipart_put(self, phase: str, round_index: int) -> dict:
        result = self._bulk_runs(
            lambda: multipart_put(
                self.server.port, self.signer, "big-mp", self.src, self.settings.part_parallel
            )
        )
        conn = self.conn()
        head = _check(conn.request("HEAD", f"/{BUCKET}/big-mp"), "HEAD after multipart")
        conn.close()
        if head.headers.get("content-length") != str(self.src.size):
            raise RuntimeError(f"multipart object has {head.headers.get('content-length')} bytes")
        return result

    def _small(self, phase: str, round_index: int) -> dict:
        op = phase.removeprefix("small_").upper()
        result = small_phase(
            getattr(self.server, "ports", (self.server.port,)),
            self.signer,
            op,
            self.small_keys,
            self.body,
            self.settings,
            # Each PUT phase starts in a directory of its own: rclone's PUT slows down
            # as the directory it writes into grows.
            key_prefix=f"small/{'unsigned/' if op == 'PUT_UNSIGNED' else ''}r{round_index}",
        )
        if op.startswith("PUT"):
            self.small_keys.extend(result.keys_written)
            random.Random(11).shuffle(self.small_keys)
        return result.figures()

    def _list(self, phase: str, round_index: int) -> dict:
        if phase == "list_api":
            bucket, prefixes, expected = BUCKET, ["small/"], len(set(self.small_keys))
        else:
            count = int(phase.removeprefix("list_"))
            bucket, expected = LIST_BUCKET, count
            prefixes = listing_prefixes(count, self.settings.list_sizes)
        conn = self.conn()
        # Round 1 lists twice: a first pass right after the server started (its caches
        # cold, the page cache warm) and a repeat; later rounds are repeats. A pass
        # lists every prefix of the phase.
        passes = 2 if round_index == 0 and self.settings.rounds == 1 else 1
        raw = timed_passes(
            conn, list_keys, bucket, prefixes, expected, self.settings.list_page, passes
        )
        conn.close()
        return {**raw, "first": round_index == 0}

    def _handler(self, phase: str) -> Callable[[str, int], dict]:
        if versions.is_phase(phase):
            return lambda phase, round_index: versions.run_phase(self, phase, round_index)
        if phase.startswith("list_"):
            return self._list
        if phase.startswith("small_"):
            return self._small
        return getattr(self, f"_{phase}")

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"command": " ".join(self.server.command)}
        for phase, error in self.errors.items():
            out[phase] = {"error": error}
        for phase, rounds in self.rounds.items():
            if phase not in self.errors:
                out[phase] = merge_rounds(phase, rounds, self.src.size)
        return out

    def close(self) -> None:
        self.monitor.close()
        self.server.stop()


def merge_rounds(phase: str, rounds: list[dict], object_size: int) -> dict:
    """One figure per phase from its rounds (medians of the bulk transfers, totals
    otherwise; with the ABBA order, drift in the machine load hits both servers alike)."""
    ops = sum(r["ops"] for r in rounds)
    cpu = sum(r["server_cpu_seconds"] for r in rounds)
    wall = sum(r["wall_seconds"] for r in rounds)
    out: dict[str, Any] = {
        "rounds": len(rounds),
        "peak_rss_mib": max(r["peak_rss_bytes"] for r in rounds) / MiB,
        "server_cpu_seconds": cpu,
        "client_cpu_seconds": sum(r["client_cpu_seconds"] for r in rounds),
        "cluster_cpu_seconds": sum(r.get("cluster_cpu_seconds", 0.0) for r in rounds),
        "wall_seconds": wall,
        "ops": ops,
        "server_cpu_ms_per_op": cpu / ops * 1000 if ops else None,
        "op_unit": "MiB" if phase in ("put_large", "get_large", "multipart_put") else "request",
    }
    if phase in ("put_large", "get_large", "multipart_put"):
        runs = [t for r in rounds for t in r["seconds"]]
        out["runs_seconds"] = runs
        # The median: one run slowed by other work on the machine does not move it.
        ordered = sorted(runs)
        middle = len(ordered) // 2
        out["seconds"] = (
            ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
        )
        out["mb_per_s"] = object_size / out["seconds"] / 1e6
    elif phase == "range_get":
        out.update({k: rounds[0][k] for k in ("range", "status", "exact")})
        out["statuses"] = [r["status"] for r in rounds]
        out["exact"] = all(r["exact"] for r in rounds)
        out["seconds"] = sum(r["seconds"] for r in rounds) / len(rounds)
    elif phase.startswith("small_") or phase in versions.PUT_PHASES:
        samples = sorted(s for r in rounds for s in r["samples"])
        seconds = sum(r["seconds"] for r in rounds)
        out["ops_per_s"] = ops / seconds if seconds else 0.0
        out["p50_ms"] = _percentile(samples, 0.50) * 1000
        out["p99_ms"] = _percentile(samples, 0.99) * 1000
        out["errors"] = sum(r["errors"] for r in rounds)
        out["first_error"] = next((r["first_error"] for r in rounds if r["first_error"]), None)
    else:  # listing
        keys = rounds[0]["keys"]
        first = [r["passes"][0] for r in rounds if r["first"]]
        repeats = [p for r in rounds for p in (r["passes"][1:] if r["first"] else r["passes"])]
        out["keys"] = keys
        pages = sorted(s for r in rounds for s in r.get("page_seconds", ()))
        if pages:  # every page of every pass
            out["p50_ms"] = _percentile(pages, 0.50) * 1000
            out["p99_ms"] = _percentile(pages, 0.99) * 1000
        if first:
            out["seconds"] = first[0]
            out["keys_per_s"] = keys / first[0]
        if repeats:
            out["repeat_seconds"] = sum(repeats) / len(repeats)
            out["repeat_keys_per_s"] = keys / out["repeat_seconds"]
    return out


def _percentile(ordered: list[float], fraction: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


# --------------------------------------------------------------------------- orchestration


def bench_trivial(workdir: Path, settings: Settings, src: SourceObject) -> dict:
    """The client against an app that does nothing: the ceiling of what it can measure."""
    server = servers.start_trivial(workdir / "trivial")
    try:
        signer = SigV4Signer(servers.ACCESS_KEY, servers.SECRET_KEY)
        conn = BlockingConnection(servers.HOST, server.port, signer)
        out: dict[str, Any] = {}
        put_time = min(put_large(conn, "big", src, check_etag=False) for _ in range(2))
        size_header = {"x-size": str(src.size)}
        get_time = min(
            get_large(conn, "big", src, headers=size_header, verify=False) for _ in range(2)
        )
        conn.close()
        out["put_large_mb_per_s"] = src.size / put_time / 1e6
        out["get_large_mb_per_s"] = src.size / get_time / 1e6
        short = Settings(**{**asdict(settings), "duration": min(settings.duration, 5.0)})
        body = b"\x5a" * settings.small_size
        for op in ("PUT", "PUT_UNSIGNED", "GET", "HEAD"):
            result = small_phase(server.port, signer, op, ["k"], body, short, verify_body=False)
            out[f"small_{op.lower()}_ops_per_s"] = result.ops_per_second
            out[f"small_{op.lower()}_client_cpu_pct"] = (
                100 * result.client_cpu_seconds / (short.duration + short.warmup)
            )
        return out
    finally:
        server.stop()


def bench_head_floor(workdir: Path, settings: Settings) -> dict:
    """HEAD against pys3local's HTTP stack in ``settings.workers`` processes, answering
    without storage: first the HTTP layer alone, then with the request parsed and its
    signature checked. The CPU these leave for the rest of a request is what
    ``--workers`` can spend on storage, headers and the access log."""
    out: dict[str, Any] = {"processes": settings.workers}
    signer = SigV4Signer(servers.ACCESS_KEY, servers.SECRET_KEY)
    body = b"\x5a" * settings.small_size
    short = Settings(**{**asdict(settings), "duration": min(settings.duration, 5.0)})
    for check, name in ((False, "http"), (True, "signed")):
        server = servers.start_head_floor(
            workdir / f"floor-{name}",
            processes=settings.workers,
            check_signatures=check,
            size=settings.small_size,
        )
        monitor = servers.ProcessMonitor(server.pid)
        try:
            with monitor.phase() as usage:
                result = small_phase(server.port, signer, "HEAD", ["k"], body, short)
        finally:
            monitor.close()
            server.stop()
        if result.latencies.errors:
            raise RuntimeError(f"HEAD floor ({name}): {result.latencies.first_error}")
        # CPU is counted over warm-up and window alike; so are the requests.
        requests = result.ops * (short.warmup + short.duration) / short.duration
        out[f"{name}_ops_per_s"] = result.ops_per_second
        out[f"{name}_server_cpu_us"] = 1e6 * usage.cpu_seconds / requests
        out[f"{name}_client_cpu_us"] = 1e6 * result.client_cpu_seconds / requests
    return out


def start_bench(
    kind: str, workdir: Path, settings: Settings, src: SourceObject, cluster: Any = None
):
    """Prepare the data directory, start the server; a ServerBench or a skip note."""
    root = workdir / kind
    listing = any(p.removeprefix("list_").isdigit() for p in phases(settings))
    if listing and kind not in ("workers", *upstream.KINDS):
        layout = "pys3local" if kind == "pys3local" else "rclone"
        for count in settings.list_sizes:
            for prefix in listing_prefixes(count, settings.list_sizes):
                write_listing_keys(root, layout, count, prefix)
    chosen = phases(settings)
    version_lists = [p for p in chosen if p.startswith("list_versions_")]
    if version_lists and versions.applies(kind, version_lists[0]):
        seconds = versions.write_version_tree(root, settings.list_sizes, servers.cache_db(root))
        print(f"  {kind}: versions tree written in {seconds:.1f} s", flush=True)
    try:
        if kind == "rclone":
            server = servers.start_rclone(root)
        elif kind == upstream.SEAWEED:
            server = upstream.seaweed_server(cluster)
        elif kind == upstream.UPSTREAM_PAIR:
            server = upstream.start_gateways(root, cluster, 2)
        elif kind in upstream.KINDS:
            workers = settings.workers if kind == upstream.UPSTREAM_WORKERS else None
            server = upstream.start_gateway(root, cluster, workers=workers)
        else:
            server = servers.start_pys3local(
                root, workers=settings.workers if kind == "workers" else None
            )
    except servers.ServerStartError as exc:
        shutil.rmtree(root, ignore_errors=True)
        output = exc.output.strip()
        if kind == "workers" and ("--workers" in output or "No such option" in output):
            note = "skipped: pys3local serve rejects --workers"
        else:
            note = f"server did not start: {exc}: {output[-1500:]}"
        print(f"  {kind}: {note}", flush=True)
        return note
    print(f"  started {server.name} on port {server.port} (pid {server.pid})", flush=True)
    bench = ServerBench(kind, server, settings, src)
    if kind in upstream.KINDS:
        bench.cluster_pids = upstream.cluster_pids(cluster, kind)
    bench.create_bucket(BUCKET)
    if kind not in ("workers", *upstream.KINDS):
        bench.create_bucket(LIST_BUCKET)
    if any(p in versions.PUT_PHASES and versions.applies(kind, p) for p in chosen):
        versions.prepare_server(bench)
    return bench


def phases(settings: Settings) -> list[str]:
    if settings.only_phases is not None:
        chosen = list(settings.only_phases)
        # The versioned rows are read against the unversioned ones of the same run.
        for phase in list(chosen):
            twin = phase.replace("list_versions_", "list_")
            if phase.startswith("list_versions_") and twin not in chosen:
                chosen.insert(chosen.index(phase), twin)
        if any(p in versions.PUT_PHASES for p in chosen) and "small_put" not in chosen:
            first = min(chosen.index(p) for p in versions.PUT_PHASES if p in chosen)
            chosen.insert(first, "small_put")
        # The 4 KiB PUT is always measured with both payload styles.
        if "small_put" in chosen and "small_put_unsigned" not in chosen:
            chosen.insert(chosen.index("small_put") + 1, "small_put_unsigned")
        return chosen
    put_versions, list_versions = versions.phases(settings.list_sizes)
    return [
        "put_large",
        "get_large",
        "range_get",
        "multipart_put",
        "small_put",
        "small_put_unsigned",
        "small_get",
        "small_head",
        *put_versions,
        *(f"list_{n}" for n in settings.list_sizes),
        "list_api",
        *list_versions,
    ]


def bench_servers(workdir: Path, settings: Settings, src: SourceObject) -> dict[str, Any]:
    """All servers run at once (idle ones cost nothing); each phase runs on each server
    in turn, in ABBA order over the rounds, so that drift in the machine's load hits
    both sides alike."""
    kinds = [k for k in settings.servers if k != "trivial"]
    benches: list[ServerBench] = []
    out: dict[str, Any] = {}
    cluster = None
    try:
        if any(kind in upstream.KINDS for kind in kinds):
            print("  starting a SeaweedFS cluster for the s3 backend ...", flush=True)
            cluster = upstream.start_cluster(workdir / "seaweed")
        for kind in kinds:
            started = start_bench(kind, workdir, settings, src, cluster)
            if isinstance(started, str):
                out[kind] = {"skipped": started}
            else:
                benches.append(started)
        for phase in phases(settings):
            print(f"[{phase}]", flush=True)
            for round_index in range(settings.rounds):
                order = benches if round_index % 2 == 0 else benches[::-1]
                for bench in order:
                    if bench.applies(phase):
                        bench.run(phase, round_index)
    finally:
        for bench in benches:
            bench.close()
            out[bench.kind] = bench.summary()
            out[bench.kind]["version"] = (
                servers.rclone_version() if bench.kind == "rclone" else _pys3local_version()
            )
        if cluster is not None:
            cluster.stop()
    return out


def _pys3local_version() -> str:
    try:
        from importlib.metadata import version

        described = version("pys3local")
    except Exception:
        described = "unknown"
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=os.path.dirname(os.path.abspath(__file__)),
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    try:
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "pys3local"],
            capture_output=True,
            text=True,
            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        dirty = ""
    if commit and dirty:
        commit += ", modified"
    return f"{described} ({commit})" if commit else described


def parse_args(argv: list[str] | None = None) -> tuple[Settings, argparse.Namespace]:
    parser = argparse.ArgumentParser(
        description="Benchmark pys3local against rclone serve s3 (same run, same machine)."
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="128 MiB object, 5 s small-object phases, 10k listing only",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="also run the 4 KiB rows with serve --workers N (0: skip)",
    )
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="where the data directories go (default: a new dir in /tmp)",
    )
    parser.add_argument(
        "--duration", type=float, default=None, help="seconds per small-object phase and round"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="runs of each phase per server, in ABBA order (default 2, --quick 1)",
    )
    parser.add_argument(
        "--servers",
        default="trivial,pys3local,rclone,workers",
        help="comma-separated subset of trivial,pys3local,rclone,workers "
        "(and seaweed,upstream,upstream-workers: see --upstream)",
    )
    parser.add_argument(
        "--upstream",
        action="store_true",
        help="the s3 backend over SeaweedFS instead: gateway vs SeaweedFS direct, "
        "--workers N gateways vs one (needs weed, from the dev extra)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        metavar="DIR",
        help="record py-spy profiles of pys3local per phase into DIR "
        "(slows the server: figures from such a run are not comparable)",
    )
    parser.add_argument(
        "--profile-args",
        default="",
        help='extra py-spy record arguments, e.g. "--gil" (only the thread holding the GIL)',
    )
    parser.add_argument(
        "--phases",
        default=None,
        help="comma-separated subset of phases to run (GET/HEAD need small_put, "
        "get_large/range_get need put_large, list_api needs small_put; the versioned "
        "phases bring the unversioned ones they are compared with)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        settings = Settings(
            quick=True,
            object_size=128 * MiB,
            duration=5.0,
            rounds=1,
            bulk_runs=1,
            list_sizes=(10_000,),
        )
    else:
        settings = Settings(quick=False, object_size=1024 * MiB, duration=8.0)
    if args.rounds is not None:
        settings.rounds = max(1, args.rounds)
    if args.duration is not None:
        settings.duration = args.duration
    settings.workers = args.workers
    chosen = tuple(s.strip() for s in args.servers.split(",") if s.strip())
    if args.workers <= 0:
        chosen = tuple(s for s in chosen if s != "workers")
    if args.upstream:
        chosen = (upstream.SEAWEED, upstream.UPSTREAM, upstream.UPSTREAM_PAIR)
        if args.workers > 0:
            chosen += (upstream.UPSTREAM_WORKERS,)
    settings.servers = chosen
    settings.profile_dir = args.profile
    settings.profile_args = tuple(args.profile_args.split())
    if args.phases:
        settings.only_phases = tuple(p.strip() for p in args.phases.split(",") if p.strip())
    return settings, args


def main(argv: list[str] | None = None) -> int:
    settings, args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="pys3local-bench-", dir=args.workdir))
    os.environ["PYS3LOCAL_CONFIG_DIR"] = str(workdir / "config")  # never touch ~/.config
    started = time.time()
    results: dict[str, Any] = {
        "meta": {
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "mode": "quick" if settings.quick else "full",
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Linux {platform.release()}",
            "python": platform.python_version(),
            "pys3local": _pys3local_version(),
            "reference": servers.rclone_version(),
            "rclone_flags": servers.RCLONE_FLAGS,
            "load_average_at_start": os.getloadavg()[0],
            "settings": {k: v for k, v in asdict(settings).items() if not k.startswith("profile")},
            "client": "benchmarks/client.py: raw HTTP/1.1 keep-alive, own SigV4 signer, "
            "4 KiB PUT both with a signed SHA-256 payload + Content-MD5 and with "
            "UNSIGNED-PAYLOAD without Content-MD5; signed + Content-MD5 on every other PUT",
        },
        "servers": {},
    }
    bulk = {"put_large", "get_large", "range_get", "multipart_put"}
    if "trivial" not in settings.servers and not bulk & set(phases(settings)):
        settings.object_size = MiB  # no phase moves the large object: do not write one
    try:
        print(f"preparing a {settings.object_size // MiB} MiB object in {workdir} ...", flush=True)
        src = make_source(workdir, settings.object_size, settings.part_size)
        if "trivial" in settings.servers:
            print("[client ceiling]", flush=True)
            try:
                results["ceiling"] = bench_trivial(workdir, settings, src)
                print("  " + report.ceiling_line(results["ceiling"]), flush=True)
            except Exception as exc:  # the comparison still runs without the ceiling
                print(f"  client ceiling FAILED: {type(exc).__name__}: {exc}", flush=True)
            if "workers" in settings.servers and "small_head" in phases(settings):
                try:
                    results["head_floor"] = bench_head_floor(workdir, settings)
                    print("  " + report.head_floor_line(results["head_floor"]), flush=True)
                except Exception as exc:
                    print(f"  HEAD floor FAILED: {type(exc).__name__}: {exc}", flush=True)
        results["servers"] = bench_servers(workdir, settings, src)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    results["meta"]["total_seconds"] = time.time() - started
    results["meta"]["load_average_at_end"] = os.getloadavg()[0]
    if any(kind in upstream.KINDS for kind in settings.servers):
        results["rows"] = upstream.rows(results)
        print()
        print(upstream.format_rows(results["rows"]))
        print(upstream.format_cpu(results))
        json_path = args.out / f"upstream{'-quick' if settings.quick else ''}.json"
        args.out.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(results, indent=2, default=str))
        print(f"\nwrote {json_path}")
        return 1 if any(r.get("error") for r in results["rows"]) else 0
    results["rows"] = report.build_rows(results)
    results["versioned_rows"] = versions.rows(results)
    print()
    print(report.format_report(results))
    if results["versioned_rows"]:
        print()
        print(versions.format_rows(results["versioned_rows"]))
    if settings.profile_dir is None:
        json_path, png_path = report.write_outputs(results, args.out)
        print(f"\nwrote {json_path}" + (f" and {png_path}" if png_path else ""))
    else:
        print(profiling.summarize_profiles(settings.profile_dir))
    failed = [r for r in results["rows"] + results["versioned_rows"] if r.get("error")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
