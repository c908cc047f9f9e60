"""What an S3 client is told when a Drime call fails."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from pys3local.errors import AccessDenied, InternalError, S3Error, SlowDown

from .transport import DrimeError, DrimeUnavailable


def s3_error(exc: DrimeError) -> S3Error:
    """The S3 error for a Drime failure: SlowDown (503) while Drime throttles or is
    overloaded, InternalError (500) with Drime's message for anything else."""
    if isinstance(exc, DrimeUnavailable):
        if exc.rate_limited:
            return SlowDown(f"Drime is throttling requests: {exc.message}")
        return InternalError(f"Drime is unavailable: {exc.message}")
    if exc.status == 401:
        # Not "check DRIME_API_KEY": the key may come from a saved backend; serve names
        # its source when the backend fails to open.
        return InternalError("Drime rejected the API key (HTTP 401).")
    if exc.status == 403:
        return AccessDenied(f"Drime refused access: {exc.message}")
    return InternalError(exc.message)


@asynccontextmanager
async def translated() -> AsyncIterator[None]:
    """Turn Drime failures raised inside the block into S3 errors."""
    try:
        yield
    except DrimeError as exc:
        raise s3_error(exc) from exc
