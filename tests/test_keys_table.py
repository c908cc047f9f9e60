"""A key limited to bucket A is refused on bucket B for every S3 operation the server
implements, whichever way the request is signed (SigV2, SigV4, presigned V2 and V4),
and bucket B is left exactly as it was."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from botocore.auth import HmacV1Auth, HmacV1QueryAuth, S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from conftest import RunningServer, start_server
from keys_support import Key, add_key, key_client, object_state

from pys3local.s3.operations import Operation

_O = Operation
SIGNERS = ("s3v4", "s3v4-query", "hmacv1", "hmacv1-query")
UPLOAD = "{upload}"  # replaced by the id of an upload in progress in bucket B
_DELETE_BODY = b"<Delete><Object><Key>obj</Key></Object></Delete>"
_COMPLETE_BODY = (
    b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>x</ETag></Part>"
    b"</CompleteMultipartUpload>"
)


@dataclass(frozen=True)
class Call:
    """One request on bucket B (``tbl-b``)."""

    method: str
    path: str
    query: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


#: Every operation, as a request against bucket B. A new Operation fails
#: test_table_covers_every_operation until it has a row here.
CALLS: dict[Operation | str, Call] = {
    _O.LIST_BUCKETS: Call("GET", "/"),
    _O.CREATE_BUCKET: Call("PUT", "/tbl-b"),
    _O.DELETE_BUCKET: Call("DELETE", "/tbl-b"),
    _O.HEAD_BUCKET: Call("HEAD", "/tbl-b"),
    _O.GET_BUCKET_LOCATION: Call("GET", "/tbl-b", "location"),
    _O.GET_BUCKET_VERSIONING: Call("GET", "/tbl-b", "versioning"),
    _O.PUT_BUCKET_VERSIONING: Call(
        "PUT",
        "/tbl-b",
        "versioning",
        body=b"<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>",
    ),
    _O.LIST_OBJECT_VERSIONS: Call("GET", "/tbl-b", "versions"),
    _O.GET_BUCKET_ACL: Call("GET", "/tbl-b", "acl"),
    _O.GET_OBJECT_ACL: Call("GET", "/tbl-b/obj", "acl"),
    _O.PUT_BUCKET_ACL: Call("PUT", "/tbl-b", "acl", {"x-amz-acl": "private"}),
    _O.PUT_OBJECT_ACL: Call("PUT", "/tbl-b/obj", "acl", {"x-amz-acl": "private"}),
    _O.GET_OBJECT_TAGGING: Call("GET", "/tbl-b/obj", "tagging"),
    _O.PUT_OBJECT_TAGGING: Call(
        "PUT",
        "/tbl-b/obj",
        "tagging",
        body=b"<Tagging><TagSet><Tag><Key>a</Key><Value>b</Value></Tag></TagSet></Tagging>",
    ),
    _O.DELETE_OBJECT_TAGGING: Call("DELETE", "/tbl-b/obj", "tagging"),
    _O.GET_OBJECT_ATTRIBUTES: Call(
        "GET", "/tbl-b/obj", "attributes", {"x-amz-object-attributes": "ETag,ObjectSize"}
    ),
    _O.GET_BUCKET_POLICY: Call("GET", "/tbl-b", "policy"),
    _O.GET_BUCKET_CORS: Call("GET", "/tbl-b", "cors"),
    _O.GET_BUCKET_LIFECYCLE_CONFIGURATION: Call("GET", "/tbl-b", "lifecycle"),
    _O.PUT_BUCKET_LIFECYCLE_CONFIGURATION: Call(
        "PUT",
        "/tbl-b",
        "lifecycle",
        body=b"<LifecycleConfiguration><Rule><ID>r</ID><Filter><Prefix></Prefix></Filter>"
        b"<Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>"
        b"</LifecycleConfiguration>",
    ),
    _O.DELETE_BUCKET_LIFECYCLE: Call("DELETE", "/tbl-b", "lifecycle"),
    _O.GET_BUCKET_TAGGING: Call("GET", "/tbl-b", "tagging"),
    _O.GET_BUCKET_ENCRYPTION: Call("GET", "/tbl-b", "encryption"),
    _O.GET_OBJECT_LOCK_CONFIGURATION: Call("GET", "/tbl-b", "object-lock"),
    _O.PUT_OBJECT_LOCK_CONFIGURATION: Call(
        "PUT",
        "/tbl-b",
        "object-lock",
        body=b"<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled>"
        b"</ObjectLockConfiguration>",
    ),
    _O.GET_OBJECT_RETENTION: Call("GET", "/tbl-b/obj", "retention"),
    _O.PUT_OBJECT_RETENTION: Call("PUT", "/tbl-b/obj", "retention", body=b"<Retention/>"),
    _O.GET_OBJECT_LEGAL_HOLD: Call("GET", "/tbl-b/obj", "legal-hold"),
    _O.PUT_OBJECT_LEGAL_HOLD: Call(
        "PUT", "/tbl-b/obj", "legal-hold", body=b"<LegalHold><Status>ON</Status></LegalHold>"
    ),
    _O.LIST_OBJECTS: Call("GET", "/tbl-b"),
    _O.LIST_OBJECTS_V2: Call("GET", "/tbl-b", "list-type=2"),
    _O.GET_OBJECT: Call("GET", "/tbl-b/obj"),
    _O.HEAD_OBJECT: Call("HEAD", "/tbl-b/obj"),
    _O.PUT_OBJECT: Call("PUT", "/tbl-b/obj", body=b"overwritten"),
    _O.COPY_OBJECT: Call("PUT", "/tbl-b/obj", headers={"x-amz-copy-source": "/tbl-a/src"}),
    _O.DELETE_OBJECT: Call("DELETE", "/tbl-b/obj"),
    _O.DELETE_OBJECTS: Call(
        "POST",
        "/tbl-b",
        "delete",
        {"content-md5": base64.b64encode(hashlib.md5(_DELETE_BODY).digest()).decode()},
        _DELETE_BODY,
    ),
    _O.CREATE_MULTIPART_UPLOAD: Call("POST", "/tbl-b/new", "uploads"),
    _O.UPLOAD_PART: Call("PUT", "/tbl-b/obj", f"partNumber=1&uploadId={UPLOAD}", body=b"part"),
    _O.UPLOAD_PART_COPY: Call(
        "PUT",
        "/tbl-b/obj",
        f"partNumber=1&uploadId={UPLOAD}",
        {"x-amz-copy-source": "/tbl-a/src"},
    ),
    _O.COMPLETE_MULTIPART_UPLOAD: Call(
        "POST", "/tbl-b/obj", f"uploadId={UPLOAD}", body=_COMPLETE_BODY
    ),
    _O.ABORT_MULTIPART_UPLOAD: Call("DELETE", "/tbl-b/obj", f"uploadId={UPLOAD}"),
    _O.LIST_PARTS: Call("GET", "/tbl-b/obj", f"uploadId={UPLOAD}"),
    _O.LIST_MULTIPART_UPLOADS: Call("GET", "/tbl-b", "uploads"),
    # Not operations, but ways into bucket B all the same.
    "CopyObject out of B": Call(
        "PUT", "/tbl-a/stolen", headers={"x-amz-copy-source": "/tbl-b/obj"}
    ),
    "unimplemented sub-resource": Call("GET", "/tbl-b", "website"),
}


def signed(server: RunningServer, key: Key, signer: str, call: Call, upload: str) -> httpx.Request:
    """``call`` signed by botocore's own signer with ``key``, ready to send."""
    credentials = Credentials(key.access_key_id, key.secret)
    query = call.query.replace(UPLOAD, upload)
    url = server.endpoint + call.path + (f"?{query}" if query else "")
    presigned = signer.endswith("-query")
    # A presigned URL does not sign the body (botocore's query signers want none).
    data = b"" if presigned else call.body
    request = AWSRequest(method=call.method, url=url, headers=dict(call.headers), data=data)
    auth = {
        "s3v4": lambda: S3SigV4Auth(credentials, "s3", server.region),
        "s3v4-query": lambda: S3SigV4QueryAuth(credentials, "s3", server.region, expires=600),
        "hmacv1": lambda: HmacV1Auth(credentials),
        "hmacv1-query": lambda: HmacV1QueryAuth(credentials, expires=600),
    }[signer]()
    auth.add_auth(request)
    headers = {name: str(value) for name, value in request.headers.items()}
    if presigned:
        headers.pop("Authorization", None)
    return httpx.Request(call.method, request.url, headers=headers, content=call.body)


