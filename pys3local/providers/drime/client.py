"""A small, typed, async client for the parts of the Drime API that pys3local uses.

Why not pydrime (0.8.2): it is synchronous (``httpx.Client`` and ``time.sleep`` in
its retry loop, so every call would need a thread), uploads only from a file *path*
and reads small files whole into memory, and pulls in a CLI's dependencies (rich,
click, syncengine). The endpoints and shapes below are the ones pydrime and
drime-s3 use (shared/reference/drime-api.md §1).

Query parameters and JSON bodies are camelCase, as the API wants them.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import Any

import httpx

from .models import DriveEntry, EntryPage, MultipartSession, SpaceUsage, Workspace
from .transport import DrimeAPIError, DrimeError, RetryPolicy, Transport

DEFAULT_API_URL = "https://app.drime.cloud/api/v1"
#: Entries per listing request. The API pages with Laravel's ``last_page``; every
#: page is always read, whatever the server's own page size turns out to be.
PAGE_SIZE = 1000
#: Part URLs signed per request (pydrime signs 10 at a time).
SIGN_BATCH = 10


class DrimeClient:
    """Drime endpoints as coroutines. Raises :class:`DrimeError` subclasses."""

    def __init__(
        self,
        api_key: str,
        workspace_id: int = 0,
        *,
        api_url: str | None = None,
        retry: RetryPolicy | None = None,
        timeout: httpx.Timeout | None = None,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self.workspace_id = workspace_id
        self.page_size = page_size
        self.transport = Transport(
            api_url or DEFAULT_API_URL, api_key, retry=retry, timeout=timeout
        )

    async def aclose(self) -> None:
        await self.transport.aclose()

    # Listing -------------------------------------------------------------------

    async def list_folder(self, folder_id: int | None) -> AsyncIterator[list[DriveEntry]]:
        """Every child of a folder (None: the workspace root), one page at a time.

        The root is asked for with ``parentIds=0``: without ``parentIds`` Drime
        answers with entries from the whole drive.
        """
        page = 1
        while True:
            data = await self.transport.call(
                "GET",
                "/drive/file-entries",
                params={
                    "parentIds": str(folder_id or 0),
                    "workspaceId": self.workspace_id,
                    "perPage": self.page_size,
                    "page": page,
                    "orderBy": "name",
                    "orderDir": "asc",
                },
            )
            result = EntryPage.from_json(data)
            wanted = folder_id or None
            yield [e for e in result.entries if e.parent_id == wanted]
            if result.is_last or not result.entries:
                return
            page = result.current_page + 1

    async def list_all(self, folder_id: int | None) -> list[DriveEntry]:
        entries: list[DriveEntry] = []
        async for page in self.list_folder(folder_id):
            entries.extend(page)
        return entries

    async def get_entry(self, entry_id: int) -> DriveEntry:
        data = await self.transport.call(
            "GET", f"/file-entries/{entry_id}", params={"workspaceId": self.workspace_id}
        )
        return DriveEntry.from_json(_entry_json(data, "fileEntry"))

    # Folders -------------------------------------------------------------------

    async def create_folder(self, name: str, parent_id: int | None) -> DriveEntry:
        """Create a folder. A duplicate name raises DrimeAPIError with status 422.

        Retried like an idempotent call: a repeat of a create that did happen
        answers 422, which the caller resolves by looking the folder up.
        """
        body: dict[str, Any] = {"name": name, "workspaceId": self.workspace_id}
        if parent_id is not None:
            body["parentId"] = parent_id
        data = await self.transport.call("POST", "/folders", json=body)
        return DriveEntry.from_json(_entry_json(data, "folder", "fileEntry"))

    # Uploads -------------------------------------------------------------------

    async def upload_simple(
        self,
        name: str,
        parent_id: int | None,
        size: int,
        mime: str,
        read: Callable[[], AsyncIterable[bytes]],
    ) -> DriveEntry:
        """``POST /uploads`` as multipart/form-data, streamed from ``read()``.

        Not idempotent: only retried when Drime provably did not take it.
        """
        boundary = uuid.uuid4().hex
        fields = {"relativePath": name, "workspaceId": str(self.workspace_id)}
        if parent_id is not None:
            fields["parentId"] = str(parent_id)
        head = b"".join(_form_field(boundary, k, v) for k, v in fields.items())
        quoted = name.replace("\\", "\\\\").replace('"', '\\"')
        head += (
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{quoted}"\r\n'
            f"Content-Type: {mime or 'application/octet-stream'}\r\n\r\n"
        ).encode()
        tail = f"\r\n--{boundary}--\r\n".encode()

        async def body() -> AsyncIterator[bytes]:
            yield head
            async for chunk in read():
                yield chunk
            yield tail

        data = await self.transport.call(
            "POST",
            "/uploads",
            body=body,
            headers={
                "Content-Type": f"multipart/form-data; boundary={boundary}",
                "Content-Length": str(len(head) + size + len(tail)),
            },
            idempotent=False,
        )
        return DriveEntry.from_json(_entry_json(data, "fileEntry"))

    async def multipart_create(
        self, name: str, parent_id: int | None, size: int, mime: str
    ) -> MultipartSession:
        body = {
            "filename": name,
            "mime": mime or "application/octet-stream",
            "size": size,
            "extension": _extension(name),
            "relativePath": name,
            "workspaceId": self.workspace_id,
        }
        if parent_id is not None:
            body["parentId"] = parent_id
        # A repeated create only leaves an unused upload in the store: safe to retry.
        data = await self.transport.call("POST", "/s3/multipart/create", json=body)
        upload_id, key = data.get("uploadId"), data.get("key")
        if not isinstance(upload_id, str) or not isinstance(key, str) or not key:
            raise DrimeAPIError("Drime's multipart create answer has no uploadId/key")
        return MultipartSession(upload_id, key)

    async def sign_parts(self, session: MultipartSession, numbers: list[int]) -> dict[int, str]:
        urls: dict[int, str] = {}
        for start in range(0, len(numbers), SIGN_BATCH):
            batch = numbers[start : start + SIGN_BATCH]
            data = await self.transport.call(
                "POST",
                "/s3/multipart/batch-sign-part-urls",
                json={"key": session.key, "uploadId": session.upload_id, "partNumbers": batch},
            )
            for item in data.get("urls") or []:
                if isinstance(item, dict) and isinstance(item.get("url"), str):
                    urls[int(item.get("partNumber", 0))] = item["url"]
        missing = [n for n in numbers if n not in urls]
        if missing:
            raise DrimeAPIError(f"Drime signed no URL for part(s) {missing[:5]}")
        return urls

    async def put_part(self, url: str, size: int, read: Callable[[], AsyncIterable[bytes]]) -> str:
        """PUT one part to its signed storage URL (no Bearer header); return its ETag."""
        response = await self.transport.send(
            "PUT",
            url,
            body=read,
            headers={"Content-Length": str(size), "Content-Type": "application/octet-stream"},
            authenticated=False,
        )
        etag = response.headers.get("etag", "").strip().strip('"')
        if not etag:
            raise DrimeAPIError("the object store answered a part upload without an ETag")
        return etag

    async def multipart_complete(
        self, session: MultipartSession, parts: list[tuple[int, str]]
    ) -> None:
        # The store's ETags go back quoted, as S3 writes them; pydrime strips the
        # quotes, drime-s3 found that Drime's validator wants them.
        body = {
            "key": session.key,
            "uploadId": session.upload_id,
            "parts": [{"PartNumber": n, "ETag": f'"{etag}"'} for n, etag in parts],
        }
        await self.transport.call("POST", "/s3/multipart/complete", json=body)

    async def multipart_abort(self, session: MultipartSession) -> None:
        await self.transport.call(
            "POST",
            "/s3/multipart/abort",
            json={"key": session.key, "uploadId": session.upload_id},
        )

    async def create_entry(
        self, session: MultipartSession, name: str, parent_id: int | None, size: int, mime: str
    ) -> DriveEntry:
        """``POST /s3/entries``: the file entry for a completed store upload.

        Not idempotent (a repeat would make a second entry for the same stored
        bytes); the caller reconciles an ambiguous failure.
        """
        body: dict[str, Any] = {
            "clientMime": mime or "application/octet-stream",
            "clientName": name,
            "filename": session.disk_name,
            "size": size,
            "clientExtension": _extension(name),
            "relativePath": name,
            "workspaceId": self.workspace_id,
        }
        if parent_id is not None:
            body["parentId"] = parent_id
        data = await self.transport.call("POST", "/s3/entries", json=body, idempotent=False)
        return DriveEntry.from_json(_entry_json(data, "fileEntry"))

    # Changing entries -----------------------------------------------------------

    async def delete_entries(self, entry_ids: list[int], *, forever: bool) -> None:
        """Delete (or trash) entries; a folder goes with its whole subtree."""
        if not entry_ids:
            return
        try:
            await self.transport.call(
                "POST",
                "/file-entries/delete",
                params={"workspaceId": self.workspace_id},
                json={
                    "entryIds": entry_ids,
                    "deleteForever": forever,
                    "workspaceId": self.workspace_id,
                },
            )
        except DrimeAPIError as exc:
            if exc.status != 404:  # already gone (e.g. a retried delete): done
                raise

    async def duplicate(self, entry_id: int, destination_id: int | None) -> DriveEntry:
        body: dict[str, Any] = {"entryIds": [entry_id], "workspaceId": self.workspace_id}
        if destination_id is not None:
            body["destinationId"] = destination_id
        data = await self.transport.call(
            "POST",
            "/file-entries/duplicate",
            params={"workspaceId": self.workspace_id},
            json=body,
            idempotent=False,
        )
        entries = data.get("entries")
        if not isinstance(entries, list) or not entries or not isinstance(entries[0], dict):
            raise DrimeAPIError("Drime's duplicate answer lists no entry")
        return DriveEntry.from_json(entries[0])

    async def update_entry(
        self, entry_id: int, *, name: str | None = None, description: str | None = None
    ) -> DriveEntry:
        body: dict[str, Any] = {"workspaceId": self.workspace_id}
        if name is not None:
            body["name"] = name
        if description is not None:
            body["description"] = description
        data = await self.transport.call(
            "PUT",
            f"/file-entries/{entry_id}",
            params={"workspaceId": self.workspace_id},
            json=body,
        )
        return DriveEntry.from_json(_entry_json(data, "fileEntry"))

    # Downloads -------------------------------------------------------------------

    async def open_download(self, entry: DriveEntry, start: int, end: int) -> httpx.Response:
        """Open bytes ``start..end`` (inclusive) of a file as a streamed response.

        Drime answers the download URL with a redirect to signed object storage,
        which honours Range; the redirect is followed here, without our Bearer
        header. The caller must close the response.
        """
        # identity: a compressed answer would not be the bytes the range counts.
        ranged = {"Range": f"bytes={start}-{end}", "Accept-Encoding": "identity"}
        response = await self.transport.send(
            "GET",
            f"/file-entries/download/{entry.hash}",
            params={"workspaceId": self.workspace_id},
            headers=ranged,
            stream=True,
        )
        for _ in range(5):
            if response.status_code not in (301, 302, 303, 307, 308):
                return response
            location = response.headers.get("location", "")
            await response.aclose()
            if not location:
                raise DrimeAPIError("Drime redirected a download without a Location")
            target = str(httpx.URL(self.transport.url("/")).join(location))
            response = await self.transport.send(
                "GET", target, headers=ranged, stream=True, authenticated=False
            )
        await response.aclose()
        raise DrimeAPIError("too many redirects for a download")

    # Account -----------------------------------------------------------------------

    async def space_usage(self) -> SpaceUsage:
        data = await self.transport.call("GET", "/user/space-usage")
        return SpaceUsage(int(data.get("used") or 0), int(data.get("available") or 0))

    async def workspaces(self) -> list[Workspace]:
        data = await self.transport.call("GET", "/me/workspaces")
        rows = data.get("workspaces") or []
        return [Workspace(int(w["id"]), str(w.get("name", ""))) for w in rows if "id" in w]


def _entry_json(data: dict[str, Any], *keys: str) -> dict[str, Any]:
    """The entry inside an answer: under one of ``keys``, or the answer itself."""
    for key in keys:
        if isinstance(data.get(key), dict):
            return data[key]
    if "id" in data:
        return data
    raise DrimeAPIError(f"Drime's answer holds no file entry (keys: {sorted(data)[:8]})")


def _extension(name: str) -> str:
    stem, dot, suffix = name.rpartition(".")
    return suffix if dot and stem else ""


def _form_field(boundary: str, name: str, value: str) -> bytes:
    return (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
    ).encode()


__all__ = ["DEFAULT_API_URL", "DrimeAPIError", "DrimeClient", "DrimeError"]
