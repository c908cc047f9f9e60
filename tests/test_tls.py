"""``pys3local serve --tls-cert FILE --tls-key FILE``: HTTPS with boto3 and rclone.

A self-signed certificate for 127.0.0.1 is made for the test (openssl, or the
``cryptography`` package where openssl is missing). Clients skip verification only
here (boto3 ``verify=False``, rclone ``--no-check-certificate``); one boto3 client
verifies against the certificate itself, and one that trusts only the public CAs
must refuse the server, which shows the connection really is TLS with our key.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import io
import ipaddress
import os
import shutil
import signal
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import SSLError
from clients import diff_trees, make_tree, rclone, rclone_env, tree_digest
from conftest import RunningServer, start_server
from processes import run_command
from reliability import MiB, pattern_block


def make_certificate(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    openssl = shutil.which("openssl")
    if openssl:
        run_command(
            [
                openssl,
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-keyout",
                str(key),
                "-out",
                str(cert),
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1,DNS:localhost",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        return cert, key
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .sign(private, hashes.SHA256())
    )
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return cert, key


def start_tls_server(directory: Path, cert: Path, key: Path, *args: str) -> RunningServer:
    """Start an HTTPS server; the fixture's readiness probe (httpx) trusts our
    certificate through SSL_CERT_FILE for that moment only."""
    saved = os.environ.get("SSL_CERT_FILE")
    os.environ["SSL_CERT_FILE"] = str(cert)
    try:
        return start_server(
            directory / "data", "--tls-cert", str(cert), "--tls-key", str(key), *args
        )
    finally:
        if saved is None:
            del os.environ["SSL_CERT_FILE"]
        else:
            os.environ["SSL_CERT_FILE"] = saved


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    directory = tmp_path_factory.mktemp("tls")
    cert, key = make_certificate(directory)
    running = start_tls_server(directory, cert, key, "--allow-bucket-creation")
    running.certificate = cert  # type: ignore[attr-defined]
    yield running
    running.stop()


def https_client(server: RunningServer, verify: object) -> object:
    return boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key,
        region_name=server.region,
        verify=verify,
        config=Config(retries={"max_attempts": 1}),
    )


def test_server_speaks_only_TLS(tls_server) -> None:
    """The endpoint is https; plain HTTP gets no S3 answer, and a client that does
    not trust the self-signed certificate refuses it."""
    assert tls_server.endpoint.startswith("https://127.0.0.1:")
    try:
        plain = httpx.get(f"http://127.0.0.1:{tls_server.port}/", timeout=5)
    except httpx.HTTPError:
        pass  # the TLS handshake fails and the connection is closed
    else:
        assert b"ListAllMyBucketsResult" not in plain.content and plain.status_code >= 400
    refusing = https_client(tls_server, True)
    with pytest.raises(SSLError):
        refusing.list_buckets()
    refusing.close()
    context = ssl.create_default_context(cafile=str(tls_server.certificate))
    response = httpx.get(tls_server.endpoint + "/", verify=context, timeout=5)
    assert response.status_code == 403  # unsigned: refused, over a verified TLS channel


@pytest.mark.filterwarnings("ignore:Unverified HTTPS request")
@pytest.mark.parametrize("verify", ["insecure", "certificate"])
def test_boto3_over_https(tls_server, verify: str) -> None:
    """boto3 over HTTPS (aws-chunked with trailing checksums, as it does on https):
    PUT, multipart upload, GET, range, copy, list and delete all work."""
    s3 = https_client(tls_server, False if verify == "insecure" else str(tls_server.certificate))
    bucket = f"tls-{verify}"
    s3.create_bucket(Bucket=bucket)
    small = pattern_block(b"small over tls", 100_000)
    assert s3.put_object(Bucket=bucket, Key="small", Body=small)["ETag"] == (
        f'"{hashlib.md5(small).hexdigest()}"'
    )
    big = pattern_block(b"multipart over tls", 12 * MiB + 12345)
    s3.upload_fileobj(
        io.BytesIO(big),
        bucket,
        "dir/big",
        Config=TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB),
    )
    head = s3.head_object(Bucket=bucket, Key="dir/big")
    assert head["ContentLength"] == len(big) and head["ETag"].endswith('-3"')
    assert s3.get_object(Bucket=bucket, Key="dir/big")["Body"].read() == big
    ranged = s3.get_object(Bucket=bucket, Key="dir/big", Range="bytes=5242870-5242889")
    assert ranged["Body"].read() == big[5242870:5242890]
    s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "small"})
    assert s3.get_object(Bucket=bucket, Key="copy")["Body"].read() == small
    listed = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
    assert listed == ["copy", "dir/big", "small"]
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in listed]})
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    s3.close()  # an idle TLS keep-alive connection delays shutdown (see below)


def test_rclone_over_https(tls_server, tmp_path: Path) -> None:
    """rclone with --no-check-certificate copies a tree up (including a multipart
    file), checks it, and copies it back down unchanged."""
    source = tmp_path / "source"
    expected = make_tree(
        source,
        {
            "a.txt": 1000,
            "dir/b.bin": 300_000,
            "dir/sub/c.bin": 12 * MiB,
            "empty": 0,
            "space name.txt": 10,
        },
    )
    env = rclone_env(tls_server, tmp_path / "rclone-home")
    env.pop("SSL_CERT_FILE", None)
    env.pop("SSL_CERT_DIR", None)
    flags = ["--no-check-certificate", "--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M"]
    rclone(tls_server, env, "mkdir", "pys3:tls-rclone", *flags)
    rclone(tls_server, env, "copy", str(source), "pys3:tls-rclone/tree", *flags)
    rclone(tls_server, env, "check", str(source), "pys3:tls-rclone/tree", *flags)
    back = tmp_path / "back"
    rclone(tls_server, env, "copy", "pys3:tls-rclone/tree", str(back), *flags)
    assert diff_trees(expected, tree_digest(back)) == ""
    refused = rclone(tls_server, env, "lsf", "pys3:tls-rclone", check=False)
    assert refused.returncode != 0, "rclone accepted the self-signed certificate"


def test_SIGTERM_is_prompt_with_an_idle_TLS_connection(tmp_path: Path) -> None:
    """SIGTERM stops an HTTPS server within a few seconds when a client merely keeps
    an idle keep-alive connection open (no request is in flight)."""
    cert, key = make_certificate(tmp_path)
    server = start_tls_server(tmp_path, cert, key)
    s3 = https_client(server, str(cert))
    try:
        s3.list_buckets()  # leaves one idle keep-alive connection
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.process.wait(5)
        elapsed = time.monotonic() - started
        assert server.process.poll() is not None, "still running 5 s after SIGTERM"
        assert elapsed < 5
    finally:
        server.stop(signal.SIGKILL)
        s3.close()
