"""Sizes for people, written one way by the command line and the console."""

from __future__ import annotations

import humanize


def format_size(size: int) -> str:
    """Bytes for people, e.g. ``30.1 MB``, ``40.0 KB`` (decimal units, as the docs show)."""
    # humanize writes "kB"; pys3local's documented output has always said "KB".
    return humanize.naturalsize(size).replace("kB", "KB")
