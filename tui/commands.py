"""The console's command palette entries (ctrl+p): every action, by name.

A :class:`~textual.command.Provider` of its own, next to Textual's system commands
(theme, quit, keys, screenshot). Each entry switches to its tab first, so an action
started from the palette shows its result where it happens.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, Protocol, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider


class CommandHost(Protocol):
    """What a command needs of the console app (``AdminApp``, which adds this
    provider: it is not imported here)."""

    def action_show_tab(self, tab: str) -> None: ...

    def query_one(self, selector: str) -> Any: ...


#: (title, help, tab, selector of the pane or None for the app, action name).
COMMANDS: tuple[tuple[str, str, str | None, str | None, str], ...] = (
    ("Start server", "s: start with the Server tab's settings", None, None, "start_server"),
    ("Stop server", "x: in-flight requests finish first", None, None, "stop_server"),
    ("Show dashboard", "1", "dashboard", None, ""),
    ("Show server settings", "2", "server", None, ""),
    ("Show backends", "3", "backends", None, ""),
    ("Show cache maintenance", "4", "cache", None, ""),
    ("Show rclone config", "5", "rclone", None, ""),
    ("Show access keys", "6", "keys", None, ""),
    ("Show buckets: versioning and Object Lock", "7", "buckets", None, ""),
    ("Help: keys and screens", "?", None, None, "help"),
    ("Pause/resume the request log", "Dashboard: p", "dashboard", "#request-log", "toggle_pause"),
    ("Filter the request log", "Dashboard: /", "dashboard", "#request-log", "focus_filter"),
    ("Clear the request log", "Dashboard: c", "dashboard", "#request-log", "clear_log"),
    ("Add a backend", "Backends: a", "backends", "#backends-pane", "add"),
    ("Edit the selected backend", "Backends: e", "backends", "#backends-pane", "edit"),
    ("Delete the selected backend", "Backends: del", "backends", "#backends-pane", "delete"),
    ("Test the selected backend", "Backends: t", "backends", "#backends-pane", "test"),
    ("Use the selected backend for the server", "Backends: u", "backends", "#backends-pane", "use"),
    ("Refresh cache statistics", "Cache: r", "cache", "#cache-pane", "refresh"),
    ("Clean up the cache", "Cache: l (asks first)", "cache", "#cache-pane", "cleanup"),
    ("Vacuum the cache database", "Cache: v", "cache", "#cache-pane", "vacuum"),
    ("Migrate: fill in missing MD5s", "Cache: m", "cache", "#cache-pane", "migrate"),
    ("Cancel the migration", "Cache: c", "cache", "#cache-pane", "cancel_migration"),
    ("Copy the rclone config", "rclone: y (via the terminal)", "rclone", "#rclone-pane", "copy"),
    ("Add the remote to rclone.conf", "rclone: w (asks first)", "rclone", "#rclone-pane", "append"),
    ("Enable bucket versioning", "Buckets: v", "buckets", "#buckets-pane", "enable_versioning"),
    ("Suspend bucket versioning", "Buckets: u (asks first)", "buckets", "#buckets-pane",
     "suspend_versioning"),
    ("Set a bucket's default retention", "Buckets: t", "buckets", "#buckets-pane", "retention"),
)  # fmt: skip


def run_command(app: CommandHost, tab: str | None, selector: str | None, action: str) -> None:
    """Show ``tab`` (if any), then run ``action`` on the pane (or the app)."""
    if tab is not None:
        app.action_show_tab(tab)
    if action:
        target = app.query_one(selector) if selector else app
        getattr(target, f"action_{action}")()


class ConsoleCommands(Provider):
    """The console's actions for the command palette."""

    def _commands(self) -> list[tuple[str, str, Callable[[], None]]]:
        app = cast(CommandHost, self.app)
        return [
            (title, help_text, partial(run_command, app, tab, selector, action))
            for title, help_text, tab, selector, action in COMMANDS
        ]

    async def discover(self) -> Hits:
        for title, help_text, callback in self._commands():
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, callback in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)
