"""The console's Textual-free parts: log bridge, server controller, rclone.conf, figures."""

from __future__ import annotations

import logging
import socket
import threading
import time

import pytest
from click.testing import CliRunner
from pys3local_tui import server_worker
from pys3local_tui.figures import RateSeries, format_uptime, short_size
from pys3local_tui.log_bridge import LogBridge, ServerNote, Throttle
from pys3local_tui.rclone_conf import RemoteExists, append_remote, remote_names
from pys3local_tui.server_worker import ServerController, ServerOptions, ServerState, StartError

from pys3local.access_log import AccessRecord, access_logger, flush_access_log, log_access
from pys3local.cli import tui_cmd
from pys3local.cli.tui_cmd import tui
from pys3local.config import LocalBackendSettings
from pys3local.providers.local.usage import measure_store


def record(status: int = 200, key: str = "k") -> AccessRecord:
    return AccessRecord(
        1.0, "127.0.0.1", "GET", "GetObject", "default", key, status, 0, 5, 1.0, "R"
    )


# --------------------------------------------------------------------------- log bridge


def test_bridge_notifies_once_per_drain_and_stays_bounded():
    """10,000 records: one wake-up, at most `capacity` kept, the rest counted as dropped."""
    wakeups = []
    bridge = LogBridge(lambda: wakeups.append(1), capacity=100)
    with bridge.attached():
        for i in range(10_000):
            log_access(record(key=str(i)))
        flush_access_log()  # records are delivered in batches from a background thread
    drained = bridge.drain()
    assert len(wakeups) == 1
    assert len(drained.items) == 100 and drained.dropped == 9_900
    assert drained.items[-1].key == "9999"  # the newest survive
    log_access(record())  # detached: nothing arrives
    flush_access_log()
    assert bridge.drain().items == []


def test_bridge_attaches_and_restores_the_access_logger():
    """While attached the access logger is INFO and does not propagate; then it is restored."""
    before = (access_logger.level, access_logger.propagate)
    bridge = LogBridge(lambda: None)
    with bridge.attached():
        assert access_logger.isEnabledFor(logging.INFO) and not access_logger.propagate
        logging.getLogger("pys3local.server").error("disk on fire")
        logging.getLogger("pys3local.server").info("just chatting")
    assert (access_logger.level, access_logger.propagate) == before
    notes = bridge.drain().items
    assert [type(n) for n in notes] == [ServerNote] and notes[0].message == "disk on fire"


def test_bridge_is_thread_safe():
    """Several logging threads and a draining thread lose nothing below capacity."""
    bridge = LogBridge(lambda: None, capacity=100_000)
    seen: list[AccessRecord] = []
    with bridge.attached():
        threads = [
            threading.Thread(target=lambda: [log_access(record()) for _ in range(2000)])
            for _ in range(4)
        ]
        for thread in threads:
            thread.start()
        while any(t.is_alive() for t in threads):
            seen += bridge.drain().items
            time.sleep(0.001)
        for thread in threads:
            thread.join()
        flush_access_log()
    seen += bridge.drain().items
    assert len(seen) == 8000


def test_throttle_spaces_drains():
    """After a drain the next one waits for the interval."""
    now = [100.0]
    throttle = Throttle(0.2, clock=lambda: now[0])
    assert throttle.delay() == 0
    throttle.mark()
    now[0] += 0.05
    assert throttle.delay() == pytest.approx(0.15)
    now[0] += 0.2
    assert throttle.delay() == 0


# --------------------------------------------------------------------------- controller


def options(tmp_path, **changes: object) -> ServerOptions:
    """Options for a local backend in ``tmp_path`` on a free loopback port."""
    values: dict[str, object] = {
        "backend": LocalBackendSettings(tmp_path / "data"),
        "listen": "127.0.0.1:0",
    }
    values.update(changes)
    return ServerOptions(**values)  # type: ignore[arg-type]


def test_controller_runs_and_stops_without_textual(tmp_path):
    """prepare binds, run serves in a thread, stop ends it; every state is reported."""
    states: list[ServerState] = []
    controller = ServerController(
        lambda status: states.append(status.state), cache_db=tmp_path / "metadata.db"
    )
    status = controller.prepare(options(tmp_path))
    assert status.address is not None and status.address.port > 0
    thread = threading.Thread(target=controller.run)
    thread.start()
    with socket.create_connection(("127.0.0.1", status.address.port), timeout=5):
        pass
    for _ in range(200):
        if controller.status.state is ServerState.RUNNING:
            break
        threading.Event().wait(0.01)
    controller.stop()
    assert controller.wait(10)
    thread.join(5)
    assert states == [
        ServerState.STARTING,
        ServerState.RUNNING,
        ServerState.STOPPING,
        ServerState.STOPPED,
    ]


