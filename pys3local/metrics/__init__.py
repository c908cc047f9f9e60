"""Prometheus figures of a running server, on a listener of their own
(``serve --metrics-listen``).

- :mod:`.requests`: the figures themselves, counted from each request's access
  record, and each server process's backend check (readiness, storage space);
- :mod:`.listener`: ``/metrics``, ``/healthz`` and ``/readyz`` on their own socket;
- :mod:`.shared`: ``--workers``, where every worker counts into files of one
  directory and the supervisor adds them up.

Nothing here is imported unless metrics are asked for: this package's own module
imports nothing.
"""
