"""writers.py: interval GFF3 and BED lines, gene-model GFF3 with phases, proteins, atomic text files."""

import subprocess

import pytest

from genoseg.fasta import Record
from genoseg.genes.models import GeneModel
from genoseg.intervals import Interval
from genoseg.writers import BedWriter, GeneGff3Writer, GeneIds, Gff3Writer, ProteinWriter, TextOutput, escape_seqid

HEADER = {"genoseg": "test", "model": "m"}


def _lines(path):
    return [line for line in path.read_text().splitlines() if line and not line.startswith("#")]


@pytest.mark.parametrize("name,escaped", [("chr1", "chr1"), ("#chr", "%23chr"), ("a;b=c", "a%3Bb%3Dc"),
                                          ("scaf|1.2", "scaf|1.2"), ("é", "%C3%A9")])
def test_escape_seqid_escapes_only_what_gff3_reserves(name, escaped):
    assert escape_seqid(name) == escaped


def test_a_text_output_appears_only_when_published(tmp_path):
    out = TextOutput(tmp_path / "x.gff3")
    out.write("data\n")
    out.finish()
    assert not (tmp_path / "x.gff3").exists()
    [(tmp, final)] = out.moves()
    assert tmp.read_text() == "data\n" and final == tmp_path / "x.gff3"
    out.publish()
    assert (tmp_path / "x.gff3").read_text() == "data\n" and not tmp.exists()
    dropped = TextOutput(tmp_path / "y.gff3")
    dropped.write("half")
    dropped.discard()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.gff3"]


def test_interval_rows_in_gff3_and_bed(tmp_path):
    gff, bed = TextOutput(tmp_path / "i.gff3"), TextOutput(tmp_path / "i.bed")
    gff_writer = Gff3Writer(gff, [Record("chr1", 1000)], HEADER)
    bed_writer = BedWriter(bed, track_line=True, name="genome")
    for interval in (Interval("chr1", 9, 20, "exon", 0.8234, 0.97), Interval("chr1", 30, 31, "CTCF-bound", 0.5, 0.5),
                     Interval("chr1", 40, 50, "exon", 1.0, 1.0)):
        gff_writer.write(interval)
        bed_writer.write(interval)
    for out in (gff, bed):
        out.finish()
        out.publish()
    assert _lines(tmp_path / "i.gff3") == [
        "chr1\tgenoseg\tbiological_region\t10\t20\t0.823\t.\t.\tID=exon_1;Name=exon;class=exon;peak_probability=0.970",
        "chr1\tgenoseg\tCTCF_binding_site\t31\t31\t0.500\t.\t.\tID=CTCF_bound_1;Name=CTCF-bound;class=CTCF-bound;"
        "peak_probability=0.500",
        "chr1\tgenoseg\tbiological_region\t41\t50\t1.000\t.\t.\tID=exon_2;Name=exon;class=exon;peak_probability=1.000",
    ]
    bed_lines = (tmp_path / "i.bed").read_text().splitlines()
    assert bed_lines[0].startswith('track name="genome"')
    assert bed_lines[1] == "chr1\t9\t20\texon\t823\t.\t9\t20\t0,150,60"
    assert (tmp_path / "i.gff3").read_text().startswith("##gff-version 3\n##sequence-region chr1 1 1000\n#genoseg=test")


