"""Why each reference gene is not predicted exactly, for gene finders side by side.

    python benchmarks/gene_errors.py ANNOTATION RECORD:START-END PREDICTION [PREDICTION ...]

ANNOTATION and each PREDICTION: GFF3 or GTF (a genoseg genes GFF3, AUGUSTUS's GTF). Each
reference gene with a coding transcript wholly inside the region gets one class per
prediction, by the locus rule of `genoseg evaluate` (right when one of its transcripts' CDS
chain is predicted exactly) and otherwise by the first that applies:

- missed: no predicted CDS overlaps its CDS on its strand;
- split: two or more predicted genes do;
- merged: its one predicted gene also overlaps another reference gene's CDS;
- start/stop: the introns are right, a CDS end is not;
- extra intron: the prediction has every intron of one of its transcripts, and more;
- missed intron: the prediction has only some of one transcript's introns, and none other;
- other introns: both.

A predicted gene is compared with the gene's transcript whose introns it shares most.
Measurement only: it says where a gene finder's locus errors lie.
"""

from __future__ import annotations

import sys
from collections import Counter, defaultdict

from genoseg.annotation import Transcript, read_annotation
from genoseg.evaluate import cds_chain
from genoseg.regions import parse_region

CLASSES = ("right", "missed", "split", "merged", "start/stop", "extra intron", "missed intron", "other introns")


def _overlaps(a: Transcript, b: Transcript) -> bool:
    return a.seqid == b.seqid and a.strand == b.strand and a.cds[0][0] < b.cds[-1][1] and b.cds[0][0] < a.cds[-1][1]


def _structure_error(transcripts: list[Transcript], predicted: Transcript) -> str:
    got = set(predicted.cds_introns())
    best = max(transcripts, key=lambda t: (len(set(t.cds_introns()) & got), -len(set(t.cds_introns()) ^ got)))
    want = set(best.cds_introns())
    if got == want:
        return "start/stop"
    if want < got:
        return "extra intron"
    if got < want:
        return "missed intron"
    return "other introns"


def classify(genes: dict[str, list[Transcript]], predicted: list[Transcript]) -> Counter:
    """The class of each reference gene (`genes`: its coding transcripts) against `predicted`."""
    exact = {cds_chain(t) for t in predicted}
    by_strand = defaultdict(list)
    for t in predicted:
        by_strand[t.seqid, t.strand].append(t)
    reference = [t for transcripts in genes.values() for t in transcripts]
    counts: Counter = Counter()
    for gene, transcripts in genes.items():
        if any(cds_chain(t) in exact for t in transcripts):
            counts["right"] += 1
            continue
        near = by_strand[transcripts[0].seqid, transcripts[0].strand]
        hits = {id(p): p for p in near if any(_overlaps(p, t) for t in transcripts)}
        if not hits:
            counts["missed"] += 1
        elif len({p.gene_id or p.id for p in hits.values()}) > 1:
            counts["split"] += 1
        else:
            p = next(iter(hits.values()))
            if any(_overlaps(p, r) and (r.gene_id or r.id) != gene for r in reference):
                counts["merged"] += 1
            else:
                counts[_structure_error(transcripts, p)] += 1
    return counts


def main() -> None:
    reference, region, predictions = read_annotation(sys.argv[1]), parse_region(sys.argv[2]), sys.argv[3:]
    genes: dict[str, list[Transcript]] = defaultdict(list)
    for t in reference.transcripts:
        if t.cds and region.holds(t.seqid, t.start, t.end):
            genes[t.gene_id or t.id].append(t)
    results = {}
    for path in predictions:
        predicted = [t for t in read_annotation(path).transcripts if t.cds and t.seqid == region.record]
        results[path] = classify(genes, predicted)
    print(f"class\t{len(genes)} reference genes\t" + "\t".join(predictions))
    for name in CLASSES:
        print(f"{name}\t\t" + "\t".join(str(results[p][name]) for p in predictions))


if __name__ == "__main__":
    main()
