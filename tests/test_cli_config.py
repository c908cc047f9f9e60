"""``pys3local config`` / ``obscure`` / ``serve --backend-config`` driven as a user would.

Real files in a temporary config directory; the interactive session is driven with
``CliRunner`` input and, for the hidden prompts, through a pty.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from processes import run_command, spawn, stop_group

from pys3local.cli import main
from pys3local.config import PASSWORD_ENV, ConfigStore, load_backend_config, reveal_secret

PASSWORD = "correct horse battery"


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh config directory in the environment; no password leaks in."""
    directory = tmp_path / "conf"
    monkeypatch.setenv("PYS3LOCAL_CONFIG_DIR", str(directory))
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    return directory


def run(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=input, env=env)


def assert_one_line_error(result: Result, text: str) -> None:
    """A clean click error: non-zero exit, an ``Error: ...`` line holding ``text``, no traceback."""
    assert result.exit_code != 0
    errors = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert any(text in line for line in errors), result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


# ----------------------------------------------------------------- obscure


def test_obscure_argument_pasted_into_config_reveals(config_dir: Path) -> None:
    """`pys3local obscure SECRET` output, pasted into backends.toml, is the original secret."""
    result = run("obscure", "my-drime-api-key")
    assert result.exit_code == 0, result.output
    obscured = result.stdout.strip()
    assert obscured != "my-drime-api-key" and result.stderr == ""
    config_dir.mkdir()
    (config_dir / "backends.toml").write_text(
        f'[mydrime]\ntype = "drime"\napi_key = "{obscured}"\nworkspace_id = 0\n'
    )
    assert load_backend_config("mydrime").settings.api_key == "my-drime-api-key"  # type: ignore[union-attr]


def test_obscure_reads_standard_input() -> None:
    """Without an argument the secret is one line of standard input (not in shell history)."""
    result = run("obscure", input="from stdin with spaces\nsecond line ignored\n")
    assert result.exit_code == 0, result.output
    assert reveal_secret(result.stdout.strip()) == "from stdin with spaces"


def test_obscure_empty_is_an_error() -> None:
    """An empty secret is refused."""
    assert_one_line_error(run("obscure", input="\n"), "nothing to obscure")


def test_obscure_hidden_prompt_on_a_terminal() -> None:
    """On a terminal the secret is asked for without echo."""
    pexpect = pytest.importorskip("pexpect")
    child = pexpect.spawn(
        sys.executable, ["-m", "pys3local", "obscure"], encoding="utf-8", timeout=20
    )
    child.expect("Secret to obscure: ")
    child.sendline("typed-secret")
    child.expect(pexpect.EOF)
    output = child.before.strip()
    assert "typed-secret" not in output
    assert reveal_secret(output.splitlines()[-1].strip()) == "typed-secret"


# ----------------------------------------------------------------- subcommands


def test_add_list_show_edit_rename_remove(config_dir: Path, tmp_path: Path) -> None:
    """The script subcommands manage backends.toml end to end."""
    data = tmp_path / "data"
    assert run("config", "add", "mylocal", "--type", "local", "--path", str(data)).exit_code == 0
    result = run(
        "config", "add", "mydrime", "--type", "drime", "--workspace-id", "1465",
        "--root-folder", "backups/s3", "--api-key", "-", input="secret-key\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "secret-key" not in (config_dir / "backends.toml").read_text()

    listing = run("config", "list")
    assert listing.exit_code == 0
    assert f"mylocal  local  path={data}" in listing.output
    assert "mydrime  drime  workspace_id=1465  root_folder=backups/s3" in listing.output
    assert "secret-key" not in listing.output

    shown = run("config", "show", "mydrime")
    assert shown.exit_code == 0
    assert 'api_key = "********"' in shown.output and "secret-key" not in shown.output

    edited = run(
        "config", "edit", "mydrime", "--unset", "root_folder", "--api-url", "http://127.0.0.1:1/api"
    )
    assert edited.exit_code == 0, edited.output
    settings = load_backend_config("mydrime").settings
    assert settings.root_folder is None and settings.api_url == "http://127.0.0.1:1/api"  # type: ignore[union-attr]
    assert settings.api_key == "secret-key"  # type: ignore[union-attr]

    assert run("config", "rename", "mylocal", "other").exit_code == 0
    assert run("config", "remove", "other", "--yes").exit_code == 0
    assert ConfigStore().names() == ["mydrime"]


def test_add_drime_reads_missing_api_key_from_stdin(config_dir: Path) -> None:
    """`config add --type drime` without --api-key asks for it (here: standard input)."""
    result = run(
        "config", "add", "d", "--type", "drime", "--workspace-id", "0", input="piped-key\n"
    )
    assert result.exit_code == 0, result.output
    assert load_backend_config("d").settings.api_key == "piped-key"  # type: ignore[union-attr]


def test_config_dir_option_wins(config_dir: Path, tmp_path: Path) -> None:
    """--config-dir overrides $PYS3LOCAL_CONFIG_DIR."""
    other = tmp_path / "other"
    result = run(
        "config", "--config-dir", str(other), "add", "l", "--type", "local", "--path", "/l"
    )
    assert result.exit_code == 0, result.output
    assert (other / "backends.toml").is_file() and not config_dir.exists()


def test_remove_asks_for_confirmation(config_dir: Path) -> None:
    """Without --yes, remove asks; answering no keeps the config."""
    run("config", "add", "l", "--type", "local", "--path", "/l")
    result = run("config", "remove", "l", input="n\n")
    assert result.exit_code != 0 and "Aborted" in result.output
    assert ConfigStore().names() == ["l"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("config", "show", "nope"), "Backend config 'nope' not found"),
        (("config", "remove", "nope", "--yes"), "Backend config 'nope' not found"),
        (("config", "add", "x", "--type", "local"), "--path is required for a local backend"),
        (("config", "add", "bad name", "--type", "local", "--path", "/x"), "invalid config name"),
        (
            ("config", "add", "x", "--type", "local", "--path", "/x", "--api-key", "k"),
            "backend 'x': unknown field 'api_key' for a local backend",
        ),
        (("config", "add", "x", "--type", "ftp"), "Invalid value for '--type'"),
        (("config", "edit", "nope", "--readonly"), "Backend config 'nope' not found"),
        (("config", "rename", "nope", "x"), "Backend config 'nope' not found"),
        (
            (
                "config",
                "remove-password",
            ),
            "is not encrypted",
        ),
    ],
)
def test_bad_input_is_a_one_line_error(
    config_dir: Path, args: tuple[str, ...], message: str
) -> None:
    """Mistakes give `Error: ...` and a non-zero exit, never a traceback."""
    assert_one_line_error(run(*args), message)