def test_gene_models_carry_phases_utrs_and_validate(tmp_path):
    """A minus-strand gene with CDS pieces of 10 and 20 bases: the first CDS in transcript
    direction (the right one) has phase 0, the next skips (3 - 20 % 3) % 3 = 1 base."""
    out, faa = TextOutput(tmp_path / "g.gff3"), TextOutput(tmp_path / "p.faa")
    writer, proteins = GeneGff3Writer(out, [Record("chr1", 500)], HEADER), ProteinWriter(faa)
    minus = GeneModel("chr1", "-", [(100, 140), (200, 250)], [(120, 140), (200, 220)], score=0.91234, protein="MKV")
    lnc = GeneModel("chr1", ".", [(300, 420)], [], biotype="lncRNA", score=0.7)
    for model in (minus, lnc):
        proteins.write(model, writer.write(model))
    for text in (out, faa):
        text.finish()
        text.publish()
    rows = [line.split("\t") for line in _lines(tmp_path / "g.gff3")]
    cds = [(r[3], r[4], r[7]) for r in rows if r[2] == "CDS"]
    assert cds == [("121", "140", "1"), ("201", "220", "0")]
    assert [(r[2], r[3], r[4]) for r in rows if "UTR" in r[2]] == [
        ("three_prime_UTR", "101", "120"), ("five_prime_UTR", "221", "250")]
    assert rows[0][:7] == ["chr1", "genoseg", "gene", "101", "250", "0.912", "-"]
    assert rows[0][8] == "ID=gene1;Name=gene1;biotype=protein_coding"  # Name= labels genes in browsers
    assert [r[2] for r in rows if "gene2" in r[8]] == ["ncRNA_gene", "lnc_RNA", "exon"]
    assert (tmp_path / "p.faa").read_text() == ">gene1.t1 gene=gene1 chr1:101-250(-)\nMKV\n"
    result = subprocess.run(["gt", "gff3validator", str(tmp_path / "g.gff3")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_gene_ids_are_locus_tags_with_a_prefix():
    assert GeneIds().gene(12) == "gene12" and GeneIds("AT1G").gene(12) == "AT1G_000012"
    pattern = GeneIds("AT1G").pattern
    line = "ID=AT1G_000012.t1.exon2;Parent=AT1G_000012.t1;note=AT1G_0000123 XAT1G_000001"
    assert [m.group(1) for m in pattern.finditer(line)] == ["000012", "000012"]
    assert [m.group(1) for m in GeneIds().pattern.finditer("ID=gene7.t1;Parent=gene7;x=mygene3")] == ["7", "7"]


def test_gene_models_as_gtf_match_the_gff3_and_pass_gffread(tmp_path):
    """The golden example's gene models written as GTF read back to the same exons and CDS
    (GTF's CDS leaves the stop codon out; its stop_codon row puts it back)."""
    import shutil
    from pathlib import Path

    from genoseg.annotation import read_annotation
    from genoseg.writers import GeneGtfWriter

    golden = read_annotation(Path(__file__).parent / "data" / "golden" / "athaliana_chr1_25M.genes.gff3")
    models = [GeneModel(t.seqid, t.strand, t.exons, t.cds, biotype="protein_coding" if t.cds else "lncRNA")
              for t in golden.transcripts]
    out = TextOutput(tmp_path / "genes.gtf")
    writer = GeneGtfWriter(out, HEADER)
    for model in models:
        writer.write(model)
    out.finish()
    out.publish()
    back = read_annotation(tmp_path / "genes.gtf")
    assert [(t.seqid, t.strand, t.exons, t.cds) for t in back.transcripts] == \
        [(t.seqid, t.strand, t.exons, t.cds) for t in golden.transcripts]
    rows = [line.split("\t") for line in _lines(tmp_path / "genes.gtf")]
    kinds = {r[2] for r in rows}
    assert {"gene", "transcript", "exon", "CDS", "start_codon", "stop_codon"} <= kinds
    assert sum(r[2] == "start_codon" for r in rows) == sum(r[2] == "stop_codon" for r in rows) == len(models)
    if shutil.which("gffread"):
        result = subprocess.run(["gffread", "-E", str(tmp_path / "genes.gtf"), "-o", str(tmp_path / "g.gff3")],
                                capture_output=True, text=True)
        assert result.returncode == 0 and "Error" not in result.stderr, result.stderr


def test_gtf_start_and_stop_codons_on_the_minus_strand(tmp_path):
    from genoseg.writers import GeneGtfWriter

    out = TextOutput(tmp_path / "g.gtf")
    writer = GeneGtfWriter(out, HEADER, GeneIds("T"))
    minus = GeneModel("chr1", "-", [(100, 140), (200, 250)], [(120, 140), (200, 220)], score=0.9, protein="MKV")
    assert writer.write(minus) == "T_000001.t1"
    out.finish()
    out.publish()
    rows = {(r[2], r[3], r[4], r[7]) for r in (line.split("\t") for line in _lines(tmp_path / "g.gtf"))}
    # Transcript direction is right to left: start codon 218-220, stop codon 121-123 (1-based).
    assert ("start_codon", "218", "220", ".") in rows and ("stop_codon", "121", "123", ".") in rows
    assert ("CDS", "124", "140", "1") in rows and ("CDS", "201", "220", "0") in rows
    assert ("exon", "201", "250", ".") in rows and ("five_prime_utr", "221", "250", ".") in rows
