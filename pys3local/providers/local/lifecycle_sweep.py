"""The lifecycle sweep of the local backend: one pass applying every bucket's rules.

Per key (walked in S3 order one directory at a time, as ListObjectVersions walks:
memory holds one key's versions, never the bucket), with AWS's semantics:

* ``Expiration`` (Days after the object was written, or a Date) on a current version:
  a delete marker in a versioned bucket (versioning enabled or suspended), the object
  deleted in an unversioned one. A key expired in this pass is left alone otherwise
  until the next one, as S3 takes one action per object and day.
* ``NoncurrentVersionExpiration``: a non-current version (or delete marker) goes once
  it has been non-current for NoncurrentDays (counted from its successor's time, when
  it stopped being current), keeping the NewerNoncurrentVersions newest non-current
  ones.
* ``ExpiredObjectDeleteMarker`` (and ``Expiration`` Days, for markers old enough): a
  delete marker that is the key's only version is removed.
* ``AbortIncompleteMultipartUpload``: uploads initiated DaysAfterInitiation ago.

Every removal goes through :meth:`.versions.VersionStore.remove_version` (which
takes the key's lock) with a check that the key is still as the sweep saw it, and a
version that Object Lock protects (remove_version refuses with AccessDenied) is kept
and reported, never removed. Expiring a current version checks under the key's lock
that it is still the version the rule judged, so a PUT that lands meanwhile is never
hidden or deleted.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from datetime import datetime

from pys3local.errors import AccessDenied, NoSuchBucket, S3Error
from pys3local.providers.lifecycle import (
    ActionCallback,
    LifecycleAction,
    LifecycleReport,
    LifecycleRule,
    days_passed,
)
from pys3local.providers.versioning import NULL_VERSION, DeleteOutcome, ObjectVersion

from .bucket_config import BucketConfigs
from .layout import StoreLayout
from .listing import DirectoryIndex
from .multipart import LocalMultipartStore
from .sidecar import object_info, read_sidecar
from .version_listing import VersionedKey, VersionSources, key_versions, versioned_keys
from .versions import Current, Entry

log = logging.getLogger("pys3local.lifecycle")

#: What expiring a current object calls: the provider's DeleteObject (a marker in a
#: versioned bucket, else the object goes), with a check run under the key's lock.
ExpireCurrent = Callable[[str, str, Callable[[], None]], DeleteOutcome | None]
#: What removing a version calls: the provider's removal of one version by id, with
#: a check of the key's chain under its lock.
RemoveVersion = Callable[
    [str, str, str, Callable[[Current | None, Iterator[Entry]], bool]], DeleteOutcome
]


class _Changed(Exception):
    """The current version is no longer the one a rule judged expired."""


class LifecycleSweep:
    """One pass over a data directory's buckets (blocking: run it on a pool thread)."""

    def __init__(
        self,
        layout: StoreLayout,
        configs: BucketConfigs,
        sources: VersionSources,
        multipart: LocalMultipartStore,
        expire_current: ExpireCurrent,
        remove_version: RemoveVersion,
        *,
        now: datetime,
        on_action: ActionCallback | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> None:
        self._layout = layout
        self._configs = configs
        self._sources = sources
        self._versions = sources.store
        self._multipart = multipart
        self._expire_current = expire_current
        self._remove_version = remove_version
        self._now = now
        self._on_action = on_action
        self._should_stop = should_stop or (lambda: False)
        self.report = LifecycleReport()

    def run(self) -> LifecycleReport | None:
        """Sweep every bucket; None if asked to stop before the end."""
        for bucket in self._buckets():
            rules = [LifecycleRule.from_dict(r) for r in self._configs.lifecycle(bucket)]
            rules = [r for r in rules if r.enabled]
            if not rules:
                continue
            self.report.buckets += 1
            try:
                self._sweep_bucket(bucket, rules)
                self._abort_uploads(bucket, rules)
            except NoSuchBucket:
                continue  # deleted while being swept
            if self._should_stop():
                return None
        return self.report

    def _buckets(self) -> Iterator[str]:
        try:
            entries = sorted(e.name for e in os.scandir(self._layout.root))
        except FileNotFoundError:
            return
        for name in entries:
            if not name.startswith(".") and (self._layout.root / name / "objects").is_dir():
                yield name

    def _record(self, action: LifecycleAction) -> None:
        self.report.count(action)
        if action.action == "kept":
            # Every sweep meets each protected version again: counted in the summary.
            log.debug("lifecycle: kept %s/%s version %s (protected)", *_where(action))
        else:
            log.info("lifecycle: %s %s/%s version %s", action.action, *_where(action))
        if self._on_action is not None:
            self._on_action(action)

    # Keys ------------------------------------------------------------------------

    def _sweep_bucket(self, bucket: str, rules: list[LifecycleRule]) -> None:
        key_rules = [
            r
            for r in rules
            if r.expiration_days is not None
            or r.expiration_date is not None
            or r.expired_object_delete_marker
            or r.has_noncurrent_expiration
        ]
        if not key_rules:
            return
        # Key prefixes are text, not paths: the character-wise common prefix is it.
        prefix = os.path.commonprefix([r.prefix for r in key_rules])  # noqa: RUF071
        # A directory index of its own that caches nothing: the walk reads each
        # directory once, and the listings' cache keeps what requests need.
        directories = DirectoryIndex(max_entries=0)
        for item in versioned_keys(self._layout, directories, bucket, prefix):
            if self._should_stop():
                return
            applicable = [r for r in key_rules if r.applies_to(item.key)]
            if not applicable:
                continue
            self.report.keys += 1
            try:
                self._sweep_key(bucket, item, applicable)
            except (S3Error, OSError) as exc:  # one bad key never stops the sweep
                log.warning("lifecycle: %s/%s skipped: %s", bucket, item.key, exc)

    def _sweep_key(self, bucket: str, item: VersionedKey, rules: list[LifecycleRule]) -> None:
        chain = list(key_versions(self._sources, bucket, item))
        if not chain:
            return
        latest = chain[0]
        if not latest.delete_marker:
            rule = next((r for r in rules if self._expires(r, latest)), None)
            if rule is not None and self._expire(bucket, latest, rule):
                return
        removed_all = True
        for index, version in enumerate(chain[1:]):
            # chain[index] is the version just newer: when it was written, this one
            # stopped being current.
            became_noncurrent = chain[index].last_modified
            rule = next(
                (r for r in rules if self._noncurrent_due(r, index, became_noncurrent)), None
            )
            if rule is None or not self._remove(bucket, version, rule, _noncurrent(version)):
                removed_all = False
        if latest.delete_marker and removed_all:
            rule = next((r for r in rules if self._marker_expired(r, latest)), None)
            if rule is not None:
                self._remove(bucket, latest, rule, _sole_marker(latest))

    def _expires(self, rule: LifecycleRule, current: ObjectVersion) -> bool:
        if rule.expiration_days is not None:
            return days_passed(current.last_modified, rule.expiration_days, self._now)
        return rule.expiration_date is not None and rule.expiration_date <= self._now

    def _noncurrent_due(self, rule: LifecycleRule, index: int, since: datetime) -> bool:
        if not rule.has_noncurrent_expiration:
            return False
        newer = rule.newer_noncurrent_versions
        if newer is not None and index < newer:
            return False  # one of the newest non-current versions the rule keeps
        days = rule.noncurrent_days
        return days is None or days_passed(since, days, self._now)

    def _marker_expired(self, rule: LifecycleRule, marker: ObjectVersion) -> bool:
        if rule.expired_object_delete_marker:
            return True
        # "When you specify Days, S3 removes expired object delete markers once they
        # are old enough to satisfy the age criteria."
        days = rule.expiration_days
        return days is not None and days_passed(marker.last_modified, days, self._now)

    def _expire(self, bucket: str, current: ObjectVersion, rule: LifecycleRule) -> bool:
        """Expire the current version if it is still ``current``; whether it was."""
        key = current.key
        paths = self._layout.object_paths(bucket, key)

        def unchanged() -> None:  # under the key's lock
            try:
                st = os.stat(paths.data)
            except (FileNotFoundError, NotADirectoryError):
                raise _Changed() from None
            document = self._versions.describe(bucket, key, st, read_sidecar(paths.metadata))
            info = object_info(key, st, document, with_metadata=False)
            same_id = (info.version_id or NULL_VERSION) == current.version_id
            if not same_id or info.last_modified != current.last_modified:
                raise _Changed()

        try:
            outcome = self._expire_current(bucket, key, unchanged)
        except _Changed:
            return False
        except AccessDenied:
            # A suspended bucket's null marker would replace a protected null version.
            self._record(LifecycleAction("kept", bucket, key, current.version_id, rule.id))
            return True
        marker_id = outcome.version_id if outcome is not None else None
        self._record(LifecycleAction("expired", bucket, key, marker_id, rule.id))
        return True

    def _remove(
        self,
        bucket: str,
        version: ObjectVersion,
        rule: LifecycleRule,
        check: Callable[[Current | None, Iterator[Entry]], bool],
    ) -> bool:
        """Remove one version for good; whether it went (a protected one stays)."""
        try:
            outcome = self._remove_version(bucket, version.key, version.version_id, check)
        except AccessDenied:
            # Object Lock (a retention or a legal hold) protects it: keep it.
            action = LifecycleAction(
                "kept", bucket, version.key, version.version_id, rule.id, version.delete_marker
            )
            self._record(action)
            return False
        if outcome.version_id is None:
            return False  # the key changed since the sweep looked at it
        action = LifecycleAction(
            "removed", bucket, version.key, version.version_id, rule.id, version.delete_marker
        )
        self._record(action)
        return True

    # Multipart uploads -------------------------------------------------------------

    def _abort_uploads(self, bucket: str, rules: list[LifecycleRule]) -> None:
        aborting = [r for r in rules if r.abort_days is not None]
        if not aborting:
            return
        for upload in self._multipart.list_uploads(bucket, ""):
            rule = next(
                (
                    r
                    for r in aborting
                    if r.applies_to(upload.key)
                    and days_passed(upload.initiated, r.abort_days or 0, self._now)
                ),
                None,
            )
            if rule is None:
                continue
            try:
                self._multipart.abort(bucket, upload.key, upload.upload_id)
            except S3Error:
                continue  # completed or aborted meanwhile
            self._record(LifecycleAction("aborted", bucket, upload.key, upload.upload_id, rule.id))


def _latest_id(current: Current | None, entries: Iterator[Entry]) -> str | None:
    if current is not None:
        return current.version_id
    first = next(entries, None)
    return first.version_id if first is not None else None


def _noncurrent(version: ObjectVersion) -> Callable[[Current | None, Iterator[Entry]], bool]:
    """Remove ``version`` only while it is not the key's latest (a client may have
    removed every newer version since the sweep looked)."""
    return lambda current, entries: _latest_id(current, entries) != version.version_id


def _sole_marker(marker: ObjectVersion) -> Callable[[Current | None, Iterator[Entry]], bool]:
    """Remove ``marker`` only while it is the key's latest and only version."""

    def check(current: Current | None, entries: Iterator[Entry]) -> bool:
        if current is not None:
            return False
        first, second = next(entries, None), next(entries, None)
        return (
            first is not None
            and first.delete_marker
            and first.version_id == marker.version_id
            and second is None
        )

    return check


def _where(action: LifecycleAction) -> tuple[str, str, str]:
    return action.bucket, action.key, action.version_id or "-"
