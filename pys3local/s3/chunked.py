"""The aws-chunked content encoding: framing, chunk signatures and trailers.

This module owns decoding ``Content-Encoding: aws-chunked`` bodies as S3 defines them
(``sigv4-streaming.html``, ``sigv4-streaming-trailers.html``)::

    <hex size>[;chunk-signature=<sig>]\r\n<data>\r\n ... 0[;chunk-signature=<sig>]\r\n
    [<trailer name>:<value>\r\n ... [x-amz-trailer-signature:<sig>\r\n]]\r\n

:class:`AwsChunkedDecoder` is sans-IO: it is fed whatever pieces the server reads (a
boundary may fall anywhere, even inside a hex size or a signature) and returns
``memoryview`` slices of the data, so memory stays bounded by one read plus one
header line (4 KiB cap). Each chunk's SHA-256 runs over whole slices in C; only the
framing bytes are examined in Python. :mod:`pys3local.s3.body` wraps it with payload
checks (lengths, checksums).
"""

from __future__ import annotations

import hashlib
import logging

from pys3local.errors import IncompleteBody, InvalidRequest, SignatureDoesNotMatch
from pys3local.s3.signing import EMPTY_SHA256, ChunkSigningContext, signatures_equal

logger = logging.getLogger("pys3local.auth")

#: Longest chunk-header or trailer line accepted (a real one is under 100 bytes).
MAX_LINE = 4096
#: Most trailer lines accepted (S3 sends one checksum plus the trailer signature).
MAX_TRAILER_LINES = 16
_HEX_DIGITS = b"0123456789abcdefABCDEF"
_SIGNATURE_EXTENSION = b"chunk-signature="
_TRAILER_SIGNATURE = "x-amz-trailer-signature"

# Decoder states.
_HEADER, _DATA, _DATA_END, _TRAILER, _DONE = range(5)


