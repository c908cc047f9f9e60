"""S3 XML documents: rendering results and errors, parsing request bodies.

Documents are built with ElementTree, so text is escaped by the library, never by
hand. Request bodies are parsed with defusedxml, which refuses entity expansion and
external entities; any parse problem is MalformedXML.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import quote
from xml.parsers import expat
from xml.sax.saxutils import escape

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from pys3local.errors import MalformedXML, S3Error
from pys3local.providers.base import (
    Bucket,
    CompletedPart,
    MultipartUpload,
    ObjectInfo,
    UploadedPart,
)

from .checksums import ALGORITHMS

S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"
OWNER_ID = "pys3local"
OWNER_NAME = "pys3local"
MAX_XML_BODY = 2 * 1024 * 1024
_MAX_DEPTH = 8


def iso8601(moment: datetime) -> str:
    """S3's timestamp format in XML: ``2025-12-16T16:38:11.801Z``."""
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds")[:-6] + "Z"


def quote_etag(etag: str) -> str:
    return f'"{etag}"'


# Characters XML 1.0 cannot carry at all, even escaped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _sub(parent: ET.Element, tag: str, text: object = None) -> ET.Element:
    element = ET.SubElement(parent, tag)
    if text is not None:
        value = str(text)
        # Such text can only come from a client's malformed request echoed in an
        # error, or a file dropped into a bucket by hand; keep the document valid.
        element.text = _NOT_XML.sub("\ufffd", value) if _NOT_XML.search(value) else value
    return element


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _document(root: ET.Element) -> bytes:
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8")


def _root(tag: str) -> ET.Element:
    return ET.Element(tag, xmlns=S3_NS)


#: For documents built in the modules of their operations.
root_element, sub_element, document = _root, _sub, _document


def _owner(parent: ET.Element, tag: str = "Owner") -> None:
    owner = _sub(parent, tag)
    _sub(owner, "ID", OWNER_ID)
    _sub(owner, "DisplayName", OWNER_NAME)


def error_document(error: S3Error, resource: str, request_id: str) -> bytes:
    root = ET.Element("Error")
    _sub(root, "Code", error.code)
    _sub(root, "Message", error.message)
    for name, value in error.details.items():
        _sub(root, name, value)
    _sub(root, "Resource", resource)
    _sub(root, "RequestId", request_id)
    return _document(root)


def list_buckets_result(
    buckets: Iterable[Bucket],
    *,
    region: str | None = None,
    continuation_token: str | None = None,
    prefix: str | None = None,
) -> bytes:
    """ListAllMyBucketsResult; ``region`` is given for a paged request (each bucket
    then carries its BucketRegion)."""
    root = _root("ListAllMyBucketsResult")
    _owner(root)
    container = _sub(root, "Buckets")
    for bucket in buckets:
        element = _sub(container, "Bucket")
        _sub(element, "Name", bucket.name)
        _sub(element, "CreationDate", iso8601(bucket.creation_date))
        if region is not None:
            _sub(element, "BucketRegion", region)
    if continuation_token is not None:
        _sub(root, "ContinuationToken", continuation_token)
    if prefix is not None:
        _sub(root, "Prefix", prefix)
    return _document(root)


def location_constraint(region: str) -> bytes:
    root = _root("LocationConstraint")
    # AWS answers us-east-1 with an empty constraint; clients map empty to us-east-1.
    if region != "us-east-1":
        root.text = region
    return _document(root)


def versioning_configuration(status: str | None = None) -> bytes:
    """GetBucketVersioning's answer: no Status until versioning was ever set."""
    root = _root("VersioningConfiguration")
    if status is not None:
        _sub(root, "Status", status)
    return _document(root)


def access_control_policy() -> bytes:
    root = _root("AccessControlPolicy")
    _owner(root)
    grants = _sub(root, "AccessControlList")
    grant = _sub(grants, "Grant")
    grantee = _sub(grant, "Grantee")
    grantee.set("xmlns:xsi", "http://www.w3.org/2001/XMLSchema-instance")
    grantee.set("xsi:type", "CanonicalUser")
    _sub(grantee, "ID", OWNER_ID)
    _sub(grantee, "DisplayName", OWNER_NAME)
    _sub(grant, "Permission", "FULL_CONTROL")
    return _document(root)


