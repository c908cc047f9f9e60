"""What the Buckets tab shows and changes, through the provider interface only.

Each function takes a :class:`~pys3local.providers.base.StorageProvider` and runs on
the server's own event loop (:meth:`~.server_worker.ServerController.call_provider`);
nothing here knows Textual. A backend without versions or Object Lock answers
``NotImplemented``, which :func:`describe_error` turns into "not supported by this
backend" rather than a failure.
"""

from __future__ import annotations

from dataclasses import dataclass

from pys3local.errors import (
    NotImplementedOperation,
    ObjectLockConfigurationNotFoundError,
    S3Error,
)
from pys3local.providers.base import StorageProvider
from pys3local.providers.object_lock import (
    COMPLIANCE,
    DefaultRetention,
    ObjectLockConfiguration,
)

#: Longest default retention the form accepts: 100 years, as days or years.
MAX_RETENTION_DAYS = 36_500
MAX_RETENTION_YEARS = 100


@dataclass(frozen=True, slots=True)
class BucketState:
    """One bucket's versioning and Object Lock settings as the backend reports them.

    ``versioning`` is ``Enabled``, ``Suspended`` or None (never set); ``lock`` is
    None when Object Lock was never enabled; ``lock_unsupported`` when the backend
    cannot lock at all.
    """

    name: str
    versioning: str | None = None
    lock: ObjectLockConfiguration | None = None
    lock_unsupported: bool = False

    @property
    def versioning_text(self) -> str:
        return self.versioning or "never"

    @property
    def locked(self) -> bool:
        """Object Lock enabled: versioning can no longer be suspended."""
        return self.lock is not None and self.lock.enabled

    @property
    def lock_text(self) -> str:
        if self.lock_unsupported:
            return "unsupported"
        return "Enabled" if self.locked else "off"

    @property
    def retention_text(self) -> str:
        retention = self.lock.default_retention if self.lock is not None else None
        return describe_retention(retention) if retention is not None else "-"


def describe_retention(retention: DefaultRetention) -> str:
    """``COMPLIANCE 30 days``, ``GOVERNANCE 1 year``."""
    if retention.years is not None:
        count, unit = retention.years, "year"
    else:
        count, unit = retention.days or 0, "day"
    return f"{retention.mode} {count} {unit}{'' if count == 1 else 's'}"


async def read_bucket_states(
    provider: StorageProvider, only: str | None = None
) -> list[BucketState]:
    """Every bucket (or just ``only``: the one a server in default bucket mode serves)
    with its versioning state, lock configuration and default retention."""
    states = []
    for bucket in await provider.list_buckets():
        if only is not None and bucket.name != only:
            continue
        versioning = await provider.get_bucket_versioning(bucket.name)
        lock: ObjectLockConfiguration | None = None
        unsupported = False
        try:
            lock = await provider.get_object_lock_configuration(bucket.name)
        except ObjectLockConfigurationNotFoundError:
            pass
        except NotImplementedOperation:
            unsupported = True
        states.append(BucketState(bucket.name, versioning, lock, unsupported))
    return states


async def enable_versioning(provider: StorageProvider, bucket: str) -> None:
    """PutBucketVersioning ``Enabled``."""
    await provider.put_bucket_versioning(bucket, "Enabled")


async def suspend_versioning(provider: StorageProvider, bucket: str) -> None:
    """PutBucketVersioning ``Suspended``: new writes get version id ``null`` and replace
    the previous ``null`` version; older versions stay. Raises InvalidBucketState on a
    bucket with Object Lock."""
    await provider.put_bucket_versioning(bucket, "Suspended")


async def keeps_versions(provider: StorageProvider, bucket: str) -> bool:
    """Whether the backend can keep versions at all: a bucket never versioned reads the
    same (no state) on every backend, but only one without versions answers
    ListObjectVersions with NotImplemented (one entry asked for: its cost is flat)."""
    try:
        await provider.list_object_versions(bucket, max_keys=1)
    except NotImplementedOperation:
        return False
    return True


async def set_default_retention(
    provider: StorageProvider, bucket: str, retention: DefaultRetention | None
) -> None:
    """PutObjectLockConfiguration: lock enabled (for good) and ``retention`` as the
    default for new versions (None: none)."""
    await provider.put_object_lock_configuration(
        bucket, ObjectLockConfiguration(enabled=True, default_retention=retention)
    )


def needs_typed_confirmation(retention: DefaultRetention | None) -> bool:
    """COMPLIANCE can never be shortened or removed, by anyone: the bucket's name must
    be typed before it is set."""
    return retention is not None and retention.mode == COMPLIANCE


def parse_period(text: str, unit: str) -> DefaultRetention | str:
    """``days``/``years`` from the form's text, as a retention without a mode yet
    (``mode`` empty), or the one-line reason it is not a valid period."""
    limit = MAX_RETENTION_YEARS if unit == "years" else MAX_RETENTION_DAYS
    try:
        count = int(text.strip())
    except ValueError:
        return f"The period is a whole number of {unit}."
    if not 1 <= count <= limit:
        return f"The period is 1 to {limit:,} {unit}."
    if unit == "years":
        return DefaultRetention("", years=count)
    return DefaultRetention("", days=count)


def describe_error(exc: BaseException, what: str) -> str:
    """One line for the user: ``what`` is the setting ("Versioning", "Object Lock")."""
    if isinstance(exc, NotImplementedOperation):
        return f"{what} is not supported by this backend."
    if isinstance(exc, S3Error):
        return f"{exc.code}: {exc.message}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
