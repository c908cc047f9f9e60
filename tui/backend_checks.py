"""Checks run before a backend is saved or served (no Textual here)."""

from __future__ import annotations

import os
from pathlib import Path

import humanize

from pys3local.config import DrimeBackendSettings

#: One quick attempt: a connection test should answer in seconds, not retry for a minute.
_TEST_TIMEOUT = 15.0


class ConnectionProblem(Exception):
    """A connection test failed; ``str()`` says why in one line."""


def local_path_problem(path: object, *, writable: bool = True) -> str | None:
    """Why a local data directory cannot be used, or None.

    It must be a writable directory, or not exist yet below a writable directory (the
    backend creates it when the server starts). A read-only backend only needs an
    existing, readable directory.
    """
    target = Path(str(path)).expanduser()
    if not target.is_absolute():
        return f"{target} is not an absolute path"
    if target.exists():
        if not target.is_dir():
            return f"{target} exists and is not a directory"
        needed, what = (os.W_OK | os.X_OK, "writable") if writable else (os.R_OK, "readable")
        return None if os.access(target, needed) else f"{target} is not {what}"
    if not writable:
        return f"{target} does not exist (a read-only backend cannot create it)"
    parent = target.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        return f"{target} does not exist and cannot be created ({parent} is not writable)"
    return None


async def check_drime_connection(settings: DrimeBackendSettings) -> str:
    """Ask Drime who we are with this key; returns a one-line success message.

    Raises ConnectionProblem (bad key, unknown workspace, unreachable API, or the
    Drime backend not installed).
    """
    try:
        import httpx

        from pys3local.providers.drime import DrimeClient, DrimeError, RetryPolicy
    except ImportError as exc:
        raise ConnectionProblem(f"the Drime backend is not available: {exc}") from None
    client = DrimeClient(
        settings.api_key,
        settings.workspace_id,
        api_url=settings.api_url,
        retry=RetryPolicy(attempts=1),
        timeout=httpx.Timeout(_TEST_TIMEOUT),
    )
    try:
        workspaces = await client.workspaces()
        usage = await client.space_usage()
    except DrimeError as exc:
        raise ConnectionProblem(f"Drime refused: {exc.message}") from None
    except httpx.HTTPError as exc:
        raise ConnectionProblem(f"cannot reach Drime: {exc}") from None
    finally:
        await client.aclose()
    if settings.workspace_id and settings.workspace_id not in {w.id for w in workspaces}:
        known = ", ".join(str(w.id) for w in workspaces) or "none"
        raise ConnectionProblem(
            f"connected, but workspace {settings.workspace_id} is not yours (yours: {known})"
        )
    used = humanize.naturalsize(usage.used)
    available = humanize.naturalsize(usage.available)
    return f"Connected to Drime: {used} used, {available} available"
