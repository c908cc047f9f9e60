"""The backend registry: every type is one complete record that the rest of
pys3local can rely on (configs, forms, serve options, worker settings)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from pys3local.backends import (
    BACKENDS,
    DrimeBackendSettings,
    LocalBackendSettings,
    S3BackendSettings,
    backend_type,
    type_of,
)
from pys3local.config import BACKEND_FIELDS, SECRET_FIELDS, settings_from_env
from pys3local.s3.service import ServiceSettings
from pys3local.settings import ServerSettings

EXAMPLES = {
    "local": LocalBackendSettings(Path("/srv/s3"), readonly=True),
    "drime": DrimeBackendSettings("key", 1465, root_folder="backups/s3", api_url="http://x"),
    "s3": S3BackendSettings(
        "https://s3.example.net",
        "AKID",
        "secret",
        region="eu-west-1",
        bucket="all",
        prefix="gw/",
        ca_bundle=Path("/etc/ca.pem"),
    ),
}


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_fields_are_the_settings_attributes(name: str) -> None:
    """A type's config fields are exactly its settings dataclass's attributes."""
    kind = backend_type(name)
    assert [f.name for f in dataclasses.fields(kind.settings_class)] == [
        spec.name for spec in kind.fields
    ]
    assert BACKEND_FIELDS[name] == kind.fields
    assert {spec.name for spec in kind.secret_fields} <= SECRET_FIELDS


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_server_settings_survive_the_trip_to_a_worker(name: str) -> None:
    """ServerSettings as JSON (how --workers hands them over) come back equal."""
    settings = ServerSettings(
        backend=EXAMPLES[name],
        service=ServiceSettings(region="eu-west-1", allow_bucket_creation=True),
        workers=3,
    )
    assert ServerSettings.from_json(settings.to_json()) == settings
    assert type_of(settings.backend).name == settings.backend_type == name
    assert (settings.region, settings.allow_bucket_creation) == ("eu-west-1", True)


def test_serve_options_each_belong_to_one_type() -> None:
    """No serve option is claimed by two types (the refusal message names the one)."""
    options = [option for kind in BACKENDS.values() for option in kind.serve_options]
    assert len(options) == len(set(options))


def test_settings_from_env_reads_the_fields_the_type_names() -> None:
    """serve --backend drime reads its key, workspace and URL from the environment."""
    env = {"DRIME_API_KEY": "k", "DRIME_WORKSPACE_ID": "7", "DRIME_API_URL": "http://h"}
    settings = settings_from_env("drime", env, root_folder="a/b")
    assert settings == DrimeBackendSettings("k", 7, root_folder="a/b", api_url="http://h")
    local = settings_from_env("local", {}, path="relative/dir")
    assert local == LocalBackendSettings(Path("relative/dir").absolute())


def test_shares_multipart_state_follows_the_capability() -> None:
    """Local uploads live in the store; Drime's only in an open metadata cache."""
    assert backend_type("local").shares_multipart_state(cache_open=False)
    assert backend_type("drime").shares_multipart_state(cache_open=True)
    assert not backend_type("drime").shares_multipart_state(cache_open=False)
