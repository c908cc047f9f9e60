"""Put/Get/DeleteBucketLifecycleConfiguration through boto3 and raw requests against a
real ``pys3local serve``: rules round-trip, documents without the S3 namespace,
AWS's error codes for bad rules, durability across a restart, the rights each
operation needs, and NotImplemented on a backend without a sweep."""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest
from botocore.exceptions import ClientError
from conftest import RunningServer
from keys_support import error_code, key_client, server_with_keys
from reliability import sign

RULES = [
    {
        "ID": "old-versions",
        "Status": "Enabled",
        "Filter": {"Prefix": "backups/"},
        "NoncurrentVersionExpiration": {"NoncurrentDays": 30, "NewerNoncurrentVersions": 3},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
    },
    {
        "ID": "markers",
        "Status": "Enabled",
        "Filter": {"Prefix": ""},
        "Expiration": {"ExpiredObjectDeleteMarker": True},
    },
    {"ID": "tmp", "Status": "Disabled", "Prefix": "tmp/", "Expiration": {"Days": 1}},
    {
        "ID": "until",
        "Status": "Enabled",
        "Filter": {"Prefix": "logs/"},
        "Expiration": {"Date": datetime(2030, 1, 1, tzinfo=timezone.utc)},
    },
]


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return exc.value.response["Error"]["Code"]


def put_raw(
    server: RunningServer, bucket: str, body: bytes, *, content_md5: bool = True
) -> httpx.Response:
    """PutBucketLifecycleConfiguration with exactly ``body`` (boto3 always adds the
    namespace and checks shapes itself), with its Content-MD5 unless told not to."""
    target = f"/{bucket}?lifecycle="
    headers = {"content-type": "application/xml"}
    if content_md5:
        headers["content-md5"] = base64.b64encode(hashlib.md5(body).digest()).decode()
    headers = sign(server, "PUT", target, headers, body)
    return httpx.put(server.endpoint + target, content=body, headers=headers, timeout=10)


def rule_xml(inner: str, *, status: str = "Enabled", scope: str = "<Filter/>") -> bytes:
    return (
        f"<LifecycleConfiguration><Rule><ID>r</ID>{scope}<Status>{status}</Status>"
        f"{inner}</Rule></LifecycleConfiguration>"
    ).encode()


def test_PutBucketLifecycleConfiguration_rules_round_trip(s3, bucket) -> None:
    """Every rule kind (Filter and legacy Prefix, Disabled included) is answered back by
    GetBucketLifecycleConfiguration as it was given."""
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": RULES})
    got = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert got == RULES


def test_PutBucketLifecycleConfiguration_without_namespace(server, s3, bucket) -> None:
    """A document without the S3 namespace (as some backup tools send) is accepted."""
    body = rule_xml(
        "<NoncurrentVersionExpiration><NoncurrentDays>5</NoncurrentDays>"
        "</NoncurrentVersionExpiration>",
        scope="<Filter><Prefix>a/</Prefix></Filter>",
    )
    answer = put_raw(server, bucket, body)
    assert answer.status_code == 200, answer.text
    (rule,) = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert rule["Filter"] == {"Prefix": "a/"}
    assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": 5}


def test_PutBucketLifecycleConfiguration_needs_Content_MD5_or_a_checksum(
    server, s3, bucket
) -> None:
    """As on AWS, a document without Content-MD5 or an x-amz-checksum-* is
    InvalidRequest, and nothing is stored."""
    answer = put_raw(server, bucket, rule_xml(_EXPIRE), content_md5=False)
    assert answer.status_code == 400
    assert "<Code>InvalidRequest</Code>" in answer.text
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert code(exc) == "NoSuchLifecycleConfiguration"


def test_GetBucketLifecycleConfiguration_and_DeleteBucketLifecycle(s3, bucket) -> None:
    """No rules: NoSuchLifecycleConfiguration (404); DeleteBucketLifecycle removes them
    and is 204 with nothing to remove; a missing bucket is NoSuchBucket."""
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert code(exc) == "NoSuchLifecycleConfiguration"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": RULES})
    answer = s3.delete_bucket_lifecycle(Bucket=bucket)
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert code(exc) == "NoSuchLifecycleConfiguration"
    s3.delete_bucket_lifecycle(Bucket=bucket)  # nothing to delete: still fine
    for call in (s3.get_bucket_lifecycle_configuration, s3.delete_bucket_lifecycle):
        with pytest.raises(ClientError) as exc:
            call(Bucket="no-such-bucket-here")
        assert code(exc) == "NoSuchBucket"


_EXPIRE = "<Expiration><Days>1</Days></Expiration>"

