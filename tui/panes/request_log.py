"""The live request log: one coloured line per request, filterable and pausable.

Lines arrive in batches (see :mod:`tui.log_bridge`) and go into Textual's ``Log`` as
plain text: it styles only the lines on screen, when they are drawn, so a batch of a
thousand lines costs about as much as a few (a ``RichLog`` renders every line it is
given, which under a flood of requests starves the UI). Lines are made for the log's
width and coloured by :mod:`tui.log_format`. The last ``capacity`` items are kept (in
a deque and in the ``Log``'s ``max_lines``), so memory is bounded whatever the
request rate.

A cursor (up/down or j/k) selects a line; Enter opens everything the server recorded
about it (:class:`~tui.screens.request_detail.RequestDetail`). While a line is
selected the log stops following the end, so the line stays where it is.
"""

from __future__ import annotations

from collections import deque

from rich.style import Style
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.events import Resize
from textual.geometry import Region
from textual.message import Message
from textual.reactive import reactive
from textual.strip import Strip
from textual.widgets import Button, Input, Label, Log, Select

from ..log_bridge import LogItem, ServerNote
from ..log_format import LineHighlighter, LineLayout, status_class
from ..screens.request_detail import RequestDetail

METHODS = ("ALL", "GET", "PUT", "HEAD", "POST", "DELETE")
STATUS_CLASSES = ("ALL", "2xx", "3xx", "4xx", "5xx", "errors")
#: Cells of the log's frame: its border (2) and the vertical scrollbar (1).
_FRAME = 3


class RequestLines(Log):
    """A ``Log`` with a line cursor (None: no line selected, follow the end)."""

    BINDINGS = [
        Binding("up,k", "cursor(-1)", "Line up", show=False, key_display="k ↑"),
        Binding("down,j", "cursor(1)", "Line down", show=False, key_display="j ↓"),
        Binding("enter", "open", "Details"),
        Binding("escape", "unselect", "Follow end", show=False, key_display="esc"),
    ]

    cursor: reactive[int | None] = reactive(None)

    class Open(Message):
        """Enter on a line: show its details."""

        def __init__(self, index: int) -> None:
            super().__init__()
            self.index = index

    def render_line(self, y: int) -> Strip:
        strip = super().render_line(y)
        if self.cursor is not None and self.scroll_offset.y + y == self.cursor:
            # Applied after the Log's line cache, so moving the cursor redraws no text.
            # Reversed colours stay readable in every theme, light or dark.
            strip = strip.apply_style(Style(reverse=True))
        return strip

    def watch_cursor(self, cursor: int | None) -> None:
        if cursor is not None:
            self.scroll_to_region(Region(0, cursor, 1, 1), animate=False, immediate=True)
        self.refresh()

    def action_cursor(self, step: int) -> None:
        if not self.line_count:
            return
        last = self.line_count - 1
        if self.cursor is None:
            # The first move picks the newest line on screen.
            bottom = min(last, self.scroll_offset.y + self.scrollable_content_region.height - 1)
            self.cursor = bottom if step < 0 else min(bottom, last)
            return
        self.cursor = max(0, min(last, self.cursor + step))

    def action_open(self) -> None:
        if not self.line_count:
            return
        if self.cursor is None:
            self.cursor = self.line_count - 1
        self.post_message(self.Open(self.cursor))

    def action_unselect(self) -> None:
        self.cursor = None
        self.scroll_end(animate=False, immediate=True, x_axis=False, force=True)

    def shift(self, removed: int) -> None:
        """``removed`` lines left at the top: keep the cursor on the same line."""
        if self.cursor is not None and removed:
            self.cursor = self.cursor - removed if self.cursor >= removed else None


class RequestLog(Vertical):
    """Filter bar over a bounded, colour-by-status request log."""

    BINDINGS = [
        Binding("p", "toggle_pause", "Pause"),
        Binding("slash", "focus_filter", "Filter", key_display="/"),
        Binding("m", "cycle_method", "Method"),
        Binding("f", "cycle_status", "Status"),
        Binding("c", "clear_log", "Clear", show=False),  # in the help; the footer is full
    ]

    paused: reactive[bool] = reactive(False)

    def __init__(self, capacity: int = 1000, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.capacity = capacity
        self.history: deque[LogItem] = deque(maxlen=capacity)
        #: The items behind the log's lines, line for line.
        self.shown: deque[LogItem] = deque(maxlen=capacity)
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
        log = RequestLines(highlight=True, max_lines=self.capacity, id="log-lines")
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
    def log_widget(self) -> RequestLines:
        return self.query_one("#log-lines", RequestLines)

    def on_resize(self, _event: Resize) -> None:
        # Lines are made for the width: a new width needs them made again.
        layout = LineLayout(max(self.size.width - _FRAME, 40))
        if layout != self.highlighter.layout:
            self.highlighter.layout = layout
            self.redraw()

    def on_request_lines_open(self, message: RequestLines.Open) -> None:
        if 0 <= message.index < len(self.shown):
            self.app.push_screen(RequestDetail(self.shown[message.index]))

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
        """Rewrite the log from the history (after a filter, pause or width change)."""
        log = self.log_widget
        selected = self.shown[log.cursor] if log.cursor is not None else None
        log.clear()
        self.shown.clear()
        items = self.visible_items()
        self._write(items)
        if selected is not None:
            shown = list(self.shown)
            log.cursor = next((i for i, item in enumerate(shown) if item is selected), None)
        self._show_info()

    def _write(self, items: list[LogItem]) -> None:
        if not items:
            return
        log = self.log_widget
        following = self._following()
        removed = max(0, len(self.shown) + len(items) - self.capacity)
        self.shown.extend(items)
        layout = self.highlighter.layout
        log.write_lines([layout.format(item) for item in items], scroll_end=False)
        log.shift(removed)
        if following:
            self._follow_after_refresh()

    def _following(self) -> bool:
        # Follow the end unless the user scrolled up or selected a line. A scroll
        # still pending counts as following: the log is not at its new end yet.
        if self.log_widget.cursor is not None:
            return False
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
        self.log_widget.cursor = None
        self.history.clear()
        self.dropped = self._unseen = 0
        self.redraw()


def _near_end(log: Log) -> bool:
    """At the end, or short of it only by a horizontal scrollbar that appeared with a
    longer line (which moves the end without the user scrolling away)."""
    return log.max_scroll_y - log.scroll_y <= max(log.scrollbar_size_horizontal, 0)
