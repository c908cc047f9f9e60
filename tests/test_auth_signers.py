"""Signature verification against AWS's published examples and botocore's own signers."""

from __future__ import annotations

import calendar
import hashlib
import time
from urllib.parse import quote, urlsplit

import pytest
from botocore.auth import HmacV1Auth, HmacV1QueryAuth, S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.crt.auth import CrtS3SigV4Auth, CrtS3SigV4QueryAuth
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pys3local.errors import (
    AccessDenied,
    AuthorizationHeaderMalformed,
    AuthorizationQueryParametersError,
    InvalidAccessKeyId,
    InvalidArgument,
    InvalidRequest,
    RequestTimeTooSkewed,
    S3Error,
    SignatureDoesNotMatch,
)
from pys3local.s3.auth import RequestAuthenticator, SignedRequest
from pys3local.s3.signing import ChunkSigningContext, signing_key, v4_candidates

AK = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
REGION = "us-east-1"
EXAMPLE_TIME = calendar.timegm((2013, 5, 24, 0, 0, 0))
EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
SCOPE = "20130524/us-east-1/s3/aws4_request"
HOST = "examplebucket.s3.amazonaws.com"


def authenticator(clock: float = EXAMPLE_TIME, region: str = REGION) -> RequestAuthenticator:
    return RequestAuthenticator(AK, SECRET, region, clock=lambda: clock)


def v4_header(signed_headers: str, signature: str, scope: str = SCOPE) -> str:
    return (
        f"AWS4-HMAC-SHA256 Credential={AK}/{scope},SignedHeaders={signed_headers},"
        f"Signature={signature}"
    )


# --------------------------------------------------------------------------- AWS examples
# From "Signature Calculations for the Authorization Header: Transferring Payload in a
# Single Chunk" (docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html).

AWS_HEADER_EXAMPLES = {
    "GetObject": (
        "GET",
        "/test.txt",
        "",
        {"range": "bytes=0-9", "x-amz-content-sha256": EMPTY},
        "host;range;x-amz-content-sha256;x-amz-date",
        "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972",
        "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
    ),
    "PutObject": (
        "PUT",
        # The example sends "test$file.text"; its canonical URI is "/test%24file.text".
        "/test$file.text",
        "",
        {
            "date": "Fri, 24 May 2013 00:00:00 GMT",
            "x-amz-storage-class": "REDUCED_REDUNDANCY",
            "x-amz-content-sha256": hashlib.sha256(b"Welcome to Amazon S3.").hexdigest(),
        },
        "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
        "9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d",
        "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
    ),
    "GetBucketLifecycle": (
        "GET",
        "/",
        "lifecycle",
        {"x-amz-content-sha256": EMPTY},
        "host;x-amz-content-sha256;x-amz-date",
        "9766c798316ff2757b517bc739a67f6213b4ab36dd5da2f94eaebf79c77395ca",
        "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
    ),
    "ListObjects": (
        "GET",
        "/",
        "max-keys=2&prefix=J",
        {"x-amz-content-sha256": EMPTY},
        "host;x-amz-content-sha256;x-amz-date",
        "df57d21db20da04d7fa30298dd4488ba3a2b47ca3a489c74750e0f1e7df1b9b7",
        "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
    ),
}


def _aws_example(name: str, signature: str | None = None) -> SignedRequest:
    method, path, query, extra, signed, _, expected_signature = AWS_HEADER_EXAMPLES[name]
    headers = {"host": HOST, "x-amz-date": "20130524T000000Z", **extra}
    headers["authorization"] = v4_header(signed, signature or expected_signature)
    return SignedRequest(method, path, query, headers)


