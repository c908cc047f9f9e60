"""Object writes and lookups of the Drime backend: find, put, replace, delete, copy.

Replacing is the one subtle part. Drime keeps every upload as a new entry, even
under a name that exists, so a PUT uploads first and then deletes the entries of
that name that are *older* (lower id) than its own. Two PUTs racing on one key
therefore end with exactly the later entry, whichever finishes its clean-up first,
and a reader that meets two entries mid-overwrite takes the newest.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable
from typing import Protocol

from pys3local.errors import BadDigest, InvalidArgument, MetadataTooLarge, NoSuchKey
from pys3local.providers.base import ObjectInfo, ObjectMetadata

from .client import DrimeClient
from .description import check_fits, describe, parse
from .folders import FolderTree
from .metacache import DrimeMetadata
from .models import DriveEntry
from .s3errors import translated
from .transport import DrimeError, DrimeUnavailable
from .uploads import Uploader, spool

log = logging.getLogger("pys3local.drime")

_BAD_SEGMENTS = ("", ".", "..")


def split_key(key: str, *, for_write: bool = False) -> tuple[list[str], str]:
    """A key's folder names and file name.

    Raises InvalidArgument for a key Drime cannot hold (an empty, ``.`` or ``..``
    segment, e.g. ``a//b`` or a trailing ``/``) when writing, NoSuchKey otherwise.
    """
    segments = key.split("/")
    if any(s in _BAD_SEGMENTS for s in segments):
        if for_write:
            raise InvalidArgument(
                "Drime cannot store a key with an empty, '.' or '..' path segment "
                "(such as 'a//b' or a trailing '/').",
                ArgumentName="key",
            )
        raise NoSuchKey(Key=key)
    return segments[:-1], segments[-1]


class ObjectHost(Protocol):
    """What :class:`ObjectOps` uses of its provider (``DrimeStorageProvider``)."""

    client: DrimeClient
    tree: FolderTree
    metadata: DrimeMetadata
    uploader: Uploader
    delete_forever: bool

    async def bucket_id(self, bucket: str) -> int: ...

    def metadata_of(self, entry: DriveEntry) -> ObjectMetadata: ...


class ObjectOps:
    """Object operations over a provider's folder tree, client and cache."""

    def __init__(self, provider: ObjectHost, spool_dir: str) -> None:
        self._p = provider
        self._spool_dir = spool_dir

    async def find(self, bucket: str, key: str, *, fresh: bool = False) -> DriveEntry:
        """The newest entry of ``key``. Raises NoSuchBucket, NoSuchKey."""
        bucket_id = await self._p.bucket_id(bucket)
        folders, name = split_key(key)
        async with translated():
            folder_id = await self._p.tree.resolve(bucket_id, folders, create=False)
            if folder_id is None:
                raise NoSuchKey(Key=key)
            entry = (await self._p.tree.children(folder_id, fresh=fresh)).files.get(name)
        if entry is None:
            raise NoSuchKey(Key=key)
        return entry

    async def put(
        self,
        bucket: str,
        key: str,
        body: AsyncIterable[bytes],
        metadata: ObjectMetadata,
        content_md5: bytes | None,
    ) -> ObjectInfo:
        bucket_id = await self._p.bucket_id(bucket)
        folders, name = split_key(key, for_write=True)
        check_fits(metadata)  # before a byte is read or stored
        spooled = await spool(body, self._spool_dir)
        try:
            if content_md5 is not None and spooled.md5.digest() != content_md5:
                raise BadDigest()
            async with translated():
                folder_id = await self._p.tree.resolve(bucket_id, folders, create=True)
                assert folder_id is not None
                entry, uncertain = await self._p.uploader.upload(
                    spooled, name, folder_id, metadata.content_type
                )
                entry = await self.describe_new(folder_id, entry, metadata, None)
                await self.replace(folder_id, entry, fresh=uncertain)
        finally:
            await asyncio.to_thread(spooled.close)
        md5 = spooled.md5.hexdigest()
        await self._p.metadata.record(bucket, key, entry, md5)
        return ObjectInfo(key, entry.file_size, entry.etag, entry.modified, metadata)

    async def describe(
        self,
        entry: DriveEntry,
        metadata: ObjectMetadata | None,
        etag: str | None,
        *,
        name: str | None = None,
    ) -> DriveEntry:
        """Keep ``metadata`` and the multipart ``etag`` in ``entry``'s description
        (renaming it to ``name`` in the same call); return the updated entry.

        Nothing is sent when the description already says it. Raises MetadataTooLarge
        when Drime does not give the description back exactly as sent (it would have
        dropped metadata), and DrimeError when the call fails.
        """
        wanted = describe(metadata, etag, entry.mime or None)
        current = entry.description.strip()
        if not wanted and parse(current) == parse(""):
            # Nothing to keep, and what is there is not ours (a note written in
            # Drime's web app, carried over by a copy): leave it alone.
            wanted = current
        if wanted == current and name in (None, entry.name):
            return entry
        updated = await self._p.client.update_entry(entry.id, name=name, description=wanted)
        if updated.id != entry.id:  # an answer without the entry: read it back
            updated = await self._p.client.get_entry(entry.id)
        if updated.description.strip() != wanted:
            raise MetadataTooLarge(
                f"Drime kept {len(updated.description)} of the {len(wanted)} characters of "
                "this object's metadata, so it cannot be stored with the file."
            )
        return updated

    async def describe_new(
        self,
        folder_id: int,
        entry: DriveEntry,
        metadata: ObjectMetadata | None,
        etag: str | None,
        *,
        name: str | None = None,
    ) -> DriveEntry:
        """:meth:`describe` for an entry this request just made: if its metadata
        cannot be kept, the entry is removed again (the older version, if any, stays
        the object) and the error raised, so an object never exists without it."""
        try:
            return await self.describe(entry, metadata, etag, name=name)
        except BaseException:
            try:
                await self._p.client.delete_entries([entry.id], forever=True)
            except DrimeError as exc:
                log.warning("could not remove entry %d after a failed write: %s", entry.id, exc)
            self._p.tree.drop_entries(folder_id, [entry.id])
            raise

    async def replace(self, folder_id: int, entry: DriveEntry, *, fresh: bool = False) -> None:
        """Make the newest entry of ``entry``'s name the only one (``fresh``: list
        the folder anew first, after a failed attempt that may have left a ghost).

        A failure to delete an older entry is logged, not raised: the new object is
        stored and read first anyway, and the next write or delete of the key
        removes what is left.
        """
        tree = self._p.tree
        tree.note_entry(folder_id, entry)
        listing = await tree.children(folder_id, fresh=fresh)
        listing.add(entry)  # the listing may have been re-read without it
        # Keep only the newest entry of the name; if a newer one than ours is already
        # known, ours was superseded by a later write and goes too.
        older = [e.id for e in listing.file_versions(entry.name)[1:]]
        if not older:
            return
        try:
            await self._p.client.delete_entries(older, forever=self._p.delete_forever)
        except DrimeError as exc:
            log.warning("could not remove older versions of %r: %s", entry.name, exc)
            return
        tree.drop_entries(folder_id, older)

    async def delete(self, bucket: str, key: str) -> None:
        """Delete every entry of ``key``; a missing key (or folder) is no error."""
        bucket_id = await self._p.bucket_id(bucket)
        try:
            folders, name = split_key(key)
        except NoSuchKey:
            return
        async with translated():
            folder_id = await self._p.tree.resolve(bucket_id, folders, create=False)
            if folder_id is None:
                return
            listing = await self._p.tree.children(folder_id)
            ids = [e.id for e in listing.file_versions(name)]
            if ids:
                await self._p.client.delete_entries(ids, forever=self._p.delete_forever)
                self._p.tree.drop_entries(folder_id, ids)
        await self._p.metadata.forget(bucket, key)

    async def copy(
        self,
        src_bucket: str,
        src_key: str,
        dst_bucket: str,
        dst_key: str,
        metadata: ObjectMetadata | None,
    ) -> ObjectInfo:
        """Server-side copy with Drime's duplicate (renamed if the name differs).

        ``metadata`` None copies the source's metadata (directive COPY), else it
        replaces it (REPLACE). A copy keeps the source's multipart ETag.
        """
        source = await self.find(src_bucket, src_key)
        dst_bucket_id = await self._p.bucket_id(dst_bucket)
        folders, name = split_key(dst_key, for_write=True)
        if metadata is not None:
            check_fits(metadata)
        src_md5 = await self._p.metadata.md5(src_bucket, src_key, source)
        etag = parse(source.description).etag
        # What the copy must describe: the source's own description (COPY), read
        # back as metadata so that it is written in the current form if need be.
        new_metadata = metadata if metadata is not None else self._p.metadata_of(source)
        async with translated():
            folder_id = await self._p.tree.resolve(dst_bucket_id, folders, create=True)
            assert folder_id is not None
            if folder_id == (source.parent_id or 0) and name == source.name:
                # Copy onto itself: a metadata update (rclone setting mtime).
                entry = await self.describe(source, new_metadata, etag)
                self._p.tree.note_entry(folder_id, entry)
                return ObjectInfo(
                    dst_key, entry.file_size, entry.etag, entry.modified, new_metadata
                )
            entry = await self._duplicate(source, folder_id)
            # Drime's duplicate may or may not carry the description over: whatever
            # it did, the rename (if any) and the metadata go in one update, made
            # only when something differs.
            rename = name if entry.name != name else None
            entry = await self.describe_new(folder_id, entry, new_metadata, etag, name=rename)
            if rename is not None:
                self._p.tree.drop_entries(folder_id, [entry.id])  # noted under the old name
            await self.replace(folder_id, entry)
        await self._p.metadata.record(dst_bucket, dst_key, entry, src_md5)
        return ObjectInfo(dst_key, entry.file_size, entry.etag, entry.modified, new_metadata)

    async def _duplicate(self, source: DriveEntry, folder_id: int) -> DriveEntry:
        tree = self._p.tree
        before = await tree.children(folder_id)
        newest = max((e.id for e in before.files.values()), default=0)
        try:
            entry = await self._p.client.duplicate(source.id, folder_id or None)
        except DrimeUnavailable as exc:
            if not exc.ambiguous:
                raise
            # It may have happened: look for a fresh copy before trying again.
            listing = await tree.children(folder_id, fresh=True)
            for candidate in listing.file_versions(source.name):
                if candidate.id > newest and candidate.file_size == source.file_size:
                    return candidate
            entry = await self._p.client.duplicate(source.id, folder_id or None)
        tree.note_entry(folder_id, entry)
        return entry
