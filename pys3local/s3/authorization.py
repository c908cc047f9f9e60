"""Authorization: may the key that signed a request do what the request asks?

Authentication (:mod:`.auth`) says which :class:`~.rights.AccessKey` signed a request;
this module compares the key's buckets and rights with the :class:`~.rights.Need` its
operation's record names, before any handler runs and before the body is read. A
refusal is ``AccessDenied`` (403) and nothing is changed. The answer, a
:class:`Permit`, travels with the request to the handlers for the two things only
they can apply: an append-only key's writes are create-only, and the source bucket
of a copy must be readable too.
"""

from __future__ import annotations

from dataclasses import dataclass

from pys3local.errors import AccessDenied

from .rights import RESTIC_LOCK, AccessKey, Need, Right

_DENIED = "Access Denied"


@dataclass(frozen=True, slots=True)
class Permit:
    """What a request may do, decided once per request."""

    #: The key that signed the request; None when authentication is off.
    key: AccessKey | None = None
    #: Writes must not replace an existing object, nor retention changes weaken a
    #: protection (the key has append-only, not write).
    create_only: bool = False

    def check_read(self, bucket: str) -> None:
        """AccessDenied unless the key may read ``bucket`` (a copy's source)."""
        key = self.key
        if key is not None and not (Right.READ in key.rights and key.may_use(bucket)):
            raise AccessDenied(_DENIED)

    def may_list(self, bucket: str) -> bool:
        """Whether ListBuckets shows ``bucket`` to this key: its own buckets only, so a
        backup key learns no other bucket's name; an admin key, which looks after the
        server's buckets, sees every one (it still acts only on its own)."""
        key = self.key
        return key is None or Right.ADMIN in key.rights or key.may_use(bucket)


#: The permit of a server without authentication: everything.
UNRESTRICTED = Permit()

_RIGHTS_FOR: dict[Need, frozenset[Right]] = {
    Need.BUCKET: frozenset(Right),
    Need.READ: frozenset({Right.READ}),
    Need.WRITE: frozenset({Right.WRITE, Right.APPEND_ONLY}),
    Need.MODIFY: frozenset({Right.WRITE}),
    Need.RETAIN: frozenset({Right.WRITE, Right.APPEND_ONLY}),
    Need.STAGE: frozenset({Right.WRITE, Right.APPEND_ONLY}),
    Need.DELETE: frozenset({Right.DELETE}),
    Need.DELETE_OBJECT: frozenset({Right.DELETE}),
    Need.ADMIN: frozenset({Right.ADMIN}),
}


def authorize(
    key: AccessKey | None, need: Need, bucket: str | None, object_key: str | None = None
) -> Permit:
    """The permit of a request that ``key`` signed, needing ``need`` on ``bucket``
    (None: a service-level request, ListBuckets) and, for an object, ``object_key``.

    Raises AccessDenied when the bucket is not one of the key's or the key has none
    of the rights the need accepts.
    """
    if key is None:
        return UNRESTRICTED
    if bucket is not None and not key.may_use(bucket):
        raise AccessDenied(_DENIED)
    if key.rights.isdisjoint(_RIGHTS_FOR[need]) and not _restic_lock(key, need, object_key):
        raise AccessDenied(_DENIED)
    # An append-only key's writes are create-only, its retention changes extend-only.
    create_only = need in (Need.WRITE, Need.RETAIN) and Right.WRITE not in key.rights
    return Permit(key, create_only)


def _restic_lock(key: AccessKey, need: Need, object_key: str | None) -> bool:
    """An append-only key removing a restic lock file (see :attr:`Need.DELETE_OBJECT`)."""
    return (
        need is Need.DELETE_OBJECT
        and Right.APPEND_ONLY in key.rights
        and object_key is not None
        and RESTIC_LOCK.fullmatch(object_key) is not None
    )