@pytest.mark.parametrize("name", sorted(AWS_HEADER_EXAMPLES))
def test_aws_header_example_string_to_sign(name: str) -> None:
    """The canonical request hashes to the string to sign AWS documents."""
    request = _aws_example(name)
    signed, canonical_hash = AWS_HEADER_EXAMPLES[name][4], AWS_HEADER_EXAMPLES[name][5]
    strings = [
        sts
        for _, sts in v4_candidates(
            method=request.method,
            raw_path=request.raw_path,
            raw_query=request.raw_query,
            headers=request.headers,
            signed_headers=signed,
            payload_hash=request.headers["x-amz-content-sha256"],
            amz_date="20130524T000000Z",
            scope=SCOPE,
        )
    ]
    assert f"AWS4-HMAC-SHA256\n20130524T000000Z\n{SCOPE}\n{canonical_hash}" in strings


@pytest.mark.parametrize("name", sorted(AWS_HEADER_EXAMPLES))
def test_aws_header_example_accepted(name: str) -> None:
    """Each documented request with its documented signature authenticates as sigv4."""
    result = authenticator().authenticate(_aws_example(name))
    assert (result.scheme, result.access_key) == ("sigv4", AK)
    assert result.chunk_signing is None


@pytest.mark.parametrize("name", sorted(AWS_HEADER_EXAMPLES))
def test_aws_header_example_wrong_signature(name: str) -> None:
    """A one-digit change in the signature is SignatureDoesNotMatch with AWS's details."""
    good = AWS_HEADER_EXAMPLES[name][6]
    bad = ("0" if good[0] != "0" else "1") + good[1:]
    with pytest.raises(SignatureDoesNotMatch) as caught:
        authenticator().authenticate(_aws_example(name, bad))
    assert caught.value.details["AWSAccessKeyId"] == AK
    assert caught.value.details["StringToSign"].startswith("AWS4-HMAC-SHA256\n20130524T000000Z")
    assert caught.value.details["CanonicalRequest"].startswith(AWS_HEADER_EXAMPLES[name][0])
    assert good not in str(caught.value.details)


def test_aws_put_example_path_sent_escaped() -> None:
    """The PUT example is also accepted when the client sends the path escaped."""
    request = _aws_example("PutObject")
    escaped = SignedRequest("PUT", "/test%24file.text", "", request.headers)
    assert authenticator().authenticate(escaped).scheme == "sigv4"


def test_aws_example_query_order_is_irrelevant() -> None:
    """ListObjects signed as max-keys=2&prefix=J verifies when sent as prefix=J&max-keys=2."""
    request = _aws_example("ListObjects")
    reordered = SignedRequest("GET", "/", "prefix=J&max-keys=2", request.headers)
    assert authenticator().authenticate(reordered).scheme == "sigv4"


# From "Authenticating Requests: Using Query Parameters" (sigv4-query-string-auth.html).
PRESIGNED_QUERY = (
    "X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
    "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
    "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
)


def test_aws_presigned_example_accepted() -> None:
    """AWS's presigned GET example is valid during its 24 hours."""
    request = SignedRequest("GET", "/test.txt", PRESIGNED_QUERY, {"host": HOST})
    result = authenticator(EXAMPLE_TIME + 3600).authenticate(request)
    assert (result.scheme, result.content_sha256) == ("sigv4-presigned", "UNSIGNED-PAYLOAD")


def test_aws_presigned_example_expired() -> None:
    """One second after X-Amz-Date + X-Amz-Expires the URL is AccessDenied."""
    request = SignedRequest("GET", "/test.txt", PRESIGNED_QUERY, {"host": HOST})
    with pytest.raises(AccessDenied, match="expired"):
        authenticator(EXAMPLE_TIME + 86401).authenticate(request)


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/test.txt2", PRESIGNED_QUERY),
        ("/test.txt", PRESIGNED_QUERY + "&versionId=1"),
        ("/test.txt", PRESIGNED_QUERY.replace("Expires=86400", "Expires=86401")),
        ("/test.txt", PRESIGNED_QUERY.replace("aeeed9", "aeeed8")),
    ],
)
def test_aws_presigned_example_altered(path: str, query: str) -> None:
    """Any change to the presigned path or query is SignatureDoesNotMatch."""
    request = SignedRequest("GET", path, query, {"host": HOST})
    with pytest.raises(SignatureDoesNotMatch):
        authenticator(EXAMPLE_TIME + 60).authenticate(request)


