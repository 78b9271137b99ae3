"""The convolutional splice-site classifiers: what they learn, how they are stored, where they go."""

from pathlib import Path

import numpy as np
import pytest

from genoseg.genes.fit import fit_site_classifier, fit_site_net
from genoseg.genes.parameters import BUNDLED_FILE, GeneParameters
from genoseg.genes.sequence import CODE, find_motif
from genoseg.genes.site_models import SITE_CLASSIFIER_FILE as FILE_NAME, SiteClassifier, padded_length

EXAMPLES = Path(__file__).parent.parent / "examples"


def _planted(seed: int = 0, sites: int = 500, decoys: int = 2500, length: int = 400_000):
    """Random sequence with GT everywhere we look; true donors carry CCCCCC 40 nt upstream,
    outside the weight array model's window (-3..+8), so only wider context tells them apart."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 4, size=length)
    positions = rng.choice(np.arange(200, length - 200, 100), size=sites + decoys, replace=False)
    codes[positions[:, None] + np.arange(2)] = [CODE[ord("G")], CODE[ord("T")]]
    true, fake = positions[:sites], positions[sites:]
    codes[true[:, None] + np.arange(-40, -34)] = CODE[ord("C")]
    return codes, true, fake


def test_a_site_net_learns_context_outside_the_matrix_window():
    codes, true, fake = _planted()
    net, prior = fit_site_net(codes, true[:400], fake[:2000], flank=60, epochs=8, batch=64, learning_rate=3e-3)
    assert prior == pytest.approx(np.log(400 / 2000))
    classifier = SiteClassifier({"donor": net, "acceptor": net}, {"donor": prior, "acceptor": prior}, 60)
    held_true = classifier.score("donor", codes, true[400:])
    held_fake = classifier.score("donor", codes, fake[2000:])
    # Held-out sites: nearly every true one outscores nearly every decoy.
    assert np.mean(held_true[:, None] > held_fake[None, :]) > 0.95
    assert np.median(held_true) > 0 > np.median(held_fake)  # log-likelihood ratios around 0


def test_saved_classifier_loads_to_the_same_scores_and_a_swapped_file_is_refused(tmp_path):
    from genoseg.settings import AnnotateOptions, load_gene_parameters
    from genoseg.errors import GenosegError

    codes, true, fake = _planted(seed=1, sites=60, decoys=300, length=60_000)
    classifier = fit_site_classifier(codes, {"donor": (true, fake), "acceptor": (true, fake)}, flank=40, epochs=1)
    params = GeneParameters(site_classifier=classifier, weight_site_classifier=2.0)
    params.save(tmp_path / "gene_model.json")
    assert (tmp_path / FILE_NAME).is_file()
    loaded = GeneParameters.load(tmp_path / "gene_model.json")
    assert loaded.weight_site_classifier == 2.0 and loaded.site_classifier.flank == 40
    for kind in ("donor", "acceptor"):
        assert np.array_equal(loaded.site_classifier.score(kind, codes, true), classifier.score(kind, codes, true))
    assert loaded.as_dict() == params.as_dict()

    other = fit_site_classifier(codes, {"donor": (true, fake), "acceptor": (true, fake)}, flank=40, epochs=1, seed=5)
    other.save(tmp_path / FILE_NAME)
    options = AnnotateOptions(fasta="unused.fa", output=str(tmp_path / "out"),
                              gene_parameters=str(tmp_path / "gene_model.json"))
    with pytest.raises(GenosegError, match="not the site classifier"):
        load_gene_parameters(options, "unused")
    (tmp_path / FILE_NAME).unlink()
    with pytest.raises(GenosegError, match="missing"):
        load_gene_parameters(options, "unused")


def _example_sites():
    """True donors/acceptors of the example's RefSeq genes (held out from all fitting) and the
    GT/GC and AG decoys inside the same genes, in each gene's orientation."""
    from genoseg.annotation import CODING, read_annotation
    from genoseg.fasta import FastaReader, reverse_complement

    with FastaReader(EXAMPLES / "athaliana_chr1_25M.fa.gz") as reader:
        name = reader.records[0].name
        forward = reader.fetch(name, 0, reader.length(name))
    out = {"+": [CODE[forward], set(), set(), set(), set()], "-": [CODE[reverse_complement(forward)], set(), set(), set(), set()]}
    n = len(forward)
    for t in read_annotation(EXAMPLES / "athaliana_chr1_25M.gff3").transcripts:
        if t.biotype != CODING or len(t.exons) < 2:
            continue
        codes, donors, acceptors, donor_decoys, acceptor_decoys = out[t.strand]
        exons = t.exons if t.strand == "+" else sorted((n - e, n - s) for s, e in t.exons)
        for (_, left_end), (right_start, _) in zip(exons, exons[1:]):
            donors.add(left_end)
            acceptors.add(right_start)
        lo, hi = exons[0][0], exons[-1][1]
        gene = codes[lo:hi]
        donor_decoys.update((lo + np.concatenate([find_motif(gene, "GT"), find_motif(gene, "GC")])).tolist())
        acceptor_decoys.update((lo + find_motif(gene, "AG") + 2).tolist())
    return out


