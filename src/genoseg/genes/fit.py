"""Fitting the decoder's sequence models from a genome and its reference annotation.

This is the only gene code that reads an annotation. `fit_gene_parameters` counts true sites and
decoys (every other GT/GC, AG or ATG inside genes), coding and intron 6-mers and length
histograms on the coding transcripts of the given regions, and optionally trains the
convolutional site classifiers; fitting takes seconds (minutes with the classifiers).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from genoseg.annotation import CODING, Annotation, read_annotation
from genoseg.fasta import FastaReader, reverse_complement
from genoseg.genes.parameters import GeneParameters
from genoseg.genes.sequence import CODE, find_motif, first_in_orf, hexamer_index, spliced
from genoseg.genes.site_models import KINDS, MARGIN, Pwm, SiteClassifier, SiteNet, base_at, context_index, one_hot_windows
from genoseg.regions import resolve_region


# The intron length prior runs from 0 to this length, past the mode (86 nt in TAIR10), and the
# per-base cost takes over beyond it: on the tuning slice a prior joined at 150-250 nt scored
# best; the exon prior stops at its mode (a prior over longer exons cost precision).
INTRON_PRIOR_JOIN = 200


def _site_counts(codes: np.ndarray, positions: np.ndarray, offset: int, length: int, order: int) -> np.ndarray:
    counts = np.ones((length, 4**order, 4), dtype=np.float64)  # +1 pseudocount
    for column in range(length):
        at = positions + offset + column
        base = base_at(codes, at)
        context, valid = context_index(codes, at, order)
        valid &= base < 4
        np.add.at(counts[column], (context[valid], base[valid]), 1)
    return counts if order else counts[:, 0, :]


def _pwm(codes: np.ndarray, true_sites: np.ndarray, decoys: np.ndarray, offset: int, length: int, order: int = 0) -> Pwm:
    real = _site_counts(codes, true_sites, offset, length, order)
    background = _site_counts(codes, decoys, offset, length, order)
    log_odds = np.log(real / real.sum(-1, keepdims=True)) - np.log(background / background.sum(-1, keepdims=True))
    return Pwm(offset, np.round(log_odds, 4).tolist(), order)


def _markov_log_odds(counts: np.ndarray) -> np.ndarray:
    """log P(last base | the five before) for each 6-mer, from (rows, 4096) 6-mer counts."""
    grouped = counts.reshape(len(counts), 1024, 4)
    return np.log(grouped / grouped.sum(-1, keepdims=True)).reshape(len(counts), 4096)


def length_log_odds(lengths: list[int], join: int = 0, smooth: int = 4, lowest: float = -8.0) -> list[float] | None:
    """log(density(L) / density(J)) for L < J, J the larger of `join` and the mode of the
    smoothed length histogram (see GeneParameters.intron_length_log_odds)."""
    if not lengths:
        return None
    counts = np.bincount(np.asarray(lengths, dtype=np.int64), minlength=max(join, 2 * smooth) + 2).astype(np.float64)
    kernel = np.ones(2 * smooth + 1) / (2 * smooth + 1)
    density = np.convolve(counts, kernel, mode="same") + 0.5 / len(counts)
    join = max(join, int(np.argmax(density)))
    return np.round(np.maximum(np.log(density[:join] / density[join]), lowest), 3).tolist()


def _first_atg_log_odds(codes: np.ndarray, starts: np.ndarray, decoys: np.ndarray) -> list[float] | None:
    """[not first, first] log-odds of true starts against in-gene ATGs being the first ATG of
    their reading frame (sequence.first_in_orf); None without both."""
    if not len(starts) or not len(decoys):
        return None
    true_first = first_in_orf(codes, starts).mean()
    decoy_first = first_in_orf(codes, decoys).mean()
    # Half a count each way keeps both entries finite on a small sample.
    t = (true_first * len(starts) + 0.5) / (len(starts) + 1)
    d = (decoy_first * len(decoys) + 0.5) / (len(decoys) + 1)
    return [round(float(np.log((1 - t) / (1 - d))), 4), round(float(np.log(t / d)), 4)]


def site_floor(pwm: Pwm, codes: np.ndarray, sites: list[int], percentile: float) -> float:
    if not sites:
        return -1e9
    return round(float(np.percentile(pwm.score(codes, np.array(sites)), percentile)), 3)


@dataclass
class Samples:
    """What fitting counts over the coding transcripts, record by record and strand by strand."""

    coding: np.ndarray = field(default_factory=lambda: np.ones(4097))  # in-frame codon 6-mers
    background: np.ndarray = field(default_factory=lambda: np.ones(4097))  # 6-mers outside CDS
    markov: np.ndarray = field(default_factory=lambda: np.ones((3, 4097)))  # by codon position of the last base
    markov_background: np.ndarray = field(default_factory=lambda: np.ones(4097))
    intron: np.ndarray = field(default_factory=lambda: np.ones(4097))  # 6-mers wholly inside one intron
    sites: dict[str, list[int]] = field(default_factory=lambda: {k: [] for k in ("donor", "acceptor", "start")})
    decoys: dict[str, list[int]] = field(default_factory=lambda: {k: [] for k in ("donor", "acceptor", "start")})
    intron_lengths: list[int] = field(default_factory=list)  # between CDS segments
    exon_lengths: list[int] = field(default_factory=list)  # internal CDS segments
    chunks: list[np.ndarray] = field(default_factory=list)  # every oriented sequence, end to end
    transcripts: int = 0
    coding_bases: int = 0
    base: int = 0  # where the next oriented sequence starts in the concatenation

    def codes(self) -> np.ndarray:
        """Every oriented sequence counted, end to end (site positions index into this)."""
        return np.concatenate(self.chunks) if self.chunks else np.zeros(0, dtype=np.int64)


def fit_gene_parameters(fasta: str, annotation_path: str, regions: list[str] | None = None,
                        site_epochs: int = 0) -> GeneParameters:
    """Fit site models, the start-codon matrix and the coding models on the coding transcripts
    inside `regions`; with `site_epochs`, also train the convolutional site classifiers for that
    many passes over the sites (minutes on a CPU, where the rest takes seconds).

    Sites are counted in transcript orientation: each record is read forward and reverse
    complemented, and every transcript is taken on the strand it lies on.
    """
    annotation: Annotation = read_annotation(annotation_path)
    samples = Samples()
    coding_spans: list[tuple[str, int, int]] = []
    with FastaReader(fasta) as reader:
        lengths = {r.name: r.length for r in reader.records}
        spans = [resolve_region(text, lengths) for text in regions or []] or [
            resolve_region(name, lengths) for name in lengths
        ]
        for span in spans:
            end = span.end if span.end is not None else lengths[span.record]
            bases = reader.fetch(span.record, span.start, end)
            transcripts = sorted(
                (t for t in annotation.on(span.record)
                 if t.biotype == CODING and t.cds and t.start >= span.start and t.end <= end),
                key=lambda t: -sum(e - s for s, e in t.cds),
            )
            coding_spans += gene_cds_spans(transcripts)
            genes_seen: set[str] = set()
            for orientation, codes in (("+", CODE[bases]), ("-", CODE[reverse_complement(bases)])):
                def local(x: int) -> int:
                    return x - span.start if orientation == "+" else end - x

                chosen = []
                for t in transcripts:
                    if t.strand != orientation or (t.gene_id or t.id) in genes_seen:
                        continue
                    genes_seen.add(t.gene_id or t.id)
                    chosen.append(([tuple(sorted((local(s), local(e)))) for s, e in t.exons],
                                   [tuple(sorted((local(s), local(e)))) for s, e in t.cds]))
                _count_strand(samples, codes, chosen)
    fitted = _parameters_from(samples, fasta, annotation_path, regions, site_epochs)
    fitted.typical_gene_gap = median_gene_gap(coding_spans)
    return fitted


def intron_rate(samples: Samples) -> float | None:
    """CDS introns per coding base of the counted transcripts (None when nothing was counted)."""
    return len(samples.intron_lengths) / samples.coding_bases if samples.coding_bases else None


def gene_cds_spans(transcripts) -> list[tuple[str, int, int]]:
    """(record, start, end) of each annotated gene's coding span: the union over its coding
    transcripts' CDS (a transcript without a gene is its own)."""
    spans: dict[tuple[str, str], tuple[str, int, int]] = {}
    for t in transcripts:
        key = (t.seqid, t.gene_id or t.id)
        start, end = t.cds[0][0], t.cds[-1][1]
        if key in spans:
            start, end = min(start, spans[key][1]), max(end, spans[key][2])
        spans[key] = (t.seqid, start, end)
    return list(spans.values())


