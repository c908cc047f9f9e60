"""Where the Drime backend keeps multipart uploads in progress.

The parts' bytes are in Drime's own multipart upload from the moment UploadPart
answers; what maps our UploadId onto it (Drime's upload id and key, the target
folder and name, each part's MD5 and store ETag, the upload's metadata) is kept:

- in the metadata cache database (:class:`SharedStates`), when there is one: every
  server process using that file (``--workers``, a restarted server) finds the
  upload, so parts sent to different workers complete, and an upload survives a
  restart;
- otherwise in this process (:class:`LocalStates`): a restart forgets the upload
  (the client gets NoSuchUpload and starts again), and closing the server aborts it.

Both offer the same async methods; the shared one runs its SQLite calls in a thread.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from pys3local.cache import MetadataCache, PartRow, UploadRow, UploadTable, drime_store
from pys3local.providers.base import MultipartUpload, ObjectMetadata

from .models import MultipartSession

#: A Complete that has not finished after this long died with its process; another
#: Complete of the same upload may take it over.
CLAIM_TIMEOUT = timedelta(minutes=15)


@dataclass(slots=True)
class UploadState:
    """One upload: what S3 knows of it and where its bytes go in Drime."""

    upload: MultipartUpload
    folder_id: int
    name: str
    session: MultipartSession
    parts: dict[int, PartRow] = field(default_factory=dict)


def _now() -> datetime:
    return datetime.now(timezone.utc)


class LocalStates:
    """Uploads known to this process only."""

    shared = False

    def __init__(self) -> None:
        self._uploads: dict[str, UploadState] = {}
        self._completing: set[str] = set()

    async def add(self, state: UploadState) -> None:
        self._uploads[state.upload.upload_id] = state

    async def get(self, upload_id: str, *, with_parts: bool = False) -> UploadState | None:
        return self._uploads.get(upload_id)

    async def put_part(self, upload_id: str, part: PartRow) -> bool:
        state = self._uploads.get(upload_id)
        if state is None or upload_id in self._completing:
            return False
        state.parts[part.number] = part  # a re-sent part number replaces the earlier bytes
        return True

    async def claim(self, upload_id: str) -> bool:
        if upload_id not in self._uploads or upload_id in self._completing:
            return False
        self._completing.add(upload_id)
        return True

    async def release(self, upload_id: str) -> None:
        self._completing.discard(upload_id)

    async def remove(self, upload_id: str) -> bool:
        self._completing.discard(upload_id)
        return self._uploads.pop(upload_id, None) is not None

    async def all(self) -> list[UploadState]:
        return list(self._uploads.values())


class SharedStates:
    """Uploads in the metadata cache database, seen by every process that uses it."""

    shared = True

    def __init__(self, cache: MetadataCache, workspace_id: int, root_folder: str | None) -> None:
        self._table = UploadTable(cache, workspace_id, drime_store(root_folder))

    async def add(self, state: UploadState) -> None:
        upload = state.upload
        backend = {
            "folder_id": state.folder_id,
            "name": state.name,
            "drime_upload_id": state.session.upload_id,
            "drime_key": state.session.key,
        }
        row = UploadRow(
            upload.upload_id,
            upload.bucket,
            upload.key,
            upload.initiated,
            upload.metadata.to_dict(),
            backend,
        )
        await asyncio.to_thread(self._table.add, row)

    async def get(self, upload_id: str, *, with_parts: bool = False) -> UploadState | None:
        row = await asyncio.to_thread(self._table.get, upload_id)
        if row is None:
            return None
        state = _state(row)
        if with_parts:
            parts = await asyncio.to_thread(self._table.parts, upload_id)
            state.parts = {p.number: p for p in parts}
        return state

    async def put_part(self, upload_id: str, part: PartRow) -> bool:
        return await asyncio.to_thread(self._table.put_part, upload_id, part)

    async def claim(self, upload_id: str) -> bool:
        now = _now()
        return await asyncio.to_thread(self._table.claim, upload_id, now, now - CLAIM_TIMEOUT)

    async def release(self, upload_id: str) -> None:
        await asyncio.to_thread(self._table.release, upload_id)

    async def remove(self, upload_id: str) -> bool:
        return await asyncio.to_thread(self._table.remove, upload_id)

    async def all(self) -> list[UploadState]:
        return [_state(row) for row in await asyncio.to_thread(self._table.list)]


def _state(row: UploadRow) -> UploadState:
    backend: dict[str, Any] = row.backend
    upload = MultipartUpload(
        row.upload_id,
        row.bucket,
        row.key,
        row.initiated,
        ObjectMetadata.from_dict(row.metadata),
    )
    session = MultipartSession(str(backend["drime_upload_id"]), str(backend["drime_key"]))
    return UploadState(upload, int(backend["folder_id"]), str(backend["name"]), session)


UploadStates = LocalStates | SharedStates
