"""Replay the gene-model decoder over a finished run's probability tracks: decode time alone,
and exon-level F1 against a reference, for a gene-parameter file with optional overrides.

    python benchmarks/decode.py --fasta genome.fa.gz --run RUN_DIR --region chr1:20000001-23000000 \
        --annotation ref.gff3.gz [--gene-parameters gene_model.json] [--set utr_intron_penalty=55 ...] \
        [--try "weight_coding=4 gene_penalty=30" --try ...]

RUN_DIR is a `genoseg annotate` output directory with its bigWigs (the decoder's input is the
stitched per-base probabilities, which the bigWigs hold at float32, exactly as the decoder saw
them). Decoding a 3 Mb slice takes a minute or two where the forward pass would take as long
again, so decoder parameters are tuned by replaying. Printed: decode seconds, genes, exon-level
precision / recall / F1 (exact boundaries, as `genoseg evaluate --gff3`), reference genes with
every CDS segment exact and multi-exon genes with the exact intron chain. Each --try is one
more configuration (on top of --set) decoded in the same process; the splice-site classifiers'
scores, which no decoder weight changes, are computed once and reused, so only the first line's
decode_seconds is the cost of a real run.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pyBigWig

from genoseg.annotation import Annotation, read_annotation
from genoseg.evaluate import as_annotation, exon_set, gene_accuracy
from genoseg.fasta import FastaReader
from genoseg.genes.columns import Columns
from genoseg.genes.models import GeneModel
from genoseg.genes.parameters import GeneParameters
from genoseg.genes.stream import GeneDecoder
from genoseg.metrics import SetAgreement
from genoseg.regions import parse_region
from genoseg.stitching import Track
from genoseg.outputs import finished_run

BUNDLED = Path(__file__).resolve().parents[1] / "src" / "genoseg" / "models" / "default"
PIECE = 1 << 16  # bases per Track fed to the decoder, about what annotate's stitcher hands it


def features_of(run: Path) -> list[str]:
    summary, _ = finished_run(run)
    return list(summary.model_features or json.loads((BUNDLED / "config.json").read_text())["features"])


def read_tracks(run: Path, features: list[str], record: str, start: int, end: int) -> np.ndarray:
    """(end - start, F) probabilities; NaN where the run wrote nothing (N runs, skipped segments)."""
    out = np.empty((end - start, len(features)), dtype=np.float32)
    _, files = finished_run(run)
    for f, feature in enumerate(features):
        path = files.bigwig(feature)
        if not path.is_file():
            raise SystemExit(f"{run}: no bigWig for {feature} ({path.name})")
        with pyBigWig.open(str(path)) as bw:
            out[:, f] = np.asarray(bw.values(record, start, end, numpy=True), dtype=np.float32)
    return out


def decode(values: np.ndarray, record: str, start: int, columns: Columns, params: GeneParameters,
           reader: FastaReader) -> tuple[list[GeneModel], float]:
    decoder = GeneDecoder(columns, params, reader.fetch)
    present = ~np.isnan(values[:, 0])
    edges = np.flatnonzero(np.diff(np.concatenate(([0], present.astype(np.int8), [0]))))
    models: list[GeneModel] = []
    began = time.perf_counter()
    for s, e in zip(edges[0::2], edges[1::2]):
        for a in range(s, e, PIECE):
            b = min(a + PIECE, e)
            models += decoder.feed(Track(record, start + a, values[a:b]))
        models += decoder.end_segment()
    return models, time.perf_counter() - began


def score(models: list[GeneModel], reference: Annotation, record: str, start: int, end: int) -> dict:
    """What `genoseg evaluate --gff3` reports at exon and gene level, without writing the GFF3."""
    def within(seqid: str, s: int, e: int) -> bool:
        return seqid == record and s >= start and e <= end

    predicted = as_annotation(models)
    pred_exons = exon_set(predicted, within)
    exons = SetAgreement.of(pred_exons, exon_set(reference, within)).as_dict()
    genes = gene_accuracy(reference, within, predicted, pred_exons)
    return {"exon_f1": exons["f1"], "precision": exons["precision"], "recall": exons["recall"],
            "exons_right": exons["matched"], "exons_predicted": exons["predicted"], "exons_reference": exons["reference"],
            "cds_exact": genes["cds_exact"], "intron_chain_exact": genes["intron_chain_exact"],
            "reference_genes": genes["reference_genes"]}


class CachedClassifier:
    """The site classifier's scores, memoised by sequence and candidates."""

    def __init__(self, classifier) -> None:
        self.classifier, self.memo = classifier, {}

    def score(self, kind: str, codes: np.ndarray, positions: np.ndarray) -> np.ndarray:
        key = (kind, hash(codes.tobytes()), hash(np.asarray(positions).tobytes()))
        if key not in self.memo:
            self.memo[key] = self.classifier.score(kind, codes, positions)
        return self.memo[key]


def with_overrides(params: GeneParameters, items: list[str]) -> GeneParameters:
    for item in items:
        name, _, text = item.partition("=")
        if name not in params.__dataclass_fields__:
            raise SystemExit(f"--set {item}: GeneParameters has no field {name}")
        current = getattr(params, name)
        setattr(params, name, type(current)(float(text)) if isinstance(current, (int, float)) else json.loads(text))
    return params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fasta", required=True)
    parser.add_argument("--run", required=True, type=Path, help="genoseg annotate output directory (with bigWigs)")
    parser.add_argument("--region", required=True, help="NAME:START-END, 1-based, inside what the run annotated")
    parser.add_argument("--annotation", help="reference GFF3/GTF to score against")
    parser.add_argument("--gene-parameters", default=str(BUNDLED / "gene_model.json"))
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE")
    parser.add_argument("--try", dest="trials", action="append", default=[], metavar="'FIELD=VALUE ...'")
    args = parser.parse_args()

    region = parse_region(args.region)
    features = features_of(args.run)
    columns = Columns.of(features)
    if columns is None:
        raise SystemExit(f"{args.run}: the run's classes cannot be decoded into gene models")
    reference = read_annotation(args.annotation) if args.annotation else None
    reader = FastaReader(args.fasta)
    cached = None
    try:
        values = read_tracks(args.run, features, region.record, region.start, region.end)
        for trial in [[]] + [t.split() for t in args.trials]:
            params = with_overrides(GeneParameters.load(args.gene_parameters), args.overrides + trial)
            if params.site_classifier is not None:
                cached = cached or CachedClassifier(params.site_classifier)
                params.site_classifier = cached
            models, seconds = decode(values, region.record, region.start, columns, params, reader)
            result = {"overrides": args.overrides + trial, "decode_seconds": round(seconds, 2), "genes": len(models)}
            if reference is not None:
                result.update(score(models, reference, region.record, region.start, region.end))
            print(json.dumps(result), flush=True)
    finally:
        reader.close()


if __name__ == "__main__":
    main()
