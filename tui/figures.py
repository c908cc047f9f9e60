"""Numbers for people, and the small bits of arithmetic behind the dashboard."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from pys3local.sizes import format_size


def short_size(size: int) -> str:
    """``format_size`` for narrow columns: ``512 B`` rather than ``512 Bytes``."""
    return format_size(size).replace(" Bytes", " B").replace(" Byte", " B")


def format_uptime(seconds: float) -> str:
    """``0:03:12``, ``2d 4:05:00``."""
    seconds = max(int(seconds), 0)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    clock = f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{days}d {clock}" if days else clock


@dataclass(frozen=True, slots=True)
class Counters:
    """A copy of the server's counters taken on the UI thread."""

    requests: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    s2xx: int = 0
    s3xx: int = 0
    s4xx: int = 0
    s5xx: int = 0


class RateSeries:
    """Requests per second, one sample per tick, for the sparkline and the rate figure.

    Computed from the growth of the request counter between ticks, which is all the
    UI thread needs to read (the server's own timestamp deque belongs to its loop).
    """

    def __init__(self, length: int = 60) -> None:
        self.samples: deque[float] = deque([0.0] * length, maxlen=length)
        self._last: tuple[float, int] | None = None

    def reset(self) -> None:
        self.samples.extend([0.0] * (self.samples.maxlen or 0))
        self._last = None

    def add(self, now: float, requests: int) -> None:
        if self._last is not None:
            then, count = self._last
            elapsed = now - then
            if elapsed > 0:
                self.samples.append(max(requests - count, 0) / elapsed)
        self._last = (now, requests)

    def recent(self, ticks: int = 5) -> float:
        """The mean rate over the last ``ticks`` samples."""
        window = list(self.samples)[-ticks:]
        return sum(window) / len(window) if window else 0.0
