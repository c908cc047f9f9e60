"""What an object keeps of the multipart upload that made it.

CompleteMultipartUpload records, with the object, the upload's id, the number and
size of each part and each part's verified checksums. Any server process that
reads the object later (another worker, a restarted server) can then:

- answer a retried Complete of the same upload with success (a client whose first
  answer was lost retries, as every SDK does on a timeout), since the stored object
  is the one that upload made;
- serve ``GetObject?partNumber=N`` with exactly the bytes of part N;
- list the parts and their checksums in GetObjectAttributes.

The record is stored in a compact form: runs of equal part sizes (backup tools cut
every part but the last to one size, so 10,000 parts are two runs), and part
numbers only when they are not 1..N.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .ranges import ByteRange


@dataclass(frozen=True, slots=True)
class PartsRecord:
    """How CompleteMultipartUpload assembled an object."""

    upload_id: str
    #: Each part's size, in object order.
    sizes: tuple[int, ...]
    #: Each part's number as uploaded (ascending); 1..N when not given.
    numbers: tuple[int, ...] = ()
    #: Each part's verified checksums (``{"CRC32": "<base64>"}``), in object order;
    #: empty when no part had one.
    checksums: tuple[dict[str, str], ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.numbers:
            object.__setattr__(self, "numbers", tuple(range(1, len(self.sizes) + 1)))

    @property
    def count(self) -> int:
        return len(self.sizes)

    def index_of(self, number: int) -> int | None:
        """The position of part ``number`` in the object, or None if it has no such
        part."""
        if 1 <= number <= self.count and self.numbers[number - 1] == number:
            return number - 1
        try:
            return self.numbers.index(number)
        except ValueError:
            return None

    def span(self, index: int) -> ByteRange | None:
        """The bytes of the part at ``index`` (None for an empty part)."""
        start = sum(self.sizes[:index])
        size = self.sizes[index]
        return ByteRange(start, start + size - 1) if size else None

    def part_checksums(self, index: int) -> dict[str, str]:
        return dict(self.checksums[index]) if index < len(self.checksums) else {}

    def total_size(self) -> int:
        return sum(self.sizes)

    def to_dict(self) -> dict[str, object]:
        runs: list[list[int]] = []
        for size in self.sizes:
            if runs and runs[-1][0] == size:
                runs[-1][1] += 1
            else:
                runs.append([size, 1])
        document: dict[str, object] = {"upload_id": self.upload_id, "sizes": runs}
        if self.numbers != tuple(range(1, self.count + 1)):
            document["numbers"] = list(self.numbers)
        if any(self.checksums):
            document["checksums"] = [dict(c) for c in self.checksums]
        return document

    @classmethod
    def from_dict(cls, data: object) -> PartsRecord | None:
        """The record in ``data``; None for anything malformed (it is then as if the
        object had no record: its parts are unknown)."""
        if isinstance(data, PartsRecord):
            return data
        if not isinstance(data, dict):
            return None
        try:
            sizes: list[int] = []
            for size, repeat in data["sizes"]:
                sizes.extend([int(size)] * int(repeat))
            numbers = tuple(int(n) for n in data.get("numbers") or ())
            checksums = tuple(
                {str(k): str(v) for k, v in c.items()} for c in data.get("checksums") or ()
            )
            record = cls(str(data["upload_id"]), tuple(sizes), numbers, checksums)
        except (KeyError, TypeError, ValueError, AttributeError):
            return None
        if len(record.numbers) != record.count or (
            record.checksums and len(record.checksums) != record.count
        ):
            return None
        return record
