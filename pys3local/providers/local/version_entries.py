"""Reading a key's versions directory: its non-current versions and delete markers,
newest first.

The directory's layout and its crash-safety rules are :mod:`.versions`'s: every
version is ``<name>`` (data) and ``<name>.json`` (its sidecar; a delete marker has
only the sidecar), names sort newest first, a ``null`` version is named
``<inverted time>-null``, temporary files start with a dot. A sidecar whose data
file is gone (a removal interrupted between its two unlinks) is not a version.

This is the per-entry loop of ListObjectVersions, so it works on strings rather than
``Path`` objects and stats each data file once: the stat that proves the data is
there is the one the listing shows (:attr:`Entry.st`).
"""

from __future__ import annotations

import bisect
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pys3local.providers.versioning import NULL_VERSION, ObjectVersion

from .sidecar import object_info, read_sidecar

NULL_SUFFIX = "-null"


def version_id_of(name: str) -> str:
    return NULL_VERSION if name.endswith(NULL_SUFFIX) else name


@dataclass(frozen=True, slots=True)
class Entry:
    """A non-current version or delete marker in a key's versions directory."""

    name: str
    document: dict[str, object]
    #: Its data file's stat, taken when the entry was read (None for a marker).
    st: os.stat_result | None = None

    @property
    def version_id(self) -> str:
        return version_id_of(self.name)

    @property
    def delete_marker(self) -> bool:
        return self.document.get("delete_marker") is True

    def listed(self, key: str, latest: bool) -> ObjectVersion:
        """Its ListObjectVersions entry (a marker's has size 0 and no ETag)."""
        if self.delete_marker:
            moment = datetime.fromisoformat(str(self.document["last_modified"]))
            return ObjectVersion(key, self.version_id, latest, moment, 0, "", True)
        assert self.st is not None  # read_entries stats every version's data
        info = object_info(key, self.st, self.document, with_metadata=False)
        return ObjectVersion(
            key, self.version_id, latest, info.last_modified, info.size, info.etag, False
        )


def read_entries(
    directory: Path | str, current_id: str | None, after: str | None = None
) -> Iterator[Entry]:
    """A key's non-current versions and markers, newest first, without copies of
    ``current_id`` or of an id seen already, nor data-less sidecars; with ``after``,
    only those after that version (found by name: the ones before it are not read),
    nothing if it is not there."""
    try:
        files = os.listdir(directory)
    except (FileNotFoundError, NotADirectoryError):
        return
    names = sorted(f[:-5] for f in files if f.endswith(".json") and not f.startswith("."))
    seen = {current_id} if current_id is not None else set()
    if after is not None:
        if after == NULL_VERSION:
            found = next((i for i, n in enumerate(names) if n.endswith(NULL_SUFFIX)), None)
        else:
            found = bisect.bisect_left(names, after)
            found = found if found < len(names) and names[found] == after else None
        if found is None:
            return
        if any(n.endswith(NULL_SUFFIX) for n in names[: found + 1]):
            seen.add(NULL_VERSION)  # a null version listed already
        names = names[found + 1 :]
    base = f"{directory}/"
    for name in names:
        version_id = version_id_of(name)
        if version_id in seen:
            continue
        document = read_sidecar(base + name + ".json")
        if document is None:
            continue
        st = None
        if document.get("delete_marker") is not True:
            try:
                st = os.stat(base + name)
            except OSError:
                continue  # a removal interrupted between its two unlinks
            if not stat.S_ISREG(st.st_mode):
                continue
        seen.add(version_id)
        yield Entry(name, document, st)
