"""Streaming request bodies: aws-chunked decoding, chunk signatures, checksums, lengths."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import itertools
import random
import tracemalloc
from collections.abc import AsyncIterator, Iterable, Iterator

import pytest
from botocore.httpchecksum import AwsChunkedWrapper, CrtCrc32Checksum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pys3local.errors import (
    BadDigest,
    EntityTooLarge,
    IncompleteBody,
    InvalidDigest,
    InvalidRequest,
    S3Error,
    SignatureDoesNotMatch,
    XAmzContentSHA256Mismatch,
)
from pys3local.s3.auth import AuthResult
from pys3local.s3.body import RequestBody, open_request_body, stored_content_encoding
from pys3local.s3.checksums import ALGORITHMS, checksum_of
from pys3local.s3.signing import ChunkSigningContext, signing_key

SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SCOPE = "20130524/us-east-1/s3/aws4_request"
KEY = signing_key(SECRET, "20130524", "us-east-1")


def context(seed: str) -> ChunkSigningContext:
    return ChunkSigningContext("20130524T000000Z", SCOPE, seed, KEY)


# --------------------------------------------------------------------------- helpers


def aws_chunked_pieces(
    data: Iterable[bytes],
    signing: ChunkSigningContext | None = None,
    trailer: dict[str, str] | None = None,
) -> Iterator[bytes]:
    """Encode data chunks as aws-chunked, lazily (one chunk in memory at a time)."""
    previous = signing.seed_signature if signing else ""
    for chunk in [*data, b""] if isinstance(data, list) else _with_final(data):
        if signing:
            previous = signing.chunk_signature(previous, hashlib.sha256(chunk).hexdigest())
            yield f"{len(chunk):x};chunk-signature={previous}\r\n".encode()
        else:
            yield f"{len(chunk):x}\r\n".encode()
        if chunk:
            yield chunk + b"\r\n"
    if trailer:
        canonical = "".join(f"{name}:{value}\n" for name, value in trailer.items())
        yield canonical.replace("\n", "\r\n").encode()
        if signing:
            digest = hashlib.sha256(canonical.encode()).hexdigest()
            signature = signing.trailer_signature(previous, digest)
            yield f"x-amz-trailer-signature:{signature}\r\n".encode()
    yield b"\r\n"


def _with_final(data: Iterable[bytes]) -> Iterator[bytes]:
    yield from data
    yield b""


def aws_chunked(
    data: bytes,
    chunk_size: int = 65536,
    signing: ChunkSigningContext | None = None,
    trailer: dict[str, str] | None = None,
) -> bytes:
    chunks = [data[i : i + chunk_size] for i in range(0, len(data), chunk_size)]
    return b"".join(aws_chunked_pieces(chunks, signing, trailer))


async def stream(pieces: Iterable[bytes]) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece


def split_every(body: bytes, size: int) -> list[bytes]:
    return [body[i : i + size] for i in range(0, len(body), size)]


async def read(body: RequestBody) -> bytes:
    return b"".join([piece async for piece in body])


def open_body(
    body: bytes | Iterable[bytes],
    headers: dict[str, str],
    *,
    signing: ChunkSigningContext | None = None,
    piece: int = 65536,
    **kwargs: object,
) -> RequestBody:
    pieces = split_every(body, piece) if isinstance(body, bytes) else body
    auth = AuthResult("sigv4" if signing else "anonymous", None, headers.get(
        "x-amz-content-sha256"), signing)  # fmt: skip
    return open_request_body(auth, headers, stream(pieces), **kwargs)  # type: ignore[arg-type]


def chunked_headers(mode: str, length: int, **extra: str) -> dict[str, str]:
    return {
        "x-amz-content-sha256": mode,
        "content-encoding": "aws-chunked",
        "x-amz-decoded-content-length": str(length),
        **extra,
    }


# --------------------------------------------------------------------------- AWS example

AWS_DATA = b"a" * 66560
AWS_SEED = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
AWS_BODY = (
    b"10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"
    + b"\r\n" + b"a" * 65536 + b"\r\n"
    + b"400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497"
    + b"\r\n" + b"a" * 1024 + b"\r\n"
    + b"0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"
    + b"\r\n\r\n"
)  # fmt: skip
AWS_HEADERS = chunked_headers(SIGNED, 66560, **{"content-length": "66824"})


def test_aws_example_body_is_what_the_encoder_makes() -> None:
    """The test encoder reproduces AWS's documented body byte for byte."""
    assert len(AWS_BODY) == 66824
    assert aws_chunked(AWS_DATA, signing=context(AWS_SEED)) == AWS_BODY


