"""The live request log: one coloured line per request, filterable and pausable.

Lines arrive in batches (see :mod:`tui.log_bridge`) and go into Textual's ``Log`` as
plain text: it styles only the lines on screen, when they are drawn, so a batch of a
thousand lines costs about as much as a few (a ``RichLog`` renders every line it is
given, which under a flood of requests starves the UI). Colours come from
:class:`LineHighlighter`, which knows the fixed columns of a line. The last
``capacity`` items are kept (in a deque and in the ``Log``'s ``max_lines``), so memory
is bounded whatever the request rate.
"""

from __future__ import annotations

import logging
import time
from collections import deque

from rich.highlighter import Highlighter
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.color import Color, ColorParseError
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.widgets import Button, Input, Label, Log, Select

from ..figures import short_size
from ..log_bridge import LogItem, ServerNote

METHODS = ("ALL", "GET", "PUT", "HEAD", "POST", "DELETE")
STATUS_CLASSES = ("ALL", "2xx", "3xx", "4xx", "5xx", "errors")


# Columns of a request line: time, client, method, status, size, duration, then the
# target and the operation. Fixed widths, so the highlighter can find each field.
_CLIENT = slice(9, 24)
_METHOD = slice(25, 31)
_STATUS = slice(32, 35)
_DURATION = slice(46, 55)
_TARGET_START = 56
_NOTE_LEVELS = ("ERROR", "WARNING")


def status_class(status: int) -> str:
    return f"{status // 100}xx"


def format_line(item: LogItem) -> str:
    """One item as a line of text (see the column layout above)."""
    stamp = time.strftime("%H:%M:%S", time.localtime(item.timestamp))
    if isinstance(item, ServerNote):
        level = "ERROR" if item.level >= logging.ERROR else "WARNING"
        return f"{stamp} {level:<15} {item.logger}: {item.message}"
    moved = item.bytes_in or item.bytes_out
    size = f"{'↑' if item.bytes_in else '↓'}{short_size(moved)}" if moved else "-"
    error = f" {item.error_code}" if item.error_code else ""
    return (
        f"{stamp} {item.client[:15]:<15} {item.method[:6]:<6} {item.status:3d} {size:>9} "
        f"{item.duration_ms:>7.1f}ms {item.target}  {item.operation}{error}"
    )


class LineHighlighter(Highlighter):
    """Colours a request line by its status class, with the theme's text colours."""

    def __init__(self) -> None:
        self.styles: dict[str, Style] = {}

    def use_theme(self, variables: dict[str, str]) -> None:
        """Take the colours of the theme now in use (they are readable on its background)."""

        surface = Color.parse(variables.get("surface", "#000000"))

        def colour(name: str) -> Style:
            try:
                value = Color.parse(variables.get(name, ""))
            except ColorParseError:
                return Style()
            # Some colours are translucent ("#E0E0E099"): blend them over the log's
            # background, as the screen would.
            return Style(color=(surface + value).rich_color)

        self.styles = {
            "muted": colour("foreground-muted"),
            "2": colour("text-success"),
            "3": colour("text-primary"),
            "4": colour("text-warning"),
            "5": colour("text-error"),
            "WARNING": colour("text-warning"),
            "ERROR": colour("text-error"),
        }

    def highlight(self, text: Text) -> None:
        line = text.plain
        styles = self.styles
        muted = styles.get("muted", Style())
        text.stylize(muted, 0, 8)
        field = line[_CLIENT].rstrip()
        if field in _NOTE_LEVELS:
            text.stylize(styles.get(field, Style()), _CLIENT.start)
            return
        status = styles.get(line[_STATUS.start : _STATUS.start + 1], Style())
        text.stylize(muted, _CLIENT.start, _CLIENT.stop)
        text.stylize(Style(bold=True), _METHOD.start, _METHOD.stop)
        text.stylize(status + Style(bold=True), _STATUS.start, _STATUS.stop)
        text.stylize(muted, _DURATION.start, _DURATION.stop)
        operation = line.rfind("  ")
        if operation > _TARGET_START:
            if line[_STATUS.start] in "45":
                text.stylize(status, _TARGET_START, operation)
            text.stylize(muted, operation)


