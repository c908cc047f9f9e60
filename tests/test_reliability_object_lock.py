"""Crash safety of Object Lock: ``kill -9`` of a real server while PutObjectRetention
and PutObjectLegalHold rewrite versions' sidecars and new versions of the same keys
are written, then a restart on the same data directory.

After every restart each acknowledged version must still be readable by its id with
its exact bytes and have its metadata on disk, and its protection must never be
weaker than the last one acknowledged: a COMPLIANCE retain-until at least as late, a
legal hold still on. A protected version must still refuse removal.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import random
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import defusedxml.ElementTree as ET
import pytest
from conftest import RunningServer
from reliability import HTTP, kill9_while
from test_reliability_versions import check_disk

BUCKET = "versions"  # check_disk looks there
NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
KEYS = [f"lock/key-{n}" for n in range(4)]
START = datetime.now(timezone.utc) + timedelta(days=1)


def start(make_server, data_dir: Path) -> RunningServer:
    return make_server("--allow-bucket-creation", data_dir=data_dir, auth=False)


def url(server: RunningServer, key: str = "") -> str:
    return f"{server.endpoint}/{BUCKET}/{key}" if key else f"{server.endpoint}/{BUCKET}"


def with_md5(body: bytes) -> dict[str, str]:
    return {"content-md5": base64.b64encode(hashlib.md5(body).digest()).decode()}


def retention_body(until: datetime) -> bytes:
    stamp = until.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return (
        f"<Retention><Mode>COMPLIANCE</Mode><RetainUntilDate>{stamp}</RetainUntilDate></Retention>"
    ).encode()


HOLD_ON = b"<LegalHold><Status>ON</Status></LegalHold>"


@dataclass
class Acknowledged:
    """What the server confirmed before it was killed."""

    versions: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # id -> key, body
    #: The latest retain-until acknowledged per version (dates only grow).
    until: dict[str, datetime] = field(default_factory=dict)
    held: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)


def put_version(server: RunningServer, key: str, body: bytes, done: Acknowledged) -> None:
    response = HTTP.put(url(server, key), content=body, headers=with_md5(body), timeout=10)
    if response.status_code == 200:
        with done.lock:
            done.versions[response.headers["x-amz-version-id"]] = (key, body)


def put_document(
    server: RunningServer, key: str, resource: str, version_id: str, body: bytes
) -> int:
    """PUT ``?<resource>&versionId=`` with ``body`` and its Content-MD5; the status."""
    params = {resource: "", "versionId": version_id}
    headers = with_md5(body)
    return HTTP.put(
        url(server, key), params=params, content=body, headers=headers, timeout=10
    ).status_code


def workload(
    server: RunningServer, worker: int, workers: int, done: Acknowledged, stop: threading.Event
) -> None:
    """Retention extensions and legal holds on this worker's share of the versions,
    with new versions of the same keys between them, until killed."""
    rng = random.Random(worker)
    step = 0
    while not stop.is_set():
        step += 1
        try:
            with done.lock:
                mine = [v for n, v in enumerate(sorted(done.versions)) if n % workers == worker]
            if rng.random() < 0.15 or not mine:
                key = rng.choice(KEYS)
                put_version(server, key, f"{worker}-{step}".encode() * rng.randint(1, 50), done)
                continue
            version_id = rng.choice(mine)
            key = done.versions[version_id][0]
            if rng.random() < 0.2:
                if put_document(server, key, "legal-hold", version_id, HOLD_ON) == 200:
                    with done.lock:
                        done.held.add(version_id)
                continue
            with done.lock:
                until = done.until.get(version_id, START) + timedelta(seconds=rng.randint(1, 60))
            if put_document(server, key, "retention", version_id, retention_body(until)) == 200:
                with done.lock:
                    done.until[version_id] = max(until, done.until.get(version_id, until))
        except Exception:  # the server was killed under us
            return


def check_protection(server: RunningServer, done: Acknowledged) -> None:
    """Every acknowledged version reads back whole, with a protection at least as
    strong as acknowledged, and refuses removal when protected."""
    for version_id, (key, body) in done.versions.items():
        params = {"versionId": version_id}
        response = HTTP.get(url(server, key), params=params, timeout=30)
        assert response.status_code == 200, (key, version_id, response.text)
        assert response.content == body, f"version {version_id} of {key} changed"
        acknowledged = done.until.get(version_id)
        if acknowledged is not None:
            response = HTTP.get(url(server, key), params={"retention": "", **params}, timeout=30)
            assert response.status_code == 200, (key, version_id, response.text)
            root = ET.fromstring(response.content)
            assert root.findtext(NS + "Mode") == "COMPLIANCE"
            found = datetime.fromisoformat(root.findtext(NS + "RetainUntilDate"))
            assert found >= acknowledged.replace(microsecond=0), (version_id, found, acknowledged)
        if version_id in done.held:
            response = HTTP.get(url(server, key), params={"legal-hold": "", **params}, timeout=30)
            assert b"<Status>ON</Status>" in response.content, (version_id, response.text)
        if acknowledged is not None or version_id in done.held:
            response = HTTP.delete(url(server, key), params=params, timeout=30)
            assert response.status_code == 403, (key, version_id, response.status_code)


@pytest.mark.slow
def test_PutObjectRetention_kill9_never_weakens_a_protection(make_server, tmp_path: Path) -> None:
    """Rounds of concurrent retention extensions, legal holds and new versions, each
    ended by kill -9: after each restart every version has its bytes and metadata and
    a protection never weaker than the last acknowledged."""
    data_dir = tmp_path / "data"
    server = start(make_server, data_dir)
    response = HTTP.put(url(server), headers={"x-amz-bucket-object-lock-enabled": "true"})
    assert response.status_code == 200, response.text
    done = Acknowledged()
    for n in range(12):
        put_version(server, KEYS[n % len(KEYS)], f"first {n}".encode(), done)
    rng = random.Random(19)
    for _round in range(3):
        work = functools.partial(workload, server, workers=4, done=done)
        kill9_while(server, work, range(4), rng.uniform(0.4, 1.0))
        server = start(make_server, data_dir)
        check_disk(data_dir)
        check_protection(server, done)
    assert len(done.until) > 8 and done.held, (len(done.until), len(done.held))
