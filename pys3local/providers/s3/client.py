"""HTTP to the upstream S3 endpoint: SigV4 signing, timeouts, retries, error mapping.

Object GETs and HEADs go over a lean connection pool of their own (:mod:`.download`:
the gateway relays GET bodies, and httpx's per-read work dominated that; a HEAD cost
httpx about a millisecond of CPU); every other call uses httpx.

Why httpx with our own signer rather than aiobotocore: httpx is already a
dependency, is asyncio-native, sends a request body from an async iterator with a
declared Content-Length (no buffering) and hands a response body out in chunks
(``aiter_raw``, so a stored ``Content-Encoding: gzip`` body is passed through as
stored, not decoded). aiobotocore would add botocore's whole dependency tree to the
server, buffers a streaming request body it wants to checksum, and its retry layer
replays bodies it cannot replay from a client's stream. The signing primitives
(signing key, URI encoding) are the ones :mod:`pys3local.s3.signing` verifies
client signatures with, so there is one SigV4 implementation in the project.

Bodies are sent with ``x-amz-content-sha256: UNSIGNED-PAYLOAD`` (hashing a stream
before sending it would mean reading it twice); integrity is kept by Content-MD5
where the client gave one and by TLS on the wire.

Retries: only idempotent calls (GET, HEAD, DELETE, a listing, a server-side copy)
are retried, on 429, 5xx and network errors, with exponential backoff and jitter;
a call that carries a client's stream or creates something (an upload id) is never
repeated blindly. When the attempts run out the client gets ``SlowDown`` (429 or
upstream SlowDown), ``ServiceUnavailable`` (503, network, timeout) or
``InternalError`` with the upstream's message; never a hang.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import ssl
import urllib.request
from collections.abc import AsyncIterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import urlsplit

import httpx
from defusedxml import ElementTree

from pys3local import errors
from pys3local.providers import events
from pys3local.s3.signing import signing_key, uri_encode, v4_signature

from .download import DownloadPool, DownloadResponse
from .tuning import tune_for_streaming

log = logging.getLogger("pys3local.upstream")
# httpx logs every request at INFO: one line per upstream call would drown the
# access log. Its warnings still show, and a level set explicitly is left alone.
if logging.getLogger("httpx").level == logging.NOTSET:
    logging.getLogger("httpx").setLevel(logging.WARNING)

UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
#: Bytes per chunk handed out of a download.
CHUNK_SIZE = 1024 * 1024


@dataclass(frozen=True)
class Connection:
    """How to reach and sign for the upstream endpoint."""

    endpoint: str
    region: str
    access_key_id: str
    secret_access_key: str
    #: ``path`` (``host/bucket/key``) or ``virtual`` (``bucket.host/key``).
    addressing_style: str = "path"
    verify_tls: bool = True
    ca_bundle: str | None = None
    connect_timeout: float = 10.0
    #: Longest wait for the next bytes of an answer (or for the upstream to take
    #: the next bytes of a body).
    io_timeout: float = 120.0
    attempts: int = 4
    backoff: float = 0.2


class UpstreamError(Exception):
    """An upstream answer that is an error, with the S3 code and message it gave."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


def _error_classes() -> dict[str, type[errors.S3Error]]:
    found: dict[str, type[errors.S3Error]] = {}
    stack = [errors.S3Error]
    while stack:
        cls = stack.pop()
        for sub in cls.__subclasses__():
            found.setdefault(sub.code, sub)
            stack.append(sub)
    return found


_BY_CODE = _error_classes()
#: Upstream codes that say the gateway's own credentials or clock are wrong: the
#: client is not at fault, so they must not reach it as its own auth error.
_GATEWAY_FAULTS = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "RequestTimeTooSkewed",
    "AuthorizationHeaderMalformed",
    "InvalidToken",
    "ExpiredToken",
}


def s3_error(failure: UpstreamError) -> errors.S3Error:
    """The S3 error a client of the gateway gets for an upstream failure."""
    message = f"upstream: {failure.message}" if failure.message else None
    if failure.code in _GATEWAY_FAULTS:
        return errors.InternalError(f"The upstream refused the gateway's credentials: {message}")
    if failure.status == 429 or failure.code == "SlowDown":
        return errors.SlowDown(message)
    if failure.status == 503 or failure.code == "ServiceUnavailable":
        return errors.ServiceUnavailable(message)
    cls = _BY_CODE.get(failure.code)
    if cls is not None and cls is not errors.NotModified:
        return cls(message)
    if failure.status >= 500:
        return errors.InternalError(message)
    return errors.InvalidRequest(message)


