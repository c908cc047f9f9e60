"""Access keys with their own buckets and rights, through the real ``pys3local keys``
command, a real ``pys3local serve`` process and boto3."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import RunningServer, start_server
from keys_support import (
    Key,
    add_key,
    error_code,
    key_client,
    keys_command,
    keys_process,
    object_state,
)
from vaultconfig import crypt

from pys3local.config import ConfigStore
from pys3local.s3.rights import Right


class Setup:
    """One advanced-mode server and a key per kind of right."""

    def __init__(self, server: RunningServer, config_dir: Path, keys: dict[str, Key]) -> None:
        self.server = server
        self.config_dir = config_dir
        self.keys = keys

    def client(self, name: str) -> object:
        return key_client(self.server, self.keys[name])


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    config_dir = tmp_path_factory.mktemp("keys-config")
    keys = {
        "reader": add_key(config_dir, "reader", "--bucket", "alpha", "--allow", "read"),
        "appender": add_key(
            config_dir, "appender", "--bucket", "alpha", "--allow", "read,append-only"
        ),
        "deleter": add_key(config_dir, "deleter", "--bucket", "alpha", "--allow", "read,delete"),
        "scoped": add_key(
            config_dir, "scoped", "--bucket", "alpha*", "--allow", "read,write,delete"
        ),
        "admin": add_key(config_dir, "admin", "--bucket", "*", "--allow", "admin"),
        "alpha-admin": add_key(config_dir, "alpha-admin", "--bucket", "alpha", "--allow", "admin"),
    }
    server = start_server(
        tmp_path_factory.mktemp("keys-data"),
        "--allow-bucket-creation",
        "--config-dir",
        str(config_dir),
    )
    try:
        s3 = server.client()
        for bucket in ("alpha", "alpha2", "beta"):
            s3.create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
        yield Setup(server, config_dir, keys)
    finally:
        server.stop()


# --------------------------------------------------------------------------- the command


def test_keys_commands_manage_the_keys_file(tmp_path: Path) -> None:
    """keys add prints the secret once with an rclone remote; the file is 0600 with the
    secret obscured; list never shows a secret; rotate, disable and remove change it."""
    key = add_key(tmp_path, "host1", "--bucket", "backup-*", "--allow", "read,append-only")
    assert "[pys3local-host1]" in key.output
    assert f"secret_access_key = {key.secret}" in key.output
    path = tmp_path / "keys.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert key.access_key_id in text and key.secret not in text
    listing = keys_command(tmp_path, "list").stdout
    assert "host1" in listing and key.access_key_id in listing and key.secret not in listing
    assert "read,append-only" in listing and "last used never" in listing
    assert key.secret not in keys_command(tmp_path, "show", "host1").stdout
    assert key.secret in keys_command(tmp_path, "show", "host1", "--secret").stdout
    rotated = keys_command(tmp_path, "rotate", "host1").stdout
    assert key.access_key_id in rotated and key.secret not in rotated
    keys_command(tmp_path, "disable", "host1")
    assert "DISABLED" in keys_command(tmp_path, "list").stdout
    keys_command(tmp_path, "remove", "host1", "--yes")
    assert "No keys" in keys_command(tmp_path, "list").stdout


@pytest.mark.parametrize(
    "args",
    [
        ("add", "x", "--allow", "read,fly"),
        ("add", "x", "--bucket", "Not_A_Bucket!", "--allow", "read"),
        ("add", "bad name", "--allow", "read"),
        ("add", "x"),
        ("show", "nobody"),
        ("rotate", "nobody"),
        ("disable", "nobody"),
        ("remove", "nobody", "--yes"),
    ],
)
def test_keys_commands_bad_input_one_line(tmp_path: Path, args: tuple[str, ...]) -> None:
    """Bad input to a keys command is one line on stderr and a non-zero exit."""
    done = keys_command(tmp_path, *args, check=False)
    assert done.returncode != 0
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stderr.startswith("Error: ")


def test_keys_command_bad_input_as_a_process(tmp_path: Path) -> None:
    """The same from a real ``python -m pys3local keys`` process: one line, exit 2."""
    done = keys_process(tmp_path, "add", "x", "--allow", "read,fly")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "Error: Invalid value for '--allow': unknown right 'fly' "
        "(known: read, write, append-only, delete, admin)"
    ]


def test_keys_file_encrypted_with_the_configuration(
    tmp_path: Path, make_server: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With an encrypted configuration the keys file is encrypted as a whole, and a
    server given the password serves its keys."""
    ConfigStore(tmp_path).set_password("correct horse battery staple")
    monkeypatch.setenv("PYS3LOCAL_CONFIG_PASSWORD", "correct horse battery staple")
    key = add_key(tmp_path, "enc", "--allow", "read,write")
    assert crypt.is_encrypted((tmp_path / "keys.toml").read_bytes())
    assert key.access_key_id not in (tmp_path / "keys.toml").read_text(errors="replace")
    server = make_server("--config-dir", str(tmp_path))  # type: ignore[operator]
    s3 = key_client(server, key)
    s3.put_object(Bucket="default", Key="k", Body=b"v")  # type: ignore[attr-defined]
    assert s3.get_object(Bucket="default", Key="k")["Body"].read() == b"v"  # type: ignore[attr-defined]


