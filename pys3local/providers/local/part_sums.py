"""A multipart part's verified checksums, kept beside the part.

A part's checksums (``x-amz-checksum-*``, verified while its body streamed), if it
had any, are written to ``sums.<part-number>.<md5-hex>`` in the upload's directory
before the part is recorded, so a recorded part never lacks them. Named by the MD5
like the part itself, they describe those bytes whichever upload of the number they
came with, and a part re-uploaded with other bytes has other sums.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from pathlib import Path

from pys3local.errors import NoSuchUpload

from .files import write_json


def _sums_name(part_number: int, md5_hex: str) -> str:
    return f"sums.{part_number:05d}.{md5_hex}"


def write_sums(
    directory: Path, part_number: int, md5_hex: str, checksums: dict[str, str], *, durable: bool
) -> None:
    """Keep a part's checksums beside it (before the part is recorded, so a recorded
    part never lacks them). Written whole, then renamed into place."""
    if not checksums:
        return
    draft = directory / f"sums.{secrets.token_hex(8)}.draft"
    try:
        write_json(draft, dict(checksums), durable=durable)
        os.replace(draft, directory / _sums_name(part_number, md5_hex))
    except FileNotFoundError:
        raise NoSuchUpload(UploadId=directory.name) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(draft)


def read_sums(directory: Path, part_number: int, md5_hex: str) -> dict[str, str]:
    try:
        document = json.loads((directory / _sums_name(part_number, md5_hex)).read_bytes())
    except (OSError, ValueError):
        return {}
    if not isinstance(document, dict):
        return {}
    return {str(k): str(v) for k, v in document.items()}
