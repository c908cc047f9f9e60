"""The listing phases' data and client side: keys written straight into a server's
directory, ListObjectsV2 page by page, and timed passes over a phase's prefixes
(see "The listing setup" in benchmarks/README.md)."""

from __future__ import annotations

import html
import os
import re
import time
from collections.abc import Callable
from pathlib import Path

from client import BlockingConnection, checked, encode_query

LIST_BUCKET = "listing"


def listing_prefixes(count: int, sizes: tuple[int, ...]) -> list[str]:
    """The prefixes a listing phase of ``count`` keys lists, ``count`` keys each.

    Smaller listings are repeated over copies of their prefix (each listed cold once),
    so every size is timed over about as many keys as the largest: a single 10,000-key
    pass takes ~0.1 s, where one scheduling hiccup on a shared machine is 10 %.
    """
    copies = max(1, max(sizes) // count)
    return [f"l{count}/"] + [f"l{count}-{i}/" for i in range(2, copies + 1)]


def write_listing_keys(root: Path, layout: str, count: int, prefix: str) -> None:
    """Write ``count`` one-byte objects straight into a server's directory.

    pys3local: ``<root>/<bucket>/objects/<key>`` (no sidecar: served with a synthetic
    ETag); rclone: ``<root>/<bucket>/<key>``.
    """
    bucket = root / LIST_BUCKET
    if layout == "pys3local":
        (bucket / ".metadata").mkdir(parents=True, exist_ok=True)
        directory = bucket / "objects" / prefix
    else:
        directory = bucket / prefix
    directory.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        fd = os.open(directory / f"k{i:07d}", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, b"x")
        os.close(fd)


def list_keys(
    conn: BlockingConnection,
    bucket: str,
    prefix: str,
    page: int,
    page_seconds: list[float] | None = None,
) -> tuple[int, int]:
    """ListObjectsV2 over ``prefix`` page by page; returns (keys, pages) and appends
    each page's time to ``page_seconds``."""
    token = None
    keys = pages = 0
    last_key = ""
    while True:
        params = {"list-type": "2", "prefix": prefix, "max-keys": str(page)}
        if token:
            params["continuation-token"] = token
        started = time.perf_counter()
        response = checked(conn.request("GET", f"/{bucket}", encode_query(params)), "List")
        if page_seconds is not None:
            page_seconds.append(time.perf_counter() - started)
        found = re.findall(rb"<Key>(.*?)</Key>", response.body)
        if found:
            first = html.unescape(found[0].decode())
            if first <= last_key:
                raise RuntimeError(f"listing went backwards: {first!r} after {last_key!r}")
            last_key = html.unescape(found[-1].decode())
        keys += len(found)
        pages += 1
        truncated = b"<IsTruncated>true</IsTruncated>" in response.body
        match = re.search(rb"<NextContinuationToken>(.*?)</NextContinuationToken>", response.body)
        if not truncated:
            return keys, pages
        if match is None:
            raise RuntimeError("truncated listing without NextContinuationToken")
        token = html.unescape(match[1].decode())


#: A listing of one prefix: (entries, pages); appends each page's time to the list.
Lister = Callable[[BlockingConnection, str, str, int, list[float]], tuple[int, int]]


def timed_passes(
    conn: BlockingConnection,
    lister: Lister,
    bucket: str,
    prefixes: list[str],
    expected: int,
    page: int,
    passes: int,
) -> dict:
    """``passes`` timed passes over ``prefixes`` (``expected`` entries each): the
    raw figures of one listing round (see ``merge_rounds`` in run.py)."""
    times: list[float] = []
    page_seconds: list[float] = []
    pages = 0
    for _ in range(passes):
        started = time.perf_counter()
        for prefix in prefixes:
            found, prefix_pages = lister(conn, bucket, prefix, page, page_seconds)
            pages += prefix_pages
            if found != expected:
                raise RuntimeError(f"listed {found} entries under {prefix}, expected {expected}")
        times.append(time.perf_counter() - started)
    return {
        "passes": times,
        "keys": expected * len(prefixes),
        "ops": pages,
        "page_seconds": page_seconds,
    }
