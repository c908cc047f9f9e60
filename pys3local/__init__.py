"""pys3local: a local S3-compatible server for backup software."""

from __future__ import annotations

__version__ = "0.3.0.dev0"