# From "Signature Calculations for the Authorization Header: Transferring Payload in
# Multiple Chunks" (sigv4-streaming.html): 66560 bytes of "a" in 64 KiB chunks.
STREAMING_HEADERS = {
    "host": "s3.amazonaws.com",
    "x-amz-date": "20130524T000000Z",
    "x-amz-storage-class": "REDUCED_REDUNDANCY",
    "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
    "content-encoding": "aws-chunked",
    "x-amz-decoded-content-length": "66560",
    "content-length": "66824",
    "authorization": v4_header(
        "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
        "x-amz-decoded-content-length;x-amz-storage-class",
        "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
    ),
}
STREAMING_CHUNK_SIGNATURES = [
    "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
]


def test_aws_streaming_example_seed_signature() -> None:
    """The documented seed signature authenticates and yields the chunk-signing context."""
    request = SignedRequest("PUT", "/examplebucket/chunkObject.txt", "", STREAMING_HEADERS)
    result = authenticator().authenticate(request)
    assert result.content_sha256 == "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
    assert result.chunk_signing is not None
    assert result.chunk_signing.seed_signature == STREAMING_HEADERS["authorization"][-64:]
    assert result.chunk_signing.scope == SCOPE
    assert "signing_key" not in repr(result) and SECRET not in repr(result)


def test_aws_streaming_example_chunk_signatures() -> None:
    """The chunk signatures chain from the seed exactly as documented."""
    context = ChunkSigningContext(
        "20130524T000000Z",
        SCOPE,
        "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
        signing_key(SECRET, "20130524", REGION),
    )
    previous = context.seed_signature
    for data, expected in zip(
        [b"a" * 65536, b"a" * 1024, b""], STREAMING_CHUNK_SIGNATURES, strict=True
    ):
        previous = context.chunk_signature(previous, hashlib.sha256(data).hexdigest())
        assert previous == expected


def test_aws_streaming_trailer_example() -> None:
    """The trailer example (sigv4-streaming-trailers.html): seed, chunks and trailer.

    AWS's page prints 63bddb24... as the trailer signature, but its own string to sign
    (hash 1e376db7... of "x-amz-checksum-crc32c:sOO8/Q==\\n") gives d81f82fc...; every
    independent implementation agrees on the latter, so the page is wrong there.
    """
    headers = {
        "host": "s3.amazonaws.com",
        "x-amz-date": "20130524T000000Z",
        "x-amz-storage-class": "REDUCED_REDUNDANCY",
        "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
        "content-encoding": "aws-chunked",
        "x-amz-decoded-content-length": "66560",
        "x-amz-trailer": "x-amz-checksum-crc32c",
        "authorization": v4_header(
            "content-encoding;host;x-amz-content-sha256;x-amz-date;"
            "x-amz-decoded-content-length;x-amz-storage-class;x-amz-trailer",
            "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e",
        ),
    }
    request = SignedRequest("PUT", "/examplebucket/chunkObject.txt", "", headers)
    context = authenticator().authenticate(request).chunk_signing
    assert context is not None
    previous = context.seed_signature
    for data, expected in zip(
        [b"a" * 65536, b"a" * 1024, b""],
        [
            "b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
            "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
            "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
        ],
        strict=True,
    ):
        previous = context.chunk_signature(previous, hashlib.sha256(data).hexdigest())
        assert previous == expected
    trailer_hash = hashlib.sha256(b"x-amz-checksum-crc32c:sOO8/Q==\n").hexdigest()
    assert trailer_hash.startswith("1e376db7")
    assert context.trailer_signature(previous, trailer_hash) == (
        "d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435"
    )


# --------------------------------------------------------------------------- botocore signers

