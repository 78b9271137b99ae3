"""Decoding gene models (gene → transcript → exon/CDS/UTR) from stitched per-base probabilities.

The decoder is a semi-Markov dynamic program over candidate sites rather than an HMM stepped
base by base: a coding gene is a chain start codon → (donor → acceptor)* → stop codon, and every
exon or intron between two sites is scored in O(1) from prefix sums of per-base scores. Only
sites the grammar allows are candidates (ATG; GT/GC donors and AG acceptors on the gene's own
strand; TAA/TAG/TGA), so the Python loop runs over sites, not bases, and only inside loci the
network marks as genic. Reading frame is carried through introns, and stop codons close every
open exon of their frame, so a decoded CDS never holds an in-frame stop. A stop codon split by
an intron (T|AG, TA|G, ...) is ruled out too: an intron remembers the one or two bases of the
codon it interrupts, and an acceptor whose first bases would complete a stop refuses it. (The
spliced CDS is checked again before output.)

The reverse strand is decoded by running the same program on the reverse complement, and the
two strands' genes compete for overlapping space by score. Then each gene's UTRs are decoded
outward from its start and stop codons into the space its neighbours leave: a UTR runs while the
network's exon calls outweigh its non-exon calls, and may hold introns (up to max_utr_introns)
where sites, intron content and the network together pay for them.

Streaming: a `GeneDecoder` holds the probabilities of the current locus only. Loci are cut in
quiet stretches (no genic signal for `quiet` bases); a stretch with no quiet run for
`max_locus` bases is cut at its weakest point, so memory is bounded for any record length.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from genoseg.fasta import reverse_complement
from genoseg.gene_parameters import CODE, GeneParameters, find_motif, spliced
from genoseg.stitching import Track

CODON_TABLE = {
    a + b + c: aa
    for (a, b, c), aa in zip(
        ((x, y, z) for x in "TCAG" for y in "TCAG" for z in "TCAG"),
        "FFLLSSSSYY**CC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG",
    )
}
STOP_CODONS = ("TAA", "TAG", "TGA")
NEG = -1e18
# An intron waiting for its acceptor is in one of six slots: the phase it hands on, and for
# phases 1 and 2 the bases of the interrupted codon that could begin a stop (T; TA or TG).
SLOT_PHASE = (0, 1, 1, 2, 2, 2)
SLOT_REFUSAL = (0, 0, 1, 0, 2, 4)  # the acceptor flag (_acceptor_refusals) that closes each slot
SITE_FLOOR = 0.01  # added to network site probabilities before taking logs


@dataclass
class GeneModel:
    record: str
    strand: str  # "+", "-" or "." (an unspliced lncRNA has no strand evidence)
    exons: list[tuple[int, int]]  # 0-based half-open, sorted by position
    cds: list[tuple[int, int]] = field(default_factory=list)
    biotype: str = "protein_coding"  # or "lncRNA"
    score: float = 0.0  # mean network exon probability over the exons
    protein: str = ""

    @property
    def start(self) -> int:
        return self.exons[0][0]

    @property
    def end(self) -> int:
        return self.exons[-1][1]


@dataclass(frozen=True)
class Columns:
    """Where the decoder's inputs sit in the model's feature list."""

    exon: int
    intron: int
    gene: int
    lncrna: int | None
    donor: int | None
    acceptor: int | None
    utrs: tuple[int, ...] = ()

    @classmethod
    def of(cls, features: list[str]) -> "Columns | None":
        """None when the model lacks the classes a gene model needs."""
        index = {f: i for i, f in enumerate(features)}
        if not {"exon", "intron", "protein_coding_gene"} <= index.keys():
            return None
        return cls(index["exon"], index["intron"], index["protein_coding_gene"], index.get("lncRNA"),
                   index.get("splice_donor"), index.get("splice_acceptor"),
                   tuple(index[f] for f in ("5UTR", "3UTR") if f in index))


def translate(codes: np.ndarray) -> str:
    text = bytes(np.frombuffer(b"ACGTN", dtype=np.uint8)[np.minimum(codes, 4)]).decode()
    return "".join(CODON_TABLE.get(text[i : i + 3], "X") for i in range(0, len(text) - 2, 3))


def _network_site(probs: np.ndarray | None, positions: np.ndarray, span: tuple[int, int]) -> np.ndarray:
    """log-odds of the network's splice-site class at each candidate, against its locus median."""
    if probs is None or not len(positions):
        return np.zeros(len(positions))
    a, b = span
    at = np.clip(positions[:, None] + np.arange(a, b), 0, len(probs) - 1)
    value = probs[at].mean(1)
    return np.log(value + SITE_FLOOR) - np.log(float(np.median(probs)) + SITE_FLOOR)


