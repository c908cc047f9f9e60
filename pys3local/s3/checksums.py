"""The S3 additional checksum algorithms and their wire form.

This module owns the five algorithms S3 accepts in ``x-amz-checksum-*`` headers and
aws-chunked trailers (CRC32, CRC32C, CRC64NVME, SHA1, SHA256), incremental hashing
over streamed pieces, and the base64 value S3 uses on the wire: the big-endian bytes
of the CRC, or the raw digest of the SHA. It knows no HTTP beyond the header names.

The CRCs come from ``awscrt.checksums`` (hardware accelerated, the same code the AWS
SDKs use), the SHAs from :mod:`hashlib`; both accept ``memoryview`` slices, so the
body decoder never copies data just to hash it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable
from typing import Protocol

from awscrt import checksums as _crt

from pys3local.errors import BadDigest, InvalidRequest

#: Algorithm names as S3 spells them (``x-amz-sdk-checksum-algorithm``, XML, dict keys).
ALGORITHMS: tuple[str, ...] = ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256")

#: Header (and trailer) name prefix; the suffix is the lower-cased algorithm.
HEADER_PREFIX = "x-amz-checksum-"

_CRC_FUNCTIONS: dict[str, tuple[Callable[[bytes, int], int], int]] = {
    # name -> (awscrt function, width in bytes)
    "CRC32": (_crt.crc32, 4),
    "CRC32C": (_crt.crc32c, 4),
    "CRC64NVME": (_crt.crc64nvme, 8),
}
_SHA_FUNCTIONS: dict[str, Callable[[], hashlib._Hash]] = {
    "SHA1": hashlib.sha1,
    "SHA256": hashlib.sha256,
}
_DIGEST_SIZES = {"CRC32": 4, "CRC32C": 4, "CRC64NVME": 8, "SHA1": 20, "SHA256": 32}


class Checksum(Protocol):
    """An incremental checksum: feed pieces with :meth:`update`, read :meth:`digest`."""

    algorithm: str

    def update(self, data: bytes | memoryview) -> None: ...

    def digest(self) -> bytes: ...


class _Crc:
    __slots__ = ("_crc", "_function", "_width", "algorithm")

    def __init__(self, algorithm: str) -> None:
        self.algorithm = algorithm
        self._function, self._width = _CRC_FUNCTIONS[algorithm]
        self._crc = 0

    def update(self, data: bytes | memoryview) -> None:
        self._crc = self._function(data, self._crc)

    def digest(self) -> bytes:
        return self._crc.to_bytes(self._width, "big")


class _Sha:
    __slots__ = ("_hash", "algorithm")

    def __init__(self, algorithm: str) -> None:
        self.algorithm = algorithm
        self._hash = _SHA_FUNCTIONS[algorithm]()

    def update(self, data: bytes | memoryview) -> None:
        self._hash.update(data)

    def digest(self) -> bytes:
        return self._hash.digest()


def normalize_algorithm(name: str, *, source: str = "x-amz-sdk-checksum-algorithm") -> str:
    """Return the canonical algorithm name for ``name`` (any case).

    Raises InvalidRequest naming ``source`` if S3 does not know the algorithm.
    """
    algorithm = name.strip().upper()
    if algorithm not in _DIGEST_SIZES:
        raise InvalidRequest(f"Value for {source} header is invalid.")
    return algorithm


def new_checksum(algorithm: str) -> Checksum:
    """Create an incremental checksum for a canonical algorithm name."""
    if algorithm in _CRC_FUNCTIONS:
        return _Crc(algorithm)
    if algorithm in _SHA_FUNCTIONS:
        return _Sha(algorithm)
    raise InvalidRequest(f"Checksum algorithm {algorithm!r} is not supported.")


def header_name(algorithm: str) -> str:
    """``CRC32`` -> ``x-amz-checksum-crc32``."""
    return HEADER_PREFIX + algorithm.lower()


def algorithm_for_header(name: str) -> str | None:
    """``x-amz-checksum-crc32`` -> ``CRC32``; None for headers outside the family.

    ``x-amz-checksum-type`` and ``x-amz-checksum-mode`` share the prefix but are not
    checksums; they map to None too. An unknown ``x-amz-checksum-<alg>`` raises
    InvalidRequest, as S3 does.
    """
    lowered = name.lower()
    if not lowered.startswith(HEADER_PREFIX):
        return None
    suffix = lowered[len(HEADER_PREFIX) :]
    if suffix in ("type", "mode", "algorithm"):
        return None
    return normalize_algorithm(suffix, source=lowered)


def decode_value(algorithm: str, value: str, *, source: str | None = None) -> bytes:
    """Decode a base64 checksum value, checking it has the algorithm's digest size.

    Raises InvalidRequest for malformed base64 or a wrong length.
    """
    name = source or header_name(algorithm)
    try:
        raw = base64.b64decode(value.strip().encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise InvalidRequest(f"Value for {name} header is invalid.") from None
    if len(raw) != _DIGEST_SIZES[algorithm]:
        raise InvalidRequest(f"Value for {name} header is invalid.")
    return raw


def encode_value(digest: bytes) -> str:
    """The base64 form S3 uses for a checksum digest."""
    return base64.b64encode(digest).decode("ascii")


def verify(checksum: Checksum, expected: bytes) -> str:
    """Compare a finished checksum with the client's value; return the base64 value.

    Raises BadDigest on a mismatch, with AWS's wording.
    """
    actual = checksum.digest()
    # Not secret material, but compare_digest costs nothing and keeps one habit.
    if not hmac.compare_digest(actual, expected):
        raise BadDigest(
            f"The {checksum.algorithm} you specified did not match the calculated checksum."
        )
    return encode_value(actual)


def checksum_of(algorithm: str, data: bytes) -> str:
    """The base64 checksum of a whole byte string (tests, small documents)."""
    checksum = new_checksum(algorithm)
    checksum.update(data)
    return encode_value(checksum.digest())
