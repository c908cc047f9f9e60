"""SQLite facts the cache database needs: what a result code means, which file is at a
path, key ranges and batches for statements."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from .entries import prefix_end

# SQLite primary result codes (the low byte of an extended code).
SQLITE_BUSY, SQLITE_LOCKED, SQLITE_CORRUPT, SQLITE_NOTADB = 5, 6, 11, 26


def result_code(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)  # Python 3.11+
    if code is not None:
        return code & 0xFF
    message = str(exc)
    for text, fallback in (
        ("locked", SQLITE_BUSY),
        ("busy", SQLITE_BUSY),
        ("malformed", SQLITE_CORRUPT),
        ("not a database", SQLITE_NOTADB),
    ):
        if text in message:
            return fallback
    return None


def is_corruption(exc: sqlite3.Error) -> bool:
    return result_code(exc) in (SQLITE_CORRUPT, SQLITE_NOTADB)


def lacks_schema(exc: sqlite3.Error) -> bool:
    # An empty file put where the database was (or a table dropped by hand).
    return "no such table" in str(exc)


def file_identity(path: Path) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


def key_range(prefix: str) -> tuple[str, tuple[str, ...]]:
    if not prefix:
        return "", ()
    end = prefix_end(prefix)
    if end is None:
        return " AND key >= ?", (prefix,)
    return " AND key >= ? AND key < ?", (prefix, end)


def batches(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def size_or_zero(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def quietly_close(conn: sqlite3.Connection) -> None:
    with contextlib.suppress(sqlite3.Error):
        conn.close()
