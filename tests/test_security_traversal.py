"""Traversal and layout attacks: no request reaches outside the bucket's own data.

Canary files sit next to the data directory, inside it (outside any bucket), in
another bucket (data and sidecars), in the server's own ``.pys3local`` directory and
at an absolute path. Hostile keys, bucket names, copy sources, upload ids, listing
prefixes and Host headers are sent byte for byte over a raw socket (HTTP clients
normalise ``..`` away) with every method; after each request the canaries must be
unchanged, no file may have appeared outside the attacked bucket, no answer may
carry a canary's content, and every object of the bucket must still be whole.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote
from xml.sax.saxutils import escape

import defusedxml.ElementTree as ET
import pytest
from conftest import RunningServer, start_server
from reliability import (
    HTTP,
    RawResponse,
    check_store,
    md5_hex,
    raw_request,
    serving,
    staging_files,
)

from pys3local.providers.local.layout import StoreLayout

NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
SECRET = "canary-" + uuid.uuid4().hex
ETC_CANARY = f"/etc/pys3local-traversal-{uuid.uuid4().hex[:12]}"


@dataclass
class Arena:
    """A server plus canaries around (and inside) its data directory."""

    server: RunningServer
    root: Path
    data: Path
    absolute: Path
    victim_upload: str

    @property
    def port(self) -> int:
        return self.server.port

    def request(self, method: str, target: str, headers=(), body: bytes = b"", **kw) -> RawResponse:
        response = raw_request(self.port, method, target, headers, body, **kw)
        # 501 NotImplemented is S3's documented answer for features we do not have.
        assert response.status < 500 or response.status == 501, (
            f"{method} {target} -> {response.status}: {response.text}"
        )
        assert SECRET not in response.text, f"{method} {target} leaked a canary"
        assert "root:x:0:0" not in response.text, f"{method} {target} leaked /etc/passwd"
        assert "Traceback" not in response.text
        return response


def enc(key: str) -> str:
    """Percent-encode a key for a raw path, dots included, so nothing normalises it."""
    return quote(key, safe="/").replace(".", "%2E")


def _tree(root: Path, skip: list[Path]) -> dict[str, tuple[int, int, str]]:
    found = {}
    for directory, dirs, files in os.walk(root):
        here = Path(directory)
        dirs[:] = [d for d in dirs if here / d not in skip]
        for name in files:
            path = here / name
            st = path.lstat()
            digest = hashlib.sha256(path.read_bytes()).hexdigest() if st.st_size < 1 << 20 else ""
            found[str(path.relative_to(root))] = (st.st_size, st.st_mtime_ns, digest)
        for name in dirs:
            found[str((here / name).relative_to(root)) + "/"] = (-1, 0, "")
    return found


def snapshot(arena: Arena) -> dict[str, object]:
    """Everything an attack on bucket ``attack`` must leave alone."""
    skip = [
        arena.data / "attack",
        arena.data / ".pys3local" / "staging",
        arena.data / ".pys3local" / "uploads",
    ]
    victim_upload = arena.data / ".pys3local" / "uploads" / arena.victim_upload
    return {
        "tree": _tree(arena.root, skip),
        "upload": _tree(victim_upload, []),
        "absolute": arena.absolute.read_text(),
        "etc": os.path.exists(ETC_CANARY),
    }


def assert_untouched(arena: Arena, before: dict[str, object], what: str) -> None:
    after = snapshot(arena)
    for part in before:
        if before[part] != after[part]:
            if isinstance(before[part], dict):
                b, a = before[part], after[part]  # type: ignore[assignment]
                changed = sorted(k for k in set(b) | set(a) if b.get(k) != a.get(k))
                raise AssertionError(f"{what} changed {part}: {changed[:10]}")
            raise AssertionError(f"{what} changed {part}: {before[part]!r} -> {after[part]!r}")
    report = check_store(arena.data)
    assert report.problems == [], what
    assert staging_files(arena.data) == [], what


@pytest.fixture(scope="module")
def arena(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Arena]:
    root = tmp_path_factory.mktemp("traversal")
    data = root / "data"
    (root / "canary.txt").write_text(SECRET + " outside the data directory")
    (root / "sub").mkdir()
    (root / "sub" / "canary.txt").write_text(SECRET + " in a sibling directory")
    absolute = root / "abs-canary.txt"
    absolute.write_text(SECRET + " at an absolute path")
    with serving(start_server(data, "--allow-bucket-creation", auth=False)) as server:
        (data / "stray.txt").write_text(SECRET + " in the data directory, in no bucket")
        for bucket in ("victim", "attack"):
            assert HTTP.put(f"{server.endpoint}/{bucket}").status_code == 200
        for key in ("v1", "dir/v2", "v1.json", "canary.txt"):
            body = f"{SECRET} victim object {key}".encode()
            assert HTTP.put(f"{server.endpoint}/victim/{key}", content=body).status_code == 200
        created = HTTP.post(f"{server.endpoint}/victim/pending?uploads")
        upload_id = ET.fromstring(created.content).findtext(NS + "UploadId")
        part = HTTP.put(
            f"{server.endpoint}/victim/pending",
            params={"partNumber": 1, "uploadId": upload_id},
            content=SECRET.encode() * 10,
        )
        assert part.status_code == 200
        yield Arena(server, root, data, absolute, upload_id)
    leaked = os.path.exists(ETC_CANARY)
    for path in (ETC_CANARY, ETC_CANARY + ".json"):
        if os.path.exists(path):  # a broken server wrote it: do not leave it behind
            os.unlink(path)
    assert not leaked, f"a request created {ETC_CANARY}"


# Keys as sent on the wire: every classic traversal form, percent-encoded dots and
# slashes, absolute paths, backslashes, NUL bytes.
def hostile_targets(arena: Arena) -> list[str]:
    absolute = str(arena.absolute)
    return [
        "/attack/../canary.txt",
        "/attack/../../canary.txt",
        "/attack/a/../../../canary.txt",
        "/attack/./../../canary.txt",
        "/attack/%2e%2e/%2e%2e/canary.txt",
        "/attack/%2e%2e%2f%2e%2e%2fcanary.txt",
        "/attack/..%2f..%2fcanary.txt",
        "/attack/%2E%2E%2F%2E%2E%2Fsub%2Fcanary.txt",
        "/attack/%252e%252e%252fcanary.txt",
        "/attack/..%5c..%5ccanary.txt",
        "/attack/..\\..\\canary.txt",
        "/attack/" + "../" * 12 + "etc/passwd",
        "/attack/" + "%2e%2e%2f" * 12 + "etc%2fpasswd",
        "/attack//etc/passwd",
        "/attack/%2Fetc%2Fpasswd",
        "/attack/" + ETC_CANARY,
        "/attack/%2F" + quote(ETC_CANARY[1:], safe=""),
        "/attack/" + absolute,
        "/attack/%2F" + quote(absolute[1:], safe=""),
        "/attack/%00/../../canary.txt",
        "/attack/canary.txt%00.jpg",
        "/attack/..%00/canary.txt",
        "/attack/..",
        "/attack/.",
        "/attack/%2e%2e",
        "/attack/../victim/objects/v1",
        "/attack/../../data/victim/objects/v1",
        "/attack/..%2fvictim%2fobjects%2fv1",
        "/attack/..%2fvictim%2f.metadata%2fv1.json",
        "/attack/../stray.txt",
        "/attack/../../stray.txt",
        "/attack/../.pys3local/locks/00",
        "/attack/../../.pys3local/locks/00",
        "/attack/..%2f..%2f.pys3local%2fuploads%2f" + arena.victim_upload + "%2fupload.json",
        "/attack/../../.pys3local/uploads/" + arena.victim_upload,
        "/attack/.metadata/../../victim/.metadata/v1.json",
        "/attack/..%2F.metadata%2Fv1.json",
        # Hostile bucket names.
        "/..%2fcanary.txt",
        "/%2e%2e/canary.txt",
        "/../canary.txt",
        "/./canary.txt",
        "/.pys3local/locks/00",
        "/.pys3local/staging",
        "/%2Epys3local/locks/00",
        "/victim%2f..%2f..%2fcanary.txt",
        "/victim%2f..%2fstray.txt",
        "/victim%2fobjects/v1",
        "/..%5c..%5ccanary.txt",
        "/%00/canary.txt",
    ]


@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT", "DELETE"])
def test_hostile_paths_stay_inside_the_bucket(arena: Arena, method: str) -> None:
    """GET, HEAD, PUT and DELETE of every hostile path: no canary is read, changed or
    deleted, nothing appears outside the attacked bucket, victim objects stay whole."""
    for target in hostile_targets(arena):
        before = snapshot(arena)
        body = f"EVIL {method} {target}".encode()
        response = arena.request(method, target, body=body if method == "PUT" else b"")
        assert_untouched(arena, before, f"{method} {target}")
        if method == "PUT" and response.status == 200:
            # Stored as a key of bucket "attack", whole, and readable back.
            back = arena.request("GET", target)
            assert back.status == 200 and back.body == body, target
            assert response.headers["etag"] == f'"{md5_hex(body)}"'
        if method == "GET" and response.status == 200:
            assert response.body.startswith(b"EVIL"), target  # only what we stored
    assert_victims_whole(arena)


def assert_victims_whole(arena: Arena) -> None:
    for key in ("v1", "dir/v2", "v1.json", "canary.txt"):
        got = HTTP.get(f"{arena.server.endpoint}/victim/{key}")
        assert got.content == f"{SECRET} victim object {key}".encode()
    parts = HTTP.get(
        f"{arena.server.endpoint}/victim/pending", params={"uploadId": arena.victim_upload}
    )
    assert parts.status_code == 200 and b"<PartNumber>1</PartNumber>" in parts.content


def attack_keys(arena: Arena) -> list[str]:
    """Decoded hostile keys, as a client library would put them in XML."""
    return [
        "../canary.txt",
        "../../canary.txt",
        "a/../../../canary.txt",
        "..\\..\\canary.txt",
        "/" + str(arena.absolute),
        str(arena.absolute),
        ETC_CANARY,
        "../victim/objects/v1",
        "../../victim/objects/v1",
        "../victim/.metadata/v1.json",
        ".metadata/../../victim/.metadata/v1.json",
        "../stray.txt",
        "../../stray.txt",
        "../../.pys3local/locks/00",
        f"../../.pys3local/uploads/{arena.victim_upload}/upload.json",
        "%2e%2e/%2e%2e/canary.txt",
        "..%2f..%2fcanary.txt",
    ]


def delete_xml(keys: list[str]) -> bytes:
    objects = "".join(f"<Object><Key>{escape(k)}</Key></Object>" for k in keys)
    return f"<Delete>{objects}</Delete>".encode()


def test_DeleteObjects_hostile_keys_delete_only_bucket_objects(arena: Arena) -> None:
    """DeleteObjects naming hostile keys removes those keys of the bucket (if they
    exist) and nothing outside it; an over-long key is a per-key error."""
    keys = attack_keys(arena)
    for key in keys:  # make them exist inside the bucket, so deleting them is real
        response = arena.request("PUT", "/attack/" + enc(key), body=b"EVIL " + key.encode())
        assert response.status == 200, (key, response.text)
    before = snapshot(arena)
    response = arena.request("POST", "/attack?delete", body=delete_xml([*keys, "k" * 1100]))
    assert response.status == 200, response.text
    assert_untouched(arena, before, "DeleteObjects")
    root = ET.fromstring(response.body)
    deleted = {e.findtext(NS + "Key") for e in root.iter(NS + "Deleted")}
    assert deleted == set(keys)
    assert [e.findtext(NS + "Code") for e in root.iter(NS + "Error")] == ["KeyTooLongError"]
    for key in keys:
        assert arena.request("HEAD", "/attack/" + enc(key)).status == 404
    assert_victims_whole(arena)


def test_CopyObject_hostile_copy_sources_read_nothing_outside(arena: Arena) -> None:
    """CopyObject and UploadPartCopy with hostile x-amz-copy-source values never copy a
    canary or another bucket's internals: 4xx, or a copy of an object of the bucket."""
    absolute = str(arena.absolute)
    sources = [
        "attack/../canary.txt",
        "/attack/../../canary.txt",
        "/attack/..%2F..%2Fcanary.txt",
        "attack/%2e%2e/%2e%2e/canary.txt",
        "attack/%2e%2e%2f%2e%2e%2fcanary.txt",
        "../canary.txt",
        "/../canary.txt",
        "%2e%2e/canary.txt",
        "..%2fcanary.txt",
        "./canary.txt",
        "attack/..%5c..%5ccanary.txt",
        "attack//" + absolute.lstrip("/"),
        "attack/%2F" + quote(absolute[1:], safe=""),
        "attack//etc/passwd",
        "attack/" + "..%2f" * 12 + "etc%2fpasswd",
        "victim/../../canary.txt",
        "victim%2f..%2f..%2fcanary.txt",
        "victim/..%2f..%2fstray.txt",
        "victim/objects/v1",
        "victim/.metadata/v1.json",
        ".pys3local/locks/00",
        "%2Epys3local/uploads/" + arena.victim_upload + "/upload.json",
        "attack/../../.pys3local/uploads/" + arena.victim_upload + "/00001",
        "attack/%00/../canary.txt",
        "attack/x?versionId=../../canary.txt",
    ]
    created = arena.request("POST", "/attack/target?uploads")
    upload_id = ET.fromstring(created.body).findtext(NS + "UploadId")
    for source in sources:
        for target in ("/attack/copied", f"/attack/target?partNumber=1&uploadId={upload_id}"):
            before = snapshot(arena)
            response = arena.request("PUT", target, [("x-amz-copy-source", source)], body=b"")
            assert_untouched(arena, before, f"copy from {source}")
            assert response.status in (400, 403, 404, 501), (source, response.status)
    # Nothing was copied into the destination either.
    assert arena.request("GET", "/attack/copied").status == 404
    listed = arena.request("GET", f"/attack/target?uploadId={upload_id}")
    assert b"<Part>" not in listed.body


