"""Keeping a running server's keys in step with the keys file.

Each server process (every ``--workers`` worker) runs one :class:`KeysWatcher`: a
thread that stats the keys file once a second and, when its modification time,
inode, size or change time moved, reads it again and hands the new keys to the
authenticator in one assignment. Requests never wait for it: the request path only
looks keys up in the current dict. A key disabled or removed in the file is refused
from the next poll on (at most about a second later); connections stay open.

A keys file that cannot be read any more (damaged, wrong password) leaves only the
``serve`` pair: an error in the file must not keep a revoked key working.

The same thread writes out when each key was last used, at most every
:data:`USAGE_INTERVAL` seconds, so the request path only stores a time in a dict.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from pys3local.s3.auth import RequestAuthenticator
from pys3local.s3.rights import AccessKey

log = logging.getLogger("pys3local.keys")

#: Seconds between two looks at the keys file.
POLL_INTERVAL = 1.0
#: Seconds between two writes of the last-use times.
USAGE_INTERVAL = 10.0

_Signature = tuple[int, int, int, int] | None


def _signature(path: Path) -> _Signature:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_ino, st.st_size, st.st_ctime_ns)


class KeysWatcher:
    """Reloads the keys of one authenticator when the keys file changes.

    Args:
        path: the keys file.
        load: reads and validates it (raises on a bad file); called from this
            object's thread, never on the event loop (decrypting takes ~0.3 s).
        record_usage: stores ``{access key id: last use}`` (merging); None to not.
    """

    def __init__(
        self,
        path: Path,
        load: Callable[[], list[AccessKey]],
        record_usage: Callable[[dict[str, float]], None] | None = None,
        *,
        poll_interval: float = POLL_INTERVAL,
        usage_interval: float = USAGE_INTERVAL,
    ) -> None:
        self.path = path
        self._load = load
        self._record_usage = record_usage
        self._poll_interval = poll_interval
        self._usage_interval = usage_interval
        self._seen: _Signature = None
        self._authenticator: RequestAuthenticator | None = None
        self._last_used: dict[str, float] = {}
        self._written: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def load_now(self) -> list[AccessKey]:
        """Read the file now (at start: a bad file stops the server from starting)."""
        self._seen = _signature(self.path)
        return self._load() if self._seen is not None else []

    def attach(self, authenticator: RequestAuthenticator, last_used: dict[str, float]) -> None:
        self._authenticator = authenticator
        self._last_used = last_used

    def poll(self) -> bool:
        """Reload if the file changed; return whether it did."""
        signature = _signature(self.path)
        if signature == self._seen:
            return False
        self._seen = signature
        assert self._authenticator is not None
        try:
            keys = self._load() if signature is not None else []
        except Exception as exc:
            log.error(
                "keys file %s unreadable, its keys are refused until fixed: %s", self.path, exc
            )
            keys = []
        self._authenticator.set_keys(keys)
        log.info(
            "keys file %s read again: %d key(s) enabled", self.path, sum(k.enabled for k in keys)
        )
        return True

    def flush_usage(self) -> None:
        """Write out the last-use times that changed since the last write."""
        if self._record_usage is None:
            return
        current = self._last_used.copy()  # one C-level copy: safe beside the event loop
        changed = {k: v for k, v in current.items() if self._written.get(k) != v}
        if not changed:
            return
        try:
            self._record_usage(changed)
        except OSError as exc:
            log.warning("cannot record when keys were last used: %s", exc)
            return
        self._written.update(changed)

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="pys3local-keys", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join(5)
        self._thread = None
        self.flush_usage()

    def _run(self) -> None:
        since_usage = 0.0
        while not self._stop.wait(self._poll_interval):
            try:
                self.poll()
                since_usage += self._poll_interval
                if since_usage >= self._usage_interval:
                    since_usage = 0.0
                    self.flush_usage()
            except Exception:
                log.exception("keys watcher")