@dataclass(frozen=True, slots=True)
class ListObjectsResult:
    """Everything a ListObjects (v1) or ListObjectsV2 answer shows."""

    bucket: str
    prefix: str
    delimiter: str
    max_keys: int
    encoding_type: str | None
    objects: list[ObjectInfo]
    common_prefixes: list[str]
    is_truncated: bool
    # v1
    marker: str = ""
    next_marker: str | None = None
    # v2
    start_after: str | None = None
    continuation_token: str | None = None
    next_continuation_token: str | None = None
    fetch_owner: bool = False


def _encoder(encoding_type: str | None) -> Callable[[str], str]:
    if encoding_type == "url":
        # botocore and minio-go decode with unquote_plus: "+" must be sent as %2B.
        return lambda text: quote(text, safe="/")
    return lambda text: text


def xml_text(value: str) -> str:
    """``value`` as XML character data: escaped, and what XML cannot carry even
    escaped replaced with U+FFFD."""
    if _NOT_XML.search(value):
        value = _NOT_XML.sub("\ufffd", value)
    return escape(value)


class _ListingWriter:
    """A listing document built as text, element by element.

    Listings are the one document that grows to thousands of elements, where
    ElementTree's object model costs more than listing the keys itself; text is
    still escaped by the library (``saxutils.escape``), never by hand.
    """

    def __init__(self, root: str, encoding_type: str | None) -> None:
        self._root = root
        self._parts = [f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} xmlns="{S3_NS}">']
        self.encode = _encoder(encoding_type)

    def element(self, tag: str, text: object) -> None:
        self._parts.append(f"<{tag}>{xml_text(str(text))}</{tag}>")

    def raw(self, markup: str) -> None:
        """Append markup: fixed tags, and text only as :func:`xml_text` made it."""
        self._parts.append(markup)

    def contents(self, result: ListObjectsResult, *, owner: bool) -> None:
        encode, parts = self.encode, self._parts
        owner_xml = (
            f"<Owner><ID>{OWNER_ID}</ID><DisplayName>{OWNER_NAME}</DisplayName></Owner>"
            if owner
            else ""
        )
        for info in result.objects:
            parts.append(
                f"<Contents><Key>{xml_text(encode(info.key))}</Key>"
                f"<LastModified>{iso8601(info.last_modified)}</LastModified>"
                f"<ETag>{escape(quote_etag(info.etag))}</ETag><Size>{info.size}</Size>"
                f"<StorageClass>STANDARD</StorageClass>{owner_xml}</Contents>"
            )
        for common_prefix in result.common_prefixes:
            parts.append("<CommonPrefixes>")
            self.element("Prefix", encode(common_prefix))
            parts.append("</CommonPrefixes>")

    def document(self) -> bytes:
        return ("".join(self._parts) + f"</{self._root}>").encode("utf-8")


def list_objects_result(result: ListObjectsResult) -> bytes:
    writer = _ListingWriter("ListBucketResult", result.encoding_type)
    encode = writer.encode
    writer.element("Name", result.bucket)
    writer.element("Prefix", encode(result.prefix))
    writer.element("Marker", encode(result.marker))
    if result.next_marker is not None:
        # AWS only sends NextMarker with a delimiter; sending it always costs nothing
        # and saves clients the fallback to their last key.
        writer.element("NextMarker", encode(result.next_marker))
    writer.element("MaxKeys", result.max_keys)
    if result.delimiter:
        writer.element("Delimiter", encode(result.delimiter))
    if result.encoding_type:
        writer.element("EncodingType", result.encoding_type)
    writer.element("IsTruncated", _bool(result.is_truncated))
    writer.contents(result, owner=True)
    return writer.document()


def list_objects_v2_result(result: ListObjectsResult) -> bytes:
    writer = _ListingWriter("ListBucketResult", result.encoding_type)
    encode = writer.encode
    writer.element("Name", result.bucket)
    writer.element("Prefix", encode(result.prefix))
    if result.start_after:
        writer.element("StartAfter", encode(result.start_after))
    if result.continuation_token is not None:
        writer.element("ContinuationToken", result.continuation_token)
    if result.next_continuation_token is not None:
        writer.element("NextContinuationToken", result.next_continuation_token)
    writer.element("KeyCount", len(result.objects) + len(result.common_prefixes))
    writer.element("MaxKeys", result.max_keys)
    if result.delimiter:
        writer.element("Delimiter", encode(result.delimiter))
    if result.encoding_type:
        writer.element("EncodingType", result.encoding_type)
    writer.element("IsTruncated", _bool(result.is_truncated))
    writer.contents(result, owner=result.fetch_owner)
    return writer.document()


