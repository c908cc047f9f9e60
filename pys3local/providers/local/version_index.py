"""What ListObjectVersions lists of each key's versions directory, kept in the
metadata cache so that a listing reads one row per key instead of a sidecar per
version.

A key's row holds the directory's identity (inode and mtime) when it was read, and
per version its name, its sidecar's inode and what the listing shows (size, ETag,
date, whether it is a delete marker). Three rules keep a row from ever making a
listing wrong; at worst it costs the directory read it was meant to save:

* A row is used only while the directory has the identity it was read with. Every
  change to a versions directory is a link, rename or unlink in it (:mod:`.versions`),
  which sets the directory's mtime.
* A row is stored only from a directory whose mtime is older than the settle time
  (:func:`.listing.settled`): the directory is stat'ed before it is read, and a
  change after that stat, even one in the same timestamp tick as the change before,
  can only come later than the settle time, so it gives the directory a new mtime.
* Reading a directory again reuses a version's entry only while its sidecar is the
  same file (inode, from the directory read itself). What the listing shows of a
  version never changes; a sidecar rewritten for its retention is a new file and is
  read again.

Rows are written behind by one thread: for every key whose versions directory a
write changed (:meth:`VersionIndex.changed`, from :class:`.versions.VersionStore`)
and for every directory a listing had to read. So a versions tree written through
the API is listed from its rows, as is one that was listed before.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from pys3local.batching import BackgroundBatches
from pys3local.cache import MetadataCache, local_store
from pys3local.cache.version_dirs import VersionDirTable

from .index import file_identity
from .layout import StoreLayout
from .listing import settled
from .sidecar import read_sidecar
from .version_entries import listed, scan, version_id_of

#: One version as a row keeps it: (name, sidecar inode, size, ETag, date in ISO
#: form, delete marker). Lists rather than tuples: what JSON gives back.
VersionRow = list
#: Keys with more versions than this are not kept (their row would be rewritten
#: whole at every change); they are listed from their directory.
MAX_ROW_VERSIONS = 10_000
#: A key's row is stored anew once its directory has had no change from this process
#: for this long, or at the latest this long after its first change since the last
#: time: a key overwritten many times a second is read once, not once per write.
_QUIET_SECONDS = 1.0
_MAX_DELAY_SECONDS = 10.0
#: How long a refresh waits for a directory another process keeps changing.
_REFRESH_PATIENCE = 30.0
_GATHER_SECONDS = 0.5


def read_directory(directory: str, known: dict[str, VersionRow]) -> list[VersionRow] | None:
    """The versions and markers in a key's versions directory, by name (newest
    first); a version in ``known`` with the same sidecar inode is not read again.
    None when there is no such directory."""
    scanned = scan(directory)
    if scanned is None:
        return None
    sidecars, files = scanned
    rows: list[VersionRow] = []
    for name in sorted(sidecars):
        inode = sidecars[name]
        row = known.get(name)
        if row is None or row[1] != inode:
            row = _read_version(directory, name, inode)
            if row is None:
                continue
        if name in files or row[5]:
            rows.append(row)  # else a removal interrupted between its two unlinks
    return rows


def _read_version(directory: str, name: str, inode: int) -> VersionRow | None:
    document = read_sidecar(f"{directory}/{name}.json")
    if document is None:
        return None
    entry = listed("", version_id_of(name), document, False, directory, name)
    if entry is None:
        return None
    moment = entry.last_modified.isoformat()
    return [name, inode, entry.size, entry.etag, moment, entry.delete_marker]


def encode(rows: list[VersionRow]) -> str:
    return json.dumps(rows, separators=(",", ":"))


_SCAN = json.JSONDecoder().scan_once


def decode(text: str) -> list[VersionRow] | None:
    """The versions :func:`encode` wrote; None for anything else (then the directory
    is read, as without a row)."""
    try:
        # The scanner alone: what encode() writes has no surrounding whitespace.
        rows, end = _SCAN(text, 0)
    except (StopIteration, ValueError):
        return None
    if end != len(text) or type(rows) is not list:
        return None
    for row in rows:
        if type(row) is not list or len(row) != 6:
            return None
    return rows


class VersionIndex:
    """The versions directories' rows of one data directory. Without a cache every
    method still works: listings read the directories, and nothing is kept."""

    def __init__(self, cache: MetadataCache | None, base_path: Path, layout: StoreLayout) -> None:
        self._layout = layout
        self._table: VersionDirTable | None = None
        if cache is not None:
            store = local_store(base_path)
            self._view = cache.view(0, store)
            self._table = VersionDirTable(cache, 0, store)
        # Items: ("store", bucket, key, dir_id, entries) from a listing, or
        # ("refresh", bucket, key) after a write.
        self._queue: BackgroundBatches[tuple] = BackgroundBatches(
            self._write, interval=_GATHER_SECONDS, name="pys3local-version-index"
        )
        #: Keys with a refresh queued: (first, last) change since, monotonic seconds.
        self._changes: dict[tuple[str, str], tuple[float, float]] = {}
        self._changes_lock = threading.Lock()

    def lookup(self, bucket: str, keys: Iterable[str]) -> dict[str, tuple[str, str]]:
        """The rows of these keys that exist: ``{key: (dir_id, entries)}``."""
        if self._table is None:
            return {}
        return self._view.call({}, self._table.get_many, bucket, keys)

    def versions(
        self, bucket: str, key: str, directory: str, row: tuple[str, str] | None
    ) -> list[VersionRow]:
        """The versions in ``directory`` (``key``'s), from ``row`` if it still
        describes the directory, else read (and the row queued for storing)."""
        try:
            st = os.stat(directory)
        except (FileNotFoundError, NotADirectoryError):
            return []
        identity = file_identity(st)
        known_rows = decode(row[1]) if row is not None else None
        if known_rows is not None and row is not None and row[0] == identity:
            return known_rows
        known = {r[0]: r for r in known_rows or ()}
        rows = read_directory(directory, known)
        if rows is None:
            return []
        if self._table is not None and len(rows) <= MAX_ROW_VERSIONS and settled(st.st_mtime_ns):
            self._submit(("store", bucket, key, identity, encode(rows)))
        return rows

    def changed(self, bucket: str, key: str) -> None:
        """A write changed ``key``'s versions directory: store its row anew, once
        the key has had no change for a moment (see :data:`_QUIET_SECONDS`)."""
        if self._table is None:
            return
        now = time.monotonic()
        with self._changes_lock:
            earlier = self._changes.get((bucket, key))
            self._changes[(bucket, key)] = (earlier[0] if earlier else now, now)
        if earlier is None:
            self._submit(("refresh", bucket, key))

    def flush(self) -> None:
        self._queue.flush()

    def close(self) -> None:
        self._queue.close()

    def _submit(self, item: tuple) -> None:
        if not self._queue.submit(item) and item[0] == "refresh":
            # Far behind (a stuck database): a row is only an accelerator, so the
            # refresh is dropped, and with it the key's wait (the next change of the
            # key queues one again; a listing stores the row meanwhile).
            with self._changes_lock:
                self._changes.pop((item[1], item[2]), None)

    def _write(self, batch: list[tuple]) -> None:
        assert self._table is not None
        stored: dict[tuple[str, str], tuple[str, str]] = {}
        due: list[tuple[str, str]] = []
        now = time.monotonic()
        for item in batch:
            if item[0] == "store":
                stored[(item[1], item[2])] = (item[3], item[4])
                continue
            key = (item[1], item[2])
            with self._changes_lock:
                first, last = self._changes.get(key, (now, now))
                wait = now - last < _QUIET_SECONDS and now - first < _MAX_DELAY_SECONDS
            if wait:
                self._submit(item)  # changed again lately: wait for it to go quiet
                continue
            with self._changes_lock:
                self._changes.pop(key, None)
            due.append(key)
        due_by_bucket: dict[str, list[str]] = {}
        for bucket, key in due:
            due_by_bucket.setdefault(bucket, []).append(key)
        for bucket, keys in due_by_bucket.items():  # read last: the newest state
            old_rows = self.lookup(bucket, keys)
            for key in keys:
                row = self._refreshed(bucket, key, old_rows.get(key))
                if row is not None:
                    stored[(bucket, key)] = row
        by_bucket: dict[str, list[tuple[str, str, str, str]]] = {}
        for (bucket, key), (dir_id, entries) in stored.items():
            by_bucket.setdefault(bucket, []).append((bucket, key, dir_id, entries))
        for rows in by_bucket.values():
            self._view.call(0, self._table.put_many, rows)

    def _refreshed(
        self, bucket: str, key: str, old: tuple[str, str] | None
    ) -> tuple[str, str] | None:
        """A changed key's new row (``old`` its row so far), if its directory has
        settled; else the key waits again (a change by another process: for at most
        :data:`_REFRESH_PATIENCE`)."""
        assert self._table is not None
        directory = str(self._layout.key_versions_dir(bucket, key))
        try:
            st = os.stat(directory)
        except (FileNotFoundError, NotADirectoryError):
            self._view.call(0, self._table.delete_many, bucket, [key])
            return None
        if not settled(st.st_mtime_ns):
            if 0 <= time.time() - st.st_mtime_ns / 1e9 < _REFRESH_PATIENCE:
                self.changed(bucket, key)
            return None
        known = {r[0]: r for r in (decode(old[1]) if old is not None else None) or ()}
        rows = read_directory(directory, known)
        if rows is None or len(rows) > MAX_ROW_VERSIONS:
            return None
        return file_identity(st), encode(rows)
