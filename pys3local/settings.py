"""Server settings, built once by the command line or the console and passed down.

:class:`ServerSettings` is frozen and serialisable, so ``serve --workers N`` can hand
the very same settings to each worker process.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pys3local.backends import BackendSettings, backend_type, type_of
from pys3local.http_protocol import DEFAULT_MAX_HEADER_BYTES, HEADER_TIMEOUT_SECONDS
from pys3local.s3.service import ServiceSettings

DEFAULT_ACCESS_KEY = "test"
DEFAULT_SECRET_KEY = "test"
DEFAULT_REGION = "us-east-1"
DEFAULT_LISTEN = ":10001"
DEFAULT_PATH = "/tmp/s3store"


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """Everything that decides how one server runs."""

    backend: BackendSettings
    access_key: str = DEFAULT_ACCESS_KEY
    secret_key: str = DEFAULT_SECRET_KEY
    region: str = DEFAULT_REGION
    no_auth: bool = False
    allow_bucket_creation: bool = False
    readonly: bool = False
    durable: bool = True
    service: ServiceSettings = field(default_factory=ServiceSettings)
    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES
    header_timeout: float = HEADER_TIMEOUT_SECONDS
    idle_timeout: int = 75
    tls_cert: str | None = None
    tls_key: str | None = None
    #: The metadata cache database; None means the default location.
    cache_db: str | None = None
    debug: bool = False

    @property
    def backend_type(self) -> str:
        return type_of(self.backend).name

    def to_json(self) -> str:
        document = dataclasses.asdict(self)
        document["backend"] = {"type": self.backend_type, **document["backend"]}
        return json.dumps(document, default=str)

    @classmethod
    def from_json(cls, text: str) -> ServerSettings:
        document: dict[str, Any] = json.loads(text)
        backend = dict(document.pop("backend"))
        kind = backend_type(backend.pop("type"))
        for spec in kind.fields:
            if spec.kind == "path" and backend.get(spec.name) is not None:
                backend[spec.name] = Path(backend[spec.name])
        service = document.pop("service")
        service["virtual_host_domains"] = tuple(service["virtual_host_domains"])
        return cls(
            backend=kind.settings_class(**backend),
            service=ServiceSettings(**service),
            **document,
        )
