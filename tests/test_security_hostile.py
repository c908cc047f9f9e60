"""Hostile bodies and headers against a real server process.

XML bombs and malformed documents, more than 1000 keys in DeleteObjects, bodies
whose Content-Length lies, clients that stall or trickle, oversized headers and
keys, hostile Range headers, and the request limits of ``pys3local serve``
(``--max-object-size``, ``--max-header-size``, ``--read-timeout``, ``--idle-timeout``).
Every answer must be a clean 4xx (or the documented 2xx), never a 5xx or a traceback,
nothing half-received may be stored, and other clients must be served meanwhile.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import re
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from conftest import RunningServer, start_server
from processes import spawn, stop_group
from reliability import (
    HTTP,
    KiB,
    MiB,
    connect,
    proc_hwm_kib,
    raw_request,
    read_response,
    request_head,
    serving,
    sign,
    staging_files,
    wait_for,
)

SECRET = "hostile-canary-7f3a9c"


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """--no-auth, short read and idle timeouts, a bucket ``hhh`` and a canary file."""
    root = tmp_path_factory.mktemp("hostile")
    (root / "canary.txt").write_text(SECRET)
    options = ("--allow-bucket-creation", "--read-timeout", "2", "--idle-timeout", "2")
    with serving(start_server(root / "data", *options, auth=False)) as running:
        assert HTTP.put(f"{running.endpoint}/hhh").status_code == 200
        stored = HTTP.put(f"{running.endpoint}/hhh/existing", content=b"existing body")
        assert stored.status_code == 200
        yield running


def assert_clean(response, *statuses: int) -> None:
    assert response.status in statuses, (response.status, response.text)
    assert "Traceback" not in response.text and SECRET not in response.text


def assert_nothing_stored(server: RunningServer, key: str) -> None:
    assert HTTP.head(f"{server.endpoint}/hhh/{key}").status_code == 404
    assert staging_files(server.data_dir) == []
    assert HTTP.get(f"{server.endpoint}/hhh/existing").content == b"existing body"


# --------------------------------------------------------------------------- XML

LAUGHS_DTD = (
    b'<!DOCTYPE d [<!ENTITY lol "lol">'
    + b"".join(
        b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
        for i in range(1, 10)
    )
    + b"]>"
)

#: The two XML documents a client sends: (opening, closing) around the one text
#: value a hostile document plays with (a key, an ETag).
SHAPES = {
    "DeleteObjects": (b"<Delete><Object><Key>", b"</Key></Object></Delete>"),
    "CompleteMultipartUpload": (
        b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>",
        b"</ETag></Part></CompleteMultipartUpload>",
    ),
}


def hostile_documents(root: str, operation: str = "DeleteObjects") -> dict[str, bytes]:
    """Documents shaped like a valid request of ``operation`` except for one hostile
    feature each, so that a parser without that protection would accept them."""
    canary = f"{root}/canary.txt"
    opening, closing = SHAPES[operation]
    element = opening.split(b">", 1)[0] + b">"  # <Delete> / <CompleteMultipartUpload>

    def doc(text: bytes, head: bytes = b"", extra: bytes = b"") -> bytes:
        return (
            head
            + opening
            + text
            + closing[: -len(element) - 1]
            + extra
            + closing[-len(element) - 1 :]
        )

    deep = (2 * MiB - 200) // 7
    return {
        "empty": b"",
        "not-xml": b"this is not xml",
        "binary": bytes(range(256)) * 16,
        "truncated": doc(b"a")[:-5],
        "unclosed-tag": doc(b"a")[:-1],
        "wrong-root": doc(b"a").replace(element[1:-1], b"Remove"),
        "bad-utf8": doc(b"\xff\xfe"),
        "billion-laughs": doc(b"&lol9;", LAUGHS_DTD),
        "quadratic-blowup": doc(
            b"&a;" * 10_000, b'<!DOCTYPE d [<!ENTITY a "' + b"a" * 100_000 + b'">]>'
        ),
        "external-entity": doc(
            b"&x;", f'<!DOCTYPE d [<!ENTITY x SYSTEM "file://{canary}">]>'.encode()
        ),
        "external-dtd": doc(b"a", f'<!DOCTYPE d SYSTEM "file://{canary}">'.encode()),
        "parameter-entity": doc(
            b"a", f'<!DOCTYPE d [<!ENTITY % p SYSTEM "file://{canary}"> %p;]>'.encode()
        ),
        "network-entity": doc(b"&x;", b'<!DOCTYPE d [<!ENTITY x SYSTEM "http://127.0.0.1:9/x">]>'),
        "internal-entity": doc(b"&x;", b'<!DOCTYPE d [<!ENTITY x "a">]>'),
        "deep-nesting-small": doc(b"a", extra=b"<n>" * 10_000 + b"</n>" * 10_000),
        "deep-nesting-2MiB": doc(b"a", extra=b"<n>" * deep + b"</n>" * deep),
        "deep-inside": doc(b"a" + b"<x>" * 50 + b"</x>" * 50),
        "utf16-declared": '<?xml version="1.0" encoding="UTF-16"?><Delete/>'.encode("utf-16"),
    }


@pytest.mark.parametrize("operation", ["DeleteObjects", "CompleteMultipartUpload"])
def test_hostile_xml_is_MalformedXML(open_server, operation: str) -> None:
    """Malformed, truncated, deeply nested, entity-expanding and external-entity
    documents: 400 MalformedXML, nothing reflected, nothing deleted or completed."""
    root = str(open_server.data_dir.parent)
    if operation == "DeleteObjects":
        target = "/hhh?delete"
    else:
        created = HTTP.post(f"{open_server.endpoint}/hhh/mp?uploads")
        upload_id = created.text.split("<UploadId>")[1].split("</UploadId>")[0]
        target = f"/hhh/mp?uploadId={upload_id}"
    for name, body in hostile_documents(root, operation).items():
        response = raw_request(open_server.port, "POST", target, body=body, timeout=30)
        assert_clean(response, 400)
        assert response.error_code() == "MalformedXML", (name, response.text)
        assert b"lollol" not in response.body and b"aaaa" not in response.body, name
    assert HTTP.get(f"{open_server.endpoint}/hhh/existing").content == b"existing body"
    assert staging_files(open_server.data_dir) == []


def test_XInclude_is_not_processed(open_server) -> None:
    """An XInclude element naming a file is not expanded into a key (and nothing of
    the file is reflected)."""
    canary = open_server.data_dir.parent / "canary.txt"
    body = (
        '<Delete xmlns:xi="http://www.w3.org/2001/XInclude"><Object><Key>'
        f'<xi:include href="file://{canary}" parse="text"/></Key></Object></Delete>'
    ).encode()
    response = raw_request(open_server.port, "POST", "/hhh?delete", body=body)
    assert response.status in (200, 400), response.text
    assert SECRET not in response.text and "Traceback" not in response.text
    assert canary.read_text() == SECRET


def test_hostile_xml_memory_is_bounded(make_server) -> None:
    """Hostile 2 MiB documents (deep nesting, entity bombs) raise a fresh server's peak
    memory by less than 32 MiB: rejecting a bad document costs memory in proportion to
    its size (the body is buffered), it is not amplified by parsing."""
    server = make_server("--allow-bucket-creation", auth=False)
    HTTP.put(f"{server.endpoint}/hhh")
    documents = hostile_documents(str(server.data_dir.parent))
    pid = server.process.pid
    before = proc_hwm_kib(pid)
    for name in ("deep-nesting-2MiB", "billion-laughs", "quadratic-blowup") * 2:
        response = raw_request(server.port, "POST", "/hhh?delete", body=documents[name])
        assert response.status == 400, name
    grown = (proc_hwm_kib(pid) - before) / 1024
    assert grown < 32, f"peak RSS grew by {grown:.0f} MiB"


def test_hostile_xml_does_not_stall_other_clients(open_server) -> None:
    """While three clients keep sending hostile 2 MiB documents, other clients'
    requests are still answered within 0.1 s."""
    body = hostile_documents("/nonexistent")["deep-nesting-2MiB"]
    stop = threading.Event()

    def attack() -> None:
        while not stop.is_set():
            raw_request(open_server.port, "POST", "/hhh?delete", body=body, timeout=60)

    attackers = [threading.Thread(target=attack, daemon=True) for _ in range(3)]
    for attacker in attackers:
        attacker.start()
    latencies = []
    try:
        time.sleep(0.3)
        for _ in range(30):
            t0 = time.monotonic()
            assert HTTP.get(f"{open_server.endpoint}/hhh/existing").status_code == 200
            latencies.append(time.monotonic() - t0)
            if latencies[-1] >= 0.1:
                break
            time.sleep(0.02)
    finally:
        stop.set()
        for attacker in attackers:
            attacker.join(30)
    assert max(latencies) < 0.1, f"slowest answer {max(latencies):.2f} s"


def test_DeleteObjects_limit_is_1000_keys(open_server) -> None:
    """DeleteObjects with 1001 keys is refused with 400 (and deletes nothing); 1000
    keys are accepted."""
    for count, status in ((1001, 400), (1000, 200)):
        keys = "".join(f"<Object><Key>k{i}</Key></Object>" for i in range(count))
        body = f"<Delete><Object><Key>existing</Key></Object>{keys}</Delete>".encode()
        if count == 1000:
            body = f"<Delete>{keys}</Delete>".encode()
        response = raw_request(open_server.port, "POST", "/hhh?delete", body=body)
        assert_clean(response, status)
        if status == 400:
            assert response.error_code() == "MalformedXML"
    assert HTTP.get(f"{open_server.endpoint}/hhh/existing").content == b"existing body"


# --------------------------------------------------------------------------- lying bodies


def test_Content_Length_longer_than_the_body_and_client_gone(open_server) -> None:
    """A client that announces 8 MiB, sends 4 MiB and closes: nothing is stored and no
    temporary file is left."""
    for key in ("gone", "existing"):
        sock = connect(open_server.port)
        sock.sendall(
            request_head("PUT", f"/hhh/{key}", port=open_server.port, content_length=8 * MiB)
        )
        sock.sendall(b"x" * (4 * MiB))
        assert wait_for(lambda: staging_files(open_server.data_dir), timeout=5, interval=0.01)
        sock.close()
    deadline = time.monotonic() + 5
    while staging_files(open_server.data_dir) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert_nothing_stored(open_server, "gone")


def test_stalled_body_times_out_and_others_are_served(open_server) -> None:
    """A body that stops mid-way: after --read-timeout (2 s) the server answers
    RequestTimeout and closes; nothing is stored; other clients are served meanwhile."""
    sockets = []
    for key in ("stalled", "existing"):
        sock = connect(open_server.port, timeout=15)
        sock.sendall(
            request_head("PUT", f"/hhh/{key}", port=open_server.port, content_length=8 * MiB)
            + b"y" * (3 * MiB + 5)
        )
        sockets.append(sock)
    started = time.monotonic()
    assert wait_for(lambda: len(staging_files(open_server.data_dir)) == 2, 1, interval=0.01)
    served = []
    while time.monotonic() - started < 1.5:  # the stall is in progress
        t0 = time.monotonic()
        assert HTTP.get(f"{open_server.endpoint}/hhh/existing").content == b"existing body"
        served.append(time.monotonic() - t0)
    assert max(served) < 0.5, served
    for sock in sockets:
        response = read_response(sock, "PUT")
        elapsed = time.monotonic() - started
        assert response.status == 400 and response.error_code() == "RequestTimeout"
        assert 1.5 < elapsed < 10, elapsed
        assert sock.recv(1) == b"", "the connection was not closed"
        sock.close()
    assert_nothing_stored(open_server, "stalled")


def test_trickling_clients_do_not_block_others(open_server) -> None:
    """Forty clients trickling a body (one byte every 0.5 s, under the read
    timeout) and ten sending headers byte by byte: other requests are served fast."""
    stop = threading.Event()
    sockets = []

    def trickle(sock: socket.socket, data: bytes) -> None:
        for i in range(len(data)):
            if stop.is_set():
                return
            try:
                sock.sendall(data[i : i + 1])
            except OSError:
                return
            stop.wait(0.5)

    threads = []
    for n in range(50):
        sock = connect(open_server.port, timeout=30)
        sockets.append(sock)
        if n < 40:
            sock.sendall(
                request_head("PUT", f"/hhh/trickle-{n}", port=open_server.port, content_length=1000)
            )
            data = b"z" * 1000
        else:
            data = request_head("GET", "/hhh/existing", port=open_server.port)
        thread = threading.Thread(target=trickle, args=(sock, data), daemon=True)
        thread.start()
        threads.append(thread)
    try:
        time.sleep(1)
        for _ in range(20):
            t0 = time.monotonic()
            assert HTTP.get(f"{open_server.endpoint}/hhh/existing").status_code == 200
            assert time.monotonic() - t0 < 0.5
            put = HTTP.put(f"{open_server.endpoint}/hhh/while-trickling", content=b"ok")
            assert put.status_code == 200
    finally:
        stop.set()
        for sock in sockets:
            sock.close()
        for thread in threads:
            thread.join(5)
    deadline = time.monotonic() + 5
    while staging_files(open_server.data_dir) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert staging_files(open_server.data_dir) == []
    for n in range(40):
        assert HTTP.head(f"{open_server.endpoint}/hhh/trickle-{n}").status_code == 404


@pytest.fixture(scope="module")
def signed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    directory = tmp_path_factory.mktemp("signed")
    with serving(start_server(directory, "--allow-bucket-creation")) as running:
        running.client().create_bucket(Bucket="hhh")
        yield running


def test_Content_Length_shorter_than_the_body(signed_server, open_server) -> None:
    """A Content-Length shorter than the signed (or MD5-summed) body: the truncated
    body fails its checksum and nothing is stored."""
    # What follows the declared length is, by HTTP framing, a next request.
    body = b"A" * 1000 + b"GET /hhh/existing HTTP/1.1\r\nHost: x\r\n\r\n"
    # Signed payload hash of the whole body, Content-Length of the first 1000 bytes.
    target = "/hhh/short-signed"
    headers = sign(signed_server, "PUT", target, {"content-length": "1000"}, body)
    headers["content-length"] = "1000"
    sock = connect(signed_server.port)
    sock.sendall(request_head("PUT", target, headers, port=signed_server.port) + body)
    response = read_response(sock, "PUT")
    sock.close()
    assert_clean(response, 400)
    assert response.error_code() == "XAmzContentSHA256Mismatch"
    s3 = signed_server.client()
    with pytest.raises(s3.exceptions.ClientError):
        s3.head_object(Bucket="hhh", Key="short-signed")
    # Unsigned, with a Content-MD5 of the whole body.
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    sock = connect(open_server.port)
    sock.sendall(
        request_head(
            "PUT",
            "/hhh/short-md5",
            [("Content-MD5", md5)],
            port=open_server.port,
            content_length=1000,
        )
        + body
    )
    response = read_response(sock, "PUT")
    assert_clean(response, 400)
    assert response.error_code() == "BadDigest"
    sock.close()
    assert_nothing_stored(open_server, "short-md5")


def test_aws_chunked_body_that_lies_about_its_length(open_server) -> None:
    """aws-chunked framing whose decoded length differs from
    x-amz-decoded-content-length is refused and stores nothing."""
    for declared, chunks in ((10, [b"0123456789abcdef"]), (100, [b"short"])):
        framed = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"
        headers = {
            "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
            "content-encoding": "aws-chunked",
            "x-amz-decoded-content-length": str(declared),
        }
        response = raw_request(open_server.port, "PUT", "/hhh/chunked-lie", headers, framed)
        assert_clean(response, 400)
        assert_nothing_stored(open_server, "chunked-lie")


# --------------------------------------------------------------------------- headers and keys


def test_oversized_headers_are_refused(open_server) -> None:
    """More than 64 KiB of headers (one huge header, many headers, a huge URL): 400
    and the connection is closed; just under the limit is served."""
    cases = [
        [("x-big", "a" * (70 * KiB))],
        [(f"x-h{i}", "b" * 1000) for i in range(80)],
        [("cookie", "c" * (1 << 20))],
    ]
    for headers in cases:
        sock = connect(open_server.port)
        try:
            sock.sendall(request_head("GET", "/hhh/existing", headers, port=open_server.port))
            response = read_response(sock)
        except (ConnectionResetError, BrokenPipeError):
            # The server answered and closed while the client was still sending; the
            # reset can destroy the answer in flight. Refused all the same.
            pass
        else:
            assert response.status in (400, 413, 431), response.status
            # A reset (closed with unread data) is closed all the same.
            with contextlib.suppress(ConnectionResetError):
                assert sock.recv(1) == b"", "the connection stayed open"
        finally:
            sock.close()
        assert HTTP.get(f"{open_server.endpoint}/hhh/existing").status_code == 200
    long_url = "/hhh/existing?x=" + "u" * (70 * KiB)
    assert raw_request(open_server.port, "GET", long_url).status in (400, 414, 431)
    ok = raw_request(open_server.port, "GET", "/hhh/existing", [("x-fine", "d" * (50 * KiB))])
    assert ok.status == 200 and ok.body == b"existing body"
    assert HTTP.get(f"{open_server.endpoint}/hhh/existing").status_code == 200


def test_max_header_size_is_configurable(make_server) -> None:
    """--max-header-size 8K refuses a 10 KiB header section and serves a 4 KiB one."""
    server = make_server("--allow-bucket-creation", "--max-header-size", "8K", auth=False)
    HTTP.put(f"{server.endpoint}/hhh")
    big = raw_request(server.port, "GET", "/hhh", [("x-big", "a" * (10 * KiB))])
    assert big.status == 400
    small = raw_request(server.port, "GET", "/hhh", [("x-small", "a" * (4 * KiB))])
    assert small.status == 200


def test_keys_over_1024_bytes_are_refused(open_server, signed_server) -> None:
    """Keys over 1024 bytes (also as copy source, multipart key or in UTF-8 bytes)
    are 400 KeyTooLongError; a 1024-byte key works."""
    long_key = "/".join(["k" * 200] * 5) + "/" + "x" * 20
    assert len(long_key.encode()) == 1025
    exact = long_key[:-1]
    utf8 = "é" * 513  # 1026 bytes, 513 characters
    for key in (long_key, utf8):
        for method in ("PUT", "GET", "HEAD", "DELETE", "POST"):
            target = f"/hhh/{key}" + ("?uploads" if method == "POST" else "")
            response = raw_request(open_server.port, method, _encode_target(target), body=b"v")
            assert response.status == 400, (method, response.status)
            if method not in ("HEAD",):
                assert response.error_code() == "KeyTooLongError"
    copy = raw_request(
        open_server.port, "PUT", "/hhh/copy", [("x-amz-copy-source", "/hhh/" + long_key)]
    )
    assert copy.status == 400 and copy.error_code() == "KeyTooLongError"
    stored = raw_request(open_server.port, "PUT", _encode_target(f"/hhh/{exact}"), body=b"v")
    assert stored.status == 200
    s3 = signed_server.client()
    with pytest.raises(s3.exceptions.ClientError) as info:
        s3.put_object(Bucket="hhh", Key=long_key, Body=b"v")
    assert info.value.response["Error"]["Code"] == "KeyTooLongError"


def _encode_target(target: str) -> str:
    return quote(target, safe="/?=")


def test_max_object_size_is_enforced(make_server) -> None:
    """--max-object-size 1M: a larger PUT or part is EntityTooLarge (declared or
    streamed), nothing is stored, and a 1 MiB object is accepted."""
    server = make_server("--allow-bucket-creation", "--max-object-size", "1M", auth=False)
    HTTP.put(f"{server.endpoint}/hhh")
    declared = raw_request(server.port, "PUT", "/hhh/big", body=b"x" * (MiB + 1))
    assert declared.status == 400 and declared.error_code() == "EntityTooLarge"
    chunk = b"x" * (MiB + 1)
    framed = b"%x\r\n%s\r\n0\r\n\r\n" % (len(chunk), chunk)
    streamed = raw_request(
        server.port,
        "PUT",
        "/hhh/big",
        {
            "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
            "content-encoding": "aws-chunked",
        },
        framed,
    )
    assert streamed.status == 400 and streamed.error_code() in (
        "EntityTooLarge",
        "MissingContentLength",
        "IncompleteBody",
    )
    assert HTTP.head(f"{server.endpoint}/hhh/big").status_code == 404
    assert HTTP.put(f"{server.endpoint}/hhh/fits", content=b"x" * MiB).status_code == 200
    assert staging_files(server.data_dir) == []


def test_idle_keep_alive_connections_are_closed(open_server) -> None:
    """--idle-timeout 2: an idle keep-alive connection is closed by the server."""
    sock = connect(open_server.port, timeout=10)
    sock.sendall(request_head("GET", "/hhh/existing", port=open_server.port))
    assert read_response(sock).status == 200
    started = time.monotonic()
    assert sock.recv(1) == b""
    assert 1 < time.monotonic() - started < 6
    sock.close()


def test_slow_header_sections_are_closed(tmp_path: Path) -> None:
    """A client that sends its headers byte by byte, or connects and says nothing, is
    disconnected after the header timeout (the serve default is 30 s; this server
    process uses 1.5 s), while others are served."""
    script = textwrap.dedent(
        f"""
        import sys
        from pys3local.providers.local import LocalStorageProvider
        from pys3local.runner import EmbeddedServer, ListenAddress, bind_socket
        from pys3local.server import create_s3_app
        sock = bind_socket(ListenAddress("127.0.0.1", 0))
        print("PORT", sock.getsockname()[1], flush=True)
        app = create_s3_app(LocalStorageProvider({str(tmp_path / "data")!r}), no_auth=True,
                            allow_bucket_creation=True)
        EmbeddedServer(app, sock, header_timeout=1.5).run()
        """
    )
    process = spawn(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline().split()[1])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                raw_request(port, "GET", "/")
                break
            except OSError:
                time.sleep(0.05)
        silent = connect(port, timeout=10)
        slow = connect(port, timeout=10)
        head = request_head("GET", "/", port=port)
        started = time.monotonic()
        closed_at = None
        for i in range(len(head)):
            try:
                slow.sendall(head[i : i + 1])
            except OSError:
                closed_at = time.monotonic() - started
                break
            assert raw_request(port, "GET", "/").status == 200
            time.sleep(0.1)
            slow.settimeout(0.01)
            try:
                if slow.recv(1) == b"":
                    closed_at = time.monotonic() - started
                    break
            except TimeoutError:
                pass
        assert closed_at is not None and closed_at < 5, closed_at
        silent.settimeout(5)
        assert silent.recv(1) == b""
        silent.close()
        slow.close()
    finally:
        stop_group(process, timeout=10)


# --------------------------------------------------------------------------- Range

RANGE_SIZES = [0, 1, 100, 70_000]


def _huge(n: int = 5000) -> str:
    return "9" * n


HOSTILE_RANGES = [
    "bytes=0-0",
    "bytes=0-",
    "bytes=-1",
    "bytes=-0",
    "bytes=5-2",
    "bytes=99-",
    "bytes=100-",
    "bytes=0-99999999999999999999",
    "bytes=-99999999999999999999",
    "bytes=99999999999999999999-",
    "bytes=0-1,3-4",
    "bytes=0-0,-1",
    "bytes=--1",
    "bytes=-",
    "bytes=",
    "bytes",
    "bytes=a-b",
    "bytes= 0-1",
    "bytes=0 -1",
    "items=0-1",
    "BYTES=0-1",
    "bytes=0x10-",
    "bytes=1e3-",
    "bytes=+1-2",
    "bytes=0-1\t",
    "bytes=\u0661-\u0662".encode().decode("latin-1"),
    "bytes=" + "0-1," * 2000,
    "bytes=0-" + "0" * 3000 + "1",
    "bytes=69999-70000",
    "bytes=70000-",
    "bytes=-70001",
    "bytes=1-0",
]


def _number(digits: str) -> int:
    """A decimal number; anything above 10**30 is as good as infinite here (and int()
    refuses strings of more than 4300 digits)."""
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) <= 30 else 10**30


def expected_range(header: str, size: int) -> tuple[int, int] | str:
    """What RFC 9110 says for a single-range header: a (first, last) span, "200"
    (ignored) or "416" (unsatisfiable)."""
    match = re.fullmatch(r"bytes=([0-9]*)-([0-9]*)", header.strip())
    if not match or (not match[1] and not match[2]):
        return "200"
    if not match[1]:
        suffix = _number(match[2])
        if suffix == 0 or size == 0:
            return "416"
        return (max(0, size - suffix), size - 1)
    first = _number(match[1])
    last = _number(match[2]) if match[2] else None
    if last is not None and last < first:
        return "200"
    if first >= size:
        return "416"
    return (first, min(last, size - 1) if last is not None else size - 1)


@pytest.fixture(scope="module")
def range_objects(open_server) -> dict[int, bytes]:
    objects = {}
    for size in RANGE_SIZES:
        data = hashlib.sha256(str(size).encode()).digest() * (size // 32 + 1)
        objects[size] = data[:size]
        assert (
            HTTP.put(f"{open_server.endpoint}/hhh/range-{size}", content=objects[size]).status_code
            == 200
        )
    return objects


def check_range(open_server, data: bytes, header: str, method: str = "GET") -> None:
    size = len(data)
    response = raw_request(open_server.port, method, f"/hhh/range-{size}", [("Range", header)])
    assert response.status in (200, 206, 416), (header[:40], size, response.status)
    assert "Traceback" not in response.text
    # HEAD may ignore Range (RFC 9110 defines range handling for GET only); GET must
    # follow it exactly.
    expected = expected_range(header, size) if method == "GET" else None
    if response.status == 206:
        first, last = map(
            int, response.headers["content-range"].split()[1].split("/")[0].split("-")
        )
        assert response.headers["content-range"].endswith(f"/{size}")
        assert int(response.headers["content-length"]) == last - first + 1
        if method == "GET":
            assert response.body == data[first : last + 1]
        if expected is not None:
            assert expected == (first, last), (header, size)
    elif response.status == 200:
        assert int(response.headers["content-length"]) == size
        if method == "GET":
            assert response.body == data
        if expected is not None:
            assert expected == "200", (header, size, expected)
    else:
        assert SECRET not in response.text
        if expected is not None:
            assert expected == "416", (header, size, expected)


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_hostile_Range_headers_answer_206_200_or_416(open_server, range_objects, method) -> None:
    """Every hostile Range header gets a consistent answer: 206 with the right bytes
    and Content-Range, 200 with the whole object, or 416; never a 5xx."""
    for data in range_objects.values():
        for header in HOSTILE_RANGES:
            check_range(open_server, data, header, method)


def test_Range_with_huge_numbers_is_not_a_server_error(open_server, range_objects) -> None:
    """Range numbers too long for int() (5000 digits) are ignored or unsatisfiable,
    like any other absurd range, never a 500."""
    data = range_objects[100]
    for header in (f"bytes=0-{_huge()}", f"bytes={_huge()}-", f"bytes=-{_huge()}"):
        check_range(open_server, data, header)
    created = HTTP.post(f"{open_server.endpoint}/hhh/copy-range?uploads")
    upload_id = created.text.split("<UploadId>")[1].split("</UploadId>")[0]
    response = raw_request(
        open_server.port,
        "PUT",
        f"/hhh/copy-range?partNumber=1&uploadId={upload_id}",
        [
            ("x-amz-copy-source", "/hhh/range-100"),
            ("x-amz-copy-source-range", f"bytes=0-{_huge()}"),
        ],
    )
    assert 400 <= response.status < 500, response.status


# --------------------------------------------------------------------------- dates

#: Values of a date header that no HTTP-date parser may choke on.
HOSTILE_DATES = (
    "Mon, 01 Jan 99999999999999999999 00:00:00 GMT",  # a year far out of range
    "Mon, 01 Jan 2020 00:00:00 +99999999999999999999",  # an offset far out of range
    "Fri, 31 Dec 9999 23:59:59 -2359",  # past year 9999 once in UTC
    "Mon, 01 Jan 10000 00:00:00 GMT",
    "Mon, 99 Jan 2020 99:99:99 GMT",
    "not a date",
    "x" * 2000,
)


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_GetObject_hostile_conditional_dates_are_ignored(open_server, method) -> None:
    """An unparsable If-Modified-Since or If-Unmodified-Since is ignored, as RFC 9110
    says: the object is answered with 200, never a 5xx."""
    for header in ("If-Modified-Since", "If-Unmodified-Since"):
        for value in HOSTILE_DATES:
            response = raw_request(open_server.port, method, "/hhh/existing", [(header, value)])
            assert_clean(response, 200)
            if method == "GET":
                assert response.body == b"existing body"


def test_CopyObject_hostile_copy_source_dates_are_ignored(open_server) -> None:
    """The copy-source date conditions ignore an unparsable date too: the copy is made."""
    for header in ("x-amz-copy-source-if-modified-since", "x-amz-copy-source-if-unmodified-since"):
        for value in HOSTILE_DATES:
            response = raw_request(
                open_server.port,
                "PUT",
                "/hhh/copied-with-hostile-date",
                [("x-amz-copy-source", "/hhh/existing"), (header, value)],
            )
            assert_clean(response, 200)


def test_signed_request_with_a_hostile_Date_is_refused(signed_server) -> None:
    """A SigV4 request dated by a hostile Date header (no x-amz-date) is refused with a
    403, never a 5xx."""
    for value in HOSTILE_DATES:
        headers = sign(signed_server, "GET", "/hhh")
        headers.pop("X-Amz-Date", None)
        headers["Date"] = value
        response = raw_request(signed_server.port, "GET", "/hhh", headers)
        assert_clean(response, 403)
