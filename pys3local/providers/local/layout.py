"""Where the local backend keeps things on disk, and how keys map to paths.

Layout under the data directory (``--path``)::

    <root>/<bucket>/objects/<key>            object data, findable by its key
    <root>/<bucket>/.metadata/<key>.json     its metadata (ETag, content type, x-amz-meta-*)
    <root>/<bucket>/.bucket.json             bucket settings (versioning), absent until set
    <root>/<bucket>/.versions/<key>.json/    non-current versions and delete markers of a
                                             key (see :mod:`.versions`), named like the
                                             key's sidecar
    <root>/.pys3local/staging/<writer>/      temporary files of live writers
    <root>/.pys3local/uploads/<upload-id>/   multipart uploads in progress
    <root>/.pys3local/locks/<nn>             striped lock files

Bucket names cannot start with a dot, so ``.pys3local`` never collides with one.

A key is split on ``/`` and each segment becomes one path component. Segments that a
filesystem cannot hold verbatim are escaped with ``%`` (which is therefore always
escaped itself), so every key maps to exactly one path strictly inside
``objects/``:

========================  ==================
segment                   stored as
========================  ==================
``""`` (``//``, ``a/``)   ``%``
``.`` / ``..``            ``%2E`` / ``%2E%2E``
contains ``%`` or NUL     ``%25`` / ``%00``
anything else             itself
========================  ==================

In the metadata tree a directory segment ending in ``.json`` is stored as
``...%2Ejson`` so that the sidecar of key ``a/b`` (``a/b.json``) and the directory of
key ``a/b.json/c`` never collide.
"""

from __future__ import annotations

import re
import secrets
import zlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from pys3local.errors import KeyTooLongError, NoSuchUpload

#: Linux NAME_MAX; a longer path component cannot be created.
MAX_SEGMENT_BYTES = 255
LOCK_STRIPES = 256
UPLOAD_ID = re.compile(r"[0-9a-f]{32}")


def encode_segment(segment: str) -> str:
    """Return the path component that stores one ``/``-separated key segment."""
    if segment == "":
        encoded = "%"
    elif segment in (".", ".."):
        encoded = segment.replace(".", "%2E")
    elif "%" in segment or "\0" in segment:
        encoded = segment.replace("%", "%25").replace("\0", "%00")
    else:
        encoded = segment
    if len(encoded.encode("utf-8", "surrogatepass")) > MAX_SEGMENT_BYTES:
        raise KeyTooLongError(
            f"Each '/'-separated part of a key may be at most {MAX_SEGMENT_BYTES} bytes "
            "on the local filesystem backend."
        )
    return encoded


def decode_segment(name: str) -> str:
    """Inverse of :func:`encode_segment`."""
    if name == "%":
        return ""
    if "%" in name:
        return unquote(name)
    return name


def metadata_dir_segment(encoded: str) -> str:
    """How a directory of the object tree is named in the metadata tree."""
    return encoded[:-5] + "%2Ejson" if encoded.endswith(".json") else encoded


@dataclass(frozen=True, slots=True)
class ObjectPaths:
    data: Path
    metadata: Path


class StoreLayout:
    """Path arithmetic for one data directory. Pure: it never touches the disk."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.internal = root / ".pys3local"
        self.staging = self.internal / "staging"
        self.uploads = self.internal / "uploads"
        self.locks = self.internal / "locks"
        #: bucket -> (objects dir, metadata dir) with a trailing "/", for object_files.
        self._bucket_bases: dict[str, tuple[str, str]] = {}

    def bucket_dir(self, bucket: str) -> Path:
        # Bucket names are validated by the protocol layer (S3 naming rules), which
        # already excludes "", ".", ".." and "/"; this check keeps the backend safe on
        # its own, e.g. when used as a library.
        if not bucket or bucket.startswith(".") or "/" in bucket or "\0" in bucket:
            raise ValueError(f"unsafe bucket name {bucket!r}")
        return self.root / bucket

    def objects_dir(self, bucket: str) -> Path:
        return self.bucket_dir(bucket) / "objects"

    def metadata_dir(self, bucket: str) -> Path:
        return self.bucket_dir(bucket) / ".metadata"

    def versions_dir(self, bucket: str) -> Path:
        return self.bucket_dir(bucket) / ".versions"

    def bucket_config(self, bucket: str) -> Path:
        return self.bucket_dir(bucket) / ".bucket.json"

    def key_versions_dir(self, bucket: str, key: str) -> Path:
        """The directory of a key's non-current versions: its sidecar's path with
        ``.versions`` for ``.metadata``, so the metadata tree's encoding keeps every
        key's directory apart from the directories of longer keys."""
        segments = [encode_segment(s) for s in key.split("/")]
        meta_dirs = [metadata_dir_segment(s) for s in segments[:-1]]
        return self.versions_dir(bucket).joinpath(*meta_dirs, segments[-1] + ".json")

    def object_paths(self, bucket: str, key: str) -> ObjectPaths:
        data, metadata = self.object_files(bucket, key)
        return ObjectPaths(Path(data), Path(metadata))

    def object_files(self, bucket: str, key: str) -> tuple[str, str]:
        """The data file and sidecar of a key, as strings (:meth:`object_paths` without
        the cost of building ``Path`` objects, for the per-request read path)."""
        bases = self._bucket_bases.get(bucket)
        if bases is None:
            bases = (f"{self.objects_dir(bucket)}/", f"{self.metadata_dir(bucket)}/")
            if len(self._bucket_bases) < 1024:
                self._bucket_bases[bucket] = bases
        segments = [encode_segment(s) for s in key.split("/")]
        meta_dirs = [metadata_dir_segment(s) + "/" for s in segments[:-1]]
        return (
            bases[0] + "/".join(segments),
            bases[1] + "".join(meta_dirs) + segments[-1] + ".json",
        )

    def prefix_dirs(self, bucket: str, prefix: str) -> tuple[Path, Path, str]:
        """The deepest directory that holds every key starting with ``prefix``.

        Returns that directory, its twin in the metadata tree, and the key prefix its
        entries share (``prefix`` up to and including its last ``/``).
        """
        cut = prefix.rfind("/") + 1
        dir_prefix = prefix[:cut]
        segments = [encode_segment(s) for s in dir_prefix.split("/")[:-1]]
        meta_segments = [metadata_dir_segment(s) for s in segments]
        return (
            self.objects_dir(bucket).joinpath(*segments),
            self.metadata_dir(bucket).joinpath(*meta_segments),
            dir_prefix,
        )

    def lock_file(self, bucket: str, key: str) -> Path:
        stripe = hash_stripe(f"{bucket}/{key}")
        return self.locks / f"{stripe:02x}"

    def upload_dir(self, upload_id: str) -> Path:
        # The upload id comes from the client: only our own format may reach the disk.
        if not UPLOAD_ID.fullmatch(upload_id):
            raise NoSuchUpload()
        return self.uploads / upload_id


def hash_stripe(text: str) -> int:
    """A stable stripe number: Python's hash() is salted per process, so it cannot be
    shared by several worker processes."""
    return zlib.crc32(text.encode("utf-8", "surrogatepass")) % LOCK_STRIPES


def new_upload_id() -> str:
    return secrets.token_hex(16)
