"""The Cache tab's versions line: the non-current versions and delete markers of a
local data directory, as ``pys3local cache stats`` counts them.

The cache has a row per live object only, so the versions are read from the data
directory: a walk of its versions trees (:func:`~pys3local.cli.cache_report.local_versions`,
the very function ``cache stats`` uses). The walk can be long, so it runs in a
thread, one at a time however often the figures are refreshed (a refresh during a
walk asks for one more walk after it, never a second thread); the refresh every two
seconds while a server runs walks again only every :data:`LIVE_INTERVAL` seconds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

from textual import work
from textual.widgets import Static

from pys3local.cache import is_local_store, store_label
from pys3local.cli.cache_report import local_versions, versions_summary
from pys3local.providers.local.usage import VersionUsage

from ..log_format import shorten_middle

HEAD = "Versions in "
#: Seconds between two walks asked for by the live refresh (not by a person).
LIVE_INTERVAL = 30.0


class VersionsLine(Static):
    """One line: the versions of the store :meth:`show` names (a local one)."""

    def __init__(self, *, id: str) -> None:
        super().__init__("", id=id, markup=False)
        #: Non-current versions per local store (workspace, store), from the last walk.
        self.versions: dict[tuple[int, str], VersionUsage] = {}
        self.store: tuple[int, str] | None = None
        self._counting = False
        self._pending: list[tuple[int, str]] | None = None
        self._error = ""
        self._walked: tuple[float, list[tuple[int, str]]] | None = None

    def count(self, stores: Iterable[tuple[int, str]], live: bool = False) -> None:
        """Count the versions of the local ones among ``stores`` in a thread; ``live``
        (the timer's refresh): only if the last walk of the same stores is old."""
        local = sorted({store for store in stores if is_local_store(store[1])})
        if live and self._walked is not None:
            ended, walked = self._walked
            if walked == local and time.monotonic() - ended < LIVE_INTERVAL:
                return
        if self._counting:
            self._pending = local
            return
        if not local:
            self.versions = {}
            self.show(self.store)
            return
        self._counting = True
        self._walk(local)

    @work(group="cache-versions", exit_on_error=False)
    async def _walk(self, stores: list[tuple[int, str]]) -> None:
        try:
            self.versions = await asyncio.to_thread(local_versions, stores)
            self._error = ""
        except Exception as exc:  # an unreadable directory is one line, never a crash
            self._error = f"Cannot count versions: {exc}"
        finally:
            self._counting = False
            self._walked = (time.monotonic(), stores)
        self.show(self.store)
        if self._pending is not None:
            pending, self._pending = self._pending, None
            self.count(pending)

    def show(self, store: tuple[int, str] | None) -> None:
        """Show the figures of ``store`` (None: nothing to show)."""
        self.store = store
        if self._error:
            self.update(self._error)
            return
        if store is None:
            self.update("")
            return
        usage = self.versions.get(store)
        if usage is None:
            figures = "counting..."
        elif usage.versions or usage.delete_markers:
            figures = versions_summary(usage)
        else:
            figures = "no noncurrent versions, no delete markers"
        width = self.size.width or self.app.size.width
        room = max(width - len(HEAD) - len(figures) - 2, 12)
        label = store_label(*store)
        self.update(f"{HEAD}{short_label(label, room)}: {figures}")


def short_label(label: str, width: int) -> str:
    """A store label in ``width`` cells: its kind and workspace (``drime:1465``,
    ``local:``) kept whole, the folder shortened in the middle."""
    head, slash, rest = label.partition("/")
    if len(label) <= width or len(head) + 4 > width:
        return shorten_middle(label, width)
    return head + shorten_middle(slash + rest, width - len(head))
