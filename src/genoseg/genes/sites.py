"""Candidate sites of one strand of a locus: donors, acceptors, start and stop codons, scored.

Every GT/GC, AG, ATG and stop codon on the gene's strand is a candidate (the decoder visits
sites, not bases). `candidate_sites` scores each with the three kinds of evidence the decoder
weighs and gathers them into one `CandidateSites`:

- the weight array models and the convolutional site classifiers of `genes.site_models`;
- for start codons, whether the ATG is the first of its reading frame (`sequence.first_in_orf`);
- the network's own splice-site classes, as log-odds against their locus median.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from genoseg.genes.columns import Columns
from genoseg.genes.parameters import GeneParameters
from genoseg.genes.sequence import CODE, find_motif, find_stops, first_in_orf

SITE_FLOOR = 0.01  # added to network site probabilities before taking logs


def network_site(probs: np.ndarray | None, positions: np.ndarray, span: tuple[int, int]) -> np.ndarray:
    """log-odds of the network's splice-site class at each candidate, against its locus median."""
    if probs is None or not len(positions):
        return np.zeros(len(positions))
    a, b = span
    at = np.clip(positions[:, None] + np.arange(a, b), 0, len(probs) - 1)
    value = probs[at].mean(1)
    return np.log(value + SITE_FLOOR) - np.log(float(np.median(probs)) + SITE_FLOOR)


def donor_tails(codes: np.ndarray, donors: np.ndarray) -> np.ndarray:
    """Flags of the exon end before each donor: bit 0, its last base is T (a phase-1 codon T..);
    bits 1-2, its last two bases are TA (1) or TG (2) (a phase-2 codon TA. or TG.)."""
    last = codes[donors - 1]
    before = np.where(donors >= 2, codes[np.maximum(donors - 2, 0)], 4)
    t, a, g = CODE[ord("T")], CODE[ord("A")], CODE[ord("G")]
    two = np.where((before == t) & (last == a), 1, np.where((before == t) & (last == g), 2, 0))
    return ((last == t).astype(np.int64) | two << 1).astype(np.int64)


def acceptor_refusals(codes: np.ndarray, acceptors: np.ndarray) -> np.ndarray:
    """Flags of the slots (decoder.SLOT_PHASE) each acceptor refuses because its first bases complete a stop:
    bit 0, slot 2 (T + AA/AG/GA); bit 1, slot 4 (TA + A/G); bit 2, slot 5 (TG + A)."""
    n = len(codes)
    first = np.where(acceptors < n, codes[np.minimum(acceptors, n - 1)], 4)
    second = np.where(acceptors + 1 < n, codes[np.minimum(acceptors + 1, n - 1)], 4)
    a, g = CODE[ord("A")], CODE[ord("G")]
    after_t = ((first == a) & ((second == a) | (second == g))) | ((first == g) & (second == a))
    return (after_t.astype(np.int64) | ((first == a) | (first == g)).astype(np.int64) << 1
            | (first == a).astype(np.int64) << 2)


@dataclass
class CandidateSites:
    """Every site the grammar allows on one strand of a locus, with its score (locus coordinates).

    Donors sit at the first intron base (G of GT), acceptors at the first exon base after AG,
    starts at the A of ATG, stops at the first base of the stop codon.
    """

    donors: np.ndarray
    donor_score: np.ndarray
    donor_tail: np.ndarray  # flags of the bases before each donor (see donor_tails)
    acceptors: np.ndarray
    acceptor_score: np.ndarray
    acceptor_refuses: np.ndarray  # flags of the intron slots each acceptor refuses (acceptor_refusals)
    starts: np.ndarray
    start_score: np.ndarray
    stops: np.ndarray
    stop_at: np.ndarray  # (n + 1,) bool: a stop codon begins here


def candidate_sites(codes: np.ndarray, probs: np.ndarray, columns: Columns, params: GeneParameters) -> CandidateSites:
    """Candidate donors, acceptors, starts and stops of `codes` (0..4, the gene's strand), scored.

    Candidates whose weight-array score falls below the parameters' floor are dropped: fewer
    events for the decoder to visit.
    """
    n = len(codes)
    signal = params.weight_signal
    site = params.weight_network_site
    donor_probs = probs[:, columns.donor] if columns.donor is not None else None
    acceptor_probs = probs[:, columns.acceptor] if columns.acceptor is not None else None

    gt, gc = find_motif(codes, "GT"), find_motif(codes, "GC")
    donors = np.sort(np.concatenate([gt, gc]))
    donors = donors[donors >= 1]
    if params.donor is not None:
        pwm = params.donor.score(codes, donors)
        donors, pwm = donors[pwm >= params.donor_floor], pwm[pwm >= params.donor_floor]
        donor_score = signal * pwm
    else:
        donor_score = np.where(np.isin(donors, gc), -3.0, 0.0)
    donor_score = donor_score + site * network_site(donor_probs, donors, (0, 2))
    classifier, weight = params.site_classifier, params.weight_site_classifier
    if classifier is not None and weight:
        donor_score = donor_score + weight * classifier.score("donor", codes, donors)
    acceptors = find_motif(codes, "AG") + 2
    acceptor_score = 0.0
    if params.acceptor is not None:
        pwm = params.acceptor.score(codes, acceptors)
        acceptors, pwm = acceptors[pwm >= params.acceptor_floor], pwm[pwm >= params.acceptor_floor]
        acceptor_score = signal * pwm
    acceptor_score = acceptor_score + site * network_site(acceptor_probs, acceptors, (-2, 0))
    if classifier is not None and weight:
        acceptor_score = acceptor_score + weight * classifier.score("acceptor", codes, acceptors)
    starts = find_motif(codes, "ATG")
    stops = find_stops(codes)
    start_score = signal * params.start.score(codes, starts) if params.start is not None else np.zeros(len(starts))
    if params.start_first_log_odds is not None:
        first = first_in_orf(codes, starts, atgs=starts, stops=stops).astype(np.int64)
        start_score = start_score + signal * params.weight_start_first * np.asarray(params.start_first_log_odds)[first]
    stop_at = np.zeros(n + 1, dtype=bool)
    stop_at[stops] = True
    return CandidateSites(donors, donor_score, donor_tails(codes, donors), acceptors, acceptor_score,
                          acceptor_refusals(codes, acceptors), starts, start_score, stops, stop_at)
