"""Helpers for the byte streams providers consume."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator

#: How much data one blocking write (a thread hop) handles: network reads arrive in
#: ~64 KiB pieces, and a hop per piece would cost more than the write itself.
IO_CHUNK = 1024 * 1024


async def batched(body: AsyncIterable[bytes], size: int = IO_CHUNK) -> AsyncIterator[bytearray]:
    """Regroup a stream into pieces of at least ``size`` bytes (the last may be smaller)."""
    pending = bytearray()
    async for chunk in body:
        pending += chunk
        if len(pending) >= size:
            data, pending = pending, bytearray()
            yield data
    if pending:
        yield pending
