"""Parsing an HTTP request into S3 terms, exactly once.

The bucket, key and query are decoded here and nowhere else; every later check and
every provider call uses these decoded values (validating one decoding and using
another is a classic source of traversal bugs in S3 servers).
"""

from __future__ import annotations

import itertools
import re
import secrets
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote_to_bytes

from pys3local.errors import InvalidArgument, InvalidBucketName, KeyTooLongError
from pys3local.providers.base import MAX_KEY_BYTES

from .authorization import UNRESTRICTED, Permit
from .http import HttpRequest
from .operations import Operation, Unrouted
from .routes import resolve_operation

# S3's rules for new buckets: 3-63 characters of a-z, 0-9, '.', '-'; alphanumeric at
# both ends; no '..'; not an IP address.
_NEW_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_IP_ADDRESS = re.compile(r"\d+\.\d+\.\d+\.\d+")
# Names of buckets that may already exist (older, laxer rules), still safe as a
# directory or folder name.
_EXISTING_BUCKET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,254}")
# XML 1.0 cannot carry these characters, so a key holding one could never be listed.
_UNLISTABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


_REQUEST_ID_PREFIX = secrets.token_hex(4).upper()
_request_numbers = itertools.count(1)


def new_request_id() -> str:
    """A request id unique across processes and restarts: a random per-process prefix
    and a counter (cheaper than a fresh random id for every request)."""
    return f"{_REQUEST_ID_PREFIX}{next(_request_numbers):08X}"


def validate_new_bucket_name(name: str) -> None:
    if (
        not _NEW_BUCKET_NAME.fullmatch(name)
        or ".." in name
        or _IP_ADDRESS.fullmatch(name)
        or ".-" in name
        or "-." in name
    ):
        raise InvalidBucketName(BucketName=name)


def is_usable_bucket_name(name: str) -> bool:
    return bool(_EXISTING_BUCKET_NAME.fullmatch(name))


def validate_key(key: str) -> None:
    if (len(key) if key.isascii() else len(key.encode("utf-8"))) > MAX_KEY_BYTES:
        raise KeyTooLongError(Size=str(len(key.encode("utf-8"))), MaxSizeAllowed="1024")
    if _UNLISTABLE.search(key):
        raise InvalidArgument("Object key contains a control character that S3 cannot list.")


def decode_component(raw: str) -> str:
    """Percent-decode one URL component as strict UTF-8 (``+`` stays ``+``)."""
    if "%" not in raw and raw.isascii():
        return raw
    try:
        return unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidArgument("The request URI is not valid UTF-8.") from None


@dataclass(slots=True)
class S3Request:
    """One request in S3 terms."""

    http: HttpRequest
    method: str
    raw_path: str
    raw_query: str
    bucket: str | None
    key: str | None
    query: dict[str, str]
    operation: Operation | Unrouted
    bucket_from_host: bool = False
    request_id: str = field(default_factory=lambda: new_request_id())
    #: What the signing key may do; set by the server once the request is authorized.
    permit: Permit = UNRESTRICTED

    @property
    def resource(self) -> str:
        if self.bucket is None:
            return "/"
        return f"/{self.bucket}" + (f"/{self.key}" if self.key is not None else "")

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.http.headers.get(name, default)


def bucket_from_host(host: str, domains: tuple[str, ...]) -> str | None:
    """The bucket of a virtual-hosted-style request (``bucket.s3.example.com``)."""
    hostname = host.rsplit(":", 1)[0].lower() if not host.startswith("[") else ""
    for domain in domains:
        suffix = "." + domain
        if hostname.endswith(suffix) and len(hostname) > len(suffix):
            return hostname[: -len(suffix)]
    return None


def parse_request(
    http: HttpRequest, virtual_host_domains: tuple[str, ...], request_id: str | None = None
) -> S3Request:
    scope = http.scope
    raw_path = scope.get("raw_path", scope["path"].encode()).decode("latin-1")
    raw_path = raw_path.split("?", 1)[0]
    raw_query = scope.get("query_string", b"").decode("latin-1")
    method = scope["method"].upper()
    query: dict[str, str] = {}
    for name, value in parse_qsl(raw_query, keep_blank_values=True):
        query.setdefault(name, value)

    host_bucket = bucket_from_host(http.headers.get("host", ""), virtual_host_domains)
    if host_bucket is not None:
        bucket: str | None = host_bucket
        path_key = raw_path[1:] if raw_path.startswith("/") else raw_path
        key = decode_component(path_key) if path_key else None
    else:
        # Only the one leading slash is the separator: "/b//k" is key "/k" and
        # "/b/dir/" is key "dir/" (rclone and S3 consoles use such folder markers).
        path = raw_path[1:] if raw_path.startswith("/") else raw_path
        if not path:
            bucket, key = None, None
        else:
            raw_bucket, slash, raw_key = path.partition("/")
            bucket = decode_component(raw_bucket)
            key = decode_component(raw_key) if slash and raw_key else None
    if key is not None:
        validate_key(key)
    operation = resolve_operation(method, bucket, key, query, http.headers)
    return S3Request(
        http=http,
        method=method,
        raw_path=raw_path,
        raw_query=raw_query,
        bucket=bucket,
        key=key,
        query=query,
        operation=operation,
        bucket_from_host=host_bucket is not None,
        request_id=request_id or new_request_id(),
    )
