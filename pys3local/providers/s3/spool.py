"""A request body with its length: S3 needs the length before the body."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import AsyncIterable, AsyncIterator

from .client import CHUNK_SIZE


@contextlib.asynccontextmanager
async def sized_body(
    body: AsyncIterable[bytes],
) -> AsyncIterator[tuple[int, AsyncIterable[bytes]]]:
    """The body's length and a stream of it.

    S3 needs a length before the body. The protocol layer's request payload
    declares one (PutObject and UploadPart require it); any other stream (a generic
    copy) is spooled to a temporary file first, so memory stays flat either way.
    """
    declared = getattr(body, "declared_length", None)
    if isinstance(declared, int):
        yield declared, body
        return
    with tempfile.TemporaryFile(prefix="pys3local-spool-") as spool:
        size = 0
        async for chunk in body:
            await in_thread(spool.write, chunk)
            size += len(chunk)
        spool.seek(0)

        async def replay() -> AsyncIterator[bytes]:
            while chunk := await in_thread(spool.read, CHUNK_SIZE):
                yield chunk

        yield size, replay()


async def in_thread(function: object, *args: object) -> object:
    return await asyncio.to_thread(function, *args)  # type: ignore[arg-type]
