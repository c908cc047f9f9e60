"""The S3 error vocabulary.

Every failure a client can see is an :class:`S3Error` subclass carrying the AWS
error code and HTTP status. Providers and the protocol layer raise them; the
server renders them as ``<Error>`` XML in exactly one place.
"""

from __future__ import annotations


class S3Error(Exception):
    """Base of every error a client receives as an S3 error document."""

    code: str = "InternalError"
    status: int = 500
    default_message: str = "We encountered an internal error. Please try again."

    def __init__(self, message: str | None = None, **details: str) -> None:
        self.message = message or self.default_message
        # Extra elements rendered into the error document (e.g. Key, BucketName,
        # StringToSign). Values must never contain secrets.
        self.details = details
        #: Extra response headers (e.g. ``x-amz-delete-marker`` on a 404 for a key
        #: whose latest version is a delete marker).
        self.headers: dict[str, str] = {}
        super().__init__(self.message)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code}, {self.status}, {self.message!r})"


class BadDigest(S3Error):
    code = "BadDigest"
    status = 400
    default_message = "The Content-MD5 or checksum you specified did not match what we received."


class AccessControlListNotSupported(S3Error):
    code = "AccessControlListNotSupported"
    status = 400
    default_message = "The bucket does not allow ACLs"


class InvalidBucketAclWithObjectOwnership(S3Error):
    code = "InvalidBucketAclWithObjectOwnership"
    status = 400
    default_message = (
        "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting"
    )


class BadRequest(S3Error):
    code = "BadRequest"
    status = 400
    default_message = "Bad Request"


class InvalidTag(S3Error):
    code = "InvalidTag"
    status = 400
    default_message = "The TagSet you have provided is invalid."


class MalformedACLError(S3Error):
    code = "MalformedACLError"
    status = 400
    default_message = (
        "The XML you provided was not well-formed or did not validate against our published schema"
    )


class EntityTooSmall(S3Error):
    code = "EntityTooSmall"
    status = 400
    default_message = "Your proposed upload is smaller than the minimum allowed object size."


class EntityTooLarge(S3Error):
    code = "EntityTooLarge"
    status = 400
    default_message = "Your proposed upload exceeds the maximum allowed object size."


class IncompleteBody(S3Error):
    code = "IncompleteBody"
    status = 400
    default_message = "You did not provide the number of bytes specified by the header."


class InvalidArgument(S3Error):
    code = "InvalidArgument"
    status = 400
    default_message = "Invalid Argument"


class InvalidBucketName(S3Error):
    code = "InvalidBucketName"
    status = 400
    default_message = "The specified bucket is not valid."


class InvalidDigest(S3Error):
    code = "InvalidDigest"
    status = 400
    default_message = "The Content-MD5 you specified is not valid."


class InvalidPart(S3Error):
    code = "InvalidPart"
    status = 400
    default_message = (
        "One or more of the specified parts could not be found. The part may not have "
        "been uploaded, or the specified entity tag may not match the part's entity tag."
    )


class InvalidPartOrder(S3Error):
    code = "InvalidPartOrder"
    status = 400
    default_message = (
        "The list of parts was not in ascending order. Parts must be ordered by part number."
    )


class InvalidRequest(S3Error):
    code = "InvalidRequest"
    status = 400
    default_message = "Invalid Request"


class KeyTooLongError(S3Error):
    code = "KeyTooLongError"
    status = 400
    default_message = "Your key is too long."


class MalformedXML(S3Error):
    code = "MalformedXML"
    status = 400
    default_message = (
        "The XML you provided was not well-formed or did not validate against our published schema."
    )


class MetadataTooLarge(S3Error):
    code = "MetadataTooLarge"
    status = 400
    default_message = "Your metadata headers exceed the maximum allowed metadata size."


class RequestTimeout(S3Error):
    code = "RequestTimeout"
    status = 400
    default_message = (
        "Your socket connection to the server was not read from or written to within the "
        "timeout period."
    )


class TooManyBuckets(S3Error):
    code = "TooManyBuckets"
    status = 400
    default_message = "You have attempted to create more buckets than allowed."


class XAmzContentSHA256Mismatch(S3Error):
    code = "XAmzContentSHA256Mismatch"
    status = 400
    default_message = "The provided 'x-amz-content-sha256' header does not match what was computed."


class AuthorizationHeaderMalformed(S3Error):
    code = "AuthorizationHeaderMalformed"
    status = 400
    default_message = "The authorization header is malformed."


class AuthorizationQueryParametersError(S3Error):
    code = "AuthorizationQueryParametersError"
    status = 400
    default_message = "Error parsing the X-Amz-Credential parameter."


class InvalidPartNumber(S3Error):
    code = "InvalidPartNumber"
    status = 416
    default_message = "The requested partnumber is not satisfiable"


class MissingContentLength(S3Error):
    code = "MissingContentLength"
    status = 411
    default_message = "You must provide the Content-Length HTTP header."


class AccessDenied(S3Error):
    code = "AccessDenied"
    status = 403
    default_message = "Access Denied"


