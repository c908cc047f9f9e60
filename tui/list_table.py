"""A row-cursor table that also moves with ``j``/``k``, as lists do in k9s or vim."""

from __future__ import annotations

from textual.binding import Binding
from textual.widgets import DataTable


class ListTable(DataTable):
    """A ``DataTable`` with ``j``/``k`` next to the arrow keys."""

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
    ]
