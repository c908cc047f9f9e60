"""Authentication and body verification end to end: real server, real clients."""

from __future__ import annotations

import base64
import os
import time
import zlib
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from unittest import mock
from urllib.parse import quote, urlsplit, urlunsplit

import boto3
import httpx
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from conftest import RunningServer, require_binary
from processes import run_command
from test_body import aws_chunked

from pys3local.s3.checksums import checksum_of
from pys3local.s3.signing import ChunkSigningContext, signing_key

KEYS = ["plain.txt", "dir/with space+plus.txt", "ünïcödé/鍵.bin", "odd!'()*~;=&$@,.txt"]


def error_code(response: httpx.Response) -> str:
    """The <Code> of an S3 error document."""
    text = response.text
    return text.split("<Code>", 1)[1].split("</Code>", 1)[0] if "<Code>" in text else ""


def client_error(call, *args: object, **kwargs: object) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(ClientError) as caught:
        call(*args, **kwargs)
    return caught.value.response["Error"]["Code"]


def stored(server: RunningServer, bucket: str, key: str) -> bytes | None:
    """What a correctly signed GET returns for a key, or None if it does not exist."""
    try:
        return server.client().get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as error:
        assert error.response["Error"]["Code"] == "NoSuchKey"
        return None


def object_url(server: RunningServer, bucket: str, key: str) -> str:
    return f"{server.endpoint}/{bucket}/{quote(key, safe='/~')}"


# --------------------------------------------------------------------------- boto3


@pytest.mark.parametrize("key", KEYS)
def test_PutObject_GetObject_boto3_defaults(server: RunningServer, bucket: str, key: str) -> None:
    """boto3 with default settings (flexible checksums on) round-trips awkward keys."""
    s3 = server.client()
    put = s3.put_object(Bucket=bucket, Key=key, Body=b"payload " + key.encode())
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 200
    got = s3.get_object(Bucket=bucket, Key=key)
    assert got["Body"].read() == b"payload " + key.encode()
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert [item["Key"] for item in listed] == [key]
    s3.delete_object(Bucket=bucket, Key=key)
    assert stored(server, bucket, key) is None


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"])
def test_GetObject_HeadObject_checksum_mode(
    server: RunningServer, bucket: str, algorithm: str
) -> None:
    """The verified checksum of an upload is returned with x-amz-checksum-mode: ENABLED."""
    s3 = server.client()
    data = os.urandom(100_000)
    s3.put_object(Bucket=bucket, Key="obj", Body=data, ChecksumAlgorithm=algorithm)
    expected = checksum_of(algorithm, data)
    got = s3.get_object(Bucket=bucket, Key="obj", ChecksumMode="ENABLED")
    assert got["Body"].read() == data
    assert got[f"Checksum{algorithm}"] == expected
    head = s3.head_object(Bucket=bucket, Key="obj", ChecksumMode="ENABLED")
    assert head[f"Checksum{algorithm}"] == expected


def test_PutObject_wrong_checksum_not_stored(server: RunningServer, bucket: str) -> None:
    """A PutObject whose checksum header does not match its body is BadDigest, not stored."""
    s3 = server.client()
    s3.put_object(Bucket=bucket, Key="obj", Body=b"original")
    wrong = checksum_of("CRC32", b"something else")
    code = client_error(s3.put_object, Bucket=bucket, Key="obj", Body=b"new", ChecksumCRC32=wrong)
    assert code == "BadDigest"
    assert stored(server, bucket, "obj") == b"original"


