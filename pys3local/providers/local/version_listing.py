"""ListObjectVersions on the local backend, one page at a time.

Two trees hold a bucket's versions: ``objects/`` the latest of each key (walked as
ListObjectsV2 walks it, :func:`.listing.walk_keys`) and ``.versions/`` every other
version and delete marker, one directory per key named like the key's sidecar. Both
are walked depth-first in S3 key order, starting with a binary search at the page's
first key, and merged by key; each key then shows its current version (if any)
followed by its versions directory, newest first (:meth:`.versions.VersionStore.entries`).
A page therefore costs what it returns (plus one directory read per listed key), not
what the bucket holds. With delimiter ``/`` whole directories are rolled up without
being descended, on both trees.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

from pys3local.errors import KeyTooLongError
from pys3local.providers.base import ObjectInfo
from pys3local.providers.ordering import common_prefix
from pys3local.providers.versioning import NULL_VERSION, ObjectVersion, VersionListing

from .layout import StoreLayout, decode_segment
from .listing import DirectoryIndex, ListedEntry, start_directory, walk_keys
from .sidecar import object_info, read_sidecar
from .versions import VersionStore


class VersionsDirectoryIndex(DirectoryIndex):
    """Sorted listings of the versions tree: a key's directory (``<segment>.json``)
    is named by the key's last segment, any other directory by its segment plus ``/``."""

    @staticmethod
    def _read(directory: str, mtime_ns: int):  # type: ignore[no-untyped-def]
        from .listing import _SortedDirectory

        rows: list[tuple[str, str]] = []
        try:
            with os.scandir(directory) as it:
                for entry in it:
                    if not entry.is_dir(follow_symlinks=False):
                        continue
                    if entry.name.endswith(".json"):
                        rows.append((decode_segment(entry.name[:-5]), entry.name))
                    else:
                        rows.append((decode_segment(entry.name) + "/", entry.name))
        except (FileNotFoundError, NotADirectoryError):
            return None
        rows.sort()
        return _SortedDirectory(mtime_ns, [r[0] for r in rows], [r[1] for r in rows])


_VERSION_DIRECTORIES = VersionsDirectoryIndex(max_entries=200_000)


@dataclass(frozen=True, slots=True)
class VersionedKey:
    """A key of the merged walk (its current entry and/or versions directory), or a
    common prefix (both None)."""

    key: str
    live: ListedEntry | None = None
    versions: str | None = None
    is_prefix: bool = False


def _merged(
    layout: StoreLayout,
    directories: DirectoryIndex,
    bucket: str,
    prefix: str,
    roll_up: bool,
    start_after: str,
) -> Iterator[VersionedKey]:
    """Keys (and, rolling up ``/``, common prefixes) of both trees in S3 order."""
    try:
        dir_path, meta_path, dir_prefix = layout.prefix_dirs(bucket, prefix)
    except KeyTooLongError:
        return
    relative = meta_path.relative_to(layout.metadata_dir(bucket))
    live: Iterator[ListedEntry] = iter(())
    start = start_directory(layout.objects_dir(bucket), dir_path)
    if start is not None:
        live = walk_keys(
            directories,
            start,
            str(meta_path),
            dir_prefix,
            prefix=prefix,
            start_after=start_after,
            roll_up_directories=roll_up,
        )
    versions_path = layout.versions_dir(bucket) / relative
    older: Iterator[VersionedKey] = iter(())
    if versions_path.is_dir():
        # The same walk over the versions tree, whose index names a key's directory
        # as a leaf: each leaf found is that key's versions directory.
        older = (
            VersionedKey(e.key, versions=e.data_path, is_prefix=e.data_path is None)
            for e in walk_keys(
                _VERSION_DIRECTORIES,
                str(versions_path),
                "",
                dir_prefix,
                prefix=prefix,
                start_after=start_after,
                roll_up_directories=roll_up,
            )
        )
    a, b = next(live, None), next(older, None)
    while a is not None or b is not None:
        if b is None or (a is not None and a.key < b.key):
            assert a is not None
            yield VersionedKey(
                a.key, live=a if a.data_path else None, is_prefix=a.data_path is None
            )
            a = next(live, None)
        elif a is None or b.key < a.key:
            yield b
            b = next(older, None)
        else:
            live_entry = a if a.data_path else None
            yield VersionedKey(a.key, live_entry, b.versions, is_prefix=b.is_prefix)
            a, b = next(live, None), next(older, None)


