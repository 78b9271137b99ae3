"""`genoseg evaluate`: score predictions against a reference annotation.

Predictions are either genoseg's per-class intervals (a run directory or its GFF3, recognised by
the `class=` attribute) or any tool's gene models in GFF3/GTF (AUGUSTUS, BRAKER, Helixer...),
which are turned into per-base classes with the same rules as the training labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import numpy as np

from genoseg.annotation import CODING, LNCRNA, LABEL_FEATURES, Annotation, AnnotationError, Transcript, _open_text, build_labels, read_annotation
from genoseg.errors import UsageError
from genoseg.metrics import Confusion, GeneAgreement, SetAgreement
from genoseg.outputs import genes_gff3_in, intervals_gff3_in
from genoseg.regions import Region, resolve_region
from genoseg.writers import is_provenance


@dataclass
class ClassIntervals:
    """genoseg per-class intervals: feature → seqid → list of (start0, end)."""

    by_feature: dict[str, dict[str, list[tuple[int, int]]]]


def _read_class_intervals(path: Path) -> ClassIntervals | None:
    """Read a genoseg interval GFF3; None when the file holds gene models instead."""
    by_feature: dict[str, dict[str, list[tuple[int, int]]]] = {}
    saw_class = False
    with _open_text(path) as handle:
        for lineno, line in enumerate(handle, start=1):
            if is_provenance(line):
                # The header names every class the model predicts, including those that got no
                # interval: they must be scored (as zero recall), not silently dropped.
                for token in line.split():
                    if token.startswith("thresholds="):
                        for item in unquote(token[len("thresholds="):]).split(","):
                            by_feature.setdefault(item.rsplit(":", 1)[0], {})
                saw_class = True
                continue
            if line.startswith("#") or not line.strip():
                continue
            cols = line.rstrip("\r\n").split("\t")
            if len(cols) != 9:
                raise AnnotationError(f"{path}:{lineno}: expected 9 tab-separated columns, found {len(cols)}")
            attrs = dict(kv.split("=", 1) for kv in cols[8].split(";") if "=" in kv)
            if "class" not in attrs:
                return None
            saw_class = True
            if not (cols[3].isdigit() and cols[4].isdigit()) or not 1 <= int(cols[3]) <= int(cols[4]):
                raise AnnotationError(f"{path}:{lineno}: bad coordinates {cols[3]!r}-{cols[4]!r}")
            by_feature.setdefault(attrs["class"], {}).setdefault(unquote(cols[0]), []).append((int(cols[3]) - 1, int(cols[4])))
    return ClassIntervals(by_feature) if saw_class else None


def prediction_path(target: str, intervals: bool = False) -> Path:
    """The file to score: `target` itself, or in a run directory its gene models (its class
    intervals with `intervals`, or when it has no gene models)."""
    path = Path(target)
    if path.is_dir():
        genes = None if intervals else genes_gff3_in(path)
        return genes if genes is not None else intervals_gff3_in(path)
    if not path.is_file():
        raise UsageError(f"{path}: no such prediction file or directory")
    return path


def _lengths(reference: Annotation, ref_path: Path) -> dict[str, int]:
    lengths: dict[str, int] = {}
    with _open_text(ref_path) as handle:
        for line in handle:
            if line.startswith("##sequence-region"):
                parts = line.split()
                if len(parts) == 4:
                    lengths[unquote(parts[1])] = int(parts[3])
            elif not line.startswith("#"):
                break
    for t in reference.transcripts:
        lengths[t.seqid] = max(lengths.get(t.seqid, 0), t.end)
    for seqid, s, e, _ in reference.gene_spans.values():
        lengths[seqid] = max(lengths.get(seqid, 0), e)
    return lengths


def as_annotation(models) -> Annotation:
    """Decoded gene models (genes.models.GeneModel) as an Annotation, to score them without
    writing a GFF3 (the benchmarks that re-decode runs)."""
    return Annotation([Transcript(f"t{i}", m.record, m.strand, m.biotype, f"g{i}", m.exons, m.cds)
                       for i, m in enumerate(models)], {})


def exon_set(annotation: Annotation, within) -> set[tuple[str, int, int]]:
    return {(t.seqid, s, e) for t in annotation.transcripts if t.biotype in (CODING, LNCRNA)
            for s, e in t.exons if within(t.seqid, s, e)}


def cds_chain(t: Transcript) -> tuple:
    """(seqid, strand, CDS pieces): what must be equal for a coding transcript to be predicted
    exactly, by the CDS-level measures (gene_accuracy's cds_exact, cds_agreement)."""
    return (t.seqid, t.strand, tuple(t.cds))


def _intron_chains(transcripts: list[Transcript]) -> list[tuple]:
    """(seqid, strand, introns) of each multi-exon transcript."""
    return [(t.seqid, t.strand, tuple(introns)) for t in transcripts if (introns := t.introns())]


def gene_accuracy(reference: Annotation, within, predicted: Annotation | None,
                  pred_exons: set[tuple[str, int, int]]) -> dict:
    """Gene-level agreement over the reference's coding genes inside `within`. With gene models
    (`predicted`), a gene counts when any of its transcripts is matched; class intervals (None)
    can only be scored by every exon of a transcript being among `pred_exons`."""
    if predicted is not None:
        models = [t for t in predicted.transcripts if t.biotype in (CODING, LNCRNA)]
        pred_chains = {(t.seqid, tuple(t.exons)) for t in models}
        # Transcript ends are rarely exact for any tool, so also count the criteria gene finders use:
        # the same intron chain (gffcompare's '='), and the same coding segments.
        pred_introns = set(_intron_chains(models))
        pred_cds = {cds_chain(t) for t in models if t.cds}
    genes: dict[str, list] = {}
    for t in reference.transcripts:
        if t.biotype == CODING and within(t.seqid, t.start, t.end):
            genes.setdefault(t.gene_id or t.id, []).append(t)
    correct = intron_chain = coding = multi_exon = 0
    for transcripts in genes.values():
        if predicted is not None:
            correct += any((t.seqid, tuple(t.exons)) in pred_chains for t in transcripts)
            coding += any(cds_chain(t) in pred_cds for t in transcripts if t.cds)
            chains = _intron_chains(transcripts)
            if chains:
                multi_exon += 1
                intron_chain += any(chain in pred_introns for chain in chains)
        else:
            correct += any(all((t.seqid, s, e) in pred_exons for s, e in t.exons) for t in transcripts)
    gene_level = {"reference_genes": len(genes), "all_exons_exact": correct,
                  "accuracy": round(correct / len(genes), 4) if genes else 0.0}
    if predicted is not None:
        gene_level.update({
            "cds_exact": coding, "cds_accuracy": round(coding / len(genes), 4) if genes else 0.0,
            "multi_exon_genes": multi_exon, "intron_chain_exact": intron_chain,
            "intron_chain_accuracy": round(intron_chain / multi_exon, 4) if multi_exon else 0.0,
        })
    return gene_level


def cds_agreement(reference: Annotation, predicted: Annotation, within) -> dict[str, dict]:
    """The measure gene finders are compared by (Tiberius, Helixer, ANNEVO): gffcompare's CDS exon
    and locus levels, on coding transcripts (those with a CDS) wholly inside `within` on both sides.

    CDS exon: the distinct (record, strand, start, end) of CDS pieces; one counts when both sides
    have it. Locus: a reference gene is found when one of its transcripts' CDS chain is predicted
    exactly by some transcript; a predicted gene is right when one of its transcripts' CDS chain
    equals a reference transcript's. So a gene split in two, two genes merged into one and a
    frame shift all miss, and alternative transcripts can only help their gene be found.
    """
    sides = []
    for annotation in (reference, predicted):
        genes: dict[tuple[str, str], set[tuple]] = {}
        for t in annotation.transcripts:
            if t.cds and within(t.seqid, t.start, t.end):
                genes.setdefault((t.seqid, t.gene_id or t.id), set()).add(cds_chain(t))
        sides.append(genes)
    ref_genes, pred_genes = sides
    ref_chains = {c for chains in ref_genes.values() for c in chains}
    pred_chains = {c for chains in pred_genes.values() for c in chains}
    exons = [{(seqid, strand, s, e) for seqid, strand, cds in chains for s, e in cds} for chains in (ref_chains, pred_chains)]
    matched = len(exons[0] & exons[1])
    locus = GeneAgreement(len(ref_genes), len(pred_genes), sum(bool(c & pred_chains) for c in ref_genes.values()),
                          sum(bool(c & ref_chains) for c in pred_genes.values()))
    return {"cds_exon": GeneAgreement(len(exons[0]), len(exons[1]), matched, matched).as_dict(),
            "locus": locus.as_dict()}


# Per-base scoring walks a region in chunks of this many bases; chunks that no transcript or
# interval touches are counted as true negatives without building any array, so memory and time
# follow the annotated bases, not the largest coordinate.
SCORE_CHUNK = 1 << 20


def _occupied(region: Region, reference: Annotation, predicted: Annotation | None,
              intervals: ClassIntervals | None) -> list[tuple[int, int]]:
    """Stretches of `region` that any reference or predicted feature touches."""
    spans = [(t.start, t.end) for t in reference.on(region.record)]
    spans += [(s, e) for seqid, s, e, _ in reference.gene_spans.values() if seqid == region.record]
    if predicted is not None:
        spans += [(t.start, t.end) for t in predicted.on(region.record)]
    if intervals is not None:
        spans += [span for items in intervals.by_feature.values() for span in items.get(region.record, [])]
    return [(max(s, region.start), min(e, region.end)) for s, e in spans if s < region.end and e > region.start]


def _score_region(region: Region, reference: Annotation, predicted: Annotation | None,
                  intervals: ClassIntervals | None, features: list[str], confusions: dict[str, Confusion]) -> None:
    """Add one region's per-base agreement to `confusions`, chunk by chunk (see SCORE_CHUNK)."""
    busy = {i for s, e in _occupied(region, reference, predicted, intervals)
            for i in range(s // SCORE_CHUNK, (e - 1) // SCORE_CHUNK + 1)}
    idle = 0
    for lo in range(region.start, region.end, SCORE_CHUNK):
        hi = min(lo + SCORE_CHUNK, region.end)
        if lo // SCORE_CHUNK not in busy and (hi - 1) // SCORE_CHUNK not in busy:
            idle += hi - lo
            continue
        truth = build_labels(reference, region.record, hi - lo, features, start=lo)
        if intervals is not None:
            guess = np.zeros((hi - lo, len(features)), dtype=np.uint8)
            for f, feature in enumerate(features):
                for s, e in intervals.by_feature.get(feature, {}).get(region.record, []):
                    if e > lo and s < hi:
                        guess[max(s, lo) - lo : min(e, hi) - lo, f] = 1
        else:
            guess = build_labels(predicted, region.record, hi - lo, features, start=lo)
        for f, feature in enumerate(features):
            confusions[feature].add(guess[:, f], truth[:, f])
    for confusion in confusions.values():
        confusion.tn += idle


def evaluate(reference_path: str, prediction: str, regions: list[str] | None = None, intervals: bool = False) -> dict:
    """Score a prediction file, or a run directory (its gene models; with `intervals`, its class
    intervals per base plus its gene models' CDS measures), against a reference annotation."""
    ref_path = Path(reference_path)
    reference = read_annotation(ref_path)
    pred_path = prediction_path(prediction, intervals)
    intervals = _read_class_intervals(pred_path)
    predicted_models = None if intervals is not None else read_annotation(pred_path)
    lengths = _lengths(reference, ref_path)
    spans: list[Region] = []
    for text in regions or []:
        region = resolve_region(text, lengths)
        end = region.end if region.end is not None else lengths.get(region.record, 0)
        spans.append(Region(region.record, region.start, end))
    if not spans:
        spans = [Region(seqid, 0, length) for seqid, length in sorted(lengths.items())]

    def within(seqid: str, s: int, e: int) -> bool:
        return any(r.holds(seqid, s, e) for r in spans)

    if intervals is not None:
        features = [f for f in LABEL_FEATURES if f in intervals.by_feature]
    else:
        features = list(LABEL_FEATURES)
    confusions = {f: Confusion() for f in features}
    for region in spans:
        _score_region(region, reference, predicted_models, intervals, features, confusions)

    ref_exons = exon_set(reference, within)
    if intervals is not None:
        pred_exons = {(seqid, s, e) for seqid, items in intervals.by_feature.get("exon", {}).items()
                      for s, e in items if within(seqid, s, e)}
    else:
        pred_exons = exon_set(predicted_models, within)

    gene_level = gene_accuracy(reference, within, predicted_models, pred_exons)
    # A run directory's per-base figures come from its class intervals; the CDS measures from its
    # gene models, when it has them.
    gene_models = predicted_models
    if gene_models is None and Path(prediction).is_dir():
        genes_path = genes_gff3_in(Path(prediction))
        gene_models = read_annotation(genes_path) if genes_path is not None else None
    cds = cds_agreement(reference, gene_models, within) if gene_models is not None else None
    return {
        "reference": str(ref_path),
        "prediction": str(pred_path),
        "prediction_kind": "genoseg intervals" if intervals is not None else "gene models",
        "regions": [str(r) for r in spans],
        "per_base": {f: c.as_dict() for f, c in confusions.items()},
        "exon_level": SetAgreement.of(pred_exons, ref_exons).as_dict(),
        "gene_level": gene_level,
        **(cds or {}),
    }
