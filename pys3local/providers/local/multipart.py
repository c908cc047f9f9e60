"""Multipart uploads of the local backend.

An upload is a directory ``.pys3local/uploads/<upload-id>/`` holding ``upload.json``
(bucket, key, metadata, initiation time) and one file per part named
``<part-number>.<md5-hex>``. Naming a part by its MD5 makes it self-describing: a
part file and its ETag can never disagree, and CompleteMultipartUpload picks exactly
the bytes whose ETag the client names, even if a part was uploaded twice.

The directory lives inside the data directory, so any worker process (or a restarted
server) can continue an upload that another one started.

Parts written in place. Backup tools cut a file into parts of one size (all but the
last), so the upload fixes a part size P (``part-size``, from the first part of at
least :data:`MIN_PART_SIZE` whose length the client declared) and part *n* is written
straight into the upload's ``data`` file at offset (n-1)·P, recorded by an empty
marker file ``<part-number>.<md5-hex>.<offset>.<length>`` once its bytes are durable.
When the completed parts tile ``data`` exactly, CompleteMultipartUpload commits that
file as the object: no second copy of the bytes is written. Anything else (a part
larger than P, one of unknown length, the same part number written twice at once,
parts that leave a gap, a part number uploaded again) is stored as its own file and
the parts are copied together, as before; both kinds can mix in one upload. A slot is
only ever written once and under its part number's lock, so no record can describe
bytes that are not its own.

A part's verified checksums are kept beside it (:mod:`.part_sums`).
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import re
import secrets
import shutil
import time
from dataclasses import dataclass
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
from pys3local.providers.parts import PartsRecord

from .files import (
    ensure_dir,
    fsync_dir,
    translate_os_errors,
    write_json,
    write_new_file,
)
from .layout import StoreLayout, new_upload_id
from .part_files import DATA_FILE, InPlacePart, lock_part, part_file_name, remove_records
from .part_sums import read_sums, write_sums
from .staging import StagedFile, StagingArea

log = logging.getLogger("pys3local.local")

_PART_FILE = re.compile(r"(\d{5})\.([0-9a-f]{32})")
_IN_PLACE_MARKER = re.compile(r"(\d{5})\.([0-9a-f]{32})\.(\d{1,15})\.(\d{1,15})")
_MD5_HEX = re.compile(r"[0-9a-f]{32}")
_PART_SIZE_FILE = "part-size"
_NO_HARD_LINKS = (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK)


@dataclass(frozen=True, slots=True)
class _PartRecord:
    """Where a stored part's bytes are: its own file, or a range of ``data``."""

    md5: str
    size: int
    mtime_ns: int
    path: Path
    #: Offset in the upload's data file; None for a part in its own file.
    offset: int | None = None


@dataclass(frozen=True, slots=True)
class AssembledUpload:
    """A completed upload's bytes in one staged file, ready to commit."""

    upload: MultipartUpload
    path: Path
    size: int
    etag: str
    #: The upload's own data file was taken over (nothing was copied); if the commit
    #: fails, :meth:`LocalMultipartStore.give_back` returns it to the upload.
    taken_over: bool
    #: The parts, in object order: what the object keeps of its upload.
    record: PartsRecord


