"""Replacing an object's tags on the local backend without touching its data.

Tags live in the object's sidecar with the rest of its metadata. A new sidecar is
written in this process's staging directory under a ``.tags`` name and renamed over
the old one under the key's exclusive lock, after checking the data file is still
there; readers see the old or the new sidecar, never a torn one, and ETag and
Last-Modified stay as they were (as on AWS). A crash before the rename leaves only a
staging file, which recovery removes with the dead writer's staging directory (it
rolls forward ``.meta`` journal entries only, which this is not).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import stat
from collections.abc import Callable

from pys3local.errors import NoSuchKey
from pys3local.providers.base import ObjectInfo

from .files import fsync_dir, make_parents, write_json
from .layout import StoreLayout
from .locks import StripedLocks
from .sidecar import metadata_document, object_info, read_sidecar
from .staging import StagingArea


def replace_tags(
    layout: StoreLayout,
    locks: StripedLocks,
    staging: StagingArea,
    bucket: str,
    key: str,
    tags: dict[str, str],
    *,
    durable: bool,
    migrated_md5: Callable[[str], str | None],
) -> ObjectInfo:
    """Give the object ``bucket``/``key`` the tag set ``tags``; return its new info.

    The caller has checked that the bucket exists. Raises NoSuchKey.
    """
    paths = layout.object_paths(bucket, key)
    temporary = staging.new_name().with_suffix(".tags")
    try:
        with locks.hold(bucket, key, exclusive=True):
            try:
                st = os.stat(paths.data)
            except (FileNotFoundError, NotADirectoryError):
                raise NoSuchKey(Key=key) from None
            if not stat.S_ISREG(st.st_mode):
                raise NoSuchKey(Key=key)
            info = object_info(key, st, read_sidecar(paths.metadata), migrated_md5)
            metadata = dataclasses.replace(info.metadata, tags=dict(tags))
            info = dataclasses.replace(info, metadata=metadata)
            write_json(temporary, metadata_document(info, st.st_ino), durable=durable)
            make_parents(layout.metadata_dir(bucket), paths.metadata)
            os.rename(temporary, paths.metadata)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    if durable:
        fsync_dir(paths.metadata.parent)
    return info
