"""From :class:`~pys3local.settings.ServerSettings` to a ready S3 app."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from pys3local.backends import MultipartState, ProviderOptions, open_cache, type_of
from pys3local.config import ConfigStore
from pys3local.config.keys import KeysFile, record_last_use
from pys3local.keys_watch import KeysWatcher
from pys3local.server import s3_app
from pys3local.settings import ServerSettings

#: Where a backend that cannot share multipart uploads between processes keeps them.
_UNSHARED = {
    MultipartState.CACHE: "in the metadata cache, which could not be opened",
    MultipartState.PROCESS: "in each server process",
}


class WorkersRefused(ValueError):
    """``--workers`` asked of a backend whose multipart uploads the workers could not
    share; ``str()`` is one line for the user."""


def build_app(settings: ServerSettings) -> FastAPI:
    """Build the provider the settings name and the S3 app around it.

    Raises NotImplementedError for a backend this installation cannot serve,
    :class:`~pys3local.cache.CacheRefused` for a named file that is not a cache, and
    :class:`WorkersRefused` when several workers could not share multipart uploads
    (a part sent to one worker would be unknown to the others).
    """
    cache = open_cache(Path(settings.cache_db) if settings.cache_db else None)
    kind = type_of(settings.backend)
    if settings.workers > 1 and not kind.shares_multipart_state(cache_open=cache is not None):
        raise WorkersRefused(
            f"--workers {settings.workers} needs multipart uploads that every worker sees, "
            f"and the {kind.name} backend keeps them "
            f"{_UNSHARED[kind.capabilities.multipart_state]}; serve with one worker"
        )
    options = ProviderOptions(
        readonly=settings.readonly,
        allow_bucket_creation=settings.allow_bucket_creation,
        durable=settings.durable,
        cache=cache,
    )
    return s3_app(
        kind.build(settings.backend, options),
        settings.service,
        access_key=settings.access_key,
        secret_key=settings.secret_key,
        no_auth=settings.no_auth,
        keys_watcher=keys_watcher(Path(settings.keys_dir)) if settings.keys_dir else None,
    )


def keys_watcher(config_dir: Path) -> KeysWatcher:
    """The watcher of ``<config_dir>/keys.toml``; an encrypted file is decrypted with
    ``$PYS3LOCAL_CONFIG_PASSWORD`` (``serve`` sets it for its workers once asked)."""
    keys_file = KeysFile(ConfigStore(config_dir))
    return KeysWatcher(
        keys_file.path,
        keys_file.load,
        lambda seen: record_last_use(config_dir, seen),
    )
