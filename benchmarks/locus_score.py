"""Gene models with and without the locus score, re-decoded from a finished run and scored.

    python benchmarks/locus_score.py RUN_DIR ANNOTATION RECORD:START-END

RUN_DIR: a run with float32 tracks (--bigwig-precision 0). Prints, both ways, the coding genes
inside the region, those over no reference coding gene, and CDS exon and locus Sn/Pr/F1 as
`genoseg evaluate` measures them. Measurement only.
"""

from __future__ import annotations

import sys
from pathlib import Path

from genoseg.adapt import _starting_parameters, decode_run
from genoseg.annotation import read_annotation
from genoseg.evaluate import as_annotation, cds_agreement
from genoseg.fasta import FastaReader
from genoseg.outputs import finished_run
from genoseg.regions import parse_region


def main() -> None:
    run, reference, region = Path(sys.argv[1]), read_annotation(sys.argv[2]), parse_region(sys.argv[3])
    within = region.holds

    summary, files = finished_run(run)
    spans = sorted((t.start, t.end) for t in reference.on(region.record) if t.cds)
    with FastaReader(summary.input) as reader:
        params = _starting_parameters(summary)
        for label, use in (("without locus score", False), ("with locus score", True)):
            models = [m for m in decode_run(files, summary.model_features, reader, params, locus_score=use) if m.cds]
            result = cds_agreement(reference, as_annotation(models), within)
            inside = [m for m in models if within(m.record, m.start, m.end)]
            false = sum(not any(s < m.end and e > m.start for s, e in spans) for m in inside)
            locus, exon = result["locus"], result["cds_exon"]
            print(f"{label}: genes {len(inside)}, over no coding gene {false}; CDS exon Sn/Pr/F1 "
                  f"{exon['sensitivity']:.4f}/{exon['precision']:.4f}/{exon['f1']:.4f}; locus Sn/Pr/F1 "
                  f"{locus['sensitivity']:.4f}/{locus['precision']:.4f}/{locus['f1']:.4f}", flush=True)


if __name__ == "__main__":
    main()
