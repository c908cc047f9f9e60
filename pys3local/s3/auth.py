"""Request authentication: who sent a request, and is its signature right.

This module owns the *policy* of S3 authentication: detecting the scheme (SigV4 or
SigV2, Authorization header or presigned URL, or none), the credential scope, clock
skew, presigned expiry, the key that signed, and the exact S3 error for every
failure. The signature arithmetic lives in :mod:`pys3local.s3.signing`, the parsing
of the credential, the Authorization header and the presigned parameters in
:mod:`.auth_parsing`. The result, an :class:`AuthResult`, tells
:mod:`pys3local.s3.body` how to verify the payload (the declared
``x-amz-content-sha256`` and, for ``STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]``,
the chunk-signing context). No body is read here.

Fixes for predecessor.md section 4: the path is canonicalised as sent, repeated query
keys are kept, header values are whitespace-collapsed, presigned signed headers carry
their values, the date, region, service and skew are checked, and every failure is an
:class:`~pys3local.errors.S3Error` (the parsers are fuzzed; garbage never escapes as
ValueError/KeyError/IndexError). Signatures are compared with
:func:`hmac.compare_digest`. The secret and full signatures are never logged; on a
mismatch the canonical request and string to sign go to DEBUG on ``pys3local.auth``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import partial

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
from pys3local.s3.auth_parsing import (
    HEADER_PREFIX,
    QUERY_PREFIX,
    Credential,
    check_payload_hash,
    lists_host,
    parse_credential,
    parse_expires,
    parse_v4_authorization,
    single_params,
    v4_request_date,
)
from pys3local.s3.dates import (
    format_server_time,
    parse_amz_date,
    parse_request_date,
)
from pys3local.s3.rights import ALL_RIGHTS, AccessKey, Keyring
from pys3local.s3.signing import (
    STREAMING_SIGNED,
    STREAMING_SIGNED_TRAILER,
    UNSIGNED_PAYLOAD,
    V4_ALGORITHM,
    ChunkSigningContext,
    amz_headers,
    decode_text,
    parse_query,
    safe_detail,
    signatures_equal,
    signing_key,
    v2_candidates,
    v2_signature,
    v4_candidates,
    v4_signature,
    wire_text,
)

__all__ = ["AuthResult", "ChunkSigningContext", "RequestAuthenticator", "SignedRequest"]

logger = logging.getLogger("pys3local.auth")

_PRESIGNED_V4_PARAMS = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Signature",
    "X-Amz-Date",
    "X-Amz-SignedHeaders",
    "X-Amz-Expires",
)
_PRESIGNED_V2_PARAMS = ("AWSAccessKeyId", "Signature", "Expires")


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """The parts of an HTTP request a signature covers, exactly as they came off the wire."""

    method: str
    #: Path as sent, percent-encoded, without the query (ASGI ``raw_path`` as latin-1).
    raw_path: str
    #: Query string as sent (ASGI ``query_string`` as latin-1); may be "".
    raw_query: str
    #: Lower-case names; repeated headers joined with ",".
    headers: Mapping[str, str]
    #: Bucket named by a virtual-host style Host header. SigV2 puts it in the canonical
    #: resource; SigV4 signs the Host header instead and ignores this.
    bucket_from_host: str | None = None


@dataclass(frozen=True, slots=True)
class AuthResult:
    """Who sent the request and how its payload must be verified."""

    #: "anonymous" (no-auth mode), "sigv2", "sigv2-presigned", "sigv4", "sigv4-presigned".
    scheme: str
    access_key: str | None
    #: Declared ``x-amz-content-sha256``: a hex digest, ``UNSIGNED-PAYLOAD`` or a
    #: ``STREAMING-*`` marker; None when the client declared none.
    content_sha256: str | None = None
    #: Set for signed streaming bodies when signatures are checked (never in no-auth).
    chunk_signing: ChunkSigningContext | None = None
    #: The key whose secret verified the signature; None in no-auth mode.
    key: AccessKey | None = None


#: The name under which the ``serve --access-key-id`` pair appears in the access log.
SERVE_KEY_NAME = "serve"
#: Compared against when an access key id is unknown, so that a known and an unknown
#: id take the same steps (see :meth:`RequestAuthenticator._check_access_key`).
_NO_SUCH_KEY = "\x00" * 20


class RequestAuthenticator:
    """Verifies request signatures against a set of access keys.

    Args:
        access_key: The access key of ``serve`` (every right on every bucket).
        secret_key: Its secret; never logged.
        region: The region clients must sign V4 requests for ("" accepts any).
        no_auth: Accept every request as "anonymous" (bodies are still decoded).
        max_skew_seconds: Allowed clock difference (S3 allows 15 minutes).
        clock: Current time in epoch seconds; injectable for tests.
        keys: Further keys (the keys file); :meth:`set_keys` replaces them while the
            server runs.
    """

    def __init__(
        self,
        access_key: str,
        secret_key: str,
        region: str,
        *,
        no_auth: bool = False,
        max_skew_seconds: int = 900,
        clock: Callable[[], float] = time.time,
        keys: Iterable[AccessKey] = (),
    ) -> None:
        self._access_key = access_key
        self._serve_key = AccessKey(SERVE_KEY_NAME, access_key, secret_key, ("*",), ALL_RIGHTS)
        self.keyring = Keyring([self._serve_key])
        self.set_keys(keys)
        self._region = region
        self._no_auth = no_auth
        self._max_skew = max_skew_seconds
        self._clock = clock

    def __repr__(self) -> str:
        return f"RequestAuthenticator(access_key={self._access_key!r}, region={self._region!r})"

    def set_keys(self, keys: Iterable[AccessKey]) -> None:
        """Replace the keys besides ``serve``'s own (which always wins its id).

        One attribute assignment: a request being authenticated sees the old or the
        new set, and a key disabled or removed is refused from the next request on.
        """
        self.keyring = Keyring([self._serve_key, *keys])

    def authenticate(self, request: SignedRequest) -> AuthResult:
        """Detect the scheme and verify the request's signature.

        Returns the AuthResult to hand to :func:`pys3local.s3.body.open_request_body`.
        Raises AccessDenied (no credentials, expired URL), InvalidAccessKeyId,
        SignatureDoesNotMatch, AuthorizationHeaderMalformed,
        AuthorizationQueryParametersError, RequestTimeTooSkewed, InvalidArgument or
        InvalidRequest, never anything else.
        """
        if self._no_auth:
            logger.debug("auth scheme: anonymous (no-auth mode)")
            content_sha256 = request.headers.get("x-amz-content-sha256")
            return AuthResult("anonymous", None, content_sha256=content_sha256)
        authorization = request.headers.get("authorization")
        query_names = {decode_text(key) for key, _ in parse_query(request.raw_query)}
        presigned_v4 = not query_names.isdisjoint(("X-Amz-Algorithm", "X-Amz-Signature"))
        presigned_v2 = not query_names.isdisjoint(("Signature", "AWSAccessKeyId"))
        if authorization is not None and (presigned_v4 or presigned_v2):
            raise InvalidArgument(
                "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
                "Signature query string parameter or the Authorization header should be "
                "specified",
                ArgumentName="Authorization",
            )
        if authorization is not None:
            scheme = authorization.strip().partition(" ")[0]
            if scheme.startswith("AWS4-"):
                return self._verify_v4_header(request, authorization)
            if scheme == "AWS":
                return self._verify_v2_header(request, authorization)
            raise InvalidArgument("Unsupported Authorization Type", ArgumentName="Authorization")
        if presigned_v4:
            return self._verify_v4_presigned(request)
        if presigned_v2:
            return self._verify_v2_presigned(request)
        logger.debug("auth scheme: none; anonymous access denied")
        raise AccessDenied("Access Denied")

    # ---------------------------------------------------------------- shared checks

    def _check_access_key(self, access_key: str) -> AccessKey:
        """The key with this id, or InvalidAccessKeyId.

        A dict look-up (its cost does not depend on the number of keys nor on how much
        of the id matches a stored one: ids are found by hash, and only a full hash
        match compares the strings), then the same constant-time comparison whether or
        not a key was found: no step is skipped for an unknown id.
        """
        key = self.keyring.get(access_key)
        expected = key.access_key_id if key is not None else _NO_SUCH_KEY
        if not signatures_equal(expected, access_key) or key is None:
            raise InvalidAccessKeyId(AWSAccessKeyId=safe_detail(access_key))
        return key

    def _check_skew(self, moment: datetime, raw: str) -> None:
        now = self._clock()
        if abs(moment.timestamp() - now) > self._max_skew:
            raise RequestTimeTooSkewed(
                RequestTime=safe_detail(raw),
                ServerTime=format_server_time(now),
                MaxAllowedSkewMilliseconds=str(self._max_skew * 1000),
            )

    def _check_scope(
        self, credential: Credential, amz_date: str, request: SignedRequest, presigned: bool
    ) -> None:
        error: type[S3Error]
        if presigned:
            error, prefix = AuthorizationQueryParametersError, QUERY_PREFIX
        else:
            error, prefix = AuthorizationHeaderMalformed, HEADER_PREFIX
        if credential.date != amz_date[:8]:
            raise error(f"{prefix}Invalid credential date. Date is not the same as X-Amz-Date.")
        if credential.region != self._region and not self._region_exempt(credential, request):
            # AWS's wording; botocore's S3RegionRedirector reads <Region> and re-signs.
            raise error(
                f"{prefix}the region '{safe_detail(credential.region, 64)}' is wrong; "
                f"expecting '{self._region}'",
                Region=self._region,
            )
        if credential.service != "s3":
            raise error(
                f'{prefix}incorrect service "{safe_detail(credential.service, 64)}". '
                'This endpoint belongs to "s3".'
            )
        if credential.terminator != "aws4_request":
            raise error(
                f'{prefix}incorrect terminal "{safe_detail(credential.terminator, 64)}". '
                'This endpoint uses "aws4_request".'
            )

    def _region_exempt(self, credential: Credential, request: SignedRequest) -> bool:
        if not self._region:
            return True
        # minio-go (restic) always signs GetBucketLocation for us-east-1: it calls it to
        # learn the region. AWS answers it whatever the bucket's region; so do we.
        return (
            credential.region == "us-east-1"
            and request.method == "GET"
            and any(decode_text(key) == "location" for key, _ in parse_query(request.raw_query))
        )

    def _match(
        self,
        candidates: Iterator[tuple[str, str]],
        sign: Callable[[str], str],
        provided: str,
        access_key: str,
    ) -> None:
        """Accept if any candidate (canonical request, string to sign) yields ``provided``."""
        first: tuple[str, str] | None = None
        for canonical_request, string_to_sign in candidates:
            if signatures_equal(sign(string_to_sign), provided):
                return
            first = first or (canonical_request, string_to_sign)
        canonical_request, string_to_sign = first or ("", "")
        logger.debug(
            "signature mismatch for access key %s\nCanonicalRequest:\n%s\nStringToSign:\n%s",
            safe_detail(access_key, 128),
            canonical_request or "(SigV2 has none)",
            string_to_sign,
        )
        details = {"AWSAccessKeyId": safe_detail(access_key), "StringToSign": string_to_sign}
        if canonical_request:
            details["CanonicalRequest"] = canonical_request
        raise SignatureDoesNotMatch(**{k: safe_detail(v) for k, v in details.items()})

    # ---------------------------------------------------------------- SigV4

    def _verify_v4_header(self, request: SignedRequest, authorization: str) -> AuthResult:
        logger.debug("auth scheme: sigv4 (Authorization header)")
        credential, signed_headers, signature = parse_v4_authorization(authorization)
        amz_date, moment = v4_request_date(request.headers)
        self._check_scope(credential, amz_date, request, presigned=False)
        key = self._check_access_key(credential.access_key)
        if not lists_host(signed_headers):
            raise AuthorizationHeaderMalformed(f"{HEADER_PREFIX}SignedHeaders must include host.")
        payload_hash = request.headers.get("x-amz-content-sha256")
        if payload_hash is None:
            raise InvalidRequest("Missing required header for this request: x-amz-content-sha256")
        check_payload_hash(payload_hash)
        self._check_skew(moment, amz_date)
        return self._match_v4(
            request, key, credential, amz_date, signed_headers, payload_hash, signature, "sigv4"
        )

    def _verify_v4_presigned(self, request: SignedRequest) -> AuthResult:
        logger.debug("auth scheme: sigv4-presigned")
        params = single_params(request.raw_query, (*_PRESIGNED_V4_PARAMS, "X-Amz-Security-Token"))
        if any(name not in params for name in _PRESIGNED_V4_PARAMS):
            raise AuthorizationQueryParametersError(
                "Query-string authentication version 4 requires the X-Amz-Algorithm, "
                "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and "
                "X-Amz-Expires parameters."
            )
        if params["X-Amz-Algorithm"] != V4_ALGORITHM:
            raise AuthorizationQueryParametersError(
                f'X-Amz-Algorithm only supports "{V4_ALGORITHM}"'
            )
        credential = parse_credential(
            params["X-Amz-Credential"], AuthorizationQueryParametersError, QUERY_PREFIX
        )
        amz_date = params["X-Amz-Date"]
        moment = parse_amz_date(amz_date)
        if moment is None:
            raise AuthorizationQueryParametersError(
                "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\""
            )
        expires = parse_expires(params["X-Amz-Expires"])
        self._check_scope(credential, amz_date, request, presigned=True)
        key = self._check_access_key(credential.access_key)
        signed_headers = params["X-Amz-SignedHeaders"]
        if not lists_host(signed_headers):
            raise AuthorizationQueryParametersError("X-Amz-SignedHeaders must include host.")
        self._check_presigned_window(moment.timestamp(), expires)
        # A presigned URL cannot know the payload; a client may still declare a hash.
        payload_hash = request.headers.get("x-amz-content-sha256", UNSIGNED_PAYLOAD)
        check_payload_hash(payload_hash)
        return self._match_v4(
            request,
            key,
            credential,
            amz_date,
            signed_headers,
            payload_hash,
            params["X-Amz-Signature"],
            "sigv4-presigned",
        )

    def _match_v4(
        self,
        request: SignedRequest,
        access_key: AccessKey,
        credential: Credential,
        amz_date: str,
        signed_headers: str,
        payload_hash: str,
        signature: str,
        scheme: str,
    ) -> AuthResult:
        """Verify a V4 signature (header or presigned) and build the AuthResult."""
        key = signing_key(access_key.secret, credential.date, credential.region)
        candidates = v4_candidates(
            method=request.method,
            raw_path=request.raw_path,
            raw_query=request.raw_query,
            headers=request.headers,
            signed_headers=signed_headers,
            payload_hash=payload_hash,
            amz_date=amz_date,
            scope=credential.scope,
            # A presigned URL signs its whole query except the signature itself.
            exclude=frozenset({"X-Amz-Signature"}) if scheme == "sigv4-presigned" else frozenset(),
        )
        seed = signature.strip().lower()
        self._match(candidates, partial(v4_signature, key), seed, credential.access_key)
        chunk_signing = None
        if payload_hash in (STREAMING_SIGNED, STREAMING_SIGNED_TRAILER):
            # The request signature seeds the chain of aws-chunked chunk signatures.
            chunk_signing = ChunkSigningContext(amz_date, credential.scope, seed, key)
        return AuthResult(scheme, credential.access_key, payload_hash, chunk_signing, access_key)

    def _check_presigned_window(self, signed_at: float, expires: int) -> None:
        now = self._clock()
        if signed_at - now > self._max_skew:
            raise AccessDenied("Request is not valid yet", ServerTime=format_server_time(now))
        if now > signed_at + expires:
            raise AccessDenied(
                "Request has expired",
                **{"X-Amz-Expires": str(expires)},
                Expires=format_server_time(signed_at + expires),
                ServerTime=format_server_time(now),
            )

    # ---------------------------------------------------------------- SigV2

    def _verify_v2_header(self, request: SignedRequest, authorization: str) -> AuthResult:
        logger.debug("auth scheme: sigv2 (Authorization header)")
        access_key, sep, signature = authorization.strip()[len("AWS ") :].partition(":")
        access_key = access_key.strip()
        if not sep or not access_key or not signature.strip():
            raise InvalidArgument(
                "AWS authorization header is invalid.  Expected AwsAccessKeyId:signature",
                ArgumentName="Authorization",
            )
        key = self._check_access_key(access_key)
        headers = request.headers
        raw_date = headers.get("x-amz-date", headers.get("date"))
        moment = parse_request_date(raw_date) if raw_date is not None else None
        if raw_date is None or moment is None:
            raise AccessDenied("AWS authentication requires a valid Date or x-amz-date header")
        self._check_skew(moment, raw_date)
        # With x-amz-date the Date line is empty (AWS, s3cmd). botocore always puts its
        # Date header there, so with both headers both readings are tried.
        date_lines = [""] if "x-amz-date" in headers else []
        if "date" in headers:
            date_lines.append(wire_text(headers["date"]).strip())
        self._match_v2(request, key, signature, date_lines, amz_headers(headers), headers)
        return AuthResult("sigv2", access_key, headers.get("x-amz-content-sha256"), key=key)

    def _verify_v2_presigned(self, request: SignedRequest) -> AuthResult:
        logger.debug("auth scheme: sigv2-presigned")
        params = single_params(request.raw_query, _PRESIGNED_V2_PARAMS)
        if not all(params.get(name) for name in _PRESIGNED_V2_PARAMS):
            raise AccessDenied(
                "Query-string authentication requires the Signature, Expires and "
                "AWSAccessKeyId parameters"
            )
        access_key, expires = params["AWSAccessKeyId"], params["Expires"].strip()
        signer = self._check_access_key(access_key)
        if not expires.isdigit() or not expires.isascii() or len(expires) > 12:
            raise AccessDenied("Invalid date (should be seconds since epoch)")
        now = self._clock()
        if now > int(expires):
            raise AccessDenied(
                "Request has expired",
                Expires=format_server_time(int(expires)),
                ServerTime=format_server_time(now),
            )
        # botocore's HmacV1QueryAuth moves x-amz-*, Content-Type and Content-MD5 headers
        # into the query; they were signed as headers.
        amz = amz_headers(request.headers)
        signed_values = {k: wire_text(v) for k, v in request.headers.items()}
        for key, value in parse_query(request.raw_query):
            name, text = decode_text(key).lower(), decode_text(value or "")
            if name.startswith("x-amz-"):
                amz.setdefault(name, text.strip())
            elif name in ("content-type", "content-md5"):
                signed_values.setdefault(name, text)
        self._match_v2(request, signer, params["Signature"], [expires], amz, signed_values)
        content_sha256 = request.headers.get("x-amz-content-sha256")
        return AuthResult("sigv2-presigned", access_key, content_sha256, key=signer)

    def _match_v2(
        self,
        request: SignedRequest,
        access_key: AccessKey,
        provided: str,
        date_lines: list[str],
        amz: Mapping[str, str],
        values: Mapping[str, str],
    ) -> None:
        strings = v2_candidates(
            method=request.method,
            content_md5=wire_text(values.get("content-md5", "")),
            content_type=wire_text(values.get("content-type", "")),
            date_lines=date_lines,
            amz=amz,
            raw_path=request.raw_path,
            raw_query=request.raw_query,
            bucket_from_host=request.bucket_from_host,
        )
        candidates = (("", string_to_sign) for string_to_sign in strings)
        sign = partial(v2_signature, access_key.secret)
        self._match(candidates, sign, provided.strip(), access_key.access_key_id)
