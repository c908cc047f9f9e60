"""Saved backend configs (pys3local.config) on real files in a temporary config directory."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest
from vaultconfig import ConfigManager, create_obscurer_from_hex, crypt
from vaultconfig import obscure as vaultconfig_obscure

from pys3local import config as cfg
from pys3local.config import (
    BackendConfigError,
    ConfigExists,
    ConfigNotFound,
    ConfigPasswordInvalid,
    ConfigPasswordRequired,
    ConfigStore,
    DrimeBackendSettings,
    LocalBackendSettings,
    drime_settings_from_env,
    load_backend_config,
    obscure_secret,
    reveal_secret,
)

PASSWORD = "correct horse battery"
# pys3local 0.2.1's obscuring key, as its config.py defined it.
KEY_0_2_1 = "1f45e72a93b84d6fc08a29de67f3b2a8e94c5d6f0a1b2c3d4e5f6a7b8c9d0e1f"


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh config directory; the environment cannot leak a real one or a password."""
    directory = tmp_path / "conf"
    monkeypatch.setenv("PYS3LOCAL_CONFIG_DIR", str(directory))
    monkeypatch.delenv(cfg.PASSWORD_ENV, raising=False)
    return directory


def write_backends(config_dir: Path, text: str) -> Path:
    config_dir.mkdir(parents=True, exist_ok=True)
    path = config_dir / "backends.toml"
    path.write_text(text)
    return path


# ----------------------------------------------------------------- obscuring


def test_obscure_reveal_round_trip() -> None:
    """obscure_secret output reveals to the original; each call uses a fresh IV."""
    first, second = obscure_secret("s3cr3t key/with+chars"), obscure_secret("s3cr3t key/with+chars")
    assert first != second
    assert reveal_secret(first) == reveal_secret(second) == "s3cr3t key/with+chars"


@pytest.mark.parametrize(
    "value",
    [
        "plain-api-key",
        "0123456789abcdefghijklmnopqrstuvwxyzABCDEF",  # plain but base64url-shaped
        "",
        "has spaces and | pipes in a long enough string",
    ],
)
def test_reveal_rejects_values_not_obscured_with_our_key(value: str) -> None:
    """Plain text is never accepted as an obscured value."""
    with pytest.raises(ValueError):
        reveal_secret(value)


def test_reveal_rejects_vaultconfig_default_key() -> None:
    """pys3local 0.2.1's `obscure` output (vaultconfig's default key) does not reveal with ours."""
    with pytest.raises(ValueError):
        reveal_secret(vaultconfig_obscure.obscure("my-drime-api-key-1234567890"))


def test_obscure_uses_pys3local_0_2_1_key() -> None:
    """Configs saved by pys3local 0.2.1 (its config key) still reveal."""
    old = create_obscurer_from_hex(
        "1f45e72a93b84d6fc08a29de67f3b2a8e94c5d6f0a1b2c3d4e5f6a7b8c9d0e1f"
    )
    assert reveal_secret(old.obscure("legacy-key")) == "legacy-key"


# ----------------------------------------------------------------- reading


def test_hand_written_sectioned_backends_toml(config_dir: Path) -> None:
    """The spec's backends.toml (one section per backend) loads with typed settings."""
    key = obscure_secret("drime-api-key")
    write_backends(
        config_dir,
        f"""
[mylocal]
type = "local"
path = "/srv/s3data"

[mydrime]
type = "drime"
api_key = "{key}"
workspace_id = 1465
root_folder = "backups/s3" # Optional: limit S3 scope to this folder
""",
    )
    local = load_backend_config("mylocal")
    assert local.type == "local"
    assert local.settings == LocalBackendSettings(path=Path("/srv/s3data"), readonly=False)
    drime = load_backend_config("mydrime")
    assert drime.settings == DrimeBackendSettings(
        api_key="drime-api-key", workspace_id=1465, root_folder="backups/s3"
    )
    assert drime.source == config_dir / "backends.toml"
    assert ConfigStore().names() == ["mydrime", "mylocal"]
    assert "drime-api-key" not in repr(drime)


def test_per_file_layout_written_by_vaultconfig(config_dir: Path) -> None:
    """vaultconfig's one-file-per-config layout (pys3local 0.2.1) is read too."""
    manager = ConfigManager(config_dir, obscurer=create_obscurer_from_hex(KEY_0_2_1))
    obscured = create_obscurer_from_hex(KEY_0_2_1).obscure("old-api-key")
    manager.add_config("olddrime", {"type": "drime", "api_key": obscured, "workspace_id": 0})
    (config_dir / "notes.toml").write_text('title = "not a backend"\n')

    store = ConfigStore()
    assert store.names() == ["olddrime"]
    loaded = store.load("olddrime")
    assert loaded.settings.api_key == "old-api-key"  # type: ignore[union-attr]
    assert loaded.source == config_dir / "olddrime.toml"


