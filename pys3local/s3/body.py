"""Streaming request bodies: aws-chunked decoding and payload verification.

This module owns turning the raw HTTP body into verified object bytes:

* aws-chunked framing, chosen by a ``STREAMING-*`` ``x-amz-content-sha256`` (as AWS
  does; ``Content-Encoding: aws-chunked`` alone does not make a body aws-chunked),
  with chunk signatures chained from the seed signature, the final zero-length chunk
  and the trailing headers (signed or not);
* ``x-amz-content-sha256`` hex digests, ``Content-MD5``, ``x-amz-checksum-*`` headers
  and trailers, ``x-amz-decoded-content-length`` / ``Content-Length``.

Every verification error is raised from ``__anext__`` before the final
``StopAsyncIteration``, so a consumer that commits data only once the stream is
exhausted never commits a bad body (predecessor.md section 4: bodies were stored
unverified, and trailers were stored as content).

The aws-chunked framing itself is decoded by :mod:`pys3local.s3.chunked`. Memory is
bounded whatever the body size: data passes through (plain bodies without a copy),
and small pieces are only gathered up to :data:`MIN_PIECE` before being handed on.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import AsyncIterator, Mapping

from pys3local.errors import (
    BadDigest,
    EntityTooLarge,
    IncompleteBody,
    InvalidArgument,
    InvalidDigest,
    InvalidRequest,
    S3Error,
    XAmzContentSHA256Mismatch,
)
from pys3local.s3 import checksums
from pys3local.s3.auth import AuthResult
from pys3local.s3.chunked import AwsChunkedDecoder
from pys3local.s3.signing import STREAMING_SIGNED_TRAILER, is_sha256_hex, signatures_equal

#: Decoded data is handed out in pieces of at least this size (or at end of body).
MIN_PIECE = 32 * 1024


# --------------------------------------------------------------------------- RequestBody


class RequestBody:
    """Async iterator of the decoded payload bytes.

    Verification errors (XAmzContentSHA256Mismatch, SignatureDoesNotMatch for a bad
    chunk signature, BadDigest / InvalidRequest for checksums, IncompleteBody,
    EntityTooLarge) are raised from ``__anext__`` before the final StopAsyncIteration;
    once raised, every later call raises the same error.

    After successful exhaustion, :attr:`checksums` holds ``{"CRC32": "<base64>", ...}``
    for every checksum the client sent (header or trailer) or asked for
    (``x-amz-sdk-checksum-algorithm``), verified, and :attr:`decoded_length` is the
    number of payload bytes.
    """

    def __init__(
        self,
        chunks: AsyncIterator[bytes],
        *,
        decoder: AwsChunkedDecoder | None,
        expected_sha256: str | None,
        expected_length: int | None,
        expected_raw_length: int | None,
        content_md5: bytes | None,
        verify_content_md5: bool = True,
        header_checksums: dict[str, bytes],
        computed: list[str],
        trailer_algorithms: list[str],
        max_length: int | None,
    ) -> None:
        self.checksums: dict[str, str] = {}
        self.decoded_length = 0
        self._source = chunks.__aiter__()
        self._decoder = decoder
        self._raw_length = 0
        self._raw_sha256 = hashlib.sha256() if expected_sha256 else None
        self._expected_sha256 = expected_sha256
        self.expected_length = expected_length
        self._expected_raw_length = expected_raw_length
        #: The client's Content-MD5 digest, parsed (None without the header).
        self.content_md5 = content_md5
        verify = content_md5 is not None and verify_content_md5
        self._md5 = hashlib.md5() if verify else None
        self._expected: dict[str, list[bytes]] = {a: [v] for a, v in header_checksums.items()}
        self._hashers = {algorithm: checksums.new_checksum(algorithm) for algorithm in computed}
        self._hasher_list = list(self._hashers.values())
        self._trailer_algorithms = trailer_algorithms
        self._max_length = max_length
        self._pending: list[bytes | memoryview] = []
        self._pending_size = 0
        self._finished = False
        self._error: S3Error | None = None

    def __aiter__(self) -> RequestBody:
        return self

    async def __anext__(self) -> bytes:
        if self._error is not None:
            raise self._error
        if self._finished:
            raise StopAsyncIteration
        try:
            return await self._next_piece()
        except S3Error as error:
            self._error = error
            raise

    async def _next_piece(self) -> bytes:
        while True:
            try:
                raw = await self._source.__anext__()
            except StopAsyncIteration:
                self._finish()
                self._finished = True
                if self._pending:
                    return self._take_pending()
                raise
            if not raw:
                continue
            if type(raw) is not bytes:
                raw = bytes(raw)
            self._raw_length += len(raw)
            if self._raw_sha256 is not None:
                self._raw_sha256.update(raw)
            pieces = self._decoder.feed(raw) if self._decoder is not None else [raw]
            for piece in pieces:
                self._account(piece)
            if self._pending_size >= MIN_PIECE:
                return self._take_pending()

    def _account(self, piece: bytes | memoryview) -> None:
        size = len(piece)
        if not size:
            return
        self.decoded_length += size
        if self._max_length is not None and self.decoded_length > self._max_length:
            raise EntityTooLarge(MaxSizeAllowed=str(self._max_length))
        if self.expected_length is not None and self.decoded_length > self.expected_length:
            raise IncompleteBody(
                "The body is longer than its declared length.",
                DeclaredLength=str(self.expected_length),
            )
        for hasher in self._hasher_list:
            hasher.update(piece)
        if self._md5 is not None:
            self._md5.update(piece)
        self._pending.append(piece)
        self._pending_size += size

    def _take_pending(self) -> bytes:
        pending, self._pending, self._pending_size = self._pending, [], 0
        if len(pending) == 1 and type(pending[0]) is bytes:
            return pending[0]
        return b"".join(pending)

    # ---------------------------------------------------------------- end of body

    def _finish(self) -> None:
        trailers = self._decoder.finish() if self._decoder is not None else {}
        self._check_lengths()
        self._check_sha256()
        self._check_md5()
        self._collect_trailer_checksums(trailers)
        for algorithm, hasher in self._hashers.items():
            for expected in self._expected.get(algorithm, []):
                checksums.verify(hasher, expected)
            self.checksums[algorithm] = checksums.encode_value(hasher.digest())

    def _check_lengths(self) -> None:
        if self.expected_length is not None and self.decoded_length != self.expected_length:
            raise IncompleteBody(
                DeclaredLength=str(self.expected_length), ReceivedLength=str(self.decoded_length)
            )
        raw_expected = self._expected_raw_length
        if raw_expected is not None and self._raw_length != raw_expected:
            raise IncompleteBody(
                DeclaredLength=str(raw_expected), ReceivedLength=str(self._raw_length)
            )

    def _check_sha256(self) -> None:
        if self._raw_sha256 is None or self._expected_sha256 is None:
            return
        computed = self._raw_sha256.hexdigest()
        if not signatures_equal(computed, self._expected_sha256):
            raise XAmzContentSHA256Mismatch(
                ClientComputedContentSHA256=self._expected_sha256,
                S3ComputedContentSHA256=computed,
            )

    def _check_md5(self) -> None:
        if self._md5 is None:
            return
        if self._md5.digest() != self.content_md5:
            raise BadDigest("The Content-MD5 you specified did not match what we received.")

    def _collect_trailer_checksums(self, trailers: dict[str, str]) -> None:
        for name, value in trailers.items():
            algorithm = checksums.algorithm_for_header(name)
            if algorithm is None:
                continue
            if algorithm not in self._hashers:
                raise InvalidRequest(f"The trailer {name} was not declared in x-amz-trailer.")
            self._expected.setdefault(algorithm, []).append(
                checksums.decode_value(algorithm, value, source=name)
            )
        for algorithm in self._trailer_algorithms:
            if checksums.header_name(algorithm) not in trailers:
                raise InvalidRequest(
                    f"The trailing header {checksums.header_name(algorithm)} declared in "
                    "x-amz-trailer is missing from the body."
                )


# --------------------------------------------------------------------------- factory


def open_request_body(
    auth: AuthResult,
    headers: Mapping[str, str],
    chunks: AsyncIterator[bytes],
    *,
    max_length: int | None = None,
    check_content_md5: bool = True,
) -> RequestBody:
    """Wrap the raw HTTP body in a decoding, verifying :class:`RequestBody`.

    Args:
        auth: What :meth:`RequestAuthenticator.authenticate` returned for the request.
        headers: Request headers, lower-case names.
        chunks: The raw body as the server reads it (e.g. Starlette ``request.stream()``).
        max_length: Largest payload accepted; more raises EntityTooLarge while streaming.
        check_content_md5: False when the consumer verifies ``Content-MD5`` itself (a
            provider hashes an object with MD5 anyway, for its ETag), so that the
            body is not hashed twice. A malformed value is rejected either way, and
            the parsed digest is :attr:`RequestBody.content_md5` for the consumer.

    Malformed headers (an unknown checksum algorithm, a bad checksum or Content-MD5
    value, a non-numeric length) raise InvalidRequest / InvalidDigest /
    InvalidArgument here, before any byte is read; a declared length above
    ``max_length`` raises EntityTooLarge here too.
    """
    content_sha256 = auth.content_sha256 or headers.get("x-amz-content-sha256") or ""
    # The payload hash decides, as on AWS: Content-Encoding may name aws-chunked over a
    # plain body (a client that sets it by hand); stored_content_encoding drops it.
    chunked = content_sha256.startswith("STREAMING-")
    header_checksums, computed, trailer_algorithms = _checksum_plan(headers, chunked)
    if chunked:
        decoder: AwsChunkedDecoder | None = AwsChunkedDecoder(
            auth.chunk_signing,
            signed_trailer=content_sha256 == STREAMING_SIGNED_TRAILER,
            trailers_allowed=content_sha256.endswith("-TRAILER") or "x-amz-trailer" in headers,
        )
        expected_length = _length(headers, "x-amz-decoded-content-length")
    else:
        decoder = None
        expected_length = _length(headers, "content-length")
    if max_length is not None and expected_length is not None and expected_length > max_length:
        raise EntityTooLarge(ProposedSize=str(expected_length), MaxSizeAllowed=str(max_length))
    is_digest = is_sha256_hex(content_sha256)
    content_md5 = parse_content_md5(headers.get("content-md5"))
    return RequestBody(
        chunks,
        decoder=decoder,
        # A hex digest covers the bytes as sent (for aws-chunked: the encoded body).
        expected_sha256=content_sha256.lower() if is_digest else None,
        expected_length=expected_length,
        expected_raw_length=_length(headers, "content-length") if chunked else None,
        content_md5=content_md5,
        verify_content_md5=check_content_md5,
        header_checksums=header_checksums,
        computed=computed,
        trailer_algorithms=trailer_algorithms,
        max_length=max_length,
    )


def stored_content_encoding(headers: Mapping[str, str]) -> str | None:
    """The Content-Encoding to store with the object: ``aws-chunked`` removed.

    aws-chunked describes the transfer only; S3 drops it and keeps the rest (e.g. gzip).
    """
    value = headers.get("content-encoding")
    if value is None:
        return None
    kept = [t.strip() for t in value.split(",") if t.strip() and t.strip().lower() != "aws-chunked"]
    return ", ".join(kept) or None


def _checksum_plan(
    headers: Mapping[str, str], chunked: bool
) -> tuple[dict[str, bytes], list[str], list[str]]:
    """Which checksums to compute, which header values to verify, which trailers to expect."""
    header_checksums: dict[str, bytes] = {}
    computed: list[str] = []
    for name, value in headers.items():
        algorithm = checksums.algorithm_for_header(name)
        if algorithm is not None:
            header_checksums[algorithm] = checksums.decode_value(algorithm, value, source=name)
            computed.append(algorithm)
    requested = headers.get("x-amz-sdk-checksum-algorithm")
    if requested:
        computed.append(checksums.normalize_algorithm(requested))
    trailer_algorithms: list[str] = []
    declared = headers.get("x-amz-trailer")
    if declared:
        if not chunked:
            raise InvalidRequest("x-amz-trailer requires an aws-chunked body.")
        for name in declared.split(","):
            algorithm = checksums.algorithm_for_header(name.strip())
            if algorithm is not None:
                trailer_algorithms.append(algorithm)
                computed.append(algorithm)
    return header_checksums, list(dict.fromkeys(computed)), trailer_algorithms


def _length(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    value = value.strip()
    if not value.isdigit() or not value.isascii() or len(value) > 19:
        raise InvalidArgument(f"{name} must be a non-negative integer.", ArgumentName=name)
    return int(value)


def parse_content_md5(value: str | None) -> bytes | None:
    """The 16-byte digest of a ``Content-MD5`` header; InvalidDigest if malformed."""
    if value is None:
        return None
    try:
        digest = base64.b64decode(value.strip().encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise InvalidDigest() from None
    if len(digest) != 16:
        raise InvalidDigest()
    return digest
