"""Crash safety and durability of versioned buckets: ``kill -9`` of a real server
while versioned PUTs and deletes (delete markers, removals by version id) are in
flight, then a restart on the same data directory.

After every restart each acknowledged version must still be readable by its id with
its exact bytes, each acknowledged delete marker must still be listed, every entry
ListObjectVersions shows must be readable (a version) or answer 405 (a marker), and
on disk every version's data file must have metadata describing it. The writes are
many and small, so the kills land inside the steps of a versioned write (keeping the
replaced version, renaming the new one in, writing a marker) at random points.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
import random
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import defusedxml.ElementTree as ET
import pytest
from conftest import RunningServer
from reliability import HTTP, kill9, kill9_while, md5_hex

from pys3local.providers.local.layout import StoreLayout

BUCKET = "versions"
NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
KEYS = [f"dir/key-{n}" for n in range(6)]


def start(make_server, data_dir: Path | None = None) -> RunningServer:
    return make_server("--allow-bucket-creation", data_dir=data_dir, auth=False)


def url(server: RunningServer, key: str = "") -> str:
    return f"{server.endpoint}/{BUCKET}/{key}" if key else f"{server.endpoint}/{BUCKET}"


def enable_versioning(server: RunningServer) -> None:
    assert HTTP.put(url(server)).status_code == 200
    document = (
        b'<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        b"<Status>Enabled</Status></VersioningConfiguration>"
    )
    response = HTTP.put(url(server), params={"versioning": ""}, content=document)
    assert response.status_code == 200, response.text


@dataclass
class Acknowledged:
    """What the server confirmed before it was killed."""

    versions: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # id -> key, body
    markers: dict[str, str] = field(default_factory=dict)  # id -> key
    removed: set[str] = field(default_factory=set)  # ids deleted for good
    #: Ids a removal was sent for (acknowledged or not: one cut short may have happened).
    removing: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)


def list_versions(server: RunningServer) -> list[tuple[str, str, bool, bool, str]]:
    """(key, version id, is latest, is a marker, ETag) of every entry, all pages."""
    found = []
    params: dict[str, str] = {"versions": "", "max-keys": "7"}
    while True:
        response = HTTP.get(url(server), params=params, timeout=30)
        assert response.status_code == 200, response.text
        root = ET.fromstring(response.content)
        for element in root:
            tag = element.tag.removeprefix(NS)
            if tag in ("Version", "DeleteMarker"):
                found.append(
                    (
                        element.findtext(NS + "Key"),
                        element.findtext(NS + "VersionId"),
                        element.findtext(NS + "IsLatest") == "true",
                        tag == "DeleteMarker",
                        (element.findtext(NS + "ETag") or "").strip('"'),
                    )
                )
        if root.findtext(NS + "IsTruncated") != "true":
            return found
        params = {
            "versions": "",
            "max-keys": "7",
            "key-marker": root.findtext(NS + "NextKeyMarker") or "",
            "version-id-marker": root.findtext(NS + "NextVersionIdMarker") or "",
        }


def workload(server: RunningServer, seed: int, done: Acknowledged, stop: threading.Event) -> None:
    """PUTs, plain DELETEs and DELETEs by version id on a few keys until killed."""
    rng = random.Random(seed)
    n = 0
    while not stop.is_set():
        key = rng.choice(KEYS)
        action = rng.random()
        try:
            if action < 0.6:
                body = f"{seed}-{n}-".encode() * rng.randint(1, 400)
                n += 1
                response = HTTP.put(url(server, key), content=body, timeout=10)
                if response.status_code == 200:
                    with done.lock:
                        done.versions[response.headers["x-amz-version-id"]] = (key, body)
            elif action < 0.85:
                response = HTTP.delete(url(server, key), timeout=10)
                if response.status_code == 204:
                    with done.lock:
                        done.markers[response.headers["x-amz-version-id"]] = key
            else:
                with done.lock:
                    candidates = [v for v, (k, _b) in done.versions.items() if k == key]
                if not candidates:
                    continue
                version_id = rng.choice(candidates)
                with done.lock:
                    done.removing.add(version_id)
                response = HTTP.delete(
                    url(server, key), params={"versionId": version_id}, timeout=10
                )
                if response.status_code == 204:
                    with done.lock:
                        done.removed.add(version_id)
        except Exception:  # the server was killed under us
            return


def check_versions(server: RunningServer, done: Acknowledged) -> None:
    """Every acknowledged version and marker is there (unless removed for good), and
    every listed entry is whole."""
    listed = list_versions(server)
    listed_ids = {entry[1] for entry in listed}
    for version_id, (key, body) in done.versions.items():
        if version_id in done.removing:
            continue
        assert version_id in listed_ids, f"version {version_id} of {key} was lost"
        response = HTTP.get(url(server, key), params={"versionId": version_id}, timeout=30)
        assert response.status_code == 200, (key, version_id, response.text)
        assert response.content == body, f"version {version_id} of {key} changed"
    for version_id, key in done.markers.items():
        if version_id not in done.removed:
            assert version_id in listed_ids, f"delete marker {version_id} of {key} was lost"
    latest_per_key: dict[str, int] = {}
    for key, version_id, latest, marker, etag in listed:
        latest_per_key[key] = latest_per_key.get(key, 0) + latest
        response = HTTP.get(url(server, key), params={"versionId": version_id}, timeout=30)
        if marker:
            assert response.status_code == 405, (key, version_id)
        else:
            assert response.status_code == 200, (key, version_id, response.text)
            assert md5_hex(response.content) == etag, (key, version_id)
    assert all(count == 1 for count in latest_per_key.values()), latest_per_key


def check_disk(data_dir: Path) -> None:
    """Every version's data file in the versions tree has metadata of its size."""
    versions = StoreLayout(data_dir).versions_dir(BUCKET)
    if not versions.is_dir():
        return
    for path in versions.rglob("*"):
        if path.is_dir() or path.name.endswith(".json") or path.name.startswith("."):
            continue
        sidecar = path.with_name(path.name + ".json")
        assert sidecar.is_file(), f"version data without metadata: {path}"
        document = json.loads(sidecar.read_bytes())
        assert document["size"] == path.stat().st_size, path


