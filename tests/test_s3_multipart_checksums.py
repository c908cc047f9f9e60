"""Additional checksums on multipart uploads through boto3: the algorithm echoed on
CreateMultipartUpload, part checksums on UploadPart and ListParts, composite and
full-object checksums on CompleteMultipartUpload, HeadObject, GetObject and
GetObjectAttributes."""

from __future__ import annotations

import base64
import hashlib
import os

import pytest
from awscrt import checksums as crt
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

MiB = 1024 * 1024
_DIGESTS = {
    "SHA1": lambda data: hashlib.sha1(data).digest(),
    "SHA256": lambda data: hashlib.sha256(data).digest(),
    "CRC32": lambda data: crt.crc32(data).to_bytes(4, "big"),
    "CRC32C": lambda data: crt.crc32c(data).to_bytes(4, "big"),
    "CRC64NVME": lambda data: crt.crc64nvme(data).to_bytes(8, "big"),
}


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def checksum(algorithm: str, data: bytes) -> str:
    return b64(_DIGESTS[algorithm](data))


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response = exc.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def upload_with_checksums(
    s3, bucket: str, key: str, algorithm: str, kind: str | None, bodies: list[bytes]
) -> tuple[dict, dict, list[dict]]:
    """Create (with ``kind`` if given), upload ``bodies`` as parts with ``algorithm``;
    return the create answer, the ListParts answer and Complete's part list."""
    options = {"ChecksumType": kind} if kind else {}
    created = s3.create_multipart_upload(
        Bucket=bucket, Key=key, ChecksumAlgorithm=algorithm, **options
    )
    upload_id = created["UploadId"]
    parts = []
    for number, body in enumerate(bodies, start=1):
        answer = s3.upload_part(
            Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body,
            ChecksumAlgorithm=algorithm,
        )  # fmt: skip
        assert answer[f"Checksum{algorithm}"] == checksum(algorithm, body)
        parts.append(
            {"PartNumber": number, "ETag": answer["ETag"],
             f"Checksum{algorithm}": answer[f"Checksum{algorithm}"]}
        )  # fmt: skip
    listed = s3.list_parts(Bucket=bucket, Key=key, UploadId=upload_id)
    return created, listed, parts


@pytest.mark.parametrize("algorithm", ["SHA1", "SHA256", "CRC32", "CRC32C"])
def test_CompleteMultipartUpload_composite_checksum(s3, bucket, algorithm) -> None:
    """A COMPOSITE upload: the algorithm is echoed, parts carry their checksums, and
    the object's checksum is the checksum of the part digests, ``-N``, on Complete,
    HEAD, GET and GetObjectAttributes."""
    bodies = [os.urandom(5 * MiB), b"second and last part"]
    created, listed, parts = upload_with_checksums(s3, bucket, "c", algorithm, None, bodies)
    assert (created["ChecksumAlgorithm"], created["ChecksumType"]) == (algorithm, "COMPOSITE")
    assert (listed["ChecksumAlgorithm"], listed["ChecksumType"]) == (algorithm, "COMPOSITE")
    assert [p[f"Checksum{algorithm}"] for p in listed["Parts"]] == [
        checksum(algorithm, b) for b in bodies
    ]
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="c", UploadId=created["UploadId"], MultipartUpload={"Parts": parts}
    )
    joined = b"".join(_DIGESTS[algorithm](b) for b in bodies)
    expected = f"{checksum(algorithm, joined)}-2"
    assert (done[f"Checksum{algorithm}"], done["ChecksumType"]) == (expected, "COMPOSITE")
    head = s3.head_object(Bucket=bucket, Key="c", ChecksumMode="ENABLED")
    assert (head[f"Checksum{algorithm}"], head["ChecksumType"]) == (expected, "COMPOSITE")
    got = s3.get_object(Bucket=bucket, Key="c", ChecksumMode="ENABLED")
    assert got[f"Checksum{algorithm}"] == expected
    assert got["Body"].read() == b"".join(bodies)
    second = s3.get_object(Bucket=bucket, Key="c", PartNumber=2, ChecksumMode="ENABLED")
    assert second[f"Checksum{algorithm}"] == checksum(algorithm, bodies[1])
    attributes = s3.get_object_attributes(
        Bucket=bucket, Key="c", ObjectAttributes=["Checksum", "ObjectParts"]
    )
    assert attributes["Checksum"] == {f"Checksum{algorithm}": expected, "ChecksumType": "COMPOSITE"}
    assert [p[f"Checksum{algorithm}"] for p in attributes["ObjectParts"]["Parts"]] == [
        checksum(algorithm, b) for b in bodies
    ]


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "CRC64NVME"])
def test_CompleteMultipartUpload_full_object_checksum(s3, bucket, algorithm) -> None:
    """A FULL_OBJECT upload gets the CRC of the whole body, combined from the part
    CRCs; the client's own full-object value is checked against it."""
    bodies = [os.urandom(5 * MiB), os.urandom(5 * MiB), os.urandom(777)]
    created, _listed, parts = upload_with_checksums(
        s3, bucket, "f", algorithm, "FULL_OBJECT", bodies
    )
    assert (created["ChecksumAlgorithm"], created["ChecksumType"]) == (algorithm, "FULL_OBJECT")
    whole = checksum(algorithm, b"".join(bodies))
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="f", UploadId=created["UploadId"], MultipartUpload={"Parts": parts},
        ChecksumType="FULL_OBJECT", **{f"Checksum{algorithm}": whole},
    )  # fmt: skip
    assert (done[f"Checksum{algorithm}"], done["ChecksumType"]) == (whole, "FULL_OBJECT")
    head = s3.head_object(Bucket=bucket, Key="f", ChecksumMode="ENABLED")
    assert (head[f"Checksum{algorithm}"], head["ChecksumType"]) == (whole, "FULL_OBJECT")
    # boto3 validates a full-object checksum on GET against the body it receives.
    got = s3.get_object(Bucket=bucket, Key="f", ChecksumMode="ENABLED")
    assert got["Body"].read() == b"".join(bodies)


