"""Versions in the provider interface: the names and results of the optional
versioning operations, and their defaults for a backend that keeps no versions.

:class:`~.base.StorageProvider` inherits :class:`VersioningDefaults`: a backend
without versioning never has a versioning state, ``null`` names the only version of
a key, and everything else answers NotImplemented naming the backend, so nothing
pretends to keep versions it does not keep.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from pys3local.errors import NotImplementedOperation

#: The version id of the one version a key has in an unversioned bucket, and of
#: versions written while versioning is suspended.
NULL_VERSION = "null"
#: The states PutBucketVersioning can set.
VERSIONING_STATES = ("Enabled", "Suspended")


@dataclass(frozen=True, slots=True)
class DeleteOutcome:
    """What a delete did in a versioned bucket: the version removed or the delete
    marker added (``delete_marker`` true in both cases when the version is a marker)."""

    version_id: str | None = None
    delete_marker: bool = False


@dataclass(slots=True)  # not frozen: a frozen one costs 4x as much to make, per entry listed
class ObjectVersion:
    """One entry of ListObjectVersions: a version, or a delete marker (size 0, no
    ETag)."""

    key: str
    version_id: str
    is_latest: bool
    last_modified: datetime
    size: int = 0
    etag: str = ""
    delete_marker: bool = False


@dataclass(slots=True)
class VersionListing:
    """One page of ListObjectVersions: keys in S3 order, the versions of a key newest
    first; ``versions`` and ``common_prefixes`` together hold at most ``max_keys``.
    When truncated, ``next_key_marker`` and ``next_version_id_marker`` (None after a
    common prefix) continue the listing."""

    versions: list[ObjectVersion] = field(default_factory=list)
    common_prefixes: list[str] = field(default_factory=list)
    is_truncated: bool = False
    next_key_marker: str | None = None
    next_version_id_marker: str | None = None


class VersioningDefaults:
    """The bucket-level versioning operations of a provider, with their defaults."""

    #: The backend's name in errors ("... not supported by the Drime backend").
    backend_name: str = "this"

    if TYPE_CHECKING:  # provided by StorageProvider

        async def get_bucket(self, bucket: str) -> object: ...

    def _no_versioning(self) -> NotImplementedOperation:
        return NotImplementedOperation(
            f"Versioning is not supported by the {self.backend_name} backend."
        )

    async def get_bucket_versioning(self, bucket: str) -> str | None:
        """The bucket's versioning state (``Enabled``, ``Suspended``), None if it was
        never set. Raises NoSuchBucket."""
        await self.get_bucket(bucket)
        return None

    async def put_bucket_versioning(self, bucket: str, status: str) -> None:
        """Set the versioning state (one of :data:`VERSIONING_STATES`).

        Raises NoSuchBucket, AccessDenied; NotImplemented on a backend without versions.
        """
        raise self._no_versioning()

    async def list_object_versions(
        self,
        bucket: str,
        *,
        prefix: str = "",
        delimiter: str = "",
        key_marker: str = "",
        version_id_marker: str = "",
        max_keys: int = 1000,
    ) -> VersionListing:
        """One page of versions and delete markers after (``key_marker``,
        ``version_id_marker``); its cost grows with ``max_keys``, not with the
        bucket. Raises NoSuchBucket."""
        raise self._no_versioning()