def _current(store: VersionStore, bucket: str, item: VersionedKey) -> ObjectVersion | None:
    """The key's version in ``objects/``, if it has one."""
    if item.live is None or item.live.metadata_path is None:
        return None
    try:
        st = os.stat(item.live.data_path or "")
    except FileNotFoundError:
        return None
    document = store.describe(bucket, item.key, st, read_sidecar(item.live.metadata_path))
    info = object_info(item.key, st, document, with_metadata=False)
    return _listed(info, info.version_id or NULL_VERSION, True, False)


def _key_versions(
    store: VersionStore, bucket: str, item: VersionedKey, after: str | None = None
) -> Iterator[ObjectVersion]:
    """A key's versions and markers, newest first, the latest marked; with ``after``
    only those after that version (a page that ends inside a key's versions)."""
    key = item.key
    current = _current(store, bucket, item)
    if item.versions is None:  # no versions directory: nothing more to read
        if current is not None and after is None:
            yield current
        return
    current_id = current.version_id if current is not None else None
    if after is None:
        if current is not None:
            yield current
        entries = store.entries(item.versions, current_id)
    elif after == current_id:
        entries = store.entries(item.versions, current_id)
    else:
        entries = store.entries(item.versions, current_id, after=after)
    latest = current is None and after is None
    for entry in entries:
        yield entry.listed(key, latest)
        latest = False


def _listed(info: ObjectInfo, version_id: str, latest: bool, marker: bool) -> ObjectVersion:
    return ObjectVersion(
        info.key, version_id, latest, info.last_modified, info.size, info.etag, marker
    )


def _page_items(
    layout: StoreLayout,
    directories: DirectoryIndex,
    store: VersionStore,
    bucket: str,
    *,
    prefix: str,
    delimiter: str,
    key_marker: str,
    version_id_marker: str,
) -> Iterator[ObjectVersion | str]:
    """Every entry after the markers: versions, and common prefixes as strings."""
    if key_marker and version_id_marker and key_marker.startswith(prefix):
        data, metadata = layout.object_files(bucket, key_marker)
        versions = str(layout.key_versions_dir(bucket, key_marker))
        item = VersionedKey(key_marker, ListedEntry(key_marker, data, metadata), versions)
        yield from _key_versions(store, bucket, item, after=version_id_marker)
    roll_slash = delimiter == "/"
    last_prefix = None
    for item in _merged(layout, directories, bucket, prefix, roll_slash, key_marker):
        if item.is_prefix:
            yield item.key
            continue
        if delimiter and not roll_slash:
            common = common_prefix(item.key, prefix, delimiter)
            if common is not None:
                if common != last_prefix and common > key_marker:
                    last_prefix = common
                    yield common
                continue
        yield from _key_versions(store, bucket, item)


def list_versions_page(
    layout: StoreLayout,
    directories: DirectoryIndex,
    store: VersionStore,
    bucket: str,
    *,
    prefix: str,
    delimiter: str,
    key_marker: str,
    version_id_marker: str,
    max_keys: int,
) -> VersionListing:
    """One page of ListObjectVersions (see :meth:`StorageProvider.list_object_versions`)."""
    page = VersionListing()
    if max_keys <= 0:
        return page
    items = _page_items(
        layout,
        directories,
        store,
        bucket,
        prefix=prefix,
        delimiter=delimiter,
        key_marker=key_marker,
        version_id_marker=version_id_marker,
    )
    for count, item in enumerate(items):
        if count == max_keys:
            page.is_truncated = True
            break
        if isinstance(item, str):
            page.common_prefixes.append(item)
            page.next_key_marker, page.next_version_id_marker = item, None
        else:
            page.versions.append(item)
            page.next_key_marker = item.key
            page.next_version_id_marker = item.version_id
    if not page.is_truncated:
        page.next_key_marker = page.next_version_id_marker = None
    return page


def versioned_keys(
    layout: StoreLayout, directories: DirectoryIndex, bucket: str, prefix: str
) -> Iterator[VersionedKey]:
    """Every key under ``prefix`` with a current version or a versions directory, in
    S3 order, one directory read at a time (the lifecycle sweep's walk)."""
    for item in _merged(layout, directories, bucket, prefix, False, ""):
        if not item.is_prefix:
            yield item


def key_versions(store: VersionStore, bucket: str, item: VersionedKey) -> Iterator[ObjectVersion]:
    """A key's versions and delete markers, newest first, the latest marked."""
    return _key_versions(store, bucket, item)
