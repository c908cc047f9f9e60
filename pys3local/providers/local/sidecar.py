"""Object metadata on disk: sidecar documents, and an object's ``ObjectInfo`` from its
data file's stat and its sidecar.

Also the page-cache-only reads (``RWF_NOWAIT``) that let small HEAD and GET requests
be answered on the event loop.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from pys3local.providers.base import ObjectInfo, ObjectMetadata


def utc_from_ns(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc)


def _synthetic_etag(st: os.stat_result) -> str:
    """An ETag for a file that was put into the directory by other means.

    It is not an MD5 of the content (that would mean reading the whole file on every
    listing), so it carries a ``-1`` suffix: clients such as rclone then know not to
    compare it with a local MD5.
    """
    token = f"{st.st_ino}:{st.st_size}:{st.st_mtime_ns}".encode()
    return hashlib.md5(token, usedforsecurity=False).hexdigest() + "-1"


def object_info(
    key: str,
    st: os.stat_result,
    document: dict[str, object] | None,
    migrated_md5: Callable[[str], str | None] = lambda etag: None,
    *,
    with_metadata: bool = True,
) -> ObjectInfo:
    """Combine a data file's stat with its sidecar, if the sidecar describes it.

    Without one, the ETag is synthetic unless ``migrated_md5`` knows the file's MD5.
    A listing passes ``with_metadata=False``: it shows size, ETag and date only.
    """
    if document is not None and document.get("size") == st.st_size:
        metadata = (
            ObjectMetadata.from_dict(document.get("metadata") or {})  # type: ignore[arg-type]
            if with_metadata
            else ObjectMetadata()
        )
        last_modified = datetime.fromisoformat(str(document["last_modified"]))
        return ObjectInfo(key, st.st_size, str(document["etag"]), last_modified, metadata)
    synthetic = _synthetic_etag(st)
    etag = migrated_md5(synthetic) or synthetic
    return ObjectInfo(key, st.st_size, etag, utc_from_ns(st.st_mtime_ns))


def read_sidecar(path: Path | str) -> dict[str, object] | None:
    try:
        with open(path, "rb") as file:
            return _sidecar_document(file.read())
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None


def _sidecar_document(data: bytes) -> dict[str, object] | None:
    """A sidecar's JSON object; None for anything else (a torn or foreign file)."""
    try:
        document = json.loads(data)
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


#: Sidecars are a few hundred bytes; user metadata is capped at 2 KiB.
_SIDECAR_READ_LIMIT = 16 * 1024


def read_if_cached(fd: int, length: int, offset: int = 0) -> bytes | None:
    """``length`` bytes at ``offset`` if they are all in the page cache, else None.

    ``RWF_NOWAIT`` makes the read fail instead of waiting for the disk, so the event
    loop can afford it; None sends the caller to the thread pool.
    """
    buffer = bytearray(length)
    try:
        got = os.preadv(fd, [buffer], offset, os.RWF_NOWAIT)
    except (BlockingIOError, OSError):
        return None
    return bytes(buffer) if got == length else None


def read_cached_sidecar(path: str) -> dict[str, object] | None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        size = os.fstat(fd).st_size
        data = read_if_cached(fd, size) if 0 < size <= _SIDECAR_READ_LIMIT else None
    finally:
        os.close(fd)
    return None if data is None else _sidecar_document(data)


def metadata_document(info: ObjectInfo, inode: int) -> dict[str, object]:
    return {
        # The data file's inode: a reader that sees the same inode in the sidecar
        # and on the data file knows the two belong together without taking a lock.
        "ino": inode,
        "size": info.size,
        "etag": info.etag,
        "last_modified": info.last_modified.isoformat(),
        "metadata": info.metadata.to_dict(),
    }