def copy_object_result(
    etag: str,
    last_modified: datetime,
    tag: str = "CopyObjectResult",
    checksums: dict[str, str] | None = None,
) -> bytes:
    """CopyObject's answer; UploadPartCopy's with ``tag="CopyPartResult"``."""
    root = _root(tag)
    _sub(root, "LastModified", iso8601(last_modified))
    _sub(root, "ETag", quote_etag(etag))
    _checksums(root, checksums or {})
    return _document(root)


@dataclass(frozen=True, slots=True)
class Deleted:
    """One ``<Deleted>`` entry of DeleteObjects' answer."""

    key: str
    version_id: str | None = None
    delete_marker: bool = False
    delete_marker_version_id: str | None = None


def delete_result(
    deleted: list[Deleted], errors: list[tuple[str, str | None, S3Error]], quiet: bool
) -> bytes:
    """DeleteObjects' answer; ``errors`` are (key, version id asked for, error)."""
    root = _root("DeleteResult")
    if not quiet:
        for entry in deleted:
            element = _sub(root, "Deleted")
            _sub(element, "Key", entry.key)
            if entry.version_id is not None:
                _sub(element, "VersionId", entry.version_id)
            if entry.delete_marker:
                _sub(element, "DeleteMarker", "true")
            if entry.delete_marker_version_id is not None:
                _sub(element, "DeleteMarkerVersionId", entry.delete_marker_version_id)
    for key, version_id, error in errors:
        element = _sub(root, "Error")
        _sub(element, "Key", key)
        if version_id is not None:
            _sub(element, "VersionId", version_id)
        _sub(element, "Code", error.code)
        _sub(element, "Message", error.message)
    return _document(root)


def initiate_multipart_upload_result(upload: MultipartUpload) -> bytes:
    root = _root("InitiateMultipartUploadResult")
    _sub(root, "Bucket", upload.bucket)
    _sub(root, "Key", upload.key)
    _sub(root, "UploadId", upload.upload_id)
    return _document(root)


def complete_multipart_upload_result(location: str, bucket: str, info: ObjectInfo) -> bytes:
    root = _root("CompleteMultipartUploadResult")
    _sub(root, "Location", location)
    _sub(root, "Bucket", bucket)
    _sub(root, "Key", info.key)
    _sub(root, "ETag", quote_etag(info.etag))
    _checksums(root, info.metadata.checksums)
    if info.metadata.checksums:
        _sub(root, "ChecksumType", info.metadata.checksum_type or "FULL_OBJECT")
    return _document(root)


def _checksums(parent: ET.Element, values: dict[str, str]) -> None:
    """``ChecksumCRC32``-style elements, in S3's order."""
    for algorithm in ALGORITHMS:
        if algorithm in values:
            _sub(parent, f"Checksum{algorithm}", values[algorithm])


def list_parts_result(
    upload: MultipartUpload,
    parts: list[UploadedPart],
    *,
    max_parts: int,
    marker: int,
    is_truncated: bool,
) -> bytes:
    root = _root("ListPartsResult")
    _sub(root, "Bucket", upload.bucket)
    _sub(root, "Key", upload.key)
    _sub(root, "UploadId", upload.upload_id)
    _owner(root, "Initiator")
    _owner(root)
    _sub(root, "StorageClass", "STANDARD")
    if upload.metadata.checksum_algorithm is not None:
        _sub(root, "ChecksumAlgorithm", upload.metadata.checksum_algorithm)
        _sub(root, "ChecksumType", upload.metadata.checksum_type or "COMPOSITE")
    _sub(root, "PartNumberMarker", marker)
    if parts:
        _sub(root, "NextPartNumberMarker", parts[-1].part_number)
    _sub(root, "MaxParts", max_parts)
    _sub(root, "IsTruncated", _bool(is_truncated))
    for part in parts:
        element = _sub(root, "Part")
        _sub(element, "PartNumber", part.part_number)
        _sub(element, "LastModified", iso8601(part.last_modified))
        _sub(element, "ETag", quote_etag(part.etag))
        _sub(element, "Size", part.size)
        _checksums(element, part.checksums)
    return _document(root)


