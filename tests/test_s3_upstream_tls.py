"""The ``s3`` backend over https: the upstream's certificate is verified by default,
trusted through a CA bundle, or (when told) not checked. The upstream here is a
pys3local server with TLS (tests/test_tls.py makes its self-signed certificate)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import RunningServer
from test_s3_upstream_provider import Declared, read_all
from test_tls import make_certificate, start_tls_server

from pys3local.errors import ServiceUnavailable
from pys3local.providers.base import ObjectMetadata
from pys3local.providers.s3 import BucketMap, Connection, S3UpstreamProvider


@pytest.fixture(scope="module")
def tls_upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    directory = tmp_path_factory.mktemp("tls-upstream")
    cert, key = make_certificate(directory)
    running = start_tls_server(directory, cert, key, "--allow-bucket-creation")
    running.certificate = cert  # type: ignore[attr-defined]
    yield running
    running.stop()


def provider_for(server: RunningServer, **tls: object) -> S3UpstreamProvider:
    link = Connection(
        server.endpoint,
        server.region,
        server.access_key,
        server.secret_key,
        attempts=2,
        backoff=0.01,
        **tls,  # type: ignore[arg-type]
    )
    return S3UpstreamProvider(link, BucketMap("buckets", name_prefix="tls-"))


async def test_ListBuckets_unknown_certificate_refused(tls_upstream: RunningServer) -> None:
    """By default a certificate no trusted CA signed is refused, at once, saying so."""
    provider = provider_for(tls_upstream)
    with pytest.raises(ServiceUnavailable, match="certificate"):
        await provider.open()
    await provider.close()


@pytest.mark.parametrize("how", ["ca_bundle", "no_verify"])
async def test_PutObject_over_https(tls_upstream: RunningServer, how: str) -> None:
    """With the CA bundle that signed it (or verification turned off) the upstream
    serves: a bucket and an object round-trip over https."""
    cert: Path = tls_upstream.certificate  # type: ignore[attr-defined]
    tls = {"ca_bundle": str(cert)} if how == "ca_bundle" else {"verify_tls": False}
    provider = provider_for(tls_upstream, **tls)
    await provider.open()
    bucket = f"b-{how.replace('_', '-')}"
    await provider.create_bucket(bucket)
    await provider.put_object(bucket, "k", Declared(b"over tls"), ObjectMetadata())
    assert await read_all(await provider.get_object(bucket, "k")) == b"over tls"
    await provider.close()
