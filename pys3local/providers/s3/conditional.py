"""Conditional writes on the ``s3`` backend: the condition goes to the upstream as
its own ``If-None-Match: *`` / ``If-Match`` header, so the upstream checks it
atomically with the write; the gateway never checks first (another gateway, or any
other client of the upstream, could write in between).

Whether the upstream honours those headers is a documented capability that the
operator states (``conditional_writes``), not a probe: a store that ignored them
would answer 200 and overwrite, which a probe at start would have to provoke by
writing into the operator's buckets. Without it every conditional write is
NotImplemented before any body is read.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from pys3local.errors import NotImplementedOperation, PreconditionFailed
from pys3local.providers.conditions import ABSENT_CONDITION, MATCH_CONDITION, WriteCondition

if TYPE_CHECKING:
    from pys3local.providers.base import ObjectInfo


class ConditionalWrites:
    """The conditional-write half of :class:`~.provider.S3UpstreamProvider`."""

    #: Whether the upstream honours ``If-None-Match: *`` and ``If-Match`` on PUT and
    #: CompleteMultipartUpload atomically (AWS and SeaweedFS do).
    conditional_writes: bool = False

    if TYPE_CHECKING:

        async def head_object(self, bucket: str, key: str) -> ObjectInfo: ...

    def condition_headers(self, condition: WriteCondition | None) -> dict[str, str]:
        """The upstream request headers for ``condition``; NotImplemented (before any
        body is read) when the upstream is not known to honour them."""
        if condition is None:
            return {}
        if not self.conditional_writes:
            raise NotImplementedOperation(
                "The s3 backend passes conditional writes (If-None-Match: *, If-Match, "
                "append-only keys) on only when its upstream is set to honour them "
                "(conditional_writes)."
            )
        if condition.absent and condition.if_match is not None:
            # S3 takes one or the other, never both (an append-only key with If-Match).
            raise NotImplementedOperation(
                "The s3 backend cannot pass If-Match on to a create-only key."
            )
        if condition.absent:
            return {"if-none-match": "*"}
        assert condition.if_match is not None
        return {"if-match": condition.if_match}

    @contextlib.asynccontextmanager
    async def upstream_condition(
        self, bucket: str, key: str, condition: WriteCondition | None
    ) -> AsyncIterator[None]:
        """Around an upstream write carrying :meth:`condition_headers`: its 412 becomes
        ours, naming the condition; for ``If-Match``, a key without a current object
        is NoSuchKey, as AWS answers (some stores, SeaweedFS among them, answer 412:
        the refused write changed nothing, so a HEAD afterwards only picks the code)."""
        try:
            yield
        except PreconditionFailed:
            if condition is None:
                raise
            if condition.if_match is not None:
                await self.head_object(bucket, key)  # raises NoSuchKey
                raise PreconditionFailed(Condition=MATCH_CONDITION) from None
            raise PreconditionFailed(Condition=ABSENT_CONDITION) from None