def test_upload_ids_cannot_name_paths(arena: Arena) -> None:
    """uploadId values that look like paths are NoSuchUpload for every multipart
    operation, and Abort never removes anything (it deletes a directory tree)."""
    ids = [
        "../../canary.txt",
        "..%2f..%2fcanary.txt",
        "../uploads/" + arena.victim_upload,
        "%2e%2e%2f" + arena.victim_upload,
        arena.victim_upload + "/../" + arena.victim_upload,
        arena.victim_upload + "%00",
        "/" + str(arena.root),
        ".",
        "..",
        "",
    ]
    complete = (
        b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>x</ETag></Part>"
        b"</CompleteMultipartUpload>"
    )
    for upload_id in ids:
        query = "uploadId=" + quote(upload_id, safe="%/")
        for method, target, body in (
            ("GET", f"/victim/pending?{query}", b""),
            ("PUT", f"/victim/pending?partNumber=2&{query}", b"part"),
            ("POST", f"/victim/pending?{query}", complete),
            ("DELETE", f"/victim/pending?{query}", b""),
        ):
            before = snapshot(arena)
            response = arena.request(method, target, body=body)
            assert_untouched(arena, before, f"{method} {target}")
            assert response.status in (400, 404), (method, target, response.status)
    assert_victims_whole(arena)


