"""The start form as it was last used, kept between two runs of the console.

A small JSON file next to ``backends.toml`` (:data:`FILE`): the form's fields by id,
as typed. Never a secret: the secret key is left out (the form asks for it again
unless the access key is the public default), and a saved backend is kept by name
only. Written atomically with mode 0600, like ``backends.toml``; a missing,
unreadable or foreign file means the defaults.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

# The config store's writer: readers see the old or the new file, never a torn one.
from pys3local.config.store import _atomic_write

FILE = "console.json"
#: Fields never written, whatever the caller passes.
SECRET_FIELDS = frozenset({"srv-secret"})

FormValues = dict[str, str | bool]


def load(directory: Path) -> FormValues:
    """The remembered fields ({} when there are none)."""
    with contextlib.suppress(OSError, ValueError):
        document = json.loads((directory / FILE).read_text(encoding="utf-8"))
        if isinstance(document, dict):
            return {
                key: value
                for key, value in document.items()
                if isinstance(key, str)
                and isinstance(value, str | bool)
                and key not in SECRET_FIELDS
            }
    return {}


def save(directory: Path, values: FormValues) -> None:
    """Remember ``values`` (secrets dropped). Raises OSError."""
    kept = {key: value for key, value in values.items() if key not in SECRET_FIELDS}
    data = json.dumps(kept, indent=2, sort_keys=True) + "\n"
    _atomic_write(directory / FILE, data.encode("utf-8"))
