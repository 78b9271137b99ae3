"""The gene decoder's dynamic program: one locus's probabilities and sequence → coding gene models.

The decoder is a semi-Markov dynamic program over candidate sites rather than an HMM stepped
base by base: a coding gene is a chain start codon → (donor → acceptor)* → stop codon, and every
exon or intron between two sites is scored in O(1) from prefix sums of per-base scores
(`BaseScores`). Only sites the grammar allows are candidates (`genes.sites`: ATG; GT/GC donors
and AG acceptors on the gene's own strand; TAA/TAG/TGA), so the Python loop runs over sites, not
bases, and only inside loci the network marks as genic (`genes.stream`). Reading frame is
carried through introns, and stop codons close every open exon of their frame, so a decoded CDS
never holds an in-frame stop. A stop codon split by an intron (T|AG, TA|G, ...) is ruled out
too: an intron remembers the one or two bases of the codon it interrupts, and an acceptor whose
first bases would complete a stop refuses it. (The spliced CDS is checked again before output.)

`StrandProgram` is the program for genes on the forward strand of a locus; the reverse strand is
decoded by running it on the reverse complement, and `decode_locus` lets the two strands'
candidates compete for overlapping space by score. Then each gene's UTRs are decoded
(`genes.utr`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from genoseg.fasta import reverse_complement
from genoseg.genes.columns import Columns
from genoseg.genes.models import GeneModel
from genoseg.genes.parameters import GeneParameters
from genoseg.genes.sequence import CODE, as_text, complete_protein, spliced
from genoseg.genes.sites import CandidateSites, candidate_sites
from genoseg.genes.utr import NEG, utr_exons


# An intron waiting for its acceptor is in one of six slots: the phase it hands on, and for
# phases 1 and 2 the bases of the interrupted codon that could begin a stop (T; TA or TG).
SLOT_PHASE = (0, 1, 1, 2, 2, 2)
SLOT_REFUSAL = (0, 0, 1, 0, 2, 4)  # the acceptor flag (_acceptor_refusals) that closes each slot


@dataclass(frozen=True)
class CodingChain:
    """A coding gene found on one strand: its score and CDS exons (oriented locus coordinates)."""

    score: float
    cds: list[tuple[int, int]]


@dataclass(frozen=True)
class Candidate:
    """A complete coding gene from either strand of a locus, before the strands compete."""

    score: float
    strand: str
    cds: list[tuple[int, int]]  # forward locus coordinates, sorted
    protein: str
    oriented_cds: list[tuple[int, int]]  # the same CDS on its own strand's coordinates
    coding: str  # the spliced CDS sequence, on the gene's strand

    @property
    def start(self) -> int:
        return self.cds[0][0]

    @property
    def end(self) -> int:
        return self.cds[-1][1]


@dataclass
class BaseScores:
    """Per-base scores of one strand of a locus, as prefix sums where paths take sums over spans.

    A coding exon [s, e) in frame class r scores exon_prefix[e] - exon_prefix[s] plus the same
    difference of coding_prefix[r]; an intron, of intron_prefix. UTR bases are scored per base.
    """

    exon_prefix: np.ndarray
    intron_prefix: np.ndarray
    coding_prefix: list[np.ndarray]
    utr_exon: np.ndarray
    utr_intron: np.ndarray


def base_scores(codes: np.ndarray, probs: np.ndarray, columns: Columns, params: GeneParameters,
                masked: np.ndarray | None = None) -> BaseScores:
    """The network's and the sequence models' per-base terms for `codes` (0..4) and `probs` (n, F);
    `masked` (soft-masked bases, or None) makes each masked coding base cost masked_coding_cost."""
    n = len(codes)
    p_exon = probs[:, columns.exon].astype(np.float64)
    p_intron = probs[:, columns.intron].astype(np.float64)
    p_gene = probs[:, columns.gene].astype(np.float64)
    p_utr = np.zeros(n)
    for c in columns.utrs:
        p_utr = np.maximum(p_utr, probs[:, c])
    # A coding exon is exon but not UTR. Each base is scored against the better of the two
    # things it is when no CDS or intron covers it: intergenic, or UTR exon.
    p_cds = p_exon * (1 - p_utr)
    outside = np.log(np.clip(np.maximum(1 - p_gene, p_exon * p_utr), 1e-4, 1))
    w = params.weight_emission
    exon_base = w * (np.log(p_cds + 1e-4) - outside)
    if masked is not None:
        exon_base = exon_base - params.masked_coding_cost * masked
    exon_prefix = np.concatenate(([0.0], np.cumsum(exon_base)))
    # A cost per intron base makes intron lengths geometric: a path that skips exons through
    # one long "intron" pays for its length, where the blurred network barely objects.
    intron_content = params.weight_intron * params.intron_per_base(codes)
    intron_base = w * (np.log(p_intron + 1e-4) - outside) - params.intron_base_penalty + intron_content
    # UTR bases against "transcript already ended": a UTR exon base scores the network's exon
    # log-odds, so a UTR runs as far as exon stays the likelier call overall; a UTR intron base
    # scores intron against not-exon, plus the same content and length terms as CDS introns.
    not_exon = np.log(1 - p_exon + 1e-4)
    utr_exon = params.weight_utr_network * (np.log(p_exon + 1e-4) - not_exon)
    utr_intron = (params.weight_utr_network * (np.log(p_intron + 1e-4) - not_exon)
                  - params.intron_base_penalty + intron_content)
    intron_prefix = np.concatenate(([0.0], np.cumsum(intron_base)))
    coding_prefix = [np.concatenate(([0.0], np.cumsum(params.weight_coding * row)))
                     for row in params.coding_per_base(codes)]
    return BaseScores(exon_prefix, intron_prefix, coding_prefix, utr_exon, utr_intron)


class StrandProgram:
    """The dynamic program for coding genes on the forward strand of one locus."""

    def __init__(self, codes: np.ndarray, probs: np.ndarray, columns: Columns, params: GeneParameters,
                 masked: np.ndarray | None = None) -> None:
        self.params = params
        self.intron_bonus = _length_bonus(params.intron_length_log_odds, params.weight_length, params.intron_base_penalty)
        self.exon_bonus = _length_bonus(params.exon_length_log_odds, params.weight_length, 0.0)
        self.scores = base_scores(codes, probs, columns, params, masked)
        self.sites: CandidateSites = candidate_sites(codes, probs, columns, params)

    def _events(self) -> tuple[list[int], list[float], list[bool]]:
        """Every candidate site as an event key and its score, sorted by position then kind."""
        s = self.sites
        # Event order at one position: a stop codon that ended three bases back closes every
        # open exon of its frame (an exon may still end inside the stop, TA|G: the intron then
        # carries the split codon), then exon ends (donor), then the stop codon itself (a gene
        # may end with it), then exon starts (acceptor, ATG).
        CLOSE, DONOR, STOP, ACCEPTOR, START = range(5)
        # key = (position * 8 + kind) * 8 + flags: sorted by position, then kind. The flags are
        # a donor's codon tail or the slots an acceptor refuses (see SLOT_PHASE).
        keys = np.concatenate([
            ((s.stops + 3) * 8 + CLOSE) * 8, (s.donors * 8 + DONOR) * 8 + s.donor_tail,
            (s.stops * 8 + STOP) * 8, (s.acceptors * 8 + ACCEPTOR) * 8 + s.acceptor_refuses,
            (s.starts * 8 + START) * 8,
        ])
        values = np.concatenate([np.zeros(len(s.stops)), s.donor_score, np.zeros(len(s.stops)),
                                 s.acceptor_score, s.start_score])
        order = np.argsort(keys, kind="stable")
        keys, values = keys[order].tolist(), values[order].tolist()
        return keys, values, s.stop_at.tolist()

    def decode(self) -> list[CodingChain]:
        """Best set of non-overlapping coding genes on this strand, in locus coordinates.

        One pass over the candidate sites in position order, constant work per site: this is
        the decoder's hot loop, kept in one function so that its state stays in local variables.
        """
        p = self.params
        exon_prefix, intron_prefix, coding_prefix = self.scores.exon_prefix, self.scores.intron_prefix, self.scores.coding_prefix
        keys, values, stop_at = self._events()
        CLOSE, DONOR, STOP, ACCEPTOR, START = range(5)

        # Open exons by frame class r = (exon start - entering phase) % 3; closed by a stop in r.
        open_best = [NEG] * 3
        open_node: list = [None] * 3
        open_pending: list[deque] = [deque() for _ in range(3)]
        # Introns awaiting an acceptor, by slot (SLOT_PHASE).
        intron_best = [NEG] * 6
        intron_node: list = [None] * 6
        intron_pending: list[deque] = [deque() for _ in range(6)]
        gene_best, gene_node = 0.0, None  # best parse of everything left of here
        gene_pending: deque = deque()
        min_exon, min_intron, gap = p.min_exon, p.min_intron, p.min_gene_gap
        # Pending entries are (ready, value, node, start, internal): exons and introns shorter
        # than their length prior's span are scanned one by one with their length bonus; at
        # `ready` (start + span) an entry joins the running best, where lengths cost only the
        # per-base terms already in the prefix sums.
        exon_bonus, intron_bonus = self.exon_bonus, self.intron_bonus
        exon_span, intron_span = max(min_exon, len(exon_bonus)), max(min_intron, len(intron_bonus))

        def activate(pending: deque, best: list, nodes: list, index: int, now: int) -> None:
            while pending and pending[0][0] <= now:
                value, node = pending.popleft()[1:3]
                if value > best[index]:
                    best[index], nodes[index] = value, node

        def scan(pending: deque, best: float, node, now: int, shortest: int, bonus: list) -> tuple:
            """The best of `best` and the pending entries at least `shortest` long by `now`."""
            for _, value, waiting, start, internal in pending:
                length = now - start
                if length < shortest:
                    break
                if internal and length < len(bonus):
                    value += bonus[length]
                if value > best:
                    best, node = value, waiting
            return best, node

        # The hot loop of the decoder: one pass over candidate sites, constant work per site.
        for key, site_score in zip(keys, values):
            pos, kind, flags = key >> 6, (key >> 3) & 7, key & 7
            if kind == DONOR:
                for r in range(3):
                    pending = open_pending[r]
                    if pending and pending[0][0] <= pos:
                        activate(pending, open_best, open_node, r, pos)
                    best, node = open_best[r], open_node[r]
                    if pending:
                        best, node = scan(pending, best, node, pos, min_exon, exon_bonus)
                    if best <= NEG:
                        continue
                    value = exon_prefix[pos] + coding_prefix[r][pos] + best
                    phase = (pos - r) % 3
                    slot = 0 if phase == 0 else 1 + (flags & 1) if phase == 1 else 3 + (flags >> 1)
                    intron_pending[slot].append((pos + intron_span, value - intron_prefix[pos] + site_score
                                                 - p.intron_penalty, (pos, node), pos, True))
            elif kind == STOP:
                r, end = pos % 3, pos + 3
                # A terminal exon (acceptor or start to stop) takes no length prior.
                best, node = scan(open_pending[r], open_best[r], open_node[r], end, min_exon, [])
                if best > NEG:
                    value = exon_prefix[end] + coding_prefix[r][pos] + best
                    gene_pending.append((end + gap, value, (end, node, value)))
            elif kind == CLOSE:
                r = (pos - 3) % 3
                open_best[r], open_node[r] = NEG, None
                open_pending[r].clear()
            elif kind == ACCEPTOR:
                for slot in range(6):
                    pending = intron_pending[slot]
                    if pending and pending[0][0] <= pos:
                        activate(pending, intron_best, intron_node, slot, pos)
                    phase = SLOT_PHASE[slot]
                    if (phase == 0 and stop_at[pos]) or flags & SLOT_REFUSAL[slot]:
                        continue  # an exon whose first codon, whole or completed, is a stop
                    best, node = intron_best[slot], intron_node[slot]
                    if pending:
                        best, node = scan(pending, best, node, pos, min_intron, intron_bonus)
                    if best <= NEG:
                        continue
                    value = best + intron_prefix[pos] + site_score
                    r = (pos - phase) % 3
                    open_pending[r].append((pos + exon_span, value - exon_prefix[pos] - coding_prefix[r][pos],
                                            (pos, node), pos, True))
            elif kind == START:
                while gene_pending and gene_pending[0][0] <= pos:
                    _, value, node = gene_pending.popleft()
                    if value > gene_best:
                        gene_best, gene_node = value, node
                r = pos % 3
                value = gene_best - p.gene_penalty + site_score
                open_pending[r].append((pos + exon_span, value - exon_prefix[pos] - coding_prefix[r][pos],
                                        (pos, ("start", gene_node, gene_best)), pos, False))
        for _, value, node in gene_pending:
            if value > gene_best:
                gene_best, gene_node = value, node
        return self._trace(gene_node)

    def utr_exons(self, cds: list[tuple[int, int]], low: int, high: int) -> list[tuple[int, int]]:
        """The transcript of `cds` with its UTRs, within [low, high) (see genes.utr.utr_exons)."""
        return utr_exons(cds, low, high, self.scores.utr_exon, self.scores.utr_intron, self.sites, self.params)

    @staticmethod
    def _trace(node) -> list[CodingChain]:
        genes = []
        while node is not None:
            end, chain, total = node
            boundaries = [end]
            while chain[1][0] != "start":
                boundaries.append(chain[0])  # exon start (acceptor)
                chain = chain[1]
                boundaries.append(chain[0])  # previous exon end (donor)
                chain = chain[1]
            boundaries.append(chain[0])  # start codon
            _, previous, before = chain[1]
            boundaries.reverse()
            exons = list(zip(boundaries[0::2], boundaries[1::2]))
            genes.append(CodingChain(total - before, exons))
            node = previous
        genes.reverse()
        return genes


def _length_bonus(log_odds: list[float] | None, weight: float, per_base: float) -> list[float]:
    """Score added to a feature of each length L below the prior's span J: the weighted prior, less
    the per-base cost that length J pays beyond L, so that below J the prior alone scores length
    (the per-base cost would make the shortest introns the likeliest) and the two agree at J."""
    if not log_odds or weight == 0:
        return []
    span = len(log_odds)
    return [weight * value - per_base * (span - length) for length, value in enumerate(log_odds)]


def decode_locus(record: str, offset: int, seq: np.ndarray, probs: np.ndarray, columns: Columns,
                 params: GeneParameters, masked: np.ndarray | None = None) -> list[GeneModel]:
    """Gene models of one locus; `seq` is upper-case ASCII, `probs` its (n, F) probabilities,
    `masked` which bases are soft-masked repeats (None: masking ignored)."""
    n = len(seq)
    programs = {}
    candidates: list[Candidate] = []
    for strand in "+-":
        oriented_seq = seq if strand == "+" else reverse_complement(seq)
        codes = CODE[oriented_seq]
        oriented_masked = masked if masked is None or strand == "+" else masked[::-1]
        programs[strand] = StrandProgram(codes, probs if strand == "+" else probs[::-1], columns, params,
                                         oriented_masked)
        candidates += _complete_genes(programs[strand], codes, strand, n)
    chosen = _compete(candidates)
    # Neighbours on opposite strands may share UTR space (convergent genes often do), but two
    # genes on one strand follow each other: their UTRs meet where the genic signal is lowest.
    p_gene = probs[:, columns.gene]
    ends = [0] + [c.end for c in chosen]
    starts = [c.start for c in chosen[1:]] + [n]
    for i in range(1, len(chosen)):
        if chosen[i - 1].strand == chosen[i].strand:
            ends[i] = starts[i - 1] = _quietest(p_gene, ends[i], starts[i - 1])
    p_exon = probs[:, columns.exon]
    models = []
    for i, gene in enumerate(chosen):
        low, high = ends[i], starts[i]
        program = programs[gene.strand]
        if gene.strand == "+":
            exons = program.utr_exons(gene.oriented_cds, low, high)
        else:
            exons = sorted((n - e, n - s) for s, e in program.utr_exons(gene.oriented_cds, n - high, n - low))
        score = float(np.mean(np.concatenate([p_exon[s:e] for s, e in exons])))
        models.append(GeneModel(
            record, gene.strand, [(s + offset, e + offset) for s, e in exons],
            [(s + offset, e + offset) for s, e in gene.cds], "protein_coding", round(score, 3), gene.protein,
            gene.coding,
        ))
    return models


def _complete_genes(program: StrandProgram, codes: np.ndarray, strand: str, n: int) -> list[Candidate]:
    """The program's genes whose spliced CDS translates from ATG to a stop, as candidates."""
    params = program.params
    out = []
    for chain in program.decode():
        # Intron penalties buy parsimony within a strand; across strands they would favour
        # the strand with fewer introns, so they are given back before the strands compete.
        score = chain.score + params.intron_penalty * (len(chain.cds) - 1)
        protein = complete_protein(codes, chain.cds, params.min_cds)
        if protein is None:
            continue
        cds = chain.cds if strand == "+" else sorted((n - e, n - s) for s, e in chain.cds)
        out.append(Candidate(score, strand, cds, protein, chain.cds, as_text(spliced(codes, chain.cds))))
    return out


def _compete(candidates: list[Candidate]) -> list[Candidate]:
    """The two strands compete for space: best score first, no overlapping coding spans; by position."""
    chosen: list[Candidate] = []
    for candidate in sorted(candidates, key=lambda c: -c.score):
        if all(candidate.end <= c.start or candidate.start >= c.end for c in chosen):
            chosen.append(candidate)
    chosen.sort(key=lambda c: c.start)
    return chosen


def _quietest(p_gene: np.ndarray, start: int, end: int, width: int = 25) -> int:
    """The position in [start, end] where the mean genic probability over `width` bases is lowest."""
    if end - start <= width:
        return (start + end) // 2
    prefix = np.concatenate(([0.0], np.cumsum(p_gene[start:end], dtype=np.float64)))
    means = prefix[width:] - prefix[:-width]
    return start + int(np.argmin(means)) + width // 2
