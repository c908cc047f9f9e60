"""Veeam's Smart Object Storage API: system.xml and capacity.xml under the SOSAPI
prefix of every bucket, generated from the backend's real capacity."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from conftest import RunningServer
from fake_drime import FakeDrime
from test_drime_e2e import start_drime_server

PREFIX = ".system-d26a9498-cb7c-4a87-a44a-8ae204f5ba6c/"
GiB = 1024**3


def _document(s3: object, bucket: str, name: str) -> ET.Element:
    body = s3.get_object(Bucket=bucket, Key=PREFIX + name)["Body"].read()  # type: ignore[attr-defined]
    return ET.fromstring(body)


def test_GetObject_system_xml_announces_capacity_info(s3: object, bucket: str) -> None:
    """system.xml is there in a new bucket, protocol 1.0, with CapacityInfo on."""
    root = _document(s3, bucket, "system.xml")
    assert root.tag == "SystemInfo"
    assert root.findtext("ProtocolVersion") == '"1.0"'
    assert root.findtext("ModelName", "").startswith('"pys3local ')
    assert root.findtext("ProtocolCapabilities/CapacityInfo") == "true"
    assert root.findtext("ProtocolCapabilities/UploadSessions") == "false"


def test_GetObject_capacity_xml_is_the_data_directory_filesystem(
    server: RunningServer, s3: object, bucket: str
) -> None:
    """capacity.xml gives the size, free and used space of the filesystem holding the
    data directory (other writers move the free space a little meanwhile)."""
    root = _document(s3, bucket, "capacity.xml")
    fs = os.statvfs(server.data_dir)
    total, available = fs.f_blocks * fs.f_frsize, fs.f_bavail * fs.f_frsize
    assert int(root.findtext("Capacity", "")) == total
    assert abs(int(root.findtext("Available", "")) - available) < GiB
    assert abs(int(root.findtext("Used", "")) - (total - fs.f_bfree * fs.f_frsize)) < GiB


def test_HeadObject_SOSAPI_documents(s3: object, bucket: str) -> None:
    """HEAD answers both documents with their type and length, as Veeam checks them."""
    for name in ("system.xml", "capacity.xml"):
        head = s3.head_object(Bucket=bucket, Key=PREFIX + name)  # type: ignore[attr-defined]
        assert head["ContentType"] == "application/xml"
        assert head["ContentLength"] > 50


def test_GetObject_SOSAPI_in_a_missing_bucket_is_NoSuchBucket(s3: object) -> None:
    """The documents exist only in buckets that exist."""
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket="no-such-bucket-sosapi", Key=PREFIX + "system.xml")  # type: ignore[attr-defined]
    assert exc.value.response["Error"]["Code"] == "NoSuchBucket"


def test_GetObject_SOSAPI_on_drime_announces_no_capacity(tmp_path: Path) -> None:
    """A backend that cannot tell its capacity says so, and has no capacity.xml."""
    with FakeDrime() as fake:
        server = start_drime_server(fake, tmp_path)
        try:
            s3 = server.client()
            root = _document(s3, "default", "system.xml")
            assert root.findtext("ProtocolCapabilities/CapacityInfo") == "false"
            with pytest.raises(ClientError) as exc:
                s3.get_object(Bucket="default", Key=PREFIX + "capacity.xml")
            assert exc.value.response["Error"]["Code"] == "NoSuchKey"
        finally:
            server.stop()