def median_gene_gap(spans: list[tuple[str, int, int]]) -> float | None:
    """The median space between neighbouring coding spans (record, start, end) of one record, on
    either strand, overlaps counting 0: how compact a genome's genes are. None with no pair."""
    by_record: dict[str, list[tuple[int, int]]] = {}
    for record, start, end in spans:
        by_record.setdefault(record, []).append((start, end))
    gaps = []
    for pairs in by_record.values():
        pairs.sort()
        reach = pairs[0][1]
        for start, end in pairs[1:]:
            gaps.append(max(0, start - reach))
            reach = max(reach, end)
    return float(np.median(gaps)) if gaps else None


def _count_strand(samples: Samples, codes: np.ndarray, transcripts: list[tuple[list, list]]) -> None:
    """Add one oriented sequence and its transcripts' (exons, CDS), in its own coordinates."""
    n, base = len(codes), samples.base
    genic = np.zeros(n, dtype=bool)
    in_cds = np.zeros(n, dtype=bool)
    in_intron = np.zeros(n, dtype=bool)
    for exons, cds in transcripts:
        exons, cds = sorted(exons), sorted(cds)
        samples.transcripts += 1
        genic[exons[0][0] : exons[-1][1]] = True
        for (_, left_end), (right_start, _) in zip(exons, exons[1:]):
            in_intron[left_end:right_start] = True
            samples.sites["donor"].append(base + left_end)
            samples.sites["acceptor"].append(base + right_start)
        samples.sites["start"].append(base + cds[0][0])
        samples.intron_lengths += [b - a for (_, a), (b, _) in zip(cds, cds[1:])]
        samples.coding_bases += sum(e - s for s, e in cds)
        samples.exon_lengths += [e - s for s, e in cds[1:-1]]
        for s, e in cds:
            in_cds[s:e] = True
        spliced_index = hexamer_index(spliced(codes, cds))
        samples.coding += np.bincount(spliced_index[0::3], minlength=4097)
        # 6-mer starting at k ends at k + 5, whose codon position is (k + 5) % 3.
        for position in range(3):
            samples.markov[position] += np.bincount(spliced_index[(position - 5) % 3 :: 3], minlength=4097)
    index = hexamer_index(codes)
    samples.background += np.bincount(index[~in_cds], minlength=4097)
    ends_outside = np.zeros(n, dtype=bool)
    ends_outside[: max(n - 5, 0)] = ~in_cds[5:]
    samples.markov_background += np.bincount(index[ends_outside], minlength=4097)
    within_intron = np.zeros(n, dtype=bool)  # the whole 6-mer inside one intron
    within_intron[: max(n - 5, 0)] = in_intron[: max(n - 5, 0)] & in_intron[5:]
    samples.intron += np.bincount(index[within_intron], minlength=4097)
    # Decoys: every occurrence of the core motif inside genes, so the matrices learn what tells a
    # real site from the many look-alikes the decoder will meet.
    for motif, shift, kind in (("GT", 0, "donor"), ("GC", 0, "donor"), ("AG", 2, "acceptor"), ("ATG", 0, "start")):
        hits = find_motif(codes, motif) + shift
        samples.decoys[kind].extend((base + hits[genic[np.clip(hits, 0, n - 1)]]).tolist())
    samples.chunks.append(codes)
    samples.base += n


