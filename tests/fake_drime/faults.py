"""Switchable fault injection for the fake Drime: 429s, 5xx, slowness, dropped connections.

A :class:`Fault` matches requests by method and a path regex and applies to the
next ``times`` matches (after skipping ``skip`` of them). Kinds:

- ``status``: answer ``status`` (e.g. 429 with ``Retry-After``, or 500) without
  doing the work;
- ``slow``: wait ``delay`` seconds, then do the work normally;
- ``drop``: close the connection mid-answer *without* doing the work;
- ``drop_after``: do the work, then close the connection mid-answer (the client
  cannot tell whether it happened: the case non-idempotent calls must handle);
- ``truncate``: do the work and send only the first ``after_bytes`` bytes of the
  body before closing (a download that breaks off).

A dropped connection is made by announcing a longer body than is sent and then
failing the ASGI call, which makes uvicorn close the socket.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass, field
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class DroppedConnection(Exception):
    """Raised inside the ASGI call to make the server close the connection."""


@dataclass
class Fault:
    kind: str  # status | slow | drop | drop_after | truncate
    path: str = ".*"
    method: str = "*"
    status: int = 500
    retry_after: str | None = None
    delay: float = 0.0
    times: int = 1
    skip: int = 0
    after_bytes: int = 0
    hits: int = field(default=0, init=False)

    def matches(self, method: str, path: str) -> bool:
        return (self.method in ("*", method)) and re.search(self.path, path) is not None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fault:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__ and k != "hits"}
        return cls(**known)


@dataclass
class RequestRecord:
    method: str
    path: str
    status: int
    query: str


class FaultInjector:
    """ASGI middleware applying the active faults; also records every request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.faults: list[Fault] = []
        self.log: list[RequestRecord] = []

    def add(self, fault: Fault) -> Fault:
        self.faults.append(fault)
        return fault

    def clear(self) -> None:
        self.faults.clear()

    def _take(self, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.times > 0 and fault.matches(method, path):
                if fault.skip > 0:
                    fault.skip -= 1
                    continue
                fault.times -= 1
                fault.hits += 1
                return fault
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/__fake__"):
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        record = RequestRecord(method, path, 0, scope.get("query_string", b"").decode())
        self.log.append(record)
        fault = self._take(method, path)

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                record.status = message["status"]
            await send(message)

        if fault is None:
            await self.app(scope, receive, recording_send)
            return
        if fault.kind == "slow":
            await asyncio.sleep(fault.delay)
            await self.app(scope, receive, recording_send)
        elif fault.kind == "status":
            body = json.dumps({"message": f"injected {fault.status}"}).encode()
            headers = [(b"content-type", b"application/json")]
            if fault.retry_after is not None:
                headers.append((b"retry-after", fault.retry_after.encode()))
            await recording_send(
                {"type": "http.response.start", "status": fault.status, "headers": headers}
            )
            await send({"type": "http.response.body", "body": body})
        elif fault.kind == "drop":
            record.status = -1
            await _drop(send)
        elif fault.kind == "drop_after":
            record.status = -1
            await self.app(scope, receive, _swallow)
            await _drop(send)
        elif fault.kind == "truncate":
            await self.app(scope, receive, _truncating(recording_send, fault.after_bytes))
        else:
            raise ValueError(f"unknown fault kind {fault.kind!r}")


async def _swallow(message: Message) -> None:
    return None


async def _drop(send: Send) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", b"1000"), (b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": b"{", "more_body": True})
    raise DroppedConnection("injected dropped connection")


def _truncating(send: Send, limit: int) -> Send:
    sent = 0

    async def wrapper(message: Message) -> None:
        nonlocal sent
        if message["type"] != "http.response.body":
            await send(message)
            return
        body = message.get("body", b"")
        if sent + len(body) >= limit:
            part = body[: limit - sent]
            await send({"type": "http.response.body", "body": part, "more_body": True})
            raise DroppedConnection("injected truncated body")
        sent += len(body)
        await send(message)

    return wrapper
