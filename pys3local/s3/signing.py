"""AWS signature arithmetic: canonical forms, strings to sign, keys and HMACs.

This module owns the *formulas* of Signature Version 4 (canonical request, string to
sign, signing key, aws-chunked chunk and trailer signatures) and Version 2 (string to
sign, canonicalized resource), plus the wire-text, URI-encoding and date helpers they
need. It makes no decision: :mod:`pys3local.s3.auth` decides which scheme applies and
what is an error, :mod:`pys3local.s3.body` checks chunk signatures with
:class:`ChunkSigningContext`.

Where clients disagree on a canonical form, the functions return *candidates*, most
likely first (the path as sent, then its AWS re-encoding; "+" as a literal, then as a
space). Trying two or three HMACs costs microseconds and spares users mysterious 403s.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from urllib.parse import quote_from_bytes, unquote_to_bytes

V4_ALGORITHM = "AWS4-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
#: Values of ``x-amz-content-sha256`` that are not a hex digest.
PAYLOAD_MARKERS = frozenset(
    {UNSIGNED_PAYLOAD, STREAMING_SIGNED, STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER}
)

#: Query parameters that belong to a SigV2 canonical resource: the union of the AWS
#: list, botocore's ``HmacV1Auth.QSAOfInterest`` and s3cmd's ``SUBRESOURCES_TO_INCLUDE``
#: (no client signs a parameter outside it, so the union never hurts).
V2_SUBRESOURCES = frozenset(
    {
        "accelerate", "acl", "analytics", "cors", "defaultObjectAcl", "delete", "inventory",
        "lifecycle", "location", "logging", "metrics", "notification", "object-lock",
        "partNumber", "policy", "replication", "requestPayment", "response-cache-control",
        "response-content-disposition", "response-content-encoding",
        "response-content-language", "response-content-type", "response-expires", "restore",
        "select", "select-type", "storageClass", "tagging", "torrent", "uploadId", "uploads",
        "versionId", "versioning", "versions", "website",
    }
)  # fmt: skip

# --------------------------------------------------------------------------- wire text


def wire_bytes(text: str) -> bytes:
    """The bytes behind a header, path or query string.

    The protocol layer hands over wire bytes decoded as latin-1, so encoding back gives
    the exact bytes; text that is not latin-1 (tests, other callers) is taken as UTF-8.
    """
    if text.isascii():
        return text.encode("ascii")
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def wire_text(text: str) -> str:
    """Wire bytes read as UTF-8, the way the client saw them when it signed.

    Undecodable bytes become surrogate escapes, which :func:`utf8` turns back into the
    same bytes, so a client that signed raw non-UTF-8 bytes still matches.
    """
    if text.isascii():
        return text
    return wire_bytes(text).decode("utf-8", "surrogateescape")


def utf8(text: str) -> bytes:
    """UTF-8 bytes of text that may carry surrogate escapes (never raises)."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def is_sha256_hex(value: str) -> bool:
    """True for a 64-digit hex SHA-256 (an ``x-amz-content-sha256`` digest)."""
    return len(value) == 64 and value.isascii() and not value.strip("0123456789abcdefABCDEF")


def signatures_equal(expected: str, provided: str) -> bool:
    """Constant-time comparison of two signatures or keys (any text, never raises)."""
    return hmac.compare_digest(utf8(expected), utf8(provided))


def safe_detail(text: str, limit: int = 65536) -> str:
    """Client-supplied text made safe for an XML error element (valid UTF-8, no controls)."""
    text = utf8(text[:limit]).decode("utf-8", "replace")
    return "".join(c if c >= " " or c in "\n\t" else "?" for c in text)


# --------------------------------------------------------------------------- encoding


def uri_encode(raw: bytes, *, keep_slash: bool) -> str:
    """AWS UriEncode: escape every byte except ``A-Za-z0-9-._~`` (and "/" if kept)."""
    return quote_from_bytes(raw, safe="/" if keep_slash else "")


def parse_query(raw_query: str) -> list[tuple[str, str | None]]:
    """Split a raw query into (key, value) pairs, still percent-encoded.

    Repeated keys are kept in order; a parameter without "=" has value None.
    """
    pairs: list[tuple[str, str | None]] = []
    for part in raw_query.split("&"):
        if part:
            key, sep, value = part.partition("=")
            pairs.append((key, value if sep else None))
    return pairs


def decode_component(raw: str, *, plus_is_space: bool = False) -> bytes:
    """Percent-decode one path or query component to bytes."""
    if plus_is_space:
        raw = raw.replace("+", " ")
    return unquote_to_bytes(wire_bytes(raw))