def test_not_found_hint(config_dir: Path) -> None:
    """The not-found error says how to create the config."""
    result = run("config", "show", "drime_test")
    assert "Error: Backend config 'drime_test' not found\nCreate it with" in result.output


def test_invalid_saved_config_is_listed_and_explained(config_dir: Path) -> None:
    """list marks an invalid config; show prints it, then the error naming file and field."""
    config_dir.mkdir()
    path = config_dir / "backends.toml"
    path.write_text('[d]\ntype = "drime"\napi_key = "not-obscured"\nworkspace_id = 0\n')
    listing = run("config", "list")
    assert listing.exit_code == 0
    assert f"invalid: {path} [d]: field 'api_key' is not obscured" in listing.output
    shown = run("config", "show", "d")
    assert 'api_key = "********"' in shown.output
    assert_one_line_error(shown, f"{path} [d]: field 'api_key'")


def test_encryption_commands(config_dir: Path) -> None:
    """set-password encrypts; commands then need the password; remove-password undoes it."""
    run("config", "add", "l", "--type", "local", "--path", "/l")
    result = run("config", "set-password", input=f"{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert (config_dir / "backends.toml").read_bytes().startswith(b"VAULTCONFIG_ENCRYPT_V1:")

    assert_one_line_error(run("config", "list"), "is encrypted: set PYS3LOCAL_CONFIG_PASSWORD")
    wrong = run("config", "list", env={PASSWORD_ENV: "not the password"})
    assert_one_line_error(wrong, "cannot decrypt: wrong password")
    listing = run("config", "list", env={PASSWORD_ENV: PASSWORD})
    assert listing.exit_code == 0 and "(encrypted)" in listing.output and "l " in listing.output

    assert run("config", "remove-password", env={PASSWORD_ENV: PASSWORD}).exit_code == 0
    assert run("config", "list").exit_code == 0


# ----------------------------------------------------------------- interactive session


def test_interactive_session(config_dir: Path, tmp_path: Path) -> None:
    """The menu adds, lists, edits, shows, renames, encrypts, decrypts and removes."""
    data = tmp_path / "d1"
    steps = [
        "2", "loc", "local", str(data), "n",  # add local
        "2", "dr", "drime", "SECRETKEY", "7", "bk", "", "y",  # add drime
        "1",  # list
        "3", "dr", "", "8", "-", "", "n",  # edit: keep key, ws 8, clear root, keep trash
        "4", "dr",  # show
        "6", "loc", "loc2",  # rename
        "2", "bad name", "local", "/x", "n",  # an error keeps the session going
        "7", PASSWORD,  # set password
        "1",
        "8", "y",  # remove password
        "5", "loc2", "y",  # remove
        "q",
    ]  # fmt: skip
    result = run("config", input="\n".join(steps) + "\n")
    assert result.exit_code == 0, result.output
    assert "dr   drime  workspace_id=7  root_folder=bk" in result.output
    assert 'api_key = "********"' in result.output and "SECRETKEY" not in result.output
    assert "Error: invalid config name 'bad name'" in result.output
    assert "(encrypted)" in result.output
    assert ConfigStore().names() == ["dr"]
    config = load_backend_config("dr")
    assert config.settings.api_key == "SECRETKEY"  # type: ignore[union-attr]
    assert config.settings.workspace_id == 8  # type: ignore[union-attr]
    assert config.settings.root_folder is None  # type: ignore[union-attr]
    assert config.settings.delete_forever is False  # type: ignore[union-attr]


def test_interactive_session_unlocks_encrypted_store(config_dir: Path) -> None:
    """An encrypted directory is unlocked with the password the session asks for."""
    ConfigStore().add("l", {"type": "local", "path": "/l"})
    ConfigStore().set_password(PASSWORD)
    result = run("config", input=f"{PASSWORD}\n1\nq\n")
    assert result.exit_code == 0, result.output
    assert "l  local  path=/l" in result.output


def test_interactive_session_on_a_terminal(config_dir: Path, tmp_path: Path) -> None:
    """Through a pty: the API key prompt is hidden and the config is saved."""
    pexpect = pytest.importorskip("pexpect")
    env = {**os.environ, "PYS3LOCAL_CONFIG_DIR": str(config_dir)}
    child = pexpect.spawn(
        sys.executable, ["-m", "pys3local", "config"], env=env, encoding="utf-8", timeout=20
    )
    for prompt, answer in [
        ("Choice: ", "2"),
        ("Name: ", "tty"),
        (r"Type \(local, drime, s3\): ", "drime"),
        (r"api_key \(.*\): ", "hidden-api-key"),
        (r"workspace_id .*: ", "3"),
        (r"root_folder .*: ", ""),
        (r"api_url .*: ", ""),
        (r"delete_forever .*: ", ""),
        ("Choice: ", "q"),
    ]:
        child.expect(prompt)
        child.sendline(answer)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert "hidden-api-key" not in child.before
    assert load_backend_config("tty").settings.api_key == "hidden-api-key"  # type: ignore[union-attr]


# ----------------------------------------------------------------- serve


def _serve_supports_backend_config() -> bool:
    result = run("serve", "--help")
    return "--backend-config" in result.output


needs_serve = pytest.mark.skipif(
    not _serve_supports_backend_config(),
    reason="pys3local serve has no --backend-config option yet",
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def serve_backend_config(config_dir: Path) -> Iterator[Callable[[str], int]]:
    """Start `pys3local serve --backend-config NAME` as a subprocess; return its port."""
    processes: list[subprocess.Popen[bytes]] = []

    def start(name: str) -> int:
        port = _free_port()
        env = {**os.environ, "PYS3LOCAL_CONFIG_DIR": str(config_dir)}
        process = spawn(
            [sys.executable, "-m", "pys3local", "serve", "--backend-config", name,
             "--listen", f"127.0.0.1:{port}", "--no-auth"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        processes.append(process)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if process.poll() is not None:
                output = process.stdout.read().decode() if process.stdout else ""
                pytest.fail(f"serve exited with {process.returncode}:\n{output}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    return port
            time.sleep(0.1)
        pytest.fail("serve did not start listening within 20 s")

    yield start
    for process in processes:
        stop_group(process, timeout=10)


@needs_serve
def test_serve_backend_config_serves_saved_local_path(
    config_dir: Path,
    tmp_path: Path,
    serve_backend_config: Callable[[str], int],
) -> None:
    """A saved local config's path is the directory served (0.2.1 ignored it)."""
    boto3 = pytest.importorskip("boto3")
    from botocore.config import Config

    data = tmp_path / "saved-data"
    ConfigStore().add("mylocal", {"type": "local", "path": str(data)})
    port = serve_backend_config("mylocal")
    s3 = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{port}",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}),
    )
    s3.put_object(Bucket="default", Key="dir/hello.txt", Body=b"hello from the saved path")

    stored = [p for p in data.rglob("hello.txt") if p.is_file()]
    assert stored and stored[0].read_bytes() == b"hello from the saved path"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="default").get("Contents", [])]
    assert keys == ["dir/hello.txt"]
    body = s3.get_object(Bucket="default", Key="dir/hello.txt")["Body"].read()
    assert body == b"hello from the saved path"


@needs_serve
def test_serve_missing_backend_config(config_dir: Path) -> None:
    """serve with an unknown config: the documented error, how to create it, non-zero exit."""
    result = run_command(
        [sys.executable, "-m", "pys3local", "serve", "--backend-config", "drime_test"],
        env={**os.environ, "PYS3LOCAL_CONFIG_DIR": str(config_dir)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert "Error: Backend config 'drime_test' not found" in result.stderr
    assert "pys3local config" in result.stderr
    assert "Traceback" not in result.stderr
