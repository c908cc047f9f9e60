"""The ``drime`` backend type: S3 buckets and objects as Drime Cloud folders and files."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pys3local.cache.entries import drime_store

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

#: One quick attempt: a connection test should answer in seconds, not retry for a minute.
_TEST_TIMEOUT = 15.0


@dataclass(frozen=True)
class DrimeBackendSettings:
    """A ``drime`` backend. ``api_url`` None means the provider's default endpoint."""

    api_key: str = field(repr=False)
    workspace_id: int = 0
    root_folder: str | None = None
    api_url: str | None = None
    delete_forever: bool = True


def _build(settings: DrimeBackendSettings, options: ProviderOptions) -> StorageProvider:
    from pys3local.providers.drime import create_drime_provider

    return create_drime_provider(
        settings.api_key,
        settings.workspace_id,
        root_folder=settings.root_folder,
        api_url=settings.api_url,
        delete_forever=settings.delete_forever,
        cache=options.cache,
        # Default mode serves the root folder itself as the bucket "default".
        default_bucket_is_root=not options.allow_bucket_creation,
        readonly=options.readonly,
    )


async def check_drime_connection(settings: DrimeBackendSettings) -> str:
    """Ask Drime who we are with this key; returns a one-line success message.

    Raises ConnectionProblem (bad key, unknown workspace, unreachable API, or the
    Drime backend not installed).
    """
    import humanize

    try:
        import httpx

        from pys3local.providers.drime import DrimeClient, DrimeError, RetryPolicy
    except ImportError as exc:
        raise ConnectionProblem(f"the Drime backend is not available: {exc}") from None
    client = DrimeClient(
        settings.api_key,
        settings.workspace_id,
        api_url=settings.api_url,
        retry=RetryPolicy(attempts=1),
        timeout=httpx.Timeout(_TEST_TIMEOUT),
    )
    try:
        workspaces = await client.workspaces()
        usage = await client.space_usage()
    except DrimeError as exc:
        raise ConnectionProblem(f"Drime refused: {exc.message}") from None
    except httpx.HTTPError as exc:
        raise ConnectionProblem(f"cannot reach Drime: {exc}") from None
    finally:
        await client.aclose()
    if settings.workspace_id and settings.workspace_id not in {w.id for w in workspaces}:
        known = ", ".join(str(w.id) for w in workspaces) or "none"
        raise ConnectionProblem(
            f"connected, but workspace {settings.workspace_id} is not yours (yours: {known})"
        )
    used = humanize.naturalsize(usage.used)
    available = humanize.naturalsize(usage.available)
    return f"Connected to Drime: {used} used, {available} available"


def _cache_identity(settings: DrimeBackendSettings) -> tuple[int, str]:
    return settings.workspace_id, drime_store(settings.root_folder)


DRIME: BackendType[DrimeBackendSettings] = BackendType(
    name="drime",
    settings_class=DrimeBackendSettings,
    fields=(
        FieldSpec(
            "api_key", "secret", True, "Drime API key (stored obscured)", env="DRIME_API_KEY"
        ),
        FieldSpec(
            "workspace_id",
            "int",
            True,
            "workspace id, 0 = personal workspace",
            env="DRIME_WORKSPACE_ID",
            env_default="0",
        ),
        FieldSpec("root_folder", "str", False, "folder that limits the S3 scope, e.g. backups/s3"),
        FieldSpec(
            "api_url",
            "url",
            False,
            "API base URL for self-hosted or test endpoints",
            env="DRIME_API_URL",
        ),
        FieldSpec(
            "delete_forever", "bool", False, "delete permanently, not to trash", default=True
        ),
    ),
    # Drime holds the parts' bytes; what maps an UploadId onto them is kept in the
    # metadata cache (shared by every process using the file), else in the process.
    capabilities=Capabilities(multipart_state=MultipartState.CACHE),
    build=_build,
    check=check_drime_connection,
    cache_identity=_cache_identity,
    serve_options={"--root-folder": "root_folder"},
    title="Drime",
    credential="API key",
)