def decode_text(raw: str) -> str:
    """Percent-decode one component to text (undecodable bytes kept as escapes)."""
    if "%" not in raw and raw.isascii():
        return raw
    return decode_component(raw).decode("utf-8", "surrogateescape")


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


# --------------------------------------------------------------------------- SigV4


def hmac_sha256(key: bytes, message: str) -> bytes:
    """HMAC-SHA256 of a string: the one primitive every V4 signature uses."""
    return hmac.digest(key, utf8(message), "sha256")


def v4_signature(key: bytes, string_to_sign: str) -> str:
    """Hex HMAC-SHA256 of a string to sign: a SigV4 signature."""
    return hmac_sha256(key, string_to_sign).hex()


@functools.lru_cache(maxsize=64)
def signing_key(secret_key: str, date: str, region: str, service: str = "s3") -> bytes:
    """The SigV4 signing key for a credential scope ``date/region/service/aws4_request``.

    Cached: it changes once a day, and four HMACs per request are a measurable part
    of a small request's cost.
    """
    key = hmac_sha256(utf8("AWS4" + secret_key), date)
    key = hmac_sha256(key, region)
    key = hmac_sha256(key, service)
    return hmac_sha256(key, "aws4_request")


def canonical_uri_candidates(raw_path: str) -> Iterator[str]:
    """Canonical URIs a client may have signed for a path, most likely first.

    S3 signs the path as sent (no double encoding, no normalisation). Some clients send
    characters raw that they escaped when signing, or lower-case escapes; the AWS
    re-encoding of the decoded path covers them and names the same key. It is only
    computed if the path as sent did not match.
    """
    raw_path = raw_path or "/"
    as_sent = wire_text(raw_path)
    yield as_sent
    reencoded = uri_encode(unquote_to_bytes(wire_bytes(raw_path)), keep_slash=True)
    if reencoded != as_sent:
        yield reencoded


def canonical_query_string(
    pairs: Iterable[tuple[str, str | None]],
    *,
    exclude: frozenset[str] = frozenset(),
    plus_is_space: bool = False,
) -> str:
    """The V4 CanonicalQueryString, shared by header and presigned auth.

    Every key and value is decoded then AWS-URI-encoded (so ``%2f``, ``%2F`` and a raw
    ``~`` canonicalise alike); pairs are sorted by encoded key, then encoded value.
    """

    def encode(component: str) -> str:
        raw = decode_component(component, plus_is_space=plus_is_space)
        return uri_encode(raw, keep_slash=False)

    encoded = sorted(
        (encode(key), encode(value or "")) for key, value in pairs if key not in exclude
    )
    return "&".join(f"{key}={value}" for key, value in encoded)


def canonical_query_candidates(
    raw_query: str, *, exclude: frozenset[str] = frozenset()
) -> list[str]:
    """Canonical query strings to try: "+" as a literal (RFC 3986), then as a space.

    SDKs send a space as ``%20``; a raw "+" is ambiguous (form encoding), so both
    readings are tried.
    """
    if not raw_query:
        return [""]
    pairs = parse_query(raw_query)
    candidates = [canonical_query_string(pairs, exclude=exclude)]
    if "+" in raw_query:
        candidates.append(canonical_query_string(pairs, exclude=exclude, plus_is_space=True))
    return _unique(candidates)


def canonical_headers(headers: Mapping[str, str], signed_headers: str) -> str:
    """CanonicalHeaders for the SignedHeaders list: values trimmed, space runs collapsed.

    A signed header that is absent canonicalises with an empty value: the signature
    then mismatches and the error shows the canonical request.
    """
    lines = []
    for name in signed_headers.split(";"):
        value = wire_text(headers.get(name.lower(), ""))
        lines.append(f"{name.lower()}:{' '.join(value.split())}\n")
    return "".join(lines)


def v4_string_to_sign(amz_date: str, scope: str, canonical_request: str) -> str:
    digest = hashlib.sha256(utf8(canonical_request)).hexdigest()
    return f"{V4_ALGORITHM}\n{amz_date}\n{scope}\n{digest}"


def v4_candidates(
    *,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Mapping[str, str],
    signed_headers: str,
    payload_hash: str,
    amz_date: str,
    scope: str,
    exclude: frozenset[str] = frozenset(),
) -> Iterator[tuple[str, str]]:
    """(canonical request, string to sign) pairs a client may have signed, likeliest first."""
    headers_block = canonical_headers(headers, signed_headers)
    for uri in canonical_uri_candidates(raw_path):
        for query in canonical_query_candidates(raw_query, exclude=exclude):
            canonical_request = (
                f"{method}\n{uri}\n{query}\n{headers_block}\n{signed_headers}\n{payload_hash}"
            )
            yield canonical_request, v4_string_to_sign(amz_date, scope, canonical_request)