def _parameters_from(samples: Samples, fasta: str, annotation_path: str, regions: list[str] | None,
                     site_epochs: int) -> GeneParameters:
    """The fitted models from the counts (see GeneParameters for what each is)."""
    codes = samples.codes()
    rate = intron_rate(samples)
    sites = {kind: np.array(positions, dtype=np.int64) for kind, positions in samples.sites.items()}
    decoys = {kind: np.array(positions, dtype=np.int64) for kind, positions in samples.decoys.items()}
    coding = samples.coding[:4096] / samples.coding[:4096].sum()
    background = samples.background[:4096] / samples.background[:4096].sum()
    markov_background = _markov_log_odds(samples.markov_background[None, :4096])
    # Windows: donor -3..+8 (exon end, GT, 7 intron bases), acceptor -40..+2 (branch point and
    # polypyrimidine tract, AG, 3 exon bases); wider windows and order 2 added nothing for donors.
    donor = _pwm(codes, sites["donor"], decoys["donor"], -3, 12, order=1)
    acceptor = _pwm(codes, sites["acceptor"], decoys["acceptor"], -40, 43, order=2)
    classifier = None
    if site_epochs > 0 and samples.sites["donor"]:
        classifier = fit_site_classifier(codes, {kind: (sites[kind], decoys[kind]) for kind in KINDS}, epochs=site_epochs)
    return GeneParameters(
        donor=donor,
        acceptor=acceptor,
        # Floors low in the true sites' score distribution: the decoder skips the decoys below
        # them. Besides speed this was the largest single gain in accuracy measured (exon F1
        # 0.11 → 0.33 on the tuning slice, at the 5th percentile): weak decoys are where the
        # blurred network lets a wrong path win. Once introns carried their own penalty, lower
        # floors (keeping more weak true sites) paid: tuned on TAIR10 to the 0.78th (donor) and
        # 2.16th (acceptor) percentiles; with the site classifiers, which tell weak true sites
        # from decoys far better than the matrices, lower still: the 0.1th and 1st (see
        # docs/models.md, step 11), which the bundled gene_model.json holds.
        donor_floor=site_floor(donor, codes, samples.sites["donor"], 0.1),
        acceptor_floor=site_floor(acceptor, codes, samples.sites["acceptor"], 1.0),
        start=_pwm(codes, sites["start"], decoys["start"], -9, 15),
        start_first_log_odds=_first_atg_log_odds(codes, sites["start"], decoys["start"]),
        hexamer=np.round(np.log(coding) - np.log(background), 4).tolist(),
        coding_markov=np.round(_markov_log_odds(samples.markov[:, :4096]) - markov_background, 4).tolist(),
        intron_length_log_odds=length_log_odds(samples.intron_lengths, join=INTRON_PRIOR_JOIN),
        exon_length_log_odds=length_log_odds(samples.exon_lengths),
        intron_markov=np.round(_markov_log_odds(samples.intron[None, :4096]) - markov_background, 4)[0].tolist(),
        site_classifier=classifier,
        typical_intron_rate=None if rate is None else float(f"{rate:.4g}"),
        notes={"fasta": Path(fasta).name, "annotation": Path(annotation_path).name, "regions": list(regions or []),
               "coding_transcripts": samples.transcripts, "donors": len(samples.sites["donor"]),
               "acceptors": len(samples.sites["acceptor"])},
    )


