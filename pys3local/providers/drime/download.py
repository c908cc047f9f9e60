"""Streaming a file (or a byte range of it) out of Drime, resuming after a dropped
connection.

Drime redirects a download to signed object storage that honours ``Range``; every
read asks for exactly the bytes it still needs, so a connection that breaks halfway
is resumed from the first missing byte (up to :data:`RESUMES` times) instead of
failing the client's GET. The bytes always belong to the entry that was opened: a
Drime file never changes in place (an overwrite is a new entry).
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator

import httpx

from pys3local.errors import InternalError

from .client import DrimeClient
from .models import DriveEntry
from .transport import DrimeError

log = logging.getLogger("pys3local.drime")

RESUMES = 3
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


async def open_span(client: DrimeClient, entry: DriveEntry, start: int, end: int) -> httpx.Response:
    """Open bytes ``start..end`` and check that the answer really is that span.

    A 200 answer (a store that ignored Range) is accepted only for a span that
    starts at 0; :func:`stream_span` then stops reading after ``end``.
    """
    response = await client.open_download(entry, start, end)
    if response.status_code == 206:
        match = _CONTENT_RANGE.fullmatch(response.headers.get("content-range", "").strip())
        if match is None or int(match[1]) != start:
            await response.aclose()
            got = response.headers.get("content-range", "no Content-Range")
            raise InternalError(f"Drime's storage answered a range request with {got!r}.")
        return response
    if response.status_code == 200 and start == 0:
        return response
    await response.aclose()
    raise InternalError(f"Drime's storage answered a download with HTTP {response.status_code}.")


async def stream_span(
    client: DrimeClient, entry: DriveEntry, start: int, end: int, first: httpx.Response | None
) -> AsyncIterator[bytes]:
    """Yield bytes ``start..end`` of ``entry``; ``first`` is an already opened span."""
    position = start
    response = first
    failures = 0
    try:
        while position <= end:
            if response is None:
                response = await open_span(client, entry, position, end)
            error: Exception | None = None
            try:
                async for chunk in response.aiter_bytes():
                    if not chunk:
                        continue
                    chunk = chunk[: end - position + 1]
                    position += len(chunk)
                    yield chunk
                    if position > end:
                        break
            except (httpx.TransportError, httpx.StreamError) as exc:
                error = exc
            finally:
                await response.aclose()
                response = None
            if position <= end:
                # Broken off, with an error or just early: ask for the rest.
                failures += 1
                reason = type(error).__name__ if error else "body ended early"
                if failures > RESUMES:
                    raise InternalError(
                        f"The download from Drime broke off {failures} times ({reason})."
                    )
                log.warning(
                    "download of entry %d broke off at byte %d (%s); resuming",
                    entry.id,
                    position,
                    reason,
                )
    except DrimeError as exc:
        raise InternalError(f"Reading from Drime failed: {exc.message}") from exc
