"""From the server thread's loggers to the console, without flooding it.

:class:`LogBridge` is a ``logging.Handler`` (it knows nothing about Textual). The
server thread's records land in a bounded deque; the first record after a drain calls
``notify`` once (the console posts one message), and the console drains everything
at most a few times per second. So under thousands of requests per second there is
at most one wake-up message in flight, memory stays bounded (the oldest unread lines
are dropped and counted), and no widget is ever touched from the server thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from pys3local.access_log import AccessRecord, access_logger

#: Loggers whose warnings and errors are shown in the request log as notes.
NOTE_LOGGERS = ("pys3local", "uvicorn.error")


@dataclass(frozen=True, slots=True)
class ServerNote:
    """A warning or error the server logged (not a request)."""

    timestamp: float
    level: int
    logger: str
    message: str


LogItem = AccessRecord | ServerNote


@dataclass(frozen=True, slots=True)
class Drained:
    """What the console takes from the bridge in one go."""

    items: list[LogItem]
    #: Items dropped since the last drain because the buffer was full.
    dropped: int


class LogBridge(logging.Handler):
    """A bounded buffer of access records and server notes.

    Args:
        notify: called (from the logging thread) when the buffer goes from drained to
            not drained; must be thread-safe and must not block.
        capacity: most items kept between two drains.
    """

    def __init__(self, notify: Callable[[], None], capacity: int = 2000) -> None:
        super().__init__(logging.INFO)
        self._notify = notify
        self._buffer: deque[LogItem] = deque(maxlen=capacity)
        self._guard = threading.Lock()
        self._dropped = 0
        self._notified = False

    def emit(self, record: logging.LogRecord) -> None:
        access = getattr(record, "access", None)
        if isinstance(access, AccessRecord):
            item: LogItem = access
        elif record.levelno >= logging.WARNING and record.name != access_logger.name:
            item = ServerNote(record.created, record.levelno, record.name, record.getMessage())
        else:
            return
        with self._guard:
            if len(self._buffer) == self._buffer.maxlen:
                self._dropped += 1
            self._buffer.append(item)
            if self._notified:
                return
            self._notified = True
        self._notify()

    def drain(self) -> Drained:
        """Take everything buffered; the next record notifies again."""
        with self._guard:
            items = list(self._buffer)
            self._buffer.clear()
            dropped, self._dropped = self._dropped, 0
            self._notified = False
        return Drained(items, dropped)

    @contextmanager
    def attached(self) -> Iterator[LogBridge]:
        """Receive the access log and server warnings while the context is open.

        The access logger is set to INFO (``log_access`` skips work below it) and
        stops propagating, so request lines never reach a terminal handler under the
        console; the previous settings are restored afterwards.
        """
        saved = access_logger.level, access_logger.propagate
        access_logger.setLevel(logging.INFO)
        access_logger.propagate = False
        access_logger.addHandler(self)
        notes = [logging.getLogger(name) for name in NOTE_LOGGERS]
        for logger in notes:
            logger.addHandler(self)
        try:
            yield self
        finally:
            access_logger.removeHandler(self)
            for logger in notes:
                logger.removeHandler(self)
            access_logger.setLevel(saved[0])
            access_logger.propagate = saved[1]


class Throttle:
    """Decides when the console may drain again: at most once per ``interval`` seconds."""

    def __init__(self, interval: float = 0.2, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self._clock = clock
        self._last = float("-inf")

    def delay(self) -> float:
        """Seconds to wait before draining (0: drain now)."""
        return max(0.0, self._last + self.interval - self._clock())

    def mark(self) -> None:
        self._last = self._clock()
