"""Object metadata on disk: sidecar documents, and an object's ``ObjectInfo`` from its
data file's stat and its sidecar.

Also the page-cache-only reads (``RWF_NOWAIT``) that let small HEAD and GET requests
be answered on the event loop.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from pys3local.providers.base import ObjectInfo, ObjectMetadata, ObjectReader, RangeRequest


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
        version_id = document.get("version_id")
        return ObjectInfo(
            key,
            st.st_size,
            str(document["etag"]),
            last_modified,
            metadata,
            version_id if isinstance(version_id, str) else None,
        )
    synthetic = _synthetic_etag(st)
    etag = migrated_md5(synthetic) or synthetic
    return ObjectInfo(key, st.st_size, etag, utc_from_ns(st.st_mtime_ns))


_DECODER = json.JSONDecoder()
_SCAN = _DECODER.scan_once


def read_sidecar(path: Path | str) -> dict[str, object] | None:
    # os.open/os.read rather than open(): no buffered file object to build, which
    # is a good part of the cost of a listing that reads a sidecar per entry.
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None
    try:
        data = os.read(fd, _SIDECAR_READ_LIMIT)
        if len(data) == _SIDECAR_READ_LIMIT:  # larger than any we write: read it all
            data += b"".join(iter(lambda: os.read(fd, _SIDECAR_READ_LIMIT), b""))
    except IsADirectoryError:
        return None
    finally:
        os.close(fd)
    return _sidecar_document(data)


def _sidecar_document(data: bytes) -> dict[str, object] | None:
    """A sidecar's JSON object; None for anything else (a torn or foreign file)."""
    try:  # we write UTF-8: the decoder straight away, without json.loads's sniffing
        text = data.decode()
        try:
            # The scanner alone parses what we write (no surrounding whitespace) for
            # a good part less than decode(); anything else gets decode()'s answer.
            document, end = _SCAN(text, 0)
        except (StopIteration, ValueError):
            end = -1
        if end != len(text):
            document = _DECODER.decode(text)
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


def cached_object_info(key: str, data: str, metadata: str) -> ObjectInfo | None:
    """An object's info from its data file and sidecar if the sidecar is cached and
    describes that file; None sends the caller to the full (blocking) read."""
    try:
        st = os.stat(data)
    except OSError:
        return None
    document = read_cached_sidecar(metadata)
    if document is None or document.get("ino") != st.st_ino or not stat.S_ISREG(st.st_mode):
        return None
    return object_info(key, st, document)


def cached_small_reader(
    key: str, data: str, metadata: str, byte_range: RangeRequest | None, *, limit: int
) -> ObjectReader | None:
    """The whole answer to a GET of at most ``limit`` bytes, read from the page cache;
    None when anything is missing, uncached or larger."""
    try:
        fd = os.open(data, os.O_RDONLY)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        document = read_cached_sidecar(metadata)
        # The open descriptor pins one version of the data; a sidecar naming its
        # inode describes that version.
        if document is None or document.get("ino") != st.st_ino:
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        info = object_info(key, st, document)
        span = byte_range.resolve(info.size) if byte_range is not None else None
        start, length = (span.start, span.length) if span is not None else (0, info.size)
        if length > limit:
            return None
        body = read_if_cached(fd, length, start) if length else b""
        return None if body is None else ObjectReader(info, byte_range=span, body=body)
    finally:
        os.close(fd)


def metadata_document(info: ObjectInfo, inode: int) -> dict[str, object]:
    # Only a version written in a versioned bucket names its id: every other sidecar
    # stays exactly as it was (the version without an id is the "null" version).
    extra: dict[str, object] = {}
    if info.version_id is not None:
        extra["version_id"] = info.version_id
    return {
        # The data file's inode: a reader that sees the same inode in the sidecar
        # and on the data file knows the two belong together without taking a lock.
        "ino": inode,
        "size": info.size,
        "etag": info.etag,
        "last_modified": info.last_modified.isoformat(),
        "metadata": info.metadata.to_dict(),
        **extra,
    }