def test_section_wins_over_per_file_config(config_dir: Path) -> None:
    """A name in both layouts: the backends.toml section is used."""
    write_backends(config_dir, '[x]\ntype = "local"\npath = "/from/backends"\n')
    (config_dir / "x.toml").write_text('type = "local"\npath = "/from/file"\n')
    assert load_backend_config("x").settings.path == Path("/from/backends")  # type: ignore[union-attr]
    assert ConfigStore().names() == ["x"]


def test_config_not_found_message(config_dir: Path) -> None:
    """The first line is exactly the documented message; a hint on how to create it follows."""
    with pytest.raises(ConfigNotFound) as info:
        load_backend_config("drime_test")
    first, hint = str(info.value).split("\n")
    assert first == "Backend config 'drime_test' not found"
    assert "pys3local config" in hint and str(config_dir / "backends.toml") in hint


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('type = "ftp"\npath = "/x"', "field 'type' has unknown backend type 'ftp'"),
        ('path = "/x"', "missing field 'type'"),
        ('type = "local"', "missing field 'path'"),
        ('type = "drime"\nworkspace_id = 1', "missing field 'api_key'"),
        ('type = "local"\npath = "relative/dir"', "field 'path' must be an absolute path"),
        ('type = "local"\npath = "/x"\nreadonly = "yes"', "field 'readonly' must be true or false"),
        ('type = "local"\npath = "/x"\nroot-folder = "a"', "unknown field 'root-folder'"),
        (
            'type = "drime"\napi_key = "{key}"\nworkspace_id = "abc"',
            "field 'workspace_id' must be a non-negative integer",
        ),
        (
            'type = "drime"\napi_key = "{key}"\nworkspace_id = 1\napi_url = "ftp://x"',
            "field 'api_url' must start with http:// or https://",
        ),
        (
            'type = "drime"\napi_key = "plain-text-key"\nworkspace_id = 1',
            "field 'api_key' is not obscured with pys3local's key",
        ),
    ],
)
def test_invalid_config_names_file_and_field(config_dir: Path, body: str, expected: str) -> None:
    """Each problem is an error naming the file, the section and the field."""
    path = write_backends(config_dir, "[bad]\n" + body.format(key=obscure_secret("k")) + "\n")
    with pytest.raises(BackendConfigError) as info:
        load_backend_config("bad")
    assert str(info.value).startswith(f"{path} [bad]: ")
    assert expected in str(info.value)


def test_secret_from_old_obscure_command_is_explained(config_dir: Path) -> None:
    """A value from 0.2.1's `obscure` is an error that says what happened, not the literal key."""
    bad = vaultconfig_obscure.obscure("real-api-key-value")
    write_backends(config_dir, f'[d]\ntype = "drime"\napi_key = "{bad}"\nworkspace_id = 0\n')
    with pytest.raises(BackendConfigError, match=r"api_key.*0\.2\.1 'obscure' output"):
        load_backend_config("d")


def test_secret_is_not_echoed_in_errors(config_dir: Path) -> None:
    """An unusable secret never appears in the error message."""
    write_backends(config_dir, '[d]\ntype = "drime"\napi_key = "hunter2-plain"\nworkspace_id = 0\n')
    with pytest.raises(BackendConfigError) as info:
        load_backend_config("d")
    assert "hunter2" not in str(info.value)


def test_invalid_toml_names_file_and_line(config_dir: Path) -> None:
    """A syntax error names the file and the line."""
    path = write_backends(config_dir, '[a]\ntype = "local"\npath = /x\n')
    with pytest.raises(BackendConfigError, match=rf"^{path}: invalid TOML: .*line 3"):
        load_backend_config("a")


def test_top_level_key_is_not_a_section(config_dir: Path) -> None:
    """A flat backends.toml (per-file layout pasted into it) is a clear error."""
    path = write_backends(config_dir, 'type = "local"\npath = "/x"\n')
    with pytest.raises(BackendConfigError, match=rf"^{path}: top-level key 'type' is not"):
        ConfigStore().names()


