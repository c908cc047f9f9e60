"""Defaults shared by the command line and the admin console."""

from __future__ import annotations

DEFAULT_ACCESS_KEY = "test"
DEFAULT_SECRET_KEY = "test"
DEFAULT_REGION = "us-east-1"
DEFAULT_LISTEN = ":10001"
DEFAULT_PATH = "/tmp/s3store"
