"""The registered backend types: the one place that lists them.

Adding a backend type is its ``providers/<name>/`` package (the
:class:`~pys3local.providers.base.StorageProvider`), its record in
``backends/<name>.py`` and one entry here (and in :data:`BackendSettings`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .drime import DRIME, DrimeBackendSettings
from .local import LOCAL, LocalBackendSettings
from .s3 import S3, S3BackendSettings
from .spec import BackendType

#: Every type by name, in the order they are offered (the first is the default).
BACKENDS: Mapping[str, BackendType[Any]] = {kind.name: kind for kind in (LOCAL, DRIME, S3)}
BACKEND_NAMES: tuple[str, ...] = tuple(BACKENDS)

#: The validated settings of any registered type.
BackendSettings = LocalBackendSettings | DrimeBackendSettings | S3BackendSettings


def backend_type(name: str) -> BackendType[Any]:
    """The type called ``name``; KeyError if none is."""
    return BACKENDS[name]


def type_of(settings: object) -> BackendType[Any]:
    """The type whose settings ``settings`` are; TypeError for anything else."""
    for kind in BACKENDS.values():
        if isinstance(settings, kind.settings_class):
            return kind
    raise TypeError(f"not the settings of a registered backend type: {settings!r}")
