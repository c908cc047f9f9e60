"""What a versioned key's files say after a commit cut short, and the temporary
files a crash leaves in versions directories.

A commit renames the new data file into ``objects/`` before its sidecar
(:mod:`.commit`). Until the sidecar follows (recovery rolls it forward after a
crash; a journal whose owner still holds its lock waits), the sidecar in ``objects/``
describes the version before. Whoever reads the current version of a versioned key
must then not take its data for a nameless ``null`` version (that would list it twice,
and keeping it before the next write would make a copy with a made-up ETag): the
data's own metadata is known. A version committed back from the versions directory
(the removal of the latest one) is a hard link of its entry there, whose sidecar
describes it; any other commit left its journal entry in a staging directory.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .layout import StoreLayout
from .sidecar import read_sidecar

#: The name of a file being linked or written into a versions directory before it is
#: renamed to its version's name (the ``{}`` is 12 random hex digits).
TEMPORARY = ".{}"
_TEMPORARY = re.compile(r"\.[0-9a-f]{12}")


def describes(document: dict[str, object] | None, st: os.stat_result) -> bool:
    """Whether a sidecar ``document`` describes the data file ``st`` (one written
    before sidecars named their data file's inode: by its size alone)."""
    return (
        document is not None
        and document.get("ino", st.st_ino) == st.st_ino
        and document.get("size") == st.st_size
    )


def linked_entry(directory: Path, st: os.stat_result) -> dict[str, object] | None:
    """The sidecar of the version in ``directory`` (a key's versions directory) whose
    data file is the file ``st``, if there is one."""
    try:
        names = os.listdir(directory)
    except (FileNotFoundError, NotADirectoryError):
        return None
    for name in sorted(names):
        if name.startswith(".") or name.endswith(".json"):
            continue
        try:
            linked = os.lstat(directory / name)
        except OSError:
            continue
        if (linked.st_ino, linked.st_dev) == (st.st_ino, st.st_dev):
            document = read_sidecar(directory / (name + ".json"))
            if describes(document, st):
                return document
    return None


def journal_entry(
    layout: StoreLayout, bucket: str, key: str, st: os.stat_result
) -> dict[str, object] | None:
    """The metadata in the journal entry of a commit of ``bucket``/``key`` whose data
    rename made ``st`` the current data file and whose sidecar rename is still due."""
    for meta in layout.staging.glob("*/*.meta"):
        if meta.with_suffix(".data").exists():
            continue  # its data file was never renamed in: not this one
        document = read_sidecar(meta)
        if (
            document is not None
            and document.get("bucket") == bucket
            and document.get("key") == key
            and describes(document, st)
        ):
            return {k: v for k, v in document.items() if k not in ("bucket", "key")}
    return None


def remove_temporaries(layout: StoreLayout) -> int:
    """Remove the temporary files (:data:`TEMPORARY` names only) that writers killed
    mid-link left in the versions directories; returns how many.

    Call only when no other process writes to the store (at start, when recovery
    found no live writer): a live writer's temporary file is about to be renamed.
    """
    removed = 0
    try:
        buckets = [e for e in os.scandir(layout.root) if not e.name.startswith(".")]
    except FileNotFoundError:
        return 0
    for bucket in buckets:
        if not bucket.is_dir(follow_symlinks=False):
            continue
        versions = layout.versions_dir(bucket.name)
        for directory, _dirs, files in os.walk(versions):
            for name in files:
                if _TEMPORARY.fullmatch(name):
                    try:
                        os.unlink(os.path.join(directory, name))
                        removed += 1
                    except FileNotFoundError:
                        pass
    return removed