def _tiles_data_file(records: list[_PartRecord]) -> bool:
    """True when the parts, in order, are consecutive ranges of the data file from 0."""
    position = 0
    for record in records:
        if record.offset != position:
            return False
        position += record.size
    return bool(records)


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
        checksums: dict[str, str] | None = None,
    ) -> UploadedPart:
        directory = self._layout.upload_dir(upload_id)
        self.get(bucket, key, upload_id)
        target = directory / part_file_name(part_number, md5_hex)
        write_sums(directory, part_number, md5_hex, checksums or {}, durable=self._durable)
        lock_fd = lock_part(directory, part_number, wait=True)
        try:
            try:
                os.rename(staged, target)
            except FileNotFoundError:
                raise NoSuchUpload(UploadId=upload_id) from None  # aborted meanwhile
            # A re-uploaded part number replaces the earlier bytes.
            remove_records(directory, part_number, keep=target)
        finally:
            if lock_fd is not None:
                os.close(lock_fd)
        if self._durable:
            fsync_dir(directory)
        st = target.stat()
        return UploadedPart(
            part_number, st.st_size, md5_hex,
            datetime.fromtimestamp(st.st_mtime, timezone.utc), dict(checksums or {}),
        )  # fmt: skip

    def in_place_slot(
        self, bucket: str, key: str, upload_id: str, part_number: int, size: int | None
    ) -> InPlacePart | None:
        """A slot of the upload's data file for a part of declared ``size``, or None
        when the part must go to a file of its own (see the module docstring)."""
        upload_id_dir = self._layout.upload_dir(upload_id)
        self.get(bucket, key, upload_id)
        if not size:
            return None
        part_size = self._part_size(upload_id_dir, size)
        if part_size is None or size > part_size:
            return None
        lock_fd = lock_part(upload_id_dir, part_number, wait=False)
        if lock_fd is None:
            return None  # the same part number is being written: use a file
        try:
            if any(upload_id_dir.glob(f"{part_number:05d}.*")):
                # A part re-uploaded goes to a file of its own, so the stored one stays
                # whole until the new one is complete.
                os.close(lock_fd)
                return None
            return InPlacePart(upload_id_dir, part_number, (part_number - 1) * part_size, size,
                               lock_fd, durable=self._durable)  # fmt: skip
        except BaseException:
            os.close(lock_fd)
            raise

    def _part_size(self, directory: Path, size: int) -> int | None:
        """The upload's part size; the first part of at least MIN_PART_SIZE sets it.

        The file appears with its content (written, fsynced, then linked into place):
        parts arriving side by side must never read it empty.
        """
        path = directory / _PART_SIZE_FILE
        if size >= MIN_PART_SIZE and not path.exists():
            draft = directory / f"{_PART_SIZE_FILE}.{secrets.token_hex(8)}"
            try:
                write_new_file(draft, str(size).encode(), durable=self._durable)
                try:
                    os.link(draft, path)
                except FileExistsError:
                    pass
                except OSError as exc:
                    if exc.errno not in _NO_HARD_LINKS:
                        raise
                    return None  # a filesystem without hard links: parts in files
                else:
                    if self._durable:
                        # Slots are computed from it: it must never change once used.
                        fsync_dir(directory)
                    return size
            except FileNotFoundError:
                raise NoSuchUpload(UploadId=directory.name) from None
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(draft)
        try:
            text = path.read_text()
        except FileNotFoundError:
            return None
        return int(text) if text.isdigit() else None

    def _parts(self, directory: Path) -> dict[int, _PartRecord]:
        parts: dict[int, _PartRecord] = {}
        for entry in os.scandir(directory):
            match = _PART_FILE.fullmatch(entry.name)
            marker = None if match else _IN_PLACE_MARKER.fullmatch(entry.name)
            if match is None and marker is None:
                continue
            st = entry.stat()
            if match is not None:
                number = int(match[1])
                record = _PartRecord(match[2], st.st_size, st.st_mtime_ns, Path(entry.path))
            else:
                assert marker is not None
                number = int(marker[1])
                record = _PartRecord(
                    marker[2], int(marker[4]), st.st_mtime_ns, directory / DATA_FILE,
                    offset=int(marker[3]),
                )  # fmt: skip
            # Two records for one number only survive a crash mid-replace: newest wins.
            if number not in parts or record.mtime_ns > parts[number].mtime_ns:
                parts[number] = record
        return parts

    def list_parts(
        self, bucket: str, key: str, upload_id: str
    ) -> tuple[MultipartUpload, list[UploadedPart]]:
        upload = self.get(bucket, key, upload_id)
        directory = self._layout.upload_dir(upload_id)
        parts = self._parts(directory)
        listed = [
            UploadedPart(
                n,
                r.size,
                r.md5,
                datetime.fromtimestamp(r.mtime_ns / 1e9, timezone.utc),
                read_sums(directory, n, r.md5),
            )
            for n, r in sorted(parts.items())
        ]
        return upload, listed

    def assemble(
        self, bucket: str, key: str, upload_id: str, parts: list[CompletedPart]
    ) -> AssembledUpload:
        """The named parts as one staged file, with its size and multipart ETag. The
        caller commits it and then calls :meth:`remove` (or :meth:`give_back`)."""
        upload = self.get(bucket, key, upload_id)
        directory = self._layout.upload_dir(upload_id)
        stored = self._parts(directory)
        records: list[_PartRecord] = []
        for index, part in enumerate(parts):
            record = stored.get(part.part_number)
            if record is None or record.md5 != part.etag or not _MD5_HEX.fullmatch(part.etag):
                raise InvalidPart(PartNumber=str(part.part_number), ETag=part.etag)
            if record.size < MIN_PART_SIZE and index < len(parts) - 1:
                raise EntityTooSmall(
                    ProposedSize=str(record.size),
                    MinSizeAllowed=str(MIN_PART_SIZE),
                    PartNumber=str(part.part_number),
                )
            records.append(record)
        etag = multipart_etag([p.etag for p in parts])
        total = sum(record.size for record in records)
        sums = tuple(
            read_sums(directory, p.part_number, r.md5) for p, r in zip(parts, records, strict=True)
        )
        kept = PartsRecord(
            upload_id,
            tuple(r.size for r in records),
            tuple(p.part_number for p in parts),
            sums if any(sums) else (),
        )
        if _tiles_data_file(records):
            taken = self._take_over(directory, total)
            return AssembledUpload(upload, taken, total, etag, True, kept)
        staged = StagedFile(self._staging.new_name(), durable=self._durable)
        try:
            for record in records:
                fd = os.open(record.path, os.O_RDONLY)
                try:
                    staged.copy_from(fd, record.size, record.offset or 0)
                finally:
                    os.close(fd)
            staged.finish()
        except BaseException:
            staged.discard()
            raise
        return AssembledUpload(upload, staged.path, staged.size, etag, False, kept)

    def _take_over(self, directory: Path, size: int) -> Path:
        """Move the upload's data file, cut to ``size``, into this process's staging
        area under the upload's id (recovery gives it back if we die before the
        commit)."""
        data = directory / DATA_FILE
        with translate_os_errors():
            try:
                fd = os.open(data, os.O_WRONLY)
            except FileNotFoundError:
                # Taken by a CompleteMultipartUpload of the same upload running now.
                raise NoSuchUpload(UploadId=directory.name) from None
            try:
                os.ftruncate(fd, size)  # a part written but not completed may lie beyond
                if self._durable:
                    os.fsync(fd)
            finally:
                os.close(fd)
        staged = self._staging.new_name().with_name(f"{directory.name}.data")
        try:
            os.rename(data, staged)
        except FileNotFoundError:
            raise NoSuchUpload(UploadId=directory.name) from None
        return staged

    def give_back(self, upload_id: str, staged: Path) -> None:
        """Return a taken-over data file to its upload after a failed commit."""
        with contextlib.suppress(FileNotFoundError):
            os.rename(staged, self._layout.upload_dir(upload_id) / DATA_FILE)

    def remove_completed(self) -> None:
        """Remove uploads whose data file was committed as their object by a process
        that died before it could remove the upload (recovery has already given back
        the data of commits that never happened)."""
        if not self._layout.uploads.is_dir():
            return
        being_completed = {data.stem for data in self._layout.staging.glob("*/*.data") if data.stem}
        for entry in os.scandir(self._layout.uploads):
            directory = Path(entry.path)
            if entry.name in being_completed or (directory / DATA_FILE).exists():
                continue
            if any(_IN_PLACE_MARKER.fullmatch(name) for name in os.listdir(directory)):
                log.info("removing multipart upload %s, completed before a restart", entry.name)
                self.remove(entry.name)

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