async def test_aws_streaming_example_decodes() -> None:
    """AWS's documented signed aws-chunked body decodes to 66560 bytes of "a"."""
    body = open_body(AWS_BODY, AWS_HEADERS, signing=context(AWS_SEED))
    assert await read(body) == AWS_DATA
    assert body.decoded_length == 66560
    assert body.checksums == {}


async def test_aws_streaming_example_one_byte_pieces() -> None:
    """Fed one byte at a time, the body still decodes, and comes out in large pieces."""
    body = open_body(AWS_BODY, AWS_HEADERS, signing=context(AWS_SEED), piece=1)
    pieces = [piece async for piece in body]
    assert b"".join(pieces) == AWS_DATA
    assert all(len(piece) >= 32 * 1024 for piece in pieces[:-1])


def _framing_offsets() -> list[int]:
    """Split points in every piece of framing: hex sizes, signatures, CRLFs, the end."""
    offsets: list[int] = []
    start = 0
    while True:
        line_end = AWS_BODY.find(b"\r\n", start)
        if line_end == -1:
            break
        offsets.extend(range(start, line_end + 3))  # the whole header line and its CRLF
        size = int(AWS_BODY[start : AWS_BODY.index(b";", start)], 16)
        data_end = line_end + 2 + size
        offsets.extend(range(data_end - 1, min(data_end + 3, len(AWS_BODY) + 1)))
        if size == 0:
            break
        start = data_end + 2
    return sorted(set(offsets))


@pytest.mark.parametrize("offset", _framing_offsets())
async def test_aws_streaming_example_split_anywhere(offset: int) -> None:
    """A read boundary inside a hex length, a signature or a CRLF changes nothing."""
    pieces = [AWS_BODY[:offset], AWS_BODY[offset:]]
    body = open_body(pieces, AWS_HEADERS, signing=context(AWS_SEED))
    assert await read(body) == AWS_DATA


@settings(max_examples=60, deadline=None)
@given(cuts=st.lists(st.integers(0, len(AWS_BODY)), max_size=40))
async def test_aws_streaming_example_random_splits(cuts: list[int]) -> None:
    """Any set of read boundaries decodes to the same bytes."""
    points = sorted({0, len(AWS_BODY), *cuts})
    pieces = [AWS_BODY[a:b] for a, b in itertools.pairwise(points)]
    body = open_body(pieces, AWS_HEADERS, signing=context(AWS_SEED))
    assert await read(body) == AWS_DATA


# --------------------------------------------------------------------------- tampering


async def _consume_until_error(body: RequestBody) -> tuple[int, S3Error]:
    """Read until an error; return the bytes read before it and the error."""
    received = 0
    with pytest.raises(S3Error) as caught:
        async for piece in body:
            received += len(piece)
    return received, caught.value


def _tamper_data(body: bytes) -> bytes:
    index = body.index(b"\r\n") + 2 + 1000
    return body[:index] + b"b" + body[index + 1 :]


def _tamper_signature(body: bytes) -> bytes:
    index = body.index(b"chunk-signature=", 100) + len("chunk-signature=")
    flipped = b"0" if body[index : index + 1] != b"0" else b"1"
    return body[:index] + flipped + body[index + 1 :]


