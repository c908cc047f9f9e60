"""Obscuring of secrets in config files (rclone's scheme, with pys3local's key).

Obscuring hides a secret from a glance at the file; it is not encryption: the key is
public. ``pys3local obscure`` uses the same functions.
"""

from __future__ import annotations

import logging
import re

from vaultconfig import create_obscurer_from_hex

# pys3local 0.2.1's key, kept so that configs it saved (per-file layout) still reveal.
# Obscuring is obfuscation against shoulder-surfing, not protection: the key is public.
_OBSCURE_KEY_HEX = "1f45e72a93b84d6fc08a29de67f3b2a8e94c5d6f0a1b2c3d4e5f6a7b8c9d0e1f"
_OBSCURER = create_obscurer_from_hex(_OBSCURE_KEY_HEX)
# 16-byte IV + at least one byte, base64url without padding.
_OBSCURED_RE = re.compile(r"[A-Za-z0-9_-]{23,}")


class _DropObscureWarning(logging.Filter):
    """vaultconfig logs a security warning on the first obscure() of every Obscurer.

    The docs already say obscuring is not encryption; the warning would otherwise land on
    stderr of every `pys3local obscure` / `config add`.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("SECURITY: obscure()")


logging.getLogger("vaultconfig.obscure").addFilter(_DropObscureWarning())


def obscure_secret(plain: str) -> str:
    """Obscure a secret with pys3local's key (what ``pys3local obscure`` prints)."""
    if not plain:
        raise ValueError("cannot obscure an empty secret")
    return _OBSCURER.obscure(plain)


def reveal_secret(value: str) -> str:
    """Reveal a value made by :func:`obscure_secret`.

    The scheme (rclone's AES-CTR) has no checksum, so "reveals" means: base64url, decrypts to
    non-empty printable UTF-8. Raises ValueError otherwise (plain text, another key).
    """
    if not isinstance(value, str) or not _OBSCURED_RE.fullmatch(value):
        raise ValueError("not an obscured value")
    try:
        plain = _OBSCURER.reveal(value)
    except ValueError:
        plain = ""
    if not plain or not plain.isprintable():
        raise ValueError("does not reveal with pys3local's key")
    return plain
