"""Server settings, built once by the command line or the console and passed down.

:class:`ServerSettings` is frozen and serialisable, so ``serve --workers N`` can hand
the very same settings to each worker process. What follows from it is built from
it alone: the app (:func:`pys3local.app_factory.build_app`) and the uvicorn server
(:meth:`pys3local.runner.EmbeddedServer.from_settings`), as uvicorn's ``Config`` is
handed to its ``Server``.
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
    no_auth: bool = False
    readonly: bool = False
    durable: bool = True
    #: The protocol layer's settings; the one place that holds the region and the
    #: bucket mode (see :attr:`region`, :attr:`allow_bucket_creation`).
    service: ServiceSettings = field(default_factory=ServiceSettings)
    #: Server processes sharing the port (``serve --workers``).
    workers: int = 1
    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES
    header_timeout: float = HEADER_TIMEOUT_SECONDS
    idle_timeout: int = 75
    tls_cert: str | None = None
    tls_key: str | None = None
    #: The metadata cache database; None means the default location.
    cache_db: str | None = None
    #: Configuration directory whose keys.toml holds further access keys (read again
    #: while the server runs); None: only the access key pair above.
    keys_dir: str | None = None
    debug: bool = False
    #: Where Prometheus figures and health checks are served (``--metrics-listen``);
    #: None: no figures are kept at all.
    metrics_listen: str | None = None

    @property
    def region(self) -> str:
        return self.service.region

    @property
    def allow_bucket_creation(self) -> bool:
        return self.service.allow_bucket_creation

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
