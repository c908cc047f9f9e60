"""Listing a bucket's keys in S3 order, one page at a time, from Drime folders.

Keys are folder paths, so a depth-first walk that visits each folder's children
sorted by their key text (``name`` for a file, ``name/`` for a folder) yields keys in
S3 order (UTF-8 byte order, which equals code-point order for valid text). A page
seeks straight to ``start_after`` with a binary search in each folder on the way
down and stops after ``max_keys`` entries, so its cost grows with the page, not with
the bucket. Each folder's listing is read through every page Drime has for it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from pys3local.providers.ordering import common_prefix, first_entry_to_list, local_part

from .folders import FolderTree
from .models import DriveEntry


@dataclass(frozen=True, slots=True)
class Listed:
    """A key with its entry, or a common prefix (``entry`` None)."""

    key: str
    entry: DriveEntry | None


async def walk(
    tree: FolderTree,
    folder_id: int,
    dir_prefix: str,
    *,
    prefix: str,
    start_after: str,
    roll_up_folders: bool,
) -> AsyncIterator[Listed]:
    """Yield the keys below ``folder_id`` (whose keys start with ``dir_prefix``) that
    start with ``prefix`` and sort after ``start_after``, in S3 order.

    With ``roll_up_folders`` (delimiter ``/``) a subfolder is yielded once as a common
    prefix, if it holds a file somewhere below it (S3 has no empty prefixes).
    """
    listing = await tree.children(folder_id)
    rows = sorted(
        [(name, entry) for name, entry in listing.files.items()]
        + [(name + "/", entry) for name, entry in listing.folders.items()]
    )
    names = [row[0] for row in rows]
    start = first_entry_to_list(names, dir_prefix, prefix, start_after)
    if start is None:
        return
    local_prefix = local_part(dir_prefix, prefix)
    for name, entry in rows[start:]:
        if local_prefix and not name.startswith(local_prefix):
            return  # sorted: nothing later can match
        key = dir_prefix + name
        if not name.endswith("/"):
            if key > start_after:
                yield Listed(key, entry)
            continue
        if roll_up_folders:
            if key > start_after and await tree.holds_file(entry.id):
                yield Listed(key, None)
            continue
        async for item in walk(
            tree,
            entry.id,
            key,
            prefix=prefix,
            start_after=start_after,
            roll_up_folders=roll_up_folders,
        ):
            yield item


async def roll_up(
    items: AsyncIterator[Listed], prefix: str, delimiter: str, start_after: str
) -> AsyncIterator[Listed]:
    """Roll keys up into common prefixes for a delimiter other than ``/``."""
    last_prefix = None
    async for item in items:
        common = common_prefix(item.key, prefix, delimiter)
        if common is None:
            yield item
            continue
        if common != last_prefix and common > start_after:
            last_prefix = common
            yield Listed(common, None)
