"""The rclone remote block for a running server (serve banner, admin console)."""

from __future__ import annotations


def render_rclone_config(
    endpoint: str,
    access_key: str,
    secret_key: str,
    region: str,
    *,
    name: str = "pys3local",
) -> str:
    """An ``rclone.conf`` section that talks to this server.

    ``force_path_style`` because buckets are not DNS names here; ``disable_http2``
    because the server speaks HTTP/1.1; ``no_check_bucket`` because rclone would
    otherwise try to create the bucket before every upload.
    """
    lines = [
        f"[{name}]",
        "type = s3",
        "provider = Other",
        f"access_key_id = {access_key}",
        f"secret_access_key = {secret_key}",
        f"endpoint = {endpoint}",
        f"region = {region}",
        "force_path_style = true",
        "disable_http2 = true",
        "no_check_bucket = true",
    ]
    return "\n".join(lines) + "\n"
