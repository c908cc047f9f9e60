"""Listing the local backend's keys in S3 order, one page at a time.

The object tree is walked depth-first with every directory's entries sorted by their
key text (``name`` for a file, ``name/`` for a directory). Because ``/`` ends every
directory's keys, this visits keys in exactly S3's order (UTF-8 byte order, which
for valid text equals Python's code-point order), so a page can stop after
``max_keys`` entries and the next one can seek straight to its start with a binary
search in each directory on the way down. A page therefore costs what it returns,
not what the bucket holds.

Sorted directory listings are cached, keyed by the directory's mtime, and dropped
when this process changes the directory. A directory modified very recently is
always re-read, because a change by another process in the same timestamp tick
would not change the mtime: "recently" is :data:`_SETTLE_SECONDS` on filesystems
with sub-second timestamps, :data:`_COARSE_SETTLE_SECONDS` on those without.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pys3local.cache import CacheEntry
from pys3local.errors import KeyTooLongError
from pys3local.providers.base import ObjectInfo, ObjectListing
from pys3local.providers.ordering import common_prefix, first_entry_to_list, local_part

from .index import LocalIndex
from .layout import StoreLayout, decode_segment, metadata_dir_segment
from .sidecar import object_info, read_sidecar

_SETTLE_SECONDS = 0.05
_COARSE_SETTLE_SECONDS = 2.0
_MAX_CACHED_ENTRIES = 2_000_000


@dataclass(frozen=True, slots=True)
class _SortedDirectory:
    mtime_ns: int
    names: list[str]  # key text relative to the directory; directories end with "/"
    fs_names: list[str]


class DirectoryIndex:
    """A bounded, thread-safe cache of sorted directory listings."""

    def __init__(self, max_entries: int = _MAX_CACHED_ENTRIES) -> None:
        self._cache: OrderedDict[str, _SortedDirectory] = OrderedDict()
        self._size = 0
        self._max_entries = max_entries
        self._lock = threading.Lock()

    def entries(self, directory: str) -> _SortedDirectory | None:
        try:
            stat = os.stat(directory)
        except (FileNotFoundError, NotADirectoryError):
            return None
        with self._lock:
            cached = self._cache.get(directory)
            if cached is not None and cached.mtime_ns == stat.st_mtime_ns:
                self._cache.move_to_end(directory)
                return cached
        listing = self._read(directory, stat.st_mtime_ns)
        if listing is not None and settled(stat.st_mtime_ns):
            self._store(directory, listing)
        return listing

    def invalidate(self, directory: str) -> None:
        """Forget a directory this process has just changed."""
        with self._lock:
            old = self._cache.pop(directory, None)
            if old is not None:
                self._size -= len(old.names)

    @staticmethod
    def _read(directory: str, mtime_ns: int) -> _SortedDirectory | None:
        rows: list[tuple[str, str]] = []
        try:
            with os.scandir(directory) as it:
                for entry in it:
                    name = decode_segment(entry.name)
                    if entry.is_dir(follow_symlinks=False):
                        name += "/"
                    rows.append((name, entry.name))
        except (FileNotFoundError, NotADirectoryError):
            return None
        rows.sort()
        return _SortedDirectory(mtime_ns, [r[0] for r in rows], [r[1] for r in rows])

    def _store(self, directory: str, listing: _SortedDirectory) -> None:
        with self._lock:
            old = self._cache.pop(directory, None)
            if old is not None:
                self._size -= len(old.names)
            self._cache[directory] = listing
            self._size += len(listing.names)
            while self._size > self._max_entries and self._cache:
                _, evicted = self._cache.popitem(last=False)
                self._size -= len(evicted.names)


def settled(mtime_ns: int) -> bool:
    """Whether a directory last changed at ``mtime_ns`` is old enough that any later
    change gets another mtime (see the module docstring)."""
    coarse = mtime_ns % 1_000_000_000 == 0
    settle = _COARSE_SETTLE_SECONDS if coarse else _SETTLE_SECONDS
    return time.time() - mtime_ns / 1e9 > settle


@dataclass(slots=True)  # not frozen: a frozen one costs 3x as much to make, per key listed
class ListedEntry:
    """A key (with the path of its data file) or a common prefix."""

    key: str
    data_path: str | None  # None for a common prefix
    metadata_path: str | None = None


def walk_keys(
    index: DirectoryIndex,
    directory: str,
    metadata_directory: str,
    dir_prefix: str,
    *,
    prefix: str,
    start_after: str,
    roll_up_directories: bool,
) -> Iterator[ListedEntry]:
    """Yield the keys under ``directory`` that start with ``prefix`` and sort after
    ``start_after``, in S3 order.

    With ``roll_up_directories`` (delimiter ``/``), a subdirectory whose keys all
    share a common prefix is yielded once as that prefix instead of being descended,
    provided it really holds an object (empty directories can linger after deletes).
    """
    listing = index.entries(directory)
    if listing is None:
        return
    names = listing.names
    start = first_entry_to_list(names, dir_prefix, prefix, start_after)
    if start is None:
        return
    local_prefix = local_part(dir_prefix, prefix)
    for i in range(start, len(names)):
        name = names[i]
        if local_prefix and not name.startswith(local_prefix):
            return  # sorted: nothing later can match
        key = dir_prefix + name
        fs_name = listing.fs_names[i]
        path = directory + "/" + fs_name
        if not name.endswith("/"):
            if key > start_after:
                yield ListedEntry(key, path, metadata_directory + "/" + fs_name + ".json")
            continue
        if roll_up_directories:
            if key > start_after and _holds_an_object(path):
                yield ListedEntry(key, None)
            continue
        yield from walk_keys(
            index,
            path,
            metadata_directory + "/" + metadata_dir_segment(fs_name),
            key,
            prefix=prefix,
            start_after=start_after,
            roll_up_directories=False,
        )


def _holds_an_object(directory: str) -> bool:
    return any(files for _root, _dirs, files in os.walk(directory))


def start_directory(objects_dir: Path, dir_path: Path) -> str | None:
    """The directory to start walking from, or None when the prefix cannot match."""
    return str(dir_path) if dir_path == objects_dir or dir_path.is_dir() else None


def list_page(
    layout: StoreLayout,
    directories: DirectoryIndex,
    index: LocalIndex,
    bucket: str,
    *,
    prefix: str,
    delimiter: str,
    start_after: str,
    max_keys: int,
) -> ObjectListing:
    """One page of ListObjects: up to ``max_keys`` keys and common prefixes after
    ``start_after``, with each object's size, ETag and date from the metadata cache
    where it still describes the file, else from the file and its sidecar."""
    listing = ObjectListing()
    if max_keys <= 0:
        return listing
    page: list[tuple[ListedEntry, os.stat_result | None]] = []
    for entry in _listed_entries(layout, directories, bucket, prefix, delimiter, start_after):
        if len(page) == max_keys:
            listing.is_truncated = True
            break
        if entry.data_path is None:
            page.append((entry, None))
            continue
        try:
            page.append((entry, os.stat(entry.data_path)))
        except FileNotFoundError:
            continue  # deleted since the directory was read
    rows = index.lookup(bucket, (e.key for e, st in page if st is not None))
    for entry, st in page:
        if st is None:
            listing.common_prefixes.append(entry.key)
        else:
            listing.objects.append(_listed_info(entry, st, rows.get(entry.key)))
        listing.next_marker = entry.key
    return listing


def _listed_info(entry: ListedEntry, st: os.stat_result, row: CacheEntry | None) -> ObjectInfo:
    info = LocalIndex.listed_info(entry.key, st, row)
    if info is not None:
        return info
    assert entry.metadata_path is not None
    document = read_sidecar(entry.metadata_path)
    return object_info(
        entry.key,
        st,
        document,
        lambda synthetic: LocalIndex.md5_of(row, synthetic),
        with_metadata=False,
    )


def _listed_entries(
    layout: StoreLayout,
    directories: DirectoryIndex,
    bucket: str,
    prefix: str,
    delimiter: str,
    start_after: str,
) -> Iterator[ListedEntry]:
    objects_dir = layout.objects_dir(bucket)
    try:
        dir_path, meta_path, dir_prefix = layout.prefix_dirs(bucket, prefix)
    except KeyTooLongError:  # a prefix no key can have (an over-long segment)
        return iter(())
    start = start_directory(objects_dir, dir_path)
    if start is None:
        return iter(())
    walk = walk_keys(
        directories,
        start,
        str(meta_path),
        dir_prefix,
        prefix=prefix,
        start_after=start_after,
        roll_up_directories=delimiter == "/",
    )
    if delimiter and delimiter != "/":
        return roll_up(walk, prefix, delimiter, start_after)
    return walk


def roll_up(
    entries: Iterator[ListedEntry], prefix: str, delimiter: str, start_after: str
) -> Iterator[ListedEntry]:
    """Roll keys up into common prefixes for a delimiter other than ``/``."""
    last_prefix = None
    for entry in entries:
        common = common_prefix(entry.key, prefix, delimiter)
        if common is None:
            yield entry
            continue
        if common != last_prefix and common > start_after:
            last_prefix = common
            yield ListedEntry(common, None)
