"""Running the fake Drime on a free loopback port: in a thread (tests) or as a process.

``python -m fake_drime`` (with ``tests/`` on ``sys.path``) serves it until stopped
and prints its API URL, for the console, screenshots and benchmarks.
"""

from __future__ import annotations

import argparse
import socket
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn

from .app import API, FakeSettings, create_app
from .faults import Fault, FaultInjector, RequestRecord
from .state import Drive


class FakeDrime:
    """A fake Drime server with its drive, settings and fault injector.

    Use as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(
        self,
        data_dir: Path | None = None,
        *,
        api_key: str = "fake-drime-key",
        page_size_cap: int = 50,
        min_part_size: int = 5 * 1024 * 1024,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self._tmp = None if data_dir is not None else tempfile.TemporaryDirectory()
        self.data_dir = Path(data_dir or self._tmp.name)  # type: ignore[union-attr]
        self.drive = Drive(self.data_dir, min_part_size=min_part_size)
        self.settings = FakeSettings(api_key, page_size_cap)
        _app, self.injector = create_app(self.drive, self.settings)
        self.app: FaultInjector = self.injector
        self._socket = socket.create_server((host, port))
        self.port = self._socket.getsockname()[1]
        self.host = host
        config = uvicorn.Config(
            self.app, lifespan="off", log_config=None, access_log=False, timeout_keep_alive=30
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def api_key(self) -> str:
        return self.settings.api_key

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        return self.base_url + API

    def start(self) -> FakeDrime:
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the fake Drime did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        self._socket.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> FakeDrime:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # Test helpers -------------------------------------------------------------------

    def fault(self, kind: str, **options: object) -> Fault:
        """Add a fault (see :mod:`fake_drime.faults`)."""
        return self.injector.add(Fault(kind, **options))  # type: ignore[arg-type]

    def clear_faults(self) -> None:
        self.injector.clear()

    @property
    def requests(self) -> list[RequestRecord]:
        return self.injector.log

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.api_url, headers={"Authorization": f"Bearer {self.api_key}"}
        )


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve a fake Drime API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--api-key", default="fake-drime-key")
    parser.add_argument("--page-size", type=int, default=50)
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args()
    fake = FakeDrime(
        args.data_dir,
        api_key=args.api_key,
        page_size_cap=args.page_size,
        host=args.host,
        port=args.port,
    )
    print(f"Fake Drime API at {fake.api_url} (key {args.api_key})", flush=True)
    fake.start()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()
