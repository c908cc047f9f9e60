"""Access keys and their rights: who may do what to which bucket.

An :class:`AccessKey` is a name, an access key id, a secret, the buckets it may use
(names or ``*``-patterns) and its :class:`Right` set on them. Every operation's record
in the dispatch table names the :class:`Need` it has of the key that signed it
(:class:`~.operations.OperationSpec.needs`), so authorizing a request is one table
look-up and a set test (see :mod:`.authorization`); an operation added later (bucket
versioning, Object Lock retention) only has to say what it needs.

This module is pure data: where keys are stored is :mod:`pys3local.config.keys`.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property


class Right(str, enum.Enum):
    """What a key may do on its buckets (the words of ``keys add --allow``)."""

    #: GetObject, HeadObject, listings, bucket configuration reads.
    READ = "read"
    #: PutObject, CopyObject, multipart uploads, overwriting included.
    WRITE = "write"
    #: Writes that create keys only: no overwrite, no delete, no delete marker.
    APPEND_ONLY = "append-only"
    #: DeleteObject(s), AbortMultipartUpload.
    DELETE = "delete"
    #: CreateBucket, DeleteBucket (and, with versioning, bucket configuration).
    ADMIN = "admin"

    def __str__(self) -> str:
        return self.value


ALL_RIGHTS: frozenset[Right] = frozenset(Right)


def parse_rights(text: str | Iterable[str]) -> frozenset[Right]:
    """``"read,append-only"`` (or a list of words) as a set of rights.

    Raises ValueError naming the unknown word and the known ones.
    """
    words = text.split(",") if isinstance(text, str) else list(text)
    rights = set()
    for word in (w.strip().lower() for w in words):
        if not word:
            continue
        try:
            rights.add(Right(word))
        except ValueError:
            known = ", ".join(r.value for r in Right)
            raise ValueError(f"unknown right {word!r} (known: {known})") from None
    if not rights:
        raise ValueError("no right given (known: " + ", ".join(r.value for r in Right) + ")")
    return frozenset(rights)


def format_rights(rights: Iterable[Right]) -> str:
    """Rights in a stable order, comma-separated (``read,append-only``)."""
    chosen = set(rights)
    return ",".join(r.value for r in Right if r in chosen)


class Need(enum.Enum):
    """What an operation needs of the key that signed it.

    Every :class:`~.operations.OperationSpec` names one; there is no default, so an
    operation cannot be added without deciding it.
    """

    #: The bucket must be one of the key's, with any right: HeadBucket and
    #: GetBucketLocation, which clients call before anything else (minio-go asks for
    #: the location even to write with an append-only key), and ListBuckets, which
    #: lists only the key's buckets.
    BUCKET = "bucket"
    #: ``read`` on the bucket.
    READ = "read"
    #: ``write``, or ``append-only``, which then turns the write into a create-only
    #: one (the provider refuses to replace an existing key, atomically).
    WRITE = "write"
    #: A change to an existing object that is not a new version of it (its tags,
    #: its ACL): ``write`` only; append-only keys never change what exists.
    MODIFY = "modify"
    #: PutObjectRetention, PutObjectLegalHold: ``write``, or ``append-only``, which
    #: may then only make a protection stronger (a later date, a hold set), never
    #: weaker; lifting GOVERNANCE retention also needs ``admin`` (checked by the
    #: handler, as it depends on ``x-amz-bypass-governance-retention``).
    RETAIN = "retain"
    #: A write that adds nothing visible (multipart staging: create, upload a part):
    #: ``write`` or ``append-only``, unchanged.
    STAGE = "stage"
    #: ``delete`` on the bucket.
    DELETE = "delete"
    #: DeleteObject: ``delete``; an ``append-only`` key may also remove a restic lock
    #: file (``.../locks/<64 hex digits>``), exactly as restic's rest-server and
    #: ``rclone serve restic`` allow in append-only mode. restic writes a lock for
    #: every command and removes it at the end; without this exception each backup
    #: retries the removal for a minute and leaves a lock that stops the next
    #: ``check``. A lock file holds no backup data.
    DELETE_OBJECT = "delete-object"
    #: ``admin`` on the bucket (CreateBucket, DeleteBucket; later the versioning and
    #: Object Lock configuration, governance bypass).
    ADMIN = "admin"


#: A restic lock file: ``locks/<id>`` under the repository's prefix.
RESTIC_LOCK = re.compile(r"(?:.*/)?locks/[0-9a-f]{64}")

_BUCKET_PATTERN = re.compile(r"[a-z0-9*][a-z0-9.*-]{0,62}")


def check_bucket_pattern(pattern: str) -> str:
    """Return ``pattern`` if it is a bucket name or a ``*``-pattern; else ValueError."""
    if not _BUCKET_PATTERN.fullmatch(pattern):
        raise ValueError(
            f"invalid bucket {pattern!r}: use a bucket name (lower-case letters, digits, "
            "'.', '-') or a pattern with '*'"
        )
    return pattern


def _pattern_regex(patterns: Iterable[str]) -> re.Pattern[str]:
    parts = [".*".join(re.escape(piece) for piece in p.split("*")) for p in patterns]
    return re.compile("|".join(f"(?:{p})" for p in parts) or "(?!)")


@dataclass(frozen=True)
class AccessKey:
    """One key: who signs with it, and what it may do where."""

    name: str
    access_key_id: str
    secret: str = field(repr=False)
    #: Bucket names or ``*``-patterns (``backup-*``, ``*``).
    buckets: tuple[str, ...] = ("default",)
    rights: frozenset[Right] = ALL_RIGHTS
    enabled: bool = True

    @cached_property
    def _bucket_regex(self) -> re.Pattern[str]:
        return _pattern_regex(self.buckets)

    def may_use(self, bucket: str) -> bool:
        """Whether ``bucket`` is one of this key's buckets."""
        return self._bucket_regex.fullmatch(bucket) is not None

    @property
    def label(self) -> str:
        """How the access log names the key: ``name/access key id`` (never the secret)."""
        return f"{self.name}/{self.access_key_id}"


class Keyring:
    """The enabled keys by access key id: one dict look-up per request, whatever
    the number of keys."""

    __slots__ = ("_by_id", "keys")

    def __init__(self, keys: Iterable[AccessKey] = ()) -> None:
        self.keys: tuple[AccessKey, ...] = tuple(keys)
        self._by_id: Mapping[str, AccessKey] = {
            k.access_key_id: k for k in reversed(self.keys) if k.enabled
        }

    def get(self, access_key_id: str) -> AccessKey | None:
        return self._by_id.get(access_key_id)

    def __len__(self) -> int:
        return len(self._by_id)