class _Oriented:
    """The dynamic program for genes on the forward strand of one locus."""

    def __init__(self, codes: np.ndarray, probs: np.ndarray, columns: Columns, params: GeneParameters) -> None:
        self.params = params
        n = len(codes)
        self.intron_bonus = _length_bonus(params.intron_length_log_odds, params.weight_length, params.intron_base_penalty)
        self.exon_bonus = _length_bonus(params.exon_length_log_odds, params.weight_length, 0.0)
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
        self.exon_prefix = np.concatenate(([0.0], np.cumsum(w * (np.log(p_cds + 1e-4) - outside))))
        # A cost per intron base makes intron lengths geometric: a path that skips exons through
        # one long "intron" pays for its length, where the blurred network barely objects.
        intron_content = params.weight_intron * params.intron_per_base(codes)
        intron_base = w * (np.log(p_intron + 1e-4) - outside) - params.intron_base_penalty + intron_content
        # UTR bases against "transcript already ended": a UTR exon base scores the network's exon
        # log-odds, so a UTR runs as far as exon stays the likelier call overall; a UTR intron base
        # scores intron against not-exon, plus the same content and length terms as CDS introns.
        not_exon = np.log(1 - p_exon + 1e-4)
        self.utr_exon = params.weight_utr_network * (np.log(p_exon + 1e-4) - not_exon)
        self.utr_intron = (params.weight_utr_network * (np.log(p_intron + 1e-4) - not_exon)
                           - params.intron_base_penalty + intron_content)
        self.intron_prefix = np.concatenate(([0.0], np.cumsum(intron_base)))
        self.coding_prefix = [np.concatenate(([0.0], np.cumsum(params.weight_coding * row)))
                              for row in params.coding_per_base(codes)]
        signal = params.weight_signal
        site = params.weight_network_site
        donor_probs = probs[:, columns.donor] if columns.donor is not None else None
        acceptor_probs = probs[:, columns.acceptor] if columns.acceptor is not None else None

        gt, gc = find_motif(codes, "GT"), find_motif(codes, "GC")
        self.donors = np.sort(np.concatenate([gt, gc]))
        self.donors = self.donors[self.donors >= 1]
        if params.donor is not None:
            pwm = params.donor.score(codes, self.donors)
            # Candidates scoring below nearly every true site are dropped: fewer events to visit.
            self.donors, pwm = self.donors[pwm >= params.donor_floor], pwm[pwm >= params.donor_floor]
            donor_score = signal * pwm
        else:
            donor_score = np.where(np.isin(self.donors, gc), -3.0, 0.0)
        self.donor_score = donor_score + site * _network_site(donor_probs, self.donors, (0, 2))
        classifier, weight = params.site_classifier, params.weight_site_classifier
        if classifier is not None and weight:
            self.donor_score = self.donor_score + weight * classifier.score("donor", codes, self.donors)
        self.acceptors = find_motif(codes, "AG") + 2
        acceptor_score = 0.0
        if params.acceptor is not None:
            pwm = params.acceptor.score(codes, self.acceptors)
            self.acceptors, pwm = self.acceptors[pwm >= params.acceptor_floor], pwm[pwm >= params.acceptor_floor]
            acceptor_score = signal * pwm
        self.acceptor_score = acceptor_score + site * _network_site(acceptor_probs, self.acceptors, (-2, 0))
        if classifier is not None and weight:
            self.acceptor_score = self.acceptor_score + weight * classifier.score("acceptor", codes, self.acceptors)
        self.donor_tail = _donor_tails(codes, self.donors)
        self.acceptor_refuses = _acceptor_refusals(codes, self.acceptors)
        self.starts = find_motif(codes, "ATG")
        self.start_score = signal * params.start.score(codes, self.starts) if params.start is not None else np.zeros(len(self.starts))
        self.stops = np.sort(np.concatenate([find_motif(codes, s) for s in STOP_CODONS]))
        self.stop_at = np.zeros(n + 1, dtype=bool)
        self.stop_at[self.stops] = True

    def decode(self) -> list[tuple[float, list[tuple[int, int]]]]:
        """Best set of non-overlapping coding genes: [(score, CDS exons)], in locus coordinates."""
        p = self.params
        exon_prefix, intron_prefix, coding_prefix = self.exon_prefix, self.intron_prefix, self.coding_prefix
        # Event order at one position: a stop codon that ended three bases back closes every
        # open exon of its frame (an exon may still end inside the stop, TA|G: the intron then
        # carries the split codon), then exon ends (donor), then the stop codon itself (a gene
        # may end with it), then exon starts (acceptor, ATG).
        CLOSE, DONOR, STOP, ACCEPTOR, START = range(5)
        # key = (position * 8 + kind) * 8 + flags: sorted by position, then kind. The flags are
        # a donor's codon tail or the slots an acceptor refuses (see SLOT_PHASE).
        keys = np.concatenate([
            ((self.stops + 3) * 8 + CLOSE) * 8, (self.donors * 8 + DONOR) * 8 + self.donor_tail,
            (self.stops * 8 + STOP) * 8, (self.acceptors * 8 + ACCEPTOR) * 8 + self.acceptor_refuses,
            (self.starts * 8 + START) * 8,
        ])
        values = np.concatenate([np.zeros(len(self.stops)), self.donor_score, np.zeros(len(self.stops)),
                                 self.acceptor_score, self.start_score])
        stop_at = self.stop_at.tolist()
        order = np.argsort(keys, kind="stable")
        keys, values = keys[order].tolist(), values[order].tolist()

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
        """The transcript's exons: the CDS exons with 5' and 3' UTRs (each with at most max_utr_introns)
        added within [low, high), the space between the neighbouring genes' CDS."""
        start, stop_end = cds[0][0], cds[-1][1]
        # Both sides are read outward from the CDS: positions count bases away from it, and an
        # intron's near end is an acceptor on the 5' side, a donor on the 3' side.
        utr5, intron5 = _utr_side(self.utr_exon[low:start][::-1], self.utr_intron[low:start][::-1],
                                  (start - self.acceptors, self.acceptor_score), (start - self.donors, self.donor_score),
                                  self.params)
        utr3, intron3 = _utr_side(self.utr_exon[stop_end:high], self.utr_intron[stop_end:high],
                                  (self.donors - stop_end, self.donor_score), (self.acceptors - stop_end, self.acceptor_score),
                                  self.params)
        # An outward boundary list per side: CDS end, then (near, far) per intron, then the UTR end.
        exons = [list(x) for x in cds]
        bounds5 = [b for near, far in intron5 for b in (near, far)] + [utr5]
        bounds3 = [b for near, far in intron3 for b in (near, far)] + [utr3]
        exons[0][0] = start - bounds5[0]
        exons[-1][1] = stop_end + bounds3[0]
        head = [[start - bounds5[i + 2], start - bounds5[i + 1]] for i in range(0, len(bounds5) - 1, 2)][::-1]
        tail = [[stop_end + bounds3[i + 1], stop_end + bounds3[i + 2]] for i in range(0, len(bounds3) - 1, 2)]
        return [(s, e) for s, e in head + exons + tail]

    @staticmethod
    def _trace(node) -> list[tuple[float, list[tuple[int, int]]]]:
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
            genes.append((total - before, exons))
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


