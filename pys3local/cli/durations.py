"""Durations on the command line: ``90``, ``90s``, ``15m``, ``1h``, ``7d``."""

from __future__ import annotations

import re

import click

_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd]?)")


def parse_duration(text: str) -> float:
    """Seconds in ``text`` (a number of seconds, or one with an s/m/h/d suffix);
    ValueError for anything else."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None:
        raise ValueError(f"{text!r} is not a duration like 3600, 90s, 15m, 1h or 1d")
    return float(match[1]) * _UNITS[match[2]]


class Duration(click.ParamType):
    """A duration in seconds, optionally with an s/m/h/d suffix."""

    name = "duration"

    def convert(self, value: object, param: object, ctx: object) -> float:
        if isinstance(value, (int, float)):
            return float(value)
        try:
            return parse_duration(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)  # type: ignore[arg-type]