class RequestLog(Vertical):
    """Filter bar over a bounded, colour-by-status request log."""

    BINDINGS = [
        Binding("p", "toggle_pause", "Pause"),
        Binding("slash", "focus_filter", "Filter", key_display="/"),
        Binding("m", "cycle_method", "Method"),
        Binding("k", "cycle_status", "Status"),
        Binding("c", "clear_log", "Clear"),
    ]

    paused: reactive[bool] = reactive(False)

    def __init__(self, capacity: int = 1000, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.capacity = capacity
        self.history: deque[LogItem] = deque(maxlen=capacity)
        self.dropped = 0
        self._unseen = 0  # lines that arrived while paused
        self._method = "ALL"
        self._status = "ALL"
        self._text = ""
        self.highlighter = LineHighlighter()
        self._scroll_pending = False

    def compose(self) -> ComposeResult:
        with Horizontal(id="log-filter"):
            yield Input(placeholder="filter text  (/)", id="log-text", compact=True)
            yield Select(
                [(f"method {m}", m) for m in METHODS],
                value="ALL",
                allow_blank=False,
                compact=True,
                id="log-method",
            )
            yield Select(
                [(f"status {s}", s) for s in STATUS_CLASSES],
                value="ALL",
                allow_blank=False,
                compact=True,
                id="log-status",
            )
            yield Button("Pause", id="log-pause", compact=True)
            yield Label("", id="log-info")
        log = Log(highlight=True, max_lines=self.capacity, id="log-lines")
        log.highlighter = self.highlighter
        yield log

    def on_mount(self) -> None:
        self.highlighter.use_theme(self.app.theme_variables)
        # The signal comes once the new theme's variables are in place.
        self.app.theme_changed_signal.subscribe(self, self._theme_changed)

    def _theme_changed(self, _theme: object) -> None:
        self.highlighter.use_theme(self.app.theme_variables)
        self.log_widget.notify_style_update()  # drops the lines it styled already
        self.log_widget.refresh()

    @property
    def log_widget(self) -> Log:
        return self.query_one("#log-lines", Log)

    # ------------------------------------------------------------------ input

    def add(self, items: list[LogItem], dropped: int = 0) -> None:
        """Append a batch (called on the UI thread with what the bridge drained)."""
        self.history.extend(items)
        self.dropped += dropped
        if self.paused:
            self._unseen += len(items)
            self._show_info()
            return
        if dropped:
            self._show_info()
        # Only the newest `capacity` lines can survive in the log anyway.
        self._write([item for item in items[-self.capacity :] if self.matches(item)])

    def matches(self, item: LogItem) -> bool:
        if isinstance(item, ServerNote):
            text_ok = not self._text or self._text in item.message.lower()
            return self._method == "ALL" and self._status in ("ALL", "errors") and text_ok
        if self._method != "ALL" and item.method != self._method:
            return False
        if self._status == "errors":
            if item.status < 400:
                return False
        elif self._status != "ALL" and status_class(item.status) != self._status:
            return False
        if self._text:
            haystack = f"{item.client} {item.target} {item.operation} {item.error_code or ''}"
            return self._text in haystack.lower()
        return True

    def visible_items(self) -> list[LogItem]:
        """The items the current filter shows, oldest first."""
        return [item for item in self.history if self.matches(item)]

    # ------------------------------------------------------------------ output

    def redraw(self) -> None:
        """Rewrite the log from the history (after a filter or pause change)."""
        self.log_widget.clear()
        self._write(self.visible_items())
        self._show_info()

    def _write(self, items: list[LogItem]) -> None:
        if not items:
            return
        following = self._following()
        self.log_widget.write_lines([format_line(item) for item in items], scroll_end=False)
        if following:
            self._follow_after_refresh()

    def _following(self) -> bool:
        # Follow the end unless the user scrolled up. A scroll still pending counts as
        # following: the log is not at its new end yet.
        return _near_end(self.log_widget) or self._scroll_pending

    def _follow_after_refresh(self) -> None:
        # After the refresh: until then the log does not know its new height (more
        # lines, or less room when the info line above it appears).
        if not self._scroll_pending:
            self._scroll_pending = True
            self.call_after_refresh(self._follow_end)

    def _follow_end(self) -> None:
        self._scroll_pending = False
        # force: right after the first lines arrive the log may not have decided yet
        # that it has a scrollbar, and without it Textual ignores the scroll.
        self.log_widget.scroll_end(animate=False, immediate=True, x_axis=False, force=True)

    def _show_info(self) -> None:
        parts = []
        if self.paused:
            parts.append(f"paused, {self._unseen:,} new")
        if self.dropped:
            parts.append(f"{self.dropped:,} skipped")
        following = self._following()
        self.query_one("#log-info", Label).update("  ".join(parts))
        if following:
            self._follow_after_refresh()

    # ------------------------------------------------------------------ filters

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "log-text":
            event.stop()
            self._text = event.value.strip().lower()
            self.redraw()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "log-text":
            event.stop()
            self.log_widget.focus()

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        if event.select.id == "log-method":
            self._method = str(event.value)
        elif event.select.id == "log-status":
            self._status = str(event.value)
        self.redraw()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "log-pause":
            event.stop()
            self.action_toggle_pause()

    def watch_paused(self, paused: bool) -> None:
        if not self.is_mounted:
            return
        self.query_one("#log-pause", Button).label = "Resume" if paused else "Pause"
        if not paused:
            self._unseen = 0
            self.redraw()
        else:
            self._show_info()

    def action_toggle_pause(self) -> None:
        self.paused = not self.paused

    def action_focus_filter(self) -> None:
        self.query_one("#log-text", Input).focus()

    def action_cycle_method(self) -> None:
        select = self.query_one("#log-method", Select)
        select.value = METHODS[(METHODS.index(str(select.value)) + 1) % len(METHODS)]

    def action_cycle_status(self) -> None:
        select = self.query_one("#log-status", Select)
        index = STATUS_CLASSES.index(str(select.value))
        select.value = STATUS_CLASSES[(index + 1) % len(STATUS_CLASSES)]

    def action_clear_log(self) -> None:
        self.history.clear()
        self.dropped = self._unseen = 0
        self.redraw()


def _near_end(log: Log) -> bool:
    """At the end, or short of it only by a horizontal scrollbar that appeared with a
    longer line (which moves the end without the user scrolling away)."""
    return log.max_scroll_y - log.scroll_y <= max(log.scrollbar_size_horizontal, 0)
