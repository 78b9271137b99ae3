"""Reference transcripts whose CDS chain each prediction gets exactly, by the longest CDS intron.

    python benchmarks/exact_by_intron.py ANNOTATION RECORD:START-END PREDICTION [PREDICTION ...]

ANNOTATION and each PREDICTION: GFF3 or GTF (a genoseg genes GFF3, AUGUSTUS's GTF). Counts the
reference's coding transcripts wholly inside the region by their longest intron between CDS
segments (single-exon, under 300 nt, 300-999 nt, 1 kb or more) and, for each prediction, how
many of them it predicts exactly (strand and every CDS segment). Measurement only: it says
which kind of gene a gap between two gene finders lies in.
"""

from __future__ import annotations

import sys
from collections import Counter

from genoseg.annotation import Transcript, read_annotation
from genoseg.evaluate import cds_chain
from genoseg.regions import parse_region

BINS = ("single-exon", "< 300 nt", "300-999 nt", ">= 1 kb")


def longest_intron_bin(transcript: Transcript) -> str:
    longest = max((end - start for start, end in transcript.cds_introns()), default=None)
    if longest is None:
        return BINS[0]
    return BINS[1] if longest < 300 else BINS[2] if longest < 1000 else BINS[3]


def chains(path: str) -> set[tuple]:
    return {cds_chain(t) for t in read_annotation(path).transcripts if t.cds}


def main() -> None:
    reference, region, predictions = read_annotation(sys.argv[1]), parse_region(sys.argv[2]), sys.argv[3:]
    predicted = {path: chains(path) for path in predictions}
    totals: Counter = Counter()
    exact: dict[str, Counter] = {path: Counter() for path in predictions}
    for t in reference.transcripts:
        if not t.cds or not region.holds(t.seqid, t.start, t.end):
            continue
        kind = longest_intron_bin(t)
        totals[kind] += 1
        for path in predictions:
            exact[path][kind] += cds_chain(t) in predicted[path]
    print("longest CDS intron\treference\t" + "\t".join(predictions))
    for kind in BINS:
        print(f"{kind}\t{totals[kind]}\t" + "\t".join(str(exact[p][kind]) for p in predictions))


if __name__ == "__main__":
    main()
