"""Property-based fuzzing of a real server: random methods, paths, sub-resources,
headers and bodies, signed with the right credentials or not signed at all.

Properties: no 5xx (except 501 NotImplemented, S3's documented answer for features
we do not have), no traceback text in any answer or in the server's log, the server
stays healthy, nothing temporary is left behind, and a sentinel object in a bucket
that signed requests never name is unchanged (unsigned requests may name it: they
must all be refused).

The examples are derandomized so CI is reproducible; set PYS3LOCAL_FUZZ_RANDOM=1 (and
PYS3LOCAL_FUZZ_EXAMPLES=5000) to explore new inputs.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote, unquote

import pytest
from conftest import RunningServer, start_server
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from reliability import UNSIGNED, healthy, raw_request, serving, sign, staging_files

SENTINEL_BUCKET = "sentinel-bkt"
SENTINEL_KEY = "sentinel/object.bin"
SENTINEL_BODY = hashlib.sha256(b"sentinel").digest() * 320
EXAMPLES = int(os.environ.get("PYS3LOCAL_FUZZ_EXAMPLES", "600"))
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not os.environ.get("PYS3LOCAL_FUZZ_RANDOM"),
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    directory = tmp_path_factory.mktemp("fuzz")
    with serving(
        start_server(directory, "--allow-bucket-creation", "--read-timeout", "2")
    ) as running:
        s3 = running.client()
        for bucket in (SENTINEL_BUCKET, "fuzz-bucket", "fuzz-bucket-2"):
            s3.create_bucket(Bucket=bucket)
        s3.put_object(
            Bucket=SENTINEL_BUCKET,
            Key=SENTINEL_KEY,
            Body=SENTINEL_BODY,
            ContentType="application/x-sentinel",
            Metadata={"owner": "sentinel"},
        )
        for key in ("a", "dir/b", "x.json"):
            s3.put_object(Bucket="fuzz-bucket", Key=key, Body=b"fuzz " + key.encode())
        yield running


# --------------------------------------------------------------------------- strategies

NUMBERS = [
    "0",
    "1",
    "2",
    "-1",
    "5",
    "1000",
    "1001",
    "10000",
    "10001",
    "2147483648",
    "99999999999999999999999999999",
    "abc",
    "",
    " 1",
    "1e3",
    "0x10",
    "\u0661",
]
SEGMENTS = [
    "a",
    "dir",
    "..",
    ".",
    "",
    "%2e%2e",
    "%2F",
    "%2f..%2f",
    "%00",
    "%FF",
    "%C3%A9",
    "%",
    "%25",
    "\\",
    "..\\..",
    "+",
    "%20",
    "%3F",
    "%23",
    "x.json",
    ".metadata",
    ".pys3local",
    "objects",
    "k" * 300,
    "é".encode().decode("latin-1"),
    "~",
    "*",
    "%E2%80%AE",
    "%EF%BF%BF",
    "%ED%A0%80",
    "a;b",
    "a,b",
    "a=b",
    "a&b",
    "CON",
]
#: Whole keys that would reach the sentinel if a key could leave its bucket.
ATTACK_KEYS = [
    f"../{SENTINEL_BUCKET}/objects/{SENTINEL_KEY}",
    f"../../{SENTINEL_BUCKET}/objects/{SENTINEL_KEY}",
    f"..%2F{SENTINEL_BUCKET}%2Fobjects%2F{quote(SENTINEL_KEY, safe='')}",
    f"%2e%2e/{SENTINEL_BUCKET}/objects/{SENTINEL_KEY}",
    f"../{SENTINEL_BUCKET}/.metadata/{SENTINEL_KEY}.json",
    f"../../{SENTINEL_BUCKET}",
    f"../{SENTINEL_BUCKET}/objects/sentinel",
]
QUERY_NAMES = [
    "uploads",
    "uploadId",
    "partNumber",
    "delete",
    "acl",
    "tagging",
    "list-type",
    "max-keys",
    "prefix",
    "marker",
    "delimiter",
    "encoding-type",
    "continuation-token",
    "start-after",
    "fetch-owner",
    "location",
    "versioning",
    "versionId",
    "versions",
    "website",
    "cors",
    "policy",
    "lifecycle",
    "max-parts",
    "part-number-marker",
    "max-uploads",
    "response-content-type",
    "response-expires",
    "X-Amz-Signature",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-Algorithm",
    "X-Amz-SignedHeaders",
    "Signature",
    "AWSAccessKeyId",
    "Expires",
    "x-id",
    "object-lock",
    "encryption",
    "restore",
]
QUERY_VALUES = [
    *NUMBERS,
    "url",
    "/",
    "..",
    "%00",
    "null",
    "AWS4-HMAC-SHA256",
    "test-access-key/20240101/us-east-1/s3/aws4_request",
    "20240101T000000Z",
    "host",
    "0123456789abcdef0123456789abcdef",
    "../../x",
]
HEADER_VALUES = {
    "range": [
        "bytes=0-0",
        "bytes=-1",
        "bytes=5-",
        "bytes=0-1,2-3",
        "bytes=x",
        "bytes=9-1",
        "items=0-1",
        "bytes=",
        "bytes=-0",
    ],
    "content-md5": ["1B2M2Y8AsgTpgAmY7PhCfg==", "bad", "", "AAAA"],
    "x-amz-content-sha256": [
        UNSIGNED,
        "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
        "0" * 64,
        "zz",
    ],
    "x-amz-copy-source": [
        "fuzz-bucket/a",
        "/fuzz-bucket/dir%2Fb",
        f"{SENTINEL_BUCKET}/{SENTINEL_KEY}",
        "fuzz-bucket/../../x",
        "/",
        "",
        "a",
        "fuzz-bucket/a?versionId=1",
        "%",
        "fuzz-bucket/%00",
    ],
    "x-amz-copy-source-range": ["bytes=0-0", "bytes=0-", "bytes=5-1", "x"],
    "x-amz-metadata-directive": ["COPY", "REPLACE", "MOVE", ""],
    "content-encoding": ["aws-chunked", "gzip", "aws-chunked,gzip", ""],
    "x-amz-decoded-content-length": NUMBERS,
    "x-amz-trailer": ["x-amz-checksum-crc32", "x-amz-checksum-foo", ""],
    "if-match": ['"abc"', "*", ""],
    "if-none-match": ['"abc"', "*", ""],
    "if-modified-since": ["Wed, 21 Oct 2015 07:28:00 GMT", "yesterday", ""],
    "if-unmodified-since": ["Wed, 21 Oct 2015 07:28:00 GMT", "0"],
    "x-amz-copy-source-if-match": ['"abc"', "*"],
    "x-amz-checksum-crc32": ["AAAAAA==", "bad", ""],
    "x-amz-checksum-sha256": ["47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", "x"],
    "x-amz-checksum-crc64nvme": ["AAAAAAAAAAA=", "!"],
    "x-amz-sdk-checksum-algorithm": ["CRC32", "SHA1", "MD5", "BOGUS"],
    "x-amz-checksum-mode": ["ENABLED", "x"],
    "content-type": ["application/xml", "text/plain; charset=utf-8", ""],
    "x-amz-meta-fuzz": ["v", "é".encode().decode("latin-1"), "a" * 3000],
    "expect": ["100-continue", "nothing"],
    "x-amz-date": ["20240101T000000Z", "garbage"],
    "authorization": ["AWS4-HMAC-SHA256 Credential=x", "AWS a:b", "Bearer x", ""],
}
XML_BODIES = [
    b"<Delete><Object><Key>a</Key></Object></Delete>",
    b"<Delete><Quiet>true</Quiet><Object><Key>dir/b</Key></Object></Delete>",
    b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>x</ETag></Part>"
    b"</CompleteMultipartUpload>",
    b"<CreateBucketConfiguration><LocationConstraint>us-east-1</LocationConstraint>"
    b"</CreateBucketConfiguration>",
    b"5\r\nhello\r\n0\r\n\r\n",
    b"5;chunk-signature="
    + b"0" * 64
    + b"\r\nhello\r\n0;chunk-signature="
    + b"0" * 64
    + b"\r\n\r\n",
]

header_text = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, blacklist_characters="\x7f"),
    max_size=40,
)
safe_text = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x2FF, blacklist_characters="\x7f"),
    max_size=40,
)


@dataclass
class FuzzRequest:
    method: str
    bucket: str | None
    key: str | None
    query: list[tuple[str, str]]
    headers: list[tuple[str, str]]
    body: bytes
    signed: bool
    unsigned_style: int

    @property
    def target(self) -> str:
        path = "/"
        if self.bucket is not None:
            path += self.bucket
            if self.key is not None:
                path += "/" + self.key
        if self.query:
            path += "?" + "&".join(
                quote(n, safe="") + ("=" + quote(v, safe="") if v or i % 2 else "")
                for i, (n, v) in enumerate(self.query)
            )
        return path


def _wire(text: str) -> str:
    """Keep a request line intact: no spaces or control characters on the wire."""
    return "".join(c if 0x20 < ord(c) < 0x7F or 0xA0 <= ord(c) <= 0xFF else quote(c) for c in text)


@st.composite
def fuzz_requests(draw: st.DrawFn, signed: bool) -> FuzzRequest:
    method = draw(
        st.sampled_from(
            [
                "GET",
                "HEAD",
                "PUT",
                "POST",
                "DELETE",
                "GET",
                "PUT",
                "OPTIONS",
                "PATCH",
                "TRACE",
                "PROPFIND",
                "G3T",
            ]
        )
    )
    buckets = [
        "fuzz-bucket",
        "fuzz-bucket-2",
        "fuzz-bucket",
        "missing-bucket",
        "..",
        "%2e%2e",
        ".pys3local",
        "UPPER",
        "ab",
        "x" * 64,
        "fuzz-bucket%2F..",
        "192.168.0.1",
        "-bad-",
        "",
    ]
    if not signed:
        buckets += [SENTINEL_BUCKET] * 4
    bucket = draw(st.one_of(st.none(), st.sampled_from(buckets), safe_text.map(_wire)))
    if signed and bucket is not None and unquote(bucket).lower().startswith("sentinel"):
        bucket = "fuzz-bucket"
    key = None
    if bucket is not None and draw(st.booleans()):
        segments = draw(st.lists(st.one_of(st.sampled_from(SEGMENTS), safe_text), max_size=5))
        key = _wire("/".join(segments))
        if draw(st.integers(0, 4)) == 0:
            key = draw(st.sampled_from(ATTACK_KEYS))
    if not signed and bucket == SENTINEL_BUCKET and draw(st.booleans()):
        key = quote(SENTINEL_KEY, safe="/")
    query = draw(
        st.lists(
            st.tuples(
                st.sampled_from(QUERY_NAMES), st.one_of(st.sampled_from(QUERY_VALUES), safe_text)
            ),
            max_size=4,
        )
    )
    header_names = draw(st.lists(st.sampled_from(sorted(HEADER_VALUES)), max_size=5, unique=True))
    headers = []
    for name in header_names:
        value = draw(st.one_of(st.sampled_from(HEADER_VALUES[name]), header_text))
        value = value.encode("latin-1", "replace").decode("latin-1")  # HTTP header bytes
        headers.append((name, value.replace("\r", "").replace("\n", "")))
    body = draw(st.one_of(st.just(b""), st.sampled_from(XML_BODIES), st.binary(max_size=2048)))
    style = draw(st.integers(0, 3))
    return FuzzRequest(method, bucket, key, query, headers, body, signed, style)


def send(server: RunningServer, request: FuzzRequest):
    headers = [(n, v) for n, v in request.headers if not (request.signed and n == "authorization")]
    target = request.target
    if request.signed:
        payload = dict(headers).get("x-amz-content-sha256")
        signed = sign(
            server, request.method, target, dict(headers), request.body, payload_hash=payload
        )
        headers = [(n, v) for n, v in signed.items()]
    elif request.unsigned_style == 1:
        # Signed with a wrong secret: must be refused, never executed.
        class Wrong:
            port, access_key, region = server.port, server.access_key, server.region
            secret_key = "not-the-secret"

        headers = list(
            sign(
                Wrong,
                request.method,
                target,
                dict(headers),  # type: ignore[arg-type]
                request.body,
            ).items()
        )
    elif request.unsigned_style == 2:
        headers.append(("authorization", f"AWS {server.access_key}:bm90IGEgc2lnbmF0dXJl"))
    return raw_request(server.port, request.method, target, headers, request.body, timeout=20)


def check(server: RunningServer, request: FuzzRequest, statuses: Counter) -> None:
    try:
        response = send(server, request)
    except (ConnectionResetError, BrokenPipeError):
        # The server may close while an early error answers a body it will not read.
        assert healthy(server), f"server unhealthy after {request}"
        statuses["reset"] += 1
        return
    statuses[response.status] += 1
    assert response.status < 500 or response.status == 501, (
        f"{response.status} for {request}: {response.text[:500]}"
    )
    assert "Traceback" not in response.text and 'File "' not in response.text, request
    if not request.signed and response.status < 300:
        # Only anonymous-safe answers may succeed without a valid signature: none.
        raise AssertionError(f"unsigned request succeeded: {request} -> {response.status}")


def assert_sentinel_and_health(server: RunningServer) -> None:
    s3 = server.client()
    got = s3.get_object(Bucket=SENTINEL_BUCKET, Key=SENTINEL_KEY)
    assert got["Body"].read() == SENTINEL_BODY
    assert got["ETag"] == f'"{hashlib.md5(SENTINEL_BODY).hexdigest()}"'
    assert got["ContentType"] == "application/x-sentinel"
    assert got["Metadata"] == {"owner": "sentinel"}
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=SENTINEL_BUCKET)["Contents"]]
    assert keys == [SENTINEL_KEY]
    assert healthy(server)
    deadline = time.monotonic() + 5
    while staging_files(server.data_dir) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert staging_files(server.data_dir) == []
    log = "".join(server.output)
    assert "Traceback" not in log and "Exception in ASGI application" not in log


@pytest.mark.parametrize("signed", [True, False], ids=["signed", "unsigned"])
def test_fuzz_requests_never_break_the_server(fuzz_server, signed: bool) -> None:
    """Random requests: no 5xx, no traceback, unsigned ones never succeed, the
    server stays healthy and the sentinel object is unchanged."""
    statuses: Counter = Counter()

    @FUZZ_SETTINGS
    @given(request=fuzz_requests(signed))
    def run(request: FuzzRequest) -> None:
        check(fuzz_server, request, statuses)

    # Always try the direct attacks on the sentinel, besides the random requests.
    for key in ATTACK_KEYS:
        for method, body in (("PUT", b"overwritten"), ("DELETE", b"")):
            attack = FuzzRequest(method, "fuzz-bucket", key, [], [], body, signed, 0)
            run = example(request=attack)(run)
    run()
    assert_sentinel_and_health(fuzz_server)
    if signed:
        # The signed requests really got past authentication and reached handlers.
        refused = statuses[403]
        assert refused < 0.5 * sum(statuses.values()), statuses
        assert any(200 <= s < 300 for s in statuses if isinstance(s, int)), statuses
    else:
        assert set(statuses) <= {400, 403, 404, 405, 411, 413, 431, 501, "reset"}, statuses
