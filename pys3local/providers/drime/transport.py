"""HTTP to Drime: timeouts, retries with backoff and jitter, and what a failure means.

Every call says whether it is *idempotent*. An idempotent call (a GET, a delete, a
part PUT to a signed URL) is retried on 429, on 5xx and on any network error. A
call that creates something (an upload, a new entry, a duplicate) is retried only
when the answer proves it was not carried out: a 429, or a connection that was
never made. Any other failure of such a call raises :class:`DrimeUnavailable` with
``ambiguous=True``, so the caller can look at what exists before trying again.

A 429's ``Retry-After`` (seconds or an HTTP date) is honoured up to a cap. When the
attempts run out the call raises instead of waiting for ever: a Drime outage becomes
an S3 error for the client, never a hang.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterable, Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from pys3local.providers import events

log = logging.getLogger("pys3local.drime")

#: Errors after which the request certainly never reached Drime.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class DrimeError(Exception):
    """A Drime call failed. ``status`` is the HTTP status, None for network failures."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class DrimeAPIError(DrimeError):
    """Drime answered with a 4xx that retrying cannot fix (401, 403, 404, 422...)."""


class DrimeUnavailable(DrimeError):
    """Drime could not be reached or kept failing until the attempts ran out."""

    def __init__(
        self,
        message: str,
        status: int | None = None,
        *,
        rate_limited: bool = False,
        ambiguous: bool = False,
    ) -> None:
        super().__init__(message, status)
        self.rate_limited = rate_limited
        #: The call may have been carried out although it failed.
        self.ambiguous = ambiguous


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently to retry."""

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 10.0
    #: A longer Retry-After is cut to this (and still counts as one attempt).
    max_retry_after: float = 30.0
    #: Relative jitter: each delay is multiplied by a random factor in 1 ± jitter.
    jitter: float = 0.25

    def backoff(self, attempt: int) -> float:
        delay = min(self.max_delay, self.base_delay * 2**attempt)
        return max(0.0, delay * random.uniform(1 - self.jitter, 1 + self.jitter))


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds: a number, or an HTTP date (RFC 9110)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return max(0.0, (moment - datetime.now(timezone.utc)).total_seconds())


def error_message(response: httpx.Response) -> str:
    """Drime's own words for a failure (JSON ``message``/``error``/``detail``)."""
    try:
        data = response.json()
    except (ValueError, UnicodeDecodeError):
        data = None
    if isinstance(data, dict):
        for name in ("message", "error", "detail"):
            if isinstance(data.get(name), str) and data[name]:
                return data[name]
    return response.reason_phrase or f"HTTP {response.status_code}"


BodyFactory = Callable[[], AsyncIterable[bytes] | bytes]


class Transport:
    """One pooled ``httpx.AsyncClient`` for the API and the storage URLs it hands out."""

    def __init__(
        self,
        api_url: str,
        api_key: str,
        *,
        retry: RetryPolicy | None = None,
        timeout: httpx.Timeout | None = None,
        max_connections: int = 32,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self._auth = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}
        self.retry = retry or RetryPolicy()
        self._client = httpx.AsyncClient(
            timeout=timeout or httpx.Timeout(30.0, connect=10.0),
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else f"{self.api_url}{path}"

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        body: BodyFactory | None = None,
        headers: dict[str, str] | None = None,
        idempotent: bool = True,
    ) -> dict[str, Any]:
        """An API call with a JSON answer (an empty body reads as ``{}``)."""
        response = await self.send(
            method,
            path,
            params=params,
            json=json,
            body=body,
            headers=headers,
            idempotent=idempotent,
        )
        if not response.content.strip():
            return {}
        try:
            data = response.json()
        except ValueError:
            kind = response.headers.get("content-type", "?")
            raise DrimeAPIError(
                f"Drime answered {method} {path} with {kind}, not JSON", response.status_code
            ) from None
        if not isinstance(data, dict):
            raise DrimeAPIError(f"Drime answered {method} {path} with unexpected JSON")
        return data

    async def send(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        body: BodyFactory | None = None,
        headers: dict[str, str] | None = None,
        idempotent: bool = True,
        authenticated: bool | None = None,
        stream: bool = False,
        ok_statuses: tuple[int, ...] = (),
    ) -> httpx.Response:
        """Send with retries; return a response whose status is < 400 (or listed in
        ``ok_statuses``). With ``stream`` the body is not read: close the response."""
        url = self.url(path)
        if authenticated is None:
            authenticated = url.startswith(self.api_url)
        all_headers = {**(self._auth if authenticated else {}), **(headers or {})}
        what = f"{method} {url.split('?', 1)[0].removeprefix(self.api_url)}"
        policy = self.retry
        for attempt in range(policy.attempts):
            last = attempt == policy.attempts - 1
            content = body() if body is not None else None
            try:
                request = self._client.build_request(
                    method, url, params=params, json=json, content=content, headers=all_headers
                )
                response = await self._client.send(request, stream=stream)
            except httpx.TransportError as exc:
                sent = not isinstance(exc, _NOT_SENT)
                reason = f"{what}: {type(exc).__name__}: {exc}".rstrip(": ")
                if (sent and not idempotent) or last:
                    events.failed("drime", "unavailable")
                    raise DrimeUnavailable(
                        f"Drime unreachable ({reason})", ambiguous=sent and not idempotent
                    ) from exc
                events.retried("drime", "network")
                await self._pause(policy.backoff(attempt), reason, attempt)
                continue
            status = response.status_code
            if status < 400 or status in ok_statuses:
                return response
            await _discard(response, stream)
            message = error_message(response)
            if status == 429:
                if last:
                    events.failed("drime", "rate_limited")
                    raise DrimeUnavailable(
                        f"Drime rate limit ({what}): {message}", status, rate_limited=True
                    )
                wait = retry_after_seconds(response.headers.get("retry-after"))
                delay = policy.backoff(attempt) if wait is None else wait
                events.retried("drime", "429")
                await self._pause(min(delay, policy.max_retry_after), f"{what}: 429", attempt)
                continue
            if status >= 500:
                if not idempotent or last:
                    events.failed("drime", "5xx")
                    raise DrimeUnavailable(
                        f"Drime error {status} ({what}): {message}",
                        status,
                        rate_limited=status == 503,
                        ambiguous=not idempotent,
                    )
                events.retried("drime", "5xx")
                await self._pause(policy.backoff(attempt), f"{what}: {status}", attempt)
                continue
            raise DrimeAPIError(f"Drime refused {what} ({status}): {message}", status)
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    async def _pause(delay: float, reason: str, attempt: int) -> None:
        log.warning("Drime call failed (%s); retry %d in %.1fs", reason, attempt + 1, delay)
        await asyncio.sleep(delay)


async def _discard(response: httpx.Response, streamed: bool) -> None:
    if streamed:
        try:
            await response.aread()
        except httpx.HTTPError:
            pass
        finally:
            await response.aclose()
