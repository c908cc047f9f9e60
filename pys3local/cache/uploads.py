"""Multipart uploads in progress, kept in the cache database for every server process.

A backend that has no place of its own for an upload's bookkeeping (Drime: its
store holds the parts' bytes, but nothing that maps our UploadId, part MD5s and
metadata onto them) keeps it here, so a second worker or a restarted server on the
same machine finds the upload. The rows are bound to a workspace and store like
the ``objects`` rows. Synchronous, like the rest of the cache: call from a thread.

The state changes that race between processes are single statements in one write
transaction: adding a part only while the upload exists and is not being
completed, and claiming an upload for CompleteMultipartUpload.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .schema import from_micros, micros

if TYPE_CHECKING:
    from .database import MetadataCache

_UPLOAD_COLUMNS = "upload_id, bucket, key, initiated, metadata, backend, completing"


@dataclass(frozen=True, slots=True)
class UploadRow:
    """One upload in progress. ``metadata`` and ``backend`` are JSON objects."""

    upload_id: str
    bucket: str
    key: str
    initiated: datetime
    metadata: dict[str, Any]
    backend: dict[str, Any]
    #: When a CompleteMultipartUpload claimed it; None if none did.
    completing: datetime | None = None


@dataclass(frozen=True, slots=True)
class PartRow:
    number: int
    size: int
    md5: str
    backend_etag: str
    uploaded: datetime


class UploadTable:
    """The uploads of one workspace and store (see :class:`MetadataCache`)."""

    def __init__(self, cache: MetadataCache, workspace_id: int, store: str) -> None:
        self._cache = cache
        self._scope = (workspace_id, store)

    def add(self, row: UploadRow) -> None:
        values = (
            row.upload_id,
            *self._scope,
            row.bucket,
            row.key,
            micros(row.initiated),
            json.dumps(row.metadata),
            json.dumps(row.backend),
        )
        self._cache._write(
            lambda conn: conn.execute(
                "INSERT INTO multipart_uploads (upload_id, workspace_id, store, bucket, key, "
                "initiated, metadata, backend) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                values,
            )
        )

    def get(self, upload_id: str) -> UploadRow | None:
        rows = self._cache._read(
            f"SELECT {_UPLOAD_COLUMNS} FROM multipart_uploads "
            "WHERE upload_id = ? AND workspace_id = ? AND store = ?",
            (upload_id, *self._scope),
        )
        return _upload(rows[0]) if rows else None

    def parts(self, upload_id: str) -> list[PartRow]:
        rows = self._cache._read(
            "SELECT number, size, md5, backend_etag, uploaded FROM multipart_parts "
            "WHERE upload_id = ? ORDER BY number",
            (upload_id,),
        )
        return [PartRow(n, size, md5, etag, _time(up)) for n, size, md5, etag, up in rows]

    def put_part(self, upload_id: str, part: PartRow) -> bool:
        """Record (or replace) a part; False if the upload is gone or being completed."""

        def put(conn: sqlite3.Connection) -> bool:
            if not _open_upload(conn, upload_id, self._scope):
                return False
            values = (upload_id, part.number, part.size, part.md5, part.backend_etag)
            conn.execute(
                "INSERT OR REPLACE INTO multipart_parts "
                "(upload_id, number, size, md5, backend_etag, uploaded) VALUES (?, ?, ?, ?, ?, ?)",
                (*values, micros(part.uploaded)),
            )
            return True

        return self._cache._write(put)

    def claim(self, upload_id: str, now: datetime, stale_before: datetime) -> bool:
        """Mark the upload as being completed; False if it is gone, or another
        Complete claimed it after ``stale_before`` (an older claim was abandoned by
        a process that died, and is taken over)."""
        return bool(
            self._cache._write(
                lambda conn: (
                    conn.execute(
                        "UPDATE multipart_uploads SET completing = ? WHERE upload_id = ? "
                        "AND workspace_id = ? AND store = ? AND completing < ?",
                        (micros(now), upload_id, *self._scope, micros(stale_before)),
                    ).rowcount
                )
            )
        )

    def release(self, upload_id: str) -> None:
        """Undo :meth:`claim` (the Complete failed; parts may change again)."""
        self._cache._write(
            lambda conn: conn.execute(
                "UPDATE multipart_uploads SET completing = 0 WHERE upload_id = ?", (upload_id,)
            )
        )

    def remove(self, upload_id: str) -> bool:
        """Forget the upload and its parts; False if it was already gone."""

        def remove(conn: sqlite3.Connection) -> bool:
            gone = conn.execute(
                "DELETE FROM multipart_uploads WHERE upload_id = ? AND workspace_id = ? "
                "AND store = ?",
                (upload_id, *self._scope),
            ).rowcount
            if gone:
                conn.execute("DELETE FROM multipart_parts WHERE upload_id = ?", (upload_id,))
            return bool(gone)

        return self._cache._write(remove)

    def list(self, bucket: str | None = None) -> list[UploadRow]:
        """The uploads of ``bucket`` (every bucket if None), oldest first."""
        where, params = "workspace_id = ? AND store = ?", self._scope
        if bucket is not None:
            where, params = where + " AND bucket = ?", (*params, bucket)
        rows = self._cache._read(
            f"SELECT {_UPLOAD_COLUMNS} FROM multipart_uploads WHERE {where} ORDER BY initiated",
            params,
        )
        return [_upload(row) for row in rows]


def _open_upload(conn: sqlite3.Connection, upload_id: str, scope: tuple[int, str]) -> bool:
    return (
        conn.execute(
            "SELECT 1 FROM multipart_uploads WHERE upload_id = ? AND workspace_id = ? "
            "AND store = ? AND completing = 0",
            (upload_id, *scope),
        ).fetchone()
        is not None
    )


def _time(value: int) -> datetime:
    moment = from_micros(value)
    assert moment is not None
    return moment


def _upload(row: tuple) -> UploadRow:
    upload_id, bucket, key, initiated, metadata, backend, completing = row
    return UploadRow(
        upload_id,
        bucket,
        key,
        _time(initiated),
        json.loads(metadata),
        json.loads(backend),
        from_micros(completing) if completing else None,
    )