def _donor_tails(codes: np.ndarray, donors: np.ndarray) -> np.ndarray:
    """Flags of the exon end before each donor: bit 0, its last base is T (a phase-1 codon T..);
    bits 1-2, its last two bases are TA (1) or TG (2) (a phase-2 codon TA. or TG.)."""
    last = codes[donors - 1]
    before = np.where(donors >= 2, codes[np.maximum(donors - 2, 0)], 4)
    t, a, g = CODE[ord("T")], CODE[ord("A")], CODE[ord("G")]
    two = np.where((before == t) & (last == a), 1, np.where((before == t) & (last == g), 2, 0))
    return ((last == t).astype(np.int64) | two << 1).astype(np.int64)


def _acceptor_refusals(codes: np.ndarray, acceptors: np.ndarray) -> np.ndarray:
    """Flags of the slots (SLOT_PHASE) each acceptor refuses because its first bases complete a stop:
    bit 0, slot 2 (T + AA/AG/GA); bit 1, slot 4 (TA + A/G); bit 2, slot 5 (TG + A)."""
    n = len(codes)
    first = np.where(acceptors < n, codes[np.minimum(acceptors, n - 1)], 4)
    second = np.where(acceptors + 1 < n, codes[np.minimum(acceptors + 1, n - 1)], 4)
    a, g = CODE[ord("A")], CODE[ord("G")]
    after_t = ((first == a) & ((second == a) | (second == g))) | ((first == g) & (second == a))
    return (after_t.astype(np.int64) | ((first == a) | (first == g)).astype(np.int64) << 1
            | (first == a).astype(np.int64) << 2)