@pytest.mark.slow
def test_PutObject_and_DeleteObject_kill9_in_a_versioned_bucket_lose_no_version(
    make_server, tmp_path: Path
) -> None:
    """Rounds of concurrent versioned PUTs, delete markers and removals by version id,
    each ended by kill -9: after each restart no acknowledged version or marker is
    lost and every version has its metadata."""
    data_dir = tmp_path / "data"
    server = start(make_server, data_dir)
    enable_versioning(server)
    done = Acknowledged()
    rng = random.Random(19)
    for round_number in range(3):
        seeds = range(round_number * 10, round_number * 10 + 4)
        work = functools.partial(workload, server, done=done)
        kill9_while(server, work, seeds, rng.uniform(0.3, 0.9))
        server = start(make_server, data_dir)
        check_disk(data_dir)
        check_versions(server, done)
    assert len(done.versions) > 30 and done.markers and done.removed


def _content_md5(body: bytes) -> str:
    return base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode()


def enable_object_lock(server: RunningServer) -> None:
    document = (
        b"<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled>"
        b"</ObjectLockConfiguration>"
    )
    response = HTTP.put(
        url(server),
        params={"object-lock": ""},
        content=document,
        headers={"Content-MD5": _content_md5(document)},
    )
    assert response.status_code == 200, response.text


