"""What the gene code produces: decoded gene models, and the UTR pieces of any transcript.

This module imports only the standard library, so writers, merge and evaluate can use it
without the decoder's dependencies.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class ExonChain:
    """What every transcript type shares (a decoded GeneModel, a reference annotation.Transcript):
    sorted 0-based half-open `exons` (and `cds`), their span and the introns between them."""

    exons: list[tuple[int, int]]

    @property
    def start(self) -> int:
        return self.exons[0][0]

    @property
    def end(self) -> int:
        return self.exons[-1][1]

    def introns(self) -> list[tuple[int, int]]:
        return [(a[1], b[0]) for a, b in zip(self.exons, self.exons[1:]) if b[0] > a[1]]


@dataclass
class GeneModel(ExonChain):
    record: str
    strand: str  # "+", "-" or "." (an unspliced lncRNA has no strand evidence)
    exons: list[tuple[int, int]]  # 0-based half-open, sorted by position
    cds: list[tuple[int, int]] = field(default_factory=list)
    biotype: str = "protein_coding"  # or "lncRNA"
    score: float = 0.0  # mean network exon probability over the exons
    protein: str = ""
    coding: str = ""  # the spliced CDS, stop codon included, on the gene's strand


def utr_pieces(t: ExonChain) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """(5'UTR, 3'UTR) pieces: exon parts before/after the CDS in transcript direction.

    Takes anything with sorted `exons`, `cds` and a `strand`: a reference Transcript or a
    decoded GeneModel.
    """
    if not t.cds:
        return [], []
    cds_start, cds_end = t.cds[0][0], t.cds[-1][1]
    left = [(s, min(e, cds_start)) for s, e in t.exons if s < cds_start]
    right = [(max(s, cds_end), e) for s, e in t.exons if e > cds_end]
    return (left, right) if t.strand != "-" else (right, left)
