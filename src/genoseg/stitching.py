"""Blending overlapping window predictions into one seamless per-base track, in bounded memory.

Predictions sag near a window's edges (less context, zero padding in the U-Net), so each
window's contribution is weighted by distance from its inner edges: zero in an outer margin,
ramping to one further in. An edge that coincides with the segment's end is a real boundary and
keeps full weight. Windows of a segment arrive in order, so everything left of the newest
window's start is final and is released; at most about two windows are held at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from genoseg.tiling import Window

MIN_WEIGHT = 1e-3  # keeps the weight sum positive where two windows barely overlap


@dataclass
class Track:
    """Stitched probabilities for bases [start, start + len(values)) of one record."""

    record: str
    start: int
    values: np.ndarray  # (n, F) float32

    @property
    def end(self) -> int:
        return self.start + len(self.values)


def edge_weights(window: Window, overlap: int) -> np.ndarray:
    """(W,) blending weight for each base of a window."""
    n = window.length
    margin = overlap / 8
    ramp = max(overlap / 4, 1.0)
    index = np.arange(n, dtype=np.float32)
    distance = np.full(n, np.inf, dtype=np.float32)
    if window.start > window.segment.start:
        distance = np.minimum(distance, index)
    if window.end < window.segment.end:
        distance = np.minimum(distance, n - 1 - index)
    return np.clip((distance - margin) / ramp, MIN_WEIGHT, 1.0).astype(np.float32)


class SegmentStitcher:
    """Accumulates the windows of one segment and releases final bases as Tracks."""

    def __init__(self, record: str, overlap: int) -> None:
        self.record = record
        self.overlap = overlap
        self.start: int | None = None
        self.weighted = np.zeros((0, 0), dtype=np.float32)
        self.weight = np.zeros(0, dtype=np.float32)

    def add(self, window: Window, probs: np.ndarray) -> Track | None:
        """Add one window's (W, F) probabilities; returns the bases left of it that are now final."""
        w = edge_weights(window, self.overlap)
        if self.start is None:
            self.start = window.start
            self.weighted = np.zeros((0, probs.shape[1]), dtype=np.float32)
        if window.start < self.start:
            raise ValueError("windows of a segment must arrive in order")
        released = self._release(window.start)
        offset = window.start - self.start
        needed = offset + window.length
        if needed > len(self.weight):
            grow = needed - len(self.weight)
            self.weighted = np.concatenate([self.weighted, np.zeros((grow, probs.shape[1]), np.float32)])
            self.weight = np.concatenate([self.weight, np.zeros(grow, np.float32)])
        self.weighted[offset:needed] += probs * w[:, None]
        self.weight[offset:needed] += w
        return released

    def _release(self, upto: int) -> Track | None:
        assert self.start is not None
        count = min(upto - self.start, len(self.weight))
        if count <= 0:
            return None
        values = self.weighted[:count] / self.weight[:count, None]
        track = Track(self.record, self.start, values)
        self.weighted = self.weighted[count:].copy()
        self.weight = self.weight[count:].copy()
        self.start += count
        return track

    def finish(self) -> Track | None:
        if self.start is None:
            return None
        return self._release(self.start + len(self.weight))