def _coding_ok(codes: np.ndarray, cds: list[tuple[int, int]], min_cds: int) -> str | None:
    """The protein if the spliced CDS is ATG…stop with no in-frame stop; None otherwise."""
    coding = spliced(codes, cds)
    if len(coding) % 3 or len(coding) < max(min_cds, 6):
        return None
    protein = translate(coding)
    if not protein.startswith("M") or not protein.endswith("*") or "*" in protein[:-1]:
        return None
    return protein[:-1]


def _suffix_max(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each i: max(values[i:]) and the first index j >= i that attains it."""
    backward = values[::-1]
    running = np.maximum.accumulate(backward)
    last = np.maximum.accumulate(np.where(backward == running, np.arange(len(values)), 0))
    return running[::-1], (len(values) - 1 - last)[::-1]


def _utr_side(exon: np.ndarray, intron: np.ndarray, near_sites: tuple[np.ndarray, np.ndarray],
              far_sites: tuple[np.ndarray, np.ndarray], params: GeneParameters) -> tuple[int, list[tuple[int, int]]]:
    """One UTR, read outward from its CDS end: (its length, the (near, far) ends of its introns).

    `exon` and `intron` are per-base scores in outward order; sites are (outward positions,
    scores). Without an intron the UTR ends where its cumulative exon score peaks. Each intron
    [near, far) must pay for itself with its sites, its bases' intron scores and the exon beyond
    it, less utr_intron_penalty; at most params.max_utr_introns of them. Level k of the program
    holds, for every position x where an exon may begin, the best continuation with at most k
    introns: prefix sums and suffix maxima, O(k · (length + sites)).
    """
    length = len(exon)
    cum_exon = np.concatenate(([0.0], np.cumsum(exon)))
    best_end, best_end_at = _suffix_max(cum_exon)  # the best outer end at or beyond each position
    if params.utr_intron_penalty is None or length == 0 or params.max_utr_introns < 1:
        return int(best_end_at[0]), []
    cum_intron = np.concatenate(([0.0], np.cumsum(intron)))
    min_exon, min_intron = params.min_exon, params.min_intron
    near, near_score = near_sites
    keep = (near >= 0) & (near <= length)
    order = np.argsort(near[keep])
    near, near_score = near[keep][order], near_score[keep][order]
    far, far_score = far_sites
    keep = (far >= 0) & (far + min_exon <= length)
    order = np.argsort(far[keep])
    far, far_score = far[keep][order], far_score[keep][order]
    first = np.searchsorted(far, near + min_intron)  # the nearest far end each near end allows
    usable = first < len(far)
    near, near_score, first = near[usable], near_score[usable], first[usable]
    if not len(near):
        return int(best_end_at[0]), []
    near_base = cum_exon[near] - cum_intron[near] + near_score - params.utr_intron_penalty
    # value[x]: the best continuation from position x with at most k introns (k = levels so far);
    # levels[k - 1]: where that continuation first splices (its near site, -1: it ends without
    # one) and, for each near site, the far site it takes.
    value = best_end
    levels: list[tuple[np.ndarray, np.ndarray]] = []
    for _ in range(params.max_utr_introns):
        far_value = far_score + cum_intron[far] - cum_exon[far] + value[far + min_exon]
        best_far, best_far_at = _suffix_max(far_value)
        spliced_value = np.full(length + 1, NEG)
        spliced_value[near] = near_base + best_far[first]
        spliced_best, spliced_at = _suffix_max(spliced_value)
        better = spliced_best > best_end
        value = np.where(better, spliced_best, best_end)
        far_of = np.full(length + 1, -1)
        far_of[near] = far[best_far_at[first]]
        levels.append((np.where(better, spliced_at, -1), far_of))
    introns: list[tuple[int, int]] = []
    x = 0
    for taken, far_of in reversed(levels):
        n = int(taken[x])
        if n < 0:
            break
        introns.append((n, int(far_of[n])))
        x = int(far_of[n]) + min_exon
    return int(best_end_at[x]), introns


def decode_locus(record: str, offset: int, seq: np.ndarray, probs: np.ndarray, columns: Columns,
                 params: GeneParameters) -> list[GeneModel]:
    """Gene models of one locus; `seq` is upper-case ASCII, `probs` its (n, F) probabilities."""
    n = len(seq)
    candidates: list[tuple[float, str, list[tuple[int, int]], str, list[tuple[int, int]]]] = []
    p_exon = probs[:, columns.exon]
    programs: dict[str, _Oriented] = {}
    for strand in "+-":
        oriented_seq = seq if strand == "+" else reverse_complement(seq)
        oriented = probs if strand == "+" else probs[::-1]
        codes = CODE[oriented_seq]
        program = programs[strand] = _Oriented(codes, oriented, columns, params)
        for score, oriented_cds in program.decode():
            # Intron penalties buy parsimony within a strand; across strands they would favour
            # the strand with fewer introns, so they are given back before the strands compete.
            score += params.intron_penalty * (len(oriented_cds) - 1)
            protein = _coding_ok(codes, oriented_cds, params.min_cds)
            if protein is None:
                continue
            cds = oriented_cds if strand == "+" else sorted((n - e, n - s) for s, e in oriented_cds)
            candidates.append((score, strand, cds, protein, oriented_cds))
    # The two strands compete for space: best score first, no overlapping coding spans.
    chosen: list[tuple[float, str, list[tuple[int, int]], str, list[tuple[int, int]]]] = []
    for candidate in sorted(candidates, key=lambda c: -c[0]):
        s, e = candidate[2][0][0], candidate[2][-1][1]
        if all(e <= c[2][0][0] or s >= c[2][-1][1] for c in chosen):
            chosen.append(candidate)
    chosen.sort(key=lambda c: c[2][0][0])
    # Neighbours on opposite strands may share UTR space (convergent genes often do), but two
    # genes on one strand follow each other: their UTRs meet where the genic signal is lowest.
    p_gene = probs[:, columns.gene]
    ends = [0] + [c[2][-1][1] for c in chosen]
    starts = [c[2][0][0] for c in chosen[1:]] + [n]
    for i in range(1, len(chosen)):
        if chosen[i - 1][1] == chosen[i][1]:
            ends[i] = starts[i - 1] = _quietest(p_gene, ends[i], starts[i - 1])
    models = []
    for i, (_, strand, cds, protein, oriented_cds) in enumerate(chosen):
        low, high = ends[i], starts[i]
        if strand == "+":
            exons = programs[strand].utr_exons(oriented_cds, low, high)
        else:
            exons = sorted((n - e, n - s) for s, e in programs[strand].utr_exons(oriented_cds, n - high, n - low))
        score = float(np.mean(np.concatenate([p_exon[s:e] for s, e in exons])))
        models.append(GeneModel(
            record, strand, [(s + offset, e + offset) for s, e in exons], [(s + offset, e + offset) for s, e in cds],
            "protein_coding", round(score, 3), protein,
        ))
    return models


def _quietest(p_gene: np.ndarray, start: int, end: int, width: int = 25) -> int:
    """The position in [start, end] where the mean genic probability over `width` bases is lowest."""
    if end - start <= width:
        return (start + end) // 2
    prefix = np.concatenate(([0.0], np.cumsum(p_gene[start:end], dtype=np.float64)))
    means = prefix[width:] - prefix[:-width]
    return start + int(np.argmin(means)) + width // 2


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    edges = np.flatnonzero(np.diff(np.concatenate(([0], mask.astype(np.int8), [0]))))
    return list(zip(edges[0::2].tolist(), edges[1::2].tolist()))


class GeneDecoder:
    """Streams Tracks of one segment at a time in; completed gene models come out in order."""

    def __init__(self, columns: Columns, params: GeneParameters, fetch: Callable[[str, int, int], np.ndarray],
                 quiet: int = 300, max_locus: int = 1_000_000, genic_level: float = 0.2,
                 lncrna_level: float = 0.5, min_lncrna: int = 200) -> None:
        self.columns, self.params, self.fetch = columns, params, fetch
        self.quiet, self.max_locus, self.genic_level = quiet, max_locus, genic_level
        self.lncrna_level, self.min_lncrna = lncrna_level, min_lncrna
        wanted = [columns.exon, columns.intron, columns.gene, columns.lncrna, columns.donor, columns.acceptor]
        self.keep = sorted({c for c in [*wanted, *columns.utrs] if c is not None})
        self.local = Columns(*[None if c is None else self.keep.index(c) for c in wanted],
                             tuple(self.keep.index(c) for c in columns.utrs))
        self.record: str | None = None
        self.start = 0
        self.buffer: list[np.ndarray] = []
        self.buffered = 0
        self.quiet_run = 0  # low-signal bases at the end of the buffer
        self.counts = {"protein_coding": 0, "lncRNA": 0}

    def _genic(self, values: np.ndarray) -> np.ndarray:
        c = self.local
        signal = np.maximum(np.maximum(values[:, c.exon], values[:, c.intron]), values[:, c.gene])
        if c.lncrna is not None:
            signal = np.maximum(signal, values[:, c.lncrna])
        return signal

    def feed(self, track: Track) -> list[GeneModel]:
        if self.record is not None and (track.record != self.record or track.start != self.start + self.buffered):
            raise ValueError("tracks of a segment must be contiguous; call end_segment between segments")
        if self.record is None:
            self.record, self.start = track.record, track.start
        values = track.values[:, self.keep]
        self.buffer.append(values)
        self.buffered += len(values)
        low = self._genic(values) < self.genic_level
        # Length of the low run ending at each base, carrying the run from the previous track.
        index = np.arange(len(low))
        last_high = np.maximum.accumulate(np.where(~low, index, -1))
        run = np.where(last_high >= 0, index - last_high, index + 1 + self.quiet_run)
        self.quiet_run = int(run[-1]) if len(run) else self.quiet_run
        quiet_ends = np.flatnonzero(run >= self.quiet)
        if len(quiet_ends):
            cut = self.buffered - len(values) + int(quiet_ends[-1]) - self.quiet // 2
            return self._decode_upto(cut)
        if self.buffered > self.max_locus:
            stacked = np.concatenate(self.buffer)
            self.buffer = [stacked]  # _decode_upto then cuts it without concatenating again
            half = len(stacked) // 2
            return self._decode_upto(half + int(np.argmin(self._genic(stacked[half:]))))
        return []

    def end_segment(self) -> list[GeneModel]:
        out = self._decode_upto(self.buffered)
        self.record, self.buffer, self.buffered, self.quiet_run = None, [], 0, 0
        return out

    def _decode_upto(self, cut: int) -> list[GeneModel]:
        if cut <= 0 or not self.buffer:
            return []
        stacked = np.concatenate(self.buffer) if len(self.buffer) > 1 else self.buffer[0]
        chunk, rest = stacked[:cut], stacked[cut:]
        start = self.start
        self.start += cut
        self.buffered -= cut
        self.buffer = [rest] if len(rest) else []
        return self._decode_chunk(start, chunk)

    def _decode_chunk(self, start: int, values: np.ndarray) -> list[GeneModel]:
        genic = self._genic(values) >= self.genic_level
        loci = []
        for s, e in _runs(genic):
            s, e = max(0, s - self.quiet // 2), min(len(values), e + self.quiet // 2)
            if loci and s <= loci[-1][1]:
                loci[-1] = (loci[-1][0], e)
            else:
                loci.append((s, e))
        models: list[GeneModel] = []
        for s, e in loci:
            seq = self.fetch(self.record, start + s, start + e)
            models += decode_locus(self.record, start + s, seq, values[s:e], self.local, self.params)
            models += self._lncrnas(start + s, values[s:e], models)
        models.sort(key=lambda m: (m.start, m.end))
        for m in models:
            self.counts[m.biotype] += 1
        return models

    def _lncrnas(self, offset: int, values: np.ndarray, coding: list[GeneModel]) -> list[GeneModel]:
        """Unspliced lncRNA genes where the lncRNA class is high and no coding gene lies."""
        c = self.local
        if c.lncrna is None:
            return []
        out = []
        for s, e in _runs(values[:, c.lncrna] >= self.lncrna_level):
            if e - s < self.min_lncrna:
                continue
            a, b = s + offset, e + offset
            if any(m.start < b and m.end > a for m in coding):
                continue
            score = round(float(values[s:e, c.lncrna].mean()), 3)
            out.append(GeneModel(self.record, ".", [(a, b)], [], "lncRNA", score))
        return out