@pytest.mark.parametrize("signature_version", ["s3", "s3v4"])
@pytest.mark.parametrize("key", KEYS)
def test_signature_versions(
    server: RunningServer, bucket: str, signature_version: str, key: str
) -> None:
    """boto3 with SigV2 ("s3") and SigV4 ("s3v4"): the common operations all authenticate."""
    s3 = server.client(signature_version=signature_version)
    s3.put_object(Bucket=bucket, Key=key, Body=b"abc", ContentType="text/plain")
    assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] == 3
    assert s3.get_object(Bucket=bucket, Key=key, Range="bytes=1-2")["Body"].read() == b"bc"
    assert [o["Key"] for o in s3.list_objects(Bucket=bucket, Prefix=key[:3])["Contents"]] == [key]
    s3.copy_object(Bucket=bucket, Key=key + ".copy", CopySource={"Bucket": bucket, "Key": key})
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key + ".mp")["UploadId"]
    part = s3.upload_part(Bucket=bucket, Key=key + ".mp", UploadId=upload, PartNumber=1, Body=b"x")
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key=key + ".mp",
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    deleted = s3.delete_objects(
        Bucket=bucket,
        Delete={"Objects": [{"Key": key}, {"Key": key + ".copy"}, {"Key": key + ".mp"}]},
    )
    assert len(deleted["Deleted"]) == 3
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_wrong_access_key(server: RunningServer, bucket: str) -> None:
    """An unknown access key is InvalidAccessKeyId and changes nothing."""
    server.client().put_object(Bucket=bucket, Key="obj", Body=b"original")
    for version in ("s3v4", "s3"):
        s3 = boto3.client(
            "s3",
            endpoint_url=server.endpoint,
            aws_access_key_id="not-the-key",
            aws_secret_access_key=server.secret_key,
            region_name=server.region,
            config=Config(signature_version=version, retries={"max_attempts": 1}),
        )
        assert client_error(s3.put_object, Bucket=bucket, Key="obj", Body=b"x") == (
            "InvalidAccessKeyId"
        )
    assert stored(server, bucket, "obj") == b"original"


def test_wrong_secret(server: RunningServer, bucket: str) -> None:
    """A wrong secret is SignatureDoesNotMatch (with the string to sign) and changes nothing."""
    server.client().put_object(Bucket=bucket, Key="obj", Body=b"original")
    for version in ("s3v4", "s3"):
        s3 = boto3.client(
            "s3",
            endpoint_url=server.endpoint,
            aws_access_key_id=server.access_key,
            aws_secret_access_key="wrong-secret",
            region_name=server.region,
            config=Config(signature_version=version, retries={"max_attempts": 1}),
        )
        with pytest.raises(ClientError) as caught:
            s3.put_object(Bucket=bucket, Key="obj", Body=b"x")
        assert caught.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
        assert caught.value.response["Error"]["StringToSign"]
    assert stored(server, bucket, "obj") == b"original"


def test_skewed_clock(server: RunningServer, bucket: str) -> None:
    """A client clock 30 minutes off is RequestTimeTooSkewed and changes nothing."""
    server.client().put_object(Bucket=bucket, Key="obj", Body=b"original")
    past = datetime.now(timezone.utc) - timedelta(minutes=30)
    # boto3 signs with awscrt when it is installed (botocore.crt.auth), else in Python.
    with (
        mock.patch("botocore.auth.get_current_datetime", return_value=past),
        mock.patch("botocore.crt.auth.get_current_datetime", return_value=past),
    ):
        code = client_error(server.client().put_object, Bucket=bucket, Key="obj", Body=b"x")
    assert code == "RequestTimeTooSkewed"
    assert stored(server, bucket, "obj") == b"original"


def test_wrong_region(server: RunningServer, bucket: str) -> None:
    """A V4 request signed for another region is refused with the server's region named."""
    request = _signed(server, "GET", f"/{bucket}", region="eu-west-3")
    response = httpx.get(request.url, headers=dict(request.headers))
    assert response.status_code == 400
    assert error_code(response) == "AuthorizationHeaderMalformed"
    assert f"<Region>{server.region}</Region>" in response.text


def test_anonymous_request_denied(server: RunningServer, bucket: str) -> None:
    """Without credentials every operation is AccessDenied."""
    server.client().put_object(Bucket=bucket, Key="obj", Body=b"original")
    assert httpx.get(object_url(server, bucket, "obj")).status_code == 403
    response = httpx.put(object_url(server, bucket, "obj"), content=b"x")
    assert (response.status_code, error_code(response)) == (403, "AccessDenied")
    assert stored(server, bucket, "obj") == b"original"


# --------------------------------------------------------------------------- presigned


@pytest.mark.parametrize("signature_version", ["s3v4", "s3"])
@pytest.mark.parametrize("key", KEYS)
def test_presigned_urls(
    server: RunningServer, bucket: str, signature_version: str, key: str
) -> None:
    """Presigned PUT, GET, HEAD and DELETE URLs work with a plain HTTP client."""
    s3 = server.client(signature_version=signature_version)

    def url(method: str) -> str:
        return s3.generate_presigned_url(method, Params={"Bucket": bucket, "Key": key})

    assert httpx.put(url("put_object"), content=b"presigned body").status_code == 200
    got = httpx.get(url("get_object"))
    assert (got.status_code, got.content) == (200, b"presigned body")
    head = httpx.head(url("head_object"))
    assert (head.status_code, head.headers["content-length"]) == (200, "14")
    assert httpx.delete(url("delete_object")).status_code == 204
    assert stored(server, bucket, key) is None