# boto3 signs with awscrt (botocore.crt.auth) when it is installed, else in Python.
SIGNERS = ["s3v4", "s3v4-query", "crt-s3v4", "crt-s3v4-query", "hmacv1", "hmacv1-query"]
SCHEMES = {
    "s3v4": "sigv4",
    "s3v4-query": "sigv4-presigned",
    "crt-s3v4": "sigv4",
    "crt-s3v4-query": "sigv4-presigned",
    "hmacv1": "sigv2",
    "hmacv1-query": "sigv2-presigned",
}
ENDPOINT = "http://127.0.0.1:9000"
LOCAL_AK, LOCAL_SECRET, LOCAL_REGION = "pys3local", "local-secret/+key", "eu-central-1"


def botocore_signed(
    signer: str,
    *,
    method: str = "PUT",
    path: str = "/bucket/dir/key.txt",
    query: str = "",
    headers: dict[str, str] | None = None,
    body: bytes = b"hello",
    access_key: str = LOCAL_AK,
    secret: str = LOCAL_SECRET,
    region: str = LOCAL_REGION,
    expires: int = 3600,
    virtual_host_bucket: str | None = None,
) -> SignedRequest:
    """Sign with botocore's own signer and return what the server would see."""
    credentials = Credentials(access_key, secret)
    netloc = urlsplit(ENDPOINT).netloc
    if virtual_host_bucket:
        netloc = f"{virtual_host_bucket}.{netloc}"
    url = f"http://{netloc}{path}" + (f"?{query}" if query else "")
    query_signer = signer.endswith("-query")
    request = AWSRequest(
        method=method,
        url=url,
        headers=dict(headers or {}),
        data=b"" if query_signer else body,
    )
    if virtual_host_bucket:
        request.auth_path = f"/{virtual_host_bucket}{path}"
    auth = {
        "s3v4": lambda: S3SigV4Auth(credentials, "s3", region),
        "s3v4-query": lambda: S3SigV4QueryAuth(credentials, "s3", region, expires=expires),
        "crt-s3v4": lambda: CrtS3SigV4Auth(credentials, "s3", region),
        "crt-s3v4-query": lambda: CrtS3SigV4QueryAuth(credentials, "s3", region, expires=expires),
        "hmacv1": lambda: HmacV1Auth(credentials),
        "hmacv1-query": lambda: HmacV1QueryAuth(credentials, expires=expires),
    }[signer]()
    auth.add_auth(request)
    split = urlsplit(request.url)
    sent = {"host": netloc}
    if not query_signer:
        sent.update({name.lower(): str(value) for name, value in request.headers.items()})
    else:
        # Whoever follows a presigned URL sends only the headers it was signed with.
        sent.update({name.lower(): value for name, value in (headers or {}).items()})
    return SignedRequest(method, split.path, split.query, sent, virtual_host_bucket)


def local_authenticator(offset: float = 0.0, **kwargs: object) -> RequestAuthenticator:
    now = time.time() + offset
    return RequestAuthenticator(LOCAL_AK, LOCAL_SECRET, LOCAL_REGION, clock=lambda: now, **kwargs)


def replace(request: SignedRequest, **changes: object) -> SignedRequest:
    fields = {
        "method": request.method,
        "raw_path": request.raw_path,
        "raw_query": request.raw_query,
        "headers": dict(request.headers),
        "bucket_from_host": request.bucket_from_host,
    }
    fields.update(changes)
    return SignedRequest(**fields)  # type: ignore[arg-type]


KEYS = [
    "dir/key.txt",
    "a b+c~d!e'f(g)h*i.txt",
    "unicodé/ключ/鍵.bin",
    "semi;colon=eq&amp%25pct",
    "trailing/",
]


@pytest.mark.parametrize("signer", SIGNERS)
@pytest.mark.parametrize("key", KEYS)
def test_botocore_signed_request_accepted(signer: str, key: str) -> None:
    """Requests signed by botocore for awkward keys authenticate with the right scheme."""
    path = "/bucket/" + quote(key, safe="/~")
    request = botocore_signed(signer, path=path, headers={"x-amz-meta-mtime": "1700000000.5"})
    result = local_authenticator().authenticate(request)
    assert (result.scheme, result.access_key) == (SCHEMES[signer], LOCAL_AK)


