"""What a local data directory holds: live objects, non-current versions, delete
markers, and the bytes on disk, for the console's dashboard and ``cache stats``.

Two measurements, each one pass over directory listings with one ``stat`` per file
(blocking: run them in a thread):

* :func:`measure_store` walks the whole data directory, as the dashboard's "stored"
  figure always did, and sorts what it meets by where it is (:mod:`.layout`):
  ``<bucket>/objects/`` holds the live objects (the latest version of each key),
  ``<bucket>/.versions/`` the non-current versions and delete markers (:mod:`.versions`).
* :func:`measure_versions` walks only the ``.versions`` trees, so ``cache stats``
  (whose live figures come from the cache database) adds the versions at a cost that
  grows with the number of versions, never with the live objects.

In a key's versions directory a data file ``<name>`` (with its sidecar
``<name>.json``) is a non-current version, and a sidecar without a data file is a
delete marker when it says so (else it is what a removal interrupted between its two
unlinks leaves, and is not counted). Names starting with a dot are temporary files.

Hard links are counted once: a version being kept is, for a moment, linked both as
the current object and in the versions directory (and a commit cut short can leave
such a pair until the key's next write); :func:`measure_store` sees both names and
counts the file once, as the live object. :func:`measure_versions` does not look at
``objects/`` and may count such a pair's version too.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

#: The directories of a bucket (see :mod:`.layout`).
_OBJECTS = "objects"
_VERSIONS = ".versions"


@dataclass(frozen=True, slots=True)
class VersionUsage:
    """Non-current versions and delete markers, and the bytes of the versions."""

    versions: int = 0
    version_bytes: int = 0
    delete_markers: int = 0

    def __add__(self, other: VersionUsage) -> VersionUsage:
        return VersionUsage(
            self.versions + other.versions,
            self.version_bytes + other.version_bytes,
            self.delete_markers + other.delete_markers,
        )


@dataclass(frozen=True, slots=True)
class StoreUsage:
    """A data directory's live objects, its versions, and every byte it stores
    (data, sidecars, uploads in progress; each file once)."""

    objects: int = 0
    object_bytes: int = 0
    noncurrent: VersionUsage = VersionUsage()
    stored_bytes: int = 0


class _Walk:
    """One pass: totals, and the identities of files with several links seen so far."""

    def __init__(self) -> None:
        self.objects = self.object_bytes = self.stored_bytes = 0
        self.versions = VersionUsage()
        self._linked: set[tuple[int, int]] = set()

    def first_sight(self, st: os.stat_result) -> bool:
        """Whether this file is seen for the first time (a hard link: only once)."""
        if st.st_nlink <= 1:
            return True
        identity = (st.st_dev, st.st_ino)
        if identity in self._linked:
            return False
        self._linked.add(identity)
        return True

    def tree(self, top: str, kind: str | None) -> None:
        """Walk ``top``; ``kind`` says what its files are (``objects``, ``.versions``,
        or None: other files, counted in the stored bytes only)."""
        stack = [top]
        while stack:
            directory = stack.pop()
            entries = _listing(directory)
            if kind == _VERSIONS:
                self._versions_dir(directory, entries)
            for entry in entries:
                if _is_dir(entry):
                    stack.append(entry.path)
                else:
                    self.file(entry, kind)

    def file(self, entry: os.DirEntry[str], kind: str | None) -> None:
        """Count one directory entry (not a directory) of a tree of ``kind``."""
        try:
            if not entry.is_file(follow_symlinks=False):
                return
            st = entry.stat(follow_symlinks=False)
        except OSError:  # gone while walking
            return
        if not self.first_sight(st):
            return
        self.stored_bytes += st.st_size
        if kind == _OBJECTS:
            self.objects += 1
            self.object_bytes += st.st_size
        elif kind == _VERSIONS and _is_version_data(entry.name):
            self.versions += VersionUsage(1, st.st_size)

    def _versions_dir(self, directory: str, entries: list[os.DirEntry[str]]) -> None:
        """Count the delete markers of one directory of a versions tree (the versions
        themselves are counted file by file, with the hard-link check)."""
        names = {e.name for e in entries if not e.name.startswith(".") and not _is_dir(e)}
        for name in names:
            lone_sidecar = name.endswith(".json") and name[:-5] not in names
            if lone_sidecar and _says_delete_marker(os.path.join(directory, name)):
                self.versions += VersionUsage(delete_markers=1)


def _is_version_data(name: str) -> bool:
    return not name.startswith(".") and not name.endswith(".json")


def _says_delete_marker(path: str) -> bool:
    try:
        with open(path, "rb") as file:
            document = json.loads(file.read(4096))
    except (OSError, ValueError):
        return False
    return isinstance(document, dict) and document.get("delete_marker") is True


def _listing(directory: str | Path) -> list[os.DirEntry[str]]:
    try:
        return list(os.scandir(directory))
    except OSError:  # missing, or removed while walking
        return []


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


def measure_store(root: Path) -> StoreUsage:
    """Walk the whole data directory ``root`` (all zeros if it is missing)."""
    walk = _Walk()
    entries = _listing(root)
    # Buckets before .pys3local (staging), and in a bucket objects/ before .versions/:
    # a file linked in two places counts once, as the live object or the version.
    for top in sorted(entries, key=lambda e: e.name.startswith(".")):
        if not _is_dir(top):
            walk.file(top, None)
        elif top.name.startswith("."):
            walk.tree(top.path, None)
        else:
            for child in sorted(_listing(top.path), key=lambda e: e.name != _OBJECTS):
                if not _is_dir(child):
                    walk.file(child, None)  # .bucket.json
                    continue
                kind = child.name if child.name in (_OBJECTS, _VERSIONS) else None
                walk.tree(child.path, kind)
    return StoreUsage(walk.objects, walk.object_bytes, walk.versions, walk.stored_bytes)


def measure_versions(root: Path) -> VersionUsage:
    """Walk only the versions trees of ``root``'s buckets (zeros if there are none)."""
    walk = _Walk()
    for bucket in _listing(root):
        versions = os.path.join(bucket.path, _VERSIONS)
        if not bucket.name.startswith(".") and os.path.isdir(versions):
            walk.tree(versions, _VERSIONS)
    return walk.versions
