"""Folder ids for paths, and folder listings, with a cache that our own writes keep true.

Folders are created on demand. Drime refuses a duplicate folder name with 422, so
when two requests (or two servers) create the same folder at once, the loser looks
the folder up and uses it: a folder is never created twice. Within one server,
creations of the same folder are also coalesced behind a lock, so only one request
is sent at all.

A folder's listing (every page) is cached for ``ttl`` seconds. Our own changes are
applied to the cached listing as they happen (an upload adds its entry, a delete
removes it), so this server always sees its own writes; changes made elsewhere in
Drime become visible when the listing expires.

Folder id 0 stands for the workspace root throughout.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable

from pys3local.errors import ObjectNameConflict

from .client import DrimeClient
from .models import DriveEntry, FolderChildren
from .transport import DrimeAPIError

log = logging.getLogger("pys3local.drime")

ROOT = 0
#: How often a create that answered 422 is looked up and retried before giving up
#: (the name may belong to a folder that is being deleted, or lag in a listing).
_CREATE_ATTEMPTS = 4
_MAX_CACHED_FOLDERS = 4096


class FolderTree:
    """Path → folder id resolution and cached folder listings for one workspace."""

    def __init__(self, client: DrimeClient, *, ttl: float = 10.0) -> None:
        self._client = client
        self.ttl = ttl
        self._listings: OrderedDict[int, tuple[float, FolderChildren]] = OrderedDict()
        self._paths: dict[tuple[int, str], int] = {}
        self._fetching: dict[int, asyncio.Future[FolderChildren]] = {}
        #: Our own changes made while a folder's listing is being read: replayed onto
        #: the new listing, which may have been read before they happened.
        self._journal: dict[int, list[Callable[[FolderChildren], None]]] = {}
        self._create_locks: dict[tuple[int, str], asyncio.Lock] = {}

    # Listings --------------------------------------------------------------------

    async def children(self, folder_id: int, *, fresh: bool = False) -> FolderChildren:
        """The folder's complete listing (cached; ``fresh`` forces a new read)."""
        if not fresh:
            cached = self._listings.get(folder_id)
            if cached is not None and time.monotonic() - cached[0] < self.ttl:
                self._listings.move_to_end(folder_id)
                return cached[1]
        pending = self._fetching.get(folder_id)
        if pending is not None and not fresh:
            return await asyncio.shield(pending)
        future: asyncio.Future[FolderChildren] = asyncio.get_running_loop().create_future()
        self._fetching[folder_id] = future
        journal = self._journal.setdefault(folder_id, [])
        try:
            started = time.monotonic()
            listing = FolderChildren.build(await self._client.list_all(folder_id or None))
            for change in journal:
                change(listing)
            self._store(folder_id, started, listing)
            future.set_result(listing)
            return listing
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody else must
            raise
        finally:
            if self._fetching.get(folder_id) is future:
                del self._fetching[folder_id]
                self._journal.pop(folder_id, None)

    def _store(self, folder_id: int, when: float, listing: FolderChildren) -> None:
        self._listings[folder_id] = (when, listing)
        self._listings.move_to_end(folder_id)
        while len(self._listings) > _MAX_CACHED_FOLDERS:
            self._listings.popitem(last=False)

    def cached(self, folder_id: int) -> FolderChildren | None:
        entry = self._listings.get(folder_id)
        return entry[1] if entry is not None else None

    def _change(self, folder_id: int, change: Callable[[FolderChildren], None]) -> None:
        listing = self.cached(folder_id)
        if listing is not None:
            change(listing)
        if folder_id in self._journal:
            self._journal[folder_id].append(change)

    def note_entry(self, folder_id: int, entry: DriveEntry) -> None:
        """Record an entry we just created in ``folder_id``."""
        self._change(folder_id, lambda listing: listing.add(entry))

    def drop_entries(self, folder_id: int, ids: Iterable[int]) -> None:
        """Forget entries we just deleted from ``folder_id``."""
        gone = set(ids)
        self._change(folder_id, lambda listing: self._drop(listing, gone))

    def _drop(self, listing: FolderChildren, gone: set[int]) -> None:
        for name in [n for n, e in listing.files.items() if e.id in gone]:
            survivors = [e for e in listing.file_versions(name) if e.id not in gone]
            listing.remove_file(name)
            for entry in survivors:
                listing.add(entry)
        for name, versions in list(listing.shadowed.items()):
            listing.shadowed[name] = [e for e in versions if e.id not in gone]
        for name in [n for n, e in listing.folders.items() if e.id in gone]:
            del listing.folders[name]
            # Paths through a deleted folder must resolve again (this is rare: only
            # DeleteBucket deletes folders), so forget them all.
            self._paths.clear()

    def invalidate(self, folder_id: int) -> None:
        self._listings.pop(folder_id, None)

    # Resolution ------------------------------------------------------------------

    async def resolve(self, base_id: int, segments: list[str], *, create: bool) -> int | None:
        """The id of folder ``segments`` below ``base_id``; None if it does not exist
        (and ``create`` is false)."""
        folder_id = base_id
        for depth, name in enumerate(segments):
            path = "/".join(segments[: depth + 1])
            cached = self._paths.get((base_id, path))
            if cached is not None:
                folder_id = cached
                continue
            listing = await self.children(folder_id)
            found = listing.folders.get(name)
            if found is None:
                if not create:
                    return None
                found = await self._create(folder_id, name)
            self._paths[(base_id, path)] = found.id
            folder_id = found.id
        return folder_id

    async def _create(self, parent_id: int, name: str) -> DriveEntry:
        lock = self._create_locks.setdefault((parent_id, name), asyncio.Lock())
        async with lock:
            listing = await self.children(parent_id)
            existing = listing.folders.get(name)
            if existing is not None:  # created while we waited for the lock
                return existing
            try:
                for attempt in range(_CREATE_ATTEMPTS):
                    try:
                        folder = await self._client.create_folder(name, parent_id or None)
                    except DrimeAPIError as exc:
                        if exc.status != 422:
                            raise
                        # Duplicate name: someone else created it. Use theirs.
                        listing = await self.children(parent_id, fresh=True)
                        existing = listing.folders.get(name)
                        if existing is not None:
                            log.debug("folder %r already existed (422); using it", name)
                            return existing
                        _refuse_case_clash(listing, name)
                        await asyncio.sleep(0.1 * 2**attempt)
                        continue
                    self.note_entry(parent_id, folder)
                    self._listings.setdefault(folder.id, (time.monotonic(), FolderChildren()))
                    return folder
            finally:
                self._create_locks.pop((parent_id, name), None)
        raise ObjectNameConflict(f"Drime refuses to create the folder {name!r} (422).")

    async def holds_file(self, folder_id: int, *, depth: int = 0) -> bool:
        """Whether a folder or any folder below it holds a file (depth-first, stops at
        the first file found)."""
        listing = await self.children(folder_id)
        if listing.files:
            return True
        if depth > 64:
            return False
        for name in sorted(listing.folders):
            if await self.holds_file(listing.folders[name].id, depth=depth + 1):
                return True
        return False


def _refuse_case_clash(listing: FolderChildren, name: str) -> None:
    """Drime compares folder names without case: ``Logs`` blocks ``logs``. Two S3
    prefixes must never share one folder, so this is a conflict, not a match."""
    lowered = name.casefold()
    for other in listing.folders:
        if other.casefold() == lowered:
            raise ObjectNameConflict(
                f"The folder {name!r} cannot be created next to {other!r}: Drime "
                "treats folder names that differ only in case as the same."
            )
