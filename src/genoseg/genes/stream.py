"""Streaming gene decoding: stitched tracks of a segment in, completed gene models out, in order.

A `GeneDecoder` holds the probabilities of the current locus only. Loci are cut in quiet
stretches (no genic signal for `quiet` bases); a stretch with no quiet run for `max_locus` bases
is cut at its weakest point, so memory is bounded for any record length. Each locus is decoded
by `genes.decoder.decode_locus`; unspliced lncRNA genes are added where the lncRNA class is high
and no coding gene lies.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from genoseg.genes.columns import Columns
from genoseg.genes.decoder import decode_locus
from genoseg.genes.models import GeneModel
from genoseg.genes.parameters import GeneParameters
from genoseg.stitching import Track


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    edges = np.flatnonzero(np.diff(np.concatenate(([0], mask.astype(np.int8), [0]))))
    return list(zip(edges[0::2].tolist(), edges[1::2].tolist()))


class GeneDecoder:
    """Streams Tracks of one segment at a time in; completed gene models come out in order."""

    def __init__(self, columns: Columns, params: GeneParameters, fetch: Callable[[str, int, int], np.ndarray],
                 quiet: int = 300, max_locus: int = 1_000_000, genic_level: float = 0.2,
                 lncrna_level: float = 0.5, min_lncrna: int = 200,
                 masked: Callable[[str, int, int], np.ndarray] | None = None, locus_score: bool = False) -> None:
        self.columns, self.params, self.fetch, self.masked = columns, params, fetch, masked
        # The parameters' locus score, when asked for (--locus-score) and when they have one.
        self.locus = params.locus_model if locus_score else None
        self.quiet, self.max_locus, self.genic_level = quiet, max_locus, genic_level
        self.lncrna_level, self.min_lncrna = lncrna_level, min_lncrna
        wanted = [columns.exon, columns.intron, columns.gene, columns.lncrna, columns.donor, columns.acceptor]
        self.keep = columns.used()
        self.local = Columns(*[None if c is None else self.keep.index(c) for c in wanted],
                             tuple(self.keep.index(c) for c in columns.utrs))
        self.record: str | None = None
        self.start = 0
        self.buffer: list[np.ndarray] = []
        self.buffered = 0
        self.quiet_run = 0  # low-signal bases at the end of the buffer
        self.counts = {"protein_coding": 0, "lncRNA": 0}

    def _genic(self, values: np.ndarray) -> np.ndarray:
        c = self.local
        signal = np.maximum(np.maximum(values[:, c.exon], values[:, c.intron]), values[:, c.gene])
        if c.lncrna is not None:
            signal = np.maximum(signal, values[:, c.lncrna])
        return signal

    def feed(self, track: Track) -> list[GeneModel]:
        if self.record is not None and (track.record != self.record or track.start != self.start + self.buffered):
            raise ValueError("tracks of a segment must be contiguous; call end_segment between segments")
        if self.record is None:
            self.record, self.start = track.record, track.start
        values = track.values[:, self.keep]
        self.buffer.append(values)
        self.buffered += len(values)
        low = self._genic(values) < self.genic_level
        # Length of the low run ending at each base, carrying the run from the previous track.
        index = np.arange(len(low))
        last_high = np.maximum.accumulate(np.where(~low, index, -1))
        run = np.where(last_high >= 0, index - last_high, index + 1 + self.quiet_run)
        self.quiet_run = int(run[-1]) if len(run) else self.quiet_run
        quiet_ends = np.flatnonzero(run >= self.quiet)
        if len(quiet_ends):
            cut = self.buffered - len(values) + int(quiet_ends[-1]) - self.quiet // 2
            return self._decode_upto(cut)
        if self.buffered > self.max_locus:
            stacked = np.concatenate(self.buffer)
            self.buffer = [stacked]  # _decode_upto then cuts it without concatenating again
            half = len(stacked) // 2
            return self._decode_upto(half + int(np.argmin(self._genic(stacked[half:]))))
        return []

    def end_segment(self) -> list[GeneModel]:
        out = self._decode_upto(self.buffered)
        self.record, self.buffer, self.buffered, self.quiet_run = None, [], 0, 0
        return out

    def _decode_upto(self, cut: int) -> list[GeneModel]:
        if cut <= 0 or not self.buffer:
            return []
        stacked = np.concatenate(self.buffer) if len(self.buffer) > 1 else self.buffer[0]
        chunk, rest = stacked[:cut], stacked[cut:]
        start = self.start
        self.start += cut
        self.buffered -= cut
        self.buffer = [rest] if len(rest) else []
        return self._decode_chunk(start, chunk)

    def _decode_chunk(self, start: int, values: np.ndarray) -> list[GeneModel]:
        genic = self._genic(values) >= self.genic_level
        loci = []
        for s, e in _runs(genic):
            s, e = max(0, s - self.quiet // 2), min(len(values), e + self.quiet // 2)
            if loci and s <= loci[-1][1]:
                loci[-1] = (loci[-1][0], e)
            else:
                loci.append((s, e))
        models: list[GeneModel] = []
        for s, e in loci:
            seq = self.fetch(self.record, start + s, start + e)
            masked = None if self.masked is None else self.masked(self.record, start + s, start + e)
            models += decode_locus(self.record, start + s, seq, values[s:e], self.local, self.params, masked)
            models += self._lncrnas(start + s, values[s:e], models)
        if self.locus is not None:
            models = [m for m in models if self.locus.keeps(m)]
        models.sort(key=lambda m: (m.start, m.end))
        for m in models:
            self.counts[m.biotype] += 1
        return models

    def _lncrnas(self, offset: int, values: np.ndarray, coding: list[GeneModel]) -> list[GeneModel]:
        """Unspliced lncRNA genes where the lncRNA class is high and no coding gene lies."""
        c = self.local
        if c.lncrna is None:
            return []
        out = []
        for s, e in _runs(values[:, c.lncrna] >= self.lncrna_level):
            if e - s < self.min_lncrna:
                continue
            a, b = s + offset, e + offset
            if any(m.start < b and m.end > a for m in coding):
                continue
            score = round(float(values[s:e, c.lncrna].mean()), 3)
            out.append(GeneModel(self.record, ".", [(a, b)], [], "lncRNA", score))
        return out