class AwsChunkedDecoder:
    """Sans-IO decoder of the aws-chunked content encoding.

    ``feed()`` takes raw body pieces and returns decoded data slices; ``finish()``
    checks the body ended where it should and returns the trailing headers. With a
    signing context every chunk signature (and, with ``signed_trailer``, the trailer
    signature) is verified; without one, signatures are ignored (no-auth mode, or
    ``STREAMING-UNSIGNED-PAYLOAD-TRAILER``).
    """

    def __init__(
        self,
        signing: ChunkSigningContext | None = None,
        *,
        signed_trailer: bool = False,
        trailers_allowed: bool = True,
    ) -> None:
        self._signing = signing
        self._signed_trailer = signing is not None and signed_trailer
        self._trailers_allowed = trailers_allowed
        self._previous_signature = signing.seed_signature if signing else ""
        self._state = _HEADER
        self._line = bytearray()
        self._remaining = 0
        self._chunk_signature = b""
        self._chunk_hash: hashlib._Hash | None = None
        self._crlf_seen = 0
        self._chunks = 0
        self._trailer_lines: list[tuple[str, str]] = []

    # ---------------------------------------------------------------- feeding

    def feed(self, data: bytes) -> list[memoryview]:
        """Consume raw body bytes; return the decoded data slices they complete."""
        out: list[memoryview] = []
        view = memoryview(data)
        pos, end = 0, len(data)
        while pos < end:
            state = self._state
            if state == _DATA:
                take = min(self._remaining, end - pos)
                piece = view[pos : pos + take]
                if self._chunk_hash is not None:
                    self._chunk_hash.update(piece)
                out.append(piece)
                pos += take
                self._remaining -= take
                if self._remaining == 0:
                    self._end_of_chunk_data()
            elif state == _DATA_END:
                pos = self._consume_crlf(data, pos)
            elif state in (_HEADER, _TRAILER):
                pos = self._consume_line(data, view, pos)
            else:  # _DONE: only line endings may follow the trailer section
                if data[pos:].strip(b"\r\n"):
                    raise InvalidRequest("Unexpected data after the end of the aws-chunked body.")
                pos = end
        return out

    def finish(self) -> dict[str, str]:
        """Check the body was complete; return the trailing headers (lower-case names).

        Raises IncompleteBody if the body stopped before the final chunk, and
        SignatureDoesNotMatch for a bad or missing trailer signature.
        """
        if self._state == _TRAILER and self._line:
            # Some SDKs end the last trailer line without CRLF: the body end closes it.
            self._trailer_line(bytes(self._line))
            self._line.clear()
        if self._state not in (_TRAILER, _DONE):
            raise IncompleteBody("The aws-chunked body ended before its final zero-length chunk.")
        if self._state == _TRAILER:
            self._end_of_trailer()
        return {name: value for name, value in self._trailer_lines if name != _TRAILER_SIGNATURE}

    # ---------------------------------------------------------------- framing

    def _consume_line(self, data: bytes, view: memoryview, pos: int) -> int:
        newline = data.find(b"\n", pos)
        stop = len(data) if newline == -1 else newline
        if len(self._line) + (stop - pos) > MAX_LINE:
            raise IncompleteBody("An aws-chunked header or trailer line is too long.")
        self._line += view[pos:stop]
        if newline == -1:
            return len(data)
        line = bytes(self._line)
        self._line.clear()
        if self._state == _HEADER:
            self._chunk_header(line)
        else:
            self._trailer_line(line)
        return newline + 1

    def _consume_crlf(self, data: bytes, pos: int) -> int:
        expected = b"\r\n"[self._crlf_seen :]
        got = data[pos : pos + len(expected)]
        if got != expected[: len(got)]:
            raise IncompleteBody("An aws-chunked chunk is longer than its declared size.")
        self._crlf_seen += len(got)
        if self._crlf_seen == 2:
            self._state = _HEADER
        return pos + len(got)

    def _chunk_header(self, line: bytes) -> None:
        size_field, _, extensions = line.rstrip(b"\r").partition(b";")
        size_field = size_field.strip(b" \t")
        # int(x, 16) would also take "0x1", "1_0", " +1": check the digits first.
        if not size_field or len(size_field) > 16 or size_field.translate(None, _HEX_DIGITS):
            raise IncompleteBody("Malformed aws-chunked chunk header.")
        size = int(size_field, 16)
        self._chunk_signature = _signature_extension(extensions)
        if self._signing is not None and not self._chunk_signature:
            raise SignatureDoesNotMatch("An aws-chunked chunk is missing its chunk-signature.")
        if size == 0:
            self._verify_chunk(EMPTY_SHA256)
            self._state = _TRAILER
            return
        self._remaining = size
        self._chunk_hash = hashlib.sha256() if self._signing is not None else None
        self._state = _DATA

    def _end_of_chunk_data(self) -> None:
        if self._chunk_hash is not None:
            self._verify_chunk(self._chunk_hash.hexdigest())
            self._chunk_hash = None
        self._state = _DATA_END
        self._crlf_seen = 0

    def _verify_chunk(self, chunk_sha256_hex: str) -> None:
        if self._signing is None:
            return
        expected = self._signing.chunk_signature(self._previous_signature, chunk_sha256_hex)
        provided = self._chunk_signature.decode("latin-1").lower()
        if not signatures_equal(expected, provided):
            logger.debug(
                "aws-chunked chunk %d: signature mismatch (chunk sha256 %s, scope %s)",
                self._chunks,
                chunk_sha256_hex,
                self._signing.scope,
            )
            raise SignatureDoesNotMatch(
                "The chunk signature of an aws-chunked chunk does not match."
            )
        self._previous_signature = expected
        self._chunks += 1

    # ---------------------------------------------------------------- trailer

    def _trailer_line(self, line: bytes) -> None:
        line = line.rstrip(b"\r")
        if not line.strip():
            if self._trailer_lines:
                self._end_of_trailer()
                self._state = _DONE
            # An empty line before any trailer: "0\r\n\r\n" closes a body without
            # trailers; the AWS documentation also shows one between the final chunk and
            # the trailer, so it is skipped rather than taken as the end.
            return
        if not self._trailers_allowed:
            raise InvalidRequest("This request declared no trailer, but the body has one.")
        name, sep, value = line.partition(b":")
        if not sep or not name.strip() or not line.isascii():
            raise InvalidRequest("Malformed trailing header in the aws-chunked body.")
        if len(self._trailer_lines) >= MAX_TRAILER_LINES:
            raise InvalidRequest("Too many trailing headers in the aws-chunked body.")
        key = name.strip().decode("ascii").lower()
        if any(key == existing for existing, _ in self._trailer_lines):
            raise InvalidRequest(f"The trailing header {key} appears twice.")
        self._trailer_lines.append((key, value.strip().decode("ascii")))

    def _end_of_trailer(self) -> None:
        if not self._signed_trailer:
            return
        assert self._signing is not None
        provided = dict(self._trailer_lines).get(_TRAILER_SIGNATURE)
        if provided is None:
            raise SignatureDoesNotMatch("The aws-chunked trailer is missing its signature.")
        # The signed form of the trailer: each header as "name:value\n", in body order.
        canonical = "".join(
            f"{name}:{value}\n" for name, value in self._trailer_lines if name != _TRAILER_SIGNATURE
        )
        expected = self._signing.trailer_signature(
            self._previous_signature, hashlib.sha256(canonical.encode("ascii")).hexdigest()
        )
        if not signatures_equal(expected, provided.lower()):
            logger.debug("aws-chunked trailer signature mismatch; signed form %r", canonical)
            raise SignatureDoesNotMatch("The aws-chunked trailer signature does not match.")
        self._signed_trailer = False  # verified once, even if finish() runs later


def _signature_extension(extensions: bytes) -> bytes:
    for extension in extensions.split(b";"):
        extension = extension.strip()
        if extension.startswith(_SIGNATURE_EXTENSION):
            return extension[len(_SIGNATURE_EXTENSION) :]
    return b""
