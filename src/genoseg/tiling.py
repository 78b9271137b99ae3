"""Tiling N-free segments into model windows.

Windows never cross an N, every length is a multiple of 24, and every base of a kept segment is
covered. The last window of a segment is aligned to the segment's end; a segment shorter than a
full window gets the longest valid window from each end.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from genoseg.errors import UsageError
from genoseg.fasta import Segment
from genoseg.model.limits import WINDOW_MULTIPLE


@dataclass(frozen=True)
class Window:
    segment: Segment
    start: int
    end: int
    first: bool  # first window of its segment
    last: bool  # last window of its segment
    keep_start: int  # the stretch of the segment the user asked for (a --region clips it)
    keep_end: int
    block: int = 0  # windows are batched only with windows of the same block

    @property
    def record(self) -> str:
        return self.segment.record

    @property
    def length(self) -> int:
        return self.end - self.start


class TilingError(UsageError):
    pass


def check_tiling(window: int, overlap: int, min_segment: int) -> None:
    if window <= 0 or window % WINDOW_MULTIPLE:
        raise TilingError(f"window length {window} must be a positive multiple of {WINDOW_MULTIPLE}")
    if not 0 <= overlap < window:
        raise TilingError(f"overlap {overlap} must be at least 0 and less than the window ({window})")
    if min_segment < WINDOW_MULTIPLE:
        raise TilingError(f"minimum segment length must be at least {WINDOW_MULTIPLE}")


def window_starts(segment: Segment, window: int, overlap: int) -> list[tuple[int, int]]:
    """(start, end) of the windows covering one segment; empty if it cannot hold one window."""
    length = segment.length
    if length >= window:
        step = window - overlap
        starts = list(range(segment.start, segment.end - window, step))
        starts.append(segment.end - window)
        return [(s, s + window) for s in starts]
    usable = length // WINDOW_MULTIPLE * WINDOW_MULTIPLE
    if usable == 0:
        return []
    if usable == length:
        return [(segment.start, segment.end)]
    return [(segment.start, segment.start + usable), (segment.end - usable, segment.end)]


def plan_windows(
    segments: list[Segment], window: int, overlap: int, min_segment: int, clip: tuple[int, int] | None = None
) -> Iterator[Window]:
    """Windows for kept segments in order; with `clip`, only windows overlapping [clip) are yielded.

    Clipping keeps the full-record tiling, so a region's values equal the whole run's there.
    """
    for segment in segments:
        if segment.length < min_segment:
            continue
        spans = window_starts(segment, window, overlap)
        if clip is not None:
            spans = [(s, e) for s, e in spans if s < clip[1] and e > clip[0]]
        keep = (segment.start, segment.end) if clip is None else (max(segment.start, clip[0]), min(segment.end, clip[1]))
        for i, (s, e) in enumerate(spans):
            yield Window(segment, s, e, first=i == 0, last=i == len(spans) - 1, keep_start=keep[0], keep_end=keep[1])