def test_CompleteMultipartUpload_wrong_full_object_checksum_is_BadDigest(s3, bucket) -> None:
    """A full-object checksum on Complete that does not match the parts is BadDigest."""
    bodies = [os.urandom(5 * MiB), b"end"]
    created, _listed, parts = upload_with_checksums(
        s3, bucket, "bad", "CRC32", "FULL_OBJECT", bodies
    )
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(
            Bucket=bucket, Key="bad", UploadId=created["UploadId"],
            MultipartUpload={"Parts": parts}, ChecksumCRC32=checksum("CRC32", b"other"),
        )  # fmt: skip
    assert error_of(exc) == ("BadDigest", 400)


def test_CompleteMultipartUpload_wrong_part_checksum_is_InvalidPart(s3, bucket) -> None:
    """A part checksum named in Complete that is not the stored one is InvalidPart."""
    bodies = [os.urandom(5 * MiB), b"end"]
    created, _listed, parts = upload_with_checksums(s3, bucket, "wrong", "SHA256", None, bodies)
    parts[1]["ChecksumSHA256"] = checksum("SHA256", b"not the part")
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(
            Bucket=bucket, Key="wrong", UploadId=created["UploadId"],
            MultipartUpload={"Parts": parts},
        )  # fmt: skip
    assert error_of(exc) == ("InvalidPart", 400)


def test_UploadPart_without_the_uploads_algorithm_is_refused(s3, bucket) -> None:
    """A part of a SHA256 upload sent with only a CRC32 is InvalidRequest; bad
    creation options are InvalidRequest."""
    created = s3.create_multipart_upload(Bucket=bucket, Key="alg", ChecksumAlgorithm="SHA256")
    with pytest.raises(ClientError) as exc:
        s3.upload_part(
            Bucket=bucket, Key="alg", UploadId=created["UploadId"], PartNumber=1, Body=b"x",
            ChecksumAlgorithm="CRC32",
        )  # fmt: skip
    assert error_of(exc) == ("InvalidRequest", 400)
    with pytest.raises(ClientError) as exc:
        s3.create_multipart_upload(
            Bucket=bucket, Key="alg", ChecksumAlgorithm="SHA256", ChecksumType="FULL_OBJECT"
        )
    assert error_of(exc) == ("InvalidRequest", 400)


def test_upload_file_with_boto3_checksums_reads_back(s3, bucket, tmp_path) -> None:
    """boto3's managed upload with its default checksums completes, and HEAD with
    checksum mode gives the object checksum it asked for."""
    source = tmp_path / "src.bin"
    data = os.urandom(11 * MiB)
    source.write_bytes(data)
    config = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB)
    s3.upload_file(str(source), bucket, "managed", Config=config)
    head = s3.head_object(Bucket=bucket, Key="managed", ChecksumMode="ENABLED")
    assert head["ChecksumType"] in ("FULL_OBJECT", "COMPOSITE")
    if head["ChecksumType"] == "FULL_OBJECT":
        assert head["ChecksumCRC32"] == checksum("CRC32", data)
    else:
        assert head["ChecksumCRC32"].endswith("-3")


def test_UploadPartCopy_gives_the_part_the_uploads_checksum(s3, bucket) -> None:
    """A part copied into a SHA256 upload gets its SHA256 (in CopyPartResult and
    ListParts), so the object still gets its composite checksum."""
    source = os.urandom(5 * MiB)
    s3.put_object(Bucket=bucket, Key="source", Body=source)
    created = s3.create_multipart_upload(Bucket=bucket, Key="copied", ChecksumAlgorithm="SHA256")
    upload_id = created["UploadId"]
    copied = s3.upload_part_copy(
        Bucket=bucket, Key="copied", UploadId=upload_id, PartNumber=1,
        CopySource={"Bucket": bucket, "Key": "source"},
    )["CopyPartResult"]  # fmt: skip
    assert copied["ChecksumSHA256"] == checksum("SHA256", source)
    sent = s3.upload_part(
        Bucket=bucket, Key="copied", UploadId=upload_id, PartNumber=2, Body=b"tail",
        ChecksumAlgorithm="SHA256",
    )  # fmt: skip
    listed = s3.list_parts(Bucket=bucket, Key="copied", UploadId=upload_id)["Parts"]
    assert listed[0]["ChecksumSHA256"] == checksum("SHA256", source)
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="copied", UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": copied["ETag"]},
                                   {"PartNumber": 2, "ETag": sent["ETag"]}]},
    )  # fmt: skip
    joined = hashlib.sha256(source).digest() + hashlib.sha256(b"tail").digest()
    assert done["ChecksumSHA256"] == f"{checksum('SHA256', joined)}-2"
