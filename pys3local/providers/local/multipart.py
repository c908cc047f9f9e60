"""Multipart uploads of the local backend.

An upload is a directory ``.pys3local/uploads/<upload-id>/`` holding ``upload.json``
(bucket, key, metadata, initiation time) and one file per part named
``<part-number>.<md5-hex>``. Naming a part by its MD5 makes it self-describing: a
part file and its ETag can never disagree, and CompleteMultipartUpload picks exactly
the bytes whose ETag the client names, even if a part was uploaded twice.

The directory lives inside the data directory, so any worker process (or a restarted
server) can continue an upload that another one started.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path

from pys3local.errors import EntityTooSmall, InvalidPart, NoSuchUpload
from pys3local.providers.base import (
    MIN_PART_SIZE,
    CompletedPart,
    MultipartUpload,
    ObjectMetadata,
    UploadedPart,
    multipart_etag,
)

from .atomic import StagedFile, StagingArea, ensure_dir, fsync_dir, write_json
from .layout import StoreLayout, new_upload_id

_PART_FILE = re.compile(r"(\d{5})\.([0-9a-f]{32})")
_MD5_HEX = re.compile(r"[0-9a-f]{32}")


def _part_file_name(part_number: int, md5_hex: str) -> str:
    return f"{part_number:05d}.{md5_hex}"


class LocalMultipartStore:
    """Upload directories under ``layout.uploads``. All methods are blocking."""

    def __init__(self, layout: StoreLayout, staging: StagingArea, *, durable: bool) -> None:
        self._layout = layout
        self._staging = staging
        self._durable = durable

    def create(self, bucket: str, key: str, metadata: ObjectMetadata) -> MultipartUpload:
        upload = MultipartUpload(new_upload_id(), bucket, key, datetime.now(timezone.utc), metadata)
        # Built in staging and renamed into place, so a listed upload is always whole.
        building = self._staging.new_name().with_suffix("")
        ensure_dir(building)
        document = {
            "bucket": bucket,
            "key": key,
            "initiated": upload.initiated.isoformat(),
            "metadata": metadata.to_dict(),
        }
        write_json(building / "upload.json", document, durable=self._durable)
        os.rename(building, self._layout.upload_dir(upload.upload_id))
        if self._durable:
            fsync_dir(self._layout.uploads)
        return upload

    def get(self, bucket: str, key: str, upload_id: str) -> MultipartUpload:
        directory = self._layout.upload_dir(upload_id)
        upload = self._read(directory)
        if upload is None or upload.bucket != bucket or upload.key != key:
            raise NoSuchUpload(UploadId=upload_id)
        return upload

    @staticmethod
    def _read(directory: Path) -> MultipartUpload | None:
        try:
            document = json.loads((directory / "upload.json").read_bytes())
            return MultipartUpload(
                upload_id=directory.name,
                bucket=document["bucket"],
                key=document["key"],
                initiated=datetime.fromisoformat(document["initiated"]),
                metadata=ObjectMetadata.from_dict(document.get("metadata") or {}),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def add_part(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        part_number: int,
        staged: Path,
        md5_hex: str,
    ) -> UploadedPart:
        directory = self._layout.upload_dir(upload_id)
        self.get(bucket, key, upload_id)
        target = directory / _part_file_name(part_number, md5_hex)
        try:
            os.rename(staged, target)
        except FileNotFoundError:
            raise NoSuchUpload(UploadId=upload_id) from None  # aborted meanwhile
        # A re-uploaded part number replaces the earlier bytes.
        for old in directory.glob(f"{part_number:05d}.*"):
            if old != target:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(old)
        if self._durable:
            fsync_dir(directory)
        st = target.stat()
        return UploadedPart(
            part_number, st.st_size, md5_hex, datetime.fromtimestamp(st.st_mtime, timezone.utc)
        )

    def _parts(self, directory: Path) -> dict[int, tuple[str, os.stat_result]]:
        parts: dict[int, tuple[str, os.stat_result]] = {}
        for entry in os.scandir(directory):
            match = _PART_FILE.fullmatch(entry.name)
            if match is None:
                continue
            number, st = int(match[1]), entry.stat()
            # Two files for one number only survive a crash mid-replace: newest wins.
            if number not in parts or st.st_mtime_ns > parts[number][1].st_mtime_ns:
                parts[number] = (match[2], st)
        return parts

    def list_parts(
        self, bucket: str, key: str, upload_id: str
    ) -> tuple[MultipartUpload, list[UploadedPart]]:
        upload = self.get(bucket, key, upload_id)
        parts = self._parts(self._layout.upload_dir(upload_id))
        listed = [
            UploadedPart(n, st.st_size, md5, datetime.fromtimestamp(st.st_mtime, timezone.utc))
            for n, (md5, st) in sorted(parts.items())
        ]
        return upload, listed

    def assemble(
        self, bucket: str, key: str, upload_id: str, parts: list[CompletedPart]
    ) -> tuple[MultipartUpload, Path, int, str]:
        """Concatenate the named parts into a staged file; return it with its size and
        multipart ETag. The caller commits it and then calls :meth:`remove`."""
        upload = self.get(bucket, key, upload_id)
        directory = self._layout.upload_dir(upload_id)
        sources: list[tuple[Path, int]] = []
        for index, part in enumerate(parts):
            path = directory / _part_file_name(part.part_number, part.etag)
            if not _MD5_HEX.fullmatch(part.etag) or not path.is_file():
                raise InvalidPart(PartNumber=str(part.part_number), ETag=part.etag)
            size = path.stat().st_size
            if size < MIN_PART_SIZE and index < len(parts) - 1:
                raise EntityTooSmall(
                    ProposedSize=str(size),
                    MinSizeAllowed=str(MIN_PART_SIZE),
                    PartNumber=str(part.part_number),
                )
            sources.append((path, size))
        staged = StagedFile(self._staging.new_name(), durable=self._durable)
        try:
            for path, size in sources:
                fd = os.open(path, os.O_RDONLY)
                try:
                    staged.copy_from(fd, size)
                finally:
                    os.close(fd)
            staged.finish()
        except BaseException:
            staged.discard()
            raise
        return upload, staged.path, staged.size, multipart_etag([p.etag for p in parts])

    def remove(self, upload_id: str) -> None:
        shutil.rmtree(self._layout.upload_dir(upload_id), ignore_errors=True)

    def abort(self, bucket: str, key: str, upload_id: str) -> None:
        self.get(bucket, key, upload_id)
        self.remove(upload_id)

    def list_uploads(self, bucket: str, prefix: str) -> list[MultipartUpload]:
        uploads = []
        for entry in os.scandir(self._layout.uploads):
            upload = self._read(Path(entry.path))
            if upload is not None and upload.bucket == bucket and upload.key.startswith(prefix):
                uploads.append(upload)
        uploads.sort(key=lambda u: (u.key, u.initiated))
        return uploads

    def remove_older_than(self, seconds: float) -> int:
        """Delete uploads initiated more than ``seconds`` ago (abandoned by clients)."""
        cutoff = time.time() - seconds
        removed = 0
        if not self._layout.uploads.is_dir():
            return 0
        for entry in os.scandir(self._layout.uploads):
            upload = self._read(Path(entry.path))
            started = upload.initiated.timestamp() if upload else entry.stat().st_mtime
            if started < cutoff:
                shutil.rmtree(entry.path, ignore_errors=True)
                removed += 1
        return removed
