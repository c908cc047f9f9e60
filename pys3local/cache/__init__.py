"""The metadata cache: one SQLite database of what pys3local knows about stored objects.

This package owns the database file (its schema, version upgrades, concurrency and
recovery from damage) and is the only place in pys3local that speaks SQL.

The cache is an accelerator, never the source of truth: every row describes an
object that the backend still holds, so a lost or damaged database is simply
rebuilt. Rows are keyed by *workspace* (the Drime workspace id, 0 for the local
backend), *store* (which storage area of that workspace: a local data directory or
a Drime root folder, see :func:`local_store` and :func:`drime_store`), bucket and
key. The store keeps two servers on different data directories from seeing each
other's rows, which the predecessor got wrong.

Concurrency: WAL mode, so readers never wait for the writer; every write runs in a
``BEGIN IMMEDIATE`` transaction, so writers queue on SQLite's lock (with a busy
timeout) instead of deadlocking; and a retry loop covers the rare ``SQLITE_BUSY``
that SQLite returns without waiting. Each thread gets its own connection, and a
process keeps one instance per file (:func:`acquire_cache`).
"""

from .database import MetadataCache
from .entries import (
    CacheBusy,
    CacheEntry,
    CacheError,
    CacheFigures,
    CacheRefused,
    CacheStats,
    CacheUnavailable,
    drime_store,
    local_store,
    prefix_end,
)
from .schema import SCHEMA_V1, SCHEMA_V2, SCHEMA_VERSION
from .shared import acquire_cache, release_cache, shared_cache
from .stores import is_local_store, local_store_path, parse_store, store_label
from .uploads import PartRow, UploadRow, UploadTable
from .view import CacheView

__all__ = [
    "SCHEMA_V1",
    "SCHEMA_V2",
    "SCHEMA_VERSION",
    "CacheBusy",
    "CacheEntry",
    "CacheError",
    "CacheFigures",
    "CacheRefused",
    "CacheStats",
    "CacheUnavailable",
    "CacheView",
    "MetadataCache",
    "PartRow",
    "UploadRow",
    "UploadTable",
    "acquire_cache",
    "drime_store",
    "is_local_store",
    "local_store",
    "local_store_path",
    "parse_store",
    "prefix_end",
    "release_cache",
    "shared_cache",
    "store_label",
]