@pytest.mark.parametrize(
    ("tamper", "error"),
    [
        (_tamper_data, SignatureDoesNotMatch),
        (_tamper_signature, SignatureDoesNotMatch),
        (lambda body: body[:40000], IncompleteBody),
        (lambda body: body[: body.rindex(b"0;chunk-signature")], IncompleteBody),
        (lambda body: body.replace(b"signature=0055", b"signaturX=0055"), SignatureDoesNotMatch),
        (lambda body: body.replace(b"400;", b"401;"), (IncompleteBody, SignatureDoesNotMatch)),
        (lambda body: body.replace(b"400;", b"3ff;"), (IncompleteBody, SignatureDoesNotMatch)),
        (lambda body: body.replace(b"400;", b"0x400;"), IncompleteBody),
        (lambda body: body + b"garbage", InvalidRequest),
    ],
    ids=["data-byte", "chunk-signature", "truncated", "no-final-chunk", "no-signature",
         "size-too-big", "size-too-small", "hex-prefix", "trailing-garbage"],
)  # fmt: skip
async def test_signed_streaming_tampered(tamper, error) -> None:  # type: ignore[no-untyped-def]
    """Every corruption of a signed body raises before the stream reports its end."""
    body = open_body(tamper(AWS_BODY), AWS_HEADERS, signing=context(AWS_SEED), piece=4096)
    _, raised = await _consume_until_error(body)
    assert isinstance(raised, error)
    with pytest.raises(type(raised)):
        await body.__anext__()  # the error sticks


@pytest.mark.parametrize(
    "tamper",
    [
        lambda body: body[:40000],
        lambda body: body[: body.rindex(b"0;chunk-signature")],
        lambda body: body.replace(b"400;", b"401;"),
        lambda body: body.replace(b"400;", b"3ff;"),
        lambda body: body.replace(b"400;", b"+400;"),
        lambda body: body.replace(b"\r\n400;", b"\n\r400;"),
        lambda body: body + b"garbage",
    ],
    ids=["truncated", "no-final-chunk", "size-too-big", "size-too-small", "plus-sign",
         "swapped-crlf", "trailing-garbage"],
)  # fmt: skip
async def test_unsigned_framing_errors(tamper) -> None:  # type: ignore[no-untyped-def]
    """Without signatures to fall back on, bad framing is still caught (no-auth mode)."""
    body = open_body(tamper(AWS_BODY), AWS_HEADERS, piece=4096)
    _, raised = await _consume_until_error(body)
    assert isinstance(raised, (IncompleteBody, InvalidRequest))


async def test_signed_streaming_wrong_seed() -> None:
    """Chunk signatures chained from another seed are rejected at the first chunk."""
    body = open_body(AWS_BODY, AWS_HEADERS, signing=context("0" * 64))
    received, raised = await _consume_until_error(body)
    assert isinstance(raised, SignatureDoesNotMatch)
    assert received <= 65536


async def test_decoded_length_mismatch() -> None:
    """x-amz-decoded-content-length must equal the decoded length."""
    for declared in ("66559", "66561"):
        headers = {**AWS_HEADERS, "x-amz-decoded-content-length": declared}
        _, raised = await _consume_until_error(
            open_body(AWS_BODY, headers, signing=context(AWS_SEED))
        )
        assert isinstance(raised, IncompleteBody)


async def test_no_auth_mode_decodes_without_checking_signatures() -> None:
    """Without a signing context (no-auth mode) chunk signatures are framing only."""
    body = open_body(_tamper_signature(AWS_BODY), AWS_HEADERS)
    assert await read(body) == AWS_DATA


async def test_content_encoding_alone_does_not_select_aws_chunked() -> None:
    """The payload hash decides the framing, as on AWS: Content-Encoding: aws-chunked
    with UNSIGNED-PAYLOAD is a plain body, taken byte for byte."""
    data = b"3e8;chunk-signature=not-really\r\n" + b"xyz" * 1000
    headers = {
        "content-encoding": "gzip, aws-chunked",
        "x-amz-content-sha256": "UNSIGNED-PAYLOAD",
        "content-length": str(len(data)),
    }
    assert await read(open_body(data, headers)) == data


def test_stored_content_encoding_drops_aws_chunked() -> None:
    """aws-chunked is a transfer detail and is not stored with the object."""
    assert stored_content_encoding({"content-encoding": "aws-chunked"}) is None
    assert stored_content_encoding({"content-encoding": "gzip,aws-chunked"}) == "gzip"
    assert stored_content_encoding({}) is None


