"""Fit the locus score (genes/locus.py) on finished runs of the training side and store it in a
gene_model.json.

    python scripts/fit_locus_model.py --annotation AthaTAIR10_chr1.gff.gz \\
        --run runs/train6_12 NC_003070.9:6000001-12000000 \\
        --run runs/pericentro NC_003070.9:12000001-15000000 \\
        --run runs/tuning NC_003070.9:20000001-23000000 \\
        --gene-model src/genoseg/models/default/gene_model.json

Each run's gene models are decoded again from its float32 tracks (annotate --bigwig-precision 0)
with its own decoder parameters and no locus score. A decoded coding gene is a positive when it
overlaps a reference coding gene, a negative otherwise (in TAIR10's pericentromere mostly
transposon-derived pseudogenes). The threshold maximises the mean over the runs' regions of locus F1 (exact CDS chains, as
`genoseg evaluate`) among thresholds that lower no region's F1 by more than 0.001, with
out-of-fold probabilities (5 folds), so it is not chosen on the genes the weights were fitted to. Prints the fold figures.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np

from genoseg.adapt import _starting_parameters, decode_run
from genoseg.annotation import read_annotation
from genoseg.fasta import FastaReader
from genoseg.genes.locus import LocusModel, fit_logistic, locus_features
from genoseg.genes.parameters import GeneParameters
from genoseg.outputs import finished_run
from genoseg.regions import parse_region


def decoded(run: Path, region_text: str, reference) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Features, labels (overlaps a reference coding gene), exactness, and the number of reference
    coding genes of the region."""
    region = parse_region(region_text)
    summary, files = finished_run(run)
    within = [t for t in reference.on(region.record) if t.cds and region.holds(t.seqid, t.start, t.end)]
    spans = sorted((t.start, t.end) for t in reference.on(region.record) if t.cds)
    chains = {(t.strand, tuple(t.cds)) for t in within}
    genes = {t.gene_id or t.id for t in within}
    rows, labels, exact = [], [], []
    with FastaReader(summary.input) as reader:
        params = replace(_starting_parameters(summary), locus_model=None)
        for model in decode_run(files, summary.model_features, reader, params):
            if model.biotype != "protein_coding" or not region.holds(model.record, model.start, model.end):
                continue
            rows.append(locus_features(model))
            labels.append(any(s < model.end and e > model.start for s, e in spans))
            exact.append((model.strand, tuple(model.cds)) in chains)
    return np.array(rows), np.array(labels, float), np.array(exact), len(genes)


def locus_f1(keep: np.ndarray, exact: np.ndarray, reference_genes: int) -> float:
    right = float((keep & exact).sum())
    if not right:
        return 0.0
    precision, sensitivity = right / keep.sum(), right / reference_genes
    return 2 * precision * sensitivity / (precision + sensitivity)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--annotation", required=True)
    parser.add_argument("--run", nargs=2, action="append", metavar=("RUN_DIR", "REGION"), required=True)
    parser.add_argument("--gene-model", type=Path, required=True, help="gene_model.json to store the score in")
    parser.add_argument("--l2", type=float, default=1.0)
    args = parser.parse_args()
    reference = read_annotation(args.annotation)
    parts = [decoded(Path(run), region, reference) for run, region in args.run]
    x = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    exact = np.concatenate([p[2] for p in parts])
    folds = np.random.default_rng(0).integers(0, 5, len(y))
    out_of_fold = np.zeros(len(y))
    for k in range(5):
        mean, scale, weights, bias = fit_logistic(x[folds != k], y[folds != k], args.l2)
        z = (x[folds == k] - mean) / scale
        out_of_fold[folds == k] = 1 / (1 + np.exp(-(z @ weights + bias)))
    # Each region counts alike: a gene-dense euchromatic block and a transposon-rich one are
    # both what users annotate, and pooling would let the larger one choose alone.
    run_of = np.concatenate([np.full(len(p[1]), i) for i, p in enumerate(parts)])
    grid = np.round(np.arange(0.0, 0.96, 0.05), 2)
    per_run = np.array([[locus_f1(out_of_fold[run_of == i] >= t, exact[run_of == i], parts[i][3])
                         for i in range(len(parts))] for t in grid])
    scores = per_run.mean(axis=1)
    for t, f, runs in zip(grid, scores, per_run):
        print(f"threshold {t:.2f}: kept {(out_of_fold >= t).sum()} of {len(y)} genes "
              f"({int(((out_of_fold >= t) & (y == 0)).sum())} of {int((y == 0).sum())} over no coding gene), "
              f"mean locus F1 {f:.4f} ({' / '.join(f'{v:.4f}' for v in runs)})")
    # No region may pay for another: among thresholds that cost no region more than 0.001 of its
    # unfiltered locus F1, the best mean.
    allowed = (per_run >= per_run[0] - 0.001).all(axis=1)
    threshold = float(grid[int(np.argmax(np.where(allowed, scores, -1)))])
    mean, scale, weights, bias = fit_logistic(x, y, args.l2)
    params = GeneParameters.load(args.gene_model)
    params.locus_model = LocusModel(mean.tolist(), scale.tolist(), weights.tolist(), bias, threshold,
                                    notes=f"fitted on {len(y)} decoded genes of " +
                                          ", ".join(region for _, region in args.run))
    params.save(args.gene_model)
    print(f"threshold {threshold} (mean locus F1 {scores[list(grid).index(threshold)]:.4f} against {scores[0]:.4f} "
          "unfiltered); "
          f"written to {args.gene_model}")


if __name__ == "__main__":
    main()
