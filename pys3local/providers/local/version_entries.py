"""Reading a key's versions directory: its non-current versions and delete markers,
newest first.

The directory's layout and its crash-safety rules are :mod:`.versions`'s: every
version is ``<name>`` (data) and ``<name>.json`` (its sidecar; a delete marker has
only the sidecar), names sort newest first, a ``null`` version is named
``<inverted time>-null``, temporary files start with a dot. A sidecar whose data
file is gone (a removal interrupted between its two unlinks) is not a version.

A directory is read once (:func:`scan`: ``os.scandir``, whose entries carry their
file type and inode), which both names the sidecars and proves which data files are
there, so no version's data file is stat'ed. A version's data file never
changes once it is in the directory (only renames and unlinks touch it), so the
size, ETag and date its sidecar records are the ones a stat would confirm.
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pys3local.providers.versioning import NULL_VERSION, ObjectVersion

from .sidecar import object_info, read_sidecar

NULL_SUFFIX = "-null"

_fromisoformat = datetime.fromisoformat


def version_id_of(name: str) -> str:
    return NULL_VERSION if name.endswith(NULL_SUFFIX) else name


@dataclass(frozen=True, slots=True)
class Entry:
    """A non-current version or delete marker in a key's versions directory."""

    name: str
    document: dict[str, object]

    @property
    def version_id(self) -> str:
        return version_id_of(self.name)

    @property
    def delete_marker(self) -> bool:
        return self.document.get("delete_marker") is True


def listed(
    key: str,
    version_id: str,
    document: dict[str, object],
    latest: bool,
    directory: str,
    name: str,
) -> ObjectVersion | None:
    """The ListObjectVersions entry of a non-current version or marker (a marker's
    has size 0 and no ETag) from its sidecar ``document``. Its data file (``name`` in
    ``directory``) is stat'ed only when the sidecar records no size (not one we wrote): None
    if that file is gone by then."""
    if document.get("delete_marker") is True:
        moment = _fromisoformat(str(document["last_modified"]))
        return ObjectVersion(key, version_id, latest, moment, 0, "", True)
    size = document.get("size")
    if type(size) is int:
        moment = _fromisoformat(str(document["last_modified"]))
        return ObjectVersion(key, version_id, latest, moment, size, str(document["etag"]), False)
    try:
        st = os.stat(f"{directory}/{name}")
    except OSError:
        return None
    info = object_info(key, st, document, with_metadata=False)
    return ObjectVersion(key, version_id, latest, info.last_modified, info.size, info.etag, False)


def listing_start(
    names: Sequence[str], current_id: str | None, after: str | None
) -> tuple[int, set[str]] | None:
    """Where a key's listing of its sorted version ``names`` starts (after version
    ``after``; from the first without it), and the ids it must not list again: the
    current version's, and ``null`` once a null version was listed before ``after``.
    None if ``after`` is not there."""
    seen = {current_id} if current_id is not None else set()
    if after is None:
        return 0, seen
    if after == NULL_VERSION:
        found_at = next((i for i, n in enumerate(names) if n.endswith(NULL_SUFFIX)), None)
    else:
        found_at = bisect.bisect_left(names, after)
        found_at = found_at if found_at < len(names) and names[found_at] == after else None
    if found_at is None:
        return None
    if any(n.endswith(NULL_SUFFIX) for n in names[: found_at + 1]):
        seen.add(NULL_VERSION)
    return found_at + 1, seen


def read_entries(
    directory: Path | str, current_id: str | None, after: str | None = None
) -> Iterator[Entry]:
    """A key's non-current versions and markers, newest first, without copies of
    ``current_id`` or of an id seen already, nor data-less sidecars; with ``after``,
    only those after that version (found by name: the ones before it are not read),
    nothing if it is not there."""
    for name, _version_id, document in read_documents(directory, current_id, after):
        yield Entry(name, document)


def scan(directory: Path | str) -> tuple[dict[str, int], set[str]] | None:
    """One read of a key's versions directory: its version names with their sidecar's
    inode, and the names that have a data file; None if there is no such directory.
    Temporary files (a leading dot) are left out."""
    sidecars: dict[str, int] = {}
    files: set[str] = set()
    try:
        with os.scandir(directory) as it:
            for found in it:
                name = found.name
                if name.startswith("."):
                    continue
                if name.endswith(".json"):
                    sidecars[name[:-5]] = found.inode()
                try:
                    # Free unless the type is unknown or a symlink, which (as a stat
                    # would) is followed; a version's data is a regular file.
                    if found.is_file():
                        files.add(name)
                except OSError:
                    pass
    except (FileNotFoundError, NotADirectoryError):
        return None
    return sidecars, files


def read_documents(
    directory: Path | str, current_id: str | None, after: str | None = None
) -> Iterator[tuple[str, str, dict[str, object]]]:
    """:func:`read_entries` as ``(name, version id, sidecar document)`` tuples."""
    scanned = scan(directory)
    if scanned is None:
        return
    names, files = sorted(scanned[0]), scanned[1]
    started = listing_start(names, current_id, after)
    if started is None:
        return
    start, seen = started
    base = f"{directory}/"
    for name in names[start:]:
        version_id = version_id_of(name)
        if version_id in seen:
            continue
        document = read_sidecar(base + name + ".json")
        if document is None:
            continue
        if name not in files and document.get("delete_marker") is not True:
            continue  # a removal interrupted between its two unlinks
        seen.add(version_id)
        yield name, version_id, document