BAD_RULES = {
    "not xml": (b"<LifecycleConfiguration><Rule>", "MalformedXML"),
    "no rule": (b"<LifecycleConfiguration></LifecycleConfiguration>", "MalformedXML"),
    "other root": (b"<Lifecycle><Rule/></Lifecycle>", "MalformedXML"),
    "bad status": (rule_xml(_EXPIRE, status="On"), "MalformedXML"),
    "no filter nor prefix": (rule_xml(_EXPIRE, scope=""), "MalformedXML"),
    "filter and prefix": (rule_xml(_EXPIRE, scope="<Filter/><Prefix>a</Prefix>"), "MalformedXML"),
    "two filter elements": (
        rule_xml(_EXPIRE, scope="<Filter><Prefix>a</Prefix><Prefix>b</Prefix></Filter>"),
        "MalformedXML",
    ),
    "zero days": (rule_xml("<Expiration><Days>0</Days></Expiration>"), "InvalidArgument"),
    "negative days": (rule_xml("<Expiration><Days>-3</Days></Expiration>"), "InvalidArgument"),
    "days not a number": (rule_xml("<Expiration><Days>x</Days></Expiration>"), "MalformedXML"),
    "days and date": (
        rule_xml("<Expiration><Days>1</Days><Date>2030-01-01T00:00:00Z</Date></Expiration>"),
        "MalformedXML",
    ),
    "marker with days": (
        rule_xml(
            "<Expiration><Days>1</Days>"
            "<ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>"
        ),
        "MalformedXML",
    ),
    "empty expiration": (rule_xml("<Expiration/>"), "MalformedXML"),
    "date not midnight": (
        rule_xml("<Expiration><Date>2030-01-01T10:00:00Z</Date></Expiration>"),
        "InvalidArgument",
    ),
    "zero noncurrent days": (
        rule_xml(
            "<NoncurrentVersionExpiration><NoncurrentDays>0</NoncurrentDays>"
            "</NoncurrentVersionExpiration>"
        ),
        "InvalidArgument",
    ),
    "too many newer versions": (
        rule_xml(
            "<NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays>"
            "<NewerNoncurrentVersions>101</NewerNoncurrentVersions>"
            "</NoncurrentVersionExpiration>"
        ),
        "InvalidArgument",
    ),
    "zero abort days": (
        rule_xml(
            "<AbortIncompleteMultipartUpload><DaysAfterInitiation>0</DaysAfterInitiation>"
            "</AbortIncompleteMultipartUpload>"
        ),
        "InvalidArgument",
    ),
    "no action": (rule_xml(""), "InvalidRequest"),
    "id too long": (
        rule_xml(_EXPIRE).replace(b"<ID>r</ID>", b"<ID>" + b"i" * 256 + b"</ID>"),
        "InvalidArgument",
    ),
    "same id twice": (
        b"<LifecycleConfiguration>"
        + 2
        * (b"<Rule><ID>same</ID><Filter/><Status>Enabled</Status>" + _EXPIRE.encode() + b"</Rule>")
        + b"</LifecycleConfiguration>",
        "InvalidArgument",
    ),
    "tag filter": (
        rule_xml(_EXPIRE, scope="<Filter><Tag><Key>k</Key><Value>v</Value></Tag></Filter>"),
        "NotImplemented",
    ),
    "transition": (
        rule_xml("<Transition><Days>30</Days><StorageClass>GLACIER</StorageClass></Transition>"),
        "NotImplemented",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_RULES))
def test_PutBucketLifecycleConfiguration_refuses_bad_rules(server, s3, bucket, case) -> None:
    """Each malformed or invalid rule gets AWS's error code (400, or 501 for what the
    sweep does not apply), and nothing is stored."""
    body, expected = BAD_RULES[case]
    answer = put_raw(server, bucket, body)
    assert f"<Code>{expected}</Code>" in answer.text, answer.text
    assert answer.status_code == (501 if expected == "NotImplemented" else 400)
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert code(exc) == "NoSuchLifecycleConfiguration"


def test_PutBucketLifecycleConfiguration_survives_a_restart(make_server, tmp_path: Path) -> None:
    """The rules are stored with the bucket's settings: a new server on the same data
    directory answers them (the default bucket in default mode included)."""
    data = tmp_path / "data"
    first = make_server(data_dir=data)
    first.client().put_bucket_lifecycle_configuration(
        Bucket="default", LifecycleConfiguration={"Rules": RULES}
    )
    first.stop()
    again = make_server(data_dir=data)
    assert again.client().get_bucket_lifecycle_configuration(Bucket="default")["Rules"] == RULES


def test_lifecycle_operations_need_their_rights(tmp_path_factory) -> None:
    """Put and DeleteBucketLifecycle need admin; GetBucketLifecycleConfiguration needs
    read."""
    rights = {"reader": "read", "writer": "read,write,delete", "admin": "admin"}
    with server_with_keys(tmp_path_factory, "life", rights) as (server, keys):
        client = {name: key_client(server, key) for name, key in keys.items()}
        config = {"Bucket": "life", "LifecycleConfiguration": {"Rules": RULES[:1]}}
        for name in ("reader", "writer"):
            put = client[name].put_bucket_lifecycle_configuration
            assert error_code(put, **config) == "AccessDenied"
            assert error_code(client[name].delete_bucket_lifecycle, Bucket="life") == "AccessDenied"
        client["admin"].put_bucket_lifecycle_configuration(**config)
        got = client["reader"].get_bucket_lifecycle_configuration(Bucket="life")["Rules"]
        assert got == RULES[:1]
        client["admin"].delete_bucket_lifecycle(Bucket="life")


def test_PutBucketLifecycleConfiguration_is_NotImplemented_on_Drime(drime) -> None:
    """The Drime backend cannot apply rules: Put answers NotImplemented naming it, Get
    truthfully answers that there are none."""
    s3 = drime.client()
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_lifecycle_configuration(
            Bucket="default", LifecycleConfiguration={"Rules": RULES[:1]}
        )
    assert code(exc) == "NotImplemented"
    assert "Drime" in exc.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_lifecycle_configuration(Bucket="default")
    assert code(exc) == "NoSuchLifecycleConfiguration"
