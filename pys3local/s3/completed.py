"""Objects made by CompleteMultipartUpload, in S3 terms: a retried Complete, and
reads of one part (``GetObject``/``HeadObject`` with ``partNumber``).

The provider keeps each such object's :class:`~pys3local.providers.parts.PartsRecord`
(upload id, part sizes and checksums) in its metadata; this module turns it into
answers.
"""

from __future__ import annotations

from pys3local.errors import InvalidPart, NoSuchKey, NotImplementedOperation, SlowDown
from pys3local.providers.base import (
    MAX_PART_NUMBER,
    ByteRange,
    CompletedPart,
    ObjectInfo,
    ObjectReader,
    RangeRequest,
    multipart_etag,
)

from .checksums import header_name
from .headers import multipart_parts_count, parse_int
from .request import S3Request
from .service import S3Service


async def earlier_completion(
    service: S3Service, bucket: str, key: str, upload_id: str, parts: list[CompletedPart]
) -> ObjectInfo | None:
    """The object a Complete of ``upload_id`` with these ``parts`` already made, if
    it is still the one stored under ``key``; None otherwise.

    The upload is gone once completed, so a retried Complete (its first answer was
    lost) would be NoSuchUpload; S3 answers it with the same result as long as the
    object is the one that upload made. An object without a parts record (made by a
    store that keeps its own, like the ``s3`` backend's upstream) is that object when
    its ETag is the one these parts make: the MD5 of their MD5s, ``-N``.
    """
    try:
        info = await service.provider.head_object(bucket, key)
    except NoSuchKey:
        return None
    record = info.metadata.parts
    if record is None:
        return info if info.etag == _parts_etag(parts) else None
    if record.upload_id != upload_id:
        return None
    if tuple(p.part_number for p in parts) != record.numbers:
        return None
    return info


def _parts_etag(parts: list[CompletedPart]) -> str | None:
    """The multipart ETag of an object made of ``parts``; None if a part's ETag is
    not an MD5 (then no object can be shown to be made of them)."""
    digests = [p.etag.strip('"').lower() for p in parts]
    if not digests or any(len(d) != 32 or d.strip(_HEX) for d in digests):
        return None
    return multipart_etag(digests)


_HEX = "0123456789abcdef"


def requested_part(request: S3Request) -> int | None:
    """The ``partNumber`` of a GetObject or HeadObject, or None without one."""
    if "partNumber" not in request.query:
        return None
    return parse_int(
        request.query.get("partNumber"), "partNumber", default=0, low=1, high=MAX_PART_NUMBER
    )


def part_range(info: ObjectInfo, number: int) -> ByteRange | None:
    """The bytes of part ``number`` of the object; None for the whole (empty) object.

    Raises InvalidPart for a part the object does not have (any number above 1 on an
    object not uploaded in parts), NotImplemented for an object uploaded in parts
    whose part boundaries were not recorded (stored before they were).
    """
    record = info.metadata.parts
    if record is None:
        if multipart_parts_count(info.etag) not in (None, 1):
            raise NotImplementedOperation(
                "The part boundaries of this object were not recorded when it was stored."
            )
        if number != 1:
            raise InvalidPart(PartNumber=str(number))
        return ByteRange(0, info.size - 1) if info.size else None
    index = record.index_of(number)
    if index is None or record.total_size() != info.size:
        raise InvalidPart(PartNumber=str(number))
    return record.span(index)


def as_range_request(span: ByteRange | None) -> RangeRequest | None:
    return None if span is None else RangeRequest(span.start, span.end)


def part_checksums(info: ObjectInfo, number: int) -> dict[str, str]:
    """The verified checksums of part ``number`` (a whole single-part object's own)."""
    record = info.metadata.parts
    if record is None:
        return dict(info.metadata.checksums)
    index = record.index_of(number)
    return {} if index is None else record.part_checksums(index)


#: How often a part read starts again when the object is replaced under it.
_OPEN_ATTEMPTS = 5


async def open_part(
    service: S3Service, bucket: str, key: str, number: int
) -> tuple[ObjectReader, ByteRange | None, int | None]:
    """Open the bytes of part ``number``; return the reader, the part's span and, for
    a backend whose store locates parts itself, the object's parts count.

    The span comes from the record of the version actually opened (or the store's
    answer for the object of the same ETag): if the object was replaced between
    locating the part and opening it, the read starts again, so the bytes always
    belong to the part asked for.
    """
    located = await service.provider.locate_part(bucket, key, number)
    if located is not None:
        for _ in range(_OPEN_ATTEMPTS):
            reader = await service.provider.get_object(bucket, key, as_range_request(located.span))
            if reader.info.etag == located.info.etag:
                return reader, located.span, located.count
            await reader.aclose()
            located = await service.provider.locate_part(bucket, key, number)
            if located is None:
                break
        raise SlowDown("The object changed while its part was being opened; try again.")
    span = part_range(await service.provider.head_object(bucket, key), number)
    for _ in range(_OPEN_ATTEMPTS):
        reader = await service.provider.get_object(bucket, key, as_range_request(span))
        try:
            opened = part_range(reader.info, number)
        except BaseException:
            await reader.aclose()
            raise
        if opened == span:
            return reader, span, None
        await reader.aclose()
        span = opened
    raise SlowDown("The object changed while its part was being opened; try again.")


async def head_part(
    service: S3Service, bucket: str, key: str, info: ObjectInfo, number: int
) -> tuple[ByteRange | None, int | None]:
    """The span of part ``number`` of the object ``info`` describes and, for a backend
    whose store locates parts itself, the object's parts count."""
    located = await service.provider.locate_part(bucket, key, number)
    if located is None or located.info.etag != info.etag:
        # No store's answer, or not about the object ``info`` describes (replaced
        # since, or an older version): only what ``info`` itself says can answer.
        return part_range(info, number), None
    return located.span, located.count


def part_headers(
    info: ObjectInfo,
    number: int,
    span: ByteRange | None,
    with_checksums: bool,
    count: int | None = None,
) -> dict[str, str]:
    """The headers of a part read: its length and place, the object's parts count
    (``count`` where the store gave it), and (when asked for) the part's checksums."""
    record = info.metadata.parts
    if count is None:
        count = record.count if record is not None else 1
    headers = {
        "content-length": str(span.length if span is not None else 0),
        "x-amz-mp-parts-count": str(count),
    }
    if span is not None:
        headers["content-range"] = f"bytes {span.start}-{span.end}/{info.size}"
    if with_checksums:
        for algorithm, value in part_checksums(info, number).items():
            headers[header_name(algorithm)] = value
    return headers


def checksum_type_of(info: ObjectInfo) -> str:
    """What the object's checksums cover: ``COMPOSITE`` (a checksum of the part
    checksums, ``<base64>-N``) or ``FULL_OBJECT`` (the whole body)."""
    return info.metadata.checksum_type or "FULL_OBJECT"
