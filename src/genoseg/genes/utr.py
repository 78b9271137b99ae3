"""UTRs: each coding gene's 5' and 3' UTRs, read outward from its start and stop codons.

A UTR runs while the network's exon calls outweigh its non-exon calls, into the space the
neighbouring genes leave, and may hold introns (up to max_utr_introns per side) where sites,
intron content and the network together pay for them.
"""

from __future__ import annotations

import numpy as np

from genoseg.genes.parameters import GeneParameters
from genoseg.genes.sites import CandidateSites

NEG = -1e18


def suffix_max(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each i: max(values[i:]) and the first index j >= i that attains it."""
    backward = values[::-1]
    running = np.maximum.accumulate(backward)
    last = np.maximum.accumulate(np.where(backward == running, np.arange(len(values)), 0))
    return running[::-1], (len(values) - 1 - last)[::-1]


def utr_side(exon: np.ndarray, intron: np.ndarray, near_sites: tuple[np.ndarray, np.ndarray],
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
    best_end, best_end_at = suffix_max(cum_exon)  # the best outer end at or beyond each position
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
        best_far, best_far_at = suffix_max(far_value)
        spliced_value = np.full(length + 1, NEG)
        spliced_value[near] = near_base + best_far[first]
        spliced_best, spliced_at = suffix_max(spliced_value)
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


def utr_exons(cds: list[tuple[int, int]], low: int, high: int, utr_exon: np.ndarray, utr_intron: np.ndarray,
              sites: CandidateSites, params: GeneParameters) -> list[tuple[int, int]]:
    """The transcript's exons: the CDS exons with 5' and 3' UTRs (each with at most max_utr_introns)
    added within [low, high), the space between the neighbouring genes' CDS.

    `utr_exon` and `utr_intron` are the per-base UTR scores of the locus strand the CDS lies on
    (locus coordinates, as `cds` and `sites`).
    """
    start, stop_end = cds[0][0], cds[-1][1]
    # Both sides are read outward from the CDS: positions count bases away from it, and an
    # intron's near end is an acceptor on the 5' side, a donor on the 3' side.
    utr5, intron5 = utr_side(utr_exon[low:start][::-1], utr_intron[low:start][::-1],
                             (start - sites.acceptors, sites.acceptor_score), (start - sites.donors, sites.donor_score),
                             params)
    utr3, intron3 = utr_side(utr_exon[stop_end:high], utr_intron[stop_end:high],
                             (sites.donors - stop_end, sites.donor_score), (sites.acceptors - stop_end, sites.acceptor_score),
                             params)
    # An outward boundary list per side: CDS end, then (near, far) per intron, then the UTR end.
    exons = [list(x) for x in cds]
    bounds5 = [b for near, far in intron5 for b in (near, far)] + [utr5]
    bounds3 = [b for near, far in intron3 for b in (near, far)] + [utr3]
    exons[0][0] = start - bounds5[0]
    exons[-1][1] = stop_end + bounds3[0]
    head = [[start - bounds5[i + 2], start - bounds5[i + 1]] for i in range(0, len(bounds5) - 1, 2)][::-1]
    tail = [[stop_end + bounds3[i + 1], stop_end + bounds3[i + 2]] for i in range(0, len(bounds3) - 1, 2)]
    return [(s, e) for s, e in head + exons + tail]