@dataclass(frozen=True, slots=True)
class ChunkSigningContext:
    """What the body decoder needs to verify aws-chunked chunk and trailer signatures."""

    amz_date: str
    scope: str
    #: Signature of the request itself; the first chunk signature chains from it.
    seed_signature: str = field(repr=False)
    signing_key: bytes = field(repr=False)

    def chunk_signature(self, previous: str, chunk_sha256_hex: str) -> str:
        """Signature of one aws-chunked chunk (``AWS4-HMAC-SHA256-PAYLOAD``)."""
        string_to_sign = (
            f"AWS4-HMAC-SHA256-PAYLOAD\n{self.amz_date}\n{self.scope}\n{previous}\n"
            f"{EMPTY_SHA256}\n{chunk_sha256_hex}"
        )
        return v4_signature(self.signing_key, string_to_sign)

    def trailer_signature(self, previous: str, trailer_sha256_hex: str) -> str:
        """Signature of the trailing headers (``AWS4-HMAC-SHA256-TRAILER``)."""
        string_to_sign = (
            f"AWS4-HMAC-SHA256-TRAILER\n{self.amz_date}\n{self.scope}\n{previous}\n"
            f"{trailer_sha256_hex}"
        )
        return v4_signature(self.signing_key, string_to_sign)


# --------------------------------------------------------------------------- SigV2


def v2_signature(secret_key: str, string_to_sign: str) -> str:
    """Base64 HMAC-SHA1, the SigV2 signature."""
    digest = hmac.new(utf8(secret_key), utf8(string_to_sign), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def amz_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The ``x-amz-*`` headers for a V2 string to sign: lower-cased, values trimmed."""
    return {
        name.lower(): wire_text(value).strip()
        for name, value in headers.items()
        if name.lower().startswith("x-amz-")
    }


def v2_resource_candidates(
    raw_path: str, raw_query: str, bucket_from_host: str | None
) -> list[str]:
    """SigV2 CanonicalizedResource readings, most likely first.

    Paths: as sent (botocore, s3cmd), re-encoded, decoded (older libraries), prefixed
    with "/bucket" for virtual-host requests. Sub-resources: decoded values (AWS), or
    as sent (s3cmd escapes them; botocore keeps an empty "=").
    """
    prefix = f"/{bucket_from_host}" if bucket_from_host else ""
    paths = [*canonical_uri_candidates(raw_path), decode_text(raw_path or "/")]
    if not prefix:
        # A bucket-level request "/bucket" is signed as "/bucket/" (AWS's rule for the
        # bucket resource; botocore's path-style auth_path).
        paths += [path + "/" for path in paths if path.count("/") == 1 and len(path) > 1]
    as_sent: list[tuple[str, str | None]] = []
    decoded: list[tuple[str, str | None]] = []
    for key, value in parse_query(raw_query):
        name = decode_text(key)
        if name in V2_SUBRESOURCES:
            as_sent.append((name, value))
            decoded.append((name, decode_text(value) if value else None))
    suffixes = _unique([_v2_query(decoded), _v2_query(as_sent)])
    return _unique(prefix + path + suffix for path in _unique(paths) for suffix in suffixes)


def _v2_query(pairs: list[tuple[str, str | None]]) -> str:
    if not pairs:
        return ""
    items = sorted(pairs, key=lambda pair: pair[0])
    return "?" + "&".join(name if value is None else f"{name}={value}" for name, value in items)


def v2_candidates(
    *,
    method: str,
    content_md5: str,
    content_type: str,
    date_lines: list[str],
    amz: Mapping[str, str],
    raw_path: str,
    raw_query: str,
    bucket_from_host: str | None,
) -> Iterator[str]:
    """SigV2 strings to sign a client may have used, likeliest first.

    ``date_lines`` are the candidate values of the Date line (Expires for presigned).
    """
    head = f"{method}\n{content_md5.strip()}\n{content_type.strip()}\n"
    amz_block = "".join(f"{name}:{amz[name]}\n" for name in sorted(amz))
    for date_line in date_lines or [""]:
        for resource in v2_resource_candidates(raw_path, raw_query, bucket_from_host):
            yield f"{head}{date_line}\n{amz_block}{resource}"
