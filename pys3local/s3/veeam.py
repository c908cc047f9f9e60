"""Veeam's Smart Object Storage API (SOSAPI): the two documents Veeam reads.

Veeam Backup & Replication looks for ``system.xml`` under a fixed prefix in each
bucket it uses; when that document announces ``CapacityInfo``, it reads
``capacity.xml`` beside it and shows the repository's real size and free space
(placement in scale-out repositories and free-space warnings depend on it). Both
documents are generated on every read, never stored: the figures are those of the
backend at that moment. A backend that cannot tell its capacity announces no
``CapacityInfo``, and ``capacity.xml`` is then whatever the bucket holds under that
key (normally nothing: NoSuchKey).
"""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from datetime import datetime, timezone

from pys3local import __version__
from pys3local.providers.base import StorageCapacity

from . import xml
from .dates import http_date
from .http import HttpResponse
from .operations import Handler
from .request import S3Request
from .service import S3Service

#: The prefix Veeam reads; the GUID is fixed by the protocol.
SOSAPI_PREFIX = ".system-d26a9498-cb7c-4a87-a44a-8ae204f5ba6c/"
SYSTEM_KEY = SOSAPI_PREFIX + "system.xml"
CAPACITY_KEY = SOSAPI_PREFIX + "capacity.xml"


def system_document(capacity_known: bool) -> bytes:
    """``system.xml``: protocol version 1.0 and the one capability offered."""
    root = ET.Element("SystemInfo")  # SOSAPI documents carry no namespace
    # The protocol's examples quote these two values inside the element.
    xml.sub_element(root, "ProtocolVersion", '"1.0"')
    xml.sub_element(root, "ModelName", f'"pys3local {__version__}"')
    capabilities = xml.sub_element(root, "ProtocolCapabilities")
    xml.sub_element(capabilities, "CapacityInfo", "true" if capacity_known else "false")
    xml.sub_element(capabilities, "UploadSessions", "false")
    xml.sub_element(capabilities, "IAMSTS", "false")
    return xml.document(root)


def capacity_document(capacity: StorageCapacity) -> bytes:
    """``capacity.xml``: total, available and used bytes."""
    root = ET.Element("CapacityInfo")
    xml.sub_element(root, "Capacity", capacity.total)
    xml.sub_element(root, "Available", capacity.available)
    xml.sub_element(root, "Used", capacity.used)
    return xml.document(root)


async def _document(service: S3Service, request: S3Request) -> bytes | None:
    """The generated document for this request, or None to serve the stored object."""
    if request.key not in (SYSTEM_KEY, CAPACITY_KEY):
        return None
    bucket = service.bucket_name(request)
    await service.provider.get_bucket(bucket)  # NoSuchBucket as for any key
    capacity = await service.provider.capacity()
    if request.key == SYSTEM_KEY:
        return system_document(capacity is not None)
    return capacity_document(capacity) if capacity is not None else None


def answering_sosapi(handler: Handler, *, head: bool = False) -> Handler:
    """``handler`` (GetObject or HeadObject) with the SOSAPI keys answered first."""

    async def handle(service: S3Service, request: S3Request) -> HttpResponse:
        body = await _document(service, request)
        if body is None:
            return await handler(service, request)
        headers = {
            "content-type": "application/xml",
            "content-length": str(len(body)),
            "etag": xml.quote_etag(hashlib.md5(body, usedforsecurity=False).hexdigest()),
            "last-modified": http_date(datetime.now(timezone.utc)),
        }
        return HttpResponse(200, headers) if head else HttpResponse(200, headers, body)

    return handle
