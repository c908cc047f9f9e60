"""Write and delete conditions on the local backend, checked against a key's current
object under the key's exclusive lock, in the same hold as the write or delete they
guard (:class:`~.commit.Commit`, :func:`~.commit.remove_object`,
:meth:`~.versions.VersionStore.add_marker`), so no writer in any process can come
between the check and the change.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable

from pys3local.providers.conditions import WriteCondition

from .layout import ObjectPaths
from .sidecar import object_info, read_sidecar


def current_etag(key: str, paths: ObjectPaths, migrated: Callable[[str], str | None]) -> str | None:
    """The ETag of the key's current object; None if it has none (no data file, a
    directory of longer keys, or, in a versioned bucket, a delete marker as its latest
    version: the marker moved the data out of ``objects/``). Call with the lock held."""
    try:
        st = os.stat(paths.data)
    except (FileNotFoundError, NotADirectoryError):
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    info = object_info(key, st, read_sidecar(paths.metadata), migrated, with_metadata=False)
    return info.etag


def condition_check(
    condition: WriteCondition | None,
    key: str,
    paths: ObjectPaths,
    migrated: Callable[[str], str | None],
) -> Callable[[], None] | None:
    """What a commit runs under the key's lock before it replaces anything: raise
    unless the current object allows the write (None: no condition).

    Without If-Match only whether there is an object matters, so the metadata
    cache is never asked for a hand-placed file's MD5: such a check is a ``stat``
    and a small read, cheap enough for the event loop (the inline small write path
    commits from there; an If-Match write is committed from the pool instead).
    """
    if condition is None:
        return None
    if condition.if_match is None:
        migrated = _unknown
    return lambda: condition.check(key, current_etag(key, paths, migrated))


def _unknown(synthetic_etag: str) -> None:
    return None
