"""GetObjectAttributes (``GET /bucket/key?attributes``): what HeadObject and ListParts
would say of a stored object, in one XML document.

The client names what it wants in ``x-amz-object-attributes`` (ETag, Checksum,
ObjectParts, StorageClass, ObjectSize) and pages through the parts with
``x-amz-max-parts`` and ``x-amz-part-number-marker``. Only what was asked for is
returned. ObjectParts is given for an object made by CompleteMultipartUpload whose
parts were recorded; it lists each part's number and size (and its checksums when
the part had some), where S3 lists parts only for objects with checksums: a part's
size is known here either way, and tools that download by part use it.
"""

from __future__ import annotations

from pys3local.errors import InvalidArgument
from pys3local.providers.base import ObjectInfo

from . import xml
from .buckets import xml_response
from .checksums import ALGORITHMS
from .completed import checksum_type_of
from .dates import http_date
from .headers import check_preconditions, parse_int
from .http import HttpResponse
from .request import S3Request
from .service import S3Service

#: The attributes S3 knows, in the order of its response document.
ATTRIBUTES = ("ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize")
_BY_LOWER = {name.lower(): name for name in ATTRIBUTES}
MAX_PARTS = 1000


def _requested(request: S3Request) -> set[str]:
    raw = request.header("x-amz-object-attributes") or ""
    names = {part.strip().lower() for part in raw.split(",") if part.strip()}
    if not names:
        raise InvalidArgument(
            "The x-amz-object-attributes header specifying the attributes to be retrieved "
            "is either missing or empty",
            ArgumentName="x-amz-object-attributes",
        )
    unknown = sorted(names - set(_BY_LOWER))
    if unknown:
        raise InvalidArgument(
            "Invalid attribute name specified.",
            ArgumentName="x-amz-object-attributes",
            ArgumentValue=unknown[0],
        )
    return {_BY_LOWER[name] for name in names}


async def get_object_attributes(service: S3Service, request: S3Request) -> HttpResponse:
    bucket = service.bucket_name(request)
    assert request.key is not None
    wanted = _requested(request)
    max_parts = min(
        parse_int(request.header("x-amz-max-parts"), "x-amz-max-parts",
                  default=MAX_PARTS, low=0, high=2**31 - 1),
        MAX_PARTS,
    )  # fmt: skip
    marker = parse_int(
        request.header("x-amz-part-number-marker"),
        "x-amz-part-number-marker",
        default=0,
        low=0,
        high=2**31 - 1,
    )
    info = await service.provider.head_object(bucket, request.key)
    check_preconditions(request.http.headers, info)
    body = attributes_document(info, wanted, max_parts=max_parts, marker=marker)
    response = xml_response(body)
    response.headers["last-modified"] = http_date(info.last_modified)
    return response


def attributes_document(
    info: ObjectInfo, wanted: set[str], *, max_parts: int, marker: int
) -> bytes:
    root = xml.root_element("GetObjectAttributesResponse")
    if "ETag" in wanted:
        # Unquoted here, unlike the ETag header and ListObjects.
        xml.sub_element(root, "ETag", info.etag)
    checksums = info.metadata.checksums
    if "Checksum" in wanted and checksums:
        element = xml.sub_element(root, "Checksum")
        for algorithm in ALGORITHMS:
            if algorithm in checksums:
                xml.sub_element(element, f"Checksum{algorithm}", checksums[algorithm])
        xml.sub_element(element, "ChecksumType", checksum_type_of(info))
    record = info.metadata.parts
    if "ObjectParts" in wanted and record is not None:
        element = xml.sub_element(root, "ObjectParts")
        page = [i for i, number in enumerate(record.numbers) if number > marker][:max_parts]
        last = record.numbers[page[-1]] if page else marker
        truncated = bool(page) and page[-1] < record.count - 1
        xml.sub_element(element, "PartNumberMarker", marker)
        xml.sub_element(element, "NextPartNumberMarker", last)
        xml.sub_element(element, "MaxParts", max_parts)
        xml.sub_element(element, "IsTruncated", "true" if truncated else "false")
        for index in page:
            part = xml.sub_element(element, "Part")
            xml.sub_element(part, "PartNumber", record.numbers[index])
            xml.sub_element(part, "Size", record.sizes[index])
            part_checksums = record.part_checksums(index)
            for algorithm in ALGORITHMS:
                if algorithm in part_checksums:
                    xml.sub_element(part, f"Checksum{algorithm}", part_checksums[algorithm])
        xml.sub_element(element, "PartsCount", record.count)
    if "StorageClass" in wanted:
        xml.sub_element(root, "StorageClass", "STANDARD")
    if "ObjectSize" in wanted:
        xml.sub_element(root, "ObjectSize", info.size)
    return xml.document(root)
