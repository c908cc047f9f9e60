"""Everything the server recorded about one request-log line (Enter on the line)."""

from __future__ import annotations

import logging
import time

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from pys3local.access_log import AccessRecord

from ..figures import format_size
from ..log_bridge import LogItem


def _when(timestamp: float) -> str:
    local = time.localtime(timestamp)
    return time.strftime("%Y-%m-%d %H:%M:%S", local) + f".{int(timestamp * 1000) % 1000:03d}"


def _size(count: int) -> str:
    return f"{count:,} bytes" + (f" ({format_size(count)})" if count >= 1024 else "")


def detail_rows(item: LogItem) -> list[tuple[str, str]]:
    """(label, value) pairs for one item, every value in full."""
    if not isinstance(item, AccessRecord):
        level = logging.getLevelName(item.level)
        return [
            ("Time", _when(item.timestamp)),
            ("Level", str(level)),
            ("Logger", item.logger),
            ("Message", item.message),
        ]
    return [
        ("Time", _when(item.timestamp)),
        ("Request", f"{item.method} {item.status}  {item.operation}"),
        ("Bucket", item.bucket if item.bucket is not None else "- (service)"),
        ("Key", item.key if item.key is not None else "-"),
        ("Client", item.client),
        ("Access key id", item.access_key or "- (none sent, or not checked)"),
        ("Bytes in", _size(item.bytes_in)),
        ("Bytes out", _size(item.bytes_out)),
        ("Duration", f"{item.duration_ms:,.1f} ms"),
        ("Error code", item.error_code or "-"),
        ("Error message", item.error_message or "-"),
        ("Request id", item.request_id),
    ]


class RequestDetail(ModalScreen[None]):
    """One request, every field in full (long keys wrap)."""

    BINDINGS = [Binding("escape,enter,q", "dismiss", "Close")]

    def __init__(self, item: LogItem) -> None:
        super().__init__()
        self.item = item

    @property
    def text(self) -> Content:
        """What the screen shows, in one piece (for tests and copying)."""
        rows = [
            Content.assemble((f"{label:<14}", "bold $text-muted"), value)
            for label, value in detail_rows(self.item)
        ]
        return Content("\n").join(rows)

    def compose(self) -> ComposeResult:
        title = "Request" if isinstance(self.item, AccessRecord) else "Server note"
        with Vertical(classes="dialog wide", id="request-detail"):
            yield Label(f"{title} (escape closes)", classes="dialog-title")
            with VerticalScroll(classes="dialog-scroll"):
                yield Static(self.text, id="rd-text")
