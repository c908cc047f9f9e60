"""The end-of-run check of ``tests/processes.py``: a test run that leaves a process of
its own running fails, and the process is killed; a clean run passes."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import textwrap
from pathlib import Path

import pytest
from processes import RUN_MARK, marked_processes, run_command, spawned
from reliability import wait_for

TESTS = Path(__file__).resolve().parent

_LEAKING = """
import os, subprocess, sys
from pathlib import Path

def test_leaks_a_server(tmp_path):
    # Started past the shared helper, in a session of its own, and never stopped.
    process = subprocess.Popen(
        [sys.executable, "-m", "pys3local", "serve", "--listen", "127.0.0.1:0",
         "--path", str(tmp_path)],
        start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    Path(os.environ["LEAK_PID_FILE"]).write_text(str(process.pid))
"""

_CLEAN = """
import os, sys
from pathlib import Path
from processes import spawned

def test_stops_its_server(tmp_path):
    with spawned([sys.executable, "-m", "pys3local", "serve", "--listen", "127.0.0.1:0",
                  "--path", str(tmp_path)]) as process:
        Path(os.environ["LEAK_PID_FILE"]).write_text(str(process.pid))
"""


def _inner_run(tmp_path: Path, source: str) -> tuple[int, str, int]:
    """Run a one-test pytest session with the check; returns (exit status, output,
    pid of the server its test started)."""
    (tmp_path / "test_inner.py").write_text(textwrap.dedent(source))
    pid_file = tmp_path / "pid"
    path = os.pathsep.join([str(TESTS), str(TESTS.parent), os.environ.get("PYTHONPATH", "")])
    result = run_command(
        [sys.executable, "-m", "pytest", "-p", "processes", "-p", "no:cacheprovider",
         "-q", "test_inner.py"],
        cwd=tmp_path, timeout=120, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": path, "LEAK_PID_FILE": str(pid_file)},
    )  # fmt: skip
    return result.returncode, result.stdout + result.stderr, int(pid_file.read_text())


@pytest.mark.slow
def test_a_run_that_leaves_a_server_running_fails_and_the_server_is_killed(
    tmp_path: Path,
) -> None:
    """A test that starts a server and never stops it: its run fails, naming the
    process, and the process is gone afterwards."""
    status, output, pid = _inner_run(tmp_path, _LEAKING)
    try:
        assert status == pytest.ExitCode.TESTS_FAILED, output
        assert "process(es) started by the tests were still running (killed)" in output
        assert f"{pid}: " in output and "pys3local serve" in output
        assert wait_for(lambda: not os.path.exists(f"/proc/{pid}"), timeout=10, interval=0.05)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def test_a_run_that_stops_its_processes_passes(tmp_path: Path) -> None:
    """A test that stops what it started: the run passes without a complaint."""
    status, output, pid = _inner_run(tmp_path, _CLEAN)
    assert status == pytest.ExitCode.OK, output
    assert "still running" not in output
    assert not os.path.exists(f"/proc/{pid}")


def test_processes_carry_the_mark_of_this_run() -> None:
    """A child started here is found by the check's finder, by the mark its
    environment inherited, and no longer once it is stopped."""
    with spawned([sys.executable, "-c", "import time; time.sleep(60)"]) as process:
        assert wait_for(lambda: process.pid in marked_processes(), timeout=5, interval=0.05)
        assert os.environ[RUN_MARK]
    assert process.pid not in marked_processes()
