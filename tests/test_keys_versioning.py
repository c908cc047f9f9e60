"""Versioning operations and access keys' rights, through a real ``pys3local serve``
with keys from ``pys3local keys`` and boto3: PutBucketVersioning needs admin,
ListObjectVersions and reads of a version need read, removing a version needs
delete."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import RunningServer
from keys_support import Key, error_code, key_client, server_with_keys


@pytest.fixture(scope="module")
def keyed(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningServer, dict[str, Key]]]:
    rights = {"reader": "read", "writer": "read,write", "deleter": "read,delete", "admin": "admin"}
    with server_with_keys(tmp_path_factory, "vers", rights) as keyed:
        yield keyed


def test_versioning_operations_need_their_rights(keyed) -> None:
    """Only admin sets versioning; read lists and reads versions but removes none;
    delete removes a version by id."""
    server, keys = keyed
    client = {name: key_client(server, key) for name, key in keys.items()}
    config = {"Bucket": "vers", "VersioningConfiguration": {"Status": "Enabled"}}
    for name in ("reader", "writer", "deleter"):
        assert error_code(client[name].put_bucket_versioning, **config) == "AccessDenied"
    client["admin"].put_bucket_versioning(**config)
    assert client["reader"].get_bucket_versioning(Bucket="vers")["Status"] == "Enabled"
    first = client["writer"].put_object(Bucket="vers", Key="k", Body=b"1")["VersionId"]
    client["writer"].put_object(Bucket="vers", Key="k", Body=b"2")
    listed = client["reader"].list_object_versions(Bucket="vers")["Versions"]
    assert [v["VersionId"] for v in listed][1] == first
    assert error_code(client["admin"].list_object_versions, Bucket="vers") == "AccessDenied"
    read = client["reader"].get_object(Bucket="vers", Key="k", VersionId=first)
    assert read["Body"].read() == b"1"
    for name in ("reader", "writer"):
        assert (
            error_code(client[name].delete_object, Bucket="vers", Key="k", VersionId=first)
            == "AccessDenied"
        )
    client["deleter"].delete_object(Bucket="vers", Key="k", VersionId=first)
    listed = client["reader"].list_object_versions(Bucket="vers")["Versions"]
    assert first not in [v["VersionId"] for v in listed]
