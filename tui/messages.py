"""Messages that carry news from worker threads (and between panes) to the UI thread.

Threads only ever ``post_message`` these (thread-safe, never blocks); widgets are
touched by their handlers, on the UI thread.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from pys3local.s3.rights import AccessKey

from .cache_jobs import MigrationOutcome
from .server_worker import ServerStatus


@dataclass
class ServerStateChanged(Message):
    """The embedded server changed state (posted from any thread)."""

    status: ServerStatus


@dataclass
class LogLinesWaiting(Message):
    """The log bridge holds new lines; at most one of these is in flight."""


@dataclass
class MigrationProgress(Message):
    """A migration moved on (posted from the migration thread)."""

    phase: str
    done: int
    total: int
    done_bytes: int
    total_bytes: int

    def can_replace(self, message: Message) -> bool:
        # Only the latest position matters: queued older ones are dropped.
        return isinstance(message, MigrationProgress)


@dataclass
class MigrationFinished(Message):
    """A migration ended: done, cancelled or failed (posted from the migration thread)."""

    outcome: MigrationOutcome | None
    error: str | None = None


@dataclass
class BackendsChanged(Message):
    """Saved backend configs were added, edited or removed."""


@dataclass
class KeysLoaded(Message):
    """The Keys tab read keys.toml anew (the rclone tab offers each key's remote)."""

    keys: tuple[AccessKey, ...]
