"""Where the gene decoder's inputs sit among a model's output classes."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Columns:
    """Where the decoder's inputs sit in the model's feature list."""

    exon: int
    intron: int
    gene: int
    lncrna: int | None
    donor: int | None
    acceptor: int | None
    utrs: tuple[int, ...] = ()

    @classmethod
    def of(cls, features: list[str]) -> "Columns | None":
        """None when the model lacks the classes a gene model needs."""
        index = {f: i for i, f in enumerate(features)}
        if not {"exon", "intron", "protein_coding_gene"} <= index.keys():
            return None
        return cls(index["exon"], index["intron"], index["protein_coding_gene"], index.get("lncRNA"),
                   index.get("splice_donor"), index.get("splice_acceptor"),
                   tuple(index[f] for f in ("5UTR", "3UTR") if f in index))

    def used(self) -> list[int]:
        """The feature columns the decoder reads, in order."""
        wanted = [self.exon, self.intron, self.gene, self.lncrna, self.donor, self.acceptor, *self.utrs]
        return sorted({c for c in wanted if c is not None})
