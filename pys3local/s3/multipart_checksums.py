"""Additional checksums on multipart uploads, as S3 defines them.

- CreateMultipartUpload names an algorithm (``x-amz-checksum-algorithm``) and what
  the object's checksum covers (``x-amz-checksum-type``): ``COMPOSITE``, a checksum
  of the part checksums written ``<base64>-<parts>`` (SHA1, SHA256, CRC32, CRC32C),
  or ``FULL_OBJECT``, the checksum of the whole body (the CRCs only; CRC64NVME has
  nothing else). Both are echoed, and kept with the upload.
- Each UploadPart of such an upload must carry a checksum of that algorithm (header
  or trailer); the body layer verifies it and the provider keeps it with the part.
- CompleteMultipartUpload checks the part checksums the client names against the
  stored ones, and computes the object's checksum from the parts: the composite one
  by hashing the concatenated part digests, the full-object CRC by combining the
  part CRCs (:func:`crc_combine`), never by reading the object again.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Mapping

from pys3local.errors import BadDigest, InvalidPart, InvalidRequest
from pys3local.providers.base import CompletedPart, MultipartUpload, UploadedPart, VerifiedBody

from . import checksums

COMPOSITE = "COMPOSITE"
FULL_OBJECT = "FULL_OBJECT"
_TYPES = (COMPOSITE, FULL_OBJECT)
#: The CRCs, as reflected polynomials with their width in bits; all three start from
#: all ones and end inverted, as zlib's CRC-32 does, so one combine serves them all.
_CRC_POLYNOMIALS = {
    "CRC32": (0xEDB88320, 32),
    "CRC32C": (0x82F63B78, 32),
    "CRC64NVME": (0x9A6C9329AC4BC9B5, 64),
}


def creation_options(headers: Mapping[str, str]) -> tuple[str | None, str | None]:
    """The (algorithm, checksum type) a CreateMultipartUpload asks for.

    Raises InvalidRequest for an unknown algorithm or type, a type without an
    algorithm, or a combination S3 does not offer.
    """
    raw_algorithm = headers.get("x-amz-checksum-algorithm")
    raw_type = headers.get("x-amz-checksum-type")
    if not raw_algorithm:
        if raw_type:
            raise InvalidRequest(
                "The x-amz-checksum-type header can only be used with the "
                "x-amz-checksum-algorithm header."
            )
        return None, None
    algorithm = checksums.normalize_algorithm(raw_algorithm, source="x-amz-checksum-algorithm")
    if not raw_type:
        return algorithm, FULL_OBJECT if algorithm == "CRC64NVME" else COMPOSITE
    kind = raw_type.strip().upper()
    if kind not in _TYPES:
        raise InvalidRequest("Value for x-amz-checksum-type header is invalid.")
    if kind == FULL_OBJECT and algorithm not in _CRC_POLYNOMIALS:
        raise InvalidRequest(f"The {algorithm} algorithm does not support the FULL_OBJECT type.")
    if kind == COMPOSITE and algorithm == "CRC64NVME":
        raise InvalidRequest("The CRC64NVME algorithm does not support the COMPOSITE type.")
    return algorithm, kind


def creation_headers(upload: MultipartUpload) -> dict[str, str]:
    """The answer headers of CreateMultipartUpload: the options, echoed."""
    metadata = upload.metadata
    if metadata.checksum_algorithm is None:
        return {}
    return {
        "x-amz-checksum-algorithm": metadata.checksum_algorithm,
        "x-amz-checksum-type": metadata.checksum_type or COMPOSITE,
    }


def declared_algorithms(headers: Mapping[str, str]) -> set[str]:
    """The algorithms a request body will be verified (or computed) with: its
    ``x-amz-checksum-*`` headers, ``x-amz-sdk-checksum-algorithm`` and the checksum
    trailers it announces."""
    found = {a for name in headers if (a := checksums.algorithm_for_header(name)) is not None}
    requested = headers.get("x-amz-sdk-checksum-algorithm")
    if requested:
        found.add(checksums.normalize_algorithm(requested))
    for name in (headers.get("x-amz-trailer") or "").split(","):
        if name.strip() and (algorithm := checksums.algorithm_for_header(name.strip())):
            found.add(algorithm)
    return found


def check_part_request(upload: MultipartUpload, headers: Mapping[str, str]) -> None:
    """Before a part's body is read: a part of an upload created with an algorithm
    must carry a checksum of it (S3 refuses the part otherwise)."""
    expected = upload.metadata.checksum_algorithm
    if expected is None:
        return
    declared = declared_algorithms(headers)
    if expected not in declared:
        actual = ", ".join(sorted(declared)).lower() or "null"
        raise InvalidRequest(
            "Checksum Type mismatch occurred, expected checksum Type: "
            f"{expected.lower()}, actual checksum Type: {actual}"
        )


class ComputedBody(VerifiedBody):
    """A part copied from an object (UploadPartCopy), with the checksum of the
    upload's algorithm computed as it streams: S3 gives a copied part the checksum a
    sent part would have carried."""

    def __init__(self, source: AsyncIterable[bytes], algorithm: str | None) -> None:
        self._source = source
        self._checksum = checksums.new_checksum(algorithm) if algorithm else None
        self._done = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        async for chunk in self._source:
            if self._checksum is not None:
                self._checksum.update(chunk)
            yield chunk
        self._done = True

    @property
    def checksums(self) -> dict[str, str]:
        if self._checksum is None or not self._done:
            return {}
        return {self._checksum.algorithm: checksums.encode_value(self._checksum.digest())}


def object_checksums(
    upload: MultipartUpload,
    stored: list[UploadedPart],
    named: list[CompletedPart],
    headers: Mapping[str, str],
) -> dict[str, str]:
    """Check the part checksums a Complete names, and compute the object's checksum.

    ``stored`` are the upload's parts as the provider lists them. A part whose named
    checksum differs from the stored one is InvalidPart. Returns ``{algorithm:
    value}`` for an upload created with an algorithm whose parts all kept a checksum
    of it (composite ``<base64>-N`` or full object), else nothing. A checksum the
    client sends for the whole object (``x-amz-checksum-<alg>`` on the Complete)
    must match it (BadDigest).
    """
    by_number = {part.part_number: part for part in stored}
    chosen: list[UploadedPart] = []
    for wanted in named:
        part = by_number.get(wanted.part_number)
        if part is None or part.etag != wanted.etag:
            return {}  # the provider answers InvalidPart for it
        for algorithm, value in wanted.checksums.items():
            if part.checksums.get(algorithm) not in (None, value) or (
                upload.metadata.checksum_algorithm not in (None, algorithm)
            ):
                raise InvalidPart(PartNumber=str(wanted.part_number), ETag=wanted.etag)
        chosen.append(part)
    algorithm = upload.metadata.checksum_algorithm
    kind = upload.metadata.checksum_type or COMPOSITE
    requested_kind = (headers.get("x-amz-checksum-type") or "").strip().upper()
    if requested_kind and requested_kind != (kind if algorithm else ""):
        raise InvalidRequest(
            f"The upload was created using the {kind if algorithm else 'null'} checksum "
            f"mode. The complete request must use the same checksum mode."
        )
    if algorithm is None or not chosen or any(algorithm not in p.checksums for p in chosen):
        return {}
    digests = [checksums.decode_value(algorithm, p.checksums[algorithm]) for p in chosen]
    if kind == FULL_OBJECT:
        value = checksums.encode_value(_combined_crc(algorithm, digests, [p.size for p in chosen]))
    else:
        value = f"{checksums.checksum_of(algorithm, b''.join(digests))}-{len(chosen)}"
    sent = headers.get(checksums.header_name(algorithm))
    if sent is not None and sent.strip() != value:
        raise BadDigest(f"The {algorithm} you specified did not match the calculated checksum.")
    return {algorithm: value}


def _combined_crc(algorithm: str, digests: list[bytes], sizes: list[int]) -> bytes:
    polynomial, width = _CRC_POLYNOMIALS[algorithm]
    crc = int.from_bytes(digests[0], "big")
    for digest, size in zip(digests[1:], sizes[1:], strict=True):
        crc = crc_combine(crc, int.from_bytes(digest, "big"), size, polynomial, width)
    return crc.to_bytes(width // 8, "big")


def crc_combine(crc1: int, crc2: int, length2: int, polynomial: int, width: int) -> int:
    """The CRC of A+B from the CRC of A, the CRC of B and B's length in bytes (zlib's
    ``crc32_combine``, for any reflected CRC that starts from and ends with all ones).

    Multiplying crc1 by x^(8·length2) modulo the polynomial shifts it past B's bytes.
    """
    top = 1 << (width - 1)

    def multiply(a: int, b: int) -> int:  # a·b modulo the polynomial, reflected
        product, mask = 0, top
        while mask:
            if a & mask:
                product ^= b
            mask >>= 1
            b = (b >> 1) ^ polynomial if b & 1 else b >> 1
        return product

    power, square, exponent = top, top >> 8, length2  # x^0; x^8 (one byte)
    while exponent:
        if exponent & 1:
            power = multiply(square, power)
        square = multiply(square, square)
        exponent >>= 1
    return multiply(power, crc1) ^ crc2
