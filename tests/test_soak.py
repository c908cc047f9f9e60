"""Soak: a bounded mixed load against one real server process.

16 client threads PUT, GET, HEAD, LIST and DELETE objects of 1-256 KiB for 60 s
(PYS3LOCAL_SOAK_SECONDS overrides), each in its own prefix so it knows exactly what
every GET and LIST must return. Zero errors and zero wrong bodies are allowed; the
server's RSS may grow by less than 64 MiB after warm-up and its open file
descriptors must not grow.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter

import pytest
from reliability import (
    KiB,
    check_store,
    md5_hex,
    proc_fd_count,
    proc_fd_counts,
    proc_rss_kib,
    staging_files,
)

THREADS = 16
SECONDS = float(os.environ.get("PYS3LOCAL_SOAK_SECONDS", "60"))
WARM_UP = min(8.0, SECONDS / 6)
BUCKET = "soak"


@pytest.mark.slow
def test_soak_mixed_load(make_server) -> None:
    """16 threads of mixed operations for 60 s: no error, no wrong body, RSS growth
    under 64 MiB, no growth of open file descriptors."""
    server = make_server("--allow-bucket-creation")
    server.client().create_bucket(Bucket=BUCKET)
    pid = server.process.pid
    errors: list[str] = []
    counts: Counter = Counter()
    counts_lock = threading.Lock()
    rngs = {n: random.Random(n) for n in range(THREADS)}
    states: dict[int, dict[str, tuple[str, int]]] = {n: {} for n in range(THREADS)}

    def worker(number: int, deadline: float) -> None:
        s3 = server.client()
        rng = rngs[number]
        prefix = f"t{number:02d}/"
        keys = [f"{prefix}{name}-{i}" for i, name in enumerate(["a", "b/c", "d e", "f/g/h"] * 6)]
        stored = states[number]
        local: Counter = Counter()
        try:
            while time.monotonic() < deadline:
                key = rng.choice(keys)
                operation = rng.choices(
                    ["put", "get", "head", "list", "delete"], weights=[35, 35, 8, 10, 12]
                )[0]
                try:
                    if operation == "put":
                        size = rng.randrange(KiB, 256 * KiB + 1)
                        body = rng.randbytes(size)
                        etag = s3.put_object(Bucket=BUCKET, Key=key, Body=body)["ETag"]
                        if etag.strip('"') != md5_hex(body):
                            errors.append(f"PUT {key}: ETag {etag}")
                        stored[key] = (md5_hex(body), size)
                    elif operation == "get":
                        if key not in stored:
                            try:
                                s3.get_object(Bucket=BUCKET, Key=key)
                                errors.append(f"GET {key}: deleted key still served")
                            except s3.exceptions.NoSuchKey:
                                pass
                            continue
                        got = s3.get_object(Bucket=BUCKET, Key=key)
                        data = got["Body"].read()
                        if (md5_hex(data), len(data)) != stored[key]:
                            errors.append(f"GET {key}: wrong body ({len(data)} bytes)")
                        if got["ETag"].strip('"') != stored[key][0]:
                            errors.append(f"GET {key}: wrong ETag")
                    elif operation == "head":
                        if key in stored:
                            head = s3.head_object(Bucket=BUCKET, Key=key)
                            if (head["ETag"].strip('"'), head["ContentLength"]) != stored[key]:
                                errors.append(f"HEAD {key}: wrong ETag or length")
                    elif operation == "list":
                        listed = {}
                        for page in s3.get_paginator("list_objects_v2").paginate(
                            Bucket=BUCKET, Prefix=prefix, PaginationConfig={"PageSize": 7}
                        ):
                            for item in page.get("Contents", []):
                                listed[item["Key"]] = (item["ETag"].strip('"'), item["Size"])
                        if listed != stored:
                            errors.append(f"LIST {prefix}: {sorted(listed)} != {sorted(stored)}")
                    else:
                        s3.delete_object(Bucket=BUCKET, Key=key)
                        stored.pop(key, None)
                    local[operation] += 1
                except Exception as exc:
                    errors.append(f"{operation} {key}: {exc!r}")
        finally:
            s3.close()
            with counts_lock:
                counts.update(local)

    def run_phase(seconds: float, sample: bool) -> list[tuple[int, int]]:
        """Run the 16 clients for ``seconds``; they close their connections at the end."""
        deadline = time.monotonic() + seconds
        threads = [
            threading.Thread(target=worker, args=(n, deadline), daemon=True) for n in range(THREADS)
        ]
        for thread in threads:
            thread.start()
        samples = []
        while sample and time.monotonic() < deadline - 1:
            time.sleep(min(5.0, max(0.1, deadline - 1 - time.monotonic())))
            samples.append((proc_rss_kib(pid), proc_fd_count(pid)))
        for thread in threads:
            thread.join(60)
        assert not any(t.is_alive() for t in threads)
        time.sleep(1)  # the server notices the closed connections
        return samples

    # Warm-up: the server's thread pool, caches and allocator reach their working size.
    run_phase(WARM_UP, sample=False)
    rss_before = proc_rss_kib(pid)
    fds_idle_before, _ = proc_fd_counts(pid)
    requests_before = sum(counts.values())
    samples = run_phase(SECONDS - WARM_UP, sample=True)
    fds_idle, cache_fds = proc_fd_counts(pid)
    rss_end = proc_rss_kib(pid)

    assert errors == [], f"{len(errors)} errors, first: {errors[:10]}"
    assert sum(counts.values()) - requests_before > 1000, counts
    grown = (max([rss_end, *(r for r, _ in samples)]) - rss_before) / 1024
    assert grown < 64, f"RSS grew by {grown:.1f} MiB ({rss_before} KiB after warm-up)"
    # Under load the count follows the requests in flight (a connection, a lock file,
    # a staged or read file each), so it is bounded by the concurrency; once the
    # clients are gone it is back where it was after the warm-up. The cache's files
    # are counted apart: each thread that used the cache keeps a connection (three
    # descriptors), and pool threads that first started after the warm-up add theirs,
    # bounded by the number of threads. A leak of one descriptor per request would be
    # thousands.
    assert max(f for _, f in samples) <= fds_idle_before + THREADS * 4, samples
    assert fds_idle <= fds_idle_before + 8, (fds_idle_before, fds_idle)
    assert cache_fds <= 3 * (THREADS + 8), cache_fds
    assert staging_files(server.data_dir) == []
    report = check_store(server.data_dir)
    assert report.problems == [] and report.orphan_sidecars == []