@dataclass
class Tables:
    server: RunningServer
    key: Key
    upload: str


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tables]:
    config_dir = tmp_path_factory.mktemp("table-keys")
    # Every right, on bucket A only.
    key = add_key(config_dir, "only-a", "--bucket", "tbl-a", "--allow", "read,write,delete,admin")
    server = start_server(
        tmp_path_factory.mktemp("table-data"),
        "--allow-bucket-creation",
        "--config-dir",
        str(config_dir),
    )
    try:
        s3 = server.client()
        for bucket in ("tbl-a", "tbl-b"):
            s3.create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
        s3.put_object(Bucket="tbl-a", Key="src", Body=b"from a")  # type: ignore[attr-defined]
        s3.put_object(Bucket="tbl-b", Key="obj", Body=b"belongs to b")  # type: ignore[attr-defined]
        upload = s3.create_multipart_upload(Bucket="tbl-b", Key="obj")["UploadId"]  # type: ignore[attr-defined]
        s3.upload_part(Bucket="tbl-b", Key="obj", UploadId=upload, PartNumber=1, Body=b"p")  # type: ignore[attr-defined]
        yield Tables(server, key, upload)
    finally:
        server.stop()


def test_table_covers_every_operation() -> None:
    """The table below has a request for every operation the server implements."""
    assert set(Operation) <= set(CALLS)


