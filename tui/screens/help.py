"""The help screen (``?``): what each tab is for and every key, read from the bindings."""

from __future__ import annotations

import itertools
from collections.abc import Iterable

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Label, Static

# One line at 80 columns: every line counts for the help to fit in 24 rows.
INTRO = "Keys by tab (the footer shows this tab's); ctrl+p finds every action."
COLUMNS = 3


def key_name(binding: Binding) -> str:
    if binding.key_display:
        return binding.key_display
    return binding.key.split(",")[0].replace("question_mark", "?")


def bindings_section(title: str, bindings: Iterable[BindingType]) -> Content:
    """One section: a heading and ``key action`` lines for the described bindings."""
    described = [b for b in bindings if isinstance(b, Binding) and b.description]
    # Keys as wide as the widest of the section: three sections fit side by side in 80
    # columns.
    width = max((len(key_name(b)) for b in described), default=0)
    rows = [
        Content.assemble((f" {key_name(b):<{width}} ", "bold $text-accent"), b.description)
        for b in described
    ]
    return Content("\n").join([Content.styled(title, "bold $text-primary"), *rows])


def balanced_columns(sections: list[Content], count: int) -> list[list[Content]]:
    """The sections in ``count`` columns, so that the tallest column, which sets the
    screen's height, is as short as it can be; each column keeps the sections' order,
    and the columns are in the order of their first sections.

    Every assignment is tried (``count ** len(sections)``: a few thousand for the
    console's sections); a first-fit by order left a column three lines taller than
    needed once the Buckets tab came.
    """
    heights = [len(section.plain.splitlines()) + 1 for section in sections]  # a blank after
    best: tuple[int, ...] = tuple(i % count for i in range(len(sections)))
    best_height = _tallest(best, heights, count)
    for assignment in itertools.product(range(count), repeat=len(sections)):
        tallest = _tallest(assignment, heights, count)
        if tallest < best_height:
            best, best_height = assignment, tallest
    columns: dict[int, list[Content]] = {}
    for section, column in zip(sections, best, strict=True):
        columns.setdefault(column, []).append(section)
    return list(columns.values())


def _tallest(assignment: tuple[int, ...], heights: list[int], count: int) -> int:
    totals = [0] * count
    for column, height in zip(assignment, heights, strict=True):
        totals[column] += height
    return max(totals, default=0)


class HelpScreen(ModalScreen[None]):
    """Keys by tab, built from the same bindings the footer shows."""

    BINDINGS = [Binding("escape,q,question_mark,f1", "dismiss", "Close")]

    def __init__(self, sections: list[tuple[str, Iterable[BindingType]]]) -> None:
        super().__init__()
        self.sections = sections

    @property
    def text(self) -> Content:
        """Everything the screen says, in one piece (for tests and searching)."""
        parts = [Content(INTRO)] + [bindings_section(t, b) for t, b in self.sections]
        return Content("\n\n").join(parts)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide tall"):
            yield Label("Help (escape closes)", classes="dialog-title")
            with VerticalScroll(id="help-text"):
                yield Static(INTRO, id="help-intro")
                sections = [bindings_section(t, b) for t, b in self.sections]
                with Horizontal(id="help-keys"):
                    for column in balanced_columns(sections, COLUMNS):
                        with Vertical(classes="help-column"):
                            for section in column:
                                yield Static(section)
