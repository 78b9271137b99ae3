"""Genomic region strings (`chr:start-end`, 1-based inclusive as samtools writes them)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from genoseg.errors import UsageError

_REGION = re.compile(r"^(?P<record>.+?)(?::(?P<start>[\d,]+)-(?P<end>[\d,]+))?$")


class RegionError(UsageError):
    pass


@dataclass(frozen=True)
class Region:
    """0-based half-open [start, end) on a record; end None means to the record's end."""

    record: str
    start: int = 0
    end: int | None = None

    def holds(self, record: str, start: int, end: int) -> bool:
        """Whether [start, end) on `record` lies wholly inside the region."""
        return record == self.record and start >= self.start and (self.end is None or end <= self.end)

    def __str__(self) -> str:
        if self.start == 0 and self.end is None:
            return self.record
        return f"{self.record}:{self.start + 1}-{self.end if self.end is not None else ''}"


def parse_region(text: str) -> Region:
    """`chr1:1,001-2,000` → Region('chr1', 1000, 2000); a bare name is the whole record."""
    m = _REGION.match(text.strip())
    if not m or not m.group("record"):
        raise RegionError(f"bad region {text!r}; expected NAME or NAME:START-END")
    if m.group("start") is None:
        return Region(m.group("record"))
    digits = m.group("start").replace(",", ""), m.group("end").replace(",", "")
    if not all(digits):
        raise RegionError(f"bad region {text!r}: START and END must be numbers")
    start, end = int(digits[0]), int(digits[1])
    if start < 1 or end < start:
        raise RegionError(f"bad region {text!r}: need 1 <= START <= END")
    return Region(m.group("record"), start - 1, end)


def resolve_region(text: str, names) -> Region:
    """Like parse_region, but a text that is exactly a record name means that whole record
    (as samtools does), so names such as `chr1:1-100` stay usable."""
    if text in names:
        return Region(text)
    return parse_region(text)
