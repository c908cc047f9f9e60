"""The lifecycle operations of :class:`~.provider.LocalStorageProvider`: a bucket's
rules, kept in its settings document (:mod:`.bucket_config`), and the sweep that
applies them (:mod:`.lifecycle_sweep`).

One sweep at a time per data directory, whatever the number of processes serving it
(``serve --workers``, ``pys3local lifecycle run``): a sweep holds an ``flock`` on
``.pys3local/lifecycle.lock`` and records when it finished in
``.pys3local/lifecycle.json``, so each worker's timer can ask for a sweep and only
one of them runs it per interval.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pys3local.errors import NoSuchLifecycleConfiguration
from pys3local.providers.lifecycle import ActionCallback, LifecycleReport, LifecycleRule
from pys3local.providers.versioning import DeleteOutcome

from .bucket_config import BucketConfigs
from .files import FILE_MODE, write_json
from .index import LocalIndex
from .layout import ObjectPaths, StoreLayout
from .lifecycle_sweep import LifecycleSweep
from .multipart import LocalMultipartStore
from .version_listing import VersionSources
from .versions import Current, Entry, VersionStore


class LocalLifecycle:
    """Lifecycle for the local provider (a mixin of it)."""

    layout: StoreLayout
    durable: bool
    readonly: bool
    _configs: BucketConfigs
    _versions: VersionStore
    _version_sources: VersionSources
    _multipart: LocalMultipartStore
    _cache_index: LocalIndex

    if TYPE_CHECKING:  # provided by LocalStorageProvider

        def check_writable(self) -> None: ...
        def _ensure_open(self) -> None: ...
        def _bucket_or_raise(self, bucket: str) -> Path: ...
        def _run(self, fn: Callable[..., Any], *args: object) -> Awaitable[Any]: ...
        def _forget_directories(self, bucket: str, paths: ObjectPaths) -> None: ...
        def _delete(
            self, bucket: str, key: str, check: Callable[[], None] | None
        ) -> DeleteOutcome | None: ...

    async def get_bucket_lifecycle(self, bucket: str) -> list[LifecycleRule]:
        def get_sync() -> list[LifecycleRule]:
            self._bucket_or_raise(bucket)
            rules = self._configs.lifecycle(bucket)
            if not rules:
                raise NoSuchLifecycleConfiguration(BucketName=bucket)
            return [LifecycleRule.from_dict(r) for r in rules]

        return await self._run(get_sync)

    async def put_bucket_lifecycle(self, bucket: str, rules: list[LifecycleRule]) -> None:
        self.check_writable()

        def put_sync() -> None:
            self._bucket_or_raise(bucket)
            stored = [r.to_dict() for r in rules]
            self._configs.update(bucket, {"lifecycle": stored}, durable=self.durable)

        await self._run(put_sync)

    async def delete_bucket_lifecycle(self, bucket: str) -> None:
        self.check_writable()

        def delete_sync() -> None:
            self._bucket_or_raise(bucket)
            if self._configs.lifecycle(bucket):
                self._configs.update(bucket, {"lifecycle": None}, durable=self.durable)

        await self._run(delete_sync)

    async def run_lifecycle(
        self,
        *,
        now: datetime | None = None,
        min_interval: float = 0.0,
        on_action: ActionCallback | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> LifecycleReport | None:
        """See :meth:`LifecycleDefaults.run_lifecycle`; without ``min_interval`` it
        waits for a sweep another process is running to end, then sweeps."""
        if self.readonly:
            return None

        def sweep_sync() -> LifecycleReport | None:
            self._ensure_open()
            state = self.layout.internal / "lifecycle.json"
            with self._sweep_lock(wait=min_interval <= 0) as held:
                if not held:
                    return None
                if min_interval > 0 and time.time() - _finished(state) < min_interval:
                    return None
                report = LifecycleSweep(
                    self.layout,
                    self._configs,
                    self._version_sources,
                    self._multipart,
                    self._delete,  # DeleteObject: a marker if versioned, else the object goes
                    self._remove_version,
                    now=now or datetime.now(timezone.utc),
                    on_action=on_action,
                    should_stop=should_stop,
                ).run()
                if report is None:
                    return None  # stopped early: the next sweep is still due
                if report.buckets:
                    # Without rules a sweep costs a look at each bucket's settings:
                    # it may as well run at every tick, and writes nothing.
                    _record_finished(state)
                return report

        return await self._run(sweep_sync)

    def create_sweep_lock(self) -> None:
        """Create the sweep's lock file when the store is opened, beside the key locks,
        so that a sweep finding nothing to do changes nothing on disk."""
        path = self.layout.internal / "lifecycle.lock"
        if not path.exists():
            path.touch(mode=FILE_MODE)

    @contextlib.contextmanager
    def _sweep_lock(self, *, wait: bool) -> Iterator[bool]:
        fd = os.open(self.layout.internal / "lifecycle.lock", os.O_RDWR | os.O_CREAT, FILE_MODE)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)  # closing releases the lock

    def _remove_version(
        self,
        bucket: str,
        key: str,
        version_id: str,
        check: Callable[[Current | None, Iterator[Entry]], bool],
    ) -> DeleteOutcome:
        paths = self.layout.object_paths(bucket, key)
        try:
            return self._versions.remove_version(bucket, key, paths, version_id, check=check)
        finally:
            self._forget_directories(bucket, paths)
            self._cache_index.forget(bucket, key)


def _finished(state: Path) -> float:
    """When the last sweep of this data directory finished (0: never)."""
    try:
        value = json.loads(state.read_bytes()).get("finished")
    except (OSError, ValueError, AttributeError):
        return 0.0
    return float(value) if isinstance(value, (int, float)) else 0.0


def _record_finished(state: Path) -> None:
    """Write the end time of a sweep (the sweep lock is held, so no other writer).
    A lost update merely brings the next sweep forward: no fsync needed."""
    temporary = state.with_name(state.name + ".new")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(temporary)
    write_json(temporary, {"finished": time.time()}, durable=False)
    os.rename(temporary, state)