@pytest.mark.parametrize("signer", SIGNERS)
@pytest.mark.parametrize(
    "query",
    [
        "uploads",
        "partNumber=3&uploadId=abc%2Fdef",
        "list-type=2&prefix=a%20b%2Fc&delimiter=%2F&encoding-type=url",
        "delete",
        "tagging&versionId=v1",
        "response-content-type=text%2Fplain&response-content-disposition=attachment",
    ],
)
def test_botocore_signed_subresources_accepted(signer: str, query: str) -> None:
    """Sub-resources and ordinary parameters are canonicalised as each scheme requires."""
    request = botocore_signed(signer, method="GET", query=query, body=b"")
    assert local_authenticator().authenticate(request).scheme == SCHEMES[signer]


@pytest.mark.parametrize("signer", ["hmacv1", "hmacv1-query"])
def test_botocore_v2_virtual_host_accepted(signer: str) -> None:
    """SigV2 with a virtual-host bucket signs "/bucket/key"; bucket_from_host supplies it."""
    request = botocore_signed(signer, path="/key.txt", virtual_host_bucket="bucket")
    assert local_authenticator().authenticate(request).scheme == SCHEMES[signer]
    with pytest.raises(SignatureDoesNotMatch):
        local_authenticator().authenticate(replace(request, bucket_from_host=None))


def _tampered(signer: str, what: str) -> tuple[SignedRequest, type[S3Error]]:
    base = {"headers": {"x-amz-meta-color": "blue"}, "query": "tagging"}
    if what == "key":
        return botocore_signed(signer, access_key="OTHERKEY", **base), InvalidAccessKeyId
    if what == "secret":
        return botocore_signed(signer, secret="other", **base), SignatureDoesNotMatch
    request = botocore_signed(signer, **base)
    if what == "method":
        return replace(request, method="POST"), SignatureDoesNotMatch
    if what == "path":
        return replace(request, raw_path=request.raw_path + "x"), SignatureDoesNotMatch
    if what == "query":
        return replace(request, raw_query=request.raw_query + "&acl"), SignatureDoesNotMatch
    if what == "header":
        headers = {**request.headers, "x-amz-meta-color": "red"}
        return replace(request, headers=headers), SignatureDoesNotMatch
    raise AssertionError(what)


@pytest.mark.parametrize("signer", SIGNERS)
@pytest.mark.parametrize("what", ["method", "path", "query", "header", "key", "secret"])
def test_botocore_signed_request_tampered(signer: str, what: str) -> None:
    """Changing any signed element (or the key or secret) is rejected."""
    request, error = _tampered(signer, what)
    if signer.endswith("-query") and what == "header":
        # Headers a presigned URL did not sign are not part of it; the query still is.
        request = replace(request, raw_query=request.raw_query.replace("tagging", "acl"))
    with pytest.raises(error):
        local_authenticator().authenticate(request)


def _shift_amz_date(value: str, seconds: int) -> str:
    moment = calendar.timegm(time.strptime(value, "%Y%m%dT%H%M%SZ")) + seconds
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(moment))


@pytest.mark.parametrize("signer", ["s3v4", "hmacv1"])
def test_botocore_signed_date_tampered(signer: str) -> None:
    """A request date moved by one second no longer matches the signature."""
    request = botocore_signed(signer)
    headers = dict(request.headers)
    if signer == "s3v4":
        headers["x-amz-date"] = _shift_amz_date(headers["x-amz-date"], 1)
    else:
        moment = time.strptime(headers["date"], "%a, %d %b %Y %H:%M:%S GMT")
        headers["date"] = time.strftime(
            "%a, %d %b %Y %H:%M:%S GMT", time.gmtime(calendar.timegm(moment) + 1)
        )
    with pytest.raises(SignatureDoesNotMatch):
        local_authenticator().authenticate(replace(request, headers=headers))


def test_botocore_v4_presigned_date_tampered() -> None:
    """Changing X-Amz-Date of a presigned URL breaks it."""
    request = botocore_signed("s3v4-query")
    signed_at = dict(part.split("=", 1) for part in request.raw_query.split("&"))["X-Amz-Date"]
    moved = _shift_amz_date(signed_at, 1)
    query = request.raw_query.replace(f"X-Amz-Date={signed_at}", f"X-Amz-Date={moved}")
    with pytest.raises(SignatureDoesNotMatch):
        local_authenticator().authenticate(replace(request, raw_query=query))


