"""The cache database's multipart upload tables (schema 3): the upgrade from schema 2
and the rules that keep two processes from racing on one upload."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

from pys3local.cache import (
    SCHEMA_V2,
    SCHEMA_VERSION,
    MetadataCache,
    PartRow,
    UploadRow,
    UploadTable,
)

T0 = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc)


def part(number: int) -> PartRow:
    return PartRow(number, 5 * 1024 * 1024, "0" * 32, f"store-{number}", T0)


def test_upgrade_from_version_2_adds_the_upload_tables(tmp_path: Path) -> None:
    """A schema-2 database keeps its object rows and gains the multipart tables."""
    path = tmp_path / "cache.db"
    old = sqlite3.connect(path)
    for statement in SCHEMA_V2:
        old.execute(statement)
    old.execute(
        "INSERT INTO objects VALUES (0, 'drime:', 'b', 'k', NULL, 1, 'e', '7', 0, 0)",
    )
    old.execute("PRAGMA user_version = 2")
    old.commit()
    old.close()
    with MetadataCache(path) as cache:
        assert cache.get(0, "b", "k", store="drime:") is not None
        table = UploadTable(cache, 0, "drime:")
        table.add(UploadRow("u1", "b", "k", T0, {"content_type": "x/y"}, {"a": 1}))
        got = table.get("u1")
        assert got is not None and (got.initiated, got.metadata, got.backend) == (
            T0,
            {"content_type": "x/y"},
            {"a": 1},
        )
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    check.close()


def test_uploads_claim_parts_and_scope(tmp_path: Path) -> None:
    """Parts are refused while a Complete holds the claim and after removal; a second
    claim fails until the first is released or stale; other stores see nothing."""
    with MetadataCache(tmp_path / "cache.db") as cache:
        table = UploadTable(cache, 0, "drime:a")
        table.add(UploadRow("u1", "b", "k", T0, {}, {}))
        assert table.put_part("u1", part(1)) and table.put_part("u1", part(1))
        assert [p.number for p in table.parts("u1")] == [1]
        now = datetime.now(timezone.utc)
        assert table.claim("u1", now, now - timedelta(minutes=15))
        assert not table.claim("u1", now, now - timedelta(minutes=15))
        assert not table.put_part("u1", part(2))
        later = now + timedelta(hours=1)
        assert table.claim("u1", later, later - timedelta(minutes=15))  # a dead claim
        table.release("u1")
        assert table.put_part("u1", part(2))
        assert UploadTable(cache, 0, "drime:b").get("u1") is None
        assert UploadTable(cache, 0, "drime:b").list() == []
        assert [u.upload_id for u in table.list("b")] == ["u1"]
        assert table.remove("u1") and not table.remove("u1")
        assert table.parts("u1") == [] and not table.put_part("u1", part(3))
