"""The import graph: no two modules of pys3local or the console import each other
(checked on the source, so imports under TYPE_CHECKING count too)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: Pairs still to untangle; an entry here that no longer imports both ways fails too.
KNOWN: set[tuple[str, str]] = set()


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    # The console's folder tui/ installs as the package pys3local_tui.
    for package, folder in (("pys3local", "pys3local"), ("pys3local_tui", "tui")):
        for path in (ROOT / folder).rglob("*.py"):
            parts = (package, *path.relative_to(ROOT / folder).with_suffix("").parts)
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules ``name`` imports (``from .x import y`` names x, and y if
    y is a module)."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    named: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            named.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            named.add(module)
            named.update(f"{module}.{alias.name}" for alias in node.names)
    return {m for m in named if m in modules and m != name}


def test_no_two_modules_import_each_other() -> None:
    """A module and one it imports never import each other (a package and its own
    submodules aside)."""
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    mutual = {
        tuple(sorted((a, b)))
        for a, targets in graph.items()
        for b in targets
        if a in graph[b] and not (a.startswith(b + ".") or b.startswith(a + "."))
    }
    assert mutual == KNOWN
