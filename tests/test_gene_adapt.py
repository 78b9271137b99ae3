"""genes/adapt.py: self-training the decoder's sequence models on the genome being annotated."""

import numpy as np

from genoseg.genes.adapt import AdaptSettings, Confidence, adapt, blend, chains, confident
from genoseg.genes.columns import Columns
from genoseg.genes.fit import count_genes, fitted_parameters
from genoseg.genes.parameters import BUNDLED_FILE, GeneParameters
from genoseg.genes.stream import GeneDecoder
from genoseg.stitching import Track
from tests.helpers import TINY_FEATURES

F = {name: i for i, name in enumerate(TINY_FEATURES)}
# Codons A. thaliana rarely uses (GC-rich, where its genes are AT-rich): the shipped coding chain
# scores such genes as unlikely, so a weak network signal alone does not carry them.
FOREIGN_CODONS = ["GCC", "GCG", "CGC", "CGG", "GGC", "GGG", "CCC", "CCG", "ACC", "ACG", "TCG", "AGC", "CAG", "GAG",
                  "CTG", "GTG", "ATC", "TTC", "AAG", "TGG", "GAC", "AAC", "TAC", "CAC"]


class ArrayGenome:
    """One record held in memory, read like a FastaReader."""

    def __init__(self, sequence: str) -> None:
        self.array = np.frombuffer(sequence.encode(), np.uint8).copy()

    def fetch(self, name: str, start: int, end: int) -> np.ndarray:
        return self.array[start:end]

    def length(self, name: str) -> int:
        return len(self.array)


def foreign_genome(genes: int, seed: int = 5) -> tuple[ArrayGenome, np.ndarray, set]:
    """Single-exon genes of FOREIGN_CODONS on both strands between AT-rich spacers; a third with a
    clear network signal (0.8), the rest weak (0.5). Returns the genome, its probabilities and
    the true CDS chains."""
    rng = np.random.default_rng(seed)
    sequence, truth, spans = "", set(), []
    for g in range(genes):
        sequence += "".join(rng.choice(list("AATTTACG"), int(rng.integers(500, 900))))
        body = "ATG" + "".join(rng.choice(FOREIGN_CODONS, int(rng.integers(150, 350)))) + "TAA"
        strand = "+" if g % 2 == 0 else "-"
        if strand == "-":
            body = body[::-1].translate(str.maketrans("ACGT", "TGCA"))
        spans.append((len(sequence), len(sequence) + len(body), 0.8 if g % 3 == 0 else 0.5))
        truth.add(("chrS", strand, ((len(sequence), len(sequence) + len(body)),)))
        sequence += body
    sequence += "".join(rng.choice(list("AATTTACG"), 800))
    probs = np.full((len(sequence), len(TINY_FEATURES)), 0.15, dtype=np.float32)
    for s, e, level in spans:
        probs[s:e, [F["exon"], F["protein_coding_gene"]]] = level
        probs[s:e, F["intron"]] = 0.05
    probs = np.clip(probs + rng.normal(0, 0.05, probs.shape).astype(np.float32), 0.01, 0.99)
    return ArrayGenome(sequence), probs, truth


def decoder_of(genome: ArrayGenome, probs: np.ndarray):
    def decode(params: GeneParameters):
        decoder = GeneDecoder(Columns.of(TINY_FEATURES), params, genome.fetch)
        models = []
        for lo in range(0, len(probs), 5000):
            models += decoder.feed(Track("chrS", lo, probs[lo : lo + 5000]))
        return models + decoder.end_segment()
    return decode


def test_adaptation_recovers_genes_the_shipped_models_miss():
    genome, probs, truth = foreign_genome(120)
    decode = decoder_of(genome, probs)
    start = GeneParameters.load(BUNDLED_FILE)
    first = decode(start)
    result = adapt(start, first, decode, genome, AdaptSettings(min_genes=5))
    before, after = len(truth & chains(first)), len(truth & chains(result.models))
    assert after >= before + 10, (before, after)  # 46 -> 59 of 120
    assert result.rounds and result.rounds[0].confident_genes >= 5
    assert result.params.notes.get("adapted") and result.params.coding_markov != start.coding_markov
    # Regularised: some 60 confident genes move the coding chain only part of the way (strength 200).
    assert 0 < result.rounds[0].weight_genes < 0.3


