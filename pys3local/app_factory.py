"""From :class:`~pys3local.settings.ServerSettings` to a ready S3 app."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from pys3local.backends import build_provider
from pys3local.server import create_s3_app
from pys3local.settings import ServerSettings


def build_app(settings: ServerSettings) -> FastAPI:
    """Build the provider the settings name and the S3 app around it.

    Raises NotImplementedError for a backend this installation cannot serve.
    """
    provider = build_provider(
        settings.backend,
        readonly=settings.readonly,
        allow_bucket_creation=settings.allow_bucket_creation,
        durable=settings.durable,
        cache_db=Path(settings.cache_db) if settings.cache_db else None,
    )
    return create_s3_app(
        provider=provider,
        access_key=settings.access_key,
        secret_key=settings.secret_key,
        region=settings.region,
        no_auth=settings.no_auth,
        allow_bucket_creation=settings.allow_bucket_creation,
        settings=settings.service,
    )
