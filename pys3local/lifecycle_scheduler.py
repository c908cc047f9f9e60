"""Running the lifecycle sweep now and then while the server serves.

Each server process (every ``--workers`` worker) runs one :class:`LifecycleScheduler`:
an asyncio task that asks the provider for a sweep every few seconds to a minute.
The provider runs one only when none of the processes serving its store finished
one within the interval (:meth:`~pys3local.providers.lifecycle.LifecycleDefaults.run_lifecycle`
with ``min_interval``), so N workers sweep once per interval, not N times, and a
restarted server sweeps at once if the last sweep is older than the interval.

The sweep itself runs on the provider's thread pool; stopping the server asks it to
end after the key it is working on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading

from pys3local.providers.base import StorageProvider

log = logging.getLogger("pys3local.lifecycle")

#: The longest wait between two asks: a sweep comes at most this late.
MAX_TICK = 60.0
#: The default of ``serve --lifecycle-interval``, in seconds.
DEFAULT_INTERVAL = 3600.0


class LifecycleScheduler:
    """Asks ``provider`` for a sweep every ``interval`` seconds (0: never)."""

    def __init__(self, provider: StorageProvider, interval: float) -> None:
        self.provider = provider
        self.interval = interval
        self._task: asyncio.Task[None] | None = None
        #: Read by the sweep's thread between keys.
        self._stopping = threading.Event()
        self._wake: asyncio.Event | None = None

    def start(self) -> None:
        if self.interval <= 0 or self.provider.readonly or self._task is not None:
            return
        self._stopping.clear()
        self._wake = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        """Stop asking; a sweep in progress ends after its current key."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping.set()
        if self._wake is not None:
            self._wake.set()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _loop(self) -> None:
        tick = min(self.interval, MAX_TICK)
        while not self._stopping.is_set():
            try:
                report = await self.provider.run_lifecycle(
                    min_interval=self.interval, should_stop=self._stopping.is_set
                )
            except Exception:  # a failed sweep is retried at the next interval
                log.exception("lifecycle sweep failed")
                report = None
            if report is not None and report.counts:
                done = ", ".join(f"{n} {action}" for action, n in sorted(report.counts.items()))
                log.info("lifecycle sweep: %s", done)
            if self._wake is None or self._stopping.is_set():
                return
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), tick)
