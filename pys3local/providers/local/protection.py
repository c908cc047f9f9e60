"""Object Lock as a version's sidecar keeps it, and the one check every removal or
in-place replacement of a version makes (:func:`guard_removal`).

A version's retention and legal hold live in its sidecar, with the rest of its
metadata (``metadata.protection``, see :class:`~pys3local.providers.object_lock.
VersionProtection`), so they move with the version wherever it goes (kept in the
versions directory, committed back into ``objects/``) without a second file to keep
in step.
"""

from __future__ import annotations

from datetime import datetime, timezone

from pys3local.providers.object_lock import VersionProtection, check_removal


def protection_of(document: dict[str, object] | None) -> VersionProtection | None:
    """The protection a sidecar ``document`` records; None for none (or no sidecar)."""
    metadata = (document or {}).get("metadata")
    if not isinstance(metadata, dict):
        return None
    return VersionProtection.from_dict(metadata.get("protection"))


def guard_removal(document: dict[str, object] | None, *, bypass: bool = False) -> None:
    """AccessDenied if the version ``document`` describes may not go (see
    :func:`~pys3local.providers.object_lock.check_removal`)."""
    check_removal(protection_of(document), datetime.now(timezone.utc), bypass=bypass)


def with_protection(
    document: dict[str, object], protection: VersionProtection | None
) -> dict[str, object]:
    """A copy of the sidecar ``document`` recording ``protection`` instead."""
    metadata = dict(document.get("metadata") or {})  # type: ignore[call-overload]
    if protection is None or not protection.to_dict():
        metadata.pop("protection", None)
    else:
        metadata["protection"] = protection.to_dict()
    return {**document, "metadata": metadata}