def test_botocore_v4_wrong_region() -> None:
    """A V4 request signed for another region names the expected one, as AWS does."""
    request = botocore_signed("s3v4", region="us-east-1")
    with pytest.raises(AuthorizationHeaderMalformed) as caught:
        local_authenticator().authenticate(request)
    assert caught.value.details["Region"] == LOCAL_REGION
    assert "'us-east-1' is wrong; expecting 'eu-central-1'" in caught.value.message


def test_botocore_v4_presigned_wrong_region() -> None:
    """A presigned URL for another region is AuthorizationQueryParametersError."""
    request = botocore_signed("s3v4-query", region="us-west-2")
    with pytest.raises(AuthorizationQueryParametersError) as caught:
        local_authenticator().authenticate(request)
    assert caught.value.details["Region"] == LOCAL_REGION


def test_get_bucket_location_signed_for_us_east_1_accepted() -> None:
    """minio-go (restic) signs GetBucketLocation for us-east-1 whatever the region."""
    request = botocore_signed(
        "s3v4", method="GET", path="/bucket", query="location", body=b"", region="us-east-1"
    )
    assert local_authenticator().authenticate(request).scheme == "sigv4"


@pytest.mark.parametrize("signer", ["s3v4", "hmacv1"])
@pytest.mark.parametrize(("offset", "ok"), [(14 * 60, True), (16 * 60, False), (-16 * 60, False)])
def test_clock_skew(signer: str, offset: float, ok: bool) -> None:
    """Up to 15 minutes of clock difference is accepted; more is RequestTimeTooSkewed."""
    request = botocore_signed(signer)
    auth = local_authenticator(offset)
    if ok:
        assert auth.authenticate(request).scheme == SCHEMES[signer]
    else:
        with pytest.raises(RequestTimeTooSkewed) as caught:
            auth.authenticate(request)
        assert caught.value.details["MaxAllowedSkewMilliseconds"] == "900000"


@pytest.mark.parametrize("signer", ["s3v4-query", "hmacv1-query"])
def test_presigned_expiry(signer: str) -> None:
    """A presigned URL works until it expires, then is AccessDenied "Request has expired"."""
    request = botocore_signed(signer, method="GET", body=b"", expires=600)
    assert local_authenticator(590).authenticate(request).scheme == SCHEMES[signer]
    with pytest.raises(AccessDenied, match="Request has expired"):
        local_authenticator(610).authenticate(request)


def test_presigned_v4_from_the_future() -> None:
    """A presigned URL dated beyond the allowed skew is not valid yet."""
    request = botocore_signed("s3v4-query", method="GET", body=b"")
    with pytest.raises(AccessDenied, match="not valid yet"):
        local_authenticator(-3600).authenticate(request)


@pytest.mark.parametrize(("expires", "message"), [("604801", "less than a week"),
                                                   ("-1", "non-negative"),
                                                   ("soon", "should be a number")])  # fmt: skip
def test_presigned_v4_bad_expires(expires: str, message: str) -> None:
    """X-Amz-Expires over 7 days, negative or not a number is rejected before the signature."""
    request = botocore_signed("s3v4-query", method="GET", body=b"")
    query = "&".join(
        f"X-Amz-Expires={expires}" if part.startswith("X-Amz-Expires=") else part
        for part in request.raw_query.split("&")
    )
    with pytest.raises(AuthorizationQueryParametersError, match=message):
        local_authenticator().authenticate(replace(request, raw_query=query))


def test_presigned_v4_seven_days_allowed() -> None:
    """botocore may presign for exactly 604800 seconds."""
    request = botocore_signed("s3v4-query", method="GET", body=b"", expires=604800)
    assert local_authenticator(604000).authenticate(request).scheme == "sigv4-presigned"


