"""The fake Drime HTTP API (FastAPI): the endpoints pys3local's Drime backend uses.

Paths are under ``/api/v1`` as on app.drime.cloud. Signed storage URLs (downloads
and multipart parts) are served by the fake itself under ``/storage`` and need no
Bearer header, like the real object store. ``/__fake__`` holds test controls:
faults, the request log, settings.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse

from .faults import Fault, FaultInjector
from .state import Drive, DriveError, md5_file

API = "/api/v1"
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


class FakeSettings:
    """Knobs a test may turn while the fake runs."""

    def __init__(self, api_key: str, page_size_cap: int) -> None:
        self.api_key = api_key
        #: The most entries one listing page holds, whatever perPage asks for.
        self.page_size_cap = page_size_cap


def create_app(drive: Drive, settings: FakeSettings) -> tuple[FastAPI, FaultInjector]:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    secret = hashlib.sha256(settings.api_key.encode() + b"storage").digest()

    def sign(path: str) -> str:
        return hmac.new(secret, path.encode(), hashlib.sha256).hexdigest()[:32]

    def storage_url(request: Request, path: str) -> str:
        return f"{str(request.base_url).rstrip('/')}{path}?sig={sign(path)}"

    @app.exception_handler(DriveError)
    async def drive_error(_request: Request, exc: DriveError) -> JSONResponse:
        return JSONResponse({"message": exc.message}, status_code=exc.status)

    @app.middleware("http")
    async def bearer(request: Request, call_next: Any) -> Response:
        path = request.url.path
        if path.startswith(API):
            header = request.headers.get("authorization", "")
            if not hmac.compare_digest(header, f"Bearer {settings.api_key}"):
                return JSONResponse({"message": "Unauthenticated."}, status_code=401)
        elif path.startswith("/storage/") and not hmac.compare_digest(
            request.query_params.get("sig", ""), sign(path)
        ):
            return Response("<Error><Code>AccessDenied</Code></Error>", status_code=403)
        return await call_next(request)

    def workspace(request: Request, body: dict[str, Any] | None = None) -> int:
        value = (body or {}).get("workspaceId", request.query_params.get("workspaceId", 0))
        try:
            ws = int(value or 0)
        except (TypeError, ValueError):
            raise DriveError(422, "The workspace id is invalid.") from None
        if ws not in drive.workspaces:
            raise DriveError(403, "You do not have access to this workspace.")
        return ws

    def parent(value: object) -> int | None:
        if value in (None, "", 0, "0", "null"):
            return None
        return int(value)  # type: ignore[arg-type]

    # Listing -------------------------------------------------------------------

    @app.get(API + "/drive/file-entries")
    async def list_entries(request: Request) -> dict[str, Any]:
        q = request.query_params
        ws = workspace(request)
        deleted_only = q.get("deletedOnly") in ("1", "true")
        rows = [
            e
            for e in drive.entries.values()
            if e.workspace_id == ws and (e.deleted_at is not None) == deleted_only
        ]
        if "parentIds" in q:  # without it: the whole drive, as the real API does
            wanted = {parent(p) for p in q["parentIds"].split(",") if p.strip() != ""}
            rows = [e for e in rows if e.parent_id in wanted]
        if q.get("query"):
            needle = q["query"].casefold()
            rows = [e for e in rows if needle in e.name.casefold()]
        if q.get("type"):
            rows = [e for e in rows if e.type == q["type"]]
        order = q.get("orderBy", "updated_at")
        attr = order if order in ("name", "updated_at", "created_at", "file_size", "id") else "id"
        rows.sort(key=lambda e: (getattr(e, attr), e.id), reverse=q.get("orderDir") != "asc")
        per_page = max(1, min(int(q.get("perPage", 50)), settings.page_size_cap))
        page = max(1, int(q.get("page", 1)))
        last_page = max(1, -(-len(rows) // per_page))
        chunk = rows[(page - 1) * per_page : page * per_page]
        return {
            "data": [drive.to_json(e) for e in chunk],
            "current_page": page,
            "last_page": last_page,
            "per_page": per_page,
            "total": len(rows),
            "from": (page - 1) * per_page + 1 if chunk else None,
            "to": (page - 1) * per_page + len(chunk) if chunk else None,
            "next_page": page + 1 if page < last_page else None,
            "prev_page": page - 1 if page > 1 else None,
        }

    @app.get(API + "/file-entries/{entry_id}")
    async def get_entry(entry_id: int) -> dict[str, Any]:
        return {"fileEntry": drive.to_json(drive.get(entry_id))}

    @app.get(API + "/folders/{entry_id}/count")
    async def folder_count(entry_id: int) -> dict[str, Any]:
        folder = drive.get(entry_id)
        return {"count": len(drive.children(folder.id, folder.workspace_id))}

    # Folders and uploads -----------------------------------------------------------

    @app.post(API + "/folders")
    async def create_folder(request: Request) -> dict[str, Any]:
        body = await request.json()
        folder = drive.create_folder(
            str(body.get("name", "")), parent(body.get("parentId")), workspace(request, body)
        )
        return {"status": "success", "folder": drive.to_json(folder)}

    @app.post(API + "/uploads")
    async def upload(request: Request) -> dict[str, Any]:
        fields, file = _parse_form(await request.body(), request.headers.get("content-type", ""))
        if file is None:
            raise DriveError(422, "The file field is required.")
        filename, mime, data = file
        relative = fields.get("relativePath") or filename
        ws = workspace(request, {"workspaceId": fields.get("workspaceId", 0)})
        parent_id = parent(fields.get("parentId"))
        # relativePath may carry folders: created (or reused) below the parent.
        *folders, name = [p for p in relative.split("/") if p]
        for folder_name in folders:
            existing = [
                e
                for e in drive.children(parent_id, ws)
                if e.type == "folder" and e.name.casefold() == folder_name.casefold()
            ]
            parent_id = (
                existing[0].id if existing else drive.create_folder(folder_name, parent_id, ws).id
            )
        temp = drive.temp_path()
        temp.write_bytes(data)
        entry = drive.add_file(name, parent_id, ws, drive.store_blob(temp), mime)
        return {"status": "success", "fileEntry": drive.to_json(entry)}

    @app.post(API + "/s3/multipart/create")
    async def multipart_create(request: Request) -> dict[str, Any]:
        body = await request.json()
        if not body.get("filename"):
            raise DriveError(422, "The filename field is required.")
        upload = drive.start_upload(workspace(request, body))
        return {"uploadId": upload.upload_id, "key": upload.key}

    @app.post(API + "/s3/multipart/batch-sign-part-urls")
    async def sign_parts(request: Request) -> dict[str, Any]:
        body = await request.json()
        upload = drive.uploads.get(str(body.get("uploadId")))
        if upload is None or upload.key != body.get("key"):
            raise DriveError(404, "The specified upload does not exist.")
        urls = []
        for number in body.get("partNumbers") or []:
            path = f"/storage/parts/{upload.upload_id}/{int(number)}"
            urls.append({"partNumber": int(number), "url": storage_url(request, path)})
        return {"urls": urls}

    @app.put("/storage/parts/{upload_id}/{number}")
    async def put_part(upload_id: str, number: int, request: Request) -> Response:
        upload = drive.uploads.get(upload_id)
        if upload is None:
            return Response("<Error><Code>NoSuchUpload</Code></Error>", status_code=404)
        if "content-length" not in request.headers:
            return Response("<Error><Code>MissingContentLength</Code></Error>", status_code=411)
        temp = drive.temp_path()
        size = await _receive_to(request, temp)
        if size != int(request.headers["content-length"]):
            temp.unlink(missing_ok=True)
            return Response("<Error><Code>IncompleteBody</Code></Error>", status_code=400)
        md5 = md5_file(temp)
        old = upload.parts.get(number)
        upload.parts[number] = (temp, md5, size)
        if old is not None:
            old[0].unlink(missing_ok=True)
        return Response(status_code=200, headers={"etag": f'"{md5}"'})

    @app.post(API + "/s3/multipart/complete")
    async def multipart_complete(request: Request) -> dict[str, Any]:
        body = await request.json()
        parts = []
        for part in body.get("parts") or []:
            number = part.get("PartNumber", part.get("part_number"))
            etag = str(part.get("ETag", part.get("etag", ""))).strip().strip('"')
            parts.append((int(number), etag))
        key = drive.complete_upload(str(body.get("uploadId")), str(body.get("key")), parts)
        return {"location": f"https://storage.invalid/{key}", "key": key}

    @app.post(API + "/s3/multipart/abort")
    async def multipart_abort(request: Request) -> dict[str, Any]:
        body = await request.json()
        drive.abort_upload(str(body.get("uploadId")))
        return {"status": "success"}

    @app.post(API + "/s3/entries")
    async def s3_entries(request: Request) -> dict[str, Any]:
        body = await request.json()
        file_name = str(body.get("filename", ""))
        if not drive.blob(file_name).is_file():
            raise DriveError(422, "The uploaded file could not be found.")
        if int(body.get("size", -1)) != drive.blob(file_name).stat().st_size:
            raise DriveError(422, "The size does not match the uploaded file.")
        entry = drive.add_file(
            str(body.get("clientName", "")),
            parent(body.get("parentId")),
            workspace(request, body),
            file_name,
            str(body.get("clientMime", "")),
        )
        return {"fileEntry": drive.to_json(entry)}

    # Downloads -------------------------------------------------------------------

    def redirect(request: Request, file_name: str) -> Response:
        url = storage_url(request, f"/storage/files/{quote(file_name)}")
        return RedirectResponse(url, status_code=302)

    @app.get(API + "/file-entries/download/{entry_hash}")
    async def download_by_hash(entry_hash: str, request: Request) -> Response:
        return redirect(request, drive.by_hash(entry_hash).file_name or "")

    @app.get(API + "/file-entries/{entry_id}/download")
    async def download_by_id(entry_id: int, request: Request) -> Response:
        return redirect(request, drive.get(entry_id).file_name or "")

    @app.get("/storage/files/{file_name}")
    async def storage_file(file_name: str, request: Request) -> Response:
        path = drive.blob(file_name)
        if not path.is_file():
            return Response("<Error><Code>NoSuchKey</Code></Error>", status_code=404)
        size = path.stat().st_size
        start, end, status = 0, size - 1, 200
        match = _RANGE.fullmatch(request.headers.get("range", "").strip())
        if match and (match[1] or match[2]):
            if match[1]:
                start = int(match[1])
                end = min(int(match[2]), size - 1) if match[2] else size - 1
            else:
                start, end = max(0, size - int(match[2])), size - 1
            if start >= size or start > end:
                return Response(status_code=416, headers={"content-range": f"bytes */{size}"})
            status = 206
        headers = {"content-length": str(end - start + 1), "accept-ranges": "bytes"}
        if status == 206:
            headers["content-range"] = f"bytes {start}-{end}/{size}"
        return StreamingResponse(
            _read(path, start, end - start + 1),
            status_code=status,
            headers=headers,
            media_type="application/octet-stream",
        )

    # Changing entries ---------------------------------------------------------------

    @app.post(API + "/file-entries/delete")
    async def delete(request: Request) -> dict[str, Any]:
        body = await request.json()
        workspace(request, body)
        drive.delete([int(i) for i in body.get("entryIds") or []], bool(body.get("deleteForever")))
        return {"status": "success"}

    @app.post(API + "/file-entries/restore")
    async def restore(request: Request) -> dict[str, Any]:
        body = await request.json()
        drive.restore([int(i) for i in body.get("entryIds") or []])
        return {"status": "success"}

    @app.post(API + "/file-entries/move")
    async def move(request: Request) -> dict[str, Any]:
        body = await request.json()
        ids = [int(i) for i in body.get("entryIds") or []]
        moved = drive.move(ids, parent(body.get("destinationId")), workspace(request, body))
        return {"status": "success", "entries": [drive.to_json(e) for e in moved]}

    @app.post(API + "/file-entries/duplicate")
    async def duplicate(request: Request) -> dict[str, Any]:
        body = await request.json()
        ids = [int(i) for i in body.get("entryIds") or []]
        copies = drive.duplicate(ids, parent(body.get("destinationId")), workspace(request, body))
        return {"status": "success", "entries": [drive.to_json(e) for e in copies]}

    @app.put(API + "/file-entries/{entry_id}")
    async def update(entry_id: int, request: Request) -> dict[str, Any]:
        body = await request.json()
        entry = drive.update(entry_id, body.get("name"), body.get("description"))
        return {"status": "success", "fileEntry": drive.to_json(entry)}

    @app.post(API + "/file-entries/{entry_id}")
    async def rename(entry_id: int, request: Request) -> dict[str, Any]:
        if request.query_params.get("_method", "").upper() != "PUT":
            raise DriveError(405, "Method not allowed.")
        return await update(entry_id, request)

    # Account ------------------------------------------------------------------------

    @app.get(API + "/user/space-usage")
    async def space_usage() -> dict[str, Any]:
        return {"used": drive.used(), "available": drive.quota - drive.used()}

    @app.get(API + "/me/workspaces")
    async def workspaces() -> dict[str, Any]:
        return {
            "workspaces": [
                {"id": ws, "name": name, "currentUser": {"role_name": "Owner"}, "owner": {}}
                for ws, name in drive.workspaces.items()
                if ws
            ]
        }

    @app.get(API + "/cli/loggedUser")
    async def logged_user() -> dict[str, Any]:
        return {"user": {"id": 1, "email": "tester@example.com", "display_name": "Tester"}}

    # Test controls -------------------------------------------------------------------

    injector = FaultInjector(app)

    @app.post("/__fake__/faults")
    async def add_fault(request: Request) -> dict[str, Any]:
        injector.add(Fault.from_json(await request.json()))
        return {"faults": len(injector.faults)}

    @app.delete("/__fake__/faults")
    async def clear_faults() -> dict[str, Any]:
        injector.clear()
        return {"faults": 0}

    @app.get("/__fake__/log")
    async def request_log() -> list[dict[str, Any]]:
        return [vars(r) for r in injector.log]

    return app, injector


async def _receive_to(request: Request, path: Path) -> int:
    size = 0
    with path.open("wb") as out:
        async for chunk in request.stream():
            out.write(chunk)
            size += len(chunk)
    return size


async def _read(path: Path, start: int, length: int) -> AsyncIterator[bytes]:
    with path.open("rb") as f:
        f.seek(start)
        while length > 0:
            data = f.read(min(256 * 1024, length))
            if not data:
                return
            length -= len(data)
            yield data


def _parse_form(
    body: bytes, content_type: str
) -> tuple[dict[str, str], tuple[str, str, bytes] | None]:
    """A small multipart/form-data parser (the fake needs no python-multipart)."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if match is None:
        raise DriveError(422, "Expected multipart/form-data.")
    delimiter = b"--" + match[1].encode()
    fields: dict[str, str] = {}
    file: tuple[str, str, bytes] | None = None
    for part in body.split(delimiter)[1:]:
        if part.startswith(b"--"):
            break
        head, _, data = part.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        data = data.removesuffix(b"\r\n")
        headers = head.decode("utf-8", "replace")
        name = re.search(r'name="([^"]*)"', headers)
        filename = re.search(r'filename="((?:[^"\\]|\\.)*)"', headers)
        mime = re.search(r"Content-Type:\s*(\S+)", headers, re.IGNORECASE)
        if name is None:
            continue
        if filename is not None:
            text = json.loads(f'"{filename[1]}"') if "\\" in filename[1] else filename[1]
            file = (text, mime[1] if mime else "application/octet-stream", data)
        else:
            fields[name[1]] = data.decode("utf-8", "replace")
    return fields, file