def test_serve_refuses_a_damaged_keys_file(tmp_path: Path) -> None:
    """serve does not start on a keys file it cannot read, and says why in one line."""
    (tmp_path / "keys.toml").write_text('[k]\naccess_key_id = "AB1"\n')
    with pytest.raises(RuntimeError, match="secret_access_key is missing"):
        start_server(tmp_path / "data", "--config-dir", str(tmp_path), timeout=15)


# --------------------------------------------------------------------------- rights


def test_GetObject_read_key_may_read_but_not_write(setup: Setup) -> None:
    """A read key gets and lists, and every write is AccessDenied with nothing changed."""
    setup.server.client().put_object(Bucket="alpha", Key="r/obj", Body=b"original")  # type: ignore[attr-defined]
    before = object_state(setup.server, "alpha")
    s3 = setup.client("reader")
    assert s3.get_object(Bucket="alpha", Key="r/obj")["Body"].read() == b"original"  # type: ignore[attr-defined]
    assert s3.list_objects_v2(Bucket="alpha", Prefix="r/")["KeyCount"] == 1  # type: ignore[attr-defined]
    assert error_code(s3.put_object, Bucket="alpha", Key="r/obj", Body=b"x") == "AccessDenied"  # type: ignore[attr-defined]
    assert error_code(s3.put_object, Bucket="alpha", Key="r/new", Body=b"x") == "AccessDenied"  # type: ignore[attr-defined]
    assert error_code(s3.delete_object, Bucket="alpha", Key="r/obj") == "AccessDenied"  # type: ignore[attr-defined]
    assert error_code(s3.create_multipart_upload, Bucket="alpha", Key="r/mp") == "AccessDenied"  # type: ignore[attr-defined]
    assert object_state(setup.server, "alpha") == before


