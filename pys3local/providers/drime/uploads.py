"""Getting bytes into Drime: spooling a request body, then a simple or multipart upload.

A body is first streamed into an anonymous temporary file in a private directory
(``tempfile.mkdtemp``, mode 0700; the file itself has no name on Linux), hashing it
on the way. That gives the size Drime wants up front, lets a Content-MD5 mismatch
be refused before anything is stored, and lets a failed upload be retried from
the start. Memory stays at one :data:`IO_CHUNK` per transfer; the file is gone when
the upload ends, however it ends.

Small files use ``POST /uploads``; larger ones Drime's multipart upload (presigned
part PUTs straight to its object store), which also avoids the ~100 MiB request
limit in front of ``/uploads``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import os
import tempfile
from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import BinaryIO

from pys3local.providers.streams import IO_CHUNK, batched

from .client import DrimeClient
from .models import DriveEntry, MultipartSession
from .transport import DrimeAPIError, DrimeError, DrimeUnavailable

log = logging.getLogger("pys3local.drime")

MiB = 1024 * 1024
#: Files up to this size go through ``POST /uploads``.
SIMPLE_UPLOAD_LIMIT = 32 * MiB
#: Part size of our own multipart uploads (grown for files over 10,000 parts).
PART_SIZE = 16 * MiB
MAX_PARTS = 10_000
#: Parts of one upload in flight at once.
PART_CONCURRENCY = 4
#: Uploads that Drime took but reported wrong (size, no users) are redone this often.
_VERIFY_ATTEMPTS = 3


class SpooledBody:
    """A body on local disk: its size, MD5, and async readers over any span of it."""

    def __init__(self, file: BinaryIO) -> None:
        self._file = file
        self.size = 0
        self.md5 = hashlib.md5(usedforsecurity=False)

    def _write(self, data: bytes | bytearray) -> None:
        self._file.write(data)
        self.md5.update(data)
        self.size += len(data)

    def reader(
        self, offset: int = 0, length: int | None = None
    ) -> Callable[[], AsyncIterator[bytes]]:
        """A factory of fresh async iterators over ``length`` bytes from ``offset``
        (a retry calls it again and re-reads from the start of the span)."""
        fd = self._file.fileno()
        total = self.size - offset if length is None else length

        async def chunks() -> AsyncIterator[bytes]:
            position, remaining = offset, total
            while remaining > 0:
                data = await asyncio.to_thread(os.pread, fd, min(IO_CHUNK, remaining), position)
                if not data:
                    raise OSError("spool file ended early")
                position += len(data)
                remaining -= len(data)
                yield data

        return chunks

    def close(self) -> None:
        self._file.close()


async def spool(body: AsyncIterable[bytes], directory: str) -> SpooledBody:
    """Stream ``body`` to an anonymous file in ``directory``; on failure leave nothing."""
    file = await asyncio.to_thread(tempfile.TemporaryFile, dir=directory)
    spooled = SpooledBody(file)
    try:
        async for data in batched(body):
            await asyncio.to_thread(spooled._write, data)
        await asyncio.to_thread(file.flush)
    except BaseException:
        spooled.close()
        raise
    return spooled


def private_spool_dir(parent: str | None = None) -> str:
    """A fresh directory only this user can enter (mkdtemp creates it 0700)."""
    return tempfile.mkdtemp(prefix="pys3local-drime-", dir=parent)


def part_size_for(size: int, preferred: int = PART_SIZE) -> int:
    """The smallest whole-MiB part size >= ``preferred`` that needs <= 10,000 parts."""
    needed = math.ceil(size / MAX_PARTS) if size else preferred
    return max(preferred, math.ceil(needed / MiB) * MiB)


class Uploader:
    """Uploads spooled bodies as new file entries (it never replaces: see provider)."""

    def __init__(
        self,
        client: DrimeClient,
        *,
        simple_limit: int = SIMPLE_UPLOAD_LIMIT,
        part_size: int = PART_SIZE,
        concurrency: int = PART_CONCURRENCY,
    ) -> None:
        self._client = client
        self.simple_limit = simple_limit
        self.part_size = part_size
        self.concurrency = concurrency

    async def upload(
        self, body: SpooledBody, name: str, parent_id: int, mime: str
    ) -> tuple[DriveEntry, bool]:
        """Create a new entry ``name`` in ``parent_id`` holding the spooled bytes.

        Returns the entry and whether an earlier attempt may have left an entry of
        the name that nobody has seen (so the replace step must list afresh).
        """
        if body.size <= self.simple_limit:
            return await self._simple(body, name, parent_id, mime)
        return await self.multipart(body, name, parent_id, mime), False

    async def _simple(
        self, body: SpooledBody, name: str, parent_id: int, mime: str
    ) -> tuple[DriveEntry, bool]:
        # An ambiguous failure (Drime may have stored it) is retried too: the
        # caller's replace step deletes every older entry of the name afterwards,
        # so a ghost from the failed attempt cannot survive a later success.
        last_error: DrimeError | None = None
        uncertain = False
        for _attempt in range(_VERIFY_ATTEMPTS):
            try:
                entry = await self._client.upload_simple(
                    name, parent_id or None, body.size, mime, body.reader()
                )
            except DrimeUnavailable as exc:
                if not exc.ambiguous:
                    raise
                log.warning("upload of %r failed ambiguously (%s); retrying", name, exc)
                last_error = exc
                uncertain = True
                continue
            if entry.file_size == body.size and entry.user_count > 0:
                return entry, uncertain
            # pydrime's check: a good upload reports its size and its owner.
            log.warning(
                "Drime stored %r incompletely (%d of %d bytes, %d users); uploading again",
                name,
                entry.file_size,
                body.size,
                entry.user_count,
            )
            await self._client.delete_entries([entry.id], forever=True)
            last_error = DrimeAPIError(f"Drime kept storing {name!r} incompletely")
        assert last_error is not None
        raise last_error

    async def multipart(
        self, body: SpooledBody, name: str, parent_id: int, mime: str
    ) -> DriveEntry:
        part_size = part_size_for(body.size, self.part_size)
        count = max(1, math.ceil(body.size / part_size))
        session = await self._client.multipart_create(name, parent_id or None, body.size, mime)
        try:
            urls = await self._client.sign_parts(session, list(range(1, count + 1)))
            limit = asyncio.Semaphore(self.concurrency)

            async def send(number: int) -> tuple[int, str]:
                offset = (number - 1) * part_size
                length = min(part_size, body.size - offset)
                async with limit:
                    etag = await self._client.put_part(
                        urls[number], length, body.reader(offset, length)
                    )
                return number, etag

            parts = await asyncio.gather(*(send(n) for n in range(1, count + 1)))
            await self.complete(session, sorted(parts))
        except BaseException:
            await self.abort(session)
            raise
        return await self.entry_for(session, name, parent_id, body.size, mime)

    async def complete(self, session: MultipartSession, parts: list[tuple[int, str]]) -> None:
        """Complete a store upload. The call is retried on 5xx; a retry whose first
        attempt did go through finds the upload gone (404), which means done: if it
        really was not, creating the entry fails next, loudly."""
        try:
            await self._client.multipart_complete(session, parts)
        except DrimeAPIError as exc:
            if exc.status != 404:
                raise
            log.warning("multipart complete answered 404; assuming a retry of a done call")

    async def entry_for(
        self, session: MultipartSession, name: str, parent_id: int, size: int, mime: str
    ) -> DriveEntry:
        """Create the entry for a completed store upload, reconciling an ambiguous
        failure by looking for an entry that already points at the stored bytes."""
        for attempt in range(2):
            try:
                return await self._client.create_entry(session, name, parent_id or None, size, mime)
            except DrimeUnavailable as exc:
                if not exc.ambiguous or attempt == 1:
                    raise
                existing = await self._find_by_disk_name(parent_id, session.disk_name)
                if existing is not None:
                    return existing
        raise AssertionError("unreachable")  # pragma: no cover

    async def _find_by_disk_name(self, parent_id: int, disk_name: str) -> DriveEntry | None:
        for entry in await self._client.list_all(parent_id or None):
            if entry.file_name == disk_name and entry.deleted_at is None:
                return entry
        return None

    async def abort(self, session: MultipartSession) -> None:
        try:
            await self._client.multipart_abort(session)
        except DrimeError as exc:
            log.warning("could not abort Drime multipart upload %s: %s", session.upload_id, exc)
