"""Versioned keys after a commit cut short between its data rename and its sidecar
rename, whose journal recovery cannot roll forward yet (its owner's staging lock is
still held), leftover temporary links in versions directories, and the pruning of a
key's emptied versions directory racing a write to the same key.

The on-disk states are made exactly as a kill -9 between the two renames leaves them
(a real server is killed, the files are arranged, a real server is started again).
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from datetime import datetime, timezone
from pathlib import Path

from reliability import HTTP, kill9, md5_hex
from test_reliability_versions import BUCKET, enable_versioning, list_versions, start, url

from pys3local.providers.local.layout import StoreLayout
from pys3local.providers.local.versions import new_version_id


def hold_staging(layout: StoreLayout, name: str) -> tuple[Path, int]:
    """A staging directory whose owner looks alive: its lock is held (by this test)."""
    directory = layout.staging / name
    directory.mkdir(parents=True)
    fd = os.open(layout.staging / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return directory, fd


def rename_data_in(layout: StoreLayout, source: Path, key: str, *, link: bool) -> None:
    """The data rename of a commit (a promoted version's staged file is a hard link)."""
    staged = layout.staging / "tmp-staged"
    if link:
        os.link(source, staged)
    else:
        os.rename(source, staged)
    os.rename(staged, layout.object_paths(BUCKET, key).data)


def test_ListObjectVersions_and_PutObject_after_a_crash_between_the_renames_of_a_commit(
    make_server, tmp_path: Path
) -> None:
    """A version whose data is renamed in but whose sidecar is not yet is listed once,
    under its own id and ETag, and the next PUT keeps it under that id: no ``null``
    copy with a made-up ETag appears, and the late journal never overwrites a newer
    sidecar."""
    data_dir = tmp_path / "data"
    server = start(make_server, data_dir)
    enable_versioning(server)
    k1, k2 = (
        HTTP.put(url(server, "k"), content=b"k-one").headers["x-amz-version-id"],
        HTTP.put(url(server, "k"), content=b"k-two!!").headers["x-amz-version-id"],
    )
    j1 = HTTP.put(url(server, "j"), content=b"j-one").headers["x-amz-version-id"]
    kill9(server)
    layout = StoreLayout(data_dir)
    staging, lock_fd = hold_staging(layout, "4242-deadbeef")
    try:
        # "k": DeleteObject ?versionId=k2 promoted k1 back; killed between the renames.
        k_versions = layout.key_versions_dir(BUCKET, "k")
        k1_document = json.loads((k_versions / f"{k1}.json").read_bytes())
        (staging / "a.meta").write_text(json.dumps({"bucket": BUCKET, "key": "k", **k1_document}))
        rename_data_in(layout, k_versions / k1, "k", link=True)
        # "j": a PUT of j2 kept j1, renamed its data in and was killed there.
        j_paths = layout.object_paths(BUCKET, "j")
        j_versions = layout.key_versions_dir(BUCKET, "j")
        j_versions.mkdir(parents=True)
        os.link(j_paths.metadata, j_versions / f"{j1}.json")
        os.link(j_paths.data, j_versions / j1)
        body = b"j-two, longer"
        (staging / "b.data").write_bytes(body)
        j2 = new_version_id()
        document = {
            "ino": os.stat(staging / "b.data").st_ino,
            "size": len(body),
            "etag": md5_hex(body),
            "last_modified": datetime.now(timezone.utc).isoformat(),
            "metadata": {},
            "version_id": j2,
        }
        (staging / "b.meta").write_text(json.dumps({"bucket": BUCKET, "key": "j", **document}))
        rename_data_in(layout, staging / "b.data", "j", link=False)

        server = start(make_server, data_dir)
        listed = [(e[0], e[1], e[2], e[4]) for e in list_versions(server)]
        assert listed == [
            ("j", j2, True, md5_hex(body)),
            ("j", j1, False, md5_hex(b"j-one")),
            ("k", k1, True, md5_hex(b"k-one")),
        ]
        assert HTTP.get(url(server, "k"), params={"versionId": k1}).content == b"k-one"
        assert HTTP.get(url(server, "j"), params={"versionId": j2}).content == body
        k3 = HTTP.put(url(server, "k"), content=b"k-three").headers["x-amz-version-id"]
        j3 = HTTP.put(url(server, "j"), content=b"j-three").headers["x-amz-version-id"]
        expected = [
            ("j", j3, True, md5_hex(b"j-three")),
            ("j", j2, False, md5_hex(body)),
            ("j", j1, False, md5_hex(b"j-one")),
            ("k", k3, True, md5_hex(b"k-three")),
            ("k", k1, False, md5_hex(b"k-one")),
        ]
        assert [(e[0], e[1], e[2], e[4]) for e in list_versions(server)] == expected
        assert k2  # removed for good in the simulated crash
        kill9(server)
    finally:
        os.close(lock_fd)  # the journal's owner is gone now: recovery takes over
    server = start(make_server, data_dir)
    assert [(e[0], e[1], e[2], e[4]) for e in list_versions(server)] == expected
    head = HTTP.head(url(server, "k"))
    assert head.headers["etag"].strip('"') == md5_hex(b"k-three")
    assert head.headers["x-amz-version-id"] == k3


def test_PutObject_restart_removes_temporary_links_left_in_versions_directories(
    make_server, tmp_path: Path
) -> None:
    """A half-made temporary link (``.<12 hex>``) left by a kill in a key's versions
    directory is removed when the server starts; other dot files stay."""
    data_dir = tmp_path / "data"
    server = start(make_server, data_dir)
    enable_versioning(server)
    for body in (b"one", b"two"):
        assert HTTP.put(url(server, "dir/k"), content=body).status_code == 200
    kill9(server)
    layout = StoreLayout(data_dir)
    versions = layout.key_versions_dir(BUCKET, "dir/k")
    os.link(layout.object_paths(BUCKET, "dir/k").data, versions / ".0123456789ab")
    (versions / ".not-ours").write_bytes(b"x")
    start(make_server, data_dir)
    assert sorted(p.name for p in versions.iterdir() if p.name.startswith(".")) == [".not-ours"]


def test_PutObject_racing_DeleteObject_versionId_that_empties_the_versions_directory(
    make_server, tmp_path: Path
) -> None:
    """Writers that keep a version in a key's versions directory while other requests
    remove the last version in it (and so prune the emptied directory) all succeed:
    never a 500."""
    server = start(make_server, tmp_path / "data")
    enable_versioning(server)
    statuses: list[int] = []
    lock = threading.Lock()

    def churn() -> None:
        for _ in range(60):
            first = HTTP.put(url(server, "k"), content=b"a" * 10, timeout=30)
            second = HTTP.put(url(server, "k"), content=b"b" * 10, timeout=30)
            gone = HTTP.delete(
                url(server, "k"),
                params={"versionId": first.headers.get("x-amz-version-id", "")},
                timeout=30,
            )
            latest = HTTP.delete(
                url(server, "k"),
                params={"versionId": second.headers.get("x-amz-version-id", "")},
                timeout=30,
            )
            with lock:
                statuses.extend(r.status_code for r in (first, second, gone, latest))

    threads = [threading.Thread(target=churn) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert statuses and set(statuses) <= {200, 204}, sorted(set(statuses))
