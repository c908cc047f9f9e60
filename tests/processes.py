"""Every process the tests start, started and stopped one way, and a check that none
outlives the run.

``spawn`` starts a command in a session (and process group) of its own, and
``stop_group`` stops the whole group, so a server's workers (or a client's helpers)
go with it even when the test fails or times out. Every process started while this
module is loaded carries ``PYS3LOCAL_TEST_RUN=<id of this run>`` in its environment;
at the end of the session :func:`pytest_sessionfinish` looks for processes with that
mark in ``/proc/*/environ``, kills them, and fails the run if it found any.

Loaded as a pytest plugin by ``conftest.py`` (``pytest_plugins``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

RUN_MARK = "PYS3LOCAL_TEST_RUN"
#: A fresh id per run: a nested pytest run (the tests of this check) has its own, so
#: its check never touches the processes of the run that started it.
RUN_ID = uuid.uuid4().hex
# Set in our own environment, so that every child inherits it, whatever starts it.
os.environ[RUN_MARK] = RUN_ID

#: How long processes found at the end may take to finish exiting on their own.
_EXIT_GRACE_SECONDS = 5.0


def spawn(args: Sequence[str | os.PathLike[str]], **popen: Any) -> subprocess.Popen[Any]:
    """``subprocess.Popen`` in a new session: the process and its children form one
    group that :func:`stop_group` stops together."""
    return subprocess.Popen([str(a) for a in args], start_new_session=True, **popen)


def kill_group(process: subprocess.Popen[Any]) -> None:
    """SIGKILL whatever is left in the process's group (its pid is the group id; the
    kernel keeps that id reserved while any member lives, so it names no stranger)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def stop_group(
    process: subprocess.Popen[Any], sig: int = signal.SIGTERM, timeout: float = 30
) -> int:
    """Send ``sig`` to the process, wait up to ``timeout`` seconds, then SIGKILL its
    whole group (children it left behind included); returns the exit status."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout)
    kill_group(process)
    return process.wait()


@contextlib.contextmanager
def spawned(
    args: Sequence[str | os.PathLike[str]], **popen: Any
) -> Iterator[subprocess.Popen[Any]]:
    """:func:`spawn`, with the group killed when the block ends, however it ends."""
    process = spawn(args, **popen)
    try:
        yield process
    finally:
        stop_group(process, signal.SIGKILL)


def run_command(
    args: Sequence[str | os.PathLike[str]], *, timeout: float, **popen: Any
) -> subprocess.CompletedProcess[Any]:
    """``subprocess.run`` whose timeout (or any failure) kills the command's whole
    group, not only the command; raises ``subprocess.TimeoutExpired`` on timeout."""
    stdin = popen.pop("input", None)
    check = popen.pop("check", False)
    if popen.pop("capture_output", False):
        popen.update(stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if stdin is not None:
        popen["stdin"] = subprocess.PIPE
    with spawned(args, **popen) as process:
        try:
            out, err = process.communicate(stdin, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            kill_group(process)
            exc.stdout, exc.stderr = process.communicate()
            raise
        kill_group(process)  # nothing the command started may outlive it
    if check and process.returncode:
        raise subprocess.CalledProcessError(process.returncode, process.args, out, err)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def marked_processes(run_id: str = RUN_ID) -> dict[int, str]:
    """Live processes (pid -> command line) whose environment carries ``run_id``
    (only this user's processes are readable, which is all a run can start)."""
    mark = f"{RUN_MARK}={run_id}".encode()
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            command = (entry / "cmdline").read_bytes()
        except OSError:  # gone meanwhile, or someone else's
            continue
        if mark in environ.split(b"\0"):
            found[int(entry.name)] = command.replace(b"\0", b" ").decode(errors="replace")
    return found


def reap_leftovers(run_id: str = RUN_ID) -> dict[int, str]:
    """Processes of the run still alive after a short grace time; they are killed."""
    deadline = time.monotonic() + _EXIT_GRACE_SECONDS
    leftovers = marked_processes(run_id)
    while leftovers and time.monotonic() < deadline:
        time.sleep(0.1)
        leftovers = marked_processes(run_id)
    for pid in leftovers:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return leftovers


@pytest.hookimpl(trylast=True)  # after session-scoped fixtures are torn down
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if any process it started is still alive (and kill those)."""
    if not Path("/proc/self/environ").exists():
        return
    leftovers = reap_leftovers()
    if not leftovers:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    lines = [f"{len(leftovers)} process(es) started by the tests were still running (killed):"]
    lines += [f"  {pid}: {command[:200]}" for pid, command in sorted(leftovers.items())]
    for line in lines:
        if reporter is not None:
            reporter.write_line(line, red=True)
        else:
            print(line)
    if session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