def test_PutObject_append_only_creates_but_never_replaces(setup: Setup) -> None:
    """An append-only key creates new keys; overwriting by PUT, copy or multipart, and
    deleting, are AccessDenied and leave the object as it was."""
    s3 = setup.client("appender")
    s3.put_object(Bucket="alpha", Key="a/one", Body=b"first")  # type: ignore[attr-defined]
    s3.put_object(Bucket="alpha", Key="a/two", Body=b"second")  # type: ignore[attr-defined]
    before = object_state(setup.server, "alpha")
    assert error_code(s3.put_object, Bucket="alpha", Key="a/one", Body=b"evil") == "AccessDenied"  # type: ignore[attr-defined]
    # Naming the current ETag (If-Match) does not turn a create into a replace.
    etag = s3.head_object(Bucket="alpha", Key="a/one")["ETag"]  # type: ignore[attr-defined]
    evil = {"Bucket": "alpha", "Key": "a/one", "Body": b"evil", "IfMatch": etag}
    assert error_code(s3.put_object, **evil) == "AccessDenied"  # type: ignore[attr-defined]
    copy = {"Bucket": "alpha", "Key": "a/one", "CopySource": "alpha/a/two"}
    assert error_code(s3.copy_object, **copy) == "AccessDenied"  # type: ignore[attr-defined]
    upload = s3.create_multipart_upload(Bucket="alpha", Key="a/one")  # type: ignore[attr-defined]
    part = s3.upload_part(  # type: ignore[attr-defined]
        Bucket="alpha", Key="a/one", UploadId=upload["UploadId"], PartNumber=1, Body=b"evil"
    )
    complete = {
        "Bucket": "alpha",
        "Key": "a/one",
        "UploadId": upload["UploadId"],
        "MultipartUpload": {"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    }
    assert error_code(s3.complete_multipart_upload, **complete) == "AccessDenied"  # type: ignore[attr-defined]
    assert error_code(s3.delete_object, Bucket="alpha", Key="a/one") == "AccessDenied"  # type: ignore[attr-defined]
    deletes = {"Objects": [{"Key": "a/one"}, {"Key": "a/two"}]}
    assert error_code(s3.delete_objects, Bucket="alpha", Delete=deletes) == "AccessDenied"  # type: ignore[attr-defined]
    abort = {"Bucket": "alpha", "Key": "a/one", "UploadId": upload["UploadId"]}
    assert error_code(s3.abort_multipart_upload, **abort) == "AccessDenied"  # type: ignore[attr-defined]
    tagging = {"TagSet": [{"Key": "k", "Value": "v"}]}
    tag_call = {"Bucket": "alpha", "Key": "a/one", "Tagging": tagging}
    assert error_code(s3.put_object_tagging, **tag_call) == "AccessDenied"  # type: ignore[attr-defined]
    assert error_code(s3.delete_object_tagging, Bucket="alpha", Key="a/one") == "AccessDenied"  # type: ignore[attr-defined]
    assert object_state(setup.server, "alpha") == before
    # A new key by multipart is a create: allowed.
    complete["Key"] = "a/three"
    upload = s3.create_multipart_upload(Bucket="alpha", Key="a/three")  # type: ignore[attr-defined]
    part = s3.upload_part(  # type: ignore[attr-defined]
        Bucket="alpha", Key="a/three", UploadId=upload["UploadId"], PartNumber=1, Body=b"third"
    )
    complete["UploadId"] = upload["UploadId"]
    complete["MultipartUpload"] = {"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]}
    s3.complete_multipart_upload(**complete)  # type: ignore[attr-defined]
    assert object_state(setup.server, "alpha")["a/three"] == b"third"


def test_DeleteObject_append_only_removes_restic_lock_files_only(setup: Setup) -> None:
    """As with restic's rest-server in append-only mode, an append-only key may remove a
    restic lock file (locks/<64 hex>) and nothing else."""
    s3 = setup.client("appender")
    lock = "repo/locks/" + "ab" * 32
    s3.put_object(Bucket="alpha", Key=lock, Body=b"lock")  # type: ignore[attr-defined]
    s3.put_object(Bucket="alpha", Key="repo/locks/notalock", Body=b"x")  # type: ignore[attr-defined]
    s3.delete_object(Bucket="alpha", Key=lock)  # type: ignore[attr-defined]
    assert lock not in object_state(setup.server, "alpha")
    assert error_code(s3.delete_object, Bucket="alpha", Key="repo/locks/notalock") == (  # type: ignore[attr-defined]
        "AccessDenied"
    )
    reader = setup.client("reader")
    assert error_code(reader.delete_object, Bucket="alpha", Key=lock) == "AccessDenied"  # type: ignore[attr-defined]


def test_PutObject_If_None_Match_star(setup: Setup) -> None:
    """If-None-Match: * creates a key but never replaces one (412 PreconditionFailed),
    for PutObject and CompleteMultipartUpload alike."""
    s3 = setup.server.client()
    s3.put_object(Bucket="alpha", Key="inm/k", Body=b"v1", IfNoneMatch="*")  # type: ignore[attr-defined]
    assert error_code(s3.put_object, Bucket="alpha", Key="inm/k", Body=b"v2", IfNoneMatch="*") == (  # type: ignore[attr-defined]
        "PreconditionFailed"
    )
    upload = s3.create_multipart_upload(Bucket="alpha", Key="inm/k")  # type: ignore[attr-defined]
    part = s3.upload_part(  # type: ignore[attr-defined]
        Bucket="alpha", Key="inm/k", UploadId=upload["UploadId"], PartNumber=1, Body=b"v3"
    )
    parts = {"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]}
    assert (
        error_code(
            s3.complete_multipart_upload,  # type: ignore[attr-defined]
            Bucket="alpha",
            Key="inm/k",
            UploadId=upload["UploadId"],
            MultipartUpload=parts,
            IfNoneMatch="*",
        )
        == "PreconditionFailed"
    )
    assert s3.get_object(Bucket="alpha", Key="inm/k")["Body"].read() == b"v1"  # type: ignore[attr-defined]
    # The refused completion leaves the upload to complete elsewhere or abort.
    s3.abort_multipart_upload(Bucket="alpha", Key="inm/k", UploadId=upload["UploadId"])  # type: ignore[attr-defined]
    assert error_code(
        s3.put_object, Bucket="alpha", Key="inm/k", Body=b"x", IfNoneMatch='"abc"'
    ) == (  # type: ignore[attr-defined]
        "NotImplemented"
    )


def test_ListBuckets_shows_only_the_keys_buckets(setup: Setup) -> None:
    """ListBuckets lists the key's own buckets and no other, except to an admin key,
    which sees every bucket (its other rights stay within its own buckets)."""

    def names(name: str) -> set[str]:
        return {b["Name"] for b in setup.client(name).list_buckets()["Buckets"]}  # type: ignore[attr-defined]

    assert names("reader") == {"alpha"}
    assert names("scoped") == {"alpha", "alpha2"}
    assert {"alpha", "alpha2", "beta"} <= {
        b["Name"]
        for b in setup.server.client().list_buckets()["Buckets"]  # type: ignore[attr-defined]
    }
    assert {"alpha", "alpha2", "beta"} <= names("admin")  # its bucket pattern is "*"
    assert {"alpha", "alpha2", "beta"} <= names("alpha-admin")
    admin = setup.client("alpha-admin")
    assert error_code(admin.create_bucket, Bucket="beta2") == "AccessDenied"  # type: ignore[attr-defined]


def test_CreateBucket_needs_admin(setup: Setup) -> None:
    """Creating and deleting buckets needs admin; admin alone does not read objects."""
    assert error_code(setup.client("scoped").create_bucket, Bucket="alpha3") == "AccessDenied"  # type: ignore[attr-defined]
    admin = setup.client("admin")
    admin.create_bucket(Bucket="gamma")  # type: ignore[attr-defined]
    assert error_code(admin.list_objects_v2, Bucket="gamma") == "AccessDenied"  # type: ignore[attr-defined]
    admin.delete_bucket(Bucket="gamma")  # type: ignore[attr-defined]
    assert error_code(setup.client("scoped").delete_bucket, Bucket="alpha2") == "AccessDenied"  # type: ignore[attr-defined]


def test_CopyObject_source_bucket_must_be_readable(setup: Setup) -> None:
    """A key cannot copy out of a bucket it may not read, into one it may write."""
    setup.server.client().put_object(Bucket="beta", Key="secret", Body=b"s")  # type: ignore[attr-defined]
    s3 = setup.client("scoped")
    copy = {"Bucket": "alpha", "Key": "stolen", "CopySource": "beta/secret"}
    assert error_code(s3.copy_object, **copy) == "AccessDenied"  # type: ignore[attr-defined]
    upload = s3.create_multipart_upload(Bucket="alpha", Key="stolen")  # type: ignore[attr-defined]
    part_copy = {**copy, "UploadId": upload["UploadId"], "PartNumber": 1}
    assert error_code(s3.upload_part_copy, **part_copy) == "AccessDenied"  # type: ignore[attr-defined]
    assert "stolen" not in object_state(setup.server, "alpha")


def test_PutObject_refused_large_body_answers_cleanly(setup: Setup) -> None:
    """A refused 8 MiB PUT gets its 403 AccessDenied (not a broken connection) and the
    same client goes on working."""
    s3 = setup.client("reader")
    body = os.urandom(8 * 1024 * 1024)
    assert error_code(s3.put_object, Bucket="alpha", Key="big", Body=body) == "AccessDenied"  # type: ignore[attr-defined]
    assert s3.list_objects_v2(Bucket="alpha", Prefix="big")["KeyCount"] == 0  # type: ignore[attr-defined]


def test_access_log_names_the_key_never_the_secret(setup: Setup) -> None:
    """Access lines carry name/access key id of the signing key, refusals included; no
    secret appears in the server's output."""
    s3 = setup.client("reader")
    s3.head_bucket(Bucket="alpha")  # type: ignore[attr-defined]
    error_code(s3.put_object, Bucket="alpha", Key="logged", Body=b"x")  # type: ignore[attr-defined]
    key = setup.keys["reader"]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        lines = [line for line in setup.server.output if "/alpha/logged" in line]
        if lines:
            break
        time.sleep(0.05)
    assert lines and f"AccessDenied key=reader/{key.access_key_id}" in lines[-1]
    output = "".join(setup.server.output)
    assert all(k.secret not in output for k in setup.keys.values())


def test_rights_are_the_five_words_of_keys_add() -> None:
    """Rights are the five words of the issue, in a stable order."""
    assert [r.value for r in Right] == ["read", "write", "append-only", "delete", "admin"]
