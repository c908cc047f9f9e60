"""The dispatch table: one :class:`~.operations.OperationSpec` per S3 operation.

The server looks a routed operation up here and nowhere else: its handler, what it
needs of the signing key (:class:`~.rights.Need`), whether and how it takes the
request body, whether a read-only store refuses it. Every
:class:`~.operations.Operation` member has exactly one record (the tests check it),
so a routed operation can never fall through to NotImplemented.
"""

from __future__ import annotations

from types import MappingProxyType

from pys3local.errors import (
    NoSuchBucketPolicy,
    NoSuchCORSConfiguration,
    NoSuchTagSet,
    ServerSideEncryptionConfigurationNotFoundError,
)

from . import (
    acl,
    bucket_listing,
    buckets,
    lifecycle,
    listing,
    multipart,
    object_attributes,
    object_lock,
    objects,
    tagging,
    veeam,
    versioning,
)
from .operations import Body, Operation, OperationSpec
from .rights import Need

_O = Operation
N = Need

OPERATIONS: MappingProxyType[Operation, OperationSpec] = MappingProxyType(
    {
        # Service and buckets
        _O.LIST_BUCKETS: OperationSpec(bucket_listing.list_buckets, N.BUCKET),
        _O.CREATE_BUCKET: OperationSpec(buckets.create_bucket, N.ADMIN, Body.DOCUMENT, writes=True),
        _O.DELETE_BUCKET: OperationSpec(buckets.delete_bucket, N.ADMIN, writes=True),
        _O.HEAD_BUCKET: OperationSpec(buckets.head_bucket, N.BUCKET),
        _O.GET_BUCKET_LOCATION: OperationSpec(buckets.get_bucket_location, N.BUCKET),
        _O.GET_BUCKET_VERSIONING: OperationSpec(versioning.get_bucket_versioning, N.READ),
        _O.PUT_BUCKET_VERSIONING: OperationSpec(
            versioning.put_bucket_versioning, N.ADMIN, Body.DOCUMENT, writes=True
        ),
        _O.GET_BUCKET_ACL: OperationSpec(buckets.get_acl, N.READ),
        _O.GET_OBJECT_ACL: OperationSpec(buckets.get_acl, N.READ),
        _O.PUT_BUCKET_ACL: OperationSpec(acl.put_acl, N.ADMIN, Body.DOCUMENT, writes=True),
        _O.PUT_OBJECT_ACL: OperationSpec(acl.put_acl, N.MODIFY, Body.DOCUMENT, writes=True),
        _O.GET_OBJECT_TAGGING: OperationSpec(tagging.get_object_tagging, N.READ),
        _O.PUT_OBJECT_TAGGING: OperationSpec(
            tagging.put_object_tagging, N.MODIFY, Body.DOCUMENT, writes=True
        ),
        _O.DELETE_OBJECT_TAGGING: OperationSpec(
            tagging.delete_object_tagging, N.MODIFY, writes=True
        ),
        _O.GET_BUCKET_POLICY: OperationSpec(
            buckets.absent_configuration(NoSuchBucketPolicy), N.READ
        ),
        _O.GET_BUCKET_CORS: OperationSpec(
            buckets.absent_configuration(NoSuchCORSConfiguration), N.READ
        ),
        _O.GET_BUCKET_LIFECYCLE_CONFIGURATION: OperationSpec(
            lifecycle.get_bucket_lifecycle_configuration, N.READ
        ),
        _O.PUT_BUCKET_LIFECYCLE_CONFIGURATION: OperationSpec(
            lifecycle.put_bucket_lifecycle_configuration, N.ADMIN, Body.DOCUMENT, writes=True
        ),
        _O.DELETE_BUCKET_LIFECYCLE: OperationSpec(
            lifecycle.delete_bucket_lifecycle, N.ADMIN, writes=True
        ),
        _O.GET_BUCKET_TAGGING: OperationSpec(buckets.absent_configuration(NoSuchTagSet), N.READ),
        _O.GET_BUCKET_ENCRYPTION: OperationSpec(
            buckets.absent_configuration(ServerSideEncryptionConfigurationNotFoundError), N.READ
        ),
        _O.GET_OBJECT_LOCK_CONFIGURATION: OperationSpec(
            object_lock.get_object_lock_configuration, N.READ
        ),
        _O.PUT_OBJECT_LOCK_CONFIGURATION: OperationSpec(
            object_lock.put_object_lock_configuration, N.ADMIN, Body.DOCUMENT, writes=True
        ),
        # Listing
        _O.LIST_OBJECTS: OperationSpec(listing.list_objects, N.READ),
        _O.LIST_OBJECTS_V2: OperationSpec(listing.list_objects_v2, N.READ),
        _O.LIST_OBJECT_VERSIONS: OperationSpec(versioning.list_object_versions, N.READ),
        # Objects
        _O.GET_OBJECT: OperationSpec(veeam.answering_sosapi(objects.get_object), N.READ),
        _O.HEAD_OBJECT: OperationSpec(
            veeam.answering_sosapi(objects.head_object, head=True), N.READ
        ),
        _O.GET_OBJECT_ATTRIBUTES: OperationSpec(object_attributes.get_object_attributes, N.READ),
        _O.PUT_OBJECT: OperationSpec(objects.put_object, N.WRITE, Body.OBJECT, writes=True),
        _O.COPY_OBJECT: OperationSpec(objects.copy_object, N.WRITE, Body.DOCUMENT, writes=True),
        _O.DELETE_OBJECT: OperationSpec(objects.delete_object, N.DELETE_OBJECT, writes=True),
        _O.DELETE_OBJECTS: OperationSpec(
            objects.delete_objects, N.DELETE, Body.DOCUMENT, writes=True
        ),
        _O.GET_OBJECT_RETENTION: OperationSpec(object_lock.get_object_retention, N.READ),
        _O.PUT_OBJECT_RETENTION: OperationSpec(
            object_lock.put_object_retention, N.RETAIN, Body.DOCUMENT, writes=True
        ),
        _O.GET_OBJECT_LEGAL_HOLD: OperationSpec(object_lock.get_object_legal_hold, N.READ),
        _O.PUT_OBJECT_LEGAL_HOLD: OperationSpec(
            object_lock.put_object_legal_hold, N.RETAIN, Body.DOCUMENT, writes=True
        ),
        # Multipart uploads
        _O.CREATE_MULTIPART_UPLOAD: OperationSpec(
            multipart.create_multipart_upload, N.STAGE, Body.DOCUMENT, writes=True
        ),
        _O.UPLOAD_PART: OperationSpec(multipart.upload_part, N.STAGE, Body.OBJECT, writes=True),
        _O.UPLOAD_PART_COPY: OperationSpec(
            multipart.upload_part_copy, N.STAGE, Body.DOCUMENT, writes=True
        ),
        _O.COMPLETE_MULTIPART_UPLOAD: OperationSpec(
            multipart.complete_multipart_upload, N.WRITE, Body.PART_LIST, writes=True
        ),
        _O.ABORT_MULTIPART_UPLOAD: OperationSpec(
            multipart.abort_multipart_upload, N.DELETE, writes=True
        ),
        _O.LIST_PARTS: OperationSpec(multipart.list_parts, N.READ),
        _O.LIST_MULTIPART_UPLOADS: OperationSpec(multipart.list_multipart_uploads, N.READ),
    }
)