@pytest.mark.parametrize("signature_version", ["s3v4", "s3"])
def test_presigned_url_expired(server: RunningServer, bucket: str, signature_version: str) -> None:
    """An expired presigned URL is AccessDenied; an expired PUT stores nothing."""
    s3 = server.client(signature_version=signature_version)
    s3.put_object(Bucket=bucket, Key="obj", Body=b"original")
    params = {"Bucket": bucket, "Key": "obj"}
    get = s3.generate_presigned_url("get_object", Params=params, ExpiresIn=1)
    put = s3.generate_presigned_url("put_object", Params=params, ExpiresIn=1)
    time.sleep(2.2)
    for response in (httpx.get(get), httpx.put(put, content=b"late")):
        assert (response.status_code, error_code(response)) == (403, "AccessDenied")
        assert "expired" in response.text
    assert stored(server, bucket, "obj") == b"original"


def _alter(url: str, *, path: str | None = None, extra_query: str = "") -> str:
    parts = urlsplit(url)
    return urlunsplit(
        (parts.scheme, parts.netloc, path or parts.path, parts.query + extra_query, "")
    )


@pytest.mark.parametrize("signature_version", ["s3v4", "s3"])
def test_presigned_url_altered(server: RunningServer, bucket: str, signature_version: str) -> None:
    """A presigned URL with another key or an added sub-resource is SignatureDoesNotMatch."""
    s3 = server.client(signature_version=signature_version)
    s3.put_object(Bucket=bucket, Key="obj", Body=b"original")
    s3.put_object(Bucket=bucket, Key="other", Body=b"other")
    put = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "obj"})
    attempts = [
        httpx.put(_alter(put, path=f"/{bucket}/other"), content=b"evil"),
        httpx.put(_alter(put, extra_query="&uploadId=abc&partNumber=1"), content=b"evil"),
        httpx.put(put.replace("Signature=", "Signature=A"), content=b"evil"),
    ]
    for response in attempts:
        assert (response.status_code, error_code(response)) == (403, "SignatureDoesNotMatch")
    assert stored(server, bucket, "obj") == b"original"
    assert stored(server, bucket, "other") == b"other"


# --------------------------------------------------------------------------- aws-chunked


class _StreamingSigV4(S3SigV4Auth):
    """botocore's V4 signer, declaring a signed aws-chunked payload (minio-go style)."""

    marker = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"

    def payload(self, request: AWSRequest) -> str:
        return self.marker


class _UnsignedTrailerSigV4(_StreamingSigV4):
    marker = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"


def _signed(
    server: RunningServer,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    *,
    signer: type[S3SigV4Auth] = S3SigV4Auth,
    region: str | None = None,
    body: bytes = b"",
) -> AWSRequest:
    request = AWSRequest(method=method, url=server.endpoint + path, headers=headers or {})
    request.data = body
    credentials = Credentials(server.access_key, server.secret_key)
    signer(credentials, "s3", region or server.region).add_auth(request)
    return request


def _chunk_context(server: RunningServer, request: AWSRequest) -> ChunkSigningContext:
    amz_date = request.context["timestamp"]
    key = signing_key(server.secret_key, amz_date[:8], server.region)
    scope = f"{amz_date[:8]}/{server.region}/s3/aws4_request"
    return ChunkSigningContext(amz_date, scope, request.headers["Authorization"][-64:], key)


def _put_signed_chunked(
    server: RunningServer, bucket: str, key: str, data: bytes, tamper: bool = False
) -> httpx.Response:
    """PUT data as STREAMING-AWS4-HMAC-SHA256-PAYLOAD in 64 KiB signed chunks."""
    path = f"/{bucket}/{quote(key)}"
    # Content-Length is signed before the chunk signatures exist; the encoded length
    # depends only on the data length, so a dummy encoding gives it.
    placeholder = aws_chunked(data, signing=ChunkSigningContext("x", "x", "0" * 64, b"k"))
    headers = {
        "content-encoding": "aws-chunked",
        "x-amz-decoded-content-length": str(len(data)),
        "content-length": str(len(placeholder)),
        "content-type": "application/octet-stream",
    }
    request = _signed(server, "PUT", path, headers, signer=_StreamingSigV4)
    encoded = aws_chunked(data, signing=_chunk_context(server, request))
    assert len(encoded) == len(placeholder)
    if tamper:
        middle = encoded.index(b"\r\n", encoded.index(b"\r\n") + 2 + 65536 + 2) + 2 + 10
        encoded = encoded[:middle] + bytes([encoded[middle] ^ 1]) + encoded[middle + 1 :]
    return httpx.put(request.url, headers=dict(request.headers.items()), content=encoded)


