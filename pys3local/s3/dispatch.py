"""The dispatch table: one :class:`~.operations.OperationSpec` per S3 operation.

The server looks a routed operation up here and nowhere else: its handler, whether
and how it takes the request body, whether a read-only store refuses it. Every
:class:`~.operations.Operation` member has exactly one record (the tests check it),
so a routed operation can never fall through to NotImplemented.
"""

from __future__ import annotations

from types import MappingProxyType

from pys3local.errors import (
    NoSuchBucketPolicy,
    NoSuchCORSConfiguration,
    NoSuchLifecycleConfiguration,
    NoSuchTagSet,
    ObjectLockConfigurationNotFoundError,
    ServerSideEncryptionConfigurationNotFoundError,
)

from . import (
    acl,
    bucket_listing,
    buckets,
    listing,
    multipart,
    object_attributes,
    objects,
    tagging,
)
from .operations import Body, Operation, OperationSpec

_O = Operation

OPERATIONS: MappingProxyType[Operation, OperationSpec] = MappingProxyType(
    {
        # Service and buckets
        _O.LIST_BUCKETS: OperationSpec(bucket_listing.list_buckets),
        _O.CREATE_BUCKET: OperationSpec(buckets.create_bucket, Body.DOCUMENT, writes=True),
        _O.DELETE_BUCKET: OperationSpec(buckets.delete_bucket, writes=True),
        _O.HEAD_BUCKET: OperationSpec(buckets.head_bucket),
        _O.GET_BUCKET_LOCATION: OperationSpec(buckets.get_bucket_location),
        _O.GET_BUCKET_VERSIONING: OperationSpec(buckets.get_bucket_versioning),
        _O.GET_BUCKET_ACL: OperationSpec(buckets.get_acl),
        _O.GET_OBJECT_ACL: OperationSpec(buckets.get_acl),
        _O.PUT_BUCKET_ACL: OperationSpec(acl.put_acl, Body.DOCUMENT, writes=True),
        _O.PUT_OBJECT_ACL: OperationSpec(acl.put_acl, Body.DOCUMENT, writes=True),
        _O.GET_OBJECT_TAGGING: OperationSpec(tagging.get_object_tagging),
        _O.PUT_OBJECT_TAGGING: OperationSpec(
            tagging.put_object_tagging, Body.DOCUMENT, writes=True
        ),
        _O.DELETE_OBJECT_TAGGING: OperationSpec(tagging.delete_object_tagging, writes=True),
        _O.GET_BUCKET_POLICY: OperationSpec(buckets.absent_configuration(NoSuchBucketPolicy)),
        _O.GET_BUCKET_CORS: OperationSpec(buckets.absent_configuration(NoSuchCORSConfiguration)),
        _O.GET_BUCKET_LIFECYCLE_CONFIGURATION: OperationSpec(
            buckets.absent_configuration(NoSuchLifecycleConfiguration)
        ),
        _O.GET_BUCKET_TAGGING: OperationSpec(buckets.absent_configuration(NoSuchTagSet)),
        _O.GET_BUCKET_ENCRYPTION: OperationSpec(
            buckets.absent_configuration(ServerSideEncryptionConfigurationNotFoundError)
        ),
        _O.GET_OBJECT_LOCK_CONFIGURATION: OperationSpec(
            buckets.absent_configuration(ObjectLockConfigurationNotFoundError)
        ),
        # Listing
        _O.LIST_OBJECTS: OperationSpec(listing.list_objects),
        _O.LIST_OBJECTS_V2: OperationSpec(listing.list_objects_v2),
        # Objects
        _O.GET_OBJECT: OperationSpec(objects.get_object),
        _O.HEAD_OBJECT: OperationSpec(objects.head_object),
        _O.GET_OBJECT_ATTRIBUTES: OperationSpec(object_attributes.get_object_attributes),
        _O.PUT_OBJECT: OperationSpec(objects.put_object, Body.OBJECT, writes=True),
        _O.COPY_OBJECT: OperationSpec(objects.copy_object, Body.DOCUMENT, writes=True),
        _O.DELETE_OBJECT: OperationSpec(objects.delete_object, writes=True),
        _O.DELETE_OBJECTS: OperationSpec(objects.delete_objects, Body.DOCUMENT, writes=True),
        # Multipart uploads
        _O.CREATE_MULTIPART_UPLOAD: OperationSpec(
            multipart.create_multipart_upload, Body.DOCUMENT, writes=True
        ),
        _O.UPLOAD_PART: OperationSpec(multipart.upload_part, Body.OBJECT, writes=True),
        _O.UPLOAD_PART_COPY: OperationSpec(multipart.upload_part_copy, Body.DOCUMENT, writes=True),
        _O.COMPLETE_MULTIPART_UPLOAD: OperationSpec(
            multipart.complete_multipart_upload, Body.PART_LIST, writes=True
        ),
        _O.ABORT_MULTIPART_UPLOAD: OperationSpec(multipart.abort_multipart_upload, writes=True),
        _O.LIST_PARTS: OperationSpec(multipart.list_parts),
        _O.LIST_MULTIPART_UPLOADS: OperationSpec(multipart.list_multipart_uploads),
    }
)
