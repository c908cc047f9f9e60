"""The versioned-bucket phases (pys3local only: ``rclone serve s3`` has no versioning,
so the comparison is pys3local with versioning against pys3local without, same run).

* ``versioned_put``: 4 KiB PUTs of new keys into a bucket with versioning enabled,
  beside the unversioned ``small_put`` figure (same client, signed + Content-MD5).
* ``overwrite_put`` / ``versioned_overwrite_put``: 4 KiB PUTs where each connection
  cycles over :data:`OVERWRITE_KEYS` keys, so nearly every PUT replaces an object:
  unversioned it is simply replaced, versioned the replaced one is kept as a
  non-current version (a hard link and the versions directory's fsync).
* ``list_versions_<n>``: ListObjectVersions page by page (1000 entries a page,
  key-marker + version-id-marker) over ``n`` versions, beside ListObjectsV2 over
  ``n`` keys; the phases list as many prefixes as the ListObjectsV2 ones, the first
  pass after the server started.

The versions tree is built before the server starts (:func:`write_version_tree`): a
seed of keys is written through the local provider in-process (versioning enabled,
``durable=False``: two PutObjects per key, so each has a current version and one
non-current version, with their real sidecars and version ids), and every listed key
is made of hard links of a seed key's files at the paths the store's own layout gives
for it. The tree is then exactly what PutObjects would leave (the sidecars name
their data file's inode, which a hard link keeps), at a fraction of the time; only
the version ids repeat across keys, which a listing does not look at.

PutObjects through the server would also have left the tree's rows in the metadata
cache: each commit records its object's row with the version id, and each change to
a key's versions directory has that directory's row stored (the local backend's
``VersionStore.changed``). Hard links record nothing, so one listing of every prefix
in-process, with the server's cache file, stores the same rows (a listing stores
the rows it finds missing, from the same files). The scored listing itself goes
through the real server over HTTP, its first pass after the server started.
"""

from __future__ import annotations

import asyncio
import html
import os
import re
import time
from pathlib import Path
from typing import Any

from client import BlockingConnection, checked, encode_query
from listing import listing_prefixes, timed_passes
from report import _fmt, _row, _table, phase_row
from small import small_phase

VERSIONS_BUCKET = "versions"
PUT_BUCKET = "bench-versioned"
#: Keys each connection cycles over in the overwrite phases.
OVERWRITE_KEYS = 8
#: Keys written through the provider; the listed trees are hard links of them.
SEED_KEYS = 1000
VERSIONS_PER_KEY = 2
PUT_PHASES = ("versioned_put", "overwrite_put", "versioned_overwrite_put")
ENABLED = (
    b'<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
    b"<Status>Enabled</Status></VersioningConfiguration>"
)


def phases(list_sizes: tuple[int, ...]) -> tuple[list[str], list[str]]:
    """(the PUT phases, the listing phases)."""
    return list(PUT_PHASES), [f"list_versions_{n}" for n in list_sizes]


def is_phase(phase: str) -> bool:
    return phase in PUT_PHASES or phase.startswith("list_versions_")


def applies(kind: str, phase: str) -> bool:
    return kind == "pys3local"


# --------------------------------------------------------------------------- the tree