@pytest.mark.parametrize("list_type", ["1", "2"])
def test_listing_with_hostile_prefixes_lists_only_the_bucket(arena: Arena, list_type: str) -> None:
    """ListObjects(V2) with hostile prefixes, markers and delimiters, and listings of
    hostile bucket names, never show a canary, another bucket or internal files."""
    HTTP.put(f"{arena.server.endpoint}/attack/listed/one", content=b"EVIL one")
    prefixes = [
        "../",
        "../../",
        "..",
        "%2e%2e/",
        "/",
        "//",
        "/etc/",
        str(arena.root) + "/",
        "../victim/",
        "../victim/objects/",
        "../.pys3local/",
        ".metadata/",
        "..\\",
        "a/../../",
        "listed/../../",
        "\x00",
    ]
    for prefix in prefixes:
        for extra in (
            "",
            "&delimiter=/",
            "&delimiter=.",
            f"&marker={quote(prefix)}",
            f"&start-after={quote(prefix)}",
        ):
            target = f"/attack?list-type={list_type}&prefix={quote(prefix, safe='')}{extra}"
            response = arena.request("GET", target)
            assert response.status in (200, 400), (target, response.status)
            if response.status == 200:
                root = ET.fromstring(response.body)
                keys = [e.text or "" for e in root.iter(NS + "Key")]
                prefixes_seen = [
                    e.findtext(NS + "Prefix") or "" for e in root.iter(NS + "CommonPrefixes")
                ]
                for key in keys:
                    assert (
                        HTTP.head(f"{arena.server.endpoint}/attack/{enc(key)}").status_code == 200
                    ), key
                for name in keys + prefixes_seen:
                    assert "stray" not in name and "objects/v1" not in name, (target, name)
                    assert ".pys3local" not in name and "canary" not in name, (target, name)
    for bucket in (
        "%2e%2e",
        "..",
        ".",
        ".pys3local",
        "%2Epys3local",
        "victim%2f..",
        "victim%2fobjects",
        "..%2fdata",
        "data",
        "stray.txt",
    ):
        response = arena.request("GET", f"/{bucket}?list-type={list_type}")
        assert response.status in (400, 404), (bucket, response.status)
    listing = arena.request("GET", "/")
    names = [e.text for e in ET.fromstring(listing.body).iter(NS + "Name")]
    assert names == ["attack", "victim"]