# --------------------------------------------------------------------------- trailers

DATA = bytes(random.Random(7).randbytes(200_000))


@pytest.mark.parametrize("algorithm", ALGORITHMS)
async def test_unsigned_trailer_checksum(algorithm: str) -> None:
    """STREAMING-UNSIGNED-PAYLOAD-TRAILER with a correct trailer checksum is reported."""
    name = f"x-amz-checksum-{algorithm.lower()}"
    value = checksum_of(algorithm, DATA)
    encoded = aws_chunked(DATA, chunk_size=1 << 16, trailer={name: value})
    headers = chunked_headers(UNSIGNED_TRAILER, len(DATA), **{"x-amz-trailer": name})
    body = open_body(encoded, headers, piece=777)
    assert await read(body) == DATA
    assert body.checksums == {algorithm: value}


@pytest.mark.parametrize("algorithm", ALGORITHMS)
async def test_unsigned_trailer_checksum_mismatch(algorithm: str) -> None:
    """A trailer checksum of other data is BadDigest, raised before the end."""
    name = f"x-amz-checksum-{algorithm.lower()}"
    encoded = aws_chunked(DATA, trailer={name: checksum_of(algorithm, DATA + b"!")})
    headers = chunked_headers(UNSIGNED_TRAILER, len(DATA), **{"x-amz-trailer": name})
    _, raised = await _consume_until_error(open_body(encoded, headers))
    assert isinstance(raised, BadDigest)
    assert algorithm in raised.message


@pytest.mark.parametrize("value", ["not base64!", "AAAA", base64.b64encode(b"x" * 40).decode()])
async def test_unsigned_trailer_malformed_value(value: str) -> None:
    """A trailer value that is not the algorithm's base64 digest is InvalidRequest."""
    encoded = aws_chunked(DATA, trailer={"x-amz-checksum-crc32": value})
    headers = chunked_headers(
        UNSIGNED_TRAILER, len(DATA), **{"x-amz-trailer": "x-amz-checksum-crc32"}
    )
    _, raised = await _consume_until_error(open_body(encoded, headers))
    assert isinstance(raised, InvalidRequest)


async def test_declared_trailer_missing() -> None:
    """A checksum declared in x-amz-trailer must arrive."""
    encoded = aws_chunked(DATA)
    headers = chunked_headers(
        UNSIGNED_TRAILER, len(DATA), **{"x-amz-trailer": "x-amz-checksum-crc32"}
    )
    _, raised = await _consume_until_error(open_body(encoded, headers))
    assert isinstance(raised, InvalidRequest)


async def test_undeclared_trailer_rejected() -> None:
    """A trailer checksum not declared in x-amz-trailer cannot be verified: InvalidRequest."""
    encoded = aws_chunked(DATA, trailer={"x-amz-checksum-crc32": checksum_of("CRC32", DATA)})
    headers = chunked_headers(
        UNSIGNED_TRAILER, len(DATA), **{"x-amz-trailer": "x-amz-checksum-sha1"}
    )
    _, raised = await _consume_until_error(open_body(encoded, headers))
    assert isinstance(raised, InvalidRequest)


async def test_trailer_in_body_without_trailer_mode_rejected() -> None:
    """A plain signed streaming body may not smuggle trailing headers."""
    signing = context("1" * 64)
    encoded = aws_chunked(DATA, signing=signing, trailer={"x-amz-meta-a": "b"})
    body = open_body(encoded, chunked_headers(SIGNED, len(DATA)), signing=signing)
    _, raised = await _consume_until_error(body)
    assert isinstance(raised, InvalidRequest)


