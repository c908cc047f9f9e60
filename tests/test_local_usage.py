"""What a local data directory holds, apart by kind: live objects, non-current
versions, delete markers and bytes (the dashboard's figures), and ``pys3local cache
stats`` counting the non-current versions of a local store, through a real provider
on a temporary directory and a real ``pys3local cache`` process."""

from __future__ import annotations

import os
from pathlib import Path

from test_cache_stores import cache_cli

from pys3local.cache import MetadataCache
from pys3local.providers.base import ObjectMetadata
from pys3local.providers.local import LocalStorageProvider
from pys3local.providers.local.usage import VersionUsage, measure_store, measure_versions
from pys3local.sizes import format_size

OLD = b"o" * 100_000  # the version an overwrite keeps
NEW = b"n" * 2_000
GONE = b"g" * 30_000  # deleted in the versioned bucket: kept behind a marker
PLAIN = b"p" * 5_000  # in a bucket that was never versioned


async def _body(data: bytes):  # type: ignore[no-untyped-def]
    yield data


async def versioned_store(path: Path, cache: MetadataCache | None = None) -> None:
    """Bucket ``vers`` (versioning on): ``a`` overwritten once, ``b`` deleted; bucket
    ``plain`` (never versioned): ``p``, overwritten and ``q`` deleted (nothing kept)."""
    provider = LocalStorageProvider(path, cache=cache)
    await provider.open()
    try:
        await provider.create_bucket("vers")
        await provider.put_bucket_versioning("vers", "Enabled")
        await provider.put_object("vers", "dir/a", _body(OLD), ObjectMetadata())
        await provider.put_object("vers", "dir/a", _body(NEW), ObjectMetadata())
        await provider.put_object("vers", "b", _body(GONE), ObjectMetadata())
        await provider.delete_object("vers", "b")
        await provider.create_bucket("plain")
        await provider.put_object("plain", "p", _body(b"x" * 777), ObjectMetadata())
        await provider.put_object("plain", "p", _body(PLAIN), ObjectMetadata())
        await provider.put_object("plain", "q", _body(b"q"), ObjectMetadata())
        await provider.delete_object("plain", "q")
    finally:
        await provider.close()


def disk_bytes(path: Path) -> int:
    """Every byte under ``path``, each inode once (what "stored" must show)."""
    seen, total = set(), 0
    for directory, _, files in os.walk(path):
        for name in files:
            st = os.lstat(os.path.join(directory, name))
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return total


async def test_PutObject_overwrite_and_DeleteObject_counted_apart(tmp_path):
    """A versioned overwrite keeps one non-current version, a delete one more and a
    marker; live objects are the current ones only; stored bytes include them all."""
    await versioned_store(tmp_path)
    usage = measure_store(tmp_path)
    assert (usage.objects, usage.object_bytes) == (2, len(NEW) + len(PLAIN))
    assert usage.noncurrent == VersionUsage(2, len(OLD) + len(GONE), 1)
    assert usage.stored_bytes == disk_bytes(tmp_path)
    assert usage.stored_bytes > len(OLD) + len(GONE) + len(NEW) + len(PLAIN)
    assert measure_versions(tmp_path) == usage.noncurrent


async def test_ListObjectVersions_figures_ignore_leftovers_and_links(tmp_path):
    """A version hard-linked as the current object too counts once (live); a sidecar
    left without its data and a temporary file are no versions or markers."""
    await versioned_store(tmp_path)
    before = measure_store(tmp_path)
    key_dir = tmp_path / "vers" / ".versions" / "dir" / "a.json"
    # A keep cut short before the commit's rename: the current data linked as a version.
    os.link(tmp_path / "vers" / "objects" / "dir" / "a", key_dir / "ffffffffffffffff00000000")
    (key_dir / "ffffffffffffffff00000000.json").write_text('{"size": 2000}')
    # A removal cut short between its two unlinks, and a temporary file.
    (key_dir / "0000000000000000aaaaaaaa.json").write_text('{"size": 5}')
    (key_dir / ".0123456789ab").write_bytes(b"t" * 10)
    after = measure_store(tmp_path)
    assert (after.objects, after.noncurrent) == (before.objects, before.noncurrent)
    assert after.stored_bytes == disk_bytes(tmp_path)


def test_measure_of_a_missing_directory_is_zero(tmp_path):
    """A data directory not created yet measures as empty, without an error."""
    assert measure_store(tmp_path / "missing").stored_bytes == 0
    assert measure_versions(tmp_path / "missing") == VersionUsage()


async def test_ListObjectVersions_kept_bytes_in_cache_stats(tmp_path):
    """``pys3local cache stats`` (a real process) counts a local store's non-current
    versions and delete markers, and its sizes include the versions' bytes."""
    db_path, data = tmp_path / "metadata.db", tmp_path / "data"
    with MetadataCache(db_path) as db:
        await versioned_store(data, cache=db)
    result = cache_cli(db_path, "stats")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    live = len(NEW) + len(PLAIN)
    kept = len(OLD) + len(GONE)

    assert "  Total files: 2" in lines
    assert f"  Total size: {format_size(live + kept)}" in lines
    assert f"  Noncurrent versions: 2 ({format_size(kept)}, counted in the size)" in lines
    assert "  Delete markers: 1" in lines
    store = f"      local:{data.resolve()}: 2 files, {format_size(live + kept)}, 2 with MD5, "
    assert store + f"2 noncurrent versions ({format_size(kept)}), 1 delete marker" in lines