def _parse_error(status: int, body: bytes) -> UpstreamError:
    code, message = "", ""
    if body:
        try:
            root = ElementTree.fromstring(body)
            for child in root:
                tag = child.tag.rsplit("}", 1)[-1]
                if tag == "Code":
                    code = child.text or ""
                elif tag == "Message":
                    message = child.text or ""
        except Exception:  # not XML: keep the start of it as the message
            message = body[:200].decode("utf-8", "replace")
    if not code:
        code = {
            400: "InvalidRequest",
            403: "AccessDenied",
            404: "NotFound",
            409: "Conflict",
            412: "PreconditionFailed",
            416: "InvalidRange",
            429: "SlowDown",
            503: "ServiceUnavailable",
        }.get(status, "InternalError")
    return UpstreamError(status, code, message)


class UpstreamClient:
    """Signed requests to one S3 endpoint over one pooled httpx client."""

    def __init__(self, connection: Connection) -> None:
        tune_for_streaming()
        self.connection = connection
        parts = urlsplit(connection.endpoint.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"not an http(s) endpoint URL: {connection.endpoint!r}")
        self._scheme = parts.scheme
        self._host = parts.netloc
        self._base_path = parts.path.rstrip("/")
        verify: bool | ssl.SSLContext = connection.verify_tls
        if connection.verify_tls and connection.ca_bundle:
            verify = ssl.create_default_context(cafile=connection.ca_bundle)
        # One TLS context (httpx's choice of trusted CAs) for both connection pools.
        context = httpx.create_ssl_context(verify=verify)
        timeout = httpx.Timeout(
            connection.io_timeout, connect=connection.connect_timeout, pool=connection.io_timeout
        )
        # Object GETs take the lean pool (download.py); with a proxy configured in
        # the environment (which httpx honours) every call stays with httpx.
        self._downloads: DownloadPool | None = None
        if not urllib.request.getproxies():
            self._downloads = DownloadPool(
                context, connection.connect_timeout, connection.io_timeout
            )
        self._http = httpx.AsyncClient(
            verify=context,
            timeout=timeout,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        if self._downloads is not None:
            self._downloads.close()
        await self._http.aclose()

    # ------------------------------------------------------------------ building

    def _target(self, bucket: str | None, key: str | None) -> tuple[str, str]:
        """Host and encoded path for a bucket/key in the configured addressing style."""
        encoded_key = ""
        if key is not None:
            # "." and ".." segments would be collapsed by URL normalisation on the
            # way; escaped they reach the upstream as the key's own characters.
            segments = uri_encode(key.encode("utf-8"), keep_slash=True).split("/")
            encoded_key = "/".join(
                s.replace(".", "%2E") if s in (".", "..") else s for s in segments
            )
        if bucket is None:
            return self._host, self._base_path + "/"
        if self.connection.addressing_style == "virtual":
            return f"{bucket}.{self._host}", f"{self._base_path}/{encoded_key}"
        path = f"{self._base_path}/{bucket}"
        return self._host, path + ("/" + encoded_key if key is not None else "")

    def _sign(
        self,
        method: str,
        host: str,
        path: str,
        query: str,
        headers: dict[str, str],
        payload_hash: str,
    ) -> None:
        now = datetime.now(timezone.utc)
        amz_date = now.strftime("%Y%m%dT%H%M%SZ")
        date = amz_date[:8]
        headers["host"] = host
        headers["x-amz-date"] = amz_date
        headers["x-amz-content-sha256"] = payload_hash
        names = sorted(headers)
        canonical_headers = "".join(f"{n}:{' '.join(headers[n].split())}\n" for n in names)
        signed = ";".join(names)
        canonical = f"{method}\n{path}\n{query}\n{canonical_headers}\n{signed}\n{payload_hash}"
        scope = f"{date}/{self.connection.region}/s3/aws4_request"
        to_sign = (
            f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n"
            # Hashed as the wire bytes: header values are latin-1 text (see _prepare),
            # everything else is ASCII once encoded.
            f"{hashlib.sha256(canonical.encode('latin-1')).hexdigest()}"
        )
        key = signing_key(self.connection.secret_access_key, date, self.connection.region)
        headers["authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={self.connection.access_key_id}/{scope}, "
            f"SignedHeaders={signed}, Signature={v4_signature(key, to_sign)}"
        )

    def _prepare(
        self,
        method: str,
        bucket: str | None,
        key: str | None,
        query: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
        content: bytes | AsyncIterable[bytes] | None,
    ) -> tuple[str, list[tuple[bytes, bytes]]]:
        """The URL and the signed headers (Host among them) as wire bytes."""
        host, path = self._target(bucket, key)
        pairs = sorted(
            (uri_encode(k.encode(), keep_slash=False), uri_encode(v.encode(), keep_slash=False))
            for k, v in (query or {}).items()
        )
        query_string = "&".join(f"{k}={v}" for k, v in pairs)
        signed = {k.lower(): v for k, v in (headers or {}).items()}
        if isinstance(content, bytes):
            payload_hash = hashlib.sha256(content).hexdigest()
            signed["content-length"] = str(len(content))
        elif content is None:
            payload_hash = EMPTY_SHA256
        else:
            payload_hash = UNSIGNED_PAYLOAD
        self._sign(method, host, path, query_string, signed, payload_hash)
        url = f"{self._scheme}://{host}{path}" + (f"?{query_string}" if query_string else "")
        # Header values are latin-1 text (one character per wire byte, as the
        # protocol layer keeps x-amz-meta-* values): sent back as those bytes.
        return url, [(k.encode("latin-1"), v.encode("latin-1")) for k, v in signed.items()]

    # ------------------------------------------------------------------ sending

    async def request(
        self,
        method: str,
        bucket: str | None = None,
        key: str | None = None,
        *,
        query: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | AsyncIterable[bytes] | None = None,
        idempotent: bool = True,
        stream: bool = False,
        ok: tuple[int, ...] = (200, 204, 206),
    ) -> httpx.Response:
        """Send a signed request; return the response (still open when ``stream``; a
        HEAD's or a streamed GET's is a :class:`DownloadResponse`, which has
        ``status_code``, ``headers``, ``aiter_raw`` and ``aclose``, not ``content``).

        Raises :class:`UpstreamError` for an answer outside ``ok`` that retrying did
        not fix, and an S3 error (``ServiceUnavailable``) when the upstream cannot
        be reached. A streamed body (``content`` an async iterable) is never
        repeated.
        """
        replayable = idempotent and not (content is not None and not isinstance(content, bytes))
        attempts = self.connection.attempts if replayable else 1
        # Streamed GETs (object bodies) and HEADs take the lean pool; a GET read
        # whole (a listing) stays with httpx, whose answer keeps ``content``.
        lean = (
            self._downloads is not None
            and content is None
            and (method == "HEAD" or (method == "GET" and stream))
        )
        for attempt in range(1, attempts + 1):
            try:
                response: httpx.Response | DownloadResponse
                url, wire = self._prepare(method, bucket, key, query, headers, content)
                if lean:
                    assert self._downloads is not None
                    response = await self._downloads.send(method, url, wire)
                else:
                    request = self._http.build_request(
                        method, httpx.URL(url), headers=wire, content=content
                    )
                    response = await self._http.send(request, stream=True)
            except httpx.TransportError as exc:
                if "CERTIFICATE_VERIFY_FAILED" in str(exc):
                    # Trying again cannot help: the certificate is not trusted.
                    events.failed("s3", "tls")
                    raise errors.ServiceUnavailable(
                        "The upstream's TLS certificate was not accepted "
                        "(a CA bundle, or skip_tls_verify, may be needed)."
                    ) from exc
                if attempt < attempts:
                    events.retried("s3", "network")
                    await self._pause(attempt, None)
                    continue
                events.failed("s3", "unavailable")
                log.info("upstream %s %s/%s failed: %r", method, bucket, key, exc)
                raise errors.ServiceUnavailable(
                    f"The upstream storage could not be reached ({type(exc).__name__})."
                ) from exc
            if response.status_code in ok:
                if not stream:
                    await self._read(response)
                return response  # type: ignore[return-value]
            body = await self._read(response)
            failure = _parse_error(response.status_code, body)
            retry = response.status_code == 429 or response.status_code >= 500
            reason = "429" if response.status_code == 429 else "5xx"
            if retry and attempt < attempts:
                events.retried("s3", reason)
                log.info("upstream %s answered %s; retrying", method, failure)
                await self._pause(attempt, response.headers.get("retry-after"))
                continue
            if retry:
                events.failed("s3", reason)
            raise failure
        raise AssertionError("unreachable")

    async def _read(self, response: httpx.Response | DownloadResponse) -> bytes:
        try:
            return await response.aread()
        except httpx.TransportError as exc:
            raise errors.ServiceUnavailable(
                f"The upstream storage broke off its answer ({type(exc).__name__})."
            ) from exc
        finally:
            await response.aclose()

    async def _pause(self, attempt: int, retry_after: str | None) -> None:
        delay = self.connection.backoff * (2 ** (attempt - 1))
        if retry_after and retry_after.strip().isdigit():
            delay = max(delay, min(float(retry_after), 5.0))
        await asyncio.sleep(delay * (0.5 + random.random()))
