"""S3 key order over a tree of folders, shared by backends that store keys as paths.

A folder's entries are named by their key text relative to the folder: ``name`` for
an object, ``name/`` for a subfolder. Sorted that way, a depth-first walk visits keys
in S3's order (UTF-8 byte order, which for valid text equals Python's code-point
order), because ``/`` ends every key of a subfolder.
"""

from __future__ import annotations

import bisect


def first_entry_to_list(
    names: list[str], dir_prefix: str, prefix: str, start_after: str
) -> int | None:
    """Where a listing resumes in one folder's sorted ``names``.

    ``dir_prefix`` is the key text shared by the folder's entries. Returns the index
    of the first entry that can hold a key after ``start_after`` and starting with
    ``prefix``, or None when nothing in the folder can.
    """
    start = 0
    if start_after.startswith(dir_prefix) and start_after > dir_prefix:
        relative = start_after[len(dir_prefix) :]
        start = bisect.bisect_left(names, relative)
        # The subfolder just before may contain start_after itself.
        if start > 0 and names[start - 1].endswith("/") and relative.startswith(names[start - 1]):
            start -= 1
    elif start_after > dir_prefix and not dir_prefix.startswith(start_after):
        return None  # everything here sorts before start_after
    local_prefix = local_part(dir_prefix, prefix)
    if local_prefix:
        start = max(start, bisect.bisect_left(names, local_prefix))
    return start


def local_part(dir_prefix: str, prefix: str) -> str:
    """The part of ``prefix`` an entry name of this folder must start with."""
    return prefix[len(dir_prefix) :] if prefix.startswith(dir_prefix) else ""


def common_prefix(key: str, prefix: str, delimiter: str) -> str | None:
    """The common prefix ``key`` rolls up into under ``delimiter``, or None."""
    cut = key.find(delimiter, len(prefix))
    return None if cut < 0 else key[: cut + len(delimiter)]
