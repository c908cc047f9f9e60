"""py-spy profiles of the server per phase (``run.py --profile DIR``): recording them,
and summarising each by category, hottest lines and hottest functions into
``DIR/summary.md`` (see "Profiling" in benchmarks/README.md)."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path


class Profiler:
    """``py-spy record`` attached to the server for one phase (only with --profile)."""

    def __init__(
        self, directory: Path | None, pid: int, label: str, extra_args: tuple[str, ...] = ()
    ) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        if directory is None:
            return
        directory.mkdir(parents=True, exist_ok=True)
        self.output = directory / f"{label}.txt"
        command = [
            "py-spy",
            "record",
            "--pid",
            str(pid),
            "--rate",
            "250",
            "--subprocesses",
            "--format",
            "raw",
            "--full-filenames",
            *extra_args,
            "-o",
            str(self.output),
        ]
        self._process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(1.0)  # let py-spy attach before the load starts

    def stop(self) -> None:
        if self._process is not None:
            self._process.send_signal(signal.SIGINT)
            try:
                self._process.wait(30)
            except subprocess.TimeoutExpired:
                self._process.kill()


#: Frames every stack passes through: they say nothing about where the time goes.
_BOILERPLATE = (
    "<frozen runpy>",
    "click/",
    "pys3local/__main__.py",
    "pys3local/cli/",
    "pys3local/runner.py:EmbeddedServer.run",
    "uvicorn/server.py",
    "uvicorn/_compat.py",
    "uvicorn/middleware/proxy_headers.py",
    "uvicorn/protocols/http/httptools_impl.py:RequestResponseCycle.run_asgi",
    "asyncio/runners.py:Runner.run",
    "threading.py:Thread._bootstrap",
    "threading.py:Thread.run",
    "concurrent/futures/thread.py:_worker",
    "fastapi/",
    "starlette/applications.py",
    "starlette/middleware/",
    "starlette/routing.py",
    "starlette/_exception_handler.py",
)
#: Self samples on these lines are threads waiting, not working: a pool thread in
#: ``work_queue.get`` (woken and waiting for the GIL, or idle), the event loop in
#: uvloop's C code (epoll, socket I/O and its own callbacks).
_WAITING = {
    "concurrent/futures/thread.py:_worker:81": "pool thread waiting for work or for the GIL",
    "asyncio/runners.py:Runner.run:118": "event loop in uvloop C code (epoll, socket I/O)",
}


def _parse_frame(frame: str) -> tuple[str, str]:
    """``func (/long/path/pkg/mod.py:12)`` -> (``pkg/mod.py:func``, ``pkg/mod.py:func:12``)."""
    match = re.match(r"(.*) \((.*?):(\d+)\)$", frame)
    if not match:
        return frame, frame
    function, filename, line = match[1], match[2], match[3]
    for marker in ("site-packages/", "/lib/python3.11/", "/work/main/"):
        if marker in filename:
            filename = filename.split(marker, 1)[1]
            break
    return f"{filename}:{function}", f"{filename}:{function}:{line}"


#: Where a sample's time goes: the first category (in this order) whose pattern
#: matches a frame of its stack. Patterns are prefixes of ``file:function``.
CATEGORIES: list[tuple[str, tuple[str, ...]]] = [
    ("request ids (uuid4)", ("uuid.py:uuid4",)),
    ("access log", ("pys3local/access_log.py:log_access", "logging/")),
    ("SigV4 check", ("pys3local/s3/auth.py:", "pys3local/s3/signing.py:")),
    ("request parsing", ("pys3local/s3/request.py:", "pys3local/s3/routes.py:")),
    ("body decode + payload hashes", ("pys3local/s3/body.py:", "pys3local/s3/chunked.py:")),
    ("body batching (providers/streams.py)", ("pys3local/providers/streams.py:",)),
    (
        "thread hop (submit, wake, result)",
        (
            "concurrent/futures/thread.py:ThreadPoolExecutor.submit",
            "concurrent/futures/_base.py:",
            "asyncio/futures.py:",
            "asyncio/base_futures.py:",
            "threading.py:Condition",
        ),
    ),
    ("provider work in I/O threads", ("concurrent/futures/thread.py:_WorkItem.run",)),
    (
        "response send",
        (
            "starlette/responses.py:",
            "pys3local/server.py:S3Application.__call__.<locals>.counting_send",
        ),
    ),
    ("metadata cache (SQLite)", ("pys3local/cache/",)),
    ("S3 handlers + provider (event loop)", ("pys3local/s3/", "pys3local/providers/")),
    ("S3Application (server.py)", ("pys3local/server.py:",)),
    ("FastAPI/Starlette layers", ("fastapi/", "starlette/", "anyio/")),
    ("uvicorn HTTP protocol", ("uvicorn/protocols/",)),
    ("pool thread waiting (woken or idle)", ("concurrent/futures/thread.py:_worker",)),
    ("event loop (uvloop C: epoll, socket I/O)", ("asyncio/runners.py:Runner.run",)),
]


def _stacks(path: Path) -> Iterator[tuple[list[tuple[str, str]], int]]:
    """The stacks of a raw py-spy profile, each as its parsed frames (without the
    "process ..." / "thread ..." pseudo-frames py-spy puts first) and its samples."""
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        frames = [
            _parse_frame(f) for f in stack.split(";") if not f.startswith(("process ", "thread "))
        ]
        yield frames, int(count_text)


def _category(functions: list[str]) -> str:
    """The first of :data:`CATEGORIES` with a pattern that a function matches."""
    for name, patterns in CATEGORIES:
        if any(f.startswith(patterns) for f in functions):
            return name
    return "other"


def summarize_profile(path: Path, top: int = 15) -> str:
    """Where the samples of a ``py-spy record --format raw`` file go: by category, by
    line of self time, and by function including callees (pys3local and library code
    only, not the wrappers every request passes through)."""
    categories: Counter[str] = Counter()
    self_counts: Counter[str] = Counter()
    total_counts: Counter[str] = Counter()
    samples = 0
    for frames, count in _stacks(path):
        categories[_category([f[0] for f in frames])] += count
        if not frames:
            continue
        samples += count
        self_counts[frames[-1][1]] += count
        for function in {f[0] for f in frames}:
            if not function.startswith(_BOILERPLATE):
                total_counts[function] += count
    if not samples:
        return f"### {path.stem}\n\nno samples"
    out = [f"### {path.stem}: {samples} samples", "", "by category:", ""]
    for name, count in categories.most_common():
        out.append(f"    {100 * count / samples:5.1f}%  {name}")
    out += ["", "self time by line:", ""]
    for name, count in self_counts.most_common(top):
        note = f"  ({_WAITING[name]})" if name in _WAITING else ""
        out.append(f"    {100 * count / samples:5.1f}%  {name}{note}")
    out += ["", "including callees, by function:", ""]
    for name, count in total_counts.most_common(top):
        out.append(f"    {100 * count / samples:5.1f}%  {name}")
    return "\n".join(out)


def summarize_profiles(directory: Path) -> str:
    parts = [summarize_profile(p) for p in sorted(directory.glob("*.txt")) if p.stat().st_size]
    text = "\n\n".join(parts)
    (directory / "summary.md").write_text(text + "\n")
    return text
