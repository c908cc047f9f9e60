"""What a backend type is: one record (:class:`BackendType`) that every part of
pys3local asks instead of telling backends apart itself.

The command line, the console, the saved configs, the server settings and the
cache commands only ever go through a type's record: its config fields (and which
are secrets or come from the environment), how its provider is built, how a
connection is checked, which ``serve`` options belong to it and what it supports.
Nothing here imports a provider: a type's ``build`` and ``check`` import theirs
when called, so naming a type costs nothing.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

if TYPE_CHECKING:
    from pys3local.cache import MetadataCache
    from pys3local.providers.base import StorageProvider

FieldKind = Literal["str", "int", "bool", "path", "url", "secret"]

S = TypeVar("S")


@dataclass(frozen=True)
class FieldSpec:
    """One field of a backend type: how it is checked, prompted for and documented."""

    name: str
    kind: FieldKind
    required: bool
    help: str
    default: object = None  # what an absent optional field means
    #: The environment variable ``serve --backend TYPE`` reads it from (no saved config).
    env: str | None = None
    #: What an unset ``env`` means (None: the field is absent, or missing if required).
    env_default: str | None = None


class MultipartState(enum.Enum):
    """Where a backend keeps its multipart uploads in progress."""

    #: In the store itself (the local data directory): every process serving it sees them.
    STORE = "store"
    #: In the metadata cache database: shared between processes only when one is open.
    CACHE = "cache"
    #: In the serving process's memory only.
    PROCESS = "process"


@dataclass(frozen=True)
class Capabilities:
    """What a backend type supports, for the checks that depend on it."""

    multipart_state: MultipartState
    versioning: bool = False
    object_lock: bool = False


@dataclass(frozen=True)
class ProviderOptions:
    """How the server runs a provider, beyond the backend's own settings."""

    readonly: bool = False
    #: Advanced bucket mode (a backend whose default bucket is special needs to know).
    allow_bucket_creation: bool = False
    #: False skips the local backend's fsyncs (unsafe on power loss).
    durable: bool = True
    #: The process's shared metadata cache, or None when there is none.
    cache: MetadataCache | None = None


class ConnectionProblem(Exception):
    """A connection test failed; ``str()`` says why in one line."""


def _no_problem(values: Mapping[str, object], *, readonly: bool = False) -> str | None:
    return None


def _no_directory(settings: Any) -> Path | None:
    return None


@dataclass(frozen=True)
class BackendType(Generic[S]):
    """One kind of backend, registered once in :mod:`pys3local.backends.registry`."""

    #: The name in configs, ``--backend`` and on screen (``local``, ``drime``).
    name: str
    #: The frozen dataclass of its validated settings (one attribute per field).
    settings_class: type[S]
    fields: tuple[FieldSpec, ...]
    capabilities: Capabilities
    #: The provider for these settings; raises NotImplementedError when this
    #: installation cannot serve the type.
    build: Callable[[S, ProviderOptions], StorageProvider]
    #: A connection test: a one-line success message, or ConnectionProblem.
    check: Callable[[S], Awaitable[str]]
    #: The (workspace, store) under which its entries are cached.
    cache_identity: Callable[[S], tuple[int, str]]
    #: ``serve`` options only this type takes, each with the field it sets (None:
    #: an option that sets no field, such as ``--create-path``).
    serve_options: Mapping[str, str | None] = field(default_factory=dict)
    #: How messages name it ("Drime backends only"); its name if empty.
    title: str = ""
    #: What its secret is called in messages ("API key"), if it has one.
    credential: str | None = None
    #: Why field values (a saved config, a form, settings as a dict) cannot be used
    #: before anything is opened, or None; ``readonly`` says whether writes are refused.
    problem: Callable[..., str | None] = _no_problem
    #: The local directory holding its data, if it has one (for disk figures).
    data_directory: Callable[[S], Path | None] = _no_directory

    def has_field(self, name: str) -> bool:
        return any(spec.name == name for spec in self.fields)

    def field_spec(self, name: str) -> FieldSpec:
        """The field called ``name``; KeyError if this type has none."""
        for spec in self.fields:
            if spec.name == name:
                return spec
        raise KeyError(name)

    @property
    def secret_fields(self) -> tuple[FieldSpec, ...]:
        return tuple(spec for spec in self.fields if spec.kind == "secret")

    def shares_multipart_state(self, cache_open: bool) -> bool:
        """Whether several server processes (``--workers``) see each other's
        multipart uploads, given whether the metadata cache is open."""
        state = self.capabilities.multipart_state
        return state is MultipartState.STORE or (state is MultipartState.CACHE and cache_open)