def test_PutObject_signed_aws_chunked(server: RunningServer, bucket: str) -> None:
    """A signed aws-chunked upload (what restic/minio-go send) stores the decoded bytes."""
    data = os.urandom(300_000)
    response = _put_signed_chunked(server, bucket, "chunked.bin", data)
    assert response.status_code == 200, response.text
    assert stored(server, bucket, "chunked.bin") == data


def test_PutObject_signed_aws_chunked_tampered(server: RunningServer, bucket: str) -> None:
    """One flipped byte in one chunk: SignatureDoesNotMatch, and nothing is stored."""
    server.client().put_object(Bucket=bucket, Key="chunked.bin", Body=b"original")
    response = _put_signed_chunked(server, bucket, "chunked.bin", os.urandom(300_000), True)
    assert (response.status_code, error_code(response)) == (403, "SignatureDoesNotMatch")
    assert stored(server, bucket, "chunked.bin") == b"original"
    response = _put_signed_chunked(server, bucket, "new.bin", os.urandom(300_000), True)
    assert response.status_code == 403
    assert stored(server, bucket, "new.bin") is None


def _unsigned_trailer_put(
    server: RunningServer, bucket: str, key: str, data: bytes, checksum: str
) -> httpx.Response:
    """PUT as boto3 does over HTTPS: unsigned trailer, Transfer-Encoding: chunked."""
    headers = {
        "content-encoding": "aws-chunked",
        "x-amz-decoded-content-length": str(len(data)),
        "x-amz-trailer": "x-amz-checksum-crc32",
        "x-amz-sdk-checksum-algorithm": "CRC32",
    }
    request = _signed(server, "PUT", f"/{bucket}/{key}", headers, signer=_UnsignedTrailerSigV4)
    encoded = aws_chunked(data, trailer={"x-amz-checksum-crc32": checksum})

    def pieces() -> Iterator[bytes]:  # a generator makes httpx send it chunked
        for offset in range(0, len(encoded), 50_000):
            yield encoded[offset : offset + 50_000]

    return httpx.put(request.url, headers=dict(request.headers.items()), content=pieces())


def test_PutObject_unsigned_trailer(server: RunningServer, bucket: str) -> None:
    """STREAMING-UNSIGNED-PAYLOAD-TRAILER without Content-Length: stored with its CRC32."""
    data = os.urandom(200_000)
    checksum = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    response = _unsigned_trailer_put(server, bucket, "trailer.bin", data, checksum)
    assert response.status_code == 200, response.text
    got = server.client().get_object(Bucket=bucket, Key="trailer.bin", ChecksumMode="ENABLED")
    assert got["Body"].read() == data
    assert got["ChecksumCRC32"] == checksum


def test_PutObject_unsigned_trailer_bad_checksum(server: RunningServer, bucket: str) -> None:
    """A wrong trailer checksum is BadDigest and leaves the old object in place."""
    server.client().put_object(Bucket=bucket, Key="trailer.bin", Body=b"original")
    wrong = checksum_of("CRC32", b"not the data")
    response = _unsigned_trailer_put(server, bucket, "trailer.bin", os.urandom(1000), wrong)
    assert (response.status_code, error_code(response)) == (400, "BadDigest")
    assert stored(server, bucket, "trailer.bin") == b"original"


def test_PutObject_sha256_mismatch(server: RunningServer, bucket: str) -> None:
    """A body that differs from its signed x-amz-content-sha256 is rejected, not stored."""
    server.client().put_object(Bucket=bucket, Key="obj", Body=b"original")
    request = _signed(server, "PUT", f"/{bucket}/obj", body=b"signed body")
    response = httpx.put(request.url, headers=dict(request.headers.items()), content=b"other body!")
    assert (response.status_code, error_code(response)) == (400, "XAmzContentSHA256Mismatch")
    assert stored(server, bucket, "obj") == b"original"


