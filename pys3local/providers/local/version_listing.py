"""ListObjectVersions on the local backend, one page at a time.

Two trees hold a bucket's versions: ``objects/`` the latest of each key (walked as
ListObjectsV2 walks it, :func:`.listing.walk_keys`) and ``.versions/`` every other
version and delete marker, one directory per key named like the key's sidecar. Both
are walked depth-first in S3 key order, starting with a binary search at the page's
first key, and merged by key; each key then shows its current version (if any)
followed by its versions directory's, newest first. A page therefore costs what it
returns, not what the bucket holds. With delimiter ``/`` whole directories are
rolled up without being descended, on both trees.

What a key lists comes from the metadata cache where its rows still describe the
files, as ListObjectsV2's does: the current version's row (checked against one stat
of its data file) and the versions directory's row (checked against one stat of the
directory, :mod:`.version_index`). Keys are taken in runs, with one lookup of their
rows per run. Without rows (no cache, or files changed since) a key costs a sidecar
read for its current version and a directory read plus a sidecar read per older
version, and the directory's row is stored for the next listing.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import islice

from pys3local.cache import CacheEntry
from pys3local.errors import KeyTooLongError
from pys3local.providers.base import ObjectInfo
from pys3local.providers.ordering import common_prefix
from pys3local.providers.versioning import NULL_VERSION, ObjectVersion, VersionListing

from .index import LocalIndex
from .layout import StoreLayout, decode_segment
from .listing import DirectoryIndex, ListedEntry, start_directory, walk_keys
from .sidecar import object_info, read_sidecar
from .version_entries import NULL_SUFFIX, listing_start
from .version_index import VersionIndex, VersionRow
from .versions import VersionStore

_fromisoformat = datetime.fromisoformat
#: Keys read (and their rows looked up) at a time.
_CHUNK_KEYS = 256


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


@dataclass(frozen=True, slots=True)
class VersionSources:
    """What a listing reads besides the two trees: the version store, and the rows
    of the metadata cache (objects' version ids, versions directories)."""

    store: VersionStore
    objects: LocalIndex
    directories: VersionIndex


def _current(
    sources: VersionSources,
    bucket: str,
    key: str,
    live: ListedEntry,
    st: os.stat_result,
    row: CacheEntry | None,
) -> ObjectVersion:
    """The key's version in ``objects/`` (data file ``st``): from its row when that
    describes this file, else :func:`.sidecar.object_info`'s size, ETag and date,
    without building its ``ObjectInfo``."""
    if row is not None and row.version_id and LocalIndex.describes(row, st):
        assert row.etag is not None
        return ObjectVersion(key, row.version_id, True, row.last_modified, st.st_size, row.etag)
    sidecar = read_sidecar(live.metadata_path or "")
    document = sources.store.describe(bucket, key, st, sidecar)
    if document is not None and document.get("size") == st.st_size:
        version_id = document.get("version_id")
        if not isinstance(version_id, str) or not version_id:
            version_id = NULL_VERSION
        moment = _fromisoformat(str(document["last_modified"]))
        current = ObjectVersion(key, version_id, True, moment, st.st_size, str(document["etag"]))
        if document is sidecar and document.get("ino") == st.st_ino:
            # The sidecar names this very file: what a commit would have recorded.
            info = ObjectInfo(key, st.st_size, current.etag, moment, version_id=version_id)
            sources.objects.record(bucket, info, live.data_path or "", st)
        return current
    info = object_info(key, st, document, with_metadata=False)
    version_id = info.version_id or NULL_VERSION
    return ObjectVersion(key, version_id, True, info.last_modified, info.size, info.etag)


def _key_versions(
    key: str,
    current: ObjectVersion | None,
    older: list[VersionRow],
    after: str | None = None,
) -> Iterator[ObjectVersion]:
    """A key's versions and markers, newest first, the latest marked: ``current``,
    then ``older`` (its versions directory's, without copies of the current version
    or of a version seen already); with ``after`` only those after that version (a
    page that ends inside a key's versions)."""
    current_id = current.version_id if current is not None else None
    if after is None and current is not None:
        yield current
    resume = after if after != current_id else None  # after the current: from the first
    started = listing_start([row[0] for row in older] if resume else (), current_id, resume)
    if started is None:
        return
    start, seen = started
    latest = current is None and after is None
    for name, _inode, size, etag, moment, marker in older[start:]:
        version_id = NULL_VERSION if name.endswith(NULL_SUFFIX) else name
        if version_id in seen:
            continue
        seen.add(version_id)
        yield ObjectVersion(key, version_id, latest, _fromisoformat(moment), size, etag, marker)
        latest = False


def _chunk_versions(
    sources: VersionSources, bucket: str, chunk: list[_Item], after: str | None = None
) -> Iterator[ObjectVersion | str]:
    """The entries of a run of keys (and common prefixes, as strings), with one
    lookup of their rows for the run."""
    stats: dict[str, os.stat_result] = {}
    with_versions: list[str] = []
    for key, live, versions, _is_prefix in chunk:
        if live is not None:
            with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                stats[key] = os.stat(live.data_path or "")
        if versions is not None:
            with_versions.append(key)
    objects = sources.objects.lookup(bucket, stats) if stats else {}
    rows = sources.directories.lookup(bucket, with_versions) if with_versions else {}
    for key, live, versions, is_prefix in chunk:
        if is_prefix:
            yield key
            continue
        st = stats.get(key)
        current = None
        if st is not None and live is not None:
            current = _current(sources, bucket, key, live, st, objects.get(key))
        older: list[VersionRow] = []
        if versions is not None:
            older = sources.directories.versions(bucket, key, versions, rows.get(key))
        yield from _key_versions(key, current, older, after)


def _page_items(
    layout: StoreLayout,
    directories: DirectoryIndex,
    sources: VersionSources,
    bucket: str,
    wanted: Callable[[], int],
    *,
    prefix: str,
    delimiter: str,
    key_marker: str,
    version_id_marker: str,
) -> Iterator[ObjectVersion | str]:
    """Every entry after the markers: versions, and common prefixes as strings. Keys
    are read in runs of at most as many as the page still ``wanted`` (a key lists at
    least one entry, nearly always), so a page reads few keys it does not list."""
    if key_marker and version_id_marker and key_marker.startswith(prefix):
        data, metadata = layout.object_files(bucket, key_marker)
        versions = str(layout.key_versions_dir(bucket, key_marker))
        marked = (key_marker, ListedEntry(key_marker, data, metadata), versions, False)
        yield from _chunk_versions(sources, bucket, [marked], version_id_marker)
    keys = _rolled_up(
        _merged(layout, directories, bucket, prefix, delimiter == "/", key_marker),
        prefix,
        delimiter,
        key_marker,
    )
    while chunk := list(islice(keys, max(1, min(_CHUNK_KEYS, wanted())))):
        yield from _chunk_versions(sources, bucket, chunk)


def _rolled_up(
    items: Iterator[_Item], prefix: str, delimiter: str, key_marker: str
) -> Iterator[_Item]:
    """``items`` with keys rolled up into common prefixes for a delimiter other than
    ``/`` (whose prefixes the walk already made)."""
    if not delimiter or delimiter == "/":
        yield from items
        return
    last_prefix = None
    for item in items:
        common = None if item[3] else common_prefix(item[0], prefix, delimiter)
        if common is None:
            yield item
        elif common != last_prefix and common > key_marker:
            last_prefix = common
            yield common, None, None, True


def list_versions_page(
    layout: StoreLayout,
    directories: DirectoryIndex,
    sources: VersionSources,
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
    versions, prefixes = page.versions, page.common_prefixes
    items = _page_items(
        layout,
        directories,
        sources,
        bucket,
        lambda: max_keys + 1 - len(versions) - len(prefixes),
        prefix=prefix,
        delimiter=delimiter,
        key_marker=key_marker,
        version_id_marker=version_id_marker,
    )
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


def key_versions(
    sources: VersionSources, bucket: str, item: VersionedKey
) -> Iterator[ObjectVersion]:
    """A key's versions and delete markers, newest first, the latest marked."""
    return (
        entry
        for entry in _chunk_versions(sources, bucket, [(item.key, item.live, item.versions, False)])
        if type(entry) is not str
    )