def test_default_directory_honours_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without an override, configs live in $XDG_CONFIG_HOME/pys3local/backends.toml."""
    monkeypatch.delenv("PYS3LOCAL_CONFIG_DIR", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    if sys.platform == "win32":  # pragma: no cover
        monkeypatch.delenv("APPDATA", raising=False)
    assert ConfigStore().backends_path == tmp_path / "xdg" / "pys3local" / "backends.toml"


# ----------------------------------------------------------------- writing


def test_add_update_rename_remove(config_dir: Path) -> None:
    """Changes go to backends.toml; secrets are written obscured, never in plain text."""
    store = ConfigStore()
    store.add("d", {"type": "drime", "api_key": "plain-secret", "workspace_id": 3})
    text = (config_dir / "backends.toml").read_text()
    assert "plain-secret" not in text
    assert store.load("d").settings.api_key == "plain-secret"  # type: ignore[union-attr]

    store.update("d", {"root_folder": "backups/s3", "api_url": "http://127.0.0.1:9/api/v1"})
    assert store.load("d").settings.root_folder == "backups/s3"  # type: ignore[union-attr]
    store.update("d", {"root_folder": None})
    assert store.load("d").settings.root_folder is None  # type: ignore[union-attr]
    store.update("d", {"api_key": "rotated"})
    assert store.load("d").settings.api_key == "rotated"  # type: ignore[union-attr]

    store.add("l", {"type": "local", "path": "/data"})
    store.rename("d", "drime2")
    assert store.names() == ["drime2", "l"]
    assert list(store._sections()) == ["drime2", "l"]  # position kept
    store.remove("drime2")
    assert store.names() == ["l"]
    with pytest.raises(ConfigNotFound):
        store.remove("drime2")


def test_written_file_and_directory_modes(config_dir: Path) -> None:
    """backends.toml is 0600, a directory we create is 0700, no temp file is left."""
    ConfigStore().add("l", {"type": "local", "path": "/data"})
    if os.name == "posix":
        assert stat.S_IMODE((config_dir / "backends.toml").stat().st_mode) == 0o600
        assert stat.S_IMODE(config_dir.stat().st_mode) == 0o700
    assert sorted(p.name for p in config_dir.iterdir()) == ["backends.toml"]


def test_written_file_is_documented_format(config_dir: Path) -> None:
    """What pys3local writes is the documented sectioned format, fields in order."""
    store = ConfigStore()
    store.add("mylocal", {"type": "local", "path": "/srv/s3data", "readonly": True})
    text = (config_dir / "backends.toml").read_text()
    assert '[mylocal]\ntype = "local"\npath = "/srv/s3data"\nreadonly = true\n' in text


def test_relative_path_is_stored_absolute(
    config_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative path given when adding is resolved against the current directory."""
    monkeypatch.chdir(tmp_path)
    config = ConfigStore().add("l", {"type": "local", "path": "data"})
    assert config.settings.path == tmp_path / "data"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("name", "values", "error"),
    [
        ("bad name", {"type": "local", "path": "/x"}, BackendConfigError),
        ("x", {"type": "nope"}, BackendConfigError),
        ("x", {"type": "local"}, BackendConfigError),
        ("x", {"type": "local", "path": ""}, BackendConfigError),
        ("x", {"type": "drime", "api_key": "", "workspace_id": 1}, BackendConfigError),
        ("x", {"type": "local", "path": "/x", "api_key": "k"}, BackendConfigError),
    ],
)
def test_add_rejects_bad_input_without_writing(
    config_dir: Path, name: str, values: dict[str, object], error: type[Exception]
) -> None:
    """Invalid names and values are rejected before anything is written."""
    with pytest.raises(error):
        ConfigStore().add(name, values)
    assert not (config_dir / "backends.toml").exists()


def test_add_and_rename_refuse_to_overwrite(config_dir: Path) -> None:
    """add/rename never replace an existing config."""
    store = ConfigStore()
    store.add("a", {"type": "local", "path": "/a"})
    store.add("b", {"type": "local", "path": "/b"})
    with pytest.raises(ConfigExists):
        store.add("a", {"type": "local", "path": "/c"})
    with pytest.raises(ConfigExists):
        store.rename("a", "b")


def test_editing_per_file_config_moves_it(config_dir: Path) -> None:
    """Editing a config of the per-file layout moves it into backends.toml."""
    config_dir.mkdir()
    (config_dir / "old.toml").write_text('type = "local"\npath = "/old"\n')
    store = ConfigStore()
    store.update("old", {"readonly": True})
    assert not (config_dir / "old.toml").exists()
    loaded = store.load("old")
    assert loaded.source == config_dir / "backends.toml"
    assert loaded.settings == LocalBackendSettings(Path("/old"), readonly=True)


def test_override_applies_cli_options() -> None:
    """CLI options override saved values; None means not given; foreign options are errors."""
    config = cfg.BackendConfig(
        "d", "drime", DrimeBackendSettings(api_key="k", workspace_id=1), Path("/x")
    )
    changed = config.override(root_folder="my-backups", api_url=None)
    assert changed.settings.root_folder == "my-backups"  # type: ignore[union-attr]
    assert config.settings.root_folder is None  # type: ignore[union-attr]
    with pytest.raises(BackendConfigError, match="option 'path' does not apply"):
        config.override(path="/x")


