"""The ``s3`` backend: pys3local in front of an upstream S3 store (SeaweedFS, Garage,
Ceph RGW, MinIO, AWS, B2, Wasabi, R2).

- :mod:`.client`: signed HTTP to the upstream (SigV4, timeouts, retries, errors);
- :mod:`.mapping`: where buckets and keys go upstream, how metadata travels;
- :mod:`.documents`: the upstream's XML answers;
- :mod:`.provider` and :mod:`.multipart`: the :class:`StorageProvider`.
"""

from __future__ import annotations

from .client import Connection
from .mapping import BucketMap
from .provider import S3UpstreamProvider

__all__ = ["BucketMap", "Connection", "S3UpstreamProvider"]
