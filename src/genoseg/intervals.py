"""Thresholding stitched tracks into per-class intervals, streaming, in genomic order."""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

from genoseg.stitching import Track


@dataclass(frozen=True, order=True)
class Interval:
    record: str
    start: int  # 0-based half-open
    end: int
    feature: str
    mean: float
    peak: float


@dataclass
class _Open:
    start: int
    total: float
    peak: float


class IntervalCaller:
    """Feed contiguous Tracks of one segment at a time; closed intervals come back sorted by start.

    An interval never spans a gap between segments (an N run): `end_segment` closes all.
    """

    def __init__(self, features: list[str], thresholds: dict[str, float], min_length: int = 1) -> None:
        self.features = list(features)
        self.thresholds = np.array([thresholds.get(f, 0.5) for f in self.features], dtype=np.float32)
        self.min_length = min_length
        self.open: list[_Open | None] = [None] * len(self.features)
        self.record: str | None = None
        self.position: int | None = None
        self.pending: list[tuple[int, int, Interval]] = []  # heap by (start, feature index)
        self.counts = {f: 0 for f in self.features}

    def feed(self, track: Track) -> list[Interval]:
        if self.position is not None and (track.record != self.record or track.start != self.position):
            raise ValueError("tracks of a segment must be contiguous; call end_segment between segments")
        self.record, self.position = track.record, track.end
        above = track.values >= self.thresholds
        for f in range(len(self.features)):
            self._scan(f, track, above[:, f])
        return self._release(track.end)

    def _scan(self, f: int, track: Track, above: np.ndarray) -> None:
        values = track.values[:, f]
        flips = np.flatnonzero(np.diff(np.concatenate(([self.open[f] is not None], above, [False])).astype(np.int8)))
        # flips come in pairs (rise, fall); a run still open at the chunk end falls at len(values).
        state = self.open[f]
        bounds = flips.tolist()
        if state is not None:
            bounds = [0] + bounds
        for rise, fall in zip(bounds[0::2], bounds[1::2]):
            piece = values[rise:fall]
            if state is None:
                state = _Open(track.start + rise, 0.0, 0.0)
            if len(piece):
                state.total += float(piece.sum(dtype=np.float64))
                state.peak = max(state.peak, float(piece.max()))
            if fall < len(values):
                self._close(f, state, track.start + fall)
                state = None
        self.open[f] = state

    def _close(self, f: int, state: _Open, end: int) -> None:
        length = end - state.start
        if length >= self.min_length:
            interval = Interval(self.record, state.start, end, self.features[f], state.total / length, state.peak)
            heapq.heappush(self.pending, (state.start, f, interval))
            self.counts[self.features[f]] += 1

    def _release(self, watermark: int) -> list[Interval]:
        starts = [s.start for s in self.open if s is not None]
        limit = min(starts + [watermark])
        out = []
        while self.pending and self.pending[0][0] < limit:
            out.append(heapq.heappop(self.pending)[2])
        return out

    def end_segment(self) -> list[Interval]:
        if self.position is not None:
            for f, state in enumerate(self.open):
                if state is not None:
                    self._close(f, state, self.position)
            self.open = [None] * len(self.features)
        out = [heapq.heappop(self.pending)[2] for _ in range(len(self.pending))]
        self.record, self.position = None, None
        return out