def test_virtual_host_bucket_names_cannot_escape(arena: Arena) -> None:
    """Hostile bucket names in the Host header (virtual-hosted style) reach no file
    outside a bucket."""
    hosts = [
        "..localhost",
        "...localhost",
        "%2e%2e.localhost",
        ".pys3local.localhost",
        "victim%2f...localhost",
        "..%2f..localhost",
    ]
    for host in hosts:
        for method, body in (("GET", b""), ("PUT", b"EVIL vhost"), ("DELETE", b"")):
            for target in ("/canary.txt", "/../canary.txt", "/stray.txt", "/locks/00"):
                before = snapshot(arena)
                arena.request(method, target, body=body, host=f"{host}:{arena.port}")
                assert_untouched(arena, before, f"{method} {host}{target}")
    assert_victims_whole(arena)


# Keys that look like the backend's own files: sidecars, escapes, staging names. Two
# groups, because a key that is the "folder" of another (``x.json`` and ``x.json/y``)
# is the documented ObjectNameConflict; within a group no key is another's folder.
COLLIDERS = [
    [
        "x",
        "x.json.json",
        "x.json/y",
        "x.json/y.json",
        "x%2Ejson/y",
        "x.json/.metadata/y.json",
        "%",
        "%25",
        "%2E",
        "%2E%2E",
        "%00",
        ".",
        "..",
        "...",
        "a/./b",
        "a/../b",
        "a//b",
        "dir//",
        "//",
        ".metadata/x",
        ".metadata/x.json",
        "objects/x",
        "objects/.metadata/x.json",
        ".pys3local/staging/abc.data",
        "upload.json",
        "0123456789abcdef01234567.data",
        "0123456789abcdef01234567.meta",
        "00001.d41d8cd98f00b204e9800998ecf8427e",
        "a/.metadata/b",
        "%2E.json",
        "...json/z",
        ".json",
        "json/.json",
        "a b/ c .json",
        "\u00e4/\u00f6.json",
        "..\\..\\x",
    ],
    [
        "x.json",
        "x/y.json",
        "x%2Ejson",
        "x.json.json/z",
        "dir/",
        "/",
        ".metadata",
        "objects",
        ".pys3local",
        "%2E%2E/x",
        "../x",
        "./x",
        "..json",
        "a/..",
        "a/.",
    ],
]


