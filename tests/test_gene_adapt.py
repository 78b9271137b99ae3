"""genes/adapt.py: self-training the decoder's sequence models on the genome being annotated."""

import numpy as np

from genoseg.genes.adapt import AdaptSettings, Confidence, adapt, blend, chains, confident
from genoseg.genes.decoder import Columns
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
    genome, probs, truth = foreign_genome(40)
    decode = decoder_of(genome, probs)
    start = GeneParameters.load(BUNDLED_FILE)
    first = decode(start)
    result = adapt(start, first, decode, genome, AdaptSettings(min_genes=5))
    before, after = len(truth & chains(first)), len(truth & chains(result.models))
    assert after >= before + 5, (before, after)
    assert result.rounds and result.rounds[0].confident_genes >= 5
    assert result.params.notes.get("adapted") and result.params.coding_markov != start.coding_markov
    # Regularised: 20-odd genes move the coding chain only part of the way (strength 200).
    assert 0 < result.rounds[0].weight_genes < 0.2


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
