"""The operation table: every routed operation has one record, every record a handler,
and the names reach the access log unchanged."""

from __future__ import annotations

import dataclasses
import inspect
import itertools
import time
import uuid

import httpx

from pys3local.access_log import AccessRecord
from pys3local.s3.dispatch import OPERATIONS
from pys3local.s3.operations import Body, Operation, OperationSpec, Unrouted
from pys3local.s3.rights import Need
from pys3local.s3.routes import UNSUPPORTED_SUBRESOURCES, resolve_operation
from tests.clients import access_records
from tests.conftest import RunningServer

_METHODS = ("GET", "HEAD", "PUT", "POST", "DELETE", "PATCH", "OPTIONS")
#: Every query parameter routing looks at, plus one it ignores.
_PARAMETERS = (
    *sorted(UNSUPPORTED_SUBRESOURCES),
    *[
        "location",
        "versioning",
        "versions",
        "versionId",
        "acl",
        "uploads",
        "policy",
        "cors",
        "lifecycle",
        "tagging",
        "encryption",
        "object-lock",
        "retention",
        "legal-hold",
        "delete",
        "uploadId",
        "partNumber",
        "list-type",
        "prefix",
    ],
)


def _routes() -> set[Operation | Unrouted]:
    """What routing answers over every method, level, sub-resource and copy header."""
    seen: set[Operation | Unrouted] = set()
    levels = ((None, None), ("b", None), ("b", "k"))
    queries = [{}] + [{name: "2" if name == "list-type" else ""} for name in _PARAMETERS]
    headers = ({}, {"x-amz-copy-source": "/b/k"})
    for method, (bucket, key), query, header in itertools.product(
        _METHODS, levels, queries, headers
    ):
        seen.add(resolve_operation(method, bucket, key, query, header))
    return seen


def test_every_Operation_has_one_record_with_a_handler() -> None:
    """Each enum member has exactly one record, whose handler is a coroutine taking a
    payload exactly when the record says the operation takes a body."""
    assert set(OPERATIONS) == set(Operation)
    for operation, spec in OPERATIONS.items():
        assert inspect.iscoroutinefunction(spec.handler), operation
        parameters = inspect.signature(spec.handler).parameters
        assert len(parameters) == (3 if spec.takes_body else 2), operation


def test_every_routed_operation_has_a_record() -> None:
    """Routing only ever answers an Operation with a record or an Unrouted reason, and
    every record is reachable by some request and names the right it needs."""
    routed = _routes()
    for result in routed:
        assert isinstance(result, (Operation, Unrouted)), result
        if isinstance(result, Operation):
            assert result in OPERATIONS
            assert isinstance(OPERATIONS[result].needs, Need), result
    assert {r for r in routed if isinstance(r, Operation)} == set(Operation)
    assert set(Unrouted) <= routed


def test_every_record_needs_a_right_and_writes_need_a_write_right() -> None:
    """The right is a required field of the record; an operation that changes the store
    never needs only read (or only a bucket of the key's)."""
    assert "needs" in {
        f.name for f in dataclasses.fields(OperationSpec) if f.default is dataclasses.MISSING
    }
    for operation, spec in OPERATIONS.items():
        if spec.writes:
            assert spec.needs not in (Need.READ, Need.BUCKET), operation
        else:
            assert spec.needs in (Need.READ, Need.BUCKET), operation


def test_operations_that_take_object_data() -> None:
    """PutObject and UploadPart stream object data; the other writes are refused by a
    read-only store, the reads are not."""
    objects = {op for op, spec in OPERATIONS.items() if spec.body is Body.OBJECT}
    assert objects == {Operation.PUT_OBJECT, Operation.UPLOAD_PART}
    assert not OPERATIONS[Operation.GET_OBJECT].writes
    assert OPERATIONS[Operation.DELETE_OBJECT].writes


def test_Operation_prints_as_its_AWS_name() -> None:
    """An access record holding an Operation formats exactly as one holding the name."""
    assert str(Operation.LIST_OBJECTS_V2) == "ListObjectsV2"
    assert f"{Operation.PUT_OBJECT:>12}" == f"{'PutObject':>12}"
    fields = dict(
        timestamp=0.0, client="127.0.0.1", method="PUT", bucket="b", key="k", status=200,
        bytes_in=3, bytes_out=0, duration_ms=1.0, request_id="R",
    )  # fmt: skip
    with_enum = AccessRecord(operation=Operation.PUT_OBJECT, **fields)  # type: ignore[arg-type]
    with_name = AccessRecord(operation="PutObject", **fields)  # type: ignore[arg-type]
    assert with_enum.format() == with_name.format()


def test_access_log_names_operations(server: RunningServer) -> None:
    """A real server logs the AWS name of each operation, and the error code in place
    of an operation for requests that name none."""
    target = f"/oplog-{uuid.uuid4().hex[:12]}"
    since = len(server.output)
    with httpx.Client(base_url=server.endpoint) as http:
        http.get(target)  # unsigned: AccessDenied, but routed as ListObjects
        http.request("PATCH", target)
    deadline = time.monotonic() + 10
    named: dict[str, str] = {}
    while "PATCH" not in named and time.monotonic() < deadline:
        records = access_records(server, since)
        named = {r.method: r.operation for r in records if r.target == target}
        time.sleep(0.05)
    assert named == {"GET": "ListObjects", "PATCH": "MethodNotAllowed"}