def fitted_parameters(samples: Samples) -> GeneParameters:
    """The sequence models of `samples` alone (no site classifiers), for self-training."""
    return _parameters_from(samples, "", "", None, site_epochs=0)


def count_genes(reader: FastaReader, models: list, flank: int = 1000) -> Samples:
    """Samples of gene models (anything with record, strand, sorted exons and cds) read from
    `reader`: each cluster of genes with `flank` bases either side, in both orientations, so
    memory follows the genes' extent rather than the genome's."""
    samples = Samples()
    ordered = sorted(models, key=lambda m: (m.record, m.exons[0][0]))
    clusters: list[tuple[str, int, int, list]] = []
    for model in ordered:
        lo, hi = max(0, model.exons[0][0] - flank), model.exons[-1][1] + flank
        if clusters and clusters[-1][0] == model.record and lo <= clusters[-1][2]:
            record, start, end, members = clusters[-1]
            clusters[-1] = (record, start, max(end, hi), members + [model])
        else:
            clusters.append((model.record, lo, hi, [model]))
    for record, lo, hi, members in clusters:
        hi = min(hi, reader.length(record))
        bases = reader.fetch(record, lo, hi)
        for orientation, codes in (("+", CODE[bases].astype(np.int8)), ("-", CODE[reverse_complement(bases)].astype(np.int8))):
            def local(x: int) -> int:
                return x - lo if orientation == "+" else hi - x

            chosen = [([tuple(sorted((local(s), local(e)))) for s, e in m.exons],
                       [tuple(sorted((local(s), local(e)))) for s, e in m.cds]) for m in members if m.strand == orientation]
            _count_strand(samples, codes, chosen)
    return samples


def fit_site_net(codes: np.ndarray, sites: np.ndarray, decoys: np.ndarray, flank: int = 80, epochs: int = 3,
                 max_decoys: int = 300_000, batch: int = 512, learning_rate: float = 2e-3,
                 seed: int = 0) -> tuple[SiteNet, float]:
    """Train one network on true sites against (a sample of) decoys; returns it and its prior."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    if len(decoys) > max_decoys:
        decoys = rng.choice(decoys, size=max_decoys, replace=False)
    positions = np.concatenate([sites, decoys]).astype(np.int64)
    labels = torch.cat([torch.ones(len(sites)), torch.zeros(len(decoys))])
    net = SiteNet(flank)
    optimizer = torch.optim.Adam(net.parameters(), lr=learning_rate)
    generator = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate * 0.5**epoch
        net.train()
        order = torch.randperm(len(positions), generator=generator).numpy()
        for i in range(0, len(order), batch):
            chosen = order[i : i + batch]
            loss = nn.functional.binary_cross_entropy_with_logits(
                net(one_hot_windows(codes, positions[chosen] - flank - MARGIN, 2 * (flank + MARGIN))), labels[chosen])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return net.eval(), float(np.log(len(sites) / max(len(decoys), 1)))


def fit_site_classifier(codes: np.ndarray, sites: dict[str, tuple[np.ndarray, np.ndarray]], flank: int = 80,
                        epochs: int = 3, max_decoys: int = 300_000, seed: int = 0) -> SiteClassifier:
    """`sites[kind]` = (true positions, decoy positions) in `codes`, for kind in donor, acceptor."""
    nets, priors = {}, {}
    for k, kind in enumerate(KINDS):
        true, decoys = sites[kind]
        nets[kind], priors[kind] = fit_site_net(codes, np.asarray(true), np.asarray(decoys), flank, epochs,
                                                max_decoys, seed=seed + k)
    return SiteClassifier(nets, priors, flank)
