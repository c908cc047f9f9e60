"""The ``s3`` backend type: buckets and objects on an upstream S3 store (SeaweedFS,
Garage, Ceph RGW, MinIO, AWS, B2, Wasabi, R2), pys3local in front of it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .spec import (
    BackendType,
    Capabilities,
    ConnectionProblem,
    FieldSpec,
    MultipartState,
    ProviderOptions,
)

if TYPE_CHECKING:
    from pys3local.providers.base import StorageProvider
    from pys3local.providers.s3 import S3UpstreamProvider

#: One quick attempt for a connection test, with short timeouts.
_TEST_TIMEOUT = 10.0
_STYLES = ("path", "virtual")


@dataclass(frozen=True)
class S3BackendSettings:
    """An ``s3`` backend.

    Without ``bucket`` each pys3local bucket is an upstream bucket named
    ``<prefix><name>``; with it, every bucket lives in that one upstream bucket
    under the key prefix ``<prefix><name>/``.
    """

    endpoint: str
    access_key_id: str
    secret_access_key: str = field(repr=False)
    region: str = "us-east-1"
    bucket: str | None = None
    prefix: str | None = None
    addressing_style: str = "path"
    skip_tls_verify: bool = False
    ca_bundle: Path | None = None
    conditional_writes: bool = False


def _problem(values: Mapping[str, object], *, readonly: bool = False) -> str | None:
    style = values.get("addressing_style")
    if style is not None and style not in _STYLES:
        return f"addressing_style must be path or virtual (got {style!r})"
    return None


def s3_provider(settings: S3BackendSettings, *, readonly: bool = False, **timeouts: float):  # type: ignore[no-untyped-def]
    """The provider for ``settings`` (``timeouts``: Connection overrides)."""
    from pys3local.providers.s3 import BucketMap, Connection, S3UpstreamProvider

    if settings.addressing_style not in _STYLES:
        raise ValueError(
            f"addressing style must be path or virtual, not {settings.addressing_style}"
        )
    connection = Connection(
        endpoint=settings.endpoint,
        region=settings.region,
        access_key_id=settings.access_key_id,
        secret_access_key=settings.secret_access_key,
        addressing_style=settings.addressing_style,
        verify_tls=not settings.skip_tls_verify,
        ca_bundle=str(settings.ca_bundle) if settings.ca_bundle else None,
        **timeouts,  # type: ignore[arg-type]
    )
    if settings.bucket:
        layout = BucketMap("prefix", bucket=settings.bucket, key_prefix=settings.prefix or "")
    else:
        layout = BucketMap("buckets", name_prefix=settings.prefix or "")
    provider: S3UpstreamProvider = S3UpstreamProvider(
        connection, layout, readonly=readonly, conditional_writes=settings.conditional_writes
    )
    return provider


def _build(settings: S3BackendSettings, options: ProviderOptions) -> StorageProvider:
    return s3_provider(settings, readonly=options.readonly)


async def _check(settings: S3BackendSettings) -> str:
    from pys3local.errors import S3Error

    try:
        provider = s3_provider(
            settings, attempts=1, connect_timeout=_TEST_TIMEOUT, io_timeout=_TEST_TIMEOUT
        )
    except ValueError as exc:
        raise ConnectionProblem(str(exc)) from None
    try:
        await provider.check_connection()
        buckets = await provider.list_buckets()
    except S3Error as exc:
        raise ConnectionProblem(f"{settings.endpoint}: {exc.code}: {exc.message}") from None
    finally:
        await provider.close()
    return f"Connected to {settings.endpoint}: {len(buckets)} bucket(s)"


def _cache_identity(settings: S3BackendSettings) -> tuple[int, str]:
    # The s3 backend keeps nothing in the metadata cache; an identity still names it.
    return 0, f"s3:{settings.endpoint}/{settings.bucket or ''}/{settings.prefix or ''}"


S3: BackendType[S3BackendSettings] = BackendType(
    name="s3",
    settings_class=S3BackendSettings,
    fields=(
        FieldSpec("endpoint", "url", True, "upstream S3 endpoint URL", env="UPSTREAM_S3_ENDPOINT"),
        FieldSpec(
            "access_key_id",
            "str",
            True,
            "upstream access key id",
            env="UPSTREAM_S3_ACCESS_KEY_ID",
        ),
        FieldSpec(
            "secret_access_key",
            "secret",
            True,
            "upstream secret access key (stored obscured)",
            env="UPSTREAM_S3_SECRET_ACCESS_KEY",
        ),
        FieldSpec(
            "region",
            "str",
            False,
            "upstream region",
            default="us-east-1",
            env="UPSTREAM_S3_REGION",
            env_default="us-east-1",
        ),
        FieldSpec("bucket", "str", False, "one upstream bucket for every bucket (else one each)"),
        FieldSpec("prefix", "str", False, "upstream bucket name prefix (key prefix with 'bucket')"),
        FieldSpec(
            "addressing_style", "str", False, "path or virtual (bucket.host)", default="path"
        ),
        FieldSpec(
            "skip_tls_verify", "bool", False, "do not verify the TLS certificate", default=False
        ),
        FieldSpec("ca_bundle", "path", False, "CA bundle that signs the upstream certificate"),
        FieldSpec(
            "conditional_writes",
            "bool",
            False,
            "the upstream honours If-None-Match: * and If-Match atomically",
            default=False,
        ),
    ),
    # Uploads are the upstream's own multipart uploads: every gateway sees them.
    capabilities=Capabilities(multipart_state=MultipartState.STORE),
    build=_build,
    check=_check,
    cache_identity=_cache_identity,
    serve_options={
        "--upstream-endpoint": "endpoint",
        "--upstream-region": "region",
        "--upstream-bucket": "bucket",
        "--upstream-prefix": "prefix",
        "--upstream-addressing-style": "addressing_style",
        "--upstream-skip-tls-verify": "skip_tls_verify",
        "--upstream-ca-bundle": "ca_bundle",
        "--upstream-conditional-writes": "conditional_writes",
    },
    title="S3 upstream",
    credential="secret access key",
    problem=_problem,
)
