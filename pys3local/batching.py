"""Work handed off by the request path and done later, in batches, by one thread.

The access log and the local backend's metadata-cache rows are written this way: a
request only appends an item to a queue, and a daemon thread hands everything queued
to ``handle`` at most :attr:`~BackgroundBatches.interval` seconds after the first
item arrived. One thread wakeup and one write (or one SQLite transaction) then serve
hundreds of requests, where doing it per request cost a third of a small request's
time on a 2-core machine.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class BackgroundBatches(Generic[T]):
    """Items queued from any thread, handled in batches, in order, by one thread.

    Args:
        handle: called with every item queued since its last call (never empty), on
            the background thread or on a thread calling :meth:`flush`; one call at a
            time.
        interval: how long the thread lets items gather after the first one.
        name: the thread's name.
        max_pending: items kept while ``handle`` cannot keep up; beyond it
            :meth:`submit` refuses them (and says so).
    """

    def __init__(
        self,
        handle: Callable[[list[T]], None],
        *,
        interval: float,
        name: str,
        max_pending: int = 100_000,
    ) -> None:
        self.interval = interval
        self._handle = handle
        self._name = name
        self._max_pending = max_pending
        self._pending: deque[T] = deque()
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._handle_lock = threading.Lock()

    def submit(self, item: T) -> bool:
        """Queue an item; False if it was refused because too many are waiting."""
        if len(self._pending) >= self._max_pending:
            return False
        self._pending.append(item)
        if self._thread is None:
            self._start()
        if not self._wake.is_set():
            self._wake.set()
        return True

    def flush(self) -> None:
        """Handle everything queued so far, now, on the calling thread."""
        with self._handle_lock:
            batch: list[T] = []
            pending = self._pending
            while pending:
                batch.append(pending.popleft())
            if batch:
                self._handle(batch)

    def close(self) -> None:
        """Stop the thread after it has handled what is queued."""
        with self._start_lock:
            thread, self._thread = self._thread, None
            self._stopping = thread is not None
        if thread is not None:
            self._wake.set()
            thread.join()
        self._stopping = False
        self.flush()

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None and not self._stopping:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._stopping:
                return
            time.sleep(self.interval)
            self.flush()
