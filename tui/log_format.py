"""How one request-log item becomes one line of text, and how the line is coloured.

A line is made for the width of the log, so nothing that matters falls off the right
edge: time, method, status, size and duration have fixed columns at the start, the
operation and the error code close the line, and the target (``/bucket/key``) gets
what room is left, shortened in the middle (``/default/backup/…/chunk-0042.bin``).
Size and duration get columns from :data:`SIZE_COLUMNS_FROM` cells on, the client
address from :data:`CLIENT_COLUMN_FROM`: in a small terminal the key matters more.
The detail view (Enter) always shows every field, with the full key.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from rich.highlighter import Highlighter
from rich.style import Style
from rich.text import Text
from textual.color import Color, ColorParseError

from .figures import short_size
from .log_bridge import LogItem, ServerNote

#: Narrowest log (in cells) with size and duration columns.
SIZE_COLUMNS_FROM = 100
#: Narrowest log (in cells) with a client column.
CLIENT_COLUMN_FROM = 130
_CLIENT_WIDTH = 15
_NOTE_LEVELS = ("ERROR", "WARNING")
#: The target is never shortened below this many cells (a longer line is cut instead).
_MIN_TARGET = 12
#: Room kept for the operation and the error code (more when they need it).
_TAIL_FIELD = 26


def status_class(status: int) -> str:
    return f"{status // 100}xx"


def shorten_middle(text: str, width: int) -> str:
    """``text`` in at most ``width`` cells, an ellipsis replacing its middle.

    Two thirds go to the end: of a key, the file name tells most.
    """
    if len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    head = width // 3
    tail = width - 1 - head
    return text[:head] + "…" + (text[-tail:] if tail else "")


def short_duration(ms: float) -> str:
    """A duration in at most 7 cells: ``2.5ms``, ``734ms``, ``12.3s``."""
    if ms < 10:
        return f"{ms:.1f}ms"
    if ms < 1000:
        return f"{ms:.0f}ms"
    if ms < 100_000:
        return f"{ms / 1000:.1f}s"
    return f"{ms / 1000:.0f}s"


@dataclass(frozen=True)
class LineLayout:
    """The columns of a request line for a log ``width`` cells wide."""

    width: int = 200

    @property
    def client(self) -> bool:
        return self.width >= CLIENT_COLUMN_FROM

    @property
    def sizes(self) -> bool:
        return self.width >= SIZE_COLUMNS_FROM

    @property
    def method(self) -> slice:
        start = 9 + (_CLIENT_WIDTH + 1 if self.client else 0)
        return slice(start, start + 6)

    @property
    def status(self) -> slice:
        return slice(self.method.stop + 1, self.method.stop + 4)

    @property
    def duration(self) -> slice:
        # status, a space, the size (9), a space, the duration (7); empty without them
        start = self.status.stop + 11
        return slice(start, start + 7) if self.sizes else slice(start, start)

    @property
    def target_start(self) -> int:
        return (self.duration.stop if self.sizes else self.status.stop) + 1

    def format(self, item: LogItem) -> str:
        """One item as a line of at most ``width`` cells (see the module docstring)."""
        stamp = time.strftime("%H:%M:%S", time.localtime(item.timestamp))
        if isinstance(item, ServerNote):
            level = "ERROR" if item.level >= logging.ERROR else "WARNING"
            message = " ".join(item.message.split())  # one line, whatever was logged
            return f"{stamp} {level:<7} {item.logger}: {message}"
        moved = item.bytes_in or item.bytes_out
        size = f"{'↑' if item.bytes_in else '↓'}{short_size(moved)}" if moved else "-"
        client = f"{item.client[:_CLIENT_WIDTH]:<{_CLIENT_WIDTH}} " if self.client else ""
        head = f"{stamp} {client}{item.method[:6]:<6} {item.status:3d} "
        if self.sizes:
            head += f"{size:>9} {short_duration(item.duration_ms):>7} "
        tail = f"  {item.operation}" + (f" {item.error_code}" if item.error_code else "")
        # Operations line up in a column unless a long one (with its error) needs more.
        # In a narrow log the key needs every cell more than the column does.
        tail_field = min(_TAIL_FIELD, self.width // 4)
        room = max(self.width - len(head) - max(len(tail), tail_field), _MIN_TARGET)
        target = " ".join(item.target.split("\n"))
        return head + shorten_middle(target, room).ljust(room) + tail


class LineHighlighter(Highlighter):
    """Colours a request line by its status class, with the theme's text colours."""

    def __init__(self) -> None:
        self.styles: dict[str, Style] = {}
        self.layout = LineLayout()

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
        layout = self.layout
        muted = styles.get("muted", Style())
        text.stylize(muted, 0, 8)
        level = line[9:17].rstrip()
        if level in _NOTE_LEVELS:
            text.stylize(styles.get(level, Style()), 9)
            return
        method, status_at, duration = layout.method, layout.status, layout.duration
        status = styles.get(line[status_at.start : status_at.start + 1], Style())
        if layout.client:
            text.stylize(muted, 9, method.start)
        text.stylize(Style(bold=True), method.start, method.stop)
        text.stylize(status + Style(bold=True), status_at.start, status_at.stop)
        text.stylize(muted, duration.start, duration.stop)
        operation = line.rfind("  ")
        if operation > layout.target_start:
            failed = line[status_at.start : status_at.start + 1] in "45"
            if failed:
                text.stylize(status, layout.target_start, operation)
            text.stylize(muted, operation)
            error = line.find(" ", operation + 2)
            if failed and error > 0:
                text.stylize(status + Style(bold=True), error + 1)
