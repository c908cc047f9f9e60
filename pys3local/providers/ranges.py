"""Byte ranges of an object: as a client asks for them and as they resolve."""

from __future__ import annotations

from dataclasses import dataclass

from pys3local.errors import InvalidRange


@dataclass(frozen=True, slots=True)
class ByteRange:
    """An inclusive byte range that lies inside the object."""

    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1


@dataclass(frozen=True, slots=True)
class RangeRequest:
    """A requested byte range, not yet checked against an object's size.

    ``first``/``last`` as in ``bytes=first-last``; ``bytes=first-`` has ``last`` None;
    a suffix ``bytes=-n`` has ``first`` None and ``last`` n.
    """

    first: int | None
    last: int | None

    def resolve(self, size: int) -> ByteRange:
        """The part of an object of ``size`` bytes this range selects.

        Raises InvalidRange when it selects nothing.
        """
        if self.first is None:
            length = self.last or 0
            if length <= 0 or size == 0:
                raise InvalidRange(ActualObjectSize=str(size))
            return ByteRange(max(0, size - length), size - 1)
        if self.first >= size:
            raise InvalidRange(ActualObjectSize=str(size))
        last = size - 1 if self.last is None else min(self.last, size - 1)
        return ByteRange(self.first, last)