@pytest.mark.parametrize("group", [0, 1])
def test_keys_that_look_like_backend_files_never_collide(arena: Arena, group: int) -> None:
    """Keys named like sidecars, escaped names, staging and upload files are ordinary
    keys: each round-trips with its own body and ETag, overwriting or deleting one
    never changes another, and the listing shows exactly them."""
    bucket = f"layout-{group}"
    keys = COLLIDERS[group]
    HTTP.put(f"{arena.server.endpoint}/{bucket}")
    bodies = {key: f"body of {key!r}".encode() for key in keys}
    for rounds in (keys, list(reversed(keys))):
        for key in rounds:
            bodies[key] = bodies[key] + b"+"
            response = arena.request("PUT", f"/{bucket}/{enc(key)}", body=bodies[key])
            assert response.status == 200, (key, response.text)
        check_bodies(arena, bucket, bodies)
    for key in keys[::2]:
        assert arena.request("DELETE", f"/{bucket}/{enc(key)}").status == 204
        del bodies[key]
        check_bodies(arena, bucket, bodies)
    assert check_store(arena.data).problems == []


def check_bodies(arena: Arena, bucket: str, bodies: dict[str, bytes]) -> None:
    for key, body in bodies.items():
        got = arena.request("GET", f"/{bucket}/{enc(key)}")
        assert got.status == 200 and got.body == body, key
        assert got.headers["etag"] == f'"{md5_hex(body)}"', key
    listed = []
    marker = ""
    while True:
        response = arena.request(
            "GET", f"/{bucket}?list-type=2&encoding-type=url&start-after={quote(marker, safe='')}"
        )
        root = ET.fromstring(response.body)
        page = [e.text or "" for e in root.iter(NS + "Key")]
        listed += [unquote(k) for k in page]
        if root.findtext(NS + "IsTruncated") != "true" or not page:
            break
        marker = listed[-1]
    assert sorted(listed) == sorted(bodies)
    layout = StoreLayout(arena.data)
    for key in bodies:
        data = layout.object_paths(bucket, key).data
        assert (arena.data / bucket / "objects") in data.parents


