"""Group commit for small writes: one flush of the data directory's filesystem makes
every write that was ready before it started durable at once.

A durable small PUT used to wait for its own four fsyncs (data file, journal entry,
two directories), i.e. two journal commits of the filesystem per object, one after
the other for every request. Here all the writes that are ready share one
``syncfs(2)`` of the data directory's filesystem: it writes back every dirty file
and directory and commits the filesystem's journal once (16 staged 4 KiB objects:
~2 ms for one syncfs, ~26 ms for their 32 fsyncs, measured on ext4 here).

:class:`GroupSync` runs rounds back to back: a writer that asks while no round runs
starts one at once (no added latency when idle); a writer that asks while a round
runs waits for the next one, which starts as soon as the running one ends and serves
everyone who asked in between. A round only counts for writes finished before it
started, which is why a writer never joins a round already running.

Errors: ``syncfs`` reports a writeback error of any file of the filesystem once per
open descriptor (Linux >= 5.8), not which file failed. So a round that sees an error
does not fail its writers: it counts the error, and every writer whose files were
created before that count changed checks its own files with ``fsync``, which reports
the error of exactly that file (see :func:`.commit.commit_from_loop`).

Only Linux has ``syncfs``; elsewhere :attr:`GroupSync.available` is False and the
writers fsync their own files as before.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import os
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

log = logging.getLogger("pys3local.local")


def _load_syncfs() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        function = libc.syncfs
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int]
    function.restype = ctypes.c_int
    return function


_SYNCFS = _load_syncfs()

#: Rounds that may run at once. One: the writers that arrive while a round runs all
#: wait for the next one. Two rounds side by side (the second writing files back while
#: the first one's journal commit runs) showed no clear gain here (in-process, 16
#: writers: 1,000-1,900 PUTs/s either way, from run to run), with twice the commits.
ROUNDS_IN_FLIGHT = 1

#: Event-loop iterations a finished round waits before the next one starts.
SETTLE_HOPS = 4


class GroupSync:
    """Shared flushes of the filesystem holding ``path`` (see the module docstring)."""

    def __init__(self, path: Path, *, rounds_in_flight: int = ROUNDS_IN_FLIGHT) -> None:
        self._path = path
        self._fd = -1
        #: Rounds run so far, and those whose syncfs reported an error.
        self.rounds = 0
        self.errors = 0
        self._errors_lock = threading.Lock()
        self._rounds_in_flight = rounds_in_flight
        self._loop: asyncio.AbstractEventLoop | None = None
        self._in_flight = 0
        #: The next round, gathering writers until it starts.
        self._pending: asyncio.Future[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def available(self) -> bool:
        return self._fd >= 0

    def open(self) -> None:
        """Open the descriptor the rounds sync through, once, for the provider's life:
        syncfs reports an error to each descriptor that was open when it happened, so
        a descriptor opened per round could miss one that happened in between."""
        if _SYNCFS is not None and self._fd < 0:
            self._fd = os.open(self._path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    async def sync(self, run: Callable[..., Awaitable[Any]]) -> None:
        """Return once a syncfs that started after this call has ended.

        ``run`` runs a blocking call in the pool. The caller compares :attr:`errors`
        with its value from before its files were created to learn whether it has to
        check them itself.
        """
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a provider may serve one event loop after another
            self._loop, self._in_flight, self._pending = loop, 0, None
        if self._pending is None:
            self._pending = loop.create_future()
        waited = self._pending
        if self._in_flight < self._rounds_in_flight:
            self._start(run)
        # Shielded: a writer that gives up must not cancel the round of the others.
        await asyncio.shield(waited)

    def _start(self, run: Callable[..., Awaitable[Any]]) -> None:
        """Start the pending round: from now on, new writers gather for the next one."""
        assert self._loop is not None and self._pending is not None
        done, self._pending = self._pending, None
        self._in_flight += 1
        task = self._loop.create_task(self._round(done, run))
        self._tasks.add(task)  # a strong reference while it runs
        task.add_done_callback(self._tasks.discard)

    async def _round(self, done: asyncio.Future[None], run: Callable[..., Awaitable[Any]]) -> None:
        loop = self._loop
        try:
            await run(self._syncfs_once)
        except asyncio.CancelledError:  # the loop is shutting down
            done.cancel()
            raise
        except BaseException as exc:  # e.g. the pool is shut down: these writers fail
            if not done.done():
                done.set_exception(exc)
                done.exception()  # retrieved here: its writers may be gone
        else:
            done.set_result(None)
            # Let the writers just served run before the next round starts: those that
            # had waited for their files rename them on the event loop and ask again
            # at once, and the next round can still take them (a wake-up is a chain of
            # a few callbacks). Starting it right away left them for the round after.
            for _ in range(SETTLE_HOPS):
                await asyncio.sleep(0)
        finally:
            if self._loop is loop:  # not a round of an event loop served before
                self._in_flight -= 1
                if self._pending is not None and self._in_flight < self._rounds_in_flight:
                    self._start(run)

    def _syncfs_once(self) -> None:
        assert _SYNCFS is not None
        self.rounds += 1
        if _SYNCFS(self._fd) != 0:
            error = ctypes.get_errno()
            with self._errors_lock:  # rounds may run side by side
                self.errors += 1
            log.warning(
                "syncfs of %s failed (%s); the writers check their own files",
                self._path,
                os.strerror(error),
            )
