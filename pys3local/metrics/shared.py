"""One set of figures for all the workers of ``serve --workers N``.

Every worker counts into files of one private directory (prometheus_client's
multiprocess mode); the supervisor creates the directory before the first worker
starts, serves the sum of the files on the metrics listener, tells prometheus_client
when a worker has ended (its in-flight and readiness figures go with it, its
counters stay in the totals), and removes the directory at exit.
"""

from __future__ import annotations

import os
import shutil
import tempfile

from pys3local.metrics.shared_dir import SHARED_DIR_ENV

_MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


class SharedFigures:
    """The supervisor's side of the workers' figure files."""

    def __init__(self) -> None:
        self.directory = tempfile.mkdtemp(prefix="pys3local-metrics-")
        # Inherited by the workers, which are started after this.
        os.environ[_MULTIPROC_ENV] = os.environ[SHARED_DIR_ENV] = self.directory
        self._live: set[int] = set()

    def registry(self) -> object:
        """A registry whose figures are the sum over the workers' files."""
        from prometheus_client import CollectorRegistry
        from prometheus_client.multiprocess import MultiProcessCollector

        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=self.directory)
        return registry

    def started(self, pid: int) -> None:
        self._live.add(pid)

    def ended(self, pid: int) -> None:
        """Worker ``pid`` is gone: drop its figures that only count live processes."""
        from prometheus_client.multiprocess import mark_process_dead

        self._live.discard(pid)
        mark_process_dead(pid, path=self.directory)

    def alive(self) -> int:
        return len(self._live)

    def close(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)
        for name in (_MULTIPROC_ENV, SHARED_DIR_ENV):
            os.environ.pop(name, None)
