"""What the distribution installs: every package of the tree, and the console under a
name of its own (pys3local_tui), never a top-level package called ``tui``."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent


def _setuptools() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_every_package_folder_is_installed() -> None:
    """pyproject.toml lists every folder with an __init__.py (a new subpackage cannot
    be left out of the wheel), the console as pys3local_tui."""
    config = _setuptools()
    folders = {name: Path(folder) for name, folder in config["package-dir"].items()}
    folders.setdefault("pys3local", Path("pys3local"))
    found = set()
    for name, folder in folders.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join((name, *relative)))
    assert set(config["packages"]) == found
    assert not any(p == "tui" or p.startswith("tui.") for p in config["packages"])


def test_console_imports_as_pys3local_tui() -> None:
    """The installed console is pys3local_tui, with its stylesheet beside it."""
    app = importlib.import_module("pys3local_tui.app")
    assert (Path(app.__file__).parent / "app.tcss").is_file()