def test_v4_payload_hash_is_reported() -> None:
    """The declared x-amz-content-sha256 travels to the body layer."""
    request = botocore_signed("s3v4", body=b"hello")
    result = local_authenticator().authenticate(request)
    assert result.content_sha256 == hashlib.sha256(b"hello").hexdigest()


# --------------------------------------------------------------------------- malformed input


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"authorization": None}, AccessDenied),
        ({"x-amz-content-sha256": None}, InvalidRequest),
        ({"x-amz-content-sha256": "abc"}, InvalidArgument),
        ({"x-amz-date": None}, AccessDenied),
        ({"x-amz-date": "yesterday"}, AccessDenied),
        ({"authorization": "Bearer token"}, InvalidArgument),
        ({"authorization": "AWS4-HMAC-SHA256 Credential=AK/1/2"}, AuthorizationHeaderMalformed),
        ({"authorization": "AWS4-ECDSA-P256-SHA256 Credential=x"}, AuthorizationHeaderMalformed),
        ({"authorization": "AWS nocolon"}, InvalidArgument),
    ],
)
def test_malformed_v4_requests(change: dict[str, str | None], error: type[S3Error]) -> None:
    """Missing or malformed parts give AWS's error codes, never an exception of Python's."""
    headers = dict(_aws_example("GetObject").headers)
    for name, value in change.items():
        if value is None:
            headers.pop(name, None)
        else:
            headers[name] = value
    with pytest.raises(error):
        authenticator().authenticate(SignedRequest("GET", "/test.txt", "", headers))


@pytest.mark.parametrize(
    ("scope", "message"),
    [
        ("20130525/us-east-1/s3/aws4_request", "Invalid credential date"),
        ("20130524/us-east-1/ec2/aws4_request", "incorrect service"),
        ("20130524/us-east-1/s3/aws5_request", "incorrect terminal"),
    ],
)
def test_v4_credential_scope_checked(scope: str, message: str) -> None:
    """Date, service and terminator of the credential scope are checked."""
    headers = dict(_aws_example("GetObject").headers)
    headers["authorization"] = v4_header(
        "host;range;x-amz-content-sha256;x-amz-date", "0" * 64, scope
    )
    with pytest.raises(AuthorizationHeaderMalformed, match=message):
        authenticator().authenticate(SignedRequest("GET", "/test.txt", "", headers))


def test_v4_host_must_be_signed() -> None:
    """SignedHeaders without host is malformed."""
    headers = dict(_aws_example("GetObject").headers)
    headers["authorization"] = v4_header("range;x-amz-date", "0" * 64)
    with pytest.raises(AuthorizationHeaderMalformed, match="host"):
        authenticator().authenticate(SignedRequest("GET", "/test.txt", "", headers))


def test_header_and_query_auth_together_rejected() -> None:
    """An Authorization header plus a presigned query is InvalidArgument, as on AWS."""
    request = _aws_example("GetObject")
    with pytest.raises(InvalidArgument, match="Only one auth mechanism"):
        authenticator().authenticate(replace(request, raw_query=PRESIGNED_QUERY))


def test_repeated_query_keys_are_all_signed() -> None:
    """Repeated query keys are kept (the predecessor collapsed them into a dict)."""
    request = botocore_signed("s3v4", method="GET", query="a=1&a=2&b", body=b"")
    assert local_authenticator().authenticate(request).scheme == "sigv4"
    with pytest.raises(SignatureDoesNotMatch):
        local_authenticator().authenticate(replace(request, raw_query="a=1&b"))


def test_no_auth_mode_accepts_anything() -> None:
    """In no-auth mode every request is anonymous, whatever credentials it carries."""
    auth = RequestAuthenticator(LOCAL_AK, LOCAL_SECRET, LOCAL_REGION, no_auth=True)
    assert auth.authenticate(SignedRequest("GET", "/", "", {})).scheme == "anonymous"
    bad = botocore_signed("s3v4", secret="wrong")
    result = auth.authenticate(bad)
    assert (result.scheme, result.chunk_signing) == ("anonymous", None)
    assert result.content_sha256 == hashlib.sha256(b"hello").hexdigest()


