"""Lifecycle rules in the provider interface: a bucket's rules, when each action is
due under S3's day arithmetic, what a sweep did, and the defaults of a backend that
cannot apply rules.

:class:`~.base.StorageProvider` inherits :class:`LifecycleDefaults`: a backend that
cannot run a sweep has no lifecycle configuration (GetBucketLifecycleConfiguration
answers NoSuchLifecycleConfiguration, which is true), refuses to store one with
NotImplemented naming the backend, and so never pretends to expire anything.

The protocol layer parses and renders the XML (:mod:`pys3local.s3.lifecycle`); a
backend stores the rules and applies them in its sweep.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from pys3local.errors import NoSuchLifecycleConfiguration, NotImplementedOperation

#: AWS's limits.
MAX_RULES = 1000
MAX_RULE_ID_CHARS = 255
MAX_NEWER_NONCURRENT_VERSIONS = 100


@dataclass(frozen=True, slots=True)
class LifecycleRule:
    """One rule: which keys (``prefix``) and the actions with their ages.

    ``None`` means the action is not part of the rule. ``expiration_date`` is a
    midnight UTC. ``prefix_in_filter`` remembers whether the client gave the prefix in
    a ``Filter`` (the current form) or as the rule's own ``Prefix`` (the legacy one),
    so GetBucketLifecycleConfiguration answers the form it was given.
    """

    id: str
    enabled: bool
    prefix: str = ""
    prefix_in_filter: bool = True
    expiration_days: int | None = None
    expiration_date: datetime | None = None
    expired_object_delete_marker: bool | None = None
    noncurrent_days: int | None = None
    newer_noncurrent_versions: int | None = None
    abort_days: int | None = None

    def applies_to(self, key: str) -> bool:
        """Whether the rule is enabled and ``key`` is under its prefix."""
        return self.enabled and key.startswith(self.prefix)

    @property
    def has_noncurrent_expiration(self) -> bool:
        return self.noncurrent_days is not None or self.newer_noncurrent_versions is not None

    def to_dict(self) -> dict[str, object]:
        document = asdict(self)
        if self.expiration_date is not None:
            document["expiration_date"] = self.expiration_date.isoformat()
        return {k: v for k, v in document.items() if v is not None}

    @classmethod
    def from_dict(cls, document: dict[str, object]) -> LifecycleRule:
        values = dict(document)
        date = values.get("expiration_date")
        if isinstance(date, str):
            values["expiration_date"] = datetime.fromisoformat(date)
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in values.items() if k in names})  # type: ignore[arg-type]


def _next_midnight(moment: datetime) -> datetime:
    """The first midnight UTC at or after ``moment``."""
    moment = moment.astimezone(timezone.utc)
    midnight = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight if midnight == moment else midnight + timedelta(days=1)


def days_passed(since: datetime, days: int, now: datetime) -> bool:
    """Whether an action ``days`` after ``since`` is due at ``now``.

    S3 adds the days to the moment (an object's creation, a version becoming
    non-current, an upload's initiation) and rounds up to the next midnight UTC: an
    object written at 10:00 with ``Days`` 1 expires the second midnight after.
    """
    return _next_midnight(since + timedelta(days=days)) <= now


@dataclass(frozen=True, slots=True)
class LifecycleAction:
    """One thing a sweep did (or was refused): ``action`` is ``expired`` (a current
    object deleted or hidden by a delete marker, whose id ``version_id`` then is),
    ``removed`` (a version or delete marker gone for good), ``aborted`` (a multipart
    upload, whose upload id ``version_id`` holds), or ``kept`` (a version Object Lock
    protects, left in place)."""

    action: str
    bucket: str
    key: str
    version_id: str | None = None
    rule_id: str = ""
    delete_marker: bool = False


@dataclass(slots=True)
class LifecycleReport:
    """What a sweep did, counted; each action is also handed to the sweep's
    ``on_action`` callback as it happens (the report does not keep them, so a sweep
    of a large bucket holds no list of everything it removed)."""

    buckets: int = 0
    keys: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    def count(self, action: LifecycleAction) -> None:
        self.counts[action.action] = self.counts.get(action.action, 0) + 1


#: Where a sweep reports each action as it happens.
ActionCallback = Callable[[LifecycleAction], None]


class LifecycleDefaults:
    """The lifecycle operations of a provider, with their defaults."""

    #: The backend's name in errors ("... not supported by the Drime backend").
    backend_name: str = "this"

    if TYPE_CHECKING:  # provided by StorageProvider

        async def get_bucket(self, bucket: str) -> object: ...

    async def get_bucket_lifecycle(self, bucket: str) -> list[LifecycleRule]:
        """The bucket's rules. Raises NoSuchBucket, and NoSuchLifecycleConfiguration
        when it has none."""
        await self.get_bucket(bucket)
        raise NoSuchLifecycleConfiguration(BucketName=bucket)

    async def put_bucket_lifecycle(self, bucket: str, rules: list[LifecycleRule]) -> None:
        """Replace the bucket's rules (validated by the protocol layer). Raises
        NoSuchBucket; NotImplemented on a backend without a sweep."""
        raise NotImplementedOperation(
            f"Lifecycle configuration is not supported by the {self.backend_name} backend."
        )

    async def delete_bucket_lifecycle(self, bucket: str) -> None:
        """Remove the bucket's rules; nothing to remove is not an error (as on AWS).
        Raises NoSuchBucket."""
        await self.get_bucket(bucket)

    async def run_lifecycle(
        self,
        *,
        now: datetime | None = None,
        min_interval: float = 0.0,
        on_action: ActionCallback | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> LifecycleReport | None:
        """One sweep applying every bucket's rules as of ``now`` (default: the clock).

        With ``min_interval`` the sweep runs only if no sweep of this store (by any
        process) finished within that many seconds; None when it did not run (another
        process is sweeping, or one ran recently). ``should_stop`` is asked between
        keys: once it answers True the sweep ends early (and counts as not run). A
        backend without a sweep has no rules to apply: it returns None.
        """
        return None