def test_no_auth_mode_still_decodes_aws_chunked(make_server) -> None:  # type: ignore[no-untyped-def]
    """With --no-auth, bogus credentials pass but aws-chunked bodies are still decoded."""
    server = make_server("--allow-bucket-creation", auth=False)
    s3 = boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        aws_access_key_id="who",
        aws_secret_access_key="ever",
        region_name="us-east-1",
    )
    s3.create_bucket(Bucket="noauth-bucket")
    data = os.urandom(150_000)
    encoded = aws_chunked(data, signing=ChunkSigningContext("x", "x", "0" * 64, b"bogus"))
    response = httpx.put(
        f"{server.endpoint}/noauth-bucket/obj",
        content=encoded,
        headers={
            "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
            "content-encoding": "aws-chunked",
            "x-amz-decoded-content-length": str(len(data)),
        },
    )
    assert response.status_code == 200, response.text
    assert s3.get_object(Bucket="noauth-bucket", Key="obj")["Body"].read() == data


# --------------------------------------------------------------------------- other clients


def _s3cmd(server: RunningServer, tmp_path: Path, v2: bool, *args: str) -> str:
    config = tmp_path / ("s3cmd-v2.cfg" if v2 else "s3cmd-v4.cfg")
    host = urlsplit(server.endpoint).netloc
    config.write_text(
        "[default]\n"
        f"access_key = {server.access_key}\n"
        f"secret_key = {server.secret_key}\n"
        f"host_base = {host}\nhost_bucket = {host}\n"
        f"bucket_location = {server.region}\n"
        "use_https = False\n"
        f"signature_v2 = {v2}\n"
    )
    result = run_command(
        [require_binary("s3cmd"), "-c", str(config), "--no-ssl", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.mark.parametrize("v2", [True, False], ids=["sigv2", "sigv4"])
def test_s3cmd(server: RunningServer, bucket: str, tmp_path: Path, v2: bool) -> None:
    """s3cmd with V2 and V4 signatures: put, ls, get, del (multipart above 15 MiB too)."""
    source = tmp_path / "up load.bin"
    source.write_bytes(os.urandom(16 * 1024 * 1024 + 123))
    target = f"s3://{bucket}/dir/up load+1.bin"
    _s3cmd(server, tmp_path, v2, "put", str(source), target)
    assert "up load+1.bin" in _s3cmd(server, tmp_path, v2, "ls", f"s3://{bucket}/dir/")
    download = tmp_path / "down.bin"
    _s3cmd(server, tmp_path, v2, "get", target, str(download))
    assert download.read_bytes() == source.read_bytes()
    _s3cmd(server, tmp_path, v2, "del", target)
    assert stored(server, bucket, "dir/up load+1.bin") is None


def test_rclone_v2_auth(server: RunningServer, bucket: str, tmp_path: Path) -> None:
    """rclone with v2_auth = true copies a tree up and down unchanged."""
    source = tmp_path / "src"
    (source / "sub dir").mkdir(parents=True)
    files = {"a.txt": b"alpha", "sub dir/b+c.bin": os.urandom(300_000), "ü.txt": b"umlaut"}
    for name, content in files.items():
        (source / name).write_bytes(content)
    env = {
        **os.environ,
        "RCLONE_CONFIG": str(tmp_path / "none.conf"),
        "RCLONE_CONFIG_T_TYPE": "s3",
        "RCLONE_CONFIG_T_PROVIDER": "Other",
        "RCLONE_CONFIG_T_ACCESS_KEY_ID": server.access_key,
        "RCLONE_CONFIG_T_SECRET_ACCESS_KEY": server.secret_key,
        "RCLONE_CONFIG_T_ENDPOINT": server.endpoint,
        "RCLONE_CONFIG_T_REGION": server.region,
        "RCLONE_CONFIG_T_V2_AUTH": "true",
    }
    rclone = require_binary("rclone")

    def run(*args: str) -> str:
        result = run_command(
            [rclone, "--s3-force-path-style", "--retries", "1", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    run("copy", str(source), f"T:{bucket}/tree")
    listed = run("lsf", "-R", "--files-only", f"T:{bucket}/tree").splitlines()
    assert sorted(listed) == sorted(files)
    back = tmp_path / "back"
    run("copy", f"T:{bucket}/tree", str(back))
    for name, content in files.items():
        assert (back / name).read_bytes() == content
        assert stored(server, bucket, f"tree/{name}") == content