def test_500_versions_with_markers_and_retention_survive_a_restart(
    make_server, tmp_path: Path
) -> None:
    """500 versions over 25 keys with delete markers between them, some removed by id,
    some under GOVERNANCE retention or a legal hold, are listed and read back exactly
    after kill -9 and a restart, and the protected ones keep their protection."""
    data_dir = tmp_path / "data"
    server = start(make_server, data_dir)
    enable_versioning(server)
    enable_object_lock(server)
    until = (datetime.now(timezone.utc) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    done = Acknowledged()
    retained: set[str] = set()
    held: set[str] = set()
    for n in range(500):
        key = f"k/{n % 25:02d}"
        body = f"version {n} of {key}".encode()
        headers = {"Content-MD5": _content_md5(body)}
        if n % 13 == 0:
            headers |= {"x-amz-object-lock-mode": "GOVERNANCE"}
            headers |= {"x-amz-object-lock-retain-until-date": until}
        if n % 17 == 0:
            headers["x-amz-object-lock-legal-hold"] = "ON"
        response = HTTP.put(url(server, key), content=body, headers=headers)
        assert response.status_code == 200, response.text
        version_id = response.headers["x-amz-version-id"]
        done.versions[version_id] = (key, body)
        if n % 13 == 0:
            retained.add(version_id)
        if n % 17 == 0:
            held.add(version_id)
        if n % 7 == 0:
            response = HTTP.delete(url(server, key))
            done.markers[response.headers["x-amz-version-id"]] = key
        skipped = done.removed | retained | held
        unprotected = next((v for v in done.versions if v not in skipped), None)
        if n % 11 == 0 and unprotected is not None:  # remove the oldest one still there
            version_id = unprotected
            response = HTTP.delete(
                url(server, done.versions[version_id][0]), params={"versionId": version_id}
            )
            assert response.status_code == 204
            done.removed.add(version_id)
            done.removing.add(version_id)
    before = list_versions(server)
    kill9(server)
    server = start(make_server, data_dir)
    after = list_versions(server)
    assert after == before
    assert len(after) == 500 - len(done.removed) + len(done.markers)
    check_disk(data_dir)
    check_versions(server, done)
    for version_id in retained | held:
        key = done.versions[version_id][0]
        head = HTTP.head(url(server, key), params={"versionId": version_id})
        if version_id in retained:
            assert head.headers["x-amz-object-lock-mode"] == "GOVERNANCE", version_id
            assert head.headers["x-amz-object-lock-retain-until-date"].startswith(until[:19])
        if version_id in held:
            assert head.headers["x-amz-object-lock-legal-hold"] == "ON", version_id
        refused = HTTP.delete(url(server, key), params={"versionId": version_id})
        assert refused.status_code == 403, (version_id, refused.text)


def test_ListObjectVersions_after_a_crash_between_the_steps_of_a_versioned_write(
    make_server, tmp_path: Path
) -> None:
    """The states a kill -9 can leave between the steps (the replaced version linked
    but the new one not yet renamed in; a delete marker written but the object not yet
    moved; a version's data removed but not its metadata) read as whole versions: no
    version twice, one latest per key, nothing without its data."""
    data_dir = tmp_path / "data"
    server = start(make_server, data_dir)
    enable_versioning(server)
    put = [HTTP.put(url(server, "k"), content=f"v{n}".encode()) for n in (1, 2)]
    v1, v2 = (r.headers["x-amz-version-id"] for r in put)
    gone = HTTP.put(url(server, "g"), content=b"g1").headers["x-amz-version-id"]
    HTTP.put(url(server, "g"), content=b"g2")
    kill9(server)
    layout = StoreLayout(data_dir)
    paths = layout.object_paths(BUCKET, "k")
    versions = layout.key_versions_dir(BUCKET, "k")
    # Killed after keeping v2 for a write that never got renamed in.
    os.link(paths.metadata, versions / f"{v2}.json")
    os.link(paths.data, versions / v2)
    # Killed after writing a delete marker, before moving v2 out of objects/.
    marker = "0" * 24  # sorts before (is newer than) every real id
    (versions / f"{marker}.json").write_text(
        json.dumps({"delete_marker": True, "last_modified": "2030-01-01T00:00:00+00:00"})
    )
    # Killed between the two unlinks of a removal: metadata without data.
    os.unlink(layout.key_versions_dir(BUCKET, "g") / gone)
    server = start(make_server, data_dir)
    listed = [(e[0], e[1], e[2], e[3]) for e in list_versions(server)]
    assert listed == [
        ("g", listed[0][1], True, False),
        ("k", v2, True, False),
        ("k", marker, False, True),
        ("k", v1, False, False),
    ]
    assert HTTP.get(url(server, "k")).content == b"v2"
    assert HTTP.get(url(server, "k"), params={"versionId": v2}).content == b"v2"
    missing = HTTP.get(url(server, "g"), params={"versionId": gone})
    assert missing.status_code == 404 and b"NoSuchVersion" in missing.content
    # The next write keeps v2 once more (over the leftover link) and all reads agree.
    v3 = HTTP.put(url(server, "k"), content=b"v3").headers["x-amz-version-id"]
    assert [e[1] for e in list_versions(server) if e[0] == "k"] == [v3, marker, v2, v1]
