"""Request log behaviour under load, filters, help, command palette, small terminals."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time

from pys3local_tui.screens.help import HelpScreen
from rich.text import Text
from textual.widgets import Input, Log
from tui_support import SIZE, log_text, make_app, wait_for

from pys3local.access_log import AccessRecord, log_access


def record(method: str, status: int, key: str) -> AccessRecord:
    return AccessRecord(
        time.time(), "10.0.0.7", method, "Op", "default", key, status, 0, 10, 2.5, "RID"
    )


def send(*records: AccessRecord) -> None:
    """Log as the server thread does (the console only sees the access logger)."""
    thread = threading.Thread(target=lambda: [log_access(r) for r in records])
    thread.start()
    thread.join()


async def test_flood_keeps_the_ui_responsive_and_memory_bounded(tmp_path):
    """~10,000 lines a second for 3 s: the UI loop keeps ticking, only the newest N are kept."""
    app = make_app(tmp_path, log_capacity=500)
    async with app.run_test(size=SIZE) as pilot:
        ticks: list[float] = []
        app.set_interval(0.02, lambda: ticks.append(time.monotonic()))

        def flood() -> None:
            for batch in range(30):
                for i in range(1000):
                    log_access(record("PUT", 200, f"k{batch * 1000 + i}"))
                time.sleep(0.1)

        sender = threading.Thread(target=flood)
        sender.start()
        while sender.is_alive():
            await asyncio.sleep(0.05)
        sender.join()
        log = app.request_log
        await wait_for(lambda: log.history and log.history[-1].key == "k29999", pilot)
        # The longest the UI loop went without running its timer.
        stall = max(b - a for a, b in itertools.pairwise(ticks))
        assert stall < 1.0, f"the UI stalled for {stall:.2f}s"
        assert len(log.history) == 500
        widget = app.query_one("#log-lines", Log)
        assert len(widget.lines) <= 500
        await wait_for(lambda: widget.is_vertical_scroll_end, pilot, what="following the end")
        assert " /default/k29999 " in widget.lines[-1] and widget.lines[-1].endswith("  Op")


async def test_filters_and_pause(tmp_path):
    """Method, status class and text filters select lines; pause holds new ones back."""
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        send(
            record("GET", 200, "alpha.txt"),
            record("PUT", 201, "beta.txt"),
            record("GET", 404, "gamma.txt"),
            record("DELETE", 503, "delta.txt"),
        )
        await wait_for(lambda: "delta.txt" in log_text(app), pilot)

        await pilot.press("f", "f", "f", "f")  # status: ALL -> 2xx -> 3xx -> 4xx -> 5xx
        await pilot.pause()
        assert "delta.txt" in log_text(app) and "gamma.txt" not in log_text(app)
        await pilot.press("f")  # errors = 4xx and 5xx
        await pilot.pause()
        assert "gamma.txt" in log_text(app) and "alpha.txt" not in log_text(app)
        await pilot.press("f")  # back to ALL
        await pilot.press("m")  # method GET
        await pilot.pause()
        text = log_text(app)
        assert "alpha.txt" in text and "gamma.txt" in text and "beta.txt" not in text
        await pilot.press("m", "m", "m", "m", "m")  # round to ALL again
        await pilot.press("slash")
        assert isinstance(app.focused, Input)
        await pilot.press(*"bet", "enter")
        await pilot.pause()
        assert log_text(app).strip().endswith("Op") and "beta.txt" in log_text(app)
        assert "alpha.txt" not in log_text(app)
        app.query_one("#log-text", Input).value = ""

        await pilot.press("p")
        send(record("HEAD", 200, "later.txt"))
        await wait_for(lambda: len(app.request_log.history) == 5, pilot)
        assert "later.txt" not in log_text(app)
        assert "paused, 1 new" in str(app.query_one("#log-info").render())
        await pilot.press("p")
        await pilot.pause()
        assert "later.txt" in log_text(app)
        # A theme change recolours the lines with the new theme's colours.
        app.theme = "textual-light"
        await pilot.pause(0.2)
        text = Text(app.query_one("#log-lines", Log).lines[0])
        app.request_log.highlighter.highlight(text)
        colours = {span.style.color.triplet.hex for span in text.spans if span.style.color}
        assert app.theme_variables["text-success"].lower() in colours
        await pilot.press("c")
        await pilot.pause()
        assert log_text(app).strip() == ""


async def test_help_screen_and_command_palette(tmp_path):
    """? lists the keys of every tab; the palette finds and runs pane actions."""
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        await wait_for(lambda: isinstance(app.screen, HelpScreen), pilot)
        help_text = app.screen.text.plain
        for expected in ("Start", "Vacuum", "Add to rclone.conf", "Test", "Pause"):
            assert expected in help_text
        await pilot.press("escape")
        await pilot.pause()

        await pilot.press("ctrl+p")
        await pilot.pause(0.2)
        await pilot.press(*"Vacuum the cache")
        await pilot.pause(0.5)
        await pilot.press("enter")
        result = app.query_one("#cache-result")
        await wait_for(lambda: "optimized" in str(result.render()), pilot, what="vacuum")
        assert app.query_one("#tabs").active == "cache"


async def test_every_tab_fits_80x24_in_light_and_dark(tmp_path):
    """At 80x24 each tab's main widget and its buttons are on screen, in both themes."""
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        for theme in ("textual-dark", "textual-light"):
            app.theme = theme
            for key, selectors in (
                ("1", ("#log-lines", "#log-pause", "#status-panel")),
                ("2", ("#start", "#stop", "#srv-secret", "#srv-readonly")),
                ("3", ("#backends-table", "#bk-use")),
                ("4", ("#cache-table", "#ca-migrate")),
                ("5", ("#rc-block-box", "#rc-append")),
            ):
                await pilot.press(key)
                await pilot.pause()
                for selector in selectors:
                    region = app.query_one(selector).region
                    assert region.height >= 1, (theme, selector)
                    assert app.screen.region.contains_region(region), (theme, selector, region)
                assert app.export_screenshot()
                if key == "1":
                    assert app.query_one("#log-lines").region.height >= 8


async def test_screen_sizes_scale_up(tmp_path):
    """A big terminal gives the log the extra room."""
    app = make_app(tmp_path)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        assert app.query_one("#log-lines").region.height >= 30