def test_unavailable_backend_and_bad_listen_are_start_errors(tmp_path, monkeypatch):
    """A backend that is not implemented, or a bad address, is a StartError with a message."""

    def not_yet(*args: object, **kwargs: object) -> None:
        raise NotImplementedError("The Drime backend is not available in this version yet.")

    controller = ServerController()
    with pytest.raises(StartError, match="invalid port"):
        controller.prepare(options(tmp_path, listen="127.0.0.1:99999"))
    with pytest.raises(StartError, match="must not be empty"):
        controller.prepare(options(tmp_path, secret_key=""))
    monkeypatch.setattr(server_worker, "build_app", not_yet)
    with pytest.raises(StartError, match="Drime backend is not available"):
        controller.prepare(options(tmp_path))
    assert controller.status.state is ServerState.STOPPED


def test_backend_that_fails_to_open_is_an_error_state(tmp_path, monkeypatch):
    """If the provider cannot open, the state is ERROR with the reason and the port is freed."""
    from pys3local.server import S3Application

    async def broken_start(self: S3Application) -> None:
        raise PermissionError("no access to /srv/s3")

    monkeypatch.setattr(S3Application, "start", broken_start)
    controller = ServerController(cache_db=tmp_path / "metadata.db")
    port = controller.prepare(options(tmp_path)).address.port  # type: ignore[union-attr]
    controller.run()
    assert controller.status.state is ServerState.ERROR
    assert "no access to /srv/s3" in controller.status.message
    socket.create_server(("127.0.0.1", port)).close()


# --------------------------------------------------------------------------- rclone.conf


def test_append_remote_never_duplicates(tmp_path):
    """A remote is appended once, the rest of the file is kept, the file is private."""
    path = tmp_path / "rclone" / "rclone.conf"
    path.parent.mkdir()
    path.write_text("[other]\ntype = local")
    append_remote(path, "pys3local", "[pys3local]\ntype = s3\n")
    assert path.read_text() == "[other]\ntype = local\n\n[pys3local]\ntype = s3\n"
    assert remote_names(path) == ["other", "pys3local"]
    with pytest.raises(RemoteExists):
        append_remote(path, "pys3local", "[pys3local]\ntype = s3\n")
    fresh = tmp_path / "new" / "rclone.conf"
    append_remote(fresh, "x", "[x]\n")
    assert fresh.stat().st_mode & 0o777 == 0o600


# --------------------------------------------------------------------------- figures


def test_figures():
    """Rates come from counter growth; sizes and uptimes read well."""
    series = RateSeries(4)
    series.add(0.0, 0)
    series.add(1.0, 10)
    series.add(2.0, 30)
    assert list(series.samples) == [0.0, 0.0, 10.0, 20.0]
    assert series.recent(2) == 15.0
    assert short_size(512) == "512 B" and short_size(1500) == "1.5 KB"
    assert format_uptime(3 * 86400 + 3723) == "3d 1:02:03"


def test_directory_size(tmp_path):
    """Storage used is the sum of the files below the data directory."""
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "f").write_bytes(b"x" * 10)
    (tmp_path / "g").write_bytes(b"y" * 5)
    assert measure_store(tmp_path).stored_bytes == 15
    assert measure_store(tmp_path / "missing").stored_bytes == 0


# --------------------------------------------------------------------------- command


def test_tui_command_passes_paths_to_the_app(tmp_path, monkeypatch):
    """`pys3local tui --config-dir D` opens the console on D (cache next to it)."""
    from pys3local_tui import app as app_module

    seen = {}

    def fake_run(self: app_module.AdminApp) -> None:
        seen.update(store=self.store.directory, cache=self.cache_db, path=self.data_path)
        seen["offered"] = self.remembered.get("srv-path")

    monkeypatch.delenv("PYS3LOCAL_CACHE_DB", raising=False)
    monkeypatch.setattr(app_module.AdminApp, "run", fake_run)
    monkeypatch.setattr(tui_cmd, "on_terminal", lambda: True)  # CliRunner's streams are not one
    result = CliRunner().invoke(tui, ["--config-dir", str(tmp_path), "--path", str(tmp_path / "d")])
    assert result.exit_code == 0, result.output
    assert seen == {
        "store": tmp_path,
        "cache": tmp_path / "metadata.db",
        "path": tmp_path / "d",
        "offered": None,
    }
    # Without --path the form offers the directory used last; with it, --path wins.
    (tmp_path / "console.json").write_text('{"srv-path": "/srv/remembered"}')
    result = CliRunner().invoke(tui, ["--config-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert seen["offered"] == "/srv/remembered"
    CliRunner().invoke(tui, ["--config-dir", str(tmp_path), "--path", str(tmp_path / "d")])
    assert seen["offered"] is None
