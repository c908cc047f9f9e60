"""The protocol layer seen with a plain HTTP client: error documents, routing, styles."""

from __future__ import annotations

import defusedxml.ElementTree as ET
import httpx
import pytest


@pytest.fixture(scope="module")
def open_server(tmp_path_factory):
    """A --no-auth advanced-mode server, so raw requests need no signing."""
    from conftest import start_server

    running = start_server(
        tmp_path_factory.mktemp("no-auth"), "--allow-bucket-creation", auth=False
    )
    httpx.put(running.endpoint + "/raw")
    yield running
    running.stop()


def parse_error(response: httpx.Response) -> dict[str, str]:
    root = ET.fromstring(response.content)
    assert root.tag == "Error"
    return {child.tag: child.text or "" for child in root}


def test_error_document_shape(open_server) -> None:
    response = httpx.get(open_server.endpoint + "/raw/missing")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/xml"
    error = parse_error(response)
    assert error["Code"] == "NoSuchKey"
    assert error["Resource"] == "/raw/missing"
    assert error["RequestId"] == response.headers["x-amz-request-id"]


def test_HEAD_errors_have_no_body(open_server) -> None:
    response = httpx.head(open_server.endpoint + "/raw/missing")
    assert response.status_code == 404
    assert response.content == b""


@pytest.mark.parametrize(
    ("method", "path", "code", "status"),
    [
        ("PUT", "/", "MethodNotAllowed", 405),
        ("PATCH", "/raw/k", "MethodNotAllowed", 405),
        ("GET", "/raw?website", "NotImplemented", 501),
        ("PUT", "/raw/k?restore", "NotImplemented", 501),
        ("POST", "/raw/k?retention", "MethodNotAllowed", 405),
        ("PUT", "/raw/k?tagging", "MalformedXML", 400),
        ("GET", "/raw?list-type=2&max-keys=abc", "InvalidArgument", 400),
        ("GET", "/raw?encoding-type=base64", "InvalidArgument", 400),
        ("GET", "/raw/%FF%FE", "InvalidArgument", 400),
        ("GET", "/raw/bad%01key", "InvalidArgument", 400),
        ("POST", "/raw?delete", "MalformedXML", 400),
        ("POST", "/raw/k?uploadId=0123", "MalformedXML", 400),
        ("GET", "/nobucket/k", "NoSuchBucket", 404),
    ],
)
def test_bad_requests_get_s3_errors(open_server, method, path, code, status) -> None:
    response = httpx.request(method, open_server.endpoint + path)
    assert response.status_code == status, response.text
    assert parse_error(response)["Code"] == code
    assert "Traceback" not in response.text


@pytest.mark.parametrize(
    "body",
    [
        b"<Delete><Object><Key>a</Key></Object>",  # truncated
        b"not xml at all",
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
        b"<Delete><Object><Key>&b;</Key></Object></Delete>",
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b"<Delete><Object><Key>&x;</Key></Object></Delete>",
        b"<Delete>" + b"<a>" * 5000 + b"</a>" * 5000 + b"</Delete>",
    ],
)
def test_hostile_xml_is_MalformedXML(open_server, body) -> None:
    response = httpx.post(open_server.endpoint + "/raw?delete", content=body)
    assert response.status_code == 400
    assert parse_error(response)["Code"] == "MalformedXML"
    assert "root:" not in response.text


def test_virtual_hosted_style(open_server) -> None:
    """bucket.localhost addressing reaches the same bucket as path style."""
    endpoint = open_server.endpoint
    httpx.put(endpoint + "/raw/vhost-key", content=b"via path")
    response = httpx.get(
        endpoint + "/vhost-key", headers={"Host": f"raw.localhost:{open_server.port}"}
    )
    assert response.status_code == 200
    assert response.content == b"via path"


def test_unread_body_closes_the_connection(open_server) -> None:
    """An early error on a PUT with a body must not leave the body in the connection."""
    with httpx.Client() as client:
        # "-bad" can never be a bucket: refused before a byte of the body is read.
        response = client.put(open_server.endpoint + "/-bad/k", content=b"x" * 100_000)
        assert response.status_code == 404
        assert response.headers.get("connection") == "close"
        assert client.get(open_server.endpoint + "/raw/vhost-key").status_code in (200, 404)


def test_no_auth_still_decodes_aws_chunked(open_server) -> None:
    body = b"5\r\nhello\r\n0\r\nx-amz-checksum-crc32:NhCmhg==\r\n\r\n"
    response = httpx.put(
        open_server.endpoint + "/raw/chunked",
        content=body,
        headers={
            "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
            "content-encoding": "aws-chunked",
            "x-amz-decoded-content-length": "5",
            "x-amz-trailer": "x-amz-checksum-crc32",
        },
    )
    assert response.status_code == 200, response.text
    assert httpx.get(open_server.endpoint + "/raw/chunked").content == b"hello"


def test_DeleteObjects_bad_Content_MD5_is_BadDigest(open_server) -> None:
    body = b"<Delete><Object><Key>vhost-key</Key></Object></Delete>"
    response = httpx.post(
        open_server.endpoint + "/raw?delete",
        content=body,
        headers={"Content-MD5": "1B2M2Y8AsgTpgAmY7PhCfg=="},  # MD5 of nothing
    )
    assert response.status_code == 400
    assert parse_error(response)["Code"] == "BadDigest"


def test_DeleteObjects_empty_key_is_a_per_key_error(open_server) -> None:
    body = b"<Delete><Object><Key></Key></Object></Delete>"
    response = httpx.post(open_server.endpoint + "/raw?delete", content=body)
    assert response.status_code == 200
    root = ET.fromstring(response.content)
    errors = [child for child in root if child.tag.endswith("Error")]
    assert len(errors) == 1


def test_trickling_body_is_abandoned(make_server) -> None:
    """A body sent a few bytes at a time (never idle long enough to time out) is cut."""
    import contextlib
    import socket
    import time

    server = make_server("--read-timeout", "2", auth=False)
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as sock:
        sock.sendall(b"PUT /default/trickle HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
        answer = b""
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not answer:
            try:
                sock.sendall(b"x" * 10)
            except OSError:
                break
            sock.settimeout(0.3)
            with contextlib.suppress(TimeoutError):
                answer = sock.recv(4096)
        sock.settimeout(5)
        while more := sock.recv(4096):  # the error document, then the server closes
            answer += more
    assert b" 400 " in answer.split(b"\r\n", 1)[0]
    assert b"RequestTimeout" in answer
    assert httpx.get(server.endpoint + "/default/trickle").status_code == 404
