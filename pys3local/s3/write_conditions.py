"""Conditional writes: ``If-None-Match: *`` and ``If-Match`` on PutObject, CopyObject
and CompleteMultipartUpload, and the create-only rule of an append-only key.

The protocol layer only reads the headers into a
:class:`~pys3local.providers.conditions.WriteCondition`; the provider checks it under
the key's lock together with the write (a HEAD here first would race other writers).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pys3local.errors import AccessDenied, NotImplementedOperation, PreconditionFailed
from pys3local.providers.conditions import ABSENT_CONDITION, WriteCondition

from .request import S3Request


def write_condition(request: S3Request) -> WriteCondition | None:
    """The condition a write must meet (None: none): the client's ``If-None-Match: *``
    or ``If-Match``, and ``absent`` for a key whose right is create-only.

    As on AWS, ``If-None-Match`` takes only ``*`` and cannot be combined with
    ``If-Match``: anything else is NotImplemented, never a condition quietly dropped.
    """
    headers = request.http.headers
    if_match = headers.get("if-match")
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        if if_match is not None:
            raise NotImplementedOperation(
                "A write with both If-Match and If-None-Match is not supported."
            )
        if if_none_match.strip() != "*":
            raise NotImplementedOperation("If-None-Match on a write supports only '*'.")
    absent = if_none_match is not None or request.permit.create_only
    if not absent and if_match is None:
        return None
    return WriteCondition(absent=absent, if_match=if_match)


@contextmanager
def condition_refusal(request: S3Request) -> Iterator[None]:
    """A write refused because the key exists: PreconditionFailed (412) when the
    client asked for ``If-None-Match: *``, AccessDenied (403) when the key's
    append-only right imposed it. Nothing was written either way."""
    try:
        yield
    except PreconditionFailed as error:
        asked = request.http.headers.get("if-none-match") is not None
        if asked or error.details.get("Condition") != ABSENT_CONDITION:
            raise
        raise AccessDenied(
            "Access Denied: this key may only create objects, not replace them."
        ) from None
