"""The versioning operations of :class:`~.provider.LocalStorageProvider`: bucket
versioning state, reads and removals of one version, ListObjectVersions.

The version chains themselves are :mod:`.versions`; the listing is
:mod:`.version_listing`. A bucket whose versioning was never set never reaches any of
this except :meth:`VersionedObjects._missing`, one failed ``stat`` on a 404.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pys3local.errors import InvalidBucketState, NoSuchKey, PreconditionFailed
from pys3local.providers.base import ObjectInfo, ObjectReader, RangeRequest
from pys3local.providers.conditions import MATCH_CONDITION
from pys3local.providers.versioning import DeleteOutcome, VersionListing

from .bucket_config import BucketConfigs, lock_configuration
from .commit import remove_object
from .files import ensure_dir
from .index import LocalIndex
from .layout import ObjectPaths, StoreLayout
from .listing import DirectoryIndex
from .locks import StripedLocks
from .preconditions import current_etag
from .version_listing import VersionSources, list_versions_page
from .versions import VersionStore, marker_headers


class VersionedObjects:
    """Versioning for the local provider (a mixin of it)."""

    layout: StoreLayout
    durable: bool
    _configs: BucketConfigs
    _versions: VersionStore
    _version_sources: VersionSources
    _directories: DirectoryIndex
    _cache_index: LocalIndex
    _locks: StripedLocks

    if TYPE_CHECKING:  # provided by LocalStorageProvider

        def check_writable(self) -> None: ...
        def _bucket_or_raise(self, bucket: str) -> Path: ...
        def _run(self, fn: Callable[..., Any], *args: object) -> Awaitable[Any]: ...
        def _forget_directories(self, bucket: str, paths: ObjectPaths) -> None: ...
        def _migrated(self, bucket: str, key: str) -> Callable[[str], str | None]: ...
        def _reader_for(
            self, fd: int, info: ObjectInfo, byte_range: RangeRequest | None
        ) -> ObjectReader: ...

    def _missing(self, bucket: str, key: str, paths: ObjectPaths) -> NoSuchKey:
        """The NoSuchKey for a key without a current version; when its latest version
        is a delete marker it says so in headers, as AWS does."""
        error = NoSuchKey(Key=key)
        marker = self._versions.latest_marker(bucket, key, paths)
        if marker is not None:
            error.headers.update(marker_headers(marker))
        return error

    def _open_version(self, bucket: str, key: str, version_id: str) -> tuple[int, ObjectInfo]:
        self._bucket_or_raise(bucket)
        paths = self.layout.object_paths(bucket, key)
        return self._versions.open_version(bucket, key, paths, version_id)

    async def get_bucket_versioning(self, bucket: str) -> str | None:
        def get_sync() -> str | None:
            self._bucket_or_raise(bucket)
            return self._configs.versioning(bucket)

        return await self._run(get_sync)

    async def put_bucket_versioning(self, bucket: str, status: str) -> None:
        self.check_writable()

        def put_sync() -> None:
            self._bucket_or_raise(bucket)
            ensure_dir(self.layout.versions_dir(bucket))
            self._configs.update(
                bucket,
                {"versioning": status},
                durable=self.durable,
                check=None if status == "Enabled" else _refuse_with_lock,
            )

        await self._run(put_sync)

    async def head_object_version(self, bucket: str, key: str, version_id: str) -> ObjectInfo:
        def head_sync() -> ObjectInfo:
            fd, info = self._open_version(bucket, key, version_id)
            os.close(fd)
            return info

        return await self._run(head_sync)

    async def get_object_version(
        self,
        bucket: str,
        key: str,
        version_id: str,
        byte_range: RangeRequest | None = None,
    ) -> ObjectReader:
        def open_sync() -> ObjectReader:
            fd, info = self._open_version(bucket, key, version_id)
            return self._reader_for(fd, info, byte_range)

        return await self._run(open_sync)

    async def delete_object(self, bucket: str, key: str) -> DeleteOutcome | None:
        self.check_writable()
        return await self._run(self._delete, bucket, key, None)

    async def delete_object_if_match(
        self, bucket: str, key: str, etag_matches: Callable[[str], bool]
    ) -> DeleteOutcome | None:
        self.check_writable()
        paths = self.layout.object_paths(bucket, key)

        def check() -> None:  # under the key's lock: nothing can come in between
            etag = current_etag(key, paths, self._migrated(bucket, key))
            if etag is None:
                raise NoSuchKey(Key=key)
            if not etag_matches(etag):
                raise PreconditionFailed(Condition=MATCH_CONDITION)

        return await self._run(self._delete, bucket, key, check)

    def _delete(
        self, bucket: str, key: str, check: Callable[[], None] | None
    ) -> DeleteOutcome | None:
        """DeleteObject: a delete marker in a versioned bucket, else the object goes."""
        self._bucket_or_raise(bucket)
        paths = self.layout.object_paths(bucket, key)
        if self._configs.versioning(bucket) is not None:
            outcome: DeleteOutcome | None = self._versions.add_marker(bucket, key, paths, check)
        else:
            stops = (self.layout.objects_dir(bucket), self.layout.metadata_dir(bucket))
            remove_object(self._locks, bucket, key, paths, stops, check)
            outcome = None
        self._forget_directories(bucket, paths)
        self._cache_index.forget(bucket, key)
        return outcome

    async def delete_object_version(
        self, bucket: str, key: str, version_id: str, *, bypass_governance: bool = False
    ) -> DeleteOutcome:
        self.check_writable()

        def delete_sync() -> DeleteOutcome:
            self._bucket_or_raise(bucket)
            paths = self.layout.object_paths(bucket, key)
            try:
                return self._versions.remove_version(
                    bucket, key, paths, version_id, bypass_governance=bypass_governance
                )
            finally:
                self._forget_directories(bucket, paths)
                self._cache_index.forget(bucket, key)

        return await self._run(delete_sync)

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
        def list_sync() -> VersionListing:
            self._bucket_or_raise(bucket)
            return list_versions_page(
                self.layout,
                self._directories,
                self._version_sources,
                bucket,
                prefix=prefix,
                delimiter=delimiter,
                key_marker=key_marker,
                version_id_marker=version_id_marker,
                max_keys=max_keys,
            )

        return await self._run(list_sync)


def _refuse_with_lock(settings: dict[str, object]) -> None:
    """Versioning stays Enabled once Object Lock is (checked under the settings lock)."""
    if lock_configuration(settings.get("object_lock")) is not None:
        raise InvalidBucketState(
            "An Object Lock configuration is present on this bucket, so the versioning "
            "state cannot be changed."
        )