async def test_signed_trailer_aws_example() -> None:
    """AWS's signed-trailer example (with the trailer signature its strings give)."""
    signing = context("106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e")
    encoded = aws_chunked(AWS_DATA, signing=signing, trailer={"x-amz-checksum-crc32c": "sOO8/Q=="})
    assert b"2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992" in encoded
    assert b"d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435" in encoded
    headers = chunked_headers(SIGNED_TRAILER, 66560, **{"x-amz-trailer": "x-amz-checksum-crc32c"})
    body = open_body(encoded, headers, signing=signing, piece=1000)
    assert await read(body) == AWS_DATA
    assert body.checksums == {"CRC32C": "sOO8/Q=="}


async def test_signed_trailer_blank_line_before_trailer() -> None:
    """The AWS page shows an empty line between the final chunk and the trailer: accepted."""
    signing = context("2" * 64)
    encoded = aws_chunked(
        DATA, signing=signing, trailer={"x-amz-checksum-sha256": checksum_of("SHA256", DATA)}
    )
    final = encoded.rindex(b"\r\nx-amz-checksum-sha256")
    encoded = encoded[:final] + b"\r\n" + encoded[final:]
    headers = chunked_headers(
        SIGNED_TRAILER, len(DATA), **{"x-amz-trailer": "x-amz-checksum-sha256"}
    )
    assert await read(open_body(encoded, headers, signing=signing)) == DATA


@pytest.mark.parametrize("tamper", ["value", "signature", "missing-signature", "extra-header"])
async def test_signed_trailer_tampered(tamper: str) -> None:
    """A changed trailer or trailer signature is rejected."""
    signing = context("3" * 64)
    value = checksum_of("CRC32", DATA)
    encoded = aws_chunked(DATA, signing=signing, trailer={"x-amz-checksum-crc32": value})
    if tamper == "value":
        encoded = encoded.replace(value.encode(), checksum_of("CRC32", b"other").encode())
    elif tamper == "signature":
        index = encoded.index(b"x-amz-trailer-signature:") + 24
        encoded = (
            encoded[:index] + (b"0" if encoded[index] != ord("0") else b"1") + encoded[index + 1 :]
        )
    elif tamper == "missing-signature":
        encoded = encoded[: encoded.index(b"x-amz-trailer-signature:")] + b"\r\n"
    else:
        index = encoded.index(b"x-amz-trailer-signature:")
        encoded = encoded[:index] + b"x-amz-meta-evil:1\r\n" + encoded[index:]
    headers = chunked_headers(
        SIGNED_TRAILER, len(DATA), **{"x-amz-trailer": "x-amz-checksum-crc32"}
    )
    _, raised = await _consume_until_error(open_body(encoded, headers, signing=signing))
    assert isinstance(raised, SignatureDoesNotMatch)


async def test_botocore_aws_chunked_wrapper_body() -> None:
    """The framing botocore itself produces (1 MiB chunks, crc32 trailer) decodes."""
    data = DATA * 8
    wrapper = AwsChunkedWrapper(
        io.BytesIO(data), checksum_cls=CrtCrc32Checksum, checksum_name="x-amz-checksum-crc32"
    )
    encoded = wrapper.read()
    extra = {"x-amz-trailer": "x-amz-checksum-crc32", "x-amz-sdk-checksum-algorithm": "CRC32"}
    headers = chunked_headers(UNSIGNED_TRAILER, len(data), **extra)
    body = open_body(encoded, headers, piece=65536)
    assert await read(body) == data
    assert body.checksums == {"CRC32": checksum_of("CRC32", data)}


async def test_trailer_without_final_crlf() -> None:
    """Some SDKs end the body right after the last trailer line: accepted."""
    value = checksum_of("CRC32", DATA)
    encoded = aws_chunked(DATA, trailer={"x-amz-checksum-crc32": value})
    assert encoded.endswith(b"\r\n\r\n")
    headers = chunked_headers(
        UNSIGNED_TRAILER, len(DATA), **{"x-amz-trailer": "x-amz-checksum-crc32"}
    )
    for cut in (2, 4):
        body = open_body(encoded[:-cut], headers)
        assert await read(body) == DATA and body.checksums == {"CRC32": value}


async def test_overlong_chunk_header_rejected() -> None:
    """A chunk-header line over 4 KiB is refused without buffering more."""
    encoded = b"10;" + b"x" * 5000 + b"\r\n"
    _, raised = await _consume_until_error(
        open_body(encoded, chunked_headers(UNSIGNED_TRAILER, 16))
    )
    assert isinstance(raised, IncompleteBody)


