"""Dates on the wire, parsed and written in one place.

``Date``, ``Last-Modified`` and the conditional headers carry an HTTP-date (RFC 9110:
IMF-fixdate, and the obsolete RFC 850 and asctime forms a server must accept);
``x-amz-date`` and SigV4 carry the ISO 8601 basic form (``20240101T000000Z``).
Every parser returns an aware UTC datetime, or None for anything else: a header
from a client is data, and no value of it (a year far out of range, an offset that
pushes the moment past year 9999) may raise.
"""

from __future__ import annotations

from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

_AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def parse_http_date(value: str | None) -> datetime | None:
    """Parse an HTTP-date (a date without a zone is taken as UTC); None if it is not
    one, whatever the value."""
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value.strip())
        if parsed is None:  # Python < 3.10.? returned None for some bad values
            return None
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=timezone.utc)
        # A numeric offset can push a moment near year 1 or 9999 out of range.
        return parsed.astimezone(timezone.utc)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def parse_amz_date(value: str) -> datetime | None:
    """Parse ``YYYYMMDDTHHMMSSZ`` (UTC); None if malformed."""
    value = value.strip()
    if len(value) != 16 or not (value[:8] + value[9:15]).isdigit() or value[8] != "T":
        return None
    if value[15] != "Z" or not value.isascii():
        return None
    try:
        # Slicing instead of strptime, which is slow enough to show in profiles.
        return datetime(
            int(value[0:4]),
            int(value[4:6]),
            int(value[6:8]),
            int(value[9:11]),
            int(value[11:13]),
            int(value[13:15]),
            tzinfo=timezone.utc,
        )
    except ValueError:
        return None


def parse_request_date(value: str) -> datetime | None:
    """A signed request's date (``Date``, SigV2 ``x-amz-date``): an amz date or an
    HTTP-date; None if neither."""
    return parse_amz_date(value) or parse_http_date(value)


def http_date(moment: datetime) -> str:
    """RFC 9110 IMF-fixdate (``Sun, 06 Nov 1994 08:49:37 GMT``), written out by hand:
    ``email.utils.format_datetime`` showed in the profile of every HEAD and GET."""
    utc = moment.astimezone(timezone.utc)
    return (
        f"{_WEEKDAYS[utc.weekday()]}, {utc.day:02d} {_MONTHS[utc.month - 1]} {utc.year:04d} "
        f"{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d} GMT"
    )


def format_amz_date(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime(_AMZ_DATE_FORMAT)


def format_server_time(epoch: float) -> str:
    """ISO 8601 time for error details (``ServerTime``, ``Expires``)."""
    try:
        return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return str(int(epoch))