def _b_state(tables: Tables) -> tuple[dict[str, bytes], list[tuple[int, str]]]:
    s3 = tables.server.client()
    parts = s3.list_parts(Bucket="tbl-b", Key="obj", UploadId=tables.upload)["Parts"]  # type: ignore[attr-defined]
    return object_state(tables.server, "tbl-b"), [(p["PartNumber"], p["ETag"]) for p in parts]


@pytest.mark.parametrize("signer", SIGNERS)
def test_every_operation_on_another_bucket_AccessDenied(tables: Tables, signer: str) -> None:
    """Each operation on bucket B, signed with the key of bucket A, is 403 AccessDenied
    (ListBuckets answers: with admin the key sees bucket B's name, as the admin right
    says, and nothing more) and B keeps its objects and its upload."""
    before = _b_state(tables)
    failures = []
    with httpx.Client(timeout=30) as http:
        # The signing is right: the same key and signer read bucket A.
        own = http.send(signed(tables.server, tables.key, signer, Call("GET", "/tbl-a/src"), ""))
        assert (own.status_code, own.content) == (200, b"from a")
        for name, call in CALLS.items():
            response = http.send(signed(tables.server, tables.key, signer, call, tables.upload))
            if name is Operation.LIST_BUCKETS:
                if response.status_code != 200 or b"<Name>tbl-b</Name>" not in response.content:
                    failures.append(f"{name}: {response.status_code} {response.content[:200]!r}")
                continue
            code_ok = call.method == "HEAD" or b"<Code>AccessDenied</Code>" in response.content
            if response.status_code != 403 or not code_ok:
                failures.append(f"{name}: {response.status_code} {response.content[:300]!r}")
    assert not failures, "\n".join(failures)
    assert _b_state(tables) == before


def test_the_same_key_works_on_its_own_bucket(tables: Tables) -> None:
    """The key of bucket A is not refused everything: it reads and writes bucket A."""
    s3 = key_client(tables.server, tables.key)
    s3.put_object(Bucket="tbl-a", Key="mine", Body=b"ok")  # type: ignore[attr-defined]
    assert s3.get_object(Bucket="tbl-a", Key="mine")["Body"].read() == b"ok"  # type: ignore[attr-defined]
    # An admin key sees every bucket's name (test_keys checks that others see theirs).
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["tbl-a", "tbl-b"]  # type: ignore[attr-defined]


def test_PutObject_refused_small_body_drained_connection_kept(tables: Tables) -> None:
    """A refused PUT's small body is read and dropped so the connection stays open for
    the next request; a large one closes the connection instead. Either way the
    server never parses body bytes as a request."""
    small = Call("PUT", "/tbl-b/obj", body=b"x" * 4096)
    large = Call("PUT", "/tbl-b/obj", body=b"x" * (1024 * 1024))
    with httpx.Client(timeout=30) as http:
        refused = http.send(signed(tables.server, tables.key, "s3v4", small, ""))
        assert refused.status_code == 403 and b"AccessDenied" in refused.content
        assert refused.headers.get("connection") != "close"
        again = http.send(signed(tables.server, tables.key, "s3v4", Call("GET", "/tbl-a/src"), ""))
        assert (again.status_code, again.content) == (200, b"from a")
        refused = http.send(signed(tables.server, tables.key, "s3v4", large, ""))
        assert refused.status_code == 403
        assert refused.headers.get("connection") == "close"
    assert not [line for line in tables.server.output if "Invalid HTTP request" in line]
    assert object_state(tables.server, "tbl-b")["obj"] == b"belongs to b"