def write_version_tree(root: Path, list_sizes: tuple[int, ...], cache_db: Path) -> float:
    """Every prefix the listing phases list, ``n`` versions under each, and their rows
    in the metadata cache ``cache_db`` (see the module docstring); returns the
    seconds it took."""
    from pys3local.providers.base import ObjectMetadata
    from pys3local.providers.local.provider import LocalStorageProvider

    started = time.perf_counter()
    seeds = [f"seed/k{i:07d}" for i in range(SEED_KEYS)]

    async def seed() -> LocalStorageProvider:
        provider = LocalStorageProvider(root, durable=False)
        await provider.open()
        await provider.create_bucket(VERSIONS_BUCKET)
        await provider.put_bucket_versioning(VERSIONS_BUCKET, "Enabled")
        for key in seeds:
            for n in range(VERSIONS_PER_KEY):
                await provider.put_object(VERSIONS_BUCKET, key, _body(b"v%d" % n), ObjectMetadata())
        await provider.close()
        return provider

    layout = asyncio.run(seed()).layout
    sources = [_key_files(layout, key) for key in seeds]
    for count in list_sizes:
        for prefix in listing_prefixes(count, list_sizes):
            targets = [
                _key_files(layout, f"v{prefix}k{i:07d}") for i in range(count // VERSIONS_PER_KEY)
            ]
            for path in targets[0]:  # one directory per tree holds all of a prefix's keys
                os.makedirs(os.path.dirname(path), exist_ok=True)
            for i, target in enumerate(targets):
                _link_key(sources[i % SEED_KEYS], target)
    time.sleep(0.1)  # a row is stored only from a directory that has settled
    asyncio.run(_record_rows(root, list_sizes, cache_db))
    return time.perf_counter() - started


async def _record_rows(root: Path, list_sizes: tuple[int, ...], cache_db: Path) -> None:
    """List every prefix once in-process, so that the cache holds the tree's rows."""
    from pys3local.cache import MetadataCache
    from pys3local.providers.local.provider import LocalStorageProvider

    cache = MetadataCache(cache_db).open()
    provider = LocalStorageProvider(root, cache=cache)
    await provider.open()
    for count in list_sizes:
        for prefix in listing_prefixes(count, list_sizes):
            key_marker = version_marker = ""
            while True:
                page = await provider.list_object_versions(
                    VERSIONS_BUCKET,
                    prefix=f"v{prefix}",
                    key_marker=key_marker,
                    version_id_marker=version_marker,
                )
                if not page.is_truncated:
                    break
                key_marker = page.next_key_marker or ""
                version_marker = page.next_version_id_marker or ""
    await provider.close()  # writes every row queued
    cache.close()


async def _body(data: bytes):  # type: ignore[no-untyped-def]
    yield data


def _key_files(layout: Any, key: str) -> tuple[str, str, str]:
    data, metadata = layout.object_files(VERSIONS_BUCKET, key)
    return data, metadata, str(layout.key_versions_dir(VERSIONS_BUCKET, key))


def _link_key(source: tuple[str, str, str], target: tuple[str, str, str]) -> None:
    """Give ``target`` the files of ``source``: data, sidecar, versions directory."""
    os.link(source[0], target[0])
    os.link(source[1], target[1])
    os.mkdir(target[2])
    for name in os.listdir(source[2]):
        os.link(f"{source[2]}/{name}", f"{target[2]}/{name}")


# --------------------------------------------------------------------------- phases


def prepare_server(bench: Any) -> None:
    """The bucket the versioned PUT phases write into, versioning enabled over HTTP."""
    bench.create_bucket(PUT_BUCKET)
    conn = bench.conn()
    query = encode_query({"versioning": ""})
    checked(conn.request("PUT", f"/{PUT_BUCKET}", query, body=ENABLED), "PutBucketVersioning")
    conn.close()


def run_phase(bench: Any, phase: str, round_index: int) -> dict:
    if phase.startswith("list_versions_"):
        return _list_phase(bench, phase, round_index)
    versioned = phase.startswith("versioned")
    overwrite = "overwrite" in phase
    result = small_phase(
        bench.server.port,
        bench.signer,
        "PUT",
        [],
        bench.body,
        bench.settings,
        key_prefix=f"{phase}/" if overwrite else f"{phase}/r{round_index}",
        bucket=PUT_BUCKET if versioned else "bench",
        key_space=OVERWRITE_KEYS if overwrite else None,
    )
    return result.figures()


def _list_phase(bench: Any, phase: str, round_index: int) -> dict:
    """As the ListObjectsV2 phases: round 1 lists cold (right after the server
    started), then repeats."""
    count = int(phase.removeprefix("list_versions_"))
    settings = bench.settings
    prefixes = [f"v{p}" for p in listing_prefixes(count, settings.list_sizes)]
    conn = bench.conn()
    passes = 2 if round_index == 0 and settings.rounds == 1 else 1
    raw = timed_passes(
        conn, list_versions, VERSIONS_BUCKET, prefixes, count, settings.list_page, passes
    )
    conn.close()
    return {**raw, "first": round_index == 0}


#: Each Version and DeleteMarker entry has one <Key>, and nothing else in the document
#: does: found as cheaply as the ListObjectsV2 client finds its keys, so that both
#: rates carry the same client cost per entry.
_KEY = re.compile(rb"<Key>(.*?)</Key>")


def list_versions(
    conn: BlockingConnection, bucket: str, prefix: str, page: int, page_seconds: list[float]
) -> tuple[int, int]:
    """ListObjectVersions over ``prefix`` page by page; returns (entries, pages).

    Checks the order: keys never go backwards, and each key shows exactly
    :data:`VERSIONS_PER_KEY` versions (a page may end inside a key's versions)."""
    key_marker = version_marker = None
    entries = pages = 0
    last_key, run = "", 0
    while True:
        params = {"versions": "", "prefix": prefix, "max-keys": str(page)}
        if key_marker is not None:
            params["key-marker"] = key_marker
            params["version-id-marker"] = version_marker or ""
        started = time.perf_counter()
        response = conn.request("GET", f"/{bucket}", encode_query(params))
        page_seconds.append(time.perf_counter() - started)
        checked(response, "ListObjectVersions")
        for raw in _KEY.findall(response.body):
            key = html.unescape(raw.decode())
            if key < last_key:
                raise RuntimeError(f"listing went backwards: {key!r} after {last_key!r}")
            if key != last_key and last_key and run != VERSIONS_PER_KEY:
                raise RuntimeError(f"{last_key!r} listed {run} versions")
            run = run + 1 if key == last_key else 1
            last_key = key
            entries += 1
        pages += 1
        if b"<IsTruncated>true</IsTruncated>" not in response.body:
            return entries, pages
        key_marker = _tag(response.body, "NextKeyMarker")
        version_marker = _tag(response.body, "NextVersionIdMarker")
        if key_marker is None:
            raise RuntimeError("truncated listing without NextKeyMarker")


def _tag(body: bytes, name: str) -> str | None:
    match = re.search(rb"<%s>(.*?)</%s>" % (name.encode(), name.encode()), body)
    return html.unescape(match[1].decode()) if match else None


# --------------------------------------------------------------------------- rows

#: ListObjectVersions per entry against ListObjectsV2 per key: "the same keys/s"
#: (with the allowance for noise of the ListObjectsV2 scaling target).
LIST_TOLERANCE = 0.9


def rows(results: dict) -> list[dict]:
    """Versioned against unversioned, pys3local in the same run."""
    data = results.get("servers", {}).get("pys3local") or {}
    settings = results["meta"]["settings"]
    small = f"{settings['small_size'] // 1024} KiB"
    out: list[dict] = []

    def row(label: str, unit: str, ours: str, ref: str, field: str, target: float | None):
        a, b = data.get(ours), data.get(ref)
        what = "page" if field == "keys_per_s" else "PUT"
        made = phase_row(label, unit, a, b, field, target, id=ours, ours_phase=ours, ref_phase=ref)
        notes = [
            f"{name} p50 {p['p50_ms']:.1f} / p99 {p['p99_ms']:.1f} ms, "
            f"server CPU {p['server_cpu_ms_per_op']:.2f} ms per {what}"
            for name, p in (("versioned", a), ("unversioned", b))
            if p and "p50_ms" in p
        ]
        if notes:
            made["note"] = "; ".join(notes)
        if a is not None or b is not None:  # a phase of this run
            out.append(made)
        return made

    row(
        f"PUT {small} new keys: versioned / unversioned",
        "ops/s",
        "versioned_put",
        "small_put",
        "ops_per_s",
        None,
    )
    row(f"PUT {small} overwrites: versioned / unversioned", "ops/s",
        "versioned_overwrite_put", "overwrite_put", "ops_per_s", None)  # fmt: skip
    rates = {}
    for count in settings["list_sizes"]:
        made = row(
            f"ListObjectVersions {count:,} versions / ListObjectsV2 {count:,} keys",
            "keys/s",
            f"list_versions_{count}",
            f"list_{count}",
            "keys_per_s",
            LIST_TOLERANCE,
        )
        rates[count] = made["ours"]
    if rates.get(10_000) and rates.get(100_000):
        scaling = rates[100_000] / rates[10_000]
        out.append(
            _row(
                "ListObjectVersions per entry, 100,000 / 10,000 versions",
                "ratio",
                scaling,
                1.0,
                id="list_versions_scaling",
                target=f">= {LIST_TOLERANCE:g}x",
                **{"pass": scaling >= LIST_TOLERANCE},
            )
        )
    return out


def format_rows(table: list[dict]) -> str:
    lines = [
        "Versioned bucket (pys3local with versioning / pys3local without, same run; "
        "listing rates are entries/s; page times and server CPU per page of 1000 entries):"
    ]
    body = []
    for r in table:
        verdict = "-" if "pass" not in r else ("PASS" if r["pass"] else "FAIL")
        ratio = f"{r['ratio']:.2f}x" if r["ratio"] is not None else "-"
        note = r.get("error") or r.get("note") or ""
        body.append([r["label"], r["unit"], _fmt(r["ours"]), _fmt(r["ref"]), ratio,
                     r.get("target", ""), verdict, note[:160]])  # fmt: skip
    headers = ["workload", "unit", "versioned", "unversioned", "ratio", "target", "result", "note"]
    lines.append(_table(headers, body, "llrrrlll"))
    return "\n".join(lines)