def list_multipart_uploads_result(
    bucket: str, prefix: str, uploads: list[MultipartUpload], max_uploads: int
) -> bytes:
    root = _root("ListMultipartUploadsResult")
    _sub(root, "Bucket", bucket)
    _sub(root, "KeyMarker", "")
    _sub(root, "UploadIdMarker", "")
    _sub(root, "Prefix", prefix)
    _sub(root, "MaxUploads", max_uploads)
    _sub(root, "IsTruncated", _bool(len(uploads) > max_uploads))
    for upload in uploads[:max_uploads]:
        element = _sub(root, "Upload")
        _sub(element, "Key", upload.key)
        _sub(element, "UploadId", upload.upload_id)
        _owner(element, "Initiator")
        _owner(element)
        _sub(element, "StorageClass", "STANDARD")
        _sub(element, "Initiated", iso8601(upload.initiated))
    return _document(root)


# Parsing ----------------------------------------------------------------------


class _Refused(Exception):
    pass


def _check_shape(body: bytes) -> None:
    """Refuse a DTD or nesting deeper than any S3 document before building a tree.

    This streaming pass keeps memory flat: a few megabytes nested a few hundred
    thousand levels deep would otherwise become a tree of that many elements.
    """
    parser = expat.ParserCreate()
    depth = 0

    def start(_name: str, _attributes: dict[str, str]) -> None:
        nonlocal depth
        depth += 1
        if depth > _MAX_DEPTH:
            raise _Refused

    def end(_name: str) -> None:
        nonlocal depth
        depth -= 1

    def refuse(*_args: object) -> None:
        raise _Refused  # no DTDs: they carry entity bombs and external entities

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    try:
        parser.Parse(body, True)
    except (expat.ExpatError, _Refused, ValueError) as exc:
        raise MalformedXML() from exc


def _parse(body: bytes) -> ET.Element:
    _check_shape(body)
    try:
        return SafeET.fromstring(body, forbid_dtd=True)
    except (ET.ParseError, DefusedXmlException, ValueError) as exc:
        raise MalformedXML() from exc


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(element: ET.Element, name: str) -> list[ET.Element]:
    return [child for child in element if _local(child.tag) == name]


def _text(element: ET.Element, name: str) -> str | None:
    found = _children(element, name)
    return found[0].text or "" if found else None


@dataclass(frozen=True, slots=True)
class DeleteRequest:
    keys: list[str]
    quiet: bool
    #: The ``VersionId`` given with each key (None where there is none).
    version_ids: list[str | None]


def parse_delete(body: bytes, max_keys: int = 1000) -> DeleteRequest:
    """Parse a DeleteObjects document (blocking: call it off the event loop)."""
    root = _parse(body)
    if _local(root.tag) != "Delete":
        raise MalformedXML()
    objects = _children(root, "Object")
    if not objects or len(objects) > max_keys:
        raise MalformedXML()
    keys = []
    version_ids: list[str | None] = []
    for element in objects:
        key = _text(element, "Key")
        if key is None:
            raise MalformedXML()
        keys.append(key)
        version_id = _text(element, "VersionId")
        version_ids.append(version_id.strip() if version_id else None)
    quiet = (_text(root, "Quiet") or "").strip().lower() == "true"
    return DeleteRequest(keys, quiet, version_ids)


def parse_complete_multipart_upload(body: bytes) -> list[CompletedPart]:
    """Parse a CompleteMultipartUpload document (blocking: call it off the event loop)."""
    root = _parse(body)
    if _local(root.tag) != "CompleteMultipartUpload":
        raise MalformedXML()
    parts = []
    for element in _children(root, "Part"):
        number = _text(element, "PartNumber")
        etag = _text(element, "ETag")
        if number is None or etag is None or not number.strip().isdigit():
            raise MalformedXML()
        named = {}
        for algorithm in ALGORITHMS:
            value = _text(element, f"Checksum{algorithm}")
            if value is not None:
                named[algorithm] = value.strip()
        parts.append(CompletedPart(int(number), etag.strip().strip('"').lower(), named))
    if not parts:
        raise MalformedXML()
    return parts