class InvalidAccessKeyId(S3Error):
    code = "InvalidAccessKeyId"
    status = 403
    default_message = "The AWS Access Key Id you provided does not exist in our records."


class SignatureDoesNotMatch(S3Error):
    code = "SignatureDoesNotMatch"
    status = 403
    default_message = (
        "The request signature we calculated does not match the signature you provided. "
        "Check your key and signing method."
    )


class RequestTimeTooSkewed(S3Error):
    code = "RequestTimeTooSkewed"
    status = 403
    default_message = "The difference between the request time and the current time is too large."


class NoSuchBucket(S3Error):
    code = "NoSuchBucket"
    status = 404
    default_message = "The specified bucket does not exist."


class NoSuchKey(S3Error):
    code = "NoSuchKey"
    status = 404
    default_message = "The specified key does not exist."


class NoSuchVersion(S3Error):
    code = "NoSuchVersion"
    status = 404
    default_message = "The version ID specified in the request does not match an existing version."


class IllegalVersioningConfigurationException(S3Error):
    code = "IllegalVersioningConfigurationException"
    status = 400
    default_message = "The Versioning element must be specified"


class NoSuchUpload(S3Error):
    code = "NoSuchUpload"
    status = 404
    default_message = (
        "The specified multipart upload does not exist. The upload ID may be invalid, or "
        "the upload may have been aborted or completed."
    )


class NoSuchBucketPolicy(S3Error):
    code = "NoSuchBucketPolicy"
    status = 404
    default_message = "The bucket policy does not exist."


class NoSuchCORSConfiguration(S3Error):
    code = "NoSuchCORSConfiguration"
    status = 404
    default_message = "The CORS configuration does not exist."


class NoSuchLifecycleConfiguration(S3Error):
    code = "NoSuchLifecycleConfiguration"
    status = 404
    default_message = "The lifecycle configuration does not exist."


class NoSuchTagSet(S3Error):
    code = "NoSuchTagSet"
    status = 404
    default_message = "The TagSet does not exist."


class ServerSideEncryptionConfigurationNotFoundError(S3Error):
    code = "ServerSideEncryptionConfigurationNotFoundError"
    status = 404
    default_message = "The server side encryption configuration was not found."


class ObjectLockConfigurationNotFoundError(S3Error):
    code = "ObjectLockConfigurationNotFoundError"
    status = 404
    default_message = "Object Lock configuration does not exist for this bucket."


class NoSuchObjectLockConfiguration(S3Error):
    code = "NoSuchObjectLockConfiguration"
    status = 404
    default_message = "The specified object does not have a ObjectLock configuration"


class InvalidBucketState(S3Error):
    code = "InvalidBucketState"
    status = 409
    default_message = "The request is not valid with the current state of the bucket."


class MethodNotAllowed(S3Error):
    code = "MethodNotAllowed"
    status = 405
    default_message = "The specified method is not allowed against this resource."


class BucketAlreadyExists(S3Error):
    code = "BucketAlreadyExists"
    status = 409
    default_message = (
        "The requested bucket name is not available. Please select a different name and try again."
    )


class BucketAlreadyOwnedByYou(S3Error):
    code = "BucketAlreadyOwnedByYou"
    status = 409
    default_message = "The bucket you tried to create already exists, and you own it."


class BucketNotEmpty(S3Error):
    code = "BucketNotEmpty"
    status = 409
    default_message = "The bucket you tried to delete is not empty."


class ObjectNameConflict(S3Error):
    code = "ObjectNameConflict"
    status = 409
    default_message = (
        "The key cannot be stored because an object and a prefix of the same name would "
        "collide on the storage backend."
    )


class PreconditionFailed(S3Error):
    code = "PreconditionFailed"
    status = 412
    default_message = "At least one of the preconditions you specified did not hold."


class InvalidRange(S3Error):
    code = "InvalidRange"
    status = 416
    default_message = "The requested range is not satisfiable"


class InternalError(S3Error):
    code = "InternalError"
    status = 500
    default_message = "We encountered an internal error. Please try again."


class NotImplementedOperation(S3Error):
    """S3's ``NotImplemented`` (named so as not to shadow the builtin)."""

    code = "NotImplemented"
    status = 501
    default_message = (
        "A header or operation you provided implies functionality that is not implemented."
    )


class ServiceUnavailable(S3Error):
    code = "ServiceUnavailable"
    status = 503
    default_message = "Service is unable to handle request."


class SlowDown(S3Error):
    code = "SlowDown"
    status = 503
    default_message = "Please reduce your request rate."


class InsufficientStorage(S3Error):
    code = "InsufficientStorage"
    status = 507
    default_message = "There is not enough space left on the storage device."


class NotModified(S3Error):
    """A 304 answer to a conditional GET/HEAD; rendered without a body."""

    code = "NotModified"
    status = 304
    default_message = "Not Modified"

    def __init__(self, etag: str, last_modified: str) -> None:
        super().__init__()
        self.etag = etag
        self.last_modified = last_modified
