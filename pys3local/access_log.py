"""One line per request, and the live counters the admin console shows.

The server writes the records and the console reads them; the S3 protocol layer
knows nothing of them.

Records go to the ``pys3local.access`` logger with the record attached as
``extra={"access": AccessRecord}``, so any ``logging.Handler`` (the console's, a
file) gets structured data without parsing text. Credentials never appear: only the
method, the path and the outcome are recorded.

The request path only appends the record to a queue. A background thread hands the
queued records to the logger's handlers every :data:`DELIVERY_INTERVAL` seconds and
then flushes them, so a handler can write a whole batch at once. Waking a thread
and writing a line for every request cost a third of a small request's time on a
2-core machine.
"""

from __future__ import annotations

import atexit
import logging
import time
from collections import deque
from dataclasses import dataclass, field

from pys3local.batching import BackgroundBatches

ACCESS_LOGGER = "pys3local.access"
access_logger = logging.getLogger(ACCESS_LOGGER)


@dataclass(frozen=True, slots=True)
class AccessRecord:
    """What happened to one request."""

    timestamp: float
    client: str
    method: str
    #: The request's :class:`~pys3local.s3.operations.Operation` (or Unrouted reason),
    #: which prints as its AWS name; "-" when the request could not be parsed.
    operation: str
    bucket: str | None
    key: str | None
    status: int
    bytes_in: int
    bytes_out: int
    duration_ms: float
    request_id: str
    error_code: str | None = None
    #: The S3 error document's message (what the client was told).
    error_message: str | None = None
    #: The access key id the request was signed with (an identifier, not a secret);
    #: None when none was sent or authentication is off.
    access_key: str | None = None
    #: The name of that key (``serve`` for the ``serve`` pair, else the keys file's);
    #: None when no key was recognised.
    key_name: str | None = None

    @property
    def target(self) -> str:
        if self.bucket is None:
            return "/"
        return f"/{self.bucket}" + (f"/{self.key}" if self.key is not None else "")

    def format(self) -> str:
        error = f" {self.error_code}" if self.error_code else ""
        key = f" key={self.key_name}/{self.access_key}" if self.key_name else ""
        return (
            f"{self.client} {self.method} {self.target} {self.status} "
            f"in={self.bytes_in} out={self.bytes_out} {self.duration_ms:.1f}ms "
            f"{self.operation}{error}{key}"
        )


@dataclass(slots=True)
class ServerStats:
    """Counters since the server started; updated on the event loop only."""

    started_at: float = field(default_factory=time.time)
    requests: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    status_classes: dict[str, int] = field(
        default_factory=lambda: {"2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0}
    )
    #: Completion times of recent requests, for a requests-per-second figure.
    recent: deque[float] = field(default_factory=lambda: deque(maxlen=100_000))

    def record(self, record: AccessRecord) -> None:
        self.requests += 1
        self.bytes_in += record.bytes_in
        self.bytes_out += record.bytes_out
        bucket = f"{record.status // 100}xx"
        if bucket in self.status_classes:
            self.status_classes[bucket] += 1
        self.recent.append(record.timestamp)

    def requests_per_second(self, window: float = 5.0, now: float | None = None) -> float:
        """Requests completed per second over the last ``window`` seconds.

        Call it on the server's event loop only: it walks a deque that loop appends to.
        """
        now = time.time() if now is None else now
        count = sum(1 for t in reversed(self.recent) if now - t <= window)
        return count / window


#: Longest wait of an access record before it reaches the handlers (seconds).
DELIVERY_INTERVAL = 0.05


def _deliver(records: list[AccessRecord]) -> None:
    """Hand records to the access logger's handlers, then flush them."""
    for record in records:
        log_record = access_logger.makeRecord(
            ACCESS_LOGGER, logging.INFO, __file__, 0, record.format(), None, None,
            extra={"access": record},
        )  # fmt: skip
        log_record.created = record.timestamp
        log_record.msecs = (record.timestamp - int(record.timestamp)) * 1000
        access_logger.handle(log_record)
    for handler in access_logger.handlers:
        handler.flush()


_delivery: BackgroundBatches[AccessRecord] = BackgroundBatches(
    _deliver, interval=DELIVERY_INTERVAL, name="pys3local-access-log"
)
_dropped = 0
atexit.register(_delivery.flush)


def log_access(record: AccessRecord) -> None:
    global _dropped
    if access_logger.isEnabledFor(logging.INFO) and not _delivery.submit(record):
        _dropped += 1
        if _dropped % 10_000 == 1:
            access_logger.warning("access log output too slow: %d records dropped", _dropped)


def flush_access_log() -> None:
    """Deliver the queued records now (at shutdown, in tests)."""
    _delivery.flush()
