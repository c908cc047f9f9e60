"""ListObjectVersions on the local backend, one page at a time.

Two trees hold a bucket's versions: ``objects/`` the latest of each key (walked as
ListObjectsV2 walks it, :func:`.listing.walk_keys`) and ``.versions/`` every other
version and delete marker, one directory per key named like the key's sidecar. Both
are walked depth-first in S3 key order, starting with a binary search at the page's
first key, and merged by key; each key then shows its current version (if any)
followed by its versions directory, newest first (:func:`.version_entries.read_documents`).
A page therefore costs what it returns (plus one directory read per listed key), not
what the bucket holds. With delimiter ``/`` whole directories are rolled up without
being descended, on both trees.

This is a loop per listed entry, so each entry costs what the files demand and little
more: one stat and one sidecar read for a key's current version, one directory read
per key and one sidecar read per older version; keys travel as tuples, and each entry
is built once, straight from its sidecar (no ``ObjectInfo`` in between).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from pys3local.errors import KeyTooLongError
from pys3local.providers.ordering import common_prefix
from pys3local.providers.versioning import NULL_VERSION, ObjectVersion, VersionListing

from .layout import StoreLayout, decode_segment
from .listing import DirectoryIndex, ListedEntry, start_directory, walk_keys
from .sidecar import object_info, read_sidecar
from .version_entries import listed, read_documents
from .versions import VersionStore

_fromisoformat = datetime.fromisoformat


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


#: A :class:`VersionedKey` as the listing's loop takes it: (key, live, versions,
#: is_prefix), a tuple rather than an object per key.
_Item = tuple[str, ListedEntry | None, str | None, bool]


def _merged(
    layout: StoreLayout,
    directories: DirectoryIndex,
    bucket: str,
    prefix: str,
    roll_up: bool,
    start_after: str,
) -> Iterator[_Item]:
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
    # The same walk over the versions tree, whose index names a key's directory as a
    # leaf: each leaf found (its data_path) is that key's versions directory.
    older: Iterator[ListedEntry] = iter(())
    if versions_path.is_dir():
        older = walk_keys(
            _VERSION_DIRECTORIES,
            str(versions_path),
            "",
            dir_prefix,
            prefix=prefix,
            start_after=start_after,
            roll_up_directories=roll_up,
        )
    a, b = next(live, None), next(older, None)
    while a is not None:
        if b is None or a.key < b.key:
            path = a.data_path
            yield a.key, a if path else None, None, path is None
            a = next(live, None)
        elif b.key < a.key:
            yield b.key, None, b.data_path, b.data_path is None
            b = next(older, None)
        else:
            path = b.data_path
            yield a.key, a if a.data_path else None, path, path is None
            a, b = next(live, None), next(older, None)
    while b is not None:
        yield b.key, None, b.data_path, b.data_path is None
        b = next(older, None)


def _current(store: VersionStore, bucket: str, key: str, live: ListedEntry) -> ObjectVersion | None:
    """The key's version in ``objects/``, if it has one: :func:`.sidecar.object_info`'s
    size, ETag and date, without building its ``ObjectInfo``."""
    try:
        st = os.stat(live.data_path or "")
    except FileNotFoundError:
        return None
    document = store.describe(bucket, key, st, read_sidecar(live.metadata_path or ""))
    if document is not None and document.get("size") == st.st_size:
        version_id = document.get("version_id")
        if not isinstance(version_id, str) or not version_id:
            version_id = NULL_VERSION
        moment = _fromisoformat(str(document["last_modified"]))
        return ObjectVersion(key, version_id, True, moment, st.st_size, str(document["etag"]))
    info = object_info(key, st, document, with_metadata=False)
    version_id = info.version_id or NULL_VERSION
    return ObjectVersion(key, version_id, True, info.last_modified, info.size, info.etag)


def _key_versions(
    store: VersionStore,
    bucket: str,
    key: str,
    live: ListedEntry | None,
    versions: str | None,
    after: str | None = None,
) -> Iterator[ObjectVersion]:
    """A key's versions and markers, newest first, the latest marked; with ``after``
    only those after that version (a page that ends inside a key's versions)."""
    current = None
    if live is not None and live.metadata_path is not None:
        current = _current(store, bucket, key, live)
    if versions is None:  # no versions directory: nothing more to read
        if current is not None and after is None:
            yield current
        return
    current_id = current.version_id if current is not None else None
    if after is None:
        if current is not None:
            yield current
        documents = read_documents(versions, current_id)
    elif after == current_id:
        documents = read_documents(versions, current_id)
    else:
        documents = read_documents(versions, current_id, after)
    latest = current is None and after is None
    for name, version_id, document in documents:
        entry = listed(key, version_id, document, latest, versions, name)
        if entry is not None:
            yield entry
            latest = False


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
        live = ListedEntry(key_marker, data, metadata)
        yield from _key_versions(store, bucket, key_marker, live, versions, version_id_marker)
    roll_slash = delimiter == "/"
    roll_other = bool(delimiter) and not roll_slash
    last_prefix = None
    for key, live, versions, is_prefix in _merged(
        layout, directories, bucket, prefix, roll_slash, key_marker
    ):
        if is_prefix:
            yield key
            continue
        if roll_other:
            common = common_prefix(key, prefix, delimiter)
            if common is not None:
                if common != last_prefix and common > key_marker:
                    last_prefix = common
                    yield common
                continue
        yield from _key_versions(store, bucket, key, live, versions)


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
    versions, prefixes = page.versions, page.common_prefixes
    last: ObjectVersion | str | None = None
    for count, item in enumerate(items):
        if count == max_keys:
            page.is_truncated = True
            break
        if type(item) is str:
            prefixes.append(item)
        else:
            versions.append(item)  # type: ignore[arg-type]
        last = item
    if page.is_truncated:  # the markers the next page starts after
        if isinstance(last, str):
            page.next_key_marker = last
        elif last is not None:
            page.next_key_marker, page.next_version_id_marker = last.key, last.version_id
    return page


def versioned_keys(
    layout: StoreLayout, directories: DirectoryIndex, bucket: str, prefix: str
) -> Iterator[VersionedKey]:
    """Every key under ``prefix`` with a current version or a versions directory, in
    S3 order, one directory read at a time (the lifecycle sweep's walk)."""
    for key, live, versions, is_prefix in _merged(layout, directories, bucket, prefix, False, ""):
        if not is_prefix:
            yield VersionedKey(key, live, versions)


def key_versions(store: VersionStore, bucket: str, item: VersionedKey) -> Iterator[ObjectVersion]:
    """A key's versions and delete markers, newest first, the latest marked."""
    return _key_versions(store, bucket, item.key, item.live, item.versions)
