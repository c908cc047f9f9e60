"""Parsing the parts of a request that carry its authentication: the credential
scope, the V4 Authorization header, the request date, presigned query parameters.

Every failure is an :class:`~pys3local.errors.S3Error` with AWS's wording; the
policy that uses these (which key, which checks in which order) is :mod:`.auth`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from pys3local.errors import (
    AccessDenied,
    AuthorizationHeaderMalformed,
    AuthorizationQueryParametersError,
    InvalidArgument,
    S3Error,
)
from pys3local.s3.dates import format_amz_date, parse_amz_date, parse_request_date
from pys3local.s3.signing import (
    PAYLOAD_MARKERS,
    V4_ALGORITHM,
    decode_text,
    is_sha256_hex,
    parse_query,
    safe_detail,
)

#: Longest validity S3 allows for a presigned V4 URL (7 days).
MAX_PRESIGNED_EXPIRES = 604800
HEADER_PREFIX = "The authorization header is malformed; "
QUERY_PREFIX = "Error parsing the X-Amz-Credential parameter; "


@dataclass(frozen=True, slots=True)
class Credential:
    access_key: str
    date: str
    region: str
    service: str
    terminator: str

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/{self.terminator}"


def parse_credential(value: str, error: type[S3Error], prefix: str) -> Credential:
    parts = value.strip().split("/")
    # Access keys never contain "/": anything but five non-empty parts is malformed.
    if len(parts) != 5 or not all(parts):
        raise error(
            f"{prefix}the Credential is mal-formed; expecting "
            '"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".'
        )
    return Credential(*parts)


def parse_v4_authorization(value: str) -> tuple[Credential, str, str]:
    """Split ``AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...``."""
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != V4_ALGORITHM:
        # SigV4a (AWS4-ECDSA-P256-SHA256) needs asymmetric keys we do not have.
        raise AuthorizationHeaderMalformed(
            f"{HEADER_PREFIX}the authorization mechanism "
            f"'{safe_detail(algorithm, 40)}' is not supported; use {V4_ALGORITHM}."
        )
    fields: dict[str, str] = {}
    for component in rest.split(","):
        name, sep, field_value = component.strip().partition("=")
        if not sep or name in fields:
            raise AuthorizationHeaderMalformed(
                f"{HEADER_PREFIX}each component must be Name=Value and appear once."
            )
        fields[name] = field_value.strip()
    missing = [n for n in ("Credential", "SignedHeaders", "Signature") if n not in fields]
    if missing:
        raise AuthorizationHeaderMalformed(f"{HEADER_PREFIX}missing {', '.join(missing)}.")
    credential = parse_credential(fields["Credential"], AuthorizationHeaderMalformed, HEADER_PREFIX)
    return credential, fields["SignedHeaders"], fields["Signature"]


def v4_request_date(headers: Mapping[str, str]) -> tuple[str, datetime]:
    """The request time as the string to sign carries it, and as a datetime."""
    raw = headers.get("x-amz-date")
    # SigV4 allows a Date header instead of x-amz-date; the string to sign carries the
    # ISO 8601 basic form either way.
    moment = parse_amz_date(raw) if raw is not None else parse_request_date(headers.get("date", ""))
    if moment is None:
        raise AccessDenied("AWS authentication requires a valid Date or x-amz-date header")
    if raw is not None:
        return raw.strip(), moment  # already the basic form; formatting it again is costly
    return format_amz_date(moment), moment


def lists_host(signed_headers: str) -> bool:
    names = signed_headers.split(";")
    return all(names) and "host" in (name.lower() for name in names)


def check_payload_hash(value: str) -> None:
    if value in PAYLOAD_MARKERS or is_sha256_hex(value):
        return
    raise InvalidArgument(
        "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, "
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or "
        "a valid sha256 value.",
        ArgumentName="x-amz-content-sha256",
    )


def parse_expires(raw: str) -> int:
    text = raw.strip()
    digits = text.removeprefix("-")
    if not digits.isdigit() or not digits.isascii() or len(digits) > 12:
        raise AuthorizationQueryParametersError("X-Amz-Expires should be a number")
    expires = int(text)
    if expires < 0:
        raise AuthorizationQueryParametersError("X-Amz-Expires must be non-negative")
    if expires > MAX_PRESIGNED_EXPIRES:
        raise AuthorizationQueryParametersError(
            "X-Amz-Expires must be less than a week (in seconds) that is 604800"
        )
    return expires


def single_params(raw_query: str, names: tuple[str, ...]) -> dict[str, str]:
    """Decoded values of the auth parameters; each may appear at most once."""
    found: dict[str, str] = {}
    for key, value in parse_query(raw_query):
        name = decode_text(key)
        if name in names:
            if name in found:
                raise AuthorizationQueryParametersError(f"{name} must appear only once.")
            found[name] = decode_text(value or "")
    return found
