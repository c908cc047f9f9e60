"""rclone copy-out: the remote block for the server, to the clipboard or rclone.conf."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Input, Label, Select, Static

from pys3local.rclone import render_rclone_config
from pys3local.s3.rights import AccessKey
from pys3local.settings import DEFAULT_ACCESS_KEY, DEFAULT_REGION, DEFAULT_SECRET_KEY

from ..rclone_conf import RemoteExists, append_remote, remote_names
from ..screens.confirm import ConfirmDialog

DEFAULT_REMOTE = "pys3local"
SERVER_PAIR = "the Server tab's key pair"


@dataclass(frozen=True)
class RemoteTarget:
    """Where and how rclone reaches the server."""

    endpoint: str = "http://127.0.0.1:10001"
    access_key: str = DEFAULT_ACCESS_KEY
    secret_key: str = field(default=DEFAULT_SECRET_KEY, repr=False)
    region: str = DEFAULT_REGION


class RclonePane(Vertical):
    """Shows the block for the running server (or for the form's settings)."""

    BINDINGS = [
        Binding("y", "copy", "Copy"),
        Binding("w", "append", "Add to rclone.conf"),
        Binding("n", "rename", "Name"),
    ]

    def __init__(self, rclone_config: Path, *, id: str) -> None:
        super().__init__(id=id)
        self.rclone_config = rclone_config
        self.target = RemoteTarget()
        self.running = False
        #: The enabled keys of keys.toml, by name; the block is for one of them or,
        #: with none chosen, for the Server tab's key pair.
        self.keys: dict[str, AccessKey] = {}

    def compose(self) -> ComposeResult:
        with Horizontal(id="rc-name-row"):
            yield Label("Remote name ")
            yield Input(DEFAULT_REMOTE, id="rc-name", compact=True)
        with Horizontal(id="rc-key-row"):
            yield Label("Key ")
            yield Select[str]([], prompt=SERVER_PAIR, id="rc-key", compact=True)
        yield Label("", id="rc-note")
        with VerticalScroll(id="rc-block-box", can_focus=True):
            yield Static("", id="rc-block", markup=False)
        with Horizontal(classes="buttons"):
            yield Button("Copy (y)", id="rc-copy", compact=True, variant="primary")
            yield Button("Add to rclone.conf (w)", id="rc-append", compact=True)
        yield Static("", id="rc-message", markup=False)

    def on_mount(self) -> None:
        box = self.query_one("#rc-block-box")
        box.border_title = "rclone remote"
        box.border_subtitle = f"w adds it to {self._short_path()}"
        self._offer_keys()

    def _short_path(self) -> str:
        try:
            return "~/" + str(self.rclone_config.relative_to(Path.home()))
        except ValueError:
            return str(self.rclone_config)

    # ------------------------------------------------------------------ content

    @property
    def remote_name(self) -> str:
        return self.query_one("#rc-name", Input).value.strip() or DEFAULT_REMOTE

    @property
    def chosen_key(self) -> AccessKey | None:
        """The keys.toml key the block is for; None for the Server tab's pair."""
        choice = self.query_one("#rc-key", Select).value if self.is_mounted else None
        return self.keys.get(choice) if isinstance(choice, str) else None

    def block(self) -> str:
        """The remote block for :attr:`target`, signed with the chosen key."""
        target, key = self.target, self.chosen_key
        access_key, secret = (
            (key.access_key_id, key.secret) if key else (target.access_key, target.secret_key)
        )
        return render_rclone_config(
            target.endpoint, access_key, secret, target.region, name=self.remote_name
        )

    def set_keys(self, keys: tuple[AccessKey, ...]) -> None:
        """Offer the enabled keys of keys.toml (the choice stays while its key does)."""
        self.keys = {key.name: key for key in keys if key.enabled}
        if self.is_mounted:
            self._offer_keys()

    def _offer_keys(self) -> None:
        select = self.query_one("#rc-key", Select)
        previous = select.value
        select.set_options((name, name) for name in self.keys)
        if isinstance(previous, str) and previous in self.keys:
            select.value = previous
        self.refresh_block()

    def refresh_block(self) -> None:
        note = (
            f"For the server running on {self.target.endpoint}"
            if self.running
            else "The server is not running: this is for the settings on the Server tab."
        )
        self.query_one("#rc-note", Label).update(note)
        self.query_one("#rc-block", Static).update(self.block())

    def show_target(self, target: RemoteTarget, running: bool) -> None:
        """What the block is for: the running server, or the start form's settings."""
        self.target = target
        self.running = running
        if self.is_mounted:
            self.refresh_block()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "rc-name":
            self.refresh_block()

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        self.refresh_block()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_one("#rc-block-box").focus()

    def show_message(self, text: str, error: bool = False) -> None:
        message = self.query_one("#rc-message", Static)
        message.update(text)
        message.set_class(error, "error")

    # ------------------------------------------------------------------ actions

    def action_copy(self) -> None:
        # OSC 52: the terminal puts it on the clipboard (over SSH too), if it allows
        # it; nothing tells the console whether it did, so say only what is known.
        self.app.copy_to_clipboard(self.block())
        self.show_message(
            f"Sent the [{self.remote_name}] remote to the terminal for its clipboard. "
            "If nothing pastes, your terminal ignored it: select the block above with "
            "the mouse (shift+drag in most terminals) or press w to add it to rclone.conf."
        )

    def action_rename(self) -> None:
        self.query_one("#rc-name", Input).focus()

    @work(exclusive=True, group="rclone-append", exit_on_error=False)
    async def action_append(self) -> None:
        name, block, path = self.remote_name, self.block(), self.rclone_config
        if name in remote_names(path):
            self.show_message(
                f"{path} already has a remote [{name}]: choose another name (n).", error=True
            )
            return
        question = f"Append the remote [{name}] to {path}?\n\n{block}"
        if not await self.app.push_screen_wait(
            ConfirmDialog("Add to rclone.conf", question, "Append", danger=False)
        ):
            return
        try:
            append_remote(path, name, block)
        except RemoteExists as exc:
            self.show_message(str(exc), error=True)
        except OSError as exc:
            self.show_message(f"cannot write {path}: {exc.strerror or exc}", error=True)
        else:
            self.show_message(f"Added [{name}] to {path}. Try: rclone lsd {name}:")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "rc-copy":
            self.action_copy()
        elif event.button.id == "rc-append":
            self.action_append()
