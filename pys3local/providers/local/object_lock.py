"""Object Lock on the local backend: a bucket's lock configuration, a version's
retention and legal hold.

The configuration lives in the bucket's settings (:mod:`.bucket_config`, key
``object_lock``); a version's retention and legal hold in its own sidecar
(:mod:`.protection`). What they protect is enforced where versions go:
:meth:`.versions.VersionStore.remove_version` and the in-place replacement of a
``null`` version, each under the key's exclusive lock.

A change of retention or legal hold rewrites the version's sidecar whole: a new
document is written and fsynced in this process's staging directory, then renamed over
the old one, and the directory is fsynced, all under the key's exclusive lock, before
the change is acknowledged. A crash at any point leaves the old sidecar or the new
one, never none and never a torn one, so a version never loses its metadata nor a
protection a client was told it has (a staging file left behind is removed with the
dead writer's staging directory at the next start).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pys3local.errors import (
    InvalidBucketState,
    InvalidRequest,
    MethodNotAllowed,
    NoSuchKey,
    NoSuchVersion,
    ObjectLockConfigurationNotFoundError,
    ServiceUnavailable,
)
from pys3local.providers.base import ObjectMetadata
from pys3local.providers.object_lock import (
    NO_LOCK,
    ObjectLockConfiguration,
    Retention,
    VersionProtection,
    check_legal_hold_change,
    check_retention_change,
    protect_new_version,
)
from pys3local.providers.versioning import NULL_VERSION

from .bucket_config import BucketConfigs, lock_document
from .files import fsync_dir, make_parents, write_json
from .layout import ObjectPaths, StoreLayout
from .locks import StripedLocks
from .protection import protection_of, with_protection
from .sidecar import metadata_document, object_info
from .staging import StagingArea
from .versions import VersionStore, check_version_id, marker_headers


def lock_new_version(
    metadata: ObjectMetadata, lock: ObjectLockConfiguration | None, moment: datetime
) -> ObjectMetadata:
    """The metadata of a version written at ``moment`` in a bucket with ``lock``: the
    protection asked for, with the bucket's default retention where none was asked.
    InvalidRequest when protection is asked for in a bucket without lock."""
    if lock is None:
        if metadata.protection is not None:
            raise InvalidRequest(NO_LOCK)
        return metadata
    protection = protect_new_version(metadata.protection, lock.default_retention, moment)
    if protection == metadata.protection:
        return metadata
    return dataclasses.replace(metadata, protection=protection)


@dataclass(frozen=True, slots=True)
class _Located:
    """A version found under the key's lock: its sidecar's path and document."""

    version_id: str
    sidecar: Path
    document: dict[str, object]
    #: Whether ``sidecar`` holds ``document`` (else it must not be rewritten: a
    #: commit of the key is still being finished).
    writable: bool = True
    #: A file put into ``objects/`` by other means, without a sidecar yet.
    described: bool = False


class LockedObjects:
    """Object Lock for the local provider (a mixin of it)."""

    supports_object_lock = True
    layout: StoreLayout
    durable: bool
    _configs: BucketConfigs
    _versions: VersionStore
    _locks: StripedLocks
    _staging: StagingArea
    _opened: bool

    if TYPE_CHECKING:  # provided by LocalStorageProvider

        def check_writable(self) -> None: ...
        def _bucket_or_raise(self, bucket: str) -> Path: ...
        def _run(self, fn: Callable[..., Any], *args: object) -> Awaitable[Any]: ...

    # Buckets -----------------------------------------------------------------------

    async def get_object_lock_configuration(self, bucket: str) -> ObjectLockConfiguration:
        def get_sync() -> ObjectLockConfiguration:
            self._bucket_or_raise(bucket)
            configuration = self._configs.object_lock(bucket)
            if configuration is None:
                raise ObjectLockConfigurationNotFoundError()
            return configuration

        # A PutObject without a checksum asks this first (a default retention needs
        # one): two stats and a cached read, cheaper on the loop than a thread hop,
        # as the versioning state every write reads.
        return get_sync() if self._opened else await self._run(get_sync)

    async def put_object_lock_configuration(
        self, bucket: str, configuration: ObjectLockConfiguration
    ) -> None:
        self.check_writable()

        def check(settings: dict[str, object]) -> None:
            if settings.get("versioning") != "Enabled":
                raise InvalidBucketState(
                    "Versioning must be 'Enabled' on the bucket to apply a Object Lock "
                    "configuration"
                )

        def put_sync() -> None:
            self._bucket_or_raise(bucket)
            changes = {"object_lock": lock_document(configuration)}
            self._configs.update(bucket, changes, durable=self.durable, check=check)

        await self._run(put_sync)

    # Versions ----------------------------------------------------------------------

    async def get_object_retention(
        self, bucket: str, key: str, version_id: str | None
    ) -> Retention | None:
        protection = await self._run(self._read_protection, bucket, key, version_id)
        return protection.retention if protection is not None else None

    async def get_object_legal_hold(
        self, bucket: str, key: str, version_id: str | None
    ) -> bool | None:
        protection = await self._run(self._read_protection, bucket, key, version_id)
        return protection.legal_hold if protection is not None else None

    async def put_object_retention(
        self,
        bucket: str,
        key: str,
        version_id: str | None,
        retention: Retention | None,
        *,
        bypass_governance: bool = False,
        extend_only: bool = False,
    ) -> str | None:
        self.check_writable()

        def change(old: VersionProtection) -> VersionProtection:
            now = datetime.now(timezone.utc)
            check_retention_change(
                old.retention, retention, now, bypass=bypass_governance, extend_only=extend_only
            )
            return VersionProtection(retention, old.legal_hold)

        return await self._run(self._change_protection, bucket, key, version_id, change)

    async def put_object_legal_hold(
        self, bucket: str, key: str, version_id: str | None, on: bool, *, extend_only: bool = False
    ) -> str | None:
        self.check_writable()

        def change(old: VersionProtection) -> VersionProtection:
            check_legal_hold_change(bool(old.legal_hold), on, extend_only=extend_only)
            return VersionProtection(old.retention, on)

        return await self._run(self._change_protection, bucket, key, version_id, change)

    # Internals ---------------------------------------------------------------------

    def _lock_of(self, bucket: str) -> ObjectLockConfiguration | None:
        """The lock configuration a new version of ``bucket`` is written under."""
        return self._configs.object_lock(bucket)

    def _check_lock(self, bucket: str) -> None:
        self._bucket_or_raise(bucket)
        if self._configs.object_lock(bucket) is None:
            raise InvalidRequest(NO_LOCK)

    def _read_protection(
        self, bucket: str, key: str, version_id: str | None
    ) -> VersionProtection | None:
        self._check_lock(bucket)
        paths = self.layout.object_paths(bucket, key)
        with self._locks.hold(bucket, key, exclusive=False):
            located = self._locate(bucket, key, paths, version_id)
        return protection_of(located.document)

    def _change_protection(
        self,
        bucket: str,
        key: str,
        version_id: str | None,
        change: Callable[[VersionProtection], VersionProtection],
    ) -> str:
        """Apply ``change`` (which may refuse) to a version's protection, durably,
        under the key's exclusive lock; returns the version's id."""
        self._check_lock(bucket)
        paths = self.layout.object_paths(bucket, key)
        with self._locks.hold(bucket, key, exclusive=True):
            located = self._locate(bucket, key, paths, version_id)
            if not located.writable:
                raise ServiceUnavailable("A write of this key is being finished; retry.")
            old = protection_of(located.document) or VersionProtection()
            new = change(old)
            if new != old:
                if located.described:
                    make_parents(self.layout.metadata_dir(bucket), located.sidecar)
                self._rewrite(located.sidecar, with_protection(located.document, new))
                self._versions.changed(bucket, key)
        return located.version_id

    def _locate(
        self, bucket: str, key: str, paths: ObjectPaths, version_id: str | None
    ) -> _Located:
        """The version ``version_id`` names (None: the latest); the key's lock is held.
        Raises NoSuchKey, NoSuchVersion, MethodNotAllowed (a delete marker)."""
        if version_id is not None:
            check_version_id(version_id)
        current = self._versions.current(bucket, key, paths)
        if current is not None and version_id in (None, current.version_id):
            document = current.document
            if document is None:  # a file put there by other means: describe it
                info = object_info(key, current.st, None)
                document = metadata_document(info, current.st.st_ino)
                return _Located(current.version_id, paths.metadata, document, described=True)
            return _Located(
                current.version_id, paths.metadata, document, current.sidecar_is_document
            )
        if version_id is None:
            raise NoSuchKey(Key=key)
        directory = self.layout.key_versions_dir(bucket, key)
        current_id = current.version_id if current is not None else None
        for entry in self._versions.entries(directory, current_id):
            if entry.version_id != version_id:
                continue
            if entry.delete_marker:
                error = MethodNotAllowed(
                    "The specified method is not allowed against this resource.",
                    Method="PUT",
                    ResourceType="DeleteMarker",
                )
                error.headers.update(marker_headers(version_id))
                raise error
            return _Located(version_id, directory / (entry.name + ".json"), entry.document)
        if version_id == NULL_VERSION:
            raise NoSuchKey(Key=key)
        raise NoSuchVersion(Key=key, VersionId=version_id)

    def _rewrite(self, sidecar: Path, document: dict[str, object]) -> None:
        """Replace ``sidecar`` with ``document``: written and fsynced beside, renamed
        over it, its directory fsynced."""
        temporary = self._staging.new_name().with_suffix(".retention")
        try:
            write_json(temporary, document, durable=self.durable)
            os.rename(temporary, sidecar)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
        if self.durable:
            fsync_dir(sidecar.parent)