def test_boto3_keys_with_dot_segments_stay_inside(tmp_path: Path) -> None:
    """With authentication on, boto3 sends ../ and absolute keys as they are: they are
    stored as keys of the bucket (the predecessor wrote them outside)."""
    root = tmp_path
    (root / "canary.txt").write_text(SECRET)
    # The predecessor wrote Key="/abs.txt" to /abs.txt: use a unique name at the root.
    at_root = Path(f"/pys3local-abs-{uuid.uuid4().hex[:12]}.txt")
    server = start_server(root / "data", "--allow-bucket-creation")
    try:
        s3 = server.client()
        s3.create_bucket(Bucket="boto")
        keys = [
            "../escape5.txt",
            "a/../../escape6.txt",
            str(at_root),
            "../canary.txt",
            "//" + str(root / "escape7.txt"),
            "..\\escape8.txt",
        ]
        for key in keys:
            s3.put_object(Bucket="boto", Key=key, Body=b"EVIL " + key.encode())
        assert (root / "canary.txt").read_text() == SECRET
        outside = sorted(p.name for p in root.iterdir())
        assert outside == ["canary.txt", "data"]
        assert not at_root.exists()
        for key in keys:
            assert s3.get_object(Bucket="boto", Key=key)["Body"].read() == b"EVIL " + key.encode()
        listed = [o["Key"] for o in s3.list_objects_v2(Bucket="boto")["Contents"]]
        assert sorted(listed) == sorted(keys)
        s3.delete_objects(Bucket="boto", Delete={"Objects": [{"Key": k} for k in keys]})
        assert (root / "canary.txt").read_text() == SECRET
        assert s3.list_objects_v2(Bucket="boto")["KeyCount"] == 0
    finally:
        server.stop()
        for leaked in (at_root, at_root.with_name(at_root.name + ".json")):
            if leaked.exists():  # a broken server wrote it: do not leave it behind
                leaked.unlink()


def test_CreateBucket_named_like_a_file_in_the_data_directory(tmp_path: Path) -> None:
    """A bucket name that is a plain file in the data directory: a clean 4xx, and
    the file is neither changed nor served as a bucket."""
    server = start_server(tmp_path / "data", "--allow-bucket-creation", auth=False)
    try:
        stray = tmp_path / "data" / "stray.txt"
        stray.write_text(SECRET)
        for method in ("PUT", "GET", "HEAD", "DELETE"):
            response = raw_request(server.port, method, "/stray.txt")
            assert 400 <= response.status < 500, (method, response.status, response.text)
            assert SECRET not in response.text
        assert stray.read_text() == SECRET
    finally:
        server.stop()


def test_DeleteBucket_removes_only_the_bucket_data(tmp_path: Path) -> None:
    """DeleteBucket of an empty bucket removes its own layout only: a file that some
    other program keeps in that directory survives."""
    data = tmp_path / "data"
    server = start_server(data, "--allow-bucket-creation", auth=False)
    try:
        (data / "photos").mkdir()
        (data / "photos" / "notes.txt").write_text(SECRET)
        created = raw_request(server.port, "PUT", "/photos")
        assert created.status in (200, 409), created.text
        deleted = raw_request(server.port, "DELETE", "/photos")
        assert deleted.status in (204, 404, 409), deleted.text
        assert (data / "photos" / "notes.txt").read_text() == SECRET
    finally:
        server.stop()
