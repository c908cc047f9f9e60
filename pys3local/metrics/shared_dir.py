"""The name of the variable that tells a worker of ``--workers`` where to count.

Apart from :mod:`.shared` so that a worker learns it without importing the
supervisor's side.
"""

from __future__ import annotations

#: The directory of the workers' figure files, as the supervisor created it; a
#: ``PROMETHEUS_MULTIPROC_DIR`` other than this one is not ours and is ignored.
SHARED_DIR_ENV = "PYS3LOCAL_WORKER_METRICS_DIR"