def test_secret_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    """Failure logs show the canonical request but neither the secret nor the signature."""
    caplog.set_level("DEBUG", logger="pys3local.auth")
    request = botocore_signed("s3v4", secret="wrong")
    with pytest.raises(SignatureDoesNotMatch):
        local_authenticator().authenticate(request)
    provided = request.headers["authorization"][-64:]
    assert "CanonicalRequest" in caplog.text
    assert LOCAL_SECRET not in caplog.text and provided not in caplog.text
    assert "sigv4" in caplog.text


# --------------------------------------------------------------------------- fuzzing

_latin1 = st.text(st.characters(max_codepoint=255), max_size=80)
_tokens = st.sampled_from(
    [
        "AWS4-HMAC-SHA256 ",
        "AWS ",
        "Credential=",
        "SignedHeaders=",
        "Signature=",
        "/",
        ",",
        ";",
        "=",
        ":",
        "host",
        "20130524",
        "us-east-1",
        "s3",
        "aws4_request",
        AK,
    ]
)
_fuzzy = st.lists(st.one_of(_tokens, _latin1), max_size=12).map("".join)
_query_tokens = st.sampled_from(
    ["X-Amz-Algorithm=", "X-Amz-Credential=", "X-Amz-Date=", "X-Amz-Expires=",
     "X-Amz-SignedHeaders=", "X-Amz-Signature=", "AWSAccessKeyId=", "Signature=",
     "Expires=", "&", "%", "%2F", "+", "AWS4-HMAC-SHA256", "uploads", "="]
)  # fmt: skip
_fuzzy_query = st.lists(st.one_of(_query_tokens, _latin1), max_size=12).map("".join)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    authorization=st.one_of(st.none(), _fuzzy),
    date=st.one_of(st.none(), _fuzzy, st.just("20130524T000000Z")),
    content_sha256=st.one_of(st.none(), _fuzzy, st.just(EMPTY)),
    path=_latin1,
    query=_fuzzy_query,
    method=st.sampled_from(["GET", "PUT", "", "\x00"]),
)
def test_fuzzed_requests_raise_only_s3_errors(
    authorization: str | None,
    date: str | None,
    content_sha256: str | None,
    path: str,
    query: str,
    method: str,
) -> None:
    """Garbage in any part of a request raises an S3Error or authenticates, nothing else."""
    headers = {"host": HOST}
    for name, value in (
        ("authorization", authorization),
        ("x-amz-date", date),
        ("date", date),
        ("x-amz-content-sha256", content_sha256),
    ):
        if value is not None:
            headers[name] = value
    try:
        authenticator().authenticate(SignedRequest(method, path, query, headers))
    except S3Error as error:
        assert isinstance(error.message, str)
        for value in error.details.values():
            value.encode("utf-8")  # renderable


def test_presigned_v4_with_signed_streaming_payload() -> None:
    """A presigned PUT that declares a signed aws-chunked body seeds the chunk chain."""
    request = botocore_signed("s3v4-query", body=b"")
    headers = {**request.headers, "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"}
    with pytest.raises(SignatureDoesNotMatch):
        # The declared payload marker is part of the canonical request botocore signed
        # as UNSIGNED-PAYLOAD, so a marker added afterwards breaks the signature.
        local_authenticator().authenticate(replace(request, headers=headers))
    auth = S3SigV4QueryAuth(Credentials(LOCAL_AK, LOCAL_SECRET), "s3", LOCAL_REGION)
    auth.payload = lambda _request: "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"  # type: ignore[method-assign]
    signed = AWSRequest(method="PUT", url=f"{ENDPOINT}/bucket/key")
    auth.add_auth(signed)
    split = urlsplit(signed.url)
    headers = {"host": split.netloc, "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"}
    result = local_authenticator().authenticate(
        SignedRequest("PUT", split.path, split.query, headers)
    )
    assert result.scheme == "sigv4-presigned"
    assert result.chunk_signing is not None
