"""Object Lock in the provider interface: a bucket's lock configuration, a version's
retention and legal hold, and their defaults for a backend that cannot lock.

:class:`~.base.StorageProvider` inherits :class:`ObjectLockDefaults`: a backend that
keeps no versions has no lock configuration, and every attempt to set one answers
NotImplemented naming the backend, so nothing pretends to be immutable when it is not.

The protocol layer parses and renders the XML; a backend stores these values and
enforces them where versions are removed or overwritten.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from pys3local.errors import NotImplementedOperation, ObjectLockConfigurationNotFoundError

#: The retention modes, as S3 spells them.
GOVERNANCE = "GOVERNANCE"
COMPLIANCE = "COMPLIANCE"
RETENTION_MODES = (GOVERNANCE, COMPLIANCE)


@dataclass(frozen=True, slots=True)
class Retention:
    """A version's retention: ``mode`` protects it until ``retain_until`` (UTC)."""

    mode: str
    retain_until: datetime


@dataclass(frozen=True, slots=True)
class DefaultRetention:
    """A bucket's default retention for new versions: exactly one of ``days`` and
    ``years`` is set."""

    mode: str
    days: int | None = None
    years: int | None = None


@dataclass(frozen=True, slots=True)
class ObjectLockConfiguration:
    """A bucket's Object Lock configuration; ``default_retention`` is None when new
    versions get no retention of their own."""

    enabled: bool = True
    default_retention: DefaultRetention | None = None


@dataclass(frozen=True, slots=True)
class VersionProtection:
    """What a client asks for when it writes a version: a retention, a legal hold, or
    both; ``None`` fields mean "the bucket's default" (retention) and "off" (hold)."""

    retention: Retention | None = None
    legal_hold: bool | None = None


class ObjectLockDefaults:
    """The Object Lock operations of a provider, with their defaults."""

    #: The backend's name in errors ("... not supported by the Drime backend").
    backend_name: str = "this"

    if TYPE_CHECKING:  # provided by StorageProvider

        async def get_bucket(self, bucket: str) -> object: ...

    def _no_object_lock(self) -> NotImplementedOperation:
        return NotImplementedOperation(
            f"Object Lock is not supported by the {self.backend_name} backend."
        )

    async def get_object_lock_configuration(self, bucket: str) -> ObjectLockConfiguration:
        """The bucket's lock configuration. Raises NoSuchBucket, and
        ObjectLockConfigurationNotFoundError when lock was never enabled."""
        await self.get_bucket(bucket)
        raise ObjectLockConfigurationNotFoundError()

    async def put_object_lock_configuration(
        self, bucket: str, configuration: ObjectLockConfiguration
    ) -> None:
        """Enable lock (it can never be disabled) and set or clear the default
        retention. Raises NoSuchBucket, InvalidBucketState (versioning not enabled),
        NotImplemented on a backend without versions."""
        raise self._no_object_lock()

    async def get_object_retention(
        self, bucket: str, key: str, version_id: str | None
    ) -> Retention | None:
        """The retention of a version (the latest when ``version_id`` is None); None
        when it has none. Raises NoSuchKey, NoSuchVersion, InvalidRequest (bucket
        without lock)."""
        raise self._no_object_lock()

    async def put_object_retention(
        self,
        bucket: str,
        key: str,
        version_id: str | None,
        retention: Retention | None,
        *,
        bypass_governance: bool = False,
    ) -> str:
        """Set (or, with None, remove) a version's retention under S3's rules;
        returns the version id. Raises AccessDenied for a change the rules forbid."""
        raise self._no_object_lock()

    async def get_object_legal_hold(self, bucket: str, key: str, version_id: str | None) -> bool:
        """Whether a version has a legal hold."""
        raise self._no_object_lock()

    async def put_object_legal_hold(
        self, bucket: str, key: str, version_id: str | None, on: bool
    ) -> str:
        """Set or clear a version's legal hold; returns the version id."""
        raise self._no_object_lock()
