"""Preconditions on a write: what a key's current object must be for a PutObject,
CopyObject or CompleteMultipartUpload to replace it.

The protocol layer turns ``If-None-Match: *``, ``If-Match`` and an append-only key's
create-only rule into one :class:`WriteCondition`; a provider checks it against the
key's current object atomically with the write (no other writer of the key between
the check and the write, in any process), or refuses it with NotImplemented before
reading the body. A check made first and a write made after would let two clients
both "win", which is exactly what these headers exist to prevent.
"""

from __future__ import annotations

from dataclasses import dataclass

from pys3local.errors import NoSuchKey, PreconditionFailed

#: The ``Condition`` detail of the PreconditionFailed raised for each kind of check.
ABSENT_CONDITION = "If-None-Match"
MATCH_CONDITION = "If-Match"


def etag_matches(header: str, etag: str) -> bool:
    """Whether an If-Match/If-None-Match value (``*`` or a list of ETags, quoted or
    not) names ``etag``."""
    candidates = [c.strip() for c in header.split(",")]
    return any(c == "*" or c.removeprefix("W/").strip('"') == etag for c in candidates)


@dataclass(frozen=True, slots=True)
class WriteCondition:
    """What the key's current object must be for a write to go ahead.

    A key whose latest version is a delete marker has no current object.
    """

    #: The key must have no current object (``If-None-Match: *``, append-only keys).
    absent: bool = False
    #: The current object's ETag must be one this ``If-Match`` value names (an ETag,
    #: quoted or not, a list of them, or ``*``); None: no such condition.
    if_match: str | None = None

    def check(self, key: str, current_etag: str | None) -> None:
        """Raise unless the current object (its ETag; None: there is none) allows
        the write: NoSuchKey for ``If-Match`` on a key without one (as AWS answers),
        PreconditionFailed (``Condition`` :data:`ABSENT_CONDITION` or
        :data:`MATCH_CONDITION`) otherwise."""
        if current_etag is None:
            if self.if_match is not None:
                raise NoSuchKey(Key=key)
            return
        if self.absent:
            raise PreconditionFailed(Condition=ABSENT_CONDITION)
        if self.if_match is not None and not etag_matches(self.if_match, current_etag):
            raise PreconditionFailed(Condition=MATCH_CONDITION)


#: A create-only write (``If-None-Match: *``).
CREATE_ONLY = WriteCondition(absent=True)
