"""The local backend's lifecycle sweep on a real data directory: one sweep at a time
per store (the flock every process takes), the interval between sweeps, and the
sweep's guards: a write or removal that lands between the sweep's look at a key and
its action is never undone, and a version whose removal is refused with AccessDenied
(Object Lock's answer in VersionStore.remove_version) is kept."""

from __future__ import annotations

import asyncio
import fcntl
import os
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone

from pys3local.errors import AccessDenied
from pys3local.providers.base import ObjectMetadata
from pys3local.providers.lifecycle import LifecycleAction, LifecycleRule
from pys3local.providers.local import LocalStorageProvider
from pys3local.providers.local.lifecycle_sweep import LifecycleSweep

LATER = datetime.now(timezone.utc) + timedelta(days=30)


async def body(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def put(provider: LocalStorageProvider, key: str, data: bytes) -> str | None:
    return (await provider.put_object("b", key, body(data), ObjectMetadata())).version_id


async def versioned(provider: LocalStorageProvider, *rules: LifecycleRule) -> None:
    await provider.put_bucket_versioning("b", "Enabled")
    await provider.put_bucket_lifecycle("b", list(rules))


def sweep(provider: LocalStorageProvider, *, expire=None, remove=None) -> list[LifecycleAction]:
    """One sweep as of :data:`LATER` with the provider's own actions, or wrappers."""
    done: list[LifecycleAction] = []
    LifecycleSweep(
        provider.layout,
        provider._configs,
        provider._version_sources,
        provider._multipart,
        expire or provider._delete,
        remove or provider._remove_version,
        now=LATER,
        on_action=done.append,
    ).run()
    return done


def held_sweep_lock(provider: LocalStorageProvider) -> int:
    fd = os.open(provider.layout.internal / "lifecycle.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


async def test_run_lifecycle_one_sweep_at_a_time(provider: LocalStorageProvider) -> None:
    """While another process holds the sweep lock a timed sweep does not run; after a
    sweep, a timed one waits for the interval; an explicit one always runs."""
    await provider.put_bucket_lifecycle("b", [LifecycleRule("r", True, expiration_days=1)])
    fd = held_sweep_lock(provider)
    try:
        assert await provider.run_lifecycle(min_interval=60) is None
    finally:
        os.close(fd)
    assert await provider.run_lifecycle(min_interval=60) is not None
    assert await provider.run_lifecycle(min_interval=3600) is None  # it just ran
    assert await provider.run_lifecycle() is not None


async def test_Expiration_never_hides_a_write_that_landed_after_the_look(
    provider: LocalStorageProvider,
) -> None:
    """A PUT between the sweep's look and its delete marker wins: the new version
    stays current and no marker is added."""
    await versioned(provider, LifecycleRule("r", True, expiration_days=1))
    await put(provider, "k", b"old")

    def expire_after_a_put(bucket, key, check):
        asyncio.run(put(provider, "k", b"new"))  # on the sweep's thread, a loop of its own
        return provider._delete(bucket, key, check)

    assert await asyncio.to_thread(sweep, provider, expire=expire_after_a_put) == []
    reader = await provider.get_object("b", "k")
    assert reader.body == b"new"


async def test_NoncurrentVersionExpiration_never_removes_a_version_made_latest_since(
    provider: LocalStorageProvider,
) -> None:
    """If a client removes the newer version between the sweep's look and its removal,
    the older version (now the latest) is not removed."""
    await versioned(provider, LifecycleRule("r", True, noncurrent_days=1))
    await put(provider, "k", b"old")
    newer = await put(provider, "k", b"new")

    def remove_after_a_client_removal(bucket, key, version_id, check):
        paths = provider.layout.object_paths(bucket, key)
        provider._versions.remove_version(bucket, key, paths, newer)
        return provider._remove_version(bucket, key, version_id, check)

    assert await asyncio.to_thread(sweep, provider, remove=remove_after_a_client_removal) == []
    reader = await provider.get_object("b", "k")
    assert reader.body == b"old"


async def test_a_version_whose_removal_is_refused_is_kept(provider: LocalStorageProvider) -> None:
    """remove_version refusing with AccessDenied (a retention or legal hold) leaves the
    version in place and is reported as kept; the sweep goes on with other keys."""
    await versioned(provider, LifecycleRule("r", True, noncurrent_days=1))
    protected = await put(provider, "locked", b"1")
    await put(provider, "locked", b"2")
    free = await put(provider, "open", b"1")
    await put(provider, "open", b"2")

    def remove_unless_protected(bucket, key, version_id, check):
        if version_id == protected:
            raise AccessDenied("Access Denied because object protected by object lock.")
        return provider._remove_version(bucket, key, version_id, check)

    done = await asyncio.to_thread(sweep, provider, remove=remove_unless_protected)
    assert [(a.action, a.key, a.version_id) for a in done] == [
        ("kept", "locked", protected),
        ("removed", "open", free),
    ]
    info = await provider.head_object_version("b", "locked", protected)
    assert info.version_id == protected


async def test_ExpiredObjectDeleteMarker_keeps_a_marker_no_longer_alone(
    provider: LocalStorageProvider,
) -> None:
    """A PUT between the sweep's look and its removal of a sole delete marker makes the
    marker history: it is kept."""
    await versioned(provider, LifecycleRule("r", True, expired_object_delete_marker=True))
    first = await put(provider, "k", b"1")
    marker = (await provider.delete_object("b", "k")).version_id
    await provider.delete_object_version("b", "k", first)

    def remove_after_a_put(bucket, key, version_id, check):
        asyncio.run(put(provider, "k", b"2"))
        return provider._remove_version(bucket, key, version_id, check)

    assert await asyncio.to_thread(sweep, provider, remove=remove_after_a_put) == []
    listing = await provider.list_object_versions("b")
    assert [(v.version_id == marker, v.delete_marker) for v in listing.versions] == [
        (False, False),
        (True, True),
    ]


def _tree(root) -> dict[str, int]:
    return {
        str(path.relative_to(root)): path.stat().st_mtime_ns
        for path in sorted(root.rglob("*"))
        if "staging" not in path.parts
    }


async def test_a_sweep_without_rules_changes_nothing_on_disk(
    provider: LocalStorageProvider,
) -> None:
    """Every server sweeps at start: with no rules anywhere it writes nothing (so a
    data directory looked at before and after a start sees no difference)."""
    await put(provider, "k", b"x")
    before = _tree(provider.base_path)
    report = await provider.run_lifecycle(min_interval=3600)
    assert report is not None and report.buckets == 0
    assert _tree(provider.base_path) == before


async def test_a_sweep_asked_to_stop_ends_early_and_stays_due(
    provider: LocalStorageProvider,
) -> None:
    """A sweep whose server is stopping ends between keys, counts as not run (the next
    server sweeps at once), and leaves the keys it did not reach alone."""
    await versioned(provider, LifecycleRule("r", True, expiration_days=1))
    await put(provider, "k", b"x")
    stopped = await provider.run_lifecycle(now=LATER, should_stop=lambda: True)
    assert stopped is None
    assert not (provider.layout.internal / "lifecycle.json").exists()
    assert (await provider.get_object("b", "k")).body == b"x"
    assert await provider.run_lifecycle(now=LATER, min_interval=3600) is not None
