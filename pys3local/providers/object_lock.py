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
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from pys3local.errors import (
    AccessDenied,
    NotImplementedOperation,
    ObjectLockConfigurationNotFoundError,
)

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

    def to_dict(self) -> dict[str, object]:
        """As kept with a version (in its sidecar, with its other metadata)."""
        document: dict[str, object] = {}
        if self.retention is not None:
            document["mode"] = self.retention.mode
            document["retain_until"] = self.retention.retain_until.isoformat()
        if self.legal_hold is not None:
            document["legal_hold"] = self.legal_hold
        return document

    @classmethod
    def from_dict(cls, document: object) -> VersionProtection | None:
        """The protection :meth:`to_dict` wrote; None for anything else."""
        if not isinstance(document, dict):
            return None
        retention = None
        mode, until = document.get("mode"), document.get("retain_until")
        if mode in RETENTION_MODES and isinstance(until, str):
            retention = Retention(str(mode), datetime.fromisoformat(until))
        hold = document.get("legal_hold")
        return cls(retention, hold if isinstance(hold, bool) else None)


#: InvalidRequest's message for lock parameters or operations on a bucket without lock.
NO_LOCK = "Bucket is missing Object Lock Configuration"
#: AccessDenied's message when Object Lock refuses a removal or a weaker protection.
LOCKED = "Access Denied because object protected by object lock."


def default_retain_until(default: DefaultRetention, moment: datetime) -> datetime:
    """When a version written at ``moment`` stops being protected by ``default``."""
    if default.days is not None:
        return moment + timedelta(days=default.days)
    years = default.years or 0
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:  # 29 February, in a year without one
        return moment.replace(year=moment.year + years, day=28)


def protect_new_version(
    asked: VersionProtection | None, default: DefaultRetention | None, moment: datetime
) -> VersionProtection | None:
    """The protection a new version written at ``moment`` gets: what the client asked
    for, with the bucket's ``default`` retention where it asked for none."""
    retention = asked.retention if asked is not None else None
    hold = asked.legal_hold if asked is not None else None
    if retention is None and default is not None:
        retention = Retention(default.mode, default_retain_until(default, moment))
    if retention is None and hold is None:
        return None
    return VersionProtection(retention, hold)


def in_force(retention: Retention | None, now: datetime) -> bool:
    """Whether ``retention`` still protects its version at ``now``."""
    return retention is not None and retention.retain_until > now


def check_removal(protection: VersionProtection | None, now: datetime, *, bypass: bool) -> None:
    """AccessDenied unless a version with ``protection`` may be removed or replaced:
    a legal hold blocks it whatever the retention; COMPLIANCE blocks it until it
    expires; GOVERNANCE, until it expires or unless ``bypass`` (the client sent
    ``x-amz-bypass-governance-retention`` and may use it)."""
    if protection is None:
        return
    if protection.legal_hold:
        raise AccessDenied(LOCKED)
    retention = protection.retention
    if in_force(retention, now) and (retention.mode == COMPLIANCE or not bypass):  # type: ignore[union-attr]
        raise AccessDenied(LOCKED)


def check_retention_change(
    old: Retention | None,
    new: Retention | None,
    now: datetime,
    *,
    bypass: bool,
    extend_only: bool,
) -> None:
    """AccessDenied unless ``old`` may become ``new`` (None: removed).

    A retention in force may always be made longer (or GOVERNANCE made COMPLIANCE).
    Anything weaker (a shorter date, no retention, COMPLIANCE to GOVERNANCE) is
    refused for COMPLIANCE, by anyone, until it expires; for GOVERNANCE it needs
    ``bypass``. ``extend_only`` (an append-only key) refuses every weakening.
    """
    if not in_force(old, now):
        return
    assert old is not None
    weaker = (
        new is None
        or new.retain_until < old.retain_until
        or (old.mode == COMPLIANCE and new.mode != COMPLIANCE)
    )
    if not weaker:
        return
    if extend_only or old.mode == COMPLIANCE or not bypass:
        raise AccessDenied(LOCKED)


def check_legal_hold_change(old: bool, new: bool, *, extend_only: bool) -> None:
    """AccessDenied when an append-only key would lift a legal hold."""
    if old and not new and extend_only:
        raise AccessDenied(LOCKED)


class ObjectLockDefaults:
    """The Object Lock operations of a provider, with their defaults."""

    #: The backend's name in errors ("... not supported by the Drime backend").
    backend_name: str = "this"
    #: Whether the backend keeps and enforces Object Lock (the protocol layer asks
    #: before it creates a bucket with lock, or looks for a bucket's default retention).
    supports_object_lock: bool = False

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
        extend_only: bool = False,
    ) -> str | None:
        """Set (or, with None, remove) a version's retention under S3's rules (see
        :func:`check_retention_change`); returns the version id. Raises NoSuchKey,
        NoSuchVersion, MethodNotAllowed (a delete marker), InvalidRequest (bucket
        without lock), AccessDenied for a change the rules forbid."""
        raise self._no_object_lock()

    async def get_object_legal_hold(
        self, bucket: str, key: str, version_id: str | None
    ) -> bool | None:
        """Whether a version has a legal hold; None when none was ever set on it."""
        raise self._no_object_lock()

    async def put_object_legal_hold(
        self, bucket: str, key: str, version_id: str | None, on: bool, *, extend_only: bool = False
    ) -> str | None:
        """Set or clear a version's legal hold; returns the version id. With
        ``extend_only`` (an append-only key) clearing one is AccessDenied."""
        raise self._no_object_lock()
