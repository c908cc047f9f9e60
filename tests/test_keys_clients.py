"""Access keys with real backup clients (restic, rclone) and a running multi-worker
server that picks up revocations from the keys file."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import httpx
import pytest
from clients import make_tree, rclone, rclone_env, restic, restic_env, tree_digest
from conftest import RunningServer
from keys_support import Key, add_key, error_code, key_client, keys_command, object_state


def _as(server: RunningServer, key: Key) -> RunningServer:
    """The server as seen by a client configured with ``key``."""
    return dataclasses.replace(server, access_key=key.access_key_id, secret_key=key.secret)


def _data_files(server: RunningServer) -> dict[str, bytes]:
    return object_state(server, "default")


@pytest.mark.slow  # restic retries each refused snapshot removal for ~45 s
def test_restic_append_only_key_backs_up_but_cannot_forget(
    make_server: object, tmp_path: Path
) -> None:
    """restic with a read,append-only key can init, backup (twice) and check; forget
    --prune fails and the repository keeps every object; the key's own lock files are
    removed, as with restic's rest-server in append-only mode."""
    config_dir = tmp_path / "config"
    key = add_key(config_dir, "backup", "--allow", "read,append-only")
    server = make_server("--config-dir", str(config_dir))  # type: ignore[operator]
    client = _as(server, key)
    env = restic_env(client, tmp_path / "home", "default", "repo")
    source = tmp_path / "source"
    make_tree(source, {"a.bin": 300_000, "dir/b.txt": 1_000})
    restic(client, env, "init")
    restic(client, env, "backup", str(source), timeout=120)
    (source / "dir" / "c.txt").write_text("more")
    started = time.monotonic()
    restic(client, env, "backup", str(source), timeout=120)
    # No minute of retries removing its lock: the lock is removable.
    assert time.monotonic() - started < 20
    restic(client, env, "check")
    before = _data_files(server)
    assert not [k for k in before if "/locks/" in k]
    forget = restic(client, env, "forget", "--keep-last", "1", "--prune", check=False, timeout=240)
    assert forget.returncode != 0, forget.report("forget --prune succeeded")
    assert "Access Denied" in forget.output
    after = {k: v for k, v in _data_files(server).items() if "/locks/" not in k}
    assert after == before
    snapshots = restic(client, env, "snapshots", "--json").stdout
    assert snapshots.count('"id"') == 2


def test_rclone_read_key_copies_out_but_cannot_sync_in(make_server: object, tmp_path: Path) -> None:
    """rclone with a read key copies the bucket out; a sync into it (uploads and
    deletions) fails and the bucket is unchanged."""
    config_dir = tmp_path / "config"
    key = add_key(config_dir, "reader", "--allow", "read")
    server = make_server("--config-dir", str(config_dir))  # type: ignore[operator]
    s3 = server.client()
    for name, body in {
        "docs/a.txt": b"alpha",
        "docs/b.txt": b"beta",
        "c.bin": b"\0" * 5000,
    }.items():
        s3.put_object(Bucket="default", Key=name, Body=body)  # type: ignore[attr-defined]
    before = _data_files(server)
    env = rclone_env(_as(server, key), tmp_path / "home")
    out = tmp_path / "out"
    rclone(server, env, "copy", "pys3:default", str(out))
    assert {k: v[0] for k, v in tree_digest(out).items()} == {
        "docs/a.txt": 5,
        "docs/b.txt": 4,
        "c.bin": 5000,
    }
    local = tmp_path / "local"
    make_tree(local, {"new.txt": 10, "docs/a.txt": 7})
    sync = rclone(server, env, "sync", str(local), "pys3:default", check=False)
    assert sync.returncode != 0, sync.report("sync with a read key succeeded")
    assert _data_files(server) == before


def test_revoked_key_refused_by_every_worker(make_server: object, tmp_path: Path) -> None:
    """On a running --workers 2 server, a disabled key is refused by every worker within
    3 seconds, a removed one too, and a re-enabled one accepted again: no restart."""
    config_dir = tmp_path / "config"
    key = add_key(config_dir, "machine", "--allow", "read,write")
    server = make_server("--workers", "2", "--config-dir", str(config_dir))  # type: ignore[operator]

    def codes(rounds: int = 12) -> set[str | None]:
        # New connections each time, so both workers answer some of them.
        found = set()
        for _ in range(rounds):
            s3 = key_client(server, key)
            found.add(error_code(s3.list_objects_v2, Bucket="default"))  # type: ignore[attr-defined]
            s3.close()  # type: ignore[attr-defined]
        return found

    def wait_for(expected: set[str | None], limit: float = 3.0) -> float:
        started = time.monotonic()
        while time.monotonic() - started < limit + 2:
            if codes() == expected:
                return time.monotonic() - started
            time.sleep(0.1)
        raise AssertionError(f"still {codes()} after {limit + 2}s")

    assert codes() == {None}
    keys_command(config_dir, "disable", "machine")
    assert wait_for({"InvalidAccessKeyId"}) < 3.0
    keys_command(config_dir, "enable", "machine")
    assert wait_for({None}) < 3.0
    keys_command(config_dir, "remove", "machine", "--yes")
    assert wait_for({"InvalidAccessKeyId"}) < 3.0
    # The serve pair is untouched by the keys file.
    assert httpx.get(server.endpoint + "/").status_code == 403
    server.client().list_objects_v2(Bucket="default")  # type: ignore[attr-defined]


def test_keys_list_shows_last_use(make_server: object, tmp_path: Path) -> None:
    """A key's last use reaches keys list once the server writes it out (at most every
    few seconds, never per request), and at the latest when the server stops."""
    config_dir = tmp_path / "config"
    key = add_key(config_dir, "used", "--allow", "read")
    add_key(config_dir, "idle", "--allow", "read")
    server = make_server("--config-dir", str(config_dir))  # type: ignore[operator]
    key_client(server, key).list_objects_v2(Bucket="default")  # type: ignore[attr-defined]
    server.stop()
    lines = keys_command(config_dir, "list").stdout.splitlines()
    used = next(line for line in lines if line.startswith("used "))
    idle = next(line for line in lines if line.startswith("idle "))
    assert "last used never" in idle
    assert "last used never" not in used and time.strftime("%Y-%m-%d") in used
