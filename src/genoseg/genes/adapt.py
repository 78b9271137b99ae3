"""Self-training: the decoder's sequence models refitted on the genome being annotated.

The shipped sequence models (coding and intron Markov chains, splice-site and start-codon weight
arrays, length priors) were fitted on the training genome; on another clade they point the wrong
way. Like GeneMark-ES, which trains on the target genome without annotation, `adapt` decodes,
keeps the gene models it can trust (`Confidence`), measures by cross-validation how much better
the genome's own coding model reads them (`need_for_adaptation`; a genome like the training one
needs nothing and keeps the shipped models), refits the genome-specific models (`fit.count_genes`),
blends each with the starting model by that need and by how much evidence the genome gave
(`blend`), and decodes again until the gene set stops changing. The network's
probabilities are computed once; every round re-decodes them (the caller's `decode`).

No annotation of the target genome is read: only its sequence and the decoded gene models.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from genoseg.fasta import FastaReader, reverse_complement
from genoseg.genes.fit import count_genes, fitted_parameters, median_gene_gap, site_floor
from genoseg.genes.models import GeneModel
from genoseg.genes.parameters import GeneParameters
from genoseg.genes.sequence import CODE
from genoseg.genes.site_models import Pwm

Chain = tuple[str, str, tuple[tuple[int, int], ...]]


@dataclass(frozen=True)
class Confidence:
    """Which decoded genes the refit learns from: coding, complete (ATG…stop by construction),
    every intron GT…AG, at least `min_cds` coding bases, and mean exon probability (the gene's
    score) at least `min_score`."""

    min_score: float = 0.5
    min_cds: int = 300


@dataclass(frozen=True)
class AdaptSettings:
    confidence: Confidence = field(default_factory=Confidence)
    # Pseudo-count of the starting models, in genes (introns, internal exons): a field refitted
    # from n examples gets weight n / (n + strength).
    strength: float = 200.0
    max_rounds: int = 3
    tolerance: float = 0.01  # stop when fewer than this share of CDS chains changed
    min_genes: int = 20  # fewer confident genes than this: keep the starting models
    need: float | None = None  # None: measured (need_for_adaptation); a number in 0..1: taken as it is
    # The convolutional site classifiers are not refitted (minutes of training, on decoded
    # introns): like every starting model they keep the share the genome's evidence leaves them,
    # 1 - the intron weight.
    fade_site_classifier: bool = True


@dataclass
class Round:
    """One refit and re-decode, as run.json reports it."""

    confident_genes: int
    need: float  # how much the genome needs its own models (need_for_adaptation)
    introns: int
    weight_genes: float  # the refit's share in the coding models and the start codon matrix
    weight_introns: float  # ... in the intron chain, splice-site models and intron lengths
    weight_emission: float  # the network's exon evidence, faded by the coding models' weight
    intron_penalty: float  # rescaled by the confident genes' intron rate
    min_gene_gap: int  # shrunk where the decoded genes lie closer than the training genome's
    genes: int  # coding gene models decoded with the refitted models
    changed: float  # share of CDS chains not in the previous round's set


@dataclass
class Adaptation:
    params: GeneParameters
    models: list[GeneModel]
    rounds: list[Round]
    note: str  # why adaptation stopped

    def as_dict(self) -> dict:
        return {"rounds": [vars(r) for r in self.rounds], "stopped": self.note}


def chains(models: list[GeneModel]) -> set[Chain]:
    return {(m.record, m.strand, tuple(m.cds)) for m in models if m.cds}


def _canonical_introns(model: GeneModel, reader: FastaReader) -> bool:
    for (_, left_end), (right_start, _) in zip(model.exons, model.exons[1:]):
        if right_start - left_end < 4:
            return False
        donor = reader.fetch(model.record, left_end, left_end + 2)
        acceptor = reader.fetch(model.record, right_start - 2, right_start)
        pair = bytes(donor) + bytes(acceptor) if model.strand == "+" else \
            bytes(reverse_complement(acceptor)) + bytes(reverse_complement(donor))
        if pair != b"GTAG":
            return False
    return True


def confident(models: list[GeneModel], reader: FastaReader, rule: Confidence) -> list[GeneModel]:
    """The gene models that pass `rule` (see Confidence)."""
    return [m for m in models if m.biotype == "protein_coding" and m.cds and m.score >= rule.min_score
            and sum(e - s for s, e in m.cds) >= rule.min_cds and _canonical_introns(m, reader)]


def _mix(start, fitted, weight: float):
    """weight · fitted + (1 - weight) · start for nested lists of numbers; a missing start is neutral (0)."""
    new = np.asarray(fitted, dtype=np.float64)
    old = np.zeros_like(new) if start is None else np.asarray(start, dtype=np.float64)
    if old.shape != new.shape:  # length priors: pad the shorter with 0, which is the prior's value at its end
        length = max(len(old), len(new))
        old, new = (np.pad(a, (0, length - len(a))) for a in (old, new))
    return np.round(weight * new + (1 - weight) * old, 4).tolist()


def _mix_pwm(start: Pwm | None, fitted: Pwm, weight: float) -> Pwm:
    if start is not None and (start.offset, start.order, np.shape(start.log_odds)) != \
            (fitted.offset, fitted.order, np.shape(fitted.log_odds)):
        start = None  # a different layout: the refit stands alone, scaled like a neutral start
    return Pwm(fitted.offset, _mix(start.log_odds if start else None, fitted.log_odds, weight), fitted.order)


def _coding_codes(reader: FastaReader, model: GeneModel) -> np.ndarray:
    """The model's spliced CDS as base codes, on its own strand."""
    bases = np.concatenate([reader.fetch(model.record, s, e) for s, e in model.cds])
    return CODE[bases if model.strand != "-" else reverse_complement(bases)]


