"""Gene models with and without --softmasking, re-decoded from a finished run's tracks and scored.

    python benchmarks/softmasking.py RUN_DIR ANNOTATION RECORD:START-END [COST ...]

RUN_DIR: a run of a soft-masked FASTA with float32 tracks (--bigwig-precision 0). For soft-masking
off and each masked-coding cost, prints the gene count, genes over no reference coding gene
("false"), genes whose CDS is mostly lower case, CDS exon F1 and locus Sn/Pr/F1 within the
region (gffcompare-style, as `genoseg evaluate`); then the alternative of dropping genes whose
CDS is more than a fraction masked. Measurement only: nothing here is used by genoseg.
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from genoseg.adapt import _starting_parameters, decode_run
from genoseg.annotation import read_annotation
from genoseg.evaluate import as_annotation, cds_agreement
from genoseg.fasta import FastaReader
from genoseg.outputs import finished_run
from genoseg.regions import parse_region


def masked_share(reader: FastaReader, model) -> float:
    return float(np.mean(np.concatenate([reader.masked(model.record, s, e) for s, e in model.cds])))


def main() -> None:
    run, reference = Path(sys.argv[1]), read_annotation(sys.argv[2])
    region = parse_region(sys.argv[3])
    costs = [float(c) for c in sys.argv[4:]] or [0.05, 0.2]
    within = region.holds
    summary, files = finished_run(run)
    spans = sorted((t.start, t.end) for t in reference.on(region.record) if t.cds)
    starts, ends = np.array([s for s, _ in spans]), np.array([e for _, e in spans])

    def score(models, reader) -> str:
        coding = [m for m in models if m.cds]
        r = cds_agreement(reference, as_annotation(coding), within)
        false = sum(not np.any(ends[: np.searchsorted(starts, m.end)] > m.start) for m in coding)
        mostly = sum(masked_share(reader, m) > 0.5 for m in coding)
        locus = r["locus"]
        return (f"genes {len(coding)}  false {false}  mostly masked {mostly}  CDS exon F1 {r['cds_exon']['f1']:.4f}  "
                f"locus Sn/Pr/F1 {locus['sensitivity']:.4f}/{locus['precision']:.4f}/{locus['f1']:.4f}")

    with FastaReader(summary.input) as reader:
        params = _starting_parameters(summary)
        started = time.time()
        plain = decode_run(files, summary.model_features, reader, params)
        print(f"off            {score(plain, reader)}  ({time.time() - started:.0f} s)", flush=True)
        for cost in costs:
            models = decode_run(files, summary.model_features, reader, replace(params, masked_coding_cost=cost),
                                softmasking=True)
            print(f"cost {cost:<9g} {score(models, reader)}", flush=True)
        for share in (0.3, 0.5, 0.7):
            kept = [m for m in plain if not m.cds or masked_share(reader, m) <= share]
            print(f"drop > {share:.0%} masked {score(kept, reader)}", flush=True)


if __name__ == "__main__":
    main()
