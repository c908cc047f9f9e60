"""The pys3local admin console: a thin composer of the tabs and the app-wide actions.

Threads: the S3 server runs in one thread worker (``ServerController.run``); it and
the log bridge only ever *post messages* here. Counters are plain integers the
dashboard reads once a second. Nothing outside the UI thread touches a widget.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterable
from pathlib import Path

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Footer, Header, Input, TabbedContent, TabPane
from textual.worker import Worker

from pys3local import paths
from pys3local.config import (
    PASSWORD_ENV,
    BackendConfigError,
    ConfigPasswordInvalid,
    ConfigStore,
)
from pys3local.settings import DEFAULT_PATH

from . import remembered
from .commands import ConsoleCommands
from .log_bridge import LogBridge, Throttle
from .messages import BackendsChanged, KeysLoaded, LogLinesWaiting, ServerStateChanged
from .panes.backends import BackendsPane
from .panes.buckets import BucketsPane
from .panes.cache import CachePane
from .panes.dashboard import Dashboard
from .panes.keys import KeysPane
from .panes.rclone import RclonePane, RemoteTarget
from .panes.request_log import RequestLines, RequestLog
from .panes.server import ServerPane
from .rclone_conf import default_rclone_config
from .screens.confirm import ConfirmDialog
from .screens.help import HelpScreen
from .screens.password import PasswordScreen
from .server_worker import (
    ServerController,
    ServerOptions,
    ServerState,
    StartError,
    exposure_warning,
)

TABS = Binding.Group("Tabs", compact=True)
#: Tab id -> (label, selector of the widget that gets the focus there).
TAB_FOCUS = {
    "dashboard": ("Dashboard", "#log-lines"),
    # The form, not the Start button: a switch of tab must never leave a button
    # where the next Enter or space would press it.
    "server": ("Server", "#server-pane"),
    "backends": ("Backends", "#backends-table"),
    "cache": ("Cache", "#cache-table"),
    "rclone": ("rclone", "#rc-block-box"),
    "keys": ("Keys", "#keys-table"),
    "buckets": ("Buckets", "#buckets-table"),
}
TAB_BINDINGS = [
    # Not in the footer: the tab labels show these keys ("1 Dashboard" ...).
    Binding(str(n), f"show_tab('{tab}')", label, group=TABS, show=False)
    for n, (tab, (label, _)) in enumerate(TAB_FOCUS.items(), start=1)
]
#: The tab keys as one line of the help screen.
TAB_KEYS = Binding("1", "", "Tabs", key_display=f"1-{len(TAB_FOCUS)}")
#: j/k in every list (ListTable) and the request log, as one line of the help screen.
LIST_KEYS = Binding("j", "", "Move in lists", key_display="j k")
#: Seconds between two drains of the log bridge (at most 5 redraws per second).
LOG_DRAIN_INTERVAL = 0.2
#: Seconds between two reads of the cache figures while a server runs and they show.
CACHE_REFRESH_INTERVAL = 2.0
#: Seconds between two looks at the config files' modification times.
CONFIG_POLL_INTERVAL = 1.0


class AdminApp(App[None]):
    """Dashboard, server control, backends, cache maintenance, rclone copy-out, keys
    and buckets."""

    CSS_PATH = "app.tcss"
    COMMANDS = App.COMMANDS | {ConsoleCommands}
    TITLE = "pys3local"
    SUB_TITLE = "admin console"
    BINDINGS = [
        *TAB_BINDINGS,
        Binding("s", "start_server", "Start"),
        Binding("x", "stop_server", "Stop"),
        Binding("question_mark,f1", "help", "Help", key_display="?"),
        Binding("q", "quit", "Quit"),
        Binding("escape", "leave_field", "Leave field", show=False, key_display="esc"),
    ]

    def __init__(
        self,
        *,
        config_dir: Path | None = None,
        cache_db: Path | None = None,
        rclone_config: Path | None = None,
        data_path: Path | None = None,
        listen: str | None = None,
        log_capacity: int = 1000,
    ) -> None:
        super().__init__()
        self.store = ConfigStore(config_dir)
        self.cache_db = cache_db or paths.cache_db_path()
        self.rclone_config = rclone_config or default_rclone_config()
        #: The start form as last used; a path or address given here wins over it.
        self.remembered = remembered.load(self.store.directory)
        if data_path is not None:
            self.remembered.pop("srv-path", None)
        self.data_path = data_path or Path(DEFAULT_PATH)
        self.listen = listen
        self._config_seen = self._config_signature()
        self.log_capacity = log_capacity
        # Both callbacks run on other threads: post_message is thread-safe and never
        # blocks (call_from_thread would wait for this thread, which may be waiting
        # for the server to stop).
        self.server = ServerController(
            lambda status: self.post_message(ServerStateChanged(status)), cache_db=self.cache_db
        )
        self.log_bridge = LogBridge(lambda: self.post_message(LogLinesWaiting()), log_capacity * 2)
        self._throttle = Throttle(LOG_DRAIN_INTERVAL)
        self._drain_scheduled = False
        self._server_worker: Worker[None] | None = None
        self._exit_stack = contextlib.ExitStack()

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Header(icon="◆")  # the default icon is missing from common terminal fonts
        with TabbedContent(initial="dashboard", id="tabs"):
            with TabPane("1 Dashboard", id="dashboard"):
                yield Dashboard(self.server, log_capacity=self.log_capacity, id="dash")
            with TabPane("2 Server", id="server"):
                yield ServerPane(
                    self.store,
                    data_path=self.data_path,
                    listen=self.listen,
                    remembered=self.remembered,
                    id="server-pane",
                )
            with TabPane("3 Backends", id="backends"):
                yield BackendsPane(self.store, id="backends-pane")
            with TabPane("4 Cache", id="cache"):
                yield CachePane(
                    self.cache_db, self.store, default_path=self.data_path, id="cache-pane"
                )
            with TabPane("5 rclone", id="rclone"):
                yield RclonePane(self.rclone_config, id="rclone-pane")
            with TabPane("6 Keys", id="keys"):
                yield KeysPane(self.store, self._key_endpoint, id="keys-pane")
            with TabPane("7 Buckets", id="buckets"):
                yield BucketsPane(self.server, id="buckets-pane")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self._exit_stack.enter_context(self.log_bridge.attached())
        self.query_one("#log-lines").focus()
        self._update_rclone()
        self.set_interval(CACHE_REFRESH_INTERVAL, self._refresh_live_cache)
        self.set_interval(CONFIG_POLL_INTERVAL, self._follow_config)
        self._ask_password_if_locked()

    def _ask_password_if_locked(self) -> None:
        """An encrypted config without a working password: ask for it (once, at start)."""
        if not self.store.is_encrypted():
            return
        try:
            # Free when the panes already decrypted (the plaintext is kept), and no key
            # derivation at all without a password.
            self.store.check_password()
        except ConfigPasswordInvalid:
            reason = f"{PASSWORD_ENV} does not decrypt them: wrong password?"
        except BackendConfigError:
            reason = None
        else:
            return
        self.push_screen(PasswordScreen(self.store.directory, reason), self._unlocked)

    def _unlocked(self, store: ConfigStore | None) -> None:
        """The password screen's answer: a store that can read the configs, or None."""
        if store is None:
            locked = (
                "Saved backends are locked (encrypted, no password given): the console "
                "runs without them; an ad-hoc local path still works. Restart the console "
                "to enter the password."
            )
            self.server_pane.show_message(locked, error=True)
            self.query_one(BackendsPane).show_message(locked, error=True)
            self.notify(locked, title="Without saved backends", severity="warning")
            return
        self.store = store
        if store.password is not None:
            # The server's keys watcher decrypts keys.toml with it, as serve's workers do.
            os.environ[PASSWORD_ENV] = store.password
        for pane in (self.server_pane, self.query_one(BackendsPane), self.query_one(CachePane)):
            pane.store = store
        self.query_one(KeysPane).store = store
        self.query_one(KeysPane).reload()
        self.query_one(BackendsPane).reload()
        self.query_one(BackendsPane).show_message("")
        self.server_pane.reload_backends()
        self.server_pane.show_message("")
        self.notify("Saved backends unlocked.")

    def on_unmount(self) -> None:
        # Tests and Ctrl+C paths end here too: never leave a server thread behind.
        self.server.stop()
        self.server.wait(10)
        self._exit_stack.close()

    @property
    def dashboard(self) -> Dashboard:
        return self.query_one(Dashboard)

    @property
    def server_pane(self) -> ServerPane:
        return self.query_one(ServerPane)

    @property
    def request_log(self) -> RequestLog:
        return self.query_one(RequestLog)

    # ------------------------------------------------------------------ server

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Show Start or Stop in the footer, whichever applies.
        if action == "start_server":
            return not self.server.status.is_active
        if action == "stop_server":
            return self.server.status.is_active
        return True

    def action_start_server(self) -> None:
        if self._server_worker is not None and self._server_worker.is_running:
            # A thread cannot be cancelled: wait for the old server to finish stopping.
            self.notify("The server is still running or stopping.", severity="warning")
            return
        if self.server.status.is_active or isinstance(self.screen, ConfirmDialog):
            return
        pane = self.server_pane
        try:
            options = pane.options()
        except StartError as exc:
            self._start_failed(str(exc))
            return
        warning = exposure_warning(options)
        if warning is None:
            self._start(options)
            return

        def answered(serve: bool | None) -> None:
            if serve:
                self._start(options)
            else:
                pane.show_message("Not started: choose a loopback address or set your own keys.")

        # Ask before a single request can reach the data, as `serve` documents.
        self.push_screen(
            ConfirmDialog(f"Serve on {options.listen}?", warning + "\n\nServe anyway?", "Serve"),
            answered,
        )

    def _start(self, options: ServerOptions) -> None:
        try:
            self.server.prepare(options)
        except StartError as exc:
            self._start_failed(str(exc))
            return
        try:
            # Settings that served once come back at the next launch (never the secret).
            remembered.save(self.store.directory, self.server_pane.form_values())
        except OSError as exc:
            self.notify(f"cannot remember the server settings: {exc}", severity="warning")
        self.dashboard.server_started()
        self._server_worker = self.run_worker(
            self.server.run, name="s3-server", group="server", thread=True, exit_on_error=False
        )

    def _start_failed(self, message: str) -> None:
        self.server_pane.show_message(message, error=True)
        self.notify(message, title="Cannot start the server", severity="error")

    def action_stop_server(self) -> None:
        self.server.stop()

    def on_server_state_changed(self, message: ServerStateChanged) -> None:
        status = message.status
        if not self._panes_mounted():
            return
        self.server_pane.show_status(status)
        self.dashboard.refresh_status()
        self._update_rclone()
        if status.state in (ServerState.RUNNING, ServerState.STOPPED, ServerState.ERROR):
            self.query_one(BucketsPane).action_refresh()
        self.refresh_bindings()
        if status.state is ServerState.RUNNING:
            self.sub_title = f"running on {status.endpoint}"
        else:
            self.sub_title = status.state.value
        if status.state is ServerState.ERROR:
            self.notify(status.message, title="Server error", severity="error")

    def _refresh_live_cache(self) -> None:
        # A running server changes the cache with every upload; read it only while
        # someone looks at it.
        if not self._panes_mounted() or not self.server.status.is_active:
            return
        if self.query_one(TabbedContent).active == "cache":
            self.query_one(CachePane).action_refresh(live=True)

    def _update_rclone(self) -> None:
        status = self.server.status
        running = status.state is ServerState.RUNNING and status.options is not None
        if running:
            assert status.options is not None
            options = status.options
            target = RemoteTarget(
                status.endpoint or "",
                options.access_key or "test",
                options.secret_key or "test",
                options.region,
            )
        else:
            target = self.server_pane.remote_target()
        self.query_one(RclonePane).show_target(target, running)

    # ------------------------------------------------------------------ request log

    def on_log_lines_waiting(self, _message: LogLinesWaiting) -> None:
        if self._drain_scheduled:
            return
        delay = self._throttle.delay()
        if delay <= 0:
            self._drain_log()
        else:
            self._drain_scheduled = True
            self.set_timer(delay, self._drain_log)

    def _drain_log(self) -> None:
        self._drain_scheduled = False
        self._throttle.mark()
        drained = self.log_bridge.drain()
        if (drained.items or drained.dropped) and self._panes_mounted():
            self.request_log.add(drained.items, drained.dropped)

    def _panes_mounted(self) -> bool:
        # Messages from the server thread can still arrive while the app shuts down.
        return bool(self.query(TabbedContent))

    # ------------------------------------------------------------------ tabs and focus

    def action_show_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab
        self._focus_tab(tab)

    def _focus_tab(self, tab: str) -> None:
        if self.query_one(TabbedContent).active != tab:
            return  # a late activation message for a tab that is no longer shown
        self.query_one(TAB_FOCUS[tab][1]).focus()

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        tab = event.pane.id or "dashboard"
        if tab == "rclone":
            self._update_rclone()
        elif tab == "cache":
            self.query_one(CachePane).action_refresh()
        elif tab == "buckets":
            self.query_one(BucketsPane).action_refresh()
        self.call_after_refresh(self._focus_tab, tab)

    def action_leave_field(self) -> None:
        if isinstance(self.focused, Input):
            self._focus_tab(self.query_one(TabbedContent).active or "dashboard")

    def use_backend(self, name: str) -> None:
        """Choose a saved backend for the next start (Backends tab, key u)."""
        self.server_pane.use_backend(name)
        self.action_show_tab("server")
        self.notify(f"Backend '{name}' chosen: press s to start the server.")

    def on_backends_changed(self, _message: BackendsChanged) -> None:
        self._config_seen = self._config_signature()
        self.server_pane.reload_backends()

    def _config_signature(self) -> tuple[tuple[str, int, int], ...]:
        """Name, mtime and size of every config file (backends.toml, <name>.toml)."""
        directory = self.store.directory
        seen = []
        with contextlib.suppress(OSError):
            for path in sorted(directory.glob("*.toml")):
                with contextlib.suppress(OSError):
                    stat = path.stat()
                    seen.append((path.name, stat.st_mtime_ns, stat.st_size))
        return tuple(seen)

    def _follow_config(self) -> None:
        # `pys3local config add` in another terminal: show its change without a restart.
        signature = self._config_signature()
        if signature == self._config_seen or not self._panes_mounted():
            return
        self._config_seen = signature
        backends = self.query_one(BackendsPane)
        backends.reload(select=backends.selected)
        self.server_pane.reload_backends()
        keys = self.query_one(KeysPane)
        selected = keys.selected
        keys.reload(select=selected.name if selected else None)

    def on_keys_loaded(self, message: KeysLoaded) -> None:
        self.query_one(RclonePane).set_keys(message.keys)

    def _key_endpoint(self) -> tuple[str, str]:
        """Where the rclone remote of a key points: the rclone tab's server."""
        target = self.query_one(RclonePane).target
        return target.endpoint, target.region

    # ------------------------------------------------------------------ help, quit, palette

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.help_sections()))

    def help_sections(self) -> list[tuple[str, Iterable[BindingType]]]:
        """The help screen's sections: the same bindings the footer shows, by tab."""
        from .screens.backend_form import BackendForm

        return [
            (
                "Everywhere",
                [TAB_KEYS, LIST_KEYS, *(b for b in self.BINDINGS if b not in TAB_BINDINGS)],
            ),
            ("Dashboard: request log", [*RequestLog.BINDINGS, *RequestLines.BINDINGS]),
            ("Backends", BackendsPane.BINDINGS),
            ("Backend form", BackendForm.BINDINGS),
            ("Cache", CachePane.BINDINGS),
            ("rclone", RclonePane.BINDINGS),
            ("Keys", KeysPane.BINDINGS),
            ("Buckets", BucketsPane.BINDINGS),
        ]

    async def action_quit(self) -> None:
        status = self.server.status
        if not status.is_active:
            self.exit()
            return

        async def answered(stop: bool | None) -> None:
            if stop:
                await self.stop_server_and_wait()
                self.exit()

        await self.push_screen(
            ConfirmDialog(
                "Quit",
                f"The server on {status.endpoint} is {status.state.value}.\n"
                "Stop it (in-flight requests finish) and quit?",
                "Stop and quit",
            ),
            answered,
        )

    async def stop_server_and_wait(self, timeout: float = 40.0) -> bool:
        """Stop the server and wait (without blocking the UI) until its port is free."""
        self.server.stop()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.server.wait(0):
            if loop.time() > deadline:
                return False
            await asyncio.sleep(0.05)
        return True