def frame_accuracy(params: GeneParameters, cds: list[np.ndarray], window: int = 48) -> tuple[float, int]:
    """Share of `window`-base stretches of coding sequence (codon-aligned) that `params`' coding
    model scores higher in their own frame than in either shifted frame. Whole genes are read
    right by any coding model; 16 codons show which model knows the genome's codon usage."""
    right = total = 0
    for codes in cds:
        starts = np.arange(0, len(codes) - window + 1, window)
        if not len(starts):
            continue
        sums = np.stack([np.concatenate(([0.0], np.cumsum(row))) for row in params.coding_per_base(codes)])
        scores = sums[:, starts + window] - sums[:, starts]
        right += int((scores[0] > np.maximum(scores[1], scores[2])).sum())
        total += len(starts)
    return (right / total if total else 0.0), total


NEED_GRID = (0.0, 0.25, 0.5, 0.75, 1.0)


def need_for_adaptation(start: GeneParameters, trusted: list[GeneModel], reader: FastaReader,
                        seed: int = 0) -> tuple[float, float, float]:
    """How far this genome's own models should replace the starting ones, 0..1, chosen by
    cross-validation; with the starting and the chosen models' accuracies.

    The confident genes are split in two. A coding chain refitted on one half is mixed with the
    starting one in the proportions NEED_GRID, and each mix reads the other half's coding
    sequence (`frame_accuracy`). The best mix wins if it reads more stretches right than the
    starting chain by over two standard errors of the difference; otherwise nothing changes. On
    a genome like the training one the starting chain reads it as well as any mix; on another
    clade the genome's own chain reads it better.
    """
    order = np.random.default_rng(seed).permutation(len(trusted))
    half = len(trusted) // 2
    fit_on, test_on = [trusted[i] for i in order[:half]], [trusted[i] for i in order[half:]]
    if not fit_on or not start.coding_markov:
        return 1.0, 0.0, 1.0  # nothing to compare with: the genome's own models stand
    cds = [_coding_codes(reader, m) for m in test_on]
    own = fitted_parameters(count_genes(reader, fit_on))
    accuracy = {}
    for w in NEED_GRID:
        mixed = replace(start, coding_markov=_mix(start.coding_markov, own.coding_markov, w))
        accuracy[w], windows = frame_accuracy(mixed, cds)
    p = accuracy[0.0]
    margin = 2 * math.sqrt(2 * p * (1 - p) / max(windows, 1))
    better = [w for w in NEED_GRID if accuracy[w] - p > margin]
    best = max(better, key=lambda w: (accuracy[w], -w)) if better else 0.0
    return best, p, accuracy[best]


def _intron_scale(start: GeneParameters, samples) -> float:
    """log(this genome's intron rate) / log(the training genome's), within 0.5..2: how much
    dearer an intron should be here. The confident genes' rate (plus one intron, so that a genome
    with none stays finite) stands for the genome's."""
    typical = start.typical_intron_rate
    if not typical or not 0 < typical < 1 or not samples.coding_bases:
        return 1.0
    rate = min((len(samples.intron_lengths) + 1) / samples.coding_bases, 0.5)
    return float(np.clip(math.log(rate) / math.log(typical), 0.5, 2.0))


