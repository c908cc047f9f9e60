"""The Drime Cloud backend: S3 buckets and objects as Drime folders and files.

Install with ``pip install pys3local[drime]``; build one with
:func:`create_drime_provider`. docs/drime.md says what S3 clients see.
"""

from __future__ import annotations

from pys3local.cache import MetadataCache

from .client import DEFAULT_API_URL, DrimeClient
from .provider import DEFAULT_BUCKET, DrimeStorageProvider
from .transport import DrimeAPIError, DrimeError, DrimeUnavailable, RetryPolicy


def create_drime_provider(
    api_key: str,
    workspace_id: int,
    *,
    root_folder: str | None,
    api_url: str | None,
    delete_forever: bool = True,
    cache: MetadataCache | None,
    default_bucket_is_root: bool,
    readonly: bool = False,
    retry: RetryPolicy | None = None,
    spool_dir: str | None = None,
) -> DrimeStorageProvider:
    """The Drime backend for ``serve`` and the console.

    Args:
        api_key: the Drime API key (``DRIME_API_KEY``).
        workspace_id: the workspace (``DRIME_WORKSPACE_ID``; 0 = personal).
        root_folder: ``a/b/c`` limits S3 to that folder (created if missing when the
            server starts); None serves the whole workspace.
        api_url: the API base URL; None means ``https://app.drime.cloud/api/v1``
            (``DRIME_API_URL`` overrides it for tests).
        delete_forever: delete permanently (default); False moves deleted and
            overwritten files to Drime's trash (they still count against quota).
        cache: the metadata cache, for MD5s recorded at upload time; optional.
        default_bucket_is_root: True in default mode (bucket ``default`` is the root
            folder itself); False in advanced mode (buckets are folders below it).
        readonly: refuse every write (and never create the root folder).
        retry: retry policy for Drime calls (default: 5 attempts, backoff with jitter).
        spool_dir: parent of the private spool directory (default: $TMPDIR).

    Nothing is contacted until the provider is opened (``await provider.open()``,
    which the server does at start): that resolves the root folder and fails
    clearly on a bad key or an unreachable API.
    """
    client = DrimeClient(api_key, workspace_id, api_url=api_url, retry=retry)
    return DrimeStorageProvider(
        client,
        root_folder=root_folder,
        default_bucket_is_root=default_bucket_is_root,
        delete_forever=delete_forever,
        cache=cache,
        readonly=readonly,
        spool_dir=spool_dir,
    )


__all__ = [
    "DEFAULT_API_URL",
    "DEFAULT_BUCKET",
    "DrimeAPIError",
    "DrimeClient",
    "DrimeError",
    "DrimeStorageProvider",
    "DrimeUnavailable",
    "RetryPolicy",
    "create_drime_provider",
]