def test_a_genome_without_confident_genes_keeps_the_unadapted_result():
    genome, probs, _ = foreign_genome(6)
    probs[:] = 0.05  # no genic signal anywhere: nothing is decoded, nothing is confident
    decode = decoder_of(genome, probs)
    start = GeneParameters.load(BUNDLED_FILE)
    first = decode(start)
    result = adapt(start, first, decode, genome)
    assert result.rounds == [] and result.params is start and result.models == first
    assert "confident gene models" in result.note


def test_confident_genes_need_score_length_and_gt_ag_introns():
    from genoseg.genes.models import GeneModel

    sequence = "A" * 100 + "ATGAAACCC" + "GTAAGTTTTTTTTTTTTTAG" + "CCCAAATAA" + "A" * 100
    genome = ArrayGenome(sequence)
    spliced = GeneModel("chrS", "+", [(100, 109), (129, 138)], [(100, 109), (129, 138)], score=0.9)
    rule = Confidence(min_score=0.5, min_cds=10)
    assert confident([spliced], genome, rule) == [spliced]
    assert confident([spliced], genome, Confidence(min_score=0.95, min_cds=10)) == []
    assert confident([spliced], genome, Confidence(min_score=0.5, min_cds=30)) == []
    shifted = GeneModel("chrS", "+", [(100, 110), (130, 138)], [(100, 110), (130, 138)], score=0.9)  # TA…GC
    assert confident([shifted], genome, rule) == []


def test_blend_moves_each_model_by_its_evidence_and_a_neutral_start_toward_zero():
    from genoseg.genes.models import GeneModel

    genome, _, truth = foreign_genome(12)
    models = [GeneModel(record, strand, list(cds), list(cds)) for record, strand, cds in sorted(truth)]
    samples = count_genes(genome, models)
    fitted = fitted_parameters(samples)
    neutral = GeneParameters()
    blended, w_genes, w_introns = blend(neutral, fitted, samples, strength=samples.transcripts)
    assert samples.transcripts == 12 and w_genes == 0.5 and w_introns == 0.0  # single-exon genes: no introns
    assert np.allclose(blended.coding_markov, np.round(0.5 * np.array(fitted.coding_markov), 4), atol=1e-4)
    assert blended.donor is None and blended.intron_markov is None  # untouched without introns
    assert blended.weight_site_classifier == neutral.weight_site_classifier  # no intron evidence: kept whole


def test_blend_fades_the_network_and_rescales_intron_penalty_and_gene_gap():
    from genoseg.genes.models import GeneModel

    genome, _, truth = foreign_genome(12)
    models = [GeneModel(record, strand, list(cds), list(cds)) for record, strand, cds in sorted(truth)]
    samples = count_genes(genome, models)
    fitted = fitted_parameters(samples)
    start = GeneParameters(weight_emission=0.2, weight_network_site=2.0, intron_penalty=40.0, min_gene_gap=200,
                           typical_gene_gap=1000.0, typical_intron_rate=0.003)
    blended, w_genes, _ = blend(start, fitted, samples, strength=samples.transcripts, gene_gap=400.0)
    assert w_genes == 0.5
    assert blended.weight_emission == 0.1  # the network keeps the share the genome's coding models leave it
    assert blended.weight_network_site == 2.0  # no introns counted: the site evidence is not faded
    # No intron in 12 genes: one intron per all their coding bases is far rarer than 0.003, so
    # introns get dearer, up to twice the penalty, by half (w_genes).
    rate = 1 / samples.coding_bases
    expected = 40.0 * (0.5 + 0.5 * min(2.0, np.log(rate) / np.log(0.003)))
    assert blended.intron_penalty == round(expected, 2) and blended.intron_penalty > 40.0
    assert blended.min_gene_gap == round(200 * (1 - 0.5 * (1 - 0.4)))  # 2.5 times as compact: 140
    sparse, _, _ = blend(start, fitted, samples, strength=samples.transcripts, gene_gap=5000.0)
    assert sparse.min_gene_gap == 200  # a sparser genome never widens the gap
    untyped, _, _ = blend(GeneParameters(intron_penalty=40.0, min_gene_gap=200), fitted, samples,
                          strength=samples.transcripts, gene_gap=400.0)
    assert untyped.intron_penalty == 40.0 and untyped.min_gene_gap == 200  # nothing to compare with
    nothing, w_none, _ = blend(start, fitted, samples, strength=samples.transcripts, need=0.0, gene_gap=400.0)
    assert w_none == 0 and (nothing.weight_emission, nothing.intron_penalty, nothing.min_gene_gap) == (0.2, 40.0, 200)