def test_override_local_path_resolves_relative(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`serve --backend-config mylocal --path data` serves ./data of the current directory."""
    monkeypatch.chdir(tmp_path)
    config = cfg.BackendConfig("l", "local", LocalBackendSettings(Path("/saved")), Path("/x"))
    assert config.override(path="data").settings == LocalBackendSettings(tmp_path / "data")
    assert config.override(path=None).settings.path == Path("/saved")  # type: ignore[union-attr]


def test_drime_settings_from_env() -> None:
    """DRIME_API_KEY is required; DRIME_WORKSPACE_ID defaults to 0 and must be an integer."""
    settings = drime_settings_from_env({"DRIME_API_KEY": "k", "DRIME_WORKSPACE_ID": "1465"})
    assert settings == DrimeBackendSettings(api_key="k", workspace_id=1465)
    assert drime_settings_from_env({"DRIME_API_KEY": "k"}).workspace_id == 0
    with pytest.raises(BackendConfigError, match="DRIME_API_KEY is not set"):
        drime_settings_from_env({})
    with pytest.raises(BackendConfigError, match="DRIME_WORKSPACE_ID must be a non-negative"):
        drime_settings_from_env({"DRIME_API_KEY": "k", "DRIME_WORKSPACE_ID": "x"})


# ----------------------------------------------------------------- encryption


def test_encrypted_round_trip(config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """set_password encrypts backends.toml; it loads with the password (argument or env)."""
    store = ConfigStore()
    store.add("d", {"type": "drime", "api_key": "the-key", "workspace_id": 2})
    assert store.set_password(PASSWORD) == []
    raw = (config_dir / "backends.toml").read_bytes()
    assert crypt.is_encrypted(raw) and b"drime" not in raw
    if os.name == "posix":
        assert stat.S_IMODE((config_dir / "backends.toml").stat().st_mode) == 0o600

    with pytest.raises(ConfigPasswordRequired, match="PYS3LOCAL_CONFIG_PASSWORD"):
        load_backend_config("d")
    with pytest.raises(ConfigPasswordInvalid, match="cannot decrypt"):
        load_backend_config("d", password="wrong password")
    assert load_backend_config("d", password=PASSWORD).settings.api_key == "the-key"  # type: ignore[union-attr]
    monkeypatch.setenv(cfg.PASSWORD_ENV, PASSWORD)
    assert load_backend_config("d").settings.workspace_id == 2  # type: ignore[union-attr]

    # Writes keep the file encrypted; removing the password stores it in plain TOML again.
    unlocked = ConfigStore()
    unlocked.add("l", {"type": "local", "path": "/l"})
    assert crypt.is_encrypted((config_dir / "backends.toml").read_bytes())
    unlocked.remove_password()
    assert "\n[d]\n" in (config_dir / "backends.toml").read_text()
    monkeypatch.delenv(cfg.PASSWORD_ENV)
    assert ConfigStore().names() == ["d", "l"]


def test_set_password_moves_per_file_configs(config_dir: Path) -> None:
    """Encryption covers the whole directory: per-file configs move into backends.toml."""
    config_dir.mkdir()
    (config_dir / "old.toml").write_text(
        f'type = "drime"\napi_key = "{obscure_secret("k1")}"\nworkspace_id = 0\n'
    )
    ConfigStore().set_password(PASSWORD)
    assert sorted(p.name for p in config_dir.iterdir()) == ["backends.toml"]
    assert load_backend_config("old", password=PASSWORD).settings.api_key == "k1"  # type: ignore[union-attr]


def test_set_password_rejects_short_password(config_dir: Path) -> None:
    """vaultconfig's minimum password length is enforced with a clear error."""
    ConfigStore().add("l", {"type": "local", "path": "/l"})
    with pytest.raises(BackendConfigError, match="password rejected"):
        ConfigStore().set_password("abc")
    assert not crypt.is_encrypted((config_dir / "backends.toml").read_bytes())


def test_per_file_config_encrypted_by_vaultconfig(config_dir: Path) -> None:
    """A per-file config encrypted by vaultconfig decrypts with the same password."""
    manager = ConfigManager(config_dir, password=PASSWORD)
    manager.add_config("enc", {"type": "local", "path": "/enc"})
    assert crypt.is_encrypted((config_dir / "enc.toml").read_bytes())
    store = ConfigStore(password=PASSWORD)
    assert store.is_encrypted()
    assert store.load("enc").settings.path == Path("/enc")  # type: ignore[union-attr]
    with pytest.raises(ConfigPasswordRequired):
        ConfigStore().load("enc")