# --------------------------------------------------------------------------- plain bodies


async def test_sha256_mismatch_raised_before_end_of_stream() -> None:
    """All bytes pass through, then XAmzContentSHA256Mismatch replaces StopAsyncIteration."""
    headers = {
        "x-amz-content-sha256": hashlib.sha256(b"other").hexdigest(),
        "content-length": str(len(DATA)),
    }
    body = open_body(DATA, headers, piece=10_000)
    received, raised = await _consume_until_error(body)
    assert isinstance(raised, XAmzContentSHA256Mismatch)
    assert received <= len(DATA)
    assert raised.details["S3ComputedContentSHA256"] == hashlib.sha256(DATA).hexdigest()


async def test_sha256_match() -> None:
    """A correct hex x-amz-content-sha256 passes."""
    headers = {"x-amz-content-sha256": hashlib.sha256(DATA).hexdigest()}
    assert await read(open_body(DATA, headers)) == DATA


@pytest.mark.parametrize("algorithm", ALGORITHMS)
async def test_header_checksums(algorithm: str) -> None:
    """x-amz-checksum-* headers are verified and reported (boto3 over http sends crc32)."""
    name = f"x-amz-checksum-{algorithm.lower()}"
    good = {name: checksum_of(algorithm, DATA), "x-amz-content-sha256": "UNSIGNED-PAYLOAD"}
    body = open_body(DATA, good)
    assert await read(body) == DATA
    assert body.checksums == {algorithm: good[name]}
    bad = {name: checksum_of(algorithm, b"x")}
    _, raised = await _consume_until_error(open_body(DATA, bad))
    assert isinstance(raised, BadDigest)


async def test_sdk_checksum_algorithm_is_computed() -> None:
    """x-amz-sdk-checksum-algorithm alone asks for the checksum to be computed."""
    body = open_body(DATA, {"x-amz-sdk-checksum-algorithm": "crc64nvme"})
    await read(body)
    assert body.checksums == {"CRC64NVME": checksum_of("CRC64NVME", DATA)}


@pytest.mark.parametrize(
    ("headers", "error"),
    [
        ({"x-amz-checksum-crc32": "!!"}, InvalidRequest),
        ({"x-amz-checksum-md7": "AAAA"}, InvalidRequest),
        ({"x-amz-sdk-checksum-algorithm": "md5"}, InvalidRequest),
        ({"content-md5": "nope"}, InvalidDigest),
        ({"x-amz-trailer": "x-amz-checksum-crc32"}, InvalidRequest),
    ],
)
def test_malformed_headers_rejected_before_reading(
    headers: dict[str, str], error: type[S3Error]
) -> None:
    """Malformed checksum headers fail when the body is opened, before any byte is read."""
    with pytest.raises(error):
        open_body(DATA, headers)


async def test_content_md5() -> None:
    """Content-MD5 is verified: BadDigest when it does not match."""
    good = base64.b64encode(hashlib.md5(DATA).digest()).decode()
    assert await read(open_body(DATA, {"content-md5": good})) == DATA
    bad = base64.b64encode(hashlib.md5(b"x").digest()).decode()
    _, raised = await _consume_until_error(open_body(DATA, {"content-md5": bad}))
    assert isinstance(raised, BadDigest)


async def test_content_length_mismatch() -> None:
    """A plain body shorter than its Content-Length is IncompleteBody."""
    _, raised = await _consume_until_error(open_body(DATA[:-1], {"content-length": str(len(DATA))}))
    assert isinstance(raised, IncompleteBody)


async def test_max_length() -> None:
    """A body over max_length is EntityTooLarge, declared or discovered while streaming."""
    with pytest.raises(EntityTooLarge):
        open_body(DATA, {"content-length": str(len(DATA))}, max_length=1000)
    _, raised = await _consume_until_error(open_body(DATA, {}, max_length=1000))
    assert isinstance(raised, EntityTooLarge)


