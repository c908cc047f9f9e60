"""Names of the cache's stores for people: what ``cache stats`` prints and
``cache cleanup --store`` accepts.

A row belongs to a *store*: the pair (workspace id, store string). Workspace 0 holds
both every local data directory (``local:<absolute path>``) and Drime's personal
workspace (``drime:<root folder>``), so a workspace number alone never names one
store. The labels:

- ``local:/srv/s3``: a local backend's data directory (a bare path is accepted too);
- ``drime:1465``: Drime workspace 1465, served whole;
- ``drime:1465/backups/s3``: Drime workspace 1465 with root folder ``backups/s3``;
- ``workspace:7``: rows of workspace 7 written without a store (none of pys3local's
  own backends does that; kept so that every row can be named).
"""

from __future__ import annotations

from pathlib import Path

from .entries import drime_store, local_store

_LOCAL, _DRIME, _BARE = "local:", "drime:", "workspace:"


def is_local_store(store: str) -> bool:
    """Whether a store string is a local backend's data directory."""
    return store.startswith(_LOCAL)


def local_store_path(store: str) -> Path:
    """The data directory of a local store string (see :func:`is_local_store`)."""
    return Path(store[len(_LOCAL) :])


def store_label(workspace_id: int, store: str) -> str:
    """The label of a (workspace, store) pair (see the module docstring)."""
    if is_local_store(store):
        return store
    if store.startswith(_DRIME):
        root = store[len(_DRIME) :]
        return f"{_DRIME}{workspace_id}" + (f"/{root}" if root else "")
    if not store:
        return f"{_BARE}{workspace_id}"
    return f"{store} (workspace {workspace_id})"


def parse_store(label: str) -> tuple[int, str]:
    """The (workspace, store) pair a label names. Raises ValueError."""
    if label.startswith(_DRIME):
        workspace, _, root = label[len(_DRIME) :].partition("/")
        return _workspace(workspace, label), drime_store(root or None)
    if label.startswith(_BARE):
        return _workspace(label[len(_BARE) :], label), ""
    path = label[len(_LOCAL) :] if label.startswith(_LOCAL) else label
    if not path:
        raise ValueError(f"{label!r} names no directory")
    return 0, local_store(Path(path))


def _workspace(text: str, label: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValueError(
            f"{label!r}: expected a workspace number, as in drime:0 or drime:1465/backups"
        ) from None
    if value < 0:
        raise ValueError(f"{label!r}: a workspace number is not negative")
    return value
