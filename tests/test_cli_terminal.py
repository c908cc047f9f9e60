"""Interactive commands run without a terminal, and the console's options checked at launch.

``pys3local tui`` and the ``pys3local config`` menu are for a person at a terminal; run
from a script or a pipe they say so in one line and exit non-zero instead of writing
escape sequences into the pipe or printing a menu nobody answers.
"""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
from processes import run_command


def run(
    *args: str, stdin: int | None = subprocess.DEVNULL, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """``pys3local ARGS`` in its own session; killed (and reported) if it hangs."""
    try:
        return run_command(
            [sys.executable, "-m", "pys3local", *args],
            stdin=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"pys3local {' '.join(args)} hung without a terminal:\n{exc.stdout!r}"[:800])


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


@pytest.fixture(autouse=True)
def config_dir(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("PYS3LOCAL_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.delenv("PYS3LOCAL_CONFIG_PASSWORD", raising=False)
    return tmp_path / "config"


def test_tui_without_a_terminal_is_refused() -> None:
    """Standard input and output not a terminal: one line, exit 1, no escape sequences."""
    result = run("tui", timeout=20)
    assert "needs a terminal" in one_error_line(result)
    assert result.returncode == 1
    assert "\x1b" not in result.stdout


def test_tui_with_output_into_a_pipe_is_refused() -> None:
    """A terminal for input but standard output into a pipe: refused the same way."""
    controller, terminal = pty.openpty()
    try:
        result = run("tui", stdin=terminal, timeout=20)
    finally:
        os.close(terminal)
        os.close(controller)
    assert "needs a terminal" in one_error_line(result)
    assert "\x1b" not in result.stdout


def test_tui_listen_is_checked_at_launch() -> None:
    """A malformed --listen is a usage error at launch (exit 2), not a failure at start."""
    result = run("tui", "--listen", "abc:xyz", timeout=20)
    assert "--listen" in one_error_line(result)
    assert result.returncode == 2


def test_config_menu_without_a_terminal_names_the_subcommands() -> None:
    """The menu with no one to answer it: one line naming the non-interactive subcommands."""
    result = run("config")
    line = one_error_line(result)
    assert "config add/edit/remove/list" in line and "terminal" in line
    assert "Aborted!" not in result.stderr