def blend(start: GeneParameters, fitted: GeneParameters, samples, strength: float,
          fade_site_classifier: bool = True, need: float = 1.0,
          gene_gap: float | None = None) -> tuple[GeneParameters, float, float]:
    """The starting parameters with every fitted field moved toward the refit by its evidence
    (n / (n + strength) for n genes, introns or internal exons), scaled by the genome's `need`.

    The network cannot be refitted here, so its terms keep the share the genome's own models
    leave them: its exon evidence 1 - the coding models' weight, its splice-site evidence (and
    the site classifiers') 1 - the intron models' weight. The intron penalty moves by the coding
    models' weight toward the starting one rescaled by `_intron_scale`; by the same share,
    min_gene_gap shrinks in a genome more compact than the training one (`gene_gap`, the decoded
    genes' median spacing, `fit.median_gene_gap`, against the starting typical_gene_gap)."""
    genes = samples.transcripts
    introns = len(samples.sites["donor"])
    internal = len(samples.exon_lengths)
    w_genes, w_introns, w_exons = (need * n / (n + strength) for n in (genes, introns, internal))
    out = replace(start, notes={**start.notes, "adapted": True})
    out.coding_markov = _mix(start.coding_markov, fitted.coding_markov, w_genes)
    out.hexamer = _mix(start.hexamer, fitted.hexamer, w_genes)
    out.start = _mix_pwm(start.start, fitted.start, w_genes)
    if fitted.start_first_log_odds is not None:
        out.start_first_log_odds = _mix(start.start_first_log_odds, fitted.start_first_log_odds, w_genes)
    if introns:
        out.intron_markov = _mix(start.intron_markov, fitted.intron_markov, w_introns)
        out.donor = _mix_pwm(start.donor, fitted.donor, w_introns)
        out.acceptor = _mix_pwm(start.acceptor, fitted.acceptor, w_introns)
        if fitted.intron_length_log_odds:
            out.intron_length_log_odds = _mix(start.intron_length_log_odds, fitted.intron_length_log_odds, w_introns)
        codes = samples.codes()
        for kind, percentile in (("donor", 0.1), ("acceptor", 1.0)):
            floor = site_floor(getattr(out, kind), codes, samples.sites[kind], percentile)
            old = getattr(start, f"{kind}_floor")
            setattr(out, f"{kind}_floor", floor if getattr(start, kind) is None else min(old, floor))
    if fade_site_classifier:
        out.weight_site_classifier = round(start.weight_site_classifier * (1 - w_introns), 4)
    out.weight_emission = round(start.weight_emission * (1 - w_genes), 4)
    out.weight_network_site = round(start.weight_network_site * (1 - w_introns), 4)
    out.intron_penalty = round(start.intron_penalty * (1 - w_genes + w_genes * _intron_scale(start, samples)), 2)
    if gene_gap is not None and start.typical_gene_gap:
        compactness = min(1.0, gene_gap / start.typical_gene_gap)
        out.min_gene_gap = round(start.min_gene_gap * (1 - w_genes * (1 - compactness)))
    if internal and fitted.exon_length_log_odds:
        out.exon_length_log_odds = _mix(start.exon_length_log_odds, fitted.exon_length_log_odds, w_exons)
    return out, round(w_genes, 3), round(w_introns, 3)


def adapt(start: GeneParameters, first: list[GeneModel], decode: Callable[[GeneParameters], list[GeneModel]],
          reader: FastaReader, settings: AdaptSettings = AdaptSettings(),
          log: Callable[[str], None] = lambda _: None) -> Adaptation:
    """Refit and re-decode from the gene models `first` (decoded with `start`) until they settle.

    Returns the unadapted `first` with the reason when the genome gives fewer than
    settings.min_genes confident genes.
    """
    params, models, rounds = start, first, []
    need = None
    for number in range(1, settings.max_rounds + 1):
        trusted = confident(models, reader, settings.confidence)
        if len(trusted) < settings.min_genes:
            note = f"{len(trusted)} confident gene models (fewer than {settings.min_genes}): kept the starting models"
            if not rounds:
                return Adaptation(start, first, [], note)
            return Adaptation(params, models, rounds, note)
        if need is None and settings.need is not None:
            need = settings.need
        elif need is None:  # measured once, on the first round's confident genes
            need, shipped, own = need_for_adaptation(start, trusted, reader)
            log(f"coding frame read right by the starting models {shipped:.3f}, by this genome's own {own:.3f}: "
                f"need {need:.2f}")
            if need == 0:
                return Adaptation(start, first, [], f"the genome's own coding model reads its genes no better than "
                                  f"the starting one ({own:.3f} against {shipped:.3f} of 16-codon stretches): "
                                  "kept the starting models")
        samples = count_genes(reader, trusted)
        params, w_genes, w_introns = blend(start, fitted_parameters(samples), samples, settings.strength,
                                           settings.fade_site_classifier, need,
                                           median_gene_gap([(m.record, m.cds[0][0], m.cds[-1][1]) for m in models if m.cds]))
        previous = chains(models)
        models = decode(params)
        now = chains(models)
        changed = 1 - len(now & previous) / max(len(now | previous), 1)
        rounds.append(Round(len(trusted), round(need, 3), len(samples.sites["donor"]), w_genes, w_introns,
                            params.weight_emission, params.intron_penalty, params.min_gene_gap,
                            sum(m.biotype == "protein_coding" for m in models), round(changed, 4)))
        log(f"adaptation round {number}: {len(trusted)} confident genes, weights {w_genes}/{w_introns}, "
            f"network weights {params.weight_emission}/{params.weight_network_site}, "
            f"site classifier weight {params.weight_site_classifier}, intron penalty {params.intron_penalty}, "
            f"minimum gene gap {params.min_gene_gap}, "
            f"{rounds[-1].genes} gene models, {changed:.1%} of CDS chains changed")
        if changed < settings.tolerance:
            return Adaptation(params, models, rounds, f"gene set settled (under {settings.tolerance:.0%} changed)")
    return Adaptation(params, models, rounds, f"{settings.max_rounds} rounds")
