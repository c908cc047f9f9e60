"""Object Lock on the ``s3`` backend: passed through to the upstream.

Like versioning (:mod:`.versions`), only in the ``buckets`` layout, where each
pys3local bucket is an upstream bucket of its own: the upstream keeps each bucket's
lock configuration and each version's retention and legal hold, and enforces them
(a protected version's removal is refused by the upstream itself, so every gateway
and every other client of the upstream meets the same lock). In the ``prefix``
layout the lock configuration would be the one shared upstream bucket's, so setting
it answers NotImplemented saying why.

The lock headers of PutObject, CopyObject and CreateMultipartUpload go to the upstream
as they are; a version's protection comes back from its GET/HEAD headers. A store
that takes a copy's lock headers and does not apply them (SeaweedFS 4.48 ignores them
on CopyObject) would leave the copy unprotected: after a copy that asked for
protection, the gateway checks the new version and sets it explicitly when missing.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from pys3local.errors import NotImplementedOperation, ObjectLockConfigurationNotFoundError
from pys3local.providers.base import ObjectInfo
from pys3local.providers.object_lock import (
    RETENTION_MODES,
    DefaultRetention,
    ObjectLockConfiguration,
    Retention,
    VersionProtection,
    check_legal_hold_change,
    check_retention_change,
)

from . import documents
from .client import UpstreamError
from .mapping import BucketMap, iso_timestamp

if TYPE_CHECKING:
    from .client import UpstreamClient

_XMLNS = ' xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'
#: Upstream codes saying a version has no retention or legal hold (AWS's, SeaweedFS's).
_NONE_SET = (
    "NoSuchObjectLockConfiguration",
    "ObjectLockConfigurationNotFoundError",
    "NoSuchObjectLegalHold",
)


class UpstreamObjectLock:
    """The Object Lock half of :class:`~.provider.S3UpstreamProvider`."""

    layout: BucketMap

    if TYPE_CHECKING:  # provided by S3UpstreamProvider

        @property
        def client(self) -> UpstreamClient: ...
        def check_writable(self) -> None: ...
        def headers_of(self, response: Any) -> dict[str, str]: ...
        def version_from(self, headers: Mapping[str, str]) -> str | None: ...
        async def get_bucket(self, bucket: str) -> Any: ...
        async def client_call(
            self, method: str, bucket: str, query: dict[str, str], **options: object
        ) -> Any: ...
        async def _key_call(
            self,
            method: str,
            bucket: str,
            key: str,
            *,
            passed: tuple[str, ...] = (),
            **options: object,
        ) -> Any: ...

    @property
    def supports_object_lock(self) -> bool:  # type: ignore[override]
        """Whether lock can pass through: only with one upstream bucket per bucket."""
        return not self.layout.shared

    def _lock_shared(self) -> NotImplementedOperation:
        return NotImplementedOperation(
            "Object Lock is not supported by the s3 backend in the prefix layout: every "
            f"bucket shares the upstream bucket {self.layout.bucket!r}, whose lock "
            "configuration would be all of theirs at once (use the buckets layout)."
        )

    # ------------------------------------------------------------------ bucket

    async def get_object_lock_configuration(self, bucket: str) -> ObjectLockConfiguration:
        if self.layout.shared:
            await self.get_bucket(bucket)
            raise ObjectLockConfigurationNotFoundError()
        # One upstream call (a missing bucket is the upstream's NoSuchBucket): the
        # protocol layer asks before a PutObject that carries no checksum.
        try:
            response = await self.client_call("GET", bucket, {"object-lock": ""})
        except NotImplementedOperation:
            raise ObjectLockConfigurationNotFoundError() from None  # never enabled
        root = documents.parse(response.content)
        if documents.text(root, "ObjectLockEnabled") != "Enabled":
            raise ObjectLockConfigurationNotFoundError()
        default = None
        for rule in documents.children(root, "Rule"):
            for retention in documents.children(rule, "DefaultRetention"):
                days, years = documents.text(retention, "Days"), documents.text(retention, "Years")
                default = DefaultRetention(
                    documents.text(retention, "Mode"),
                    int(days) if days else None,
                    int(years) if years else None,
                )
        return ObjectLockConfiguration(True, default)

    async def put_object_lock_configuration(
        self, bucket: str, configuration: ObjectLockConfiguration
    ) -> None:
        self.check_writable()
        await self.get_bucket(bucket)
        if self.layout.shared:
            raise self._lock_shared()
        rule = ""
        default = configuration.default_retention
        if default is not None:
            period = (
                f"<Days>{default.days}</Days>"
                if default.days is not None
                else f"<Years>{default.years}</Years>"
            )
            rule = (
                f"<Rule><DefaultRetention><Mode>{default.mode}</Mode>{period}"
                "</DefaultRetention></Rule>"
            )
        body, headers = documents.xml_request(
            f"<ObjectLockConfiguration{_XMLNS}><ObjectLockEnabled>Enabled</ObjectLockEnabled>"
            f"{rule}</ObjectLockConfiguration>"
        )
        await self.client_call("PUT", bucket, {"object-lock": ""}, headers=headers, content=body)

    # ------------------------------------------------------------------ versions

    def _query(self, name: str, version_id: str | None) -> dict[str, str]:
        if self.layout.shared:
            raise self._lock_shared()
        query = {name: ""}
        if version_id is not None:
            query["versionId"] = version_id
        return query

    async def _lock_read(
        self, bucket: str, key: str, name: str, version_id: str | None
    ) -> Any | None:
        """The parsed document of a version's ``?retention`` or ``?legal-hold``;
        None when the version has none."""
        try:
            response = await self._key_call(
                "GET", bucket, key, query=self._query(name, version_id), passed=_NONE_SET
            )
        except UpstreamError:  # one of _NONE_SET
            return None
        return documents.parse(response.content)

    async def get_object_retention(
        self, bucket: str, key: str, version_id: str | None
    ) -> Retention | None:
        root = await self._lock_read(bucket, key, "retention", version_id)
        if root is None:
            return None
        mode, until = documents.text(root, "Mode"), documents.text(root, "RetainUntilDate")
        if mode not in RETENTION_MODES or not until:
            return None
        return Retention(mode, documents.timestamp(until))

    async def get_object_legal_hold(
        self, bucket: str, key: str, version_id: str | None
    ) -> bool | None:
        root = await self._lock_read(bucket, key, "legal-hold", version_id)
        if root is None:
            return None
        return documents.text(root, "Status").upper() == "ON"

    async def put_object_retention(
        self,
        bucket: str,
        key: str,
        version_id: str | None,
        retention: Retention | None,
        *,
        bypass_governance: bool = False,
        extend_only: bool = False,
    ) -> str | None:
        self.check_writable()
        query = self._query("retention", version_id)
        if extend_only:
            # An append-only key never weakens a retention: checked here for a clear
            # answer, and no bypass is ever sent, so the upstream refuses it too.
            old = await self.get_object_retention(bucket, key, version_id)
            now = datetime.now(timezone.utc)
            check_retention_change(old, retention, now, bypass=False, extend_only=True)
            bypass_governance = False
        inner = ""
        if retention is not None:
            inner = (
                f"<Mode>{retention.mode}</Mode>"
                f"<RetainUntilDate>{iso_timestamp(retention.retain_until)}</RetainUntilDate>"
            )
        body, headers = documents.xml_request(f"<Retention{_XMLNS}>{inner}</Retention>")
        if bypass_governance:
            headers["x-amz-bypass-governance-retention"] = "true"
        response = await self._key_call(
            "PUT", bucket, key, query=query, headers=headers, content=body
        )
        return self.version_from(self.headers_of(response)) or version_id

    async def put_object_legal_hold(
        self, bucket: str, key: str, version_id: str | None, on: bool, *, extend_only: bool = False
    ) -> str | None:
        self.check_writable()
        query = self._query("legal-hold", version_id)
        if extend_only and not on:
            old = await self.get_object_legal_hold(bucket, key, version_id)
            check_legal_hold_change(bool(old), on, extend_only=True)
        status = "ON" if on else "OFF"
        body, headers = documents.xml_request(
            f"<LegalHold{_XMLNS}><Status>{status}</Status></LegalHold>"
        )
        response = await self._key_call(
            "PUT", bucket, key, query=query, headers=headers, content=body
        )
        return self.version_from(self.headers_of(response)) or version_id

    async def protect_copy(
        self, bucket: str, key: str, info: ObjectInfo, asked: VersionProtection | None
    ) -> ObjectInfo:
        """Make sure the version a copy made has the protection the copy asked for
        (some stores ignore a copy's lock headers); return its info as it then is."""
        if asked is None or info.version_id is None:
            return info
        got = info.metadata.protection or VersionProtection()
        missing = False
        if asked.retention is not None and not _same(got.retention, asked.retention):
            await self.put_object_retention(bucket, key, info.version_id, asked.retention)
            missing = True
        if asked.legal_hold and not got.legal_hold:
            await self.put_object_legal_hold(bucket, key, info.version_id, True)
            missing = True
        if missing:
            info.metadata.protection = asked
        return info


def _same(got: Retention | None, asked: Retention) -> bool:
    """Whether the upstream keeps ``asked`` (some stores keep whole seconds only)."""
    if got is None or got.mode != asked.mode:
        return False
    return abs((got.retain_until - asked.retain_until).total_seconds()) < 1