async def test_plain_body_passes_pieces_through() -> None:
    """Large reads of a plain body are handed on as they are (no copy, no split)."""
    pieces = split_every(DATA, 65536)
    out = [piece async for piece in open_body(pieces, {})]
    assert [len(piece) for piece in out] == [len(piece) for piece in pieces]
    assert all(a is b for a, b in zip(out, pieces, strict=True))


async def test_empty_bodies() -> None:
    """An empty plain body and an empty aws-chunked body both decode to nothing."""
    empty_sha = hashlib.sha256(b"").hexdigest()
    assert await read(open_body([], {"x-amz-content-sha256": empty_sha})) == b""
    body = open_body(aws_chunked(b""), chunked_headers(UNSIGNED_TRAILER, 0))
    assert await read(body) == b""
    _, raised = await _consume_until_error(open_body([], chunked_headers(UNSIGNED_TRAILER, 0)))
    assert isinstance(raised, IncompleteBody)


# --------------------------------------------------------------------------- memory, fuzz


async def test_memory_stays_flat_for_64_mib_signed_body() -> None:
    """64 MiB of signed aws-chunked data streams through in bounded memory."""
    size, chunk = 64 * 1024 * 1024, 64 * 1024
    signing = context("4" * 64)
    block = bytes(range(256)) * (chunk // 256)

    trailer = {"x-amz-checksum-crc32c": _crc32c_of_repeated(block, size // chunk)}

    def source() -> Iterator[bytes]:
        blocks = (block for _ in range(size // chunk))
        encoded = aws_chunked_pieces(blocks, signing, trailer)
        pending = b""
        for piece in encoded:  # regroup into ~64 KiB reads, as a server would
            pending += piece
            while len(pending) >= 65536:
                yield pending[:65536]
                pending = pending[65536:]
        if pending:
            yield pending

    headers = chunked_headers(SIGNED_TRAILER, size, **{"x-amz-trailer": "x-amz-checksum-crc32c"})
    tracemalloc.start()
    try:
        body = open_body(source(), headers, signing=signing)
        total = 0
        async for piece in body:
            total += len(piece)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == size and "CRC32C" in body.checksums
    assert peak < 2 * 1024 * 1024, f"peak traced memory {peak} bytes"


def _crc32c_of_repeated(block: bytes, count: int) -> str:
    from awscrt.checksums import crc32c

    crc = 0
    for _ in range(count):
        crc = crc32c(block, crc)
    return base64.b64encode(crc.to_bytes(4, "big")).decode()


_FUZZ_HEADERS = [
    chunked_headers(SIGNED, 10),
    chunked_headers(SIGNED_TRAILER, 10, **{"x-amz-trailer": "x-amz-checksum-crc32"}),
    chunked_headers(UNSIGNED_TRAILER, 10, **{"x-amz-trailer": "x-amz-checksum-sha256"}),
    {"content-encoding": "aws-chunked"},
    {"x-amz-content-sha256": hashlib.sha256(b"").hexdigest(), "content-length": "3"},
]
_fuzz_token = st.sampled_from(
    [b"0", b"a", b"10", b";chunk-signature=", b"\r\n", b"\n", b":", b"x-amz-checksum-crc32:",
     b"x-amz-trailer-signature:", b"AAAAAA==", b"f" * 17, b" ", b"\x00", b"\xff"]
)  # fmt: skip
_fuzz_body = st.lists(st.one_of(_fuzz_token, st.binary(max_size=40)), max_size=30).map(b"".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=_fuzz_body,
    headers=st.sampled_from(_FUZZ_HEADERS),
    signed=st.booleans(),
    piece=st.integers(1, 64),
)
async def test_fuzzed_bodies_raise_only_s3_errors(
    data: bytes, headers: dict[str, str], signed: bool, piece: int
) -> None:
    """Random bytes never raise anything but an S3Error (or decode)."""
    signing = context("5" * 64) if signed and "content-encoding" in headers else None
    with contextlib.suppress(S3Error):
        await read(open_body(data, headers, signing=signing, piece=piece))