def test_bundled_classifier_beats_the_weight_array_models_on_held_out_sites():
    """Measured on the example (25.0-25.2 Mb, held out; 246 donors, 245 acceptors): share of
    decoys scoring above the 5th percentile of true sites, weight array model → classifier,
    donors 0.249 → 0.035, acceptors 0.538 → 0.125 (decoys kept above the matrices' floors, as
    the decoder keeps them)."""
    params = GeneParameters.load(BUNDLED_FILE)
    assert params.site_classifier is not None and params.weight_site_classifier > 0
    sites = _example_sites()
    for kind, true_at, decoy_at in (("donor", 1, 3), ("acceptor", 2, 4)):
        matrix, floor = getattr(params, kind), getattr(params, f"{kind}_floor")
        true_scores, decoy_scores = {"matrix": [], "classifier": []}, {"matrix": [], "classifier": []}
        for strand in "+-":
            codes = sites[strand][0]
            true = np.array(sorted(sites[strand][true_at]), dtype=np.int64)
            decoys = np.array(sorted(sites[strand][decoy_at] - sites[strand][true_at]), dtype=np.int64)
            decoys = decoys[matrix.score(codes, decoys) >= floor]
            for name, scorer in (("matrix", matrix.score),
                                 ("classifier", lambda c, p: params.site_classifier.score(kind, c, p))):
                true_scores[name].append(scorer(codes, true))
                decoy_scores[name].append(scorer(codes, decoys))
        above = {}
        for name in ("matrix", "classifier"):
            t, d = np.concatenate(true_scores[name]), np.concatenate(decoy_scores[name])
            above[name] = float(np.mean(d >= np.percentile(t, 5)))
        assert len(np.concatenate(true_scores["matrix"])) > 200
        assert above["classifier"] < 0.5 * above["matrix"], (kind, above)


def test_scoring_inside_a_locus_equals_scoring_each_window_alone():
    """The decoder runs the convolutions once per locus; a site must score as it did in training,
    where it came as its own window (edges and Ns included)."""
    import torch

    from genoseg.genes.site_models import MARGIN, SiteNet, one_hot_windows

    torch.manual_seed(0)
    net = SiteNet(40).eval()
    codes = np.random.default_rng(2).integers(0, 5, size=3000)  # 4 = N
    positions = np.array([0, 5, 67, 68, 69, 70, 1500, 2990, 2999, 1501, 3])  # unsorted, as callers may pass
    with torch.no_grad():
        alone = net(one_hot_windows(codes, positions - 40 - MARGIN, 2 * (40 + MARGIN)))
        in_locus = net.score_positions(codes, positions)
        in_stretches = net.score_positions(codes, positions, span=64)  # one stretch per few candidates
    assert torch.allclose(alone, in_locus, atol=1e-5)
    assert torch.allclose(alone, in_stretches, atol=1e-5)


def test_decoder_adds_the_weighted_classifier_score_to_each_candidate_site():
    from genoseg.genes.columns import Columns
    from genoseg.genes.sites import candidate_sites

    codes, true, fake = _planted(seed=3, sites=40, decoys=200, length=30_000)
    classifier = fit_site_classifier(codes, {"donor": (true, fake), "acceptor": (true, fake)}, flank=40, epochs=1)
    probs = np.full((len(codes), 3), 0.5, dtype=np.float32)
    columns = Columns(exon=0, intron=1, gene=2, lncrna=None, donor=None, acceptor=None)
    without = candidate_sites(codes, probs, columns, GeneParameters())
    weighted = candidate_sites(codes, probs, columns, GeneParameters(site_classifier=classifier, weight_site_classifier=2.5))
    assert np.array_equal(without.donors, weighted.donors) and len(without.donors) > 1000
    assert np.allclose(weighted.donor_score - without.donor_score, 2.5 * classifier.score("donor", codes, without.donors))
    assert np.allclose(weighted.acceptor_score - without.acceptor_score,
                       2.5 * classifier.score("acceptor", codes, without.acceptors))


def test_stretch_lengths_are_rounded_up_to_few_sizes():
    lengths = range(1, 70_000, 7)
    sizes = {padded_length(n) for n in lengths}
    assert all(n <= padded_length(n) <= max(256, 1.5 * n) for n in lengths)
    assert len(sizes) <= 2 * 9  # about two sizes per doubling from 256 to 65,536+


def test_first_in_orf_looks_upstream_in_frame_until_a_stop():
    from genoseg.genes.sequence import first_in_orf

    #          0     3     6     9     12    15    18   21
    text = "ATG" "AAA" "ATG" "CCC" "TAA" "GGG" "ATG" "CATGC"
    codes = CODE[np.frombuffer(text.encode(), np.uint8)]
    # 0: nothing upstream; 6: ATG at 0 in frame, no stop between; 18: the stop at 12 closes the
    # frame after the ATG at 6; 22: ATGs upstream, none in its frame.
    assert first_in_orf(codes, np.array([0, 6, 18, 22])).tolist() == [True, False, True, True]
    assert first_in_orf(codes, np.array([], dtype=np.int64)).tolist() == []


def test_the_first_atg_term_scores_start_candidates():
    from genoseg.genes.columns import Columns
    from genoseg.genes.sites import candidate_sites

    text = "CC" + "ATG" + "AAA" * 5 + "ATG" + "AAA" * 5 + "TAA"
    codes = CODE[np.frombuffer(text.encode(), np.uint8)]
    probs = np.full((len(codes), 8), 0.5, dtype=np.float32)
    columns = Columns(exon=2, intron=3, gene=0, lncrna=None, donor=None, acceptor=None)
    plain = candidate_sites(codes, probs, columns, GeneParameters(weight_signal=2.0))
    scored = candidate_sites(codes, probs, columns, GeneParameters(weight_signal=2.0, start_first_log_odds=[-1.5, 0.25]))
    assert plain.starts.tolist() == scored.starts.tolist() == [2, 20]
    assert (scored.start_score - plain.start_score).tolist() == [0.5, -3.0]  # the first ATG, then one after it
